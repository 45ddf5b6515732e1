/**
 * The numbers of an experiment table, as pure functions (tested in rows.test.ts): the summary of
 * one metric over seeds (mean and spread), the share of the gap between chance (AUC 0.5) and the
 * Bayes AUC that a model closes, the share of one pick set another finds, and the markdown table.
 */

/** One metric over repeated runs (seeds). */
export interface Summary {
  readonly n: number;
  readonly mean: number;
  /** sample standard deviation (n - 1 in the denominator); NaN for fewer than 2 values */
  readonly spread: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Mean, sample standard deviation, min and max of finite values; NaN values are an error (a run that diverged must not vanish from a mean).
 */
export function summarize(values: readonly number[]): Summary {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RangeError(`summarize: value ${bad} is ${values[bad]}, expected a finite number`);
  const n = values.length;
  if (n === 0) return { n, mean: NaN, spread: NaN, min: NaN, max: NaN };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const spread = n < 2 ? NaN : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { n, mean, spread, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * The share of the gap between chance and the Bayes AUC that `auc` closes: (auc - 0.5) / (bayes - 0.5).
 * NaN when there is no Bayes AUC (real data) or it is not above chance.
 */
export function gapShare(auc: number, bayesAuc: number | undefined): number {
  if (bayesAuc === undefined || !(bayesAuc > 0.5)) return NaN;
  return (auc - 0.5) / (bayesAuc - 0.5);
}

/** The metrics of one finished run that a table row reads (a subset of the trainer's eval record). */
export interface RunMetrics {
  readonly auc: number;
  readonly gauc: number;
  readonly logloss: number;
  readonly bayesAuc?: number;
}

export interface MetricRow {
  /** the variant's id (run directories are <variant>-seed<k>) */
  readonly variant: string;
  /** how the table names it */
  readonly label: string;
  readonly seeds: readonly number[];
  readonly auc: Summary;
  readonly gauc: Summary;
  readonly logloss: Summary;
  readonly bayesAuc: Summary;
  /** gapShare per seed, then summarised */
  readonly gapShare: Summary;
}

/** A table row from the runs of one variant (one per seed). */
export function metricRow(
  variant: string,
  label: string,
  runs: ReadonlyArray<{ readonly seed: number; readonly metrics: RunMetrics }>,
): MetricRow {
  const bayes = runs.flatMap((r) => (r.metrics.bayesAuc === undefined ? [] : [r.metrics.bayesAuc]));
  const shares = runs.flatMap((r) => (r.metrics.bayesAuc === undefined ? [] : [gapShare(r.metrics.auc, r.metrics.bayesAuc)]));
  return {
    variant,
    label,
    seeds: runs.map((r) => r.seed),
    auc: summarize(runs.map((r) => r.metrics.auc)),
    gauc: summarize(runs.map((r) => r.metrics.gauc)),
    logloss: summarize(runs.map((r) => r.metrics.logloss)),
    bayesAuc: summarize(bayes),
    gapShare: summarize(shares),
  };
}

/** `0.7294 ± 0.0012` (spread shown only for 2+ values), `–` for no value; `scale` 100 with digits 1 gives percentages. */
export function formatSummary(s: Summary, digits = 4, scale = 1): string {
  if (s.n === 0 || !Number.isFinite(s.mean)) return '–';
  const m = (s.mean * scale).toFixed(digits);
  return Number.isFinite(s.spread) ? `${m} ± ${(s.spread * scale).toFixed(digits)}` : m;
}

/** `+0.0012` / `-0.0030`: a signed difference. */
export function formatDelta(d: number, digits = 4): string {
  if (!Number.isFinite(d)) return '–';
  return `${d >= 0 ? '+' : ''}${d.toFixed(digits)}`;
}

/** A GitHub markdown table; every row must have as many cells as the header. `|` inside a cell is escaped. */
export function markdownTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  align: ReadonlyArray<'left' | 'right'> = [],
): string {
  rows.forEach((r, i) => {
    if (r.length !== header.length) throw new RangeError(`markdownTable: row ${i} has ${r.length} cells, the header has ${header.length}`);
  });
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = header.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  return [line(header), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n') + '\n';
}

/**
 * The share of the valid entries of `real` that also appear among the valid entries of `test`
 * (sets of sequence positions); NaN when `real` has no valid entry. `realValid` / `testValid`
 * default to all true.
 */
export function foundShare(
  real: ArrayLike<number>,
  test: ArrayLike<number>,
  realValid?: ArrayLike<boolean | number>,
  testValid?: ArrayLike<boolean | number>,
): number {
  const inTest = new Set<number>();
  for (let i = 0; i < test.length; i++) if (!testValid || testValid[i]) inTest.add(test[i]!);
  let total = 0,
    found = 0;
  for (let i = 0; i < real.length; i++) {
    if (realValid && !realValid[i]) continue;
    total++;
    if (inTest.has(real[i]!)) found++;
  }
  return total === 0 ? NaN : found / total;
}
