/** Forward of every op on small hand-computed cases, on cpu and on wasm. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type DType,
  type FeatureSchema,
  type HostTensor,
  type InputsOf,
  type OpName,
  type Value,
  GraphBuilder,
  OP_NAMES,
  Rng,
} from '@lctr/spec';
import { FLT_MAX, compileTfjs } from '../src/index.ts';
import { BACKENDS, bool, expectClose, f32, i32, i64, nums, runOne, useBackend } from './helpers.ts';

interface Want {
  dtype: DType;
  shape: number[];
  values: number[];
  tol?: number;
}
interface Case {
  op: OpName;
  name: string;
  run(): HostTensor;
  want: Want;
}

const cases: Case[] = [];
function add<S extends FeatureSchema>(
  op: OpName,
  name: string,
  schema: S,
  build: (b: GraphBuilder<S>) => Value,
  inputs: InputsOf<S>,
  want: Want,
): void {
  cases.push({ op, name, run: () => runOne(schema, build, inputs), want });
}
const E = Math.E;
const F = (shape: readonly (number | string)[]) => ({ dtype: 'float32', shape }) as const;
const I = (shape: readonly (number | string)[]) => ({ dtype: 'int32', shape }) as const;
const L = (shape: readonly (number | string)[]) => ({ dtype: 'int64', shape }) as const;
const B = (shape: readonly (number | string)[]) => ({ dtype: 'bool', shape }) as const;

// ---- matmul
add(
  'matmul',
  '[2,3] @ [3,2]',
  { a: F([2, 3]), b: F([3, 2]) },
  (b) => b.matmul(b.inputs.a, b.inputs.b),
  { a: f32([2, 3], [1, 2, 3, 4, 5, 6]), b: f32([3, 2], [1, 0, 0, 1, 1, 1]) },
  { dtype: 'float32', shape: [2, 2], values: [4, 5, 10, 11] },
);
add(
  'matmul',
  'batch dims broadcast both ways ([2,1] with [1,3])',
  { a: F([2, 1, 1, 2]), b: F([1, 3, 2, 1]) },
  (b) => b.matmul(b.inputs.a, b.inputs.b),
  { a: f32([2, 1, 1, 2], [1, 1, 2, 1]), b: f32([1, 3, 2, 1], [0, 1, 1, 1, 2, 1]) },
  { dtype: 'float32', shape: [2, 3, 1, 1], values: [1, 2, 3, 1, 3, 5] },
);
add(
  'matmul',
  'symbolic batch [batch,2,3] @ [3,1]',
  { a: F(['batch', 2, 3]), b: F([3, 1]) },
  (b) => b.matmul(b.inputs.a, b.inputs.b),
  { a: f32([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), b: f32([3, 1], [1, 1, 1]) },
  { dtype: 'float32', shape: [2, 2, 1], values: [6, 15, 24, 33] },
);

// ---- elementwise binary
add(
  'add',
  'broadcast [2,1] + [3]',
  { a: F([2, 1]), b: F([3]) },
  (b) => b.add(b.inputs.a, b.inputs.b),
  { a: f32([2, 1], [10, 20]), b: f32([3], [1, 2, 3]) },
  { dtype: 'float32', shape: [2, 3], values: [11, 12, 13, 21, 22, 23] },
);
add(
  'add',
  'int32',
  { a: I([2]), b: I([2]) },
  (b) => b.add(b.inputs.a, b.inputs.b),
  { a: i32([2], [1, 2]), b: i32([2], [3, -4]) },
  { dtype: 'int32', shape: [2], values: [4, -2] },
);
add(
  'add',
  'int64 (carried as int32)',
  { a: L([2]), b: L([2]) },
  (b) => b.add(b.inputs.a, b.inputs.b),
  { a: i64([2], [5, -7]), b: i64([2], [1, 1]) },
  { dtype: 'int64', shape: [2], values: [6, -6] },
);
add(
  'sub',
  'float',
  { a: F([2]), b: F([2]) },
  (b) => b.sub(b.inputs.a, b.inputs.b),
  { a: f32([2], [5, 3]), b: f32([2], [1, 4]) },
  { dtype: 'float32', shape: [2], values: [4, -1] },
);
add(
  'sub',
  'int64',
  { a: L([2]), b: L([]) },
  (b) => b.sub(b.inputs.a, b.inputs.b),
  { a: i64([2], [5, 3]), b: i64([], [4]) },
  { dtype: 'int64', shape: [2], values: [1, -1] },
);
add(
  'mul',
  'by a scalar constant',
  { a: F([3]) },
  (b) => b.mul(b.inputs.a, b.scalar(2)),
  { a: f32([3], [1, 2, 3]) },
  { dtype: 'float32', shape: [3], values: [2, 4, 6] },
);
add(
  'mul',
  'int32',
  { a: I([2]), b: I([2]) },
  (b) => b.mul(b.inputs.a, b.inputs.b),
  { a: i32([2], [3, -2]), b: i32([2], [4, 5]) },
  { dtype: 'int32', shape: [2], values: [12, -10] },
);
add(
  'div',
  'values and division by zero',
  { a: F([6]), b: F([6]) },
  (b) => b.div(b.inputs.a, b.inputs.b),
  { a: f32([6], [1, 3, -4, 1, -1, 0]), b: f32([6], [2, 4, 8, 0, 0, 0]) },
  { dtype: 'float32', shape: [6], values: [0.5, 0.75, -0.5, Infinity, -Infinity, NaN] },
);
add(
  'pow',
  'integer, fractional and negative exponents',
  { a: F([5]), b: F([5]) },
  (b) => b.pow(b.inputs.a, b.inputs.b),
  { a: f32([5], [2, 9, 0.25, -8, 0]), b: f32([5], [3, 0.5, -1, 2, 0]) },
  { dtype: 'float32', shape: [5], values: [8, 3, 4, 64, 1] },
);
add(
  'pow',
  'negative base, fractional exponent is NaN',
  { a: F([1]), b: F([1]) },
  (b) => b.pow(b.inputs.a, b.inputs.b),
  { a: f32([1], [-8]), b: f32([1], [1 / 3]) },
  { dtype: 'float32', shape: [1], values: [NaN] },
);
add(
  'maximum',
  'float, NaN propagates from either side',
  { a: F([4]), b: F([4]) },
  (b) => b.maximum(b.inputs.a, b.inputs.b),
  { a: f32([4], [1, 5, NaN, 2]), b: f32([4], [3, 2, 1, NaN]) },
  { dtype: 'float32', shape: [4], values: [3, 5, NaN, NaN] },
);
add(
  'maximum',
  'int32 broadcast',
  { a: I([2]), b: I([1]) },
  (b) => b.maximum(b.inputs.a, b.inputs.b),
  { a: i32([2], [3, -4]), b: i32([1], [1]) },
  { dtype: 'int32', shape: [2], values: [3, 1] },
);
add(
  'minimum',
  'float, NaN propagates from either side',
  { a: F([4]), b: F([4]) },
  (b) => b.minimum(b.inputs.a, b.inputs.b),
  { a: f32([4], [1, 5, NaN, 2]), b: f32([4], [3, 2, 1, NaN]) },
  { dtype: 'float32', shape: [4], values: [1, 2, NaN, NaN] },
);
add(
  'minimum',
  'int64',
  { a: L([2]), b: L([2]) },
  (b) => b.minimum(b.inputs.a, b.inputs.b),
  { a: i64([2], [3, -4]), b: i64([2], [1, 9]) },
  { dtype: 'int64', shape: [2], values: [1, -4] },
);

// ---- unary
add(
  'neg',
  'float',
  { x: F([3]) },
  (b) => b.neg(b.inputs.x),
  { x: f32([3], [1, -2, 0]) },
  { dtype: 'float32', shape: [3], values: [-1, 2, 0] },
);
add('neg', 'int64', { x: L([2]) }, (b) => b.neg(b.inputs.x), { x: i64([2], [3, -5]) }, { dtype: 'int64', shape: [2], values: [-3, 5] });
add(
  'abs',
  'values',
  { x: F([3]) },
  (b) => b.abs(b.inputs.x),
  { x: f32([3], [-1.5, 0, 2]) },
  { dtype: 'float32', shape: [3], values: [1.5, 0, 2] },
);
add(
  'exp',
  'values',
  { x: F([3]) },
  (b) => b.exp(b.inputs.x),
  { x: f32([3], [0, 1, -Infinity]) },
  { dtype: 'float32', shape: [3], values: [1, E, 0] },
);
add(
  'log',
  'values',
  { x: F([4]) },
  (b) => b.log(b.inputs.x),
  { x: f32([4], [1, E, 0, -1]) },
  { dtype: 'float32', shape: [4], values: [0, 1, -Infinity, NaN] },
);
add(
  'sqrt',
  'values',
  { x: F([3]) },
  (b) => b.sqrt(b.inputs.x),
  { x: f32([3], [4, 2, 0]) },
  { dtype: 'float32', shape: [3], values: [2, Math.SQRT2, 0] },
);
add(
  'relu',
  'values',
  { x: F([3]) },
  (b) => b.relu(b.inputs.x),
  { x: f32([3], [-1, 0, 2]) },
  { dtype: 'float32', shape: [3], values: [0, 0, 2] },
);
add(
  'sigmoid',
  'values',
  { x: F([3]) },
  (b) => b.sigmoid(b.inputs.x),
  { x: f32([3], [0, 2, -100]) },
  { dtype: 'float32', shape: [3], values: [0.5, 0.8807970779778823, 0] },
);
add(
  'tanh',
  'values',
  { x: F([3]) },
  (b) => b.tanh(b.inputs.x),
  { x: f32([3], [0, 1, -20]) },
  { dtype: 'float32', shape: [3], values: [0, 0.7615941559557649, -1] },
);
add(
  'softplus',
  'stable at both ends',
  { x: F([6]) },
  (b) => b.softplus(b.inputs.x),
  { x: f32([6], [-100, -20, 0, 1, 20, 100]) },
  { dtype: 'float32', shape: [6], values: [0, 2.0611536224385579e-9, Math.LN2, 1.3132616875182228, 20.000000002061153, 100] },
);
add(
  'elu',
  'alpha 1',
  { x: F([4]) },
  (b) => b.elu(b.inputs.x),
  { x: f32([4], [-1, 0, 2, -100]) },
  { dtype: 'float32', shape: [4], values: [Math.expm1(-1), 0, 2, -1] },
);
add(
  'elu',
  'alpha 0.5',
  { x: F([4]) },
  (b) => b.elu(b.inputs.x, 0.5),
  { x: f32([4], [-1, 0, 2, 1000]) },
  { dtype: 'float32', shape: [4], values: [0.5 * Math.expm1(-1), 0, 2, 1000] },
);

// ---- softmax family
const s12 = [0.2689414213699951, 0.7310585786300049];
add(
  'softmax',
  'last axis',
  { x: F([2, 2]) },
  (b) => b.softmax(b.inputs.x),
  { x: f32([2, 2], [1, 2, 3, 4]) },
  { dtype: 'float32', shape: [2, 2], values: [...s12, ...s12] },
);
add(
  'softmax',
  'axis 0',
  { x: F([2, 2]) },
  (b) => b.softmax(b.inputs.x, 0),
  { x: f32([2, 2], [1, 2, 3, 4]) },
  { dtype: 'float32', shape: [2, 2], values: [0.11920292202211755, 0.11920292202211755, 0.8807970779778823, 0.8807970779778823] },
);
add(
  'softmax',
  'max-subtracted: large values and -Infinity',
  { x: F([3]) },
  (b) => b.softmax(b.inputs.x),
  { x: f32([3], [1000, 1000, -Infinity]) },
  { dtype: 'float32', shape: [3], values: [0.5, 0.5, 0] },
);
add(
  'logSoftmax',
  'stable',
  { x: F([2, 2]) },
  (b) => b.logSoftmax(b.inputs.x),
  { x: f32([2, 2], [1000, 0, 1, 2]) },
  { dtype: 'float32', shape: [2, 2], values: [0, -1000, -1.3132616875182228, -0.31326168751822286] },
);

// ---- reductions
add(
  'reduceSum',
  'one axis',
  { x: F([2, 3]) },
  (b) => b.reduceSum(b.inputs.x, 1),
  { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) },
  { dtype: 'float32', shape: [2], values: [6, 15] },
);
add(
  'reduceSum',
  'all axes, keepDims',
  { x: F([2, 3]) },
  (b) => b.reduceSum(b.inputs.x, [0, 1], true),
  { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) },
  { dtype: 'float32', shape: [1, 1], values: [21] },
);
add(
  'reduceSum',
  'over an empty symbolic axis is 0',
  { x: F(['batch', 'seq']) },
  (b) => b.reduceSum(b.inputs.x, 1),
  { x: f32([2, 0], []) },
  { dtype: 'float32', shape: [2], values: [0, 0] },
);
add(
  'reduceMean',
  'divides by the run-time count',
  { x: F(['batch', 'seq']) },
  (b) => b.reduceMean(b.inputs.x, -1),
  { x: f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]) },
  { dtype: 'float32', shape: [2], values: [2.5, 6.5] },
);
add(
  'reduceMean',
  'over an empty axis is NaN',
  { x: F(['batch', 'seq']) },
  (b) => b.reduceMean(b.inputs.x, 1),
  { x: f32([2, 0], []) },
  { dtype: 'float32', shape: [2], values: [NaN, NaN] },
);
add(
  'reduceMax',
  'one axis with -Infinity',
  { x: F([2, 3]) },
  (b) => b.reduceMax(b.inputs.x, 1),
  { x: f32([2, 3], [1, 3, 2, -Infinity, -5, -7]) },
  { dtype: 'float32', shape: [2], values: [3, -5] },
);
add(
  'reduceMax',
  'axis 0 keepDims',
  { x: F([2, 3]) },
  (b) => b.reduceMax(b.inputs.x, 0, true),
  { x: f32([2, 3], [1, 3, 2, 0, 5, -7]) },
  { dtype: 'float32', shape: [1, 3], values: [1, 5, 2] },
);
add(
  'reduceMax',
  'over an empty axis is -Infinity',
  { x: F(['batch', 'seq']) },
  (b) => b.reduceMax(b.inputs.x, 1),
  { x: f32([1, 0], []) },
  { dtype: 'float32', shape: [1], values: [-Infinity] },
);

// ---- shape ops
add(
  'concat',
  'three inputs on axis 1',
  { a: F([2, 1]), b: F([2, 2]), c: F([2, 1]) },
  (b) => b.concat([b.inputs.a, b.inputs.b, b.inputs.c], 1),
  { a: f32([2, 1], [1, 2]), b: f32([2, 2], [3, 4, 5, 6]), c: f32([2, 1], [7, 8]) },
  { dtype: 'float32', shape: [2, 4], values: [1, 3, 4, 7, 2, 5, 6, 8] },
);
add(
  'concat',
  'along a symbolic axis (seq + seq)',
  { a: F(['seq']) },
  (b) => b.concat([b.inputs.a, b.inputs.a], 0),
  { a: f32([2], [1, 2]) },
  { dtype: 'float32', shape: [4], values: [1, 2, 1, 2] },
);
add(
  'concat',
  'bool',
  { a: B([2]), b: B([1]) },
  (b) => b.concat([b.inputs.a, b.inputs.b]),
  { a: bool([2], [1, 0]), b: bool([1], [1]) },
  { dtype: 'bool', shape: [3], values: [1, 0, 1] },
);
add(
  'concat',
  'int64, one input',
  { a: L([2]) },
  (b) => b.concat([b.inputs.a]),
  { a: i64([2], [7, 8]) },
  { dtype: 'int64', shape: [2], values: [7, 8] },
);
add(
  'reshape',
  'symbolic target',
  { x: F(['batch', 6]) },
  (b) => b.reshape(b.inputs.x, ['batch', 2, 3]),
  {
    x: f32(
      [2, 6],
      Array.from({ length: 12 }, (_, i) => i),
    ),
  },
  { dtype: 'float32', shape: [2, 2, 3], values: Array.from({ length: 12 }, (_, i) => i) },
);
add(
  'reshape',
  '-1 resolves to batch*6',
  { x: F(['batch', 2, 3]) },
  (b) => b.reshape(b.inputs.x, [-1]),
  { x: f32([1, 2, 3], [1, 2, 3, 4, 5, 6]) },
  { dtype: 'float32', shape: [6], values: [1, 2, 3, 4, 5, 6] },
);
add(
  'transpose',
  '[1,0]',
  { x: F([2, 3]) },
  (b) => b.transpose(b.inputs.x, [1, 0]),
  { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) },
  { dtype: 'float32', shape: [3, 2], values: [1, 4, 2, 5, 3, 6] },
);
add(
  'transpose',
  'int32 [0,2,1]',
  { x: I([1, 2, 2]) },
  (b) => b.transpose(b.inputs.x, [0, 2, 1]),
  { x: i32([1, 2, 2], [1, 2, 3, 4]) },
  { dtype: 'int32', shape: [1, 2, 2], values: [1, 3, 2, 4] },
);
add(
  'slice',
  'negative start, clamped end',
  { x: F([3, 4]) },
  (b) => b.slice(b.inputs.x, [1, -3], [3, 100], [0, 1]),
  {
    x: f32(
      [3, 4],
      Array.from({ length: 12 }, (_, i) => i),
    ),
  },
  { dtype: 'float32', shape: [2, 3], values: [5, 6, 7, 9, 10, 11] },
);
add(
  'slice',
  'of a tensor with a symbolic dim',
  { x: F(['batch', 4]) },
  (b) => b.slice(b.inputs.x, [2], [4], [1]),
  { x: f32([2, 4], [0, 1, 2, 3, 4, 5, 6, 7]) },
  { dtype: 'float32', shape: [2, 2], values: [2, 3, 6, 7] },
);
add(
  'expand',
  '[3,1] to [2,3,4]',
  { x: F([3, 1]) },
  (b) => b.expand(b.inputs.x, [2, 3, 4]),
  { x: f32([3, 1], [1, 2, 3]) },
  { dtype: 'float32', shape: [2, 3, 4], values: [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3] },
);
add(
  'expand',
  'both ways: [1,2] to [3,1]',
  { x: F([1, 2]) },
  (b) => b.expand(b.inputs.x, [3, 1]),
  { x: f32([1, 2], [1, 2]) },
  { dtype: 'float32', shape: [3, 2], values: [1, 2, 1, 2, 1, 2] },
);
add(
  'expand',
  'bool to a symbolic shape',
  { x: B([1, 2]), n: F(['batch']) },
  (b) => b.expand(b.inputs.x, ['batch', 2]),
  { x: bool([1, 2], [1, 0]), n: f32([3], [0, 0, 0]) },
  { dtype: 'bool', shape: [3, 2], values: [1, 0, 1, 0, 1, 0] },
);

// ---- gathers
add(
  'gather',
  'rows by 2-D indices',
  { t: F([3, 2]), i: I([2, 2]) },
  (b) => b.gather(b.inputs.t, b.inputs.i),
  { t: f32([3, 2], [1, 2, 3, 4, 5, 6]), i: i32([2, 2], [2, 0, 1, 1]) },
  { dtype: 'float32', shape: [2, 2, 2], values: [5, 6, 1, 2, 3, 4, 3, 4] },
);
add(
  'gather',
  'axis 1 with int64 indices',
  { t: F([2, 3]), i: L([2]) },
  (b) => b.gather(b.inputs.t, b.inputs.i, 1),
  { t: f32([2, 3], [1, 2, 3, 4, 5, 6]), i: i64([2], [2, 0]) },
  { dtype: 'float32', shape: [2, 2], values: [3, 1, 6, 4] },
);
add(
  'gather',
  'from a bool table',
  { t: B([3]), i: I([2]) },
  (b) => b.gather(b.inputs.t, b.inputs.i),
  { t: bool([3], [1, 0, 1]), i: i32([2], [1, 2]) },
  { dtype: 'bool', shape: [2], values: [0, 1] },
);
add(
  'gatherAlongAxis',
  'axis 1 (top-k rows per batch row)',
  { x: F([2, 3, 2]), i: I([2, 2]) },
  (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i, 1),
  { x: f32([2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), i: i32([2, 2], [2, 0, 1, 1]) },
  { dtype: 'float32', shape: [2, 2, 2], values: [5, 6, 1, 2, 9, 10, 9, 10] },
);
add(
  'gatherAlongAxis',
  'axis 0',
  { x: F([4, 2]), i: I([2]) },
  (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i, 0),
  { x: f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]), i: i32([2], [3, 0]) },
  { dtype: 'float32', shape: [2, 2], values: [6, 7, 0, 1] },
);
add(
  'gatherAlongAxis',
  'axis 2',
  { x: F([2, 2, 3]), i: I([2, 2, 1]) },
  (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i, 2),
  { x: f32([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), i: i32([2, 2, 1], [2, 0, 1, 1]) },
  { dtype: 'float32', shape: [2, 2, 1], values: [3, 4, 8, 11] },
);
add(
  'gatherAlongAxis',
  'bool mask by symbolic batch',
  { m: B(['batch', 3]), i: I(['batch', 2]) },
  (b) => b.gatherAlongAxis(b.inputs.m, b.inputs.i, 1),
  { m: bool([2, 3], [1, 0, 1, 0, 0, 1]), i: i32([2, 2], [2, 1, 2, 0]) },
  { dtype: 'bool', shape: [2, 2], values: [1, 0, 1, 0] },
);

add(
  'scatterAlongAxis',
  'rows of 3 into 4, a repeated index sums',
  { u: F([2, 3]), i: I([2, 3]) },
  (b) => b.scatterAlongAxis(b.inputs.u, b.inputs.i, 4, 1),
  { u: f32([2, 3], [1, 2, 3, 10, 20, 30]), i: i32([2, 3], [3, 0, 3, 1, 2, 0]) },
  { dtype: 'float32', shape: [2, 4], values: [2, 0, 0, 4, 30, 10, 20, 0] },
);
add(
  'scatterAlongAxis',
  'with trailing features, symbolic rows',
  { u: F(['batch', 1, 2]), i: I(['batch', 1]) },
  (b) => b.scatterAlongAxis(b.inputs.u, b.inputs.i, 3, 1),
  { u: f32([2, 1, 2], [4, 5, 12, 13]), i: i32([2, 1], [2, 0]) },
  { dtype: 'float32', shape: [2, 3, 2], values: [0, 0, 0, 0, 4, 5, 12, 13, 0, 0, 0, 0] },
);
// ---- topk (values; indices are checked in their own tests below)
add(
  'topk',
  'values with ties',
  { x: F([5]) },
  (b) => b.topk(b.inputs.x, 3).values,
  { x: f32([5], [3, 1, 3, 2, 3]) },
  { dtype: 'float32', shape: [3], values: [3, 3, 3] },
);
add(
  'topk',
  'indices with ties: lower index first',
  { x: F([5]) },
  (b) => b.topk(b.inputs.x, 3).indices,
  { x: f32([5], [3, 1, 3, 2, 3]) },
  { dtype: 'int32', shape: [3], values: [0, 2, 4] },
);

// ---- select, compare, logic
add(
  'where',
  'broadcast cond, a, b',
  { c: B([2]), a: F([2, 2]) },
  (b) => b.where(b.inputs.c, b.inputs.a, b.scalar(0)),
  { c: bool([2], [1, 0]), a: f32([2, 2], [1, 2, 3, 4]) },
  { dtype: 'float32', shape: [2, 2], values: [1, 0, 3, 0] },
);
add(
  'where',
  'int32',
  { c: B([2, 1]), a: I([2]), b: I([2, 1]) },
  (b) => b.where(b.inputs.c, b.inputs.a, b.inputs.b),
  { c: bool([2, 1], [1, 0]), a: i32([2], [1, 2]), b: i32([2, 1], [5, 6]) },
  { dtype: 'int32', shape: [2, 2], values: [1, 2, 6, 6] },
);
add(
  'equal',
  'float with NaN',
  { a: F([3]), b: F([3]) },
  (b) => b.equal(b.inputs.a, b.inputs.b),
  { a: f32([3], [1, 2, NaN]), b: f32([3], [1, 3, NaN]) },
  { dtype: 'bool', shape: [3], values: [1, 0, 0] },
);
add(
  'equal',
  'int64 broadcast',
  { a: L([3]), b: L([1]) },
  (b) => b.equal(b.inputs.a, b.inputs.b),
  { a: i64([3], [1, 2, 1]), b: i64([1], [1]) },
  { dtype: 'bool', shape: [3], values: [1, 0, 1] },
);
add(
  'greater',
  'float',
  { a: F([3]), b: F([3]) },
  (b) => b.greater(b.inputs.a, b.inputs.b),
  { a: f32([3], [1, 2, NaN]), b: f32([3], [1, 1, 0]) },
  { dtype: 'bool', shape: [3], values: [0, 1, 0] },
);
add(
  'less',
  'int32',
  { a: I([3]), b: I([3]) },
  (b) => b.less(b.inputs.a, b.inputs.b),
  { a: i32([3], [1, 2, -5]), b: i32([3], [1, 3, -6]) },
  { dtype: 'bool', shape: [3], values: [0, 1, 0] },
);
add(
  'logicalAnd',
  'truth table',
  { a: B([4]), b: B([4]) },
  (b) => b.logicalAnd(b.inputs.a, b.inputs.b),
  { a: bool([4], [1, 1, 0, 0]), b: bool([4], [1, 0, 1, 0]) },
  { dtype: 'bool', shape: [4], values: [1, 0, 0, 0] },
);
add(
  'logicalOr',
  'truth table',
  { a: B([4]), b: B([4]) },
  (b) => b.logicalOr(b.inputs.a, b.inputs.b),
  { a: bool([4], [1, 1, 0, 0]), b: bool([4], [1, 0, 1, 0]) },
  { dtype: 'bool', shape: [4], values: [1, 1, 1, 0] },
);
add(
  'logicalNot',
  'values',
  { a: B([2]) },
  (b) => b.logicalNot(b.inputs.a),
  { a: bool([2], [1, 0]) },
  { dtype: 'bool', shape: [2], values: [0, 1] },
);

// ---- cast
add(
  'cast',
  'float to int32 truncates toward zero',
  { x: F([4]) },
  (b) => b.cast(b.inputs.x, 'int32'),
  { x: f32([4], [-1.7, 1.7, 2.5, -0.5]) },
  { dtype: 'int32', shape: [4], values: [-1, 1, 2, 0] },
);
add(
  'cast',
  'float to int64',
  { x: F([2]) },
  (b) => b.cast(b.inputs.x, 'int64'),
  { x: f32([2], [-3.9, 1e6]) },
  { dtype: 'int64', shape: [2], values: [-3, 1e6] },
);
add(
  'cast',
  'float to bool is x != 0 (NaN is true)',
  { x: F([4]) },
  (b) => b.cast(b.inputs.x, 'bool'),
  { x: f32([4], [-1.7, 0, NaN, -0]) },
  { dtype: 'bool', shape: [4], values: [1, 0, 1, 0] },
);
add(
  'cast',
  'int32 to bool',
  { x: I([3]) },
  (b) => b.cast(b.inputs.x, 'bool'),
  { x: i32([3], [-1, 0, 2]) },
  { dtype: 'bool', shape: [3], values: [1, 0, 1] },
);
add(
  'cast',
  'bool to float is 0/1',
  { x: B([3]) },
  (b) => b.cast(b.inputs.x, 'float32'),
  { x: bool([3], [1, 0, 1]) },
  { dtype: 'float32', shape: [3], values: [1, 0, 1] },
);
add(
  'cast',
  'int64 to float and to int32',
  { x: L([2]) },
  (b) => b.cast(b.cast(b.inputs.x, 'int32'), 'float32'),
  { x: i64([2], [-2147483648, 2147483647]) },
  { dtype: 'float32', shape: [2], values: [-2147483648, 2147483647] },
);
add(
  'cast',
  'float to float is the identity',
  { x: F([2]) },
  (b) => b.cast(b.inputs.x, 'float32'),
  { x: f32([2], [1.5, NaN]) },
  { dtype: 'float32', shape: [2], values: [1.5, NaN] },
);

// ---- normalisation
add(
  'layerNorm',
  'biased variance, gamma and beta',
  { x: F([2, 3]), g: F([3]), be: F([3]) },
  (b) => b.layerNorm(b.inputs.x, b.inputs.g, b.inputs.be),
  { x: f32([2, 3], [1, 2, 3, 5, 5, 5]), g: f32([3], [2, 1, 1]), be: f32([3], [0, 1, 0]) },
  { dtype: 'float32', shape: [2, 3], values: [-2 * 1.22473572, 1, 1.22473572, 0, 1, 0], tol: 1e-5 },
);
add(
  'l2Normalize',
  'last axis, zero and tiny rows use epsilon',
  { x: F([3, 2]) },
  (b) => b.l2Normalize(b.inputs.x),
  { x: f32([3, 2], [3, 4, 0, 0, 1e-13, 0]) },
  { dtype: 'float32', shape: [3, 2], values: [0.6, 0.8, 0, 0, 0.1, 0] },
);
add(
  'l2Normalize',
  'axis 0',
  { x: F([2, 2]) },
  (b) => b.l2Normalize(b.inputs.x, 0),
  { x: f32([2, 2], [3, 0, 4, 2]) },
  { dtype: 'float32', shape: [2, 2], values: [0.6, 0, 0.8, 1] },
);

// ---- constant, stopGradient
add(
  'constant',
  'float with NaN and infinities',
  {},
  (b) => b.constant([NaN, Infinity, -Infinity, 1.5], [2, 2]),
  {},
  { dtype: 'float32', shape: [2, 2], values: [NaN, Infinity, -Infinity, 1.5] },
);
add('constant', 'int64', {}, (b) => b.constant([3, -2], [2], 'int64'), {}, { dtype: 'int64', shape: [2], values: [3, -2] });
add('constant', 'bool scalar', {}, (b) => b.constant(1, [], 'bool'), {}, { dtype: 'bool', shape: [], values: [1] });
add(
  'stopGradient',
  'identity forward',
  { x: F([2]) },
  (b) => b.stopGradient(b.inputs.x),
  { x: f32([2], [1, -2]) },
  { dtype: 'float32', shape: [2], values: [1, -2] },
);

const ARRAY_OF: Record<DType, string> = { float32: 'Float32Array', int32: 'Int32Array', int64: 'BigInt64Array', bool: 'Uint8Array' };

it('every op of the vocabulary has forward cases', () => {
  const covered = new Set(cases.map((c) => c.op));
  expect(OP_NAMES.filter((op) => !covered.has(op))).toEqual([]);
});

/** The spec's order by brute force: valid first, value descending, lower index. */
function naiveTopk(x: ArrayLike<number>, mask: ArrayLike<number> | undefined, k: number): { values: number[]; indices: number[] } {
  const key = Array.from(x, (v, i) => (mask && !mask[i] ? -Infinity : Math.max(v, -FLT_MAX)));
  const order = key.map((_, i) => i).sort((a, b) => (key[a] === key[b] ? a - b : key[b]! - key[a]!));
  const indices = order.slice(0, k);
  return { indices, values: indices.map((i) => Math.fround(key[i]!)) };
}

