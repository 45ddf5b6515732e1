/** The packed-sort top-k (float32 keys) against the insertion top-k (any array) and a plain oracle. */
import { describe, expect, it } from 'vitest';
import { Rng } from '@lctr/spec';
import { topkRows } from '../src/topk.ts';

/** The spec's order by brute force: value descending (NaN below every number, above -Infinity), then the lower index. */
function oracle(row: number[], k: number): number[] {
  const rank = (v: number) => (v !== v ? -Number.MAX_VALUE : v);
  return row
    .map((_, i) => i)
    .sort((a, b) => rank(row[b]!) - rank(row[a]!) || a - b)
    .slice(0, k);
}

describe('topkRows', () => {
  it('float32 keys (packed sort) and plain arrays (insertion) give the spec order, ties, -0, -Infinity and NaN included', () => {
    const rng = new Rng(11);
    for (const [rows, n, k] of [
      [4, 7, 3],
      [3, 500, 200],
      [2, 200, 50],
      [5, 64, 64],
      [3, 1000, 1],
    ] as const) {
      const pool = [-1, 0, -0, 0.5, 2, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38];
      const keys = Float32Array.from({ length: rows * n }, () => (rng.next() < 0.6 ? pool[rng.int(pool.length)]! : rng.next() * 4 - 2));
      const packed = topkRows(keys, rows, n, k),
        insertion = topkRows(Array.from(keys), rows, n, k);
      for (let r = 0; r < rows; r++) {
        const want = oracle(Array.from(keys.subarray(r * n, (r + 1) * n)), k);
        expect(Array.from(packed.indices.subarray(r * k, (r + 1) * k))).toEqual(want);
        expect(Array.from(insertion.indices.subarray(r * k, (r + 1) * k))).toEqual(want);
      }
      expect(Array.from(packed.values)).toEqual(Array.from(insertion.values));
    }
  });
});
