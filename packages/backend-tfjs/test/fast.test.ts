/** The Tile-free broadcast/select and the row gather agree exactly with tfjs' own kernels. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { broadcastTo, concat, gatherAxis, gatherRows, reluGrad, scatterRowsAdd, select, split } from '../src/fast/index.ts';
import { BACKENDS, useBackend } from './helpers.ts';

const same = (a: tf.Tensor, b: tf.Tensor) => {
  expect(a.shape).toEqual(b.shape);
  expect(a.dtype).toBe(b.dtype);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
};

describe.each(BACKENDS)('fast kernels on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('broadcastTo keeps NaN, infinities and bools exactly', () => {
    const x = tf.tensor([[NaN], [Infinity], [-Infinity], [1.5]], [4, 1]);
    same(broadcastTo(x, [2, 4, 3]), tf.broadcastTo(x, [2, 4, 3]));
    const m = tf.tensor([[true], [false]], [2, 1], 'bool');
    same(broadcastTo(m, [2, 5]), tf.broadcastTo(m, [2, 5]));
    const k = tf.tensor([2147483647, -5], [2, 1], 'int32');
    same(broadcastTo(k, [2, 3]), tf.broadcastTo(k, [2, 3]));
    expect(broadcastTo(x, [4, 1])).toBe(x);
  });

  it('select broadcasts condition, a and b like numpy', () => {
    const c = tf.tensor([true, false, true], [3, 1], 'bool');
    const a = tf.tensor([1, 2, NaN, 4], [1, 4]);
    const b = tf.scalar(-Infinity);
    const got = select(c, a, b);
    expect(got.shape).toEqual([3, 4]);
    expect(Array.from(got.dataSync())).toEqual([1, 2, NaN, 4, -Infinity, -Infinity, -Infinity, -Infinity, 1, 2, NaN, 4]);
  });

  it('select (one-pass kernel on cpu/wasm) equals tf.where over explicitly broadcast inputs, every broadcast pattern', () => {
    const shapes: Array<[number[], number[], number[]]> = [
      [
        [2, 3, 4],
        [2, 3, 4],
        [2, 3, 4],
      ],
      [[2, 3, 1], [2, 3, 4], []],
      [[2, 3], [2, 3], [1]],
      [
        [1, 3, 1],
        [2, 1, 4],
        [2, 3, 4],
      ],
      [[4], [2, 3, 4], [3, 1]],
      [
        [2, 1, 3, 1],
        [1, 5, 1, 2],
        [2, 5, 3, 2],
      ],
      [[3, 1], [1], []],
      [[], [2, 2], [2, 1]],
      [[0, 3], [1, 3], []],
      [[2, 3, 1], [], [2, 3, 4]],
      [[2, 3, 1], [2, 3, 4], [1]],
      [[1, 3, 1], [2, 3, 4], []],
      [[2, 3, 1], [2, 3, 60], []],
    ];
    let seed = 1;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (const [cs, as, bs] of shapes) {
      const n = (s: number[]) => s.reduce((p, d) => p * d, 1);
      const c = tf.tensor(
        Array.from({ length: n(cs) }, () => rnd() < 0.5),
        cs,
        'bool',
      );
      const a = tf.tensor(
        Array.from({ length: n(as) }, (_, i) => (i % 7 === 3 ? NaN : rnd() * 10)),
        as,
      );
      const b = tf.tensor(
        Array.from({ length: n(bs) }, () => -rnd() * 10),
        bs,
      );
      const full = tf.zeros(tf.add(tf.add(tf.zeros(cs), tf.zeros(as)), tf.zeros(bs)).shape);
      const want = tf.where(tf.cast(tf.add(tf.cast(c, 'float32'), full), 'bool'), tf.add(a, full), tf.add(b, full));
      same(select(c, a, b), want);
      const ai = tf.cast(tf.mul(a, tf.scalar(1)), 'int32'),
        bi = tf.cast(b, 'int32');
      same(
        select(c, ai, bi),
        tf.where(
          tf.cast(tf.add(tf.cast(c, 'float32'), full), 'bool'),
          tf.add(ai, tf.zeros(full.shape, 'int32')),
          tf.add(bi, tf.zeros(full.shape, 'int32')),
        ),
      );
    }
  });

  it('gatherRows equals tf.gather on float32, int32 and bool rows, repeated ids included', () => {
    const x = tf.tensor(
      Float32Array.from({ length: 50 * 7 }, (_, i) => Math.sin(i) * 100),
      [50, 7],
    );
    const ids = tf.tensor([49, 0, 3, 3, 17, 0], [6], 'int32');
    same(gatherRows(x as tf.Tensor2D, ids as tf.Tensor1D), tf.gather(x, ids, 0));
    const xi = tf.cast(x, 'int32') as tf.Tensor2D;
    same(gatherRows(xi, ids as tf.Tensor1D), tf.gather(xi, ids, 0));
    const xb = tf.greater(x, 0) as tf.Tensor2D;
    same(gatherRows(xb, ids as tf.Tensor1D), tf.gather(xb, ids, 0));
    const none = tf.tensor([], [0], 'int32') as tf.Tensor1D;
    expect(gatherRows(x as tf.Tensor2D, none).shape).toEqual([0, 7]);
  });

  it('gatherRows with groups reads row ids[i] + floor(i / group) * stride (gatherAlongAxis over [lead, n])', () => {
    const lead = 3,
      n = 5,
      k = 4,
      width = 60; // width 60 takes the TypedArray.set path, 7 above the loop
    for (const w of [width, 7]) {
      const x = tf.tensor(
        Float32Array.from({ length: lead * n * w }, (_, i) => Math.cos(i) * 10),
        [lead * n, w],
      ) as tf.Tensor2D;
      const idx = [4, 0, 0, 2, 1, 1, 3, 4, 0, 2, 4, 3];
      const flat = idx.map((v, i) => v + Math.floor(i / k) * n);
      same(
        gatherRows(x, tf.tensor(idx, [lead * k], 'int32') as tf.Tensor1D, { group: k, stride: n }),
        tf.gather(x, tf.tensor(flat, [lead * k], 'int32'), 0),
      );
    }
  });

  it('scatterRowsAdd equals tf.unsortedSegmentSum: distinct rows (copies), repeated rows (float64 sums), groups, dropped ids', () => {
    const rnd = (i: number) => Math.sin(i * 1.7) * 1e3 + 1e-3 * Math.cos(i);
    for (const w of [3, 50]) {
      const dy = tf.tensor(
        Float32Array.from({ length: 6 * w }, (_, i) => rnd(i)),
        [6, w],
      ) as tf.Tensor2D;
      const distinct = tf.tensor([5, 0, 7, 2, 9, 1], [6], 'int32') as tf.Tensor1D;
      same(scatterRowsAdd(dy, distinct, 10), tf.unsortedSegmentSum(dy, distinct, 10));
      const repeated = tf.tensor([2, 0, 2, 2, 9, 0], [6], 'int32') as tf.Tensor1D;
      const want = Array.from({ length: 10 * w }, (_, i) => {
        const [r, j] = [Math.floor(i / w), i % w];
        return Math.fround(
          [0, 1, 2, 3, 4, 5].filter((q) => [2, 0, 2, 2, 9, 0][q] === r).reduce((acc, q) => acc + Math.fround(rnd(q * w + j)), 0),
        );
      });
      expect(Array.from(scatterRowsAdd(dy, repeated, 10).dataSync())).toEqual(want);
      // groups of 2 rows per leading index, stride 4: ids [1, 3 | 0, 3 | 2, 2] -> rows 1, 3, 4, 7, 10, 10
      const grouped = scatterRowsAdd(dy, tf.tensor([1, 3, 0, 3, 2, 2], [6], 'int32') as tf.Tensor1D, 12, { group: 2, stride: 4 });
      same(grouped, tf.unsortedSegmentSum(dy, tf.tensor([1, 3, 4, 7, 10, 10], [6], 'int32'), 12));
      // ids outside [0, rows) are dropped (TensorFlow's rule)
      const out = scatterRowsAdd(dy, tf.tensor([0, -1, 10, 3, 3, 11], [6], 'int32') as tf.Tensor1D, 10);
      expect(out.shape).toEqual([10, w]);
      expect(
        Array.from(out.dataSync())
          .slice(w, 3 * w)
          .every((v) => v === 0),
      ).toBe(true);
    }
  });

  it('gatherAxis equals tf.gather along inner axes: scalar, 1-D and 2-D ids; float32, int32, bool', () => {
    const x = tf.tensor(
      Float32Array.from({ length: 3 * 5 * 4 }, (_, i) => Math.sin(i) * 9),
      [3, 5, 4],
    );
    for (const t of [x, tf.cast(x, 'int32'), tf.greater(x, 0)]) {
      for (const [ids, axis] of [
        [tf.scalar(1, 'int32'), 2],
        [tf.tensor([3, 0, 3], [3], 'int32'), 1],
        [
          tf.tensor(
            [
              [0, 2],
              [1, 1],
            ],
            [2, 2],
            'int32',
          ),
          2,
        ],
        [tf.tensor([4], [1], 'int32'), 1],
      ] as Array<[tf.Tensor, number]>) {
        same(gatherAxis(t, ids, axis), tf.gather(t, ids, axis));
      }
    }
  });

  it('reluGrad passes dy where x > 0 and gives 0 at 0, below 0 and at NaN', () => {
    const x = tf.tensor([-1, 0, 2, NaN, 1e-30, -0, Infinity], [7]);
    const dy = tf.tensor([5, 6, 7, 8, 9, 10, NaN], [7]);
    expect(Array.from(reluGrad(dy, x).dataSync())).toEqual([0, 0, 7, 0, 9, 0, NaN]);
  });

  it('concat and split along every axis equal tfjs for float32, int32 and bool, short and long runs', () => {
    for (const [shapes, axis] of [
      [
        [
          [2, 3, 4],
          [2, 1, 4],
          [2, 5, 4],
        ],
        1,
      ],
      [
        [
          [2, 3, 4],
          [2, 3, 60],
        ],
        2,
      ],
      [
        [
          [1, 3],
          [4, 3],
        ],
        0,
      ],
      [
        [
          [2, 0, 3],
          [2, 2, 3],
        ],
        1,
      ],
    ] as Array<[number[][], number]>) {
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const xs = shapes.map((sh, k) => {
          const t = tf.tensor(
            Float32Array.from({ length: sh.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(i + 10 * k) * 50),
            sh,
          );
          return dtype === 'bool' ? tf.greater(t, 0) : tf.cast(t, dtype);
        });
        const joined = concat(xs, axis);
        same(joined, tf.concat(xs, axis));
        const parts = split(
          joined,
          shapes.map((sh) => sh[axis]!),
          axis,
        );
        parts.forEach((p, k) => same(p, xs[k]!));
      }
    }
  });
});
