/** What a practitioner checks first about a dataset, computed from the loaded log (plain counting). */
import { SOURCE, TARGET } from '../event-log.ts';
import type { DatasetConfig } from './config.ts';
import type { FoldReport } from '../readers/events.ts';
import type { Dataset, RefusedRows } from './load.ts';
import type { NegativesReport } from './negatives.ts';

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface DatasetReport {
  readonly name: string;
  readonly users: number;
  readonly items: { readonly target: number; readonly source: number };
  readonly categories: number;
  readonly events: { readonly total: number; readonly target: number; readonly source: number };
  /** share of label 1 among all, target and source events */
  readonly labelRate: { readonly all: number; readonly target: number; readonly source: number };
  readonly split: {
    readonly splitTime: number;
    readonly train: { readonly samples: number; readonly labelRate: number };
    readonly test: { readonly samples: number; readonly labelRate: number };
  };
  /**
   * Per target sample (every target event), the history lengths strictly before it, uncut: positive
   * target events (the default target sequence) and source events (source and lifelong sequences);
   * `truncated` is the share of samples longer than the config's sequence length.
   */
  readonly history: {
    readonly target: Percentiles & { readonly truncated: number };
    readonly source: Percentiles & { readonly truncated: number; readonly truncatedLifelong: number };
  };
  readonly time: { readonly min: number; readonly max: number };
  /** events sharing (user, timestamp) with another event of the same user (sampled negatives left out) */
  readonly tiedTimestamps: { readonly events: number; readonly share: number };
  readonly refused: RefusedRows;
  /** users dropped and ids (with their events) folded into the out-of-vocabulary rows by `minCounts` */
  readonly folded: FoldReport;
  /** negatives added by `negatives` (null without it) */
  readonly negatives: NegativesReport | null;
}

/** nearest-rank percentile of sorted values */
const rank = (sorted: Int32Array, q: number): number => (sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : 0);

export function inspectDataset(d: Dataset, cfg: DatasetConfig): DatasetReport {
  const log = d.log,
    n = log.size;
  let target = 0,
    posAll = 0,
    posTarget = 0,
    tied = 0,
    tMin = Infinity,
    tMax = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = log.timestamp[i]!;
    if (t < tMin) tMin = t;
    if (t > tMax) tMax = t;
    posAll += log.label[i]!;
    if (log.domain[i] === TARGET) {
      target++;
      posTarget += log.label[i]!;
    }
  }
  const histTarget = new Int32Array(target),
    histSource = new Int32Array(target);
  // sampled negatives share their positive's timestamp by construction: ties count the log's own events
  // (with negatives on, every label-0 target event is taken for a sampled one)
  const real = cfg.negatives ? (i: number) => log.domain[i] !== TARGET || log.label[i] === 1 : () => true;
  let realEvents = 0;
  for (let i = 0; i < n; i++) if (real(i)) realEvents++;
  let k = 0;
  for (let u = 0; u < log.meta.users; u++) {
    const a = log.userStart[u]!,
      b = log.userStart[u + 1]!;
    let tPos = 0,
      src = 0;
    for (let i = a; i < b; i++) {
      // ties: the user's events are in (timestamp, arrival) order, so "before" is "earlier position"
      if (real(i)) {
        let tiedHere = false;
        for (let j = i - 1; j >= a && log.timestamp[j] === log.timestamp[i] && !tiedHere; j--) tiedHere = real(j);
        for (let j = i + 1; j < b && log.timestamp[j] === log.timestamp[i] && !tiedHere; j++) tiedHere = real(j);
        if (tiedHere) {
          tied++;
        }
      }
      if (log.domain[i] === TARGET) {
        histTarget[k] = tPos;
        histSource[k] = src;
        k++;
        tPos += log.label[i]!;
      } else if (log.domain[i] === SOURCE) src++;
    }
  }
  const over = (a: Int32Array, L: number) => {
    let c = 0;
    for (const x of a) if (x > L) c++;
    return a.length ? c / a.length : 0;
  };
  const pct = (a: Int32Array): Percentiles => {
    const s = a.slice().sort();
    return { p50: rank(s, 0.5), p90: rank(s, 0.9), p99: rank(s, 0.99), max: s.length ? s[s.length - 1]! : 0 };
  };
  const rate = (idx: Int32Array) => {
    let p = 0;
    for (const i of idx) p += log.label[i]!;
    return idx.length ? p / idx.length : 0;
  };
  return {
    name: d.name,
    users: log.meta.users,
    items: { ...log.meta.items },
    categories: log.meta.categories,
    events: { total: n, target, source: n - target },
    labelRate: {
      all: n ? posAll / n : 0,
      target: target ? posTarget / target : 0,
      source: n - target ? (posAll - posTarget) / (n - target) : 0,
    },
    split: {
      splitTime: d.splitTime,
      train: { samples: d.train.length, labelRate: rate(d.train) },
      test: { samples: d.test.length, labelRate: rate(d.test) },
    },
    history: {
      target: { ...pct(histTarget), truncated: over(histTarget, cfg.sequences.target) },
      source: {
        ...pct(histSource),
        truncated: over(histSource, cfg.sequences.source),
        truncatedLifelong: over(histSource, cfg.sequences.lifelong),
      },
    },
    time: { min: n ? tMin : 0, max: n ? tMax : 0 },
    tiedTimestamps: { events: tied, share: realEvents ? tied / realEvents : 0 },
    refused: d.refused,
    folded: d.folded,
    negatives: d.negatives,
  };
}

