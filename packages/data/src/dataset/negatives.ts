/**
 * Seeded negative sampling for implicit-only logs (every row a behaviour that happened, e.g. Taobao
 * UserBehavior): for each target-domain event with label 1, up to `perPositive` distinct target
 * items the user had no target event with at or before that time become label-0 events of that
 * user at the same timestamp. A sample then asks "is this the item the user acted on, or a sampled
 * one?", so AUC measures ranking against sampled negatives, not a click-through rate.
 *
 * Each positive's negatives are placed right before it in the log (same timestamp, earlier
 * arrival), so under the strictly-before rule they see exactly the positive's histories: everything
 * before the positive, and not the positive itself.
 */
import { Rng } from '@lctr/spec';
import { type EventLog, TARGET } from '../event-log.ts';
import type { NegativesConfig } from './config.ts';

export interface NegativesReport {
  readonly perPositive: number;
  readonly draw: 'popularity' | 'uniform';
  readonly seed: number;
  /** target-domain events with label 1 in the log before sampling */
  readonly positives: number;
  /** label-0 events added */
  readonly negatives: number;
  /** positives that got fewer than perPositive negatives (the user had acted on nearly every item of the pool) */
  readonly short: number;
}

/** tries per wanted negative before a positive is left short; bounds the loop when a user has seen most of the pool */
const TRIES_PER_NEGATIVE = 50;

/**
 * The log with negatives inserted. The pool is the target items that occur in the log's target
 * events, `firstItem` and up (1 when row 0 is the out-of-vocabulary row: never drawn); `popularity`
 * draws an item in proportion to its count of target events over the whole log, `uniform` uniformly.
 * A negative takes the category of the item's first target event and context 0 (missing) everywhere.
 */
export function sampleNegatives(log: EventLog, rule: NegativesConfig, firstItem = 0): { log: EventLog; report: NegativesReport } {
  const T = log.meta.items.target,
    n = log.size;
  const count = new Float64Array(T);
  const category = new Int32Array(T).fill(-1);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (log.domain[i] !== TARGET) continue;
    const it = log.item[i]!;
    count[it]!++;
    if (category[it] === -1) category[it] = log.category[i]!;
    positives += log.label[i]!;
  }
  // the pool (items with a target event) and the cumulative weights over it
  const pool: number[] = [];
  for (let it = firstItem; it < T; it++) if (count[it]! > 0) pool.push(it);
  const cum = new Float64Array(pool.length);
  let total = 0;
  pool.forEach((it, k) => {
    total += rule.draw === 'popularity' ? count[it]! : 1;
    cum[k] = total;
  });
  const rng = new Rng(rule.seed);
  const draw = (): number => {
    const u = rng.next() * total;
    let lo = 0,
      hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return pool[lo]!;
  };

  const cap = n + positives * rule.perPositive;
  const user = new Int32Array(cap),
    item = new Int32Array(cap),
    cat = new Int32Array(cap),
    domain = new Uint8Array(cap);
  const timestamp = new Float64Array(cap),
    label = new Uint8Array(cap),
    context = log.context.map(() => new Int32Array(cap));
  const userStart = new Int32Array(log.meta.users + 1);
  let out = 0,
    added = 0,
    short = 0;
  const firstSeen = new Map<number, number>(); // this user's target item -> its earliest timestamp
  const chosen: number[] = [];
  for (let u = 0; u < log.meta.users; u++) {
    const a = log.userStart[u]!,
      b = log.userStart[u + 1]!;
    userStart[u] = out;
    firstSeen.clear();
    for (let i = a; i < b; i++)
      if (log.domain[i] === TARGET && !firstSeen.has(log.item[i]!)) firstSeen.set(log.item[i]!, log.timestamp[i]!);
    for (let i = a; i < b; i++) {
      if (log.domain[i] === TARGET && log.label[i] === 1) {
        const t = log.timestamp[i]!;
        chosen.length = 0;
        for (let tries = 0; chosen.length < rule.perPositive && tries < TRIES_PER_NEGATIVE * rule.perPositive && pool.length; tries++) {
          const j = draw();
          const seen = firstSeen.get(j);
          if ((seen !== undefined && seen <= t) || chosen.includes(j)) continue;
          chosen.push(j);
        }
        if (chosen.length < rule.perPositive) short++;
        for (const j of chosen) {
          user[out] = u;
          item[out] = j;
          cat[out] = category[j]!;
          domain[out] = TARGET;
          timestamp[out] = t;
          label[out] = 0;
          out++;
          added++; // context columns stay 0 (missing)
        }
      }
      user[out] = u;
      item[out] = log.item[i]!;
      cat[out] = log.category[i]!;
      domain[out] = log.domain[i]!;
      timestamp[out] = log.timestamp[i]!;
      label[out] = log.label[i]!;
      for (let k = 0; k < context.length; k++) context[k]![out] = log.context[k]![i]!;
      out++;
    }
  }
  userStart[log.meta.users] = out;
  const fit = <A extends Int32Array | Uint8Array | Float64Array>(x: A): A => (out === cap ? x : (x.slice(0, out) as A));
  return {
    log: {
      meta: log.meta,
      size: out,
      user: fit(user),
      item: fit(item),
      category: fit(cat),
      domain: fit(domain),
      timestamp: fit(timestamp),
      label: fit(label),
      context: context.map(fit),
      userStart,
      profile: log.profile,
    },
    report: { perPositive: rule.perPositive, draw: rule.draw, seed: rule.seed, positives, negatives: added, short },
  };
}
