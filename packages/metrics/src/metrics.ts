/**
 * Ranking and calibration metrics for click-through-rate models (SPEC.md, Metrics):
 * - AUC: the probability that a random positive scores above a random negative, ties counting
 *   one half (the Mann-Whitney statistic, exact: it equals the trapezoidal area under the ROC curve);
 * - GAUC: Σ_u n_u AUC_u / Σ_u n_u over the users that have both labels, n_u = the user's impressions;
 * - logloss: mean binary cross-entropy with probabilities clipped to [1e-7, 1 - 1e-7].
 *
 * Undefined values are NaN, never exceptions: the AUC of a set with one class (or none) is NaN
 * (`aucDetail` says why), GAUC over no user with both labels is NaN, and every metric of an empty
 * set is NaN. Bad input (length mismatch, a label other than 0/1, a NaN score, a probability
 * outside [0, 1], a non-integer group) throws a `MetricsError` naming the function, the field,
 * the position, what was expected and what was found.
 */

export class MetricsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricsError';
  }
}

/** Probabilities are clipped to [LOGLOSS_EPS, 1 - LOGLOSS_EPS] before the log (SPEC.md). */
export const LOGLOSS_EPS = 1e-7;

export interface AucDetail {
  /** NaN when undefined (see `reason`) */
  readonly auc: number;
  readonly positives: number;
  readonly negatives: number;
  /** why `auc` is NaN: 'no samples' or 'only one class: 0 positive(s) and 7 negative(s)'; absent when defined */
  readonly reason?: string;
}

export interface GaucResult {
  /** impression-weighted mean of the per-user AUCs; NaN when no user has both labels */
  readonly gauc: number;
  /** users counted (those with at least one positive and one negative) */
  readonly users: number;
  /** impressions of the counted users (Σ n_u, the denominator) */
  readonly impressions: number;
  /** users left out because all their labels are equal (their AUC is undefined) */
  readonly skippedUsers: number;
}

export interface CtrMetrics {
  readonly samples: number;
  readonly positives: number;
  readonly auc: number;
  readonly gauc: number;
  readonly gaucUsers: number;
  readonly gaucImpressions: number;
  readonly logloss: number;
}

function checkLength(fn: string, a: ArrayLike<number>, aName: string, b: ArrayLike<number>, bName: string): void {
  if (a.length !== b.length)
    throw new MetricsError(`${fn}: ${aName} and ${bName} must have the same length, got ${a.length} ${aName} and ${b.length} ${bName}`);
}

function checkLabel(fn: string, labels: ArrayLike<number>, i: number): number {
  const y = labels[i]!;
  if (y !== 0 && y !== 1) throw new MetricsError(`${fn}: labels[${i}] must be 0 or 1, got ${String(y)}`);
  return y;
}

function checkScore(fn: string, field: string, scores: ArrayLike<number>, i: number): number {
  const s = scores[i]!;
  if (typeof s !== 'number' || Number.isNaN(s)) throw new MetricsError(`${fn}: ${field}[${i}] must be a number, got ${String(s)}`);
  return s;
}

/**
 * Σ over positives of (#negatives scoring below + ½ #negatives scoring equal), from two arrays
 * sorted ascending: one merge walk, O(P + N). Counts are integers or halves, exact in float64.
 */
function mannWhitney(pos: Float64Array, neg: Float64Array): number {
  let lo = 0,
    hi = 0,
    sum = 0;
  for (let i = 0; i < pos.length; i++) {
    const s = pos[i]!;
    while (lo < neg.length && neg[lo]! < s) lo++;
    if (hi < lo) hi = lo;
    while (hi < neg.length && neg[hi]! <= s) hi++;
    sum += lo + 0.5 * (hi - lo);
  }
  return sum;
}

/** AUC with its class counts; NaN with a reason when a class is missing. O(n log n). */
export function aucDetail(labels: ArrayLike<number>, scores: ArrayLike<number>): AucDetail {
  const fn = 'auc';
  checkLength(fn, labels, 'labels', scores, 'scores');
  const n = labels.length;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    positives += checkLabel(fn, labels, i);
    checkScore(fn, 'scores', scores, i);
  }
  const negatives = n - positives;
  if (n === 0) return { auc: NaN, positives, negatives, reason: 'no samples' };
  if (positives === 0 || negatives === 0) {
    return { auc: NaN, positives, negatives, reason: `only one class: ${positives} positive(s) and ${negatives} negative(s)` };
  }
  const pos = new Float64Array(positives),
    neg = new Float64Array(negatives);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) pos[p++] = scores[i]!;
    else neg[q++] = scores[i]!;
  }
  pos.sort();
  neg.sort();
  return { auc: mannWhitney(pos, neg) / (positives * negatives), positives, negatives };
}