const int = (x: number) => x.toLocaleString('en-US');
const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
/** epoch seconds as a UTC date when it looks like one (2000..2100), else the number */
const when = (t: number) =>
  t >= 946684800 && t < 4102444800 ? `${new Date(t * 1000).toISOString().replace('.000Z', 'Z')} (${t})` : String(t);

/** The report as the lines `inspect` prints. */
export function formatReport(r: DatasetReport, cfg: DatasetConfig): string[] {
  const h = r.history;
  const p = (x: Percentiles) => `p50 ${int(x.p50)}, p90 ${int(x.p90)}, p99 ${int(x.p99)}, max ${int(x.max)}`;
  const lines = [
    `dataset ${r.name}`,
    `users ${int(r.users)}; items ${int(r.items.target)} target, ${int(r.items.source)} source; categories ${int(r.categories)}`,
    `events ${int(r.events.total)}: ${int(r.events.target)} target, ${int(r.events.source)} source`,
    `label rate ${pc(r.labelRate.all)} (target ${pc(r.labelRate.target)}, source ${pc(r.labelRate.source)})`,
    `split at ${when(r.split.splitTime)}: train ${int(r.split.train.samples)} samples (label rate ${pc(r.split.train.labelRate)}), test ` +
      `${int(r.split.test.samples)} (${pc(r.split.test.labelRate)})`,
    `target history before a sample: ${p(h.target)}; longer than ${cfg.sequences.target}: ${pc(h.target.truncated)}`,
    `source history before a sample: ${p(h.source)}; longer than ${cfg.sequences.source}: ${pc(h.source.truncated)}, than ` +
      `${cfg.sequences.lifelong} (lifelong): ${pc(h.source.truncatedLifelong)}`,
    `time ${when(r.time.min)} .. ${when(r.time.max)}`,
    `tied timestamps: ${int(r.tiedTimestamps.events)} events (${pc(r.tiedTimestamps.share)}) share (user, timestamp) with another; kept ` +
      `in file order`,
    `refused rows: ${int(r.refused.total)}${r.refused.total ? ` (maxBadRows ${cfg.maxBadRows})` : ''}`,
  ];
  for (const x of r.refused.reasons) lines.push(`  ${int(x.count)} x ${x.reason} (first at ${x.first})`);
  const mc = cfg.minCounts,
    f = r.folded;
  if (mc) {
    const parts: string[] = [];
    if (mc.userEvents)
      parts.push(`dropped ${int(f.users.dropped)} users with fewer than ${mc.userEvents} events (${int(f.users.events)} events)`);
    if (mc.items) {
      parts.push(
        `folded ${int(f.items.target.folded)} target items (${int(f.items.target.events)} events) and ${int(f.items.source.folded)} ` +
          `source items (${int(f.items.source.events)} events) seen fewer than ${mc.items} times into row 0`,
      );
    }
    if (mc.categories)
      parts.push(
        `folded ${int(f.categories.folded)} categories (${int(f.categories.events)} events) seen fewer than ${mc.categories} times into ` +
          `row 0`,
      );
    lines.push(`min counts: ${parts.join('; ')}`);
  }
  const ng = r.negatives;
  if (ng) {
    lines.push(
      `negatives: ${int(ng.negatives)} label-0 events sampled (${ng.perPositive} per positive, ${ng.draw}, seed ${ng.seed}) for ` +
        `${int(ng.positives)} target positives; ${int(ng.short)} positives got fewer`,
    );
  }
  return lines;
}
