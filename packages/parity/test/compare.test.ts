import { describe, expect, it } from 'vitest';
import { compareTensors } from '../src/index.ts';

const f = (data: number[], shape = [data.length]) => ({ dtype: 'float32', shape, data: Float64Array.from(data) });

describe('compareTensors', () => {
  it('scales errors by max(|expected|, rms(expected))', () => {
    // rms of [100, 0.001] is about 70.7: the small element's error 0.001 is scaled by 70.7, not by 0.001
    const rms = Math.sqrt((100 ** 2 + 0.001 ** 2) / 2);
    const c = compareTensors(f([100.0005, 0.002]), f([100, 0.001]), 1e-4);
    expect(c.maxErr).toBeCloseTo(0.001 / rms, 12);
    expect(c.at).toBe(1);
    expect(c.ok).toBe(true);
    const d = compareTensors(f([1.5, 2]), f([1, 2]), 1e-5);
    expect(d.ok).toBe(false);
    expect(d.maxErr).toBeCloseTo(0.5 / Math.sqrt(2.5), 12);
    expect(d.detail).toContain('at 0: 1.5 vs 1');
  });
  it('requires non-finite values to match exactly', () => {
    expect(compareTensors(f([-Infinity, NaN, 1]), f([-Infinity, NaN, 1]), 1e-5).ok).toBe(true);
    expect(compareTensors(f([Infinity, 1]), f([-Infinity, 1]), 1e-5).detail).toBe('element 0: Infinity vs expected -Infinity');
    expect(compareTensors(f([NaN]), f([0]), 1e-5).ok).toBe(false);
  });
  it('compares ints and bools exactly and checks shapes', () => {
    const i = (d: number[]) => ({ dtype: 'int32', shape: [d.length], data: Int32Array.from(d) });
    expect(compareTensors(i([1, 2, 3]), i([1, 2, 3]), 0).ok).toBe(true);
    expect(compareTensors(i([1, 5, 3]), i([1, 2, 3]), 0).detail).toBe('1 of 3 differ; first at 1: 5 vs 2');
    expect(compareTensors(f([1, 2]), f([1, 2], [2, 1]), 1).detail).toBe('shape [2] vs expected [2, 1]');
    expect(compareTensors({ dtype: 'int64', shape: [1], data: BigInt64Array.from([3n]) }, i([3]), 0).detail).toBe(
      'dtype int64 vs expected int32',
    );
  });
  it('fails an actual below expected as it fails one above (a one-sided comparison would pass every parity gate)', () => {
    // expected [1, 2]: rms sqrt(2.5); 0.5 off either way is a scaled error of 0.5 / sqrt(2.5)
    const below = compareTensors(f([0.5, 2]), f([1, 2]), 1e-5);
    expect(below.ok).toBe(false);
    expect(below.maxErr).toBeCloseTo(0.5 / Math.sqrt(2.5), 12);
    expect(below.maxAbs).toBe(0.5);
    expect(below.at).toBe(0);
    expect(below.detail).toBe('max scaled error 3.16e-1 (tol 1e-5), max abs 5.00e-1 at 0: 0.5 vs 1');
    expect(compareTensors(f([1.5, 2]), f([1, 2]), 1e-5).maxErr).toBe(below.maxErr);
    // negative values and far below: still the distance, not the signed difference
    const neg = compareTensors(f([-3, 2]), f([-1, 2]), 1e-5);
    expect([neg.ok, neg.maxAbs, neg.at]).toEqual([false, 2, 0]);
    expect(compareTensors(f([-1e6]), f([1]), 1e-5).ok).toBe(false);
    // within tolerance below passes, exactly like above
    expect(compareTensors(f([1 - 1e-7, 2]), f([1, 2]), 1e-5).ok).toBe(true);
    // ints and bools: a smaller value is unequal too
    const i = (d: number[]) => ({ dtype: 'int32', shape: [d.length], data: Int32Array.from(d) });
    expect(compareTensors(i([1, 0, 3]), i([1, 2, 3]), 0).detail).toBe('1 of 3 differ; first at 1: 0 vs 2');
    expect(
      compareTensors(
        { dtype: 'bool', shape: [2], data: Uint8Array.from([0, 1]) },
        { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 1]) },
        0,
      ).ok,
    ).toBe(false);
  });
});