function topkBoth(
  x: HostTensor<'float32'>,
  k: number,
  mask?: HostTensor<'bool'>,
): { values: number[]; indices: number[]; shape: number[] } {
  const schema = { x: { dtype: 'float32', shape: ['batch', 'seq'] }, m: { dtype: 'bool', shape: ['batch', 'seq'] } } as const;
  const b = new GraphBuilder('topk', schema);
  const t = mask ? b.topk(b.inputs.x, k, b.inputs.m) : b.topk(b.inputs.x, k);
  const m = compileTfjs(b.build({ v: t.values, i: t.indices }));
  const r = m.run({ x, m: mask ?? bool([...x.shape], new Array(x.data.length).fill(1)) });
  m.dispose();
  expect(r.i.data).toBeInstanceOf(Int32Array);
  return { values: nums(r.v), indices: nums(r.i), shape: [...r.i.shape] };
}

describe.each(BACKENDS)('forward on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(cases.map((c) => [`${c.op}: ${c.name}`, c] as const))('%s', (_name, c) => {
    const before = tf.memory().numTensors;
    const y = c.run();
    expect(tf.memory().numTensors).toBe(before);
    expect(y.dtype).toBe(c.want.dtype);
    expect(y.shape).toEqual(c.want.shape);
    expect(y.data.constructor.name).toBe(ARRAY_OF[c.want.dtype]);
    expectClose(nums(y), c.want.values, c.want.tol ?? 1e-6);
  });

  it('softplus and elu keep relative precision near 0 (accurate log1p / expm1)', () => {
    const sp = nums(runOne({ x: F([2]) }, (b) => b.softplus(b.inputs.x), { x: f32([2], [-20, -30]) }));
    expect(sp[0]! / 2.0611536224385579e-9).toBeCloseTo(1, 5);
    expect(sp[1]! / 9.357622968840175e-14).toBeCloseTo(1, 5);
    const el = nums(runOne({ x: F([1]) }, (b) => b.elu(b.inputs.x, 2), { x: f32([1], [-1e-5]) }));
    expect(el[0]! / (2 * Math.expm1(-1e-5))).toBeCloseTo(1, 5);
  });

  it('topk: masked positions come after every valid one; a valid -Infinity is clamped', () => {
    const r = topkBoth(f32([1, 5], [5, 9, 1, -Infinity, 7]), 4, bool([1, 5], [1, 0, 1, 1, 0]));
    expect(r.indices).toEqual([0, 2, 3, 1]);
    expect(r.values).toEqual([5, 1, -FLT_MAX, -Infinity]);
  });

  it('topk: fewer valid than k gives padding in index order', () => {
    const r = topkBoth(f32([2, 5], [1, 9, 3, 4, 5, 0, 0, 0, 0, 0]), 3, bool([2, 5], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(r.indices).toEqual([1, 0, 2, 0, 1, 2]);
    expect(r.values).toEqual([9, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
    expect(r.shape).toEqual([2, 3]);
  });

  it('topk: ties among infinities and zeros go to the lower index', () => {
    const r = topkBoth(f32([1, 8], [Infinity, 1, Infinity, 0, -0, -Infinity, 0, -Infinity]), 8);
    expect(r.indices).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(r.values).toEqual([Infinity, Infinity, 1, 0, -0, 0, -FLT_MAX, -FLT_MAX]); // values are x itself (-0 stays -0)
  });

  it('topk: matches a brute-force sort on rows full of ties, with and without a mask', () => {
    const rng = new Rng(17);
    const rows = 6,
      n = 300,
      k = 40;
    const x = Array.from({ length: rows * n }, () => rng.int(12) - 6); // few distinct values: ties everywhere
    const mask = Array.from({ length: rows * n }, (_, i) => (Math.floor(i / n) === 5 ? (i % 50 === 0 ? 1 : 0) : rng.next() < 0.7 ? 1 : 0));
    for (const withMask of [false, true]) {
      const r = topkBoth(f32([rows, n], x), k, withMask ? bool([rows, n], mask) : undefined);
      for (let row = 0; row < rows; row++) {
        const want = naiveTopk(x.slice(row * n, (row + 1) * n), withMask ? mask.slice(row * n, (row + 1) * n) : undefined, k);
        expect(r.indices.slice(row * k, (row + 1) * k)).toEqual(want.indices);
        expect(r.values.slice(row * k, (row + 1) * k)).toEqual(want.values);
      }
    }
  });

  it('topk: k along a symbolic axis is checked at run time with the spec message', () => {
    expect(() => topkBoth(f32([1, 2], [1, 2]), 3)).toThrow(
      "topk 'topk_0' takes k = 3 along 'seq', which is 2 in these inputs (k must be <= 2)",
    );
  });

  it('gatherAlongAxis on [64, 50, 32] (where tf.gather with batchDims crashes wasm) matches a loop', () => {
    const rng = new Rng(4);
    const Bn = 64,
      N = 50,
      D = 32,
      K = 7;
    const x = Array.from({ length: Bn * N * D }, () => rng.normal());
    const idx = Array.from({ length: Bn * K }, () => rng.int(N));
    const y = nums(
      runOne({ x: F([Bn, N, D]), i: I([Bn, K]) }, (b) => b.gatherAlongAxis(b.inputs.x, b.inputs.i, 1), {
        x: f32([Bn, N, D], x),
        i: i32([Bn, K], idx),
      }),
    );
    const want: number[] = [];
    for (let bi = 0; bi < Bn; bi++)
      for (let j = 0; j < K; j++) for (let d = 0; d < D; d++) want.push(Math.fround(x[(bi * N + idx[bi * K + j]!) * D + d]!));
    expect(y).toEqual(want);
  });
});
