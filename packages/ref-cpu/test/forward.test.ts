/**
 * Forward values of every op on tiny inputs, against hand-computed numbers. The case table is
 * typed over every OpName and the suite enumerates OP_NAMES, so a new op without a forward test
 * fails both the type check and the run.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, OP_NAMES, type OpName } from '@lctr/spec';
import { FLOAT32_LOWEST, runRef } from '../src/index.ts';
import { bool, expectTensor, f32, i32, i64, run1 } from './helpers.ts';

const E = Math.E;
const sig = (x: number) => 1 / (1 + Math.exp(-x));

const FORWARD: { readonly [N in OpName]: () => void } = {
  matmul: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [2, 2] }, b: { dtype: 'float32', shape: [2, 3] } }, (b) => b.matmul(b.inputs.a, b.inputs.b), {
        a: f32([2, 2], [1, 2, 3, 4]),
        b: f32([2, 3], [1, 0, 1, 0, 1, 2]),
      }),
      'float32',
      [2, 3],
      [1, 2, 5, 3, 4, 11],
    );
    // rank-3 a against a rank-2 b: b is shared by every batch
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [2, 1, 2] }, b: { dtype: 'float32', shape: [2, 3] } }, (b) => b.matmul(b.inputs.a, b.inputs.b), {
        a: f32([2, 1, 2], [1, 2, 0, 1]),
        b: f32([2, 3], [1, 0, 1, 0, 1, 2]),
      }),
      'float32',
      [2, 1, 3],
      [1, 2, 5, 0, 1, 2],
    );
    // batch dims broadcast both ways: [2,1] x [3] -> [2,3]
    expectTensor(
      run1(
        { a: { dtype: 'float32', shape: [2, 1, 1, 2] }, b: { dtype: 'float32', shape: [3, 2, 1] } },
        (b) => b.matmul(b.inputs.a, b.inputs.b),
        { a: f32([2, 1, 1, 2], [1, 2, 3, 4]), b: f32([3, 2, 1], [1, 1, 1, 0, 0, 1]) },
      ),
      'float32',
      [2, 3, 1, 1],
      [3, 1, 2, 7, 3, 4],
    );
    // symbolic batch resolved at run time
    const s = { a: { dtype: 'float32', shape: ['batch', 1, 2] } } as const;
    expectTensor(
      run1(
        s,
        (b) => b.matmul(b.inputs.a, b.param('w', [2, 1])),
        { a: f32([3, 1, 2], [1, 0, 0, 1, 1, 1]) },
        new Map([['w', f32([2, 1], [2, 5])]]),
      ),
      'float32',
      [3, 1, 1],
      [2, 5, 7],
    );
  },
  add: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.add(b.inputs.a, b.inputs.b), {
        a: f32([2, 3], [1, 2, 3, 4, 5, 6]),
        b: f32([3], [10, 20, 30]),
      }),
      'float32',
      [2, 3],
      [11, 22, 33, 14, 25, 36],
    );
    // int32 wraps like every int32 runtime
    expectTensor(
      run1({ a: { dtype: 'int32', shape: [2] }, b: { dtype: 'int32', shape: [2] } }, (b) => b.add(b.inputs.a, b.inputs.b), {
        a: i32([2], [2147483647, -5]),
        b: i32([2], [1, 3]),
      }),
      'int32',
      [2],
      [-2147483648, -2],
    );
    expectTensor(
      run1({ a: { dtype: 'int64', shape: [2] }, b: { dtype: 'int64', shape: [] } }, (b) => b.add(b.inputs.a, b.inputs.b), {
        a: i64([2], [5, 2147483647]),
        b: i64([], [7]),
      }),
      'int64',
      [2],
      [12, 2147483654],
    );
  },
  sub: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [2, 1] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.sub(b.inputs.a, b.inputs.b), {
        a: f32([2, 1], [1, 2]),
        b: f32([3], [10, 20, 30]),
      }),
      'float32',
      [2, 3],
      [-9, -19, -29, -8, -18, -28],
    );
    expectTensor(
      run1({ a: { dtype: 'int32', shape: [2] } }, (b) => b.sub(b.inputs.a, b.constant([1, 1], [2], 'int32')), {
        a: i32([2], [-2147483648, 0]),
      }),
      'int32',
      [2],
      [2147483647, -1],
    );
  },
  mul: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [2, 1] } }, (b) => b.mul(b.inputs.a, b.inputs.b), {
        a: f32([2, 3], [1, 2, 3, 4, 5, 6]),
        b: f32([2, 1], [2, -1]),
      }),
      'float32',
      [2, 3],
      [2, 4, 6, -4, -5, -6],
    );
    expectTensor(
      run1({ a: { dtype: 'int32', shape: [2] }, b: { dtype: 'int32', shape: [2] } }, (b) => b.mul(b.inputs.a, b.inputs.b), {
        a: i32([2], [65536, 3]),
        b: i32([2], [65536, -4]),
      }),
      'int32',
      [2],
      [0, -12],
    );
  },
  div: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [3] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.div(b.inputs.a, b.inputs.b), {
        a: f32([3], [1, -3, 1]),
        b: f32([3], [2, 4, 0]),
      }),
      'float32',
      [3],
      [0.5, -0.75, Infinity],
    );
  },
  pow: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [3] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.pow(b.inputs.a, b.inputs.b), {
        a: f32([3], [2, 4, 9]),
        b: f32([3], [3, 0.5, -0.5]),
      }),
      'float32',
      [3],
      [8, 2, 1 / 3],
    );
  },
  maximum: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [3] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.maximum(b.inputs.a, b.inputs.b), {
        a: f32([3], [1, 5, -2]),
        b: f32([3], [3, 2, -2]),
      }),
      'float32',
      [3],
      [3, 5, -2],
    );
    expectTensor(
      run1({ a: { dtype: 'int32', shape: [2] }, b: { dtype: 'int32', shape: [] } }, (b) => b.maximum(b.inputs.a, b.inputs.b), {
        a: i32([2], [-1, 4]),
        b: i32([], [0]),
      }),
      'int32',
      [2],
      [0, 4],
    );
  },
  minimum: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [3] }, b: { dtype: 'float32', shape: [3] } }, (b) => b.minimum(b.inputs.a, b.inputs.b), {
        a: f32([3], [1, 5, -2]),
        b: f32([3], [3, 2, -2]),
      }),
      'float32',
      [3],
      [1, 2, -2],
    );
  },
  neg: () => {
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.neg(b.inputs.x), { x: f32([3], [1, -2, 0]) }),
      'float32',
      [3],
      [-1, 2, 0],
    );
    expectTensor(
      run1({ x: { dtype: 'int32', shape: [2] } }, (b) => b.neg(b.inputs.x), { x: i32([2], [7, -2147483648]) }),
      'int32',
      [2],
      [-7, -2147483648],
    );
  },
  abs: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.abs(b.inputs.x), { x: f32([3], [-1.5, 0, 2]) }),
      'float32',
      [3],
      [1.5, 0, 2],
    ),
  exp: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.exp(b.inputs.x), { x: f32([3], [0, 1, -Infinity]) }),
      'float32',
      [3],
      [1, E, 0],
    ),
  log: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.log(b.inputs.x), { x: f32([3], [1, E, 0]) }),
      'float32',
      [3],
      [0, 1, -Infinity],
    ),
  sqrt: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.sqrt(b.inputs.x), { x: f32([3], [4, 2, 0]) }),
      'float32',
      [3],
      [2, Math.SQRT2, 0],
    ),
  relu: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.relu(b.inputs.x), { x: f32([3], [-1, 0, 2]) }),
      'float32',
      [3],
      [0, 0, 2],
    ),
  sigmoid: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [4] } }, (b) => b.sigmoid(b.inputs.x), { x: f32([4], [0, 2, -800, 800]) }),
      'float32',
      [4],
      [0.5, 1 / (1 + Math.exp(-2)), 0, 1],
    ),
  tanh: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2] } }, (b) => b.tanh(b.inputs.x), { x: f32([2], [0, 1]) }),
      'float32',
      [2],
      [0, (E - 1 / E) / (E + 1 / E)],
    ),
  softplus: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [5] } }, (b) => b.softplus(b.inputs.x), { x: f32([5], [0, 2, -3, 1000, -1000]) }),
      'float32',
      [5],
      [Math.LN2, Math.log(1 + E * E), Math.log(1 + Math.exp(-3)), 1000, 0],
    ),
  elu: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3] } }, (b) => b.elu(b.inputs.x, 0.5), { x: f32([3], [-1, 0, 2]) }),
      'float32',
      [3],
      [0.5 * (1 / E - 1), 0, 2],
    ),
  softmax: () => {
    const z = Math.exp(-2) + Math.exp(-1) + 1;
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [1, 3] } }, (b) => b.softmax(b.inputs.x), { x: f32([1, 3], [1, 2, 3]) }),
      'float32',
      [1, 3],
      [Math.exp(-2) / z, Math.exp(-1) / z, 1 / z],
    );
    // along axis 0; large values do not overflow (max-subtracted)
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.softmax(b.inputs.x, 0), { x: f32([2, 3], [0, 1, 1000, 0, 3, 1000]) }),
      'float32',
      [2, 3],
      [0.5, sig(-2), 0.5, 0.5, sig(2), 0.5],
    );
  },
  logSoftmax: () => {
    const lz = Math.log(Math.exp(-2) + Math.exp(-1) + 1);
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.logSoftmax(b.inputs.x), { x: f32([2, 3], [1, 2, 3, 1000, 0, 1000]) }),
      'float32',
      [2, 3],
      [-2 - lz, -1 - lz, -lz, -Math.LN2, -1000 - Math.LN2, -Math.LN2],
    );
  },
  reduceSum: () => {
    const x = { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) };
    const s = { x: { dtype: 'float32', shape: [2, 3] } } as const;
    expectTensor(
      run1(s, (b) => b.reduceSum(b.inputs.x, 1), x),
      'float32',
      [2],
      [6, 15],
    );
    expectTensor(
      run1(s, (b) => b.reduceSum(b.inputs.x, 0, true), x),
      'float32',
      [1, 3],
      [5, 7, 9],
    );
    expectTensor(
      run1(s, (b) => b.reduceSum(b.inputs.x, [0, -1]), x),
      'float32',
      [],
      [21],
    );
  },
  reduceMean: () => {
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.reduceMean(b.inputs.x, 1), { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) }),
      'float32',
      [2],
      [2, 5],
    );
    // divides by the run-time length of a symbolic axis
    const s = { x: { dtype: 'float32', shape: ['n', 2] } } as const;
    expectTensor(
      run1(s, (b) => b.reduceMean(b.inputs.x, 0, true), { x: f32([3, 2], [1, 2, 3, 4, 5, 9]) }),
      'float32',
      [1, 2],
      [3, 5],
    );
    expectTensor(
      run1(s, (b) => b.reduceMean(b.inputs.x, 0, true), { x: f32([1, 2], [1, 2]) }),
      'float32',
      [1, 2],
      [1, 2],
    );
  },
  reduceMax: () => {
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.reduceMax(b.inputs.x, 0), { x: f32([2, 3], [1, 8, 3, 4, 5, -Infinity]) }),
      'float32',
      [3],
      [4, 8, 3],
    );
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 2] } }, (b) => b.reduceMax(b.inputs.x, 1), {
        x: f32([2, 2], [-Infinity, -Infinity, 1, NaN]),
      }),
      'float32',
      [2],
      [-Infinity, NaN],
    );
  },
  concat: () => {
    expectTensor(
      run1(
        { a: { dtype: 'float32', shape: [2, 1] }, b: { dtype: 'float32', shape: [2, 2] } },
        (b) => b.concat([b.inputs.a, b.inputs.b], 1),
        { a: f32([2, 1], [1, 2]), b: f32([2, 2], [3, 4, 5, 6]) },
      ),
      'float32',
      [2, 3],
      [1, 3, 4, 2, 5, 6],
    );
    expectTensor(
      run1(
        { a: { dtype: 'int32', shape: [1, 2] }, b: { dtype: 'int32', shape: [2, 2] } },
        (b) => b.concat([b.inputs.a, b.inputs.b, b.inputs.a], 0),
        { a: i32([1, 2], [1, 2]), b: i32([2, 2], [3, 4, 5, 6]) },
      ),
      'int32',
      [4, 2],
      [1, 2, 3, 4, 5, 6, 1, 2],
    );
    // along a symbolic axis: n + n = 2*n
    expectTensor(
      run1({ a: { dtype: 'float32', shape: ['n', 2] } }, (b) => b.concat([b.inputs.a, b.inputs.a], 0), { a: f32([2, 2], [1, 2, 3, 4]) }),
      'float32',
      [4, 2],
      [1, 2, 3, 4, 1, 2, 3, 4],
    );
  },
  reshape: () => {
    const vals = [1, 2, 3, 4, 5, 6];
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.reshape(b.inputs.x, [3, -1]), { x: f32([2, 3], vals) }),
      'float32',
      [3, 2],
      vals,
    );
    // symbolic targets: the batch comes from the feeds
    const s = { x: { dtype: 'float32', shape: ['batch', 6] } } as const;
    const x12 = { x: f32([2, 6], [...vals, ...vals]) };
    expectTensor(
      run1(s, (b) => b.reshape(b.inputs.x, ['batch', 2, 3]), x12),
      'float32',
      [2, 2, 3],
      [...vals, ...vals],
    );
    expectTensor(
      run1(s, (b) => b.reshape(b.inputs.x, [-1, 3]), x12),
      'float32',
      [4, 3],
      [...vals, ...vals],
    );
    expectTensor(
      run1(s, (b) => b.reshape(b.inputs.x, ['2*batch', -1]), x12),
      'float32',
      [4, 3],
      [...vals, ...vals],
    );
    expectTensor(
      run1(s, (b) => b.reshape(b.inputs.x, [-1]), { x: f32([1, 6], vals) }),
      'float32',
      [6],
      vals,
    );
  },
  transpose: () => {
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2, 3] } }, (b) => b.transpose(b.inputs.x, [1, 0]), { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) }),
      'float32',
      [3, 2],
      [1, 4, 2, 5, 3, 6],
    );
    // out[i][j][k] = x[j][k][i]
    expectTensor(
      run1({ x: { dtype: 'int32', shape: [2, 2, 2] } }, (b) => b.transpose(b.inputs.x, [2, 0, 1]), {
        x: i32([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]),
      }),
      'int32',
      [2, 2, 2],
      [0, 2, 4, 6, 1, 3, 5, 7],
    );
  },
  slice: () => {
    const x = { x: f32([3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) };
    const s = { x: { dtype: 'float32', shape: [3, 4] } } as const;
    expectTensor(
      run1(s, (b) => b.slice(b.inputs.x, [1, 1], [3, -1], [0, 1]), x),
      'float32',
      [2, 2],
      [5, 6, 9, 10],
    );
    // negative start counts from the end, an end past the axis clamps
    expectTensor(
      run1(s, (b) => b.slice(b.inputs.x, [-2], [100], [1]), x),
      'float32',
      [3, 2],
      [2, 3, 6, 7, 10, 11],
    );
    // a static axis sliced next to a symbolic one
    expectTensor(
      run1({ x: { dtype: 'float32', shape: ['n', 3] } }, (b) => b.slice(b.inputs.x, [2], [3], [1]), { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) }),
      'float32',
      [2, 1],
      [3, 6],
    );
  },
  expand: () => {
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3, 1] } }, (b) => b.expand(b.inputs.x, [2, 3, 2]), { x: f32([3, 1], [1, 2, 3]) }),
      'float32',
      [2, 3, 2],
      [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3],
    );
    // both ways (ONNX Expand): [3,1] with [1,2] -> [3,2]
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [3, 1] } }, (b) => b.expand(b.inputs.x, [1, 2]), { x: f32([3, 1], [1, 2, 3]) }),
      'float32',
      [3, 2],
      [1, 1, 2, 2, 3, 3],
    );
    // symbolic target resolved from the feeds
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [1, 2] }, m: { dtype: 'bool', shape: ['batch'] } }, (b) => b.expand(b.inputs.x, ['batch', 2]), {
        x: f32([1, 2], [7, 8]),
        m: bool([3], [1, 0, 1]),
      }),
      'float32',
      [3, 2],
      [7, 8, 7, 8, 7, 8],
    );
  },
  gather: () => {
    const table = { dtype: 'float32', shape: [4, 2] } as const;
    expectTensor(
      run1({ t: table, i: { dtype: 'int32', shape: [2, 2] } }, (b) => b.gather(b.inputs.t, b.inputs.i), {
        t: f32([4, 2], [0, 1, 10, 11, 20, 21, 30, 31]),
        i: i32([2, 2], [3, 0, 1, 3]),
      }),
      'float32',
      [2, 2, 2],
      [30, 31, 0, 1, 10, 11, 30, 31],
    );
    // axis 1, int64 indices
    expectTensor(
      run1({ t: { dtype: 'float32', shape: [2, 3] }, i: { dtype: 'int64', shape: [2] } }, (b) => b.gather(b.inputs.t, b.inputs.i, 1), {
        t: f32([2, 3], [0, 1, 2, 10, 11, 12]),
        i: i64([2], [2, 0]),
      }),
      'float32',
      [2, 2],
      [2, 0, 12, 10],
    );
    // int tables gather too
    expectTensor(
      run1({ t: { dtype: 'int32', shape: [3] }, i: { dtype: 'int32', shape: ['n'] } }, (b) => b.gather(b.inputs.t, b.inputs.i), {
        t: i32([3], [5, 6, 7]),
        i: i32([4], [2, 2, 0, 1]),
      }),
      'int32',
      [4],
      [7, 7, 5, 6],
    );
  },
  gatherAlongAxis: () => {
    expectTensor(
      run1(
        { x: { dtype: 'float32', shape: [2, 4] }, i: { dtype: 'int32', shape: [2, 2] } },
        (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i),
        { x: f32([2, 4], [0, 1, 2, 3, 10, 11, 12, 13]), i: i32([2, 2], [3, 1, 0, 0]) },
      ),
      'float32',
      [2, 2],
      [3, 1, 10, 10],
    );
    // rows of trailing features: [B, n, d] picked per batch row
    expectTensor(
      run1(
        { x: { dtype: 'float32', shape: [2, 3, 2] }, i: { dtype: 'int32', shape: [2, 1] } },
        (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i),
        { x: f32([2, 3, 2], [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]), i: i32([2, 1], [2, 1]) },
      ),
      'float32',
      [2, 1, 2],
      [4, 5, 12, 13],
    );
    // axis 0 = a plain gather along the first axis
    expectTensor(
      run1(
        { x: { dtype: 'float32', shape: [3, 2] }, i: { dtype: 'int32', shape: [2] } },
        (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i, 0),
        { x: f32([3, 2], [0, 1, 2, 3, 4, 5]), i: i32([2], [2, 0]) },
      ),
      'float32',
      [2, 2],
      [4, 5, 0, 1],
    );
  },
  scatterAlongAxis: () => {
    // each row's updates added into zeros at its indices; a repeated index sums
    expectTensor(
      run1(
        { u: { dtype: 'float32', shape: [2, 3] }, i: { dtype: 'int32', shape: [2, 3] } },
        (b) => b.scatterAlongAxis(b.inputs.u, b.inputs.i, 4),
        { u: f32([2, 3], [1, 2, 3, 10, 20, 30]), i: i32([2, 3], [3, 0, 3, 1, 2, 0]) },
      ),
      'float32',
      [2, 4],
      [2, 0, 0, 4, 30, 10, 20, 0],
    );
    // rows of trailing features: [B, k, d] into [B, size, d]
    expectTensor(
      run1(
        { u: { dtype: 'float32', shape: [2, 1, 2] }, i: { dtype: 'int32', shape: [2, 1] } },
        (b) => b.scatterAlongAxis(b.inputs.u, b.inputs.i, 3),
        { u: f32([2, 1, 2], [4, 5, 12, 13]), i: i32([2, 1], [2, 0]) },
      ),
      'float32',
      [2, 3, 2],
      [0, 0, 0, 0, 4, 5, 12, 13, 0, 0, 0, 0],
    );
    // a computed index outside [0, size) (an input's are checked with the feeds) names the indices, the updates and the size
    expect(() =>
      run1(
        { u: { dtype: 'float32', shape: [1, 2] }, i: { dtype: 'int32', shape: [1, 2] } },
        (b) => b.scatterAlongAxis(b.inputs.u, b.add(b.inputs.i, b.constant(1, [], 'int32')), 3),
        { u: f32([1, 2], [1, 2]), i: i32([1, 2], [0, 2]) },
      ),
    ).toThrow(
      "ref-cpu: node 'scatterAlongAxis_2' (scatterAlongAxis): index 3 at flat position 1 of 'add_1:0' is out of range for a scatter of " +
        "'u' into 3 entries along axis 1 (valid 0..2)",
    );
  },
  topk: () => {
    // ties: the lower index wins
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: [2, 5] } });
    const { values, indices } = b.topk(b.inputs.x, 3);
    const out = runRef(b.build({ values, indices }), new Map(), { x: f32([2, 5], [3, 1, 3, 2, 5, 0, 0, 0, -1, 0]) });
    expectTensor(out.values, 'float32', [2, 3], [5, 3, 3, 0, 0, 0]);
    expectTensor(out.indices, 'int32', [2, 3], [4, 0, 2, 0, 1, 2]);
  },
  where: () => {
    expectTensor(
      run1(
        { c: { dtype: 'bool', shape: [2, 1] }, a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [3] } },
        (b) => b.where(b.inputs.c, b.inputs.a, b.inputs.b),
        { c: bool([2, 1], [1, 0]), a: f32([2, 3], [1, 2, 3, 4, 5, 6]), b: f32([3], [-1, -2, -3]) },
      ),
      'float32',
      [2, 3],
      [1, 2, 3, -1, -2, -3],
    );
    expectTensor(
      run1(
        { c: { dtype: 'bool', shape: [3] }, a: { dtype: 'int32', shape: [] } },
        (b) => b.where(b.inputs.c, b.inputs.a, b.constant([9, 8, 7], [3], 'int32')),
        { c: bool([3], [0, 1, 0]), a: i32([], [1]) },
      ),
      'int32',
      [3],
      [9, 1, 7],
    );
  },
  equal: () => {
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [4] }, b: { dtype: 'float32', shape: [4] } }, (b) => b.equal(b.inputs.a, b.inputs.b), {
        a: f32([4], [1, 2, NaN, -0]),
        b: f32([4], [1, 3, NaN, 0]),
      }),
      'bool',
      [4],
      [1, 0, 0, 1],
    );
    expectTensor(
      run1({ a: { dtype: 'int64', shape: [3] }, b: { dtype: 'int64', shape: [] } }, (b) => b.equal(b.inputs.a, b.inputs.b), {
        a: i64([3], [1, 2, 3]),
        b: i64([], [2]),
      }),
      'bool',
      [3],
      [0, 1, 0],
    );
  },
  greater: () =>
    expectTensor(
      run1({ a: { dtype: 'float32', shape: [4] }, b: { dtype: 'float32', shape: [] } }, (b) => b.greater(b.inputs.a, b.inputs.b), {
        a: f32([4], [1, 2, 3, NaN]),
        b: f32([], [2]),
      }),
      'bool',
      [4],
      [0, 0, 1, 0],
    ),
  less: () =>
    expectTensor(
      run1({ a: { dtype: 'int32', shape: [4] }, b: { dtype: 'int32', shape: [] } }, (b) => b.less(b.inputs.a, b.inputs.b), {
        a: i32([4], [1, 2, 3, -7]),
        b: i32([], [2]),
      }),
      'bool',
      [4],
      [1, 0, 0, 1],
    ),
  logicalAnd: () =>
    expectTensor(
      run1({ a: { dtype: 'bool', shape: [2, 1] }, b: { dtype: 'bool', shape: [2] } }, (b) => b.logicalAnd(b.inputs.a, b.inputs.b), {
        a: bool([2, 1], [0, 1]),
        b: bool([2], [0, 1]),
      }),
      'bool',
      [2, 2],
      [0, 0, 0, 1],
    ),
  logicalOr: () =>
    expectTensor(
      run1({ a: { dtype: 'bool', shape: [2, 1] }, b: { dtype: 'bool', shape: [2] } }, (b) => b.logicalOr(b.inputs.a, b.inputs.b), {
        a: bool([2, 1], [0, 1]),
        b: bool([2], [0, 1]),
      }),
      'bool',
      [2, 2],
      [0, 1, 1, 1],
    ),
  logicalNot: () =>
    expectTensor(
      run1({ a: { dtype: 'bool', shape: [2] } }, (b) => b.logicalNot(b.inputs.a), { a: bool([2], [0, 1]) }),
      'bool',
      [2],
      [1, 0],
    ),
  cast: () => {
    const s = { x: { dtype: 'float32', shape: [4] } } as const;
    const x = { x: f32([4], [1.7, -1.7, 0.2, -0]) };
    expectTensor(
      run1(s, (b) => b.cast(b.inputs.x, 'int32'), x),
      'int32',
      [4],
      [1, -1, 0, 0],
    );
    expectTensor(
      run1(s, (b) => b.cast(b.inputs.x, 'int64'), x),
      'int64',
      [4],
      [1, -1, 0, 0],
    );
    expectTensor(
      run1(s, (b) => b.cast(b.inputs.x, 'bool'), { x: f32([4], [0, -0.5, NaN, 2]) }),
      'bool',
      [4],
      [0, 1, 1, 1],
    );
    expectTensor(
      run1(s, (b) => b.cast(b.inputs.x, 'float32'), x),
      'float32',
      [4],
      [1.7, -1.7, 0.2, 0],
    );
    expectTensor(
      run1({ m: { dtype: 'bool', shape: [2] } }, (b) => b.cast(b.inputs.m, 'float32'), { m: bool([2], [1, 0]) }),
      'float32',
      [2],
      [1, 0],
    );
    expectTensor(
      run1({ i: { dtype: 'int64', shape: [2] } }, (b) => b.cast(b.inputs.i, 'int32'), { i: i64([2], [-3, 2 ** 32 + 5]) }),
      'int32',
      [2],
      [-3, 5],
    );
    expectTensor(
      run1({ i: { dtype: 'int32', shape: [2] } }, (b) => b.cast(b.inputs.i, 'bool'), { i: i32([2], [0, -3]) }),
      'bool',
      [2],
      [0, 1],
    );
  },
  layerNorm: () => {
    // mean 2.5, biased var 1.25; epsilon 0.75 makes var + eps = 2
    const r = 1 / Math.SQRT2;
    expectTensor(
      run1(
        { x: { dtype: 'float32', shape: [2, 4] } },
        (b) => b.layerNorm(b.inputs.x, b.constant([1, 2, 1, 2], [4]), b.constant([0, 0, 1, 1], [4]), 0.75),
        { x: f32([2, 4], [1, 2, 3, 4, 5, 5, 5, 5]) },
      ),
      'float32',
      [2, 4],
      [-1.5 * r, -1 * r, 0.5 * r + 1, 3 * r + 1, 0, 0, 1, 1],
    );
  },
  l2Normalize: () => {
    const s = { x: { dtype: 'float32', shape: [2, 2] } } as const;
    expectTensor(
      run1(s, (b) => b.l2Normalize(b.inputs.x), { x: f32([2, 2], [3, 4, 0, 0]) }),
      'float32',
      [2, 2],
      [0.6, 0.8, 0, 0],
    );
    expectTensor(
      run1(s, (b) => b.l2Normalize(b.inputs.x, 0), { x: f32([2, 2], [3, 1, 4, 0]) }),
      'float32',
      [2, 2],
      [0.6, 1, 0.8, 0],
    );
    // the norm is floored at epsilon
    expectTensor(
      run1(s, (b) => b.l2Normalize(b.inputs.x, -1, 10), { x: f32([2, 2], [3, 4, 6, 8]) }),
      'float32',
      [2, 2],
      [0.3, 0.4, 0.6, 0.8],
    );
  },
  constant: () => {
    expectTensor(
      run1({}, (b) => b.constant([1, NaN, Infinity, -Infinity], [2, 2]), {}),
      'float32',
      [2, 2],
      [1, NaN, Infinity, -Infinity],
    );
    expectTensor(
      run1({}, (b) => b.constant([3, -4], [2], 'int64'), {}),
      'int64',
      [2],
      [3, -4],
    );
    expectTensor(
      run1({}, (b) => b.constant([0, 2], [2], 'bool'), {}),
      'bool',
      [2],
      [0, 1],
    );
    expectTensor(
      run1({}, (b) => b.scalar(0.5), {}),
      'float32',
      [],
      [0.5],
    );
  },
  stopGradient: () =>
    expectTensor(
      run1({ x: { dtype: 'float32', shape: [2] } }, (b) => b.stopGradient(b.inputs.x), { x: f32([2], [1, -2]) }),
      'float32',
      [2],
      [1, -2],
    ),
};

describe('forward: every op of the vocabulary', () => {
  it('has a forward case for every op in OP_NAMES', () => {
    const missing = OP_NAMES.filter((op) => typeof (FORWARD as Partial<Record<string, unknown>>)[op] !== 'function');
    expect(missing).toEqual([]);
  });
  it.each(OP_NAMES)('%s', (op) => FORWARD[op]());
});

describe('forward: topk', () => {
  const build = (n: number | string, k: number, maskShape?: (number | string)[]) => {
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: [2, n] }, m: { dtype: 'bool', shape: maskShape ?? [2, n] } });
    const { values, indices } = b.topk(b.inputs.x, k, b.inputs.m);
    return b.build({ values, indices });
  };

  it('puts valid positions first; padding picks follow in index order with value -Infinity', () => {
    const out = runRef(build(5, 4), new Map(), {
      x: f32([2, 5], [3, 9, 3, 8, 1, 1, 2, 3, 4, 5]),
      m: bool([2, 5], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
    });
    // row 0: two valid (indices 0 and 2, tied: lower first), then padding 1, 3
    // row 1: nothing valid: padding 0, 1, 2, 3
    expectTensor(out.values, 'float32', [2, 4], [3, 3, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
    expectTensor(out.indices, 'int32', [2, 4], [0, 2, 1, 3, 0, 1, 2, 3]);
  });

  it('ranks a valid -Infinity above padding (clamped to the lowest float32) and ignores NaN in masked positions', () => {
    const out = runRef(build(4, 4), new Map(), {
      x: f32([2, 4], [-Infinity, NaN, 1, Infinity, -Infinity, NaN, -Infinity, 0]),
      m: bool([2, 4], [1, 0, 1, 0, 0, 0, 1, 1]),
    });
    expectTensor(out.values, 'float32', [2, 4], [1, FLOAT32_LOWEST, -Infinity, -Infinity, 0, FLOAT32_LOWEST, -Infinity, -Infinity]);
    expectTensor(out.indices, 'int32', [2, 4], [2, 0, 1, 3, 3, 2, 0, 1]);
    expect(FLOAT32_LOWEST).toBe(-Math.fround(3.4028234663852886e38));
  });

  it('a valid -Infinity ties with a valid lowest float32 and the lower index wins', () => {
    const out = runRef(build(3, 3), new Map(), {
      x: f32([2, 3], [FLOAT32_LOWEST, -Infinity, 2, -Infinity, FLOAT32_LOWEST, 2]),
      m: bool([2, 3], [1, 1, 1, 1, 1, 1]),
    });
    expectTensor(out.indices, 'int32', [2, 3], [2, 0, 1, 2, 0, 1]);
  });

  it('a NaN at a valid position ranks as the lowest float32 (after every number, before padding)', () => {
    const out = runRef(build(6, 5), new Map(), {
      x: f32([2, 6], [NaN, 1, -Infinity, FLOAT32_LOWEST, NaN, 2, 0, NaN, 5, NaN, -Infinity, 1]),
      m: bool([2, 6], [1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0]),
    });
    // row 0 keys: [-F, 1, -F, -F, pad, 2]; row 1 keys: [0, -F, pad, -F, -F, pad]
    expectTensor(out.indices, 'int32', [2, 5], [5, 1, 0, 2, 3, 0, 1, 3, 4, 2]);
    expectTensor(
      out.values,
      'float32',
      [2, 5],
      [2, 1, FLOAT32_LOWEST, FLOAT32_LOWEST, FLOAT32_LOWEST, 0, FLOAT32_LOWEST, FLOAT32_LOWEST, FLOAT32_LOWEST, -Infinity],
    );
  });

  it('broadcasts a mask and resolves a symbolic sequence length', () => {
    const out = runRef(build('n', 2, [1, 'n']), new Map(), {
      x: f32([2, 3], [1, 5, 3, 6, 4, 2]),
      m: bool([1, 3], [1, 0, 1]),
    });
    expectTensor(out.values, 'float32', [2, 2], [3, 1, 6, 2]);
    expectTensor(out.indices, 'int32', [2, 2], [2, 0, 0, 2]);
  });
});

describe('forward: masking and symbolic dims', () => {
  it('where keeps NaN and Infinity in masked positions from leaking', () => {
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: [4] }, m: { dtype: 'bool', shape: [4] } });
    const zero = b.scalar(0);
    const y = b.reduceSum(b.mul(b.where(b.inputs.m, b.inputs.x, zero), b.where(b.inputs.m, b.inputs.x, zero)), 0);
    const g = b.build({ y });
    const out = runRef(g, new Map(), { x: f32([4], [1, NaN, 2, Infinity]), m: bool([4], [1, 0, 1, 0]) });
    expectTensor(out.y, 'float32', [], [5]);
  });

  it('one graph runs at different run-time sizes of a symbolic dim', () => {
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: ['batch', 3] } });
    const w = b.param('w', [3]);
    const g = b.build({ y: b.reduceSum(b.mul(b.inputs.x, w), 1) });
    const weights = new Map([['w', f32([3], [1, 10, 100])]]);
    expectTensor(runRef(g, weights, { x: f32([1, 3], [1, 2, 3]) }).y, 'float32', [1], [321]);
    expectTensor(runRef(g, weights, { x: f32([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]) }).y, 'float32', [3], [1, 10, 100]);
    expectTensor(runRef(g, weights, { x: f32([0, 3], []) }).y, 'float32', [0], []);
  });
});
