/**
 * Progress display: on a terminal one bar redrawn in place; elsewhere (logs, CI) one line every
 * `intervalSeconds`. Formatting is pure (tested); the printer only decides when to write.
 */

export interface TrainProgress {
  /** optimizer steps done (over all resumes) */
  readonly step: number;
  readonly totalSteps: number;
  /** step / steps per epoch */
  readonly epoch: number;
  /** mean training loss over the steps since the last logging step (NaN before the first step) */
  readonly loss: number;
  /** training samples per second in this process (batch building + train step; eval and checkpoints excluded) */
  readonly samplesPerSec: number;
  /** estimated seconds to the end, NaN when unknown */
  readonly etaSeconds: number;
}

/** 75 -> "1m15s", 3725 -> "1h02m", 9.4 -> "9s", NaN -> "?" */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const fmtLoss = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '-');
const fmtRate = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

/** "step 120/1000 (12.0%) epoch 0.47 loss 0.6931 1,234 samples/s ETA 1m05s" */
export function formatProgressLine(p: TrainProgress): string {
  const pct = p.totalSteps > 0 ? ((100 * p.step) / p.totalSteps).toFixed(1) : '100.0';
  return (
    `step ${p.step}/${p.totalSteps} (${pct}%) epoch ${p.epoch.toFixed(2)} loss ${fmtLoss(p.loss)} ${fmtRate(p.samplesPerSec)} ` +
    `samples/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** "[######--------------] 30% 300/1000 | loss 0.6931 | 1,234 samples/s | ETA 1m05s" with a bar of `width` cells */
export function formatProgressBar(p: TrainProgress, width = 24): string {
  const frac = p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 1;
  const full = Math.floor(frac * width);
  const bar = '#'.repeat(full) + '-'.repeat(width - full);
  return (
    `[${bar}] ${Math.floor(frac * 100)}% ${p.step}/${p.totalSteps} | epoch ${p.epoch.toFixed(2)} | loss ${fmtLoss(p.loss)} | ` +
    `${fmtRate(p.samplesPerSec)} samples/s | ETA ${formatDuration(p.etaSeconds)}`
  );
}

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressPrinter {
  /** new progress; drawn when due (a terminal redraws at most every 100 ms) */
  update(p: TrainProgress): void;
  /** a log line that must not be torn by the bar */
  log(line: string): void;
  /** draw the last progress and end the bar's line */
  done(): void;
}

/**
 * A printer on `stream`: a bar redrawn in place when `stream.isTTY`, otherwise a progress line at
 * most every `intervalSeconds` (default 10) and at done(). `now` (ms) is injectable for tests.
 */
export function progressPrinter(
  stream: ProgressStream,
  opts: { intervalSeconds?: number; now?: () => number; tty?: boolean } = {},
): ProgressPrinter {
  const tty = opts.tty ?? stream.isTTY === true;
  const now = opts.now ?? (() => Date.now());
  const interval = tty ? 100 : (opts.intervalSeconds ?? 10) * 1000;
  let last: TrainProgress | undefined;
  let lastDraw = -Infinity;
  let barShown = false;
  let drawnLast = false;
  const draw = () => {
    if (!last) return;
    if (tty) {
      stream.write(`\r${formatProgressBar(last)}\x1b[K`);
      barShown = true;
    } else {
      stream.write(`${formatProgressLine(last)}\n`);
    }
    lastDraw = now();
    drawnLast = true;
  };
  return {
    update(p) {
      last = p;
      drawnLast = false;
      if (now() - lastDraw >= interval) draw();
    },
    log(line) {
      if (tty && barShown) {
        stream.write(`\r\x1b[K${line}\n`);
        barShown = false;
        if (last) draw();
      } else {
        stream.write(`${line}\n`);
      }
    },
    done() {
      if (last && !drawnLast) draw();
      if (tty && barShown) stream.write('\n');
      barShown = false;
    },
  };
}
