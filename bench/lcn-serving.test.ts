/**
 * The serving benchmarks' helpers: the TopK-only model against a hand-ranked row, and the budget arithmetic against hand-computed shares.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { pseudoScores, servingBudget, topkOnlyModel } from './lcn-serving.ts';

describe('topkOnlyModel', () => {
  it("ranks each row of its initializer: the first row's best value and index come out, sorted or not", async () => {
    const x = Float32Array.from([0.5, 2, -1, 2, 7, 3, /* row 2 */ 9, 9, 9, 9, 9, 9]);
    for (const sorted of [true, false]) {
      const s = await ort.InferenceSession.create(topkOnlyModel(x, 2, 6, 3, sorted), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'disabled',
      });
      const out = await s.run({});
      await s.release();
      if (sorted) {
        expect(Array.from(out['v0']!.data as Float32Array)).toEqual([7]);
        expect(Array.from(out['i0']!.data as BigInt64Array)).toEqual([4n]);
      } else {
        // unsorted: the first of the top 3 {7, 3, 2 at index 1} in the kernel's order
        expect([7, 3, 2]).toContain((out['v0']!.data as Float32Array)[0]);
      }
    }
  });

  it('names the size a wrong x has', () => {
    expect(() => topkOnlyModel(new Float32Array(5), 2, 3, 1, true)).toThrow('topkOnlyModel: x must hold rows x n = 6 values, got 5');
  });
});

describe('pseudoScores', () => {
  it('is the same fixed sequence every call, in [-1, 1)', () => {
    const a = pseudoScores(1000);
    expect(Array.from(a)).toEqual(Array.from(pseudoScores(1000)));
    expect(a[0]).toBe(0);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThan(1);
    expect(new Set(a).size).toBeGreaterThan(990);
  });
});

describe('servingBudget', () => {
  it('splits the p50 into products, the K1 top-k and the rest, and what the rest may take at the goal', () => {
    const b = servingBudget({ floorMs: 20, p50: 50, productsMs: 22, topkMs: 15, topkFastestMs: 11 });
    expect(b.restMs).toBeCloseTo(50 - 22 - 15, 12); // 13 ms
    expect(b.restBudgetMs).toBeCloseTo(2 * 20 - 22 - 15, 12); // 3 ms with the TopK as emitted
    expect(b.restBudgetFastestMs).toBeCloseTo(2 * 20 - 22 - 11, 12); // 7 ms with the fastest
    expect(b.shares).toEqual({ products: 1.1, topk: 0.75, topkFastest: 0.55, rest: 0.65, restBudget: 0.15, restBudgetFastest: 0.35 });
    expect(servingBudget({ floorMs: 10, p50: 30, productsMs: 10, topkMs: 5, topkFastestMs: 4 }, 3).restBudgetFastestMs).toBe(16);
  });
});