/**
 * Exact ROC AUC: P(score of a positive > score of a negative) + ½ P(equal). NaN when the labels
 * hold only one class or nothing (`aucDetail` gives the reason). Throws `MetricsError` on a length
 * mismatch, a label other than 0/1 or a NaN score; ±Infinity scores are allowed.
 */
export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  return aucDetail(labels, scores).auc;
}

/**
 * Group AUC: Σ_u n_u AUC_u / Σ_u n_u over the groups (users) having both labels, n_u = the
 * group's impressions (all its samples). Groups are integer ids in any order. O(n log n).
 */
export function gauc(labels: ArrayLike<number>, scores: ArrayLike<number>, groups: ArrayLike<number>): GaucResult {
  const fn = 'gauc';
  checkLength(fn, labels, 'labels', scores, 'scores');
  checkLength(fn, labels, 'labels', groups, 'groups');
  const n = labels.length;
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    checkLabel(fn, labels, i);
    checkScore(fn, 'scores', scores, i);
    const gi = groups[i]!;
    if (!Number.isInteger(gi)) throw new MetricsError(`${fn}: groups[${i}] must be an integer, got ${String(gi)}`);
    g[i] = gi;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => g[a]! - g[b]! || a - b);
  const posBuf = new Float64Array(n),
    negBuf = new Float64Array(n);
  let weighted = 0,
    users = 0,
    impressions = 0,
    skippedUsers = 0;
  for (let start = 0; start < n; ) {
    const group = g[order[start]!]!;
    let end = start,
      p = 0,
      q = 0;
    for (; end < n && g[order[end]!] === group; end++) {
      const i = order[end]!;
      if (labels[i] === 1) posBuf[p++] = scores[i]!;
      else negBuf[q++] = scores[i]!;
    }
    if (p > 0 && q > 0) {
      const pos = posBuf.subarray(0, p).sort(),
        neg = negBuf.subarray(0, q).sort();
      const nu = p + q;
      weighted += nu * (mannWhitney(pos, neg) / (p * q));
      users++;
      impressions += nu;
    } else {
      skippedUsers++;
    }
    start = end;
  }
  return { gauc: users > 0 ? weighted / impressions : NaN, users, impressions, skippedUsers };
}

/**
 * Mean binary cross-entropy -[y log p + (1 - y) log(1 - p)] with p clipped to [1e-7, 1 - 1e-7];
 * NaN for no samples. Throws `MetricsError` on a length mismatch, a label other than 0/1, or a
 * probability that is NaN or outside [0, 1]. Summed with compensation (Neumaier).
 */
export function logloss(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  const fn = 'logloss';
  checkLength(fn, labels, 'labels', probs, 'probs');
  const n = labels.length;
  let sum = 0,
    comp = 0;
  for (let i = 0; i < n; i++) {
    const y = checkLabel(fn, labels, i);
    const raw = checkScore(fn, 'probs', probs, i);
    if (raw < 0 || raw > 1) throw new MetricsError(`${fn}: probs[${i}] must be a probability in [0, 1], got ${raw}`);
    const p = Math.min(Math.max(raw, LOGLOSS_EPS), 1 - LOGLOSS_EPS);
    const term = -(y === 1 ? Math.log(p) : Math.log(1 - p));
    const t = sum + term;
    comp += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
  }
  return n === 0 ? NaN : (sum + comp) / n;
}

/** AUC, GAUC and logloss of one evaluation set in one call (what the trainer logs). */
export function evaluateCtr(labels: ArrayLike<number>, probs: ArrayLike<number>, groups: ArrayLike<number>): CtrMetrics {
  const a = aucDetail(labels, probs);
  const ll = logloss(labels, probs);
  const g = gauc(labels, probs, groups);
  return {
    samples: labels.length,
    positives: a.positives,
    auc: a.auc,
    gauc: g.gauc,
    gaucUsers: g.users,
    gaucImpressions: g.impressions,
    logloss: ll,
  };
}
