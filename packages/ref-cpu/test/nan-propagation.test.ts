/**
 * The oracle follows IEEE: a NaN (or an infinity times zero) in a weight reaches the outputs that
 * depend on it, as it does in tfjs and ONNX Runtime. A reported case: demo with mlp/l0/w[0] = NaN
 * scored a finite 0.4987 here and NaN in tfjs, because relu turned its NaN input into 0.
 */
import { describe, expect, it } from 'vitest';
import { buildDemo, initWeights } from '@lctr/spec';
import { gen, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '../src/index.ts';
import { expectTensor, f32, run1 } from './helpers.ts';

describe('NaN propagates through the reference', () => {
  it('matmul: 0 * NaN and 0 * Infinity are NaN; outputs that do not read the bad weight stay finite', () => {
    const schema = { a: { dtype: 'float32', shape: [2, 2] } } as const;
    // w = [[NaN, 1], [Infinity, 2]]; row 0 of a is all zeros, row 1 of a reads only w's second row
    const w = new Map([['w', f32([2, 2], [NaN, 1, Infinity, 2])]]);
    const y = run1(schema, (b) => b.matmul(b.inputs.a, b.param('w', [2, 2])), { a: f32([2, 2], [0, 0, 0, 3]) }, w);
    // [0*NaN + 0*Inf, 0*1 + 0*2] = [NaN, 0]; [0*NaN + 3*Inf, 0*1 + 3*2] = [NaN, 6]
    expectTensor(y, 'float32', [2, 2], [NaN, 0, NaN, 6]);
  });

  it('relu keeps NaN (max(x, 0) as IEEE maximum), sums and means propagate it', () => {
    const x = { x: { dtype: 'float32', shape: [5] } } as const;
    const feeds = { x: f32([5], [NaN, -1, 0, 2, -Infinity]) };
    expectTensor(
      run1(x, (b) => b.relu(b.inputs.x), feeds),
      'float32',
      [5],
      [NaN, 0, 0, 2, 0],
    );
    expectTensor(
      run1(x, (b) => b.reduceSum(b.inputs.x, [0]), feeds),
      'float32',
      [],
      [NaN],
    );
    expectTensor(
      run1(x, (b) => b.reduceMean(b.inputs.x, [0]), feeds),
      'float32',
      [],
      [NaN],
    );
  });

  it('demo with mlp/l0/w[0] = NaN scores NaN for every sample (finite with the weight as initialised)', () => {
    const g = buildDemo();
    const inputs = randomFeeds(g, { batch: 4, seq: 40 }, 20240802, {
      user: gen.ints(200),
      history: gen.ints(1000),
      candidate: gen.ints(1000),
      historyMask: gen.prefixMask(),
    });
    const weights = initWeights(g, 20240801);
    const clean = Array.from(runRef(g, weights, inputs).prob.data);
    expect(
      clean.every((p) => Number.isFinite(p) && p > 0 && p < 1),
      `clean probabilities ${clean.join(', ')}`,
    ).toBe(true);
    (weights.get('mlp/l0/w')!.data as Float32Array)[0] = Number.NaN;
    const prob = runRef(g, weights, inputs).prob;
    expect(prob.shape).toEqual([4]);
    expect(Array.from(prob.data).map((p) => Number.isNaN(p))).toEqual([true, true, true, true]);
  });
});
