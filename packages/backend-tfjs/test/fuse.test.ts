/**
 * The gather-concat fusion (src/fuse.ts): a concat of row gathers gives exactly what the unfused
 * graph gives (forward and every parameter gradient), the fused kernel really runs, and its
 * computed indices are still range-checked with the gather's own message.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Float, GraphBuilder } from '@lctr/spec';
import { compileTfjs } from '../src/index.ts';
import { BACKENDS, f32, i32, nums, useBackend } from './helpers.ts';

const B = 3,
  N = 5,
  K = 2;

/** Lookups of two tables side by side, and picks of two sequences side by side; `fuse` false puts a x1 between. */
function build(fuse: boolean) {
  const b = new GraphBuilder(fuse ? 'fused' : 'plain', {
    ids: { dtype: 'int32', shape: ['batch', N] },
    cats: { dtype: 'int32', shape: ['batch', N] },
    picks: { dtype: 'int32', shape: ['batch', K] },
    weights: { dtype: 'float32', shape: ['batch', K, 7] },
  } as const);
  const keep = (x: Float) => (fuse ? x : b.mul(x, b.scalar(1)));
  const items = b.param('items', [9, 4]),
    cat = b.param('cat', [6, 3]);
  const seq = b.concat([keep(b.gather(items, b.inputs.ids)), keep(b.gather(cat, b.inputs.cats))], -1); // [B, N, 7]
  const other = b.mul(seq, b.scalar(2));
  const picked = b.concat([keep(b.gatherAlongAxis(seq, b.inputs.picks, 1)), keep(b.gatherAlongAxis(other, b.inputs.picks, 1))], -1); // [B, K, 14]
  const y = b.mul(b.slice(picked, [0], [7], [2]), b.inputs.weights);
  return b.build({ loss: b.reduceSum(b.add(y, b.slice(picked, [7], [14], [2])), [0, 1, 2]), picked });
}

const inputs = {
  ids: i32([B, N], [0, 3, 3, 8, 1, 2, 2, 2, 7, 0, 5, 4, 3, 2, 1]), // repeated rows: the scatter sums in float64
  cats: i32([B, N], [5, 0, 1, 1, 2, 3, 4, 5, 0, 0, 1, 2, 3, 4, 5]),
  picks: i32([B, K], [4, 0, 1, 1, 3, 2]), // a repeated pick in row 1
  weights: f32(
    [B, K, 7],
    Array.from({ length: B * K * 7 }, (_, i) => Math.sin(i) * 3),
  ),
};

describe.each(BACKENDS)('gather-concat fusion on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('equals the unfused graph: outputs and parameter gradients, bit for bit', () => {
    const fused = compileTfjs(build(true), { seed: 3 }),
      plain = compileTfjs(build(false), { seed: 3 });
    try {
      expect(nums(fused.run(inputs).picked)).toEqual(nums(plain.run(inputs).picked));
      const a = fused.gradients(inputs, 'loss'),
        p = plain.gradients(inputs, 'loss');
      expect(nums(a.value)).toEqual(nums(p.value));
      for (const name of ['items', 'cat']) {
        expect(nums(a.grads.get(name)!)).toEqual(nums(p.grads.get(name)!));
        expect(nums(a.grads.get(name)!).some((v) => v !== 0)).toBe(true);
      }
    } finally {
      fused.dispose();
      plain.dispose();
    }
  });

  it('the fused kernel runs (and the plain graph does not use it)', async () => {
    const names = async (fuse: boolean) => {
      const m = compileTfjs(build(fuse), { seed: 3 });
      try {
        return new Set(
          (
            await tf.profile(() => {
              m.run(inputs);
            })
          ).kernels.map((k) => k.name),
        );
      } finally {
        m.dispose();
      }
    };
    expect((await names(true)).has('LctrGatherConcat')).toBe(true);
    expect((await names(false)).has('LctrGatherConcat')).toBe(false);
  });

  it("a computed index out of range is caught with the gather's own message", () => {
    const b = new GraphBuilder('calc', { a: { dtype: 'int32', shape: [2] }, c: { dtype: 'int32', shape: [2] } } as const);
    const t = b.param('t', [4, 2]),
      u = b.param('u', [4, 3]);
    const ids = b.add(b.inputs.a, b.inputs.c);
    const m = compileTfjs(b.build({ y: b.concat([b.gather(t, ids), b.gather(u, b.inputs.a)], -1) }));
    try {
      expect(nums(m.run({ a: i32([2], [1, 2]), c: i32([2], [2, 1]) }).y)).toHaveLength(10);
      expect(() => m.run({ a: i32([2], [1, 2]), c: i32([2], [2, 2]) })).toThrow(
        "node 'gather_1' (gather): index 4 at flat position 1 is out of range for 4 entries along axis 0 of 't' (valid 0..3)",
      );
    } finally {
      m.dispose();
    }
  });
});
