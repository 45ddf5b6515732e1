import { describe, expect, it } from 'vitest';
import { type EvalRecord, spread, summarize } from './crp-select.ts';

const rec = (variant: string, seed: number, epoch: number, valAuc: number, testAuc: number): EvalRecord => ({
  kind: 'eval',
  variant,
  seed,
  epoch,
  valAuc,
  testAuc,
});

describe('crp-select', () => {
  it('spread: mean, sample sd, standard error', () => {
    const s = spread([0.6, 0.7, 0.8]);
    expect(s.mean).toBeCloseTo(0.7, 12);
    expect(s.sd).toBeCloseTo(0.1, 12);
    expect(s.se).toBeCloseTo(0.1 / Math.sqrt(3), 12);
    expect(spread([0.5])).toEqual({ mean: 0.5, sd: 0, se: 0, n: 1 });
  });

  it("picks each seed's epoch by validation AUC, never by test AUC", () => {
    const rows = [
      rec('a', 1, 1, 0.7, 0.6),
      rec('a', 1, 2, 0.72, 0.5),
      rec('a', 1, 3, 0.69, 0.9), // val picks epoch 2 (test 0.50), test's best is epoch 3
      rec('a', 2, 1, 0.75, 0.7),
      rec('a', 2, 2, 0.74, 0.8),
    ];
    const table = summarize(rows).split('\n');
    expect(table[2]).toBe('| a | 1,2 | 0.6000 ± 0.1000 (sd 0.1414) | 2,1 | 0.6500 ± 0.0500 (sd 0.0707) | 0.7350 ± 0.0150 (sd 0.0212) |');
  });
});
