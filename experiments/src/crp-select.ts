/** Validation-based model selection for the CRP runs (crp-diagnostics.ts): one epoch per seed, picked by val AUC. */

export interface EvalRecord {
  kind: 'eval';
  variant: string;
  seed: number;
  epoch: number;
  valAuc: number;
  testAuc: number;
  bayesAuc?: number;
}

/** mean, sample standard deviation and standard error (sd / √n) */
export function spread(xs: readonly number[]): { mean: number; sd: number; se: number; n: number } {
  const n = xs.length,
    mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, se: sd / Math.sqrt(n), n };
}

/**
 * Per variant: the test AUC at the epoch each seed's validation AUC picks (never the test set's
 * best), and the test AUC after epoch 1; mean ± standard error over seeds (sd in brackets).
 */
export function summarize(records: readonly EvalRecord[]): string {
  const byVariant = new Map<string, Map<number, EvalRecord[]>>();
  for (const r of records) {
    const v = byVariant.get(r.variant) ?? new Map<number, EvalRecord[]>();
    v.set(r.seed, [...(v.get(r.seed) ?? []), r]);
    byVariant.set(r.variant, v);
  }
  const fmt = (x: ReturnType<typeof spread>) => `${x.mean.toFixed(4)} ± ${x.se.toFixed(4)} (sd ${x.sd.toFixed(4)})`;
  const lines = [
    '| variant | seeds | test AUC at the val-selected epoch | selected epochs | test AUC after epoch 1 | val AUC (selected) |',
    '|---|---|---|---|---|---|',
  ];
  for (const [variant, seeds] of byVariant) {
    const picked = [...seeds.values()].map((rs) => rs.reduce((best, r) => (r.valAuc > best.valAuc ? r : best)));
    const first = [...seeds.values()]
      .map((rs) => rs.find((r) => Math.abs(r.epoch - 1) < 1e-9))
      .filter((r): r is EvalRecord => r !== undefined);
    lines.push(
      `| ${variant} | ${[...seeds.keys()].join(',')} | ${fmt(spread(picked.map((r) => r.testAuc)))} | ` +
        `${picked.map((r) => r.epoch).join(',')} | ${first.length ? fmt(spread(first.map((r) => r.testAuc))) : '-'} | ` +
        `${fmt(spread(picked.map((r) => r.valAuc)))} |`,
    );
  }
  return lines.join('\n');
}
