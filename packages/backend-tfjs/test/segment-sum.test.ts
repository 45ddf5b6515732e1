import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Rng, init } from '@lctr/spec';
import { compileTfjs, hasFastKernels, unsortedSegmentSumJs } from '../src/index.ts';
import { BACKENDS, f32, i32, useBackend } from './helpers.ts';

/** The obvious loop, in float64. */
function naive(x: Float32Array, ids: Int32Array, inner: number, segments: number): Float64Array {
  const out = new Float64Array(segments * inner);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i]! < 0 || ids[i]! >= segments) continue;
    for (let j = 0; j < inner; j++) out[ids[i]! * inner + j]! += x[i * inner + j]!;
  }
  return out;
}

describe('unsortedSegmentSumJs', () => {
  it('matches a naive loop, dropping ids out of range', () => {
    const rng = new Rng(5);
    const n = 300,
      inner = 7,
      segments = 40;
    const x = Float32Array.from({ length: n * inner }, () => rng.normal());
    const ids = Int32Array.from({ length: n }, () => rng.int(segments + 4) - 2);
    const got = unsortedSegmentSumJs(x, ids, segments);
    expect(Array.from(got)).toEqual(Array.from(Float32Array.from(naive(x, ids, inner, segments))));
    expect(Array.from(unsortedSegmentSumJs(Int32Array.of(1, 2, 3), Int32Array.of(1, 1, 0), 2, 'int32'))).toEqual([3, 3]);
    expect(Array.from(unsortedSegmentSumJs(new Float32Array(0), new Int32Array(0), 2, 'float32', 3))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe.each(BACKENDS)('UnsortedSegmentSum kernel on %s', (backend) => {
  it('is ours, and tf.unsortedSegmentSum gives exactly the naive sums', async () => {
    await useBackend(backend);
    expect(hasFastKernels(backend)).toBe(true);
    const rng = new Rng(11);
    const n = 500,
      inner = 16,
      segments = 64;
    const x = Float32Array.from({ length: n * inner }, () => rng.normal());
    const ids = Int32Array.from({ length: n }, () => rng.int(segments));
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor(x, [n, inner]), tf.tensor1d(ids, 'int32'), segments).dataSync());
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(got)).toEqual(Array.from(Float32Array.from(naive(x, ids, inner, segments))));
    // segment ids with rank 2 (a prefix of x's shape)
    const two = tf.tidy(() =>
      tf
        .unsortedSegmentSum(
          tf.tensor([
            [1, 2],
            [3, 4],
          ]),
          tf.tensor(
            [
              [1, 0],
              [1, 1],
            ],
            [2, 2],
            'int32',
          ) as unknown as tf.Tensor1D,
          3,
        )
        .arraySync(),
    );
    expect(two).toEqual([2, 8, 0]);
    const none = tf.tidy(() => tf.unsortedSegmentSum(tf.zeros([0, 3]), tf.zeros([0], 'int32') as tf.Tensor1D, 2).arraySync());
    expect(none).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it('trains through a gather on a [5000, 32] table in well under a second per step', async () => {
    await useBackend(backend);
    const b = new GraphBuilder('emb', {
      ids: { dtype: 'int32', shape: ['batch', 'seq'] },
      y: { dtype: 'float32', shape: ['batch'] },
    } as const);
    const table = b.param('table', [5000, 32], init.normal(0.1));
    const w = b.param('w', [32, 1]);
    const pooled = b.reduceMean(b.gather(table, b.inputs.ids), 1);
    const logit = b.reshape(b.matmul(pooled, w), ['batch']);
    const d = b.sub(logit, b.inputs.y);
    const g = b.build({ loss: b.reduceMean(b.mul(d, d), 0) });
    const m = compileTfjs(g, { seed: 2 });
    const rng = new Rng(3);
    const B = 64,
      L = 50;
    const inputs = {
      ids: i32(
        [B, L],
        Array.from({ length: B * L }, () => rng.int(5000)),
      ),
      y: f32([B], new Array(B).fill(1)),
    };
    const opt = tf.train.adam(0.05);
    const first = m.trainStep(inputs, 'loss', opt);
    let last = first;
    for (let i = 0; i < 5; i++) last = m.trainStep(inputs, 'loss', opt);
    // what made this slow (tfjs' built-in cpu kernel: seconds a step) is ours no more: the registered kernel is
    // the JS one; the timing itself is bench/gather-grad.ts's job
    expect(hasFastKernels('cpu')).toBe(true);
    expect(last).toBeLessThan(first);
    m.dispose();
    opt.dispose();
  });
});
