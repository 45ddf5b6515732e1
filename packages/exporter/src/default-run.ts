/**
 * The default job of `nx run exporter:onnx` (no arguments): the default LCN
 * (packages/train/configs/lcn-default.json: the small synthetic world) trained into a fixed
 * run directory by the Nx target `exporter:train-default` (cached by Nx: its `outputs` is the run
 * directory), then exported from there.
 *
 * `ensureTrainedRun` is what that target runs. The trainer CLI refuses an existing run directory
 * without --resume, so:
 * - a finished run in the run directory, trained with the same config, whose training graph the
 *   trainer model still builds identically, is reused as it is;
 * - otherwise the trainer CLI trains into a temp directory beside it, and only a finished run is
 *   swapped in (a failed or interrupted run leaves the old directory untouched);
 * - a run directory that is not a training run (anything but metrics.jsonl and checkpoints/) is
 *   never replaced.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type FeatureSchema, type Graph, displayPath } from '@lctr/spec';
import {
  type TrainConfig,
  CheckpointError,
  ConfigError,
  checkSameGraph,
  getTrainModel,
  latestCheckpointDir,
  parseJsonText,
  parseTrainConfig,
  readCheckpoint,
  totalSteps,
  trainModelNames,
} from '@lctr/train';
import { ExportError } from './errors.ts';

/** The default job: trainer model, config and run directory (relative to the workspace root). */
export const DEFAULT_JOB = {
  model: 'lcn',
  config: 'packages/train/configs/lcn-default.json',
  runDir: 'out/train/lcn-default',
} as const;

const TRAIN_CLI = fileURLToPath(new URL('../../train/src/cli.ts', import.meta.url));
/** What the trainer writes into a run directory (backend-tfjs train/trainer.ts). */
const RUN_ENTRIES = new Set(['metrics.jsonl', 'checkpoints']);

export interface TrainedRunOptions {
  /** trainer model (backend-tfjs registry) */
  readonly model: string;
  /** training config (JSON file) */
  readonly config: string;
  readonly runDir: string;
  /** extra trainer CLI arguments (tests: --backend cpu) */
  readonly trainerArgs?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface TrainedRun {
  readonly runDir: string;
  /** true: an earlier finished run was reused; false: trained now */
  readonly reused: boolean;
  readonly step: number;
}

function readConfig(path: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ExportError(`training config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return parseTrainConfig(parseJsonText(text, path), path);
  } catch (e) {
    if (e instanceof ConfigError) throw new ExportError(`training config ${path}:\n  ${e.problems.join('\n  ')}`);
    throw e;
  }
}

/** Why the run in `runDir` cannot be reused, or undefined when it can (finished, same config, same graph). */
async function whyNotReusable(runDir: string, model: string, config: TrainConfig, configPath: string): Promise<string | undefined> {
  let dir: string | undefined;
  try {
    dir = latestCheckpointDir(runDir);
  } catch (e) {
    if (e instanceof CheckpointError) return e.message;
    throw e;
  }
  if (dir === undefined) return 'it has no complete checkpoint';
  let ckpt;
  try {
    ckpt = readCheckpoint(dir);
  } catch (e) {
    if (e instanceof CheckpointError) return e.message;
    throw e;
  }
  const st = ckpt.state;
  if (JSON.stringify(st.config) !== JSON.stringify(config)) return `its config (${join(dir, 'state.json')}) differs from ${configPath}`;
  const total = totalSteps(st.config, st.trainSize);
  if (st.step !== total) return `it stopped at step ${st.step} of ${total}`;
  const graph = await getTrainModel(model).buildTrain(config.model, configPath, config.data);
  try {
    checkSameGraph(ckpt.graph, graph as Graph<FeatureSchema, string>, dir);
  } catch (e) {
    if (e instanceof CheckpointError) return `the trainer model '${model}' no longer builds its training graph: ${e.message}`;
    throw e;
  }
  return undefined;
}

/**
 * The trainer CLI in a child process (`node --import tsx`). SIGINT/SIGTERM sent to this process
 * are passed on to it (the trainer stops after a checkpoint, or at once on the second signal);
 * this process then cleans up instead of dying with a temp directory left behind.
 */
function runTrainer(args: readonly string[]): Promise<number> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, TRAIN_CLI, ...args], { stdio: 'inherit' });
  const pass = (sig: NodeJS.Signals) => {
    child.kill(sig);
  };
  process.on('SIGINT', pass);
  process.on('SIGTERM', pass);
  return new Promise<number>((res, rej) => {
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
  }).finally(() => {
    process.off('SIGINT', pass);
    process.off('SIGTERM', pass);
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Temp directories of earlier attempts that were killed before they could clean up. */
function removeStaleTemps(runDir: string): void {
  const parent = dirname(runDir);
  if (!existsSync(parent)) return;
  const re = new RegExp(`^\\.${basename(runDir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(?:tmp|old)-(\\d+)$`);
  for (const e of readdirSync(parent)) {
    const m = re.exec(e);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) rmSync(join(parent, e), { recursive: true, force: true });
  }
}

export async function ensureTrainedRun(opts: TrainedRunOptions): Promise<TrainedRun> {
  const log = opts.log ?? (() => {});
  if (!trainModelNames().includes(opts.model))
    throw new ExportError(`trainer model: expected one of ${trainModelNames().join(', ')}, got '${opts.model}'`);
  const runDir = resolve(opts.runDir);
  const config = readConfig(opts.config);

  if (existsSync(runDir)) {
    const foreign = readdirSync(runDir).filter((e) => !RUN_ENTRIES.has(e));
    if (foreign.length) {
      throw new ExportError(
        `run directory ${runDir}: expected a training run (only ${[...RUN_ENTRIES].join(', ')}), got ` +
          `${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}; move it away, it is not replaced`,
      );
    }
    const why = await whyNotReusable(runDir, opts.model, config, opts.config);
    if (why === undefined) {
      const step = readCheckpoint(latestCheckpointDir(runDir)!).state.step;
      log(`reusing the finished run ${displayPath(runDir)} (step ${step}, trained with ${opts.config})`);
      return { runDir, reused: true, step };
    }
    log(`not reusing ${displayPath(runDir)}: ${why}; training anew`);
  }

  removeStaleTemps(runDir);
  const tmp = join(dirname(runDir), `.${basename(runDir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    log(`training '${opts.model}' with ${opts.config} into ${displayPath(tmp)} (swapped into ${displayPath(runDir)} once finished)`);
    const code = await runTrainer(['--model', opts.model, '--config', opts.config, '--out', tmp, ...(opts.trainerArgs ?? [])]);
    if (code !== 0) throw new ExportError(`the trainer exited with code ${code}; ${runDir} is left as it was`);
    const why = await whyNotReusable(tmp, opts.model, config, opts.config);
    if (why !== undefined) throw new ExportError(`the training run did not finish (${why}); ${runDir} is left as it was`);
    if (existsSync(runDir)) {
      const old = join(dirname(runDir), `.${basename(runDir)}.old-${process.pid}`);
      renameSync(runDir, old);
      renameSync(tmp, runDir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, runDir);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const step = readCheckpoint(latestCheckpointDir(runDir)!).state.step;
  log(`trained run: ${displayPath(runDir)} (step ${step})`);
  return { runDir, reused: false, step };
}
