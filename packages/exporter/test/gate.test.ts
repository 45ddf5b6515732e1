/**
 * The export gate's weight check (every weight finite: parity alone passes an infinite weight that
 * saturates every run alike) and the rule that production code does not import spec's testing module.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '@lctr/spec';
import { formatNonFinite, nonFiniteWeights, rejectionOf } from '../src/index.ts';

const f32 = (shape: number[], values: number[]): HostTensor<'float32'> => ({ dtype: 'float32', shape, data: Float32Array.from(values) });

describe('nonFiniteWeights', () => {
  it('names each bad weight with its first non-finite index, position and value, and counts them', () => {
    const weights = new Map([
      ['a', f32([2, 3], [1, 2, 3, 4, 5, 6])],
      ['b', f32([2, 2, 2], [0, 1, 2, 3, 4, -Infinity, NaN, Infinity])],
      ['c', f32([3], [NaN, 0, 0])],
    ]);
    const bad = nonFiniteWeights(weights);
    expect(bad).toEqual([
      { name: 'b', shape: [2, 2, 2], index: 5, position: [1, 0, 1], value: -Infinity, count: 3 },
      { name: 'c', shape: [3], index: 0, position: [0], value: NaN, count: 1 },
    ]);
    expect(formatNonFinite(bad[0]!)).toBe(
      "weight 'b' [2, 2, 2]: expected every value finite, got -Infinity at index 5 (position [1, 0, 1]); 3 of 8 values non-finite",
    );
    expect(nonFiniteWeights(new Map([['a', f32([2], [1, -0])]]))).toEqual([]);
  });

  it('fails the gate on its own and says so first', () => {
    const bad = nonFiniteWeights(new Map([['w', f32([1], [Infinity])]]));
    expect(rejectionOf(true, true, bad)).toBe('a weight is not finite');
    expect(rejectionOf(false, false, [...bad, ...bad])).toBe('2 weights are not finite and parity failed and the ONNX checker failed');
    expect(rejectionOf(true, null, [])).toBeUndefined();
  });
});

describe('production code', () => {
  it('imports nothing from @lctr/spec/testing (test helpers stay out of what ships)', () => {
    const src = join(import.meta.dirname, '../src');
    const imports = (f: string) => readFileSync(join(src, f), 'utf8').includes("'@lctr/spec/testing'");
    const offenders = readdirSync(src).filter((f) => f.endsWith('.ts') && imports(f));
    expect(offenders).toEqual([]);
  });
});
