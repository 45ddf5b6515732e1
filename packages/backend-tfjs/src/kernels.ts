/**
 * The kernel table: every op of the IR as tfjs ops (forward) and its vector-Jacobian product
 * (backward), written once per IR op with the spec's gradient conventions. The executor wraps each
 * differentiable node in tf.customGrad with this backward, so tfjs' own kernel gradients (which
 * tfjs-core does not even load in Node, and whose conventions differ, e.g. abs'(0) = -1) are never
 * used. Typed over OpName: a missing op does not compile.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type DimBindings,
  type NodeDecl,
  type OpAttrs,
  type OpName,
  type ValueInfo,
  InputError,
  formatShape,
  sameShape,
  sizeOf as prod,
} from '@lctr/spec';
import { constantData, tfDtype } from './convert.ts';
import { FLT_MAX, topkRows } from './topk.ts';
import { broadcastTo, concat, gatherAxis, gatherRows, reluGrad, scatterRowsAdd, select, split } from './fast/index.ts';

/** A graph node compiled for tfjs: its kernel, value infos and which inputs carry gradient (model.ts, fuse.ts). */
export interface CompiledNode {
  readonly node: NodeDecl;
  readonly kernel: TfjsKernel<OpName>;
  readonly attrs: never;
  readonly inputInfo: readonly ValueInfo[];
  readonly outputInfo: readonly ValueInfo[];
  /** indices of inputs that carry gradient. */
  readonly gradIdx: readonly number[];
  readonly checkIndices: boolean;
}

export interface KernelContext {
  readonly node: NodeDecl;
  readonly bindings: DimBindings;
  /** IR dtype/shape of each input and output (shapes may be symbolic; see outShape). */
  readonly inputInfo: readonly ValueInfo[];
  readonly outputInfo: readonly ValueInfo[];
  /** tf.getBackend() when the graph runs. */
  readonly backend: string;
  /** run-time shape of output i (symbolic dims resolved with the bindings). */
  outShape(i?: number): number[];
  /** true when integer indices may come from computed values and must be range-checked. */
  readonly checkIndices: boolean;
  /** the inputs whose gradient is wanted (differentiable and reached from a parameter); backward may give null for the others */
  readonly gradIdx: readonly number[];
}

export interface TfjsKernel<N extends OpName> {
  /** outputs, in the op's output order, with the IR dtypes (int64 carried as int32). */
  forward(xs: readonly tf.Tensor[], attrs: OpAttrs[N], ctx: KernelContext): tf.Tensor[];
  /**
   * Gradient of each input given dy for the (single) output y; null for inputs without gradient.
   * Only called for nodes with at least one differentiable input (see spec's gradInputs); must
   * return a tensor of the input's exact shape for every differentiable input.
   */
  backward?(dy: tf.Tensor, xs: readonly tf.Tensor[], y: tf.Tensor, attrs: OpAttrs[N], ctx: KernelContext): ReadonlyArray<tf.Tensor | null>;
}

export type KernelTable = { readonly [N in OpName]: TfjsKernel<N> };

// ---------------------------------------------------------------- helpers

/**
 * A new tensor sharing t's data. tf.clone copies the data on wasm (its Identity kernel copies);
 * Reshape only adds a reference on every backend.
 */
export const alias = (t: tf.Tensor): tf.Tensor => tf.reshape(t, t.shape);

const scalar = (v: number, dtype: 'float32' | 'int32' = 'float32') => tf.scalar(v, dtype);

/** Sum a broadcast gradient back to an input's shape (numpy broadcasting, leading and size-1 axes). */
export function sumToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, [...shape]);
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1,
      db = b[b.length - n + i] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * Batched matmul with numpy broadcasting of the batch dims. tfjs flattens batch dims and indexes
 * with a modulo, which is right only when one side has a single batch or both have the same batch
 * shape; otherwise both are broadcast explicitly first.
 */
/** Swap the last two axes (explicitly: wasm's matMul with a transpose flag is about 10x slower). */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}

function bmm(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (transposeA) a = swapLast(a);
  if (transposeB) b = swapLast(b);
  transposeA = transposeB = false;
  if (b.rank === 2 && a.rank > 2 && !transposeA) {
    // a shared weight: fold a's batch dims into rows, one large matmul instead of a batch of small
    // ones (wasm's BatchMatMul runs each batch entry separately: 250 ms of a 344 ms DIN step)
    const k = a.shape[a.rank - 1]!;
    const y = tf.matMul(tf.reshape(a, [-1, k]), b, false, transposeB);
    return tf.reshape(y, [...a.shape.slice(0, -1), y.shape[1]!]);
  }
  const ba = a.shape.slice(0, -2),
    bb = b.shape.slice(0, -2);
  const n = Math.max(ba.length, bb.length);
  const pad = (s: number[]) => [...new Array<number>(n - s.length).fill(1), ...s];
  const simple = prod(ba) === 1 || prod(bb) === 1 || sameShape(pad(ba), pad(bb));
  if (!simple) {
    const out = broadcastShape(ba, bb);
    a = broadcastTo(a, [...out, ...a.shape.slice(-2)]);
    b = broadcastTo(b, [...out, ...b.shape.slice(-2)]);
  }
  return tf.matMul(a, b, transposeA, transposeB);
}

/** log(1 + u), accurate for tiny u on every backend (wasm's Log1p computes log(1 + u) and loses it). */
function log1p(u: tf.Tensor): tf.Tensor {
  const w = tf.add(u, scalar(1));
  const d = tf.sub(w, scalar(1));
  return select(tf.equal(d, scalar(0)), u, tf.mul(tf.log(w), tf.div(u, d)));
}

/** e^x - 1, accurate near 0 (Kahan): (u - 1) * x / log(u) with u = e^x. */
function expm1(x: tf.Tensor): tf.Tensor {
  const u = tf.exp(x);
  const um1 = tf.sub(u, scalar(1));
  const exact = tf.div(tf.mul(um1, x), tf.log(u));
  return select(tf.equal(u, scalar(1)), x, select(tf.equal(um1, scalar(-1)), scalar(-1), exact));
}

/** maximum/minimum with NaN propagation on every backend (wasm returns the second operand for NaN). */
function nanPropagating(m: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.dtype !== 'float32') return m;
  return select(tf.logicalOr(tf.isNaN(a), tf.isNaN(b)), tf.add(a, b), m);
}

function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** A reduction over no elements: 0 for a sum, NaN for a mean, -Infinity for a max (wasm returns garbage). */
function emptyReduce(x: tf.Tensor, ctx: KernelContext, value: number): tf.Tensor | undefined {
  return x.size === 0 ? tf.fill(ctx.outShape(), value, 'float32') : undefined;
}

export function checkIndexRange(idx: tf.Tensor, size: number, ctx: KernelContext, what: string): void {
  if (!ctx.checkIndices) return;
  const data = idx.dataSync();
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v < size)) {
      throw new InputError(
        `node '${ctx.node.id}' (${ctx.node.op}): index ${v} at flat position ${i} is out of range for ${size} entries along ${what} ` +
          `(valid 0..${size - 1})`,
      );
    }
  }
}

/**
 * gatherAlongAxis as a plain row gather: x as [lead * n, post], the k ids of leading index l read
 * rows l * n + idx (the offsets are added inside the row kernels: group k, stride n).
 */
function flatRows(
  x: tf.Tensor | readonly number[],
  idx: tf.Tensor,
  axis: number,
): { rows: number; ids: tf.Tensor1D; post: number; groups: { group: number; stride: number } } {
  const shape = Array.isArray(x) ? (x as readonly number[]) : (x as tf.Tensor).shape;
  const lead = prod(shape.slice(0, axis)),
    n = shape[axis]!,
    k = idx.shape[axis]!;
  const post = prod(shape.slice(axis + 1));
  return { rows: lead * n, ids: tf.reshape(idx, [lead * k]), post, groups: lead === 1 ? { group: 0, stride: 0 } : { group: k, stride: n } };
}

/** Backends whose data lives in host memory: top-k runs as exact JS there. */
const HOST_BACKENDS = new Set(['cpu', 'wasm']);

const constantCache = new WeakMap<object, Float32Array | Int32Array | Uint8Array>();

const unary = <N extends OpName>(
  f: (x: tf.Tensor) => tf.Tensor,
  grad: (dy: tf.Tensor, x: tf.Tensor, y: tf.Tensor) => tf.Tensor,
): TfjsKernel<N> => ({
  forward: ([x]) => [f(x!)],
  backward: (dy, [x], y) => [grad(dy, x!, y)],
});

const elementwise = <N extends OpName>(
  f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  grad: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, y: tf.Tensor) => [tf.Tensor, tf.Tensor],
): TfjsKernel<N> => ({
  forward: ([a, b]) => [f(a!, b!)],
  backward: (dy, [a, b], y) => {
    const [da, db] = grad(dy, a!, b!, y);
    return [sumToShape(da, a!.shape), sumToShape(db, b!.shape)];
  },
});

const noGrad = <N extends OpName>(forward: TfjsKernel<N>['forward']): TfjsKernel<N> => ({ forward });

// ---------------------------------------------------------------- the table

export const KERNELS: KernelTable = {
  matmul: {
    forward: ([a, b]) => [bmm(a!, b!)],
    backward: (dy, [a, b]) => {
      const da = sumToShape(bmm(dy, b!, false, true), a!.shape);
      let db: tf.Tensor;
      if (b!.rank === 2 && a!.rank > 2) {
        // shared weight: fold the batch into rows, one matmul instead of a batch then a sum
        const k = a!.shape[a!.rank - 1]!,
          n = dy.shape[dy.rank - 1]!;
        db = tf.matMul(tf.transpose(tf.reshape(a!, [-1, k])), tf.reshape(dy, [-1, n]));
      } else {
        db = sumToShape(bmm(a!, dy, true, false), b!.shape);
      }
      return [da, db];
    },
  },
  add: elementwise(
    (a, b) => tf.add(a, b),
    (dy) => [dy, dy],
  ),
  sub: elementwise(
    (a, b) => tf.sub(a, b),
    (dy) => [dy, tf.neg(dy)],
  ),
  mul: elementwise(
    (a, b) => tf.mul(a, b),
    (dy, a, b) => [tf.mul(dy, b), tf.mul(dy, a)],
  ),
  div: elementwise(
    (a, b) => tf.div(a, b),
    (dy, a, b) => [tf.div(dy, b), tf.neg(tf.div(tf.mul(dy, a), tf.mul(b, b)))],
  ),
  pow: elementwise(
    (a, b) => tf.pow(a, b),
    (dy, a, b, y) => {
      const da = tf.mul(dy, tf.mul(b, tf.pow(a, tf.sub(b, scalar(1)))));
      // d/db = y log a where a > 0, exactly 0 elsewhere (never NaN from log of a non-positive base)
      const pos = tf.greater(a, scalar(0));
      const safeLog = tf.log(select(pos, a, tf.onesLike(a)));
      const db = select(pos, tf.mul(dy, tf.mul(y, safeLog)), tf.zerosLike(dy));
      return [da, db];
    },
  ),
  maximum: elementwise(
    (a, b) => nanPropagating(tf.maximum(a, b), a, b),
    (dy, a, b) => {
      const toA = tf.greaterEqual(a, b); // ties go to a
      const zero = tf.zerosLike(dy);
      return [select(toA, dy, zero), select(toA, zero, dy)];
    },
  ),
  minimum: elementwise(
    (a, b) => nanPropagating(tf.minimum(a, b), a, b),
    (dy, a, b) => {
      const toA = tf.lessEqual(a, b); // ties go to a
      const zero = tf.zerosLike(dy);
      return [select(toA, dy, zero), select(toA, zero, dy)];
    },
  ),
  neg: unary(
    (x) => tf.neg(x),
    (dy) => tf.neg(dy),
  ),
  abs: unary(
    (x) => tf.abs(x),
    (dy, x) => tf.mul(dy, tf.sign(x)),
  ), // sign(0) = 0: abs'(0) = 0
  exp: unary(
    (x) => tf.exp(x),
    (dy, _x, y) => tf.mul(dy, y),
  ),
  log: unary(
    (x) => tf.log(x),
    (dy, x) => tf.div(dy, x),
  ),
  sqrt: unary(
    (x) => tf.sqrt(x),
    (dy, _x, y) => tf.div(dy, tf.mul(y, scalar(2))),
  ),
  relu: unary(
    (x) => tf.relu(x),
    (dy, x) => reluGrad(dy, x),
  ), // relu'(0) = 0
  sigmoid: unary(
    (x) => tf.sigmoid(x),
    (dy, _x, y) => tf.mul(dy, tf.mul(y, tf.sub(scalar(1), y))),
  ),
  tanh: unary(
    (x) => tf.tanh(x),
    (dy, _x, y) => tf.mul(dy, tf.sub(scalar(1), tf.mul(y, y))),
  ),
  softplus: unary(
    (x) => tf.add(tf.relu(x), log1p(tf.exp(tf.neg(tf.abs(x))))), // max(x, 0) + log1p(e^-|x|)
    (dy, x) => tf.mul(dy, tf.sigmoid(x)),
  ),
  elu: {
    // x > 0 ? x : alpha (e^x - 1); e^min(x, 0) keeps the unused branch finite
    forward: ([x], { alpha }) => [select(tf.greater(x!, scalar(0)), x!, tf.mul(scalar(alpha), expm1(tf.minimum(x!, scalar(0)))))],
    backward: (dy, [x], _y, { alpha }) => [
      select(tf.greater(x!, scalar(0)), dy, tf.mul(dy, tf.mul(scalar(alpha), tf.exp(tf.minimum(x!, scalar(0)))))),
    ],
  },
  softmax: {
    forward: ([x], { axis }) => {
      const e = tf.exp(tf.sub(x!, tf.max(x!, axis, true)));
      return [tf.div(e, tf.sum(e, axis, true))];
    },
    backward: (dy, _xs, y, { axis }) => [tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), axis, true)))],
  },
  logSoftmax: {
    forward: ([x], { axis }) => {
      const s = tf.sub(x!, tf.max(x!, axis, true));
      return [tf.sub(s, tf.log(tf.sum(tf.exp(s), axis, true)))];
    },
    backward: (dy, _xs, y, { axis }) => [tf.sub(dy, tf.mul(tf.exp(y), tf.sum(dy, axis, true)))],
  },
  reduceSum: {
    forward: ([x], { axes, keepDims }, ctx) => [emptyReduce(x!, ctx, 0) ?? tf.sum(x!, axes, keepDims)],
    backward: (dy, [x], _y, { axes }) => [broadcastTo(tf.reshape(dy, keepDimsShape(x!.shape, axes)), x!.shape)],
  },
  reduceMean: {
    forward: ([x], { axes, keepDims }, ctx) => [emptyReduce(x!, ctx, NaN) ?? tf.mean(x!, axes, keepDims)],
    backward: (dy, [x], _y, { axes }) => {
      const count = prod(axes.map((a) => x!.shape[a]!));
      return [broadcastTo(tf.div(tf.reshape(dy, keepDimsShape(x!.shape, axes)), scalar(count)), x!.shape)];
    },
  },
  reduceMax: {
    forward: ([x], { axes, keepDims }, ctx) => [emptyReduce(x!, ctx, -Infinity) ?? tf.max(x!, axes, keepDims)],
    backward: (dy, [x], y, { axes }) => {
      // every position equal to the max gets the full upstream gradient
      const keep = keepDimsShape(x!.shape, axes);
      const hit = tf.equal(x!, tf.reshape(y, keep));
      return [select(hit, broadcastTo(tf.reshape(dy, keep), x!.shape), tf.zerosLike(x!))];
    },
  },
  concat: {
    forward: (xs, { axis }) => [xs.length === 1 ? alias(xs[0]!) : concat(xs, axis)],
    backward: (dy, xs, _y, { axis }) =>
      xs.length === 1
        ? [dy]
        : split(
            dy,
            xs.map((x) => x.shape[axis]!),
            axis,
          ),
  },
  reshape: {
    forward: ([x], _a, ctx) => [tf.reshape(x!, ctx.outShape())],
    backward: (dy, [x]) => [tf.reshape(dy, x!.shape)],
  },
  transpose: {
    forward: ([x], { perm }) => [tf.transpose(x!, perm)],
    backward: (dy, _xs, _y, { perm }) => {
      const inverse = new Array<number>(perm.length);
      perm.forEach((p, i) => {
        inverse[p] = i;
      });
      return [tf.transpose(dy, inverse)];
    },
  },
  slice: {
    forward: ([x], { starts, ends, axes }) => {
      const begin = x!.shape.map(() => 0),
        size = [...x!.shape];
      axes.forEach((ax, i) => {
        begin[ax] = starts[i]!;
        size[ax] = ends[i]! - starts[i]!;
      });
      return [tf.slice(x!, begin, size)];
    },
    backward: (dy, [x], _y, { starts, ends, axes }) => {
      const pads = x!.shape.map((): [number, number] => [0, 0]);
      axes.forEach((ax, i) => {
        pads[ax] = [starts[i]!, x!.shape[ax]! - ends[i]!];
      });
      return [tf.pad(dy, pads)];
    },
  },
  expand: {
    forward: ([x], _a, ctx) => [broadcastTo(x!, ctx.outShape())],
    backward: (dy, [x]) => [sumToShape(dy, x!.shape)],
  },
  gather: {
    forward: ([table, idx], { axis }, ctx) => {
      checkIndexRange(idx!, table!.shape[axis]!, ctx, `axis ${axis} of '${ctx.node.inputs[0]}'`);
      if (axis !== 0) return [gatherAxis(table!, idx!, axis)];
      const width = prod(table!.shape.slice(1));
      return [tf.reshape(gatherRows(tf.reshape(table!, [table!.shape[0]!, width]), tf.reshape(idx!, [idx!.size])), ctx.outShape())];
    },
    backward: (dy, [table, idx], _y, { axis }) => {
      // scatter-add dy rows back into the table through UnsortedSegmentSum
      const rows = table!.shape[axis]!;
      const pre = prod(table!.shape.slice(0, axis)),
        post = prod(table!.shape.slice(axis + 1)),
        n = idx!.size;
      let g = tf.reshape(dy, [pre, n, post]);
      if (pre !== 1) g = tf.transpose(g, [1, 0, 2]);
      let s: tf.Tensor = scatterRowsAdd(tf.reshape(g, [n, pre * post]), tf.reshape(idx!, [n]), rows);
      if (pre !== 1) s = tf.transpose(tf.reshape(s, [rows, pre, post]), [1, 0, 2]);
      return [tf.reshape(s, table!.shape), null];
    },
  },
  gatherAlongAxis: {
    forward: ([x, idx], { axis }, ctx) => {
      checkIndexRange(idx!, x!.shape[axis]!, ctx, `axis ${axis} of '${ctx.node.inputs[0]}'`);
      // tf.gather(x, idx, axis, batchDims = axis) reads out of bounds on wasm 4.22 for larger shapes
      // ([64, 50, 32] by [64, 2] crashes): gather rows of the flattened leading dims instead
      const { rows, ids, post, groups } = flatRows(x!, idx!, axis);
      return [tf.reshape(gatherRows(tf.reshape(x!, [rows, post]), ids, groups), ctx.outShape())];
    },
    backward: (dy, [x, idx], _y, { axis }) => {
      const { rows, ids, post, groups } = flatRows(x!, idx!, axis);
      const s = scatterRowsAdd(tf.reshape(dy, [ids.size, post]), ids, rows, groups);
      return [tf.reshape(s, x!.shape), null];
    },
  },
  // gatherAlongAxis' adjoint, on the same row kernels: forward is its backward, backward its forward
  scatterAlongAxis: {
    forward: ([updates, idx], { axis, size }, ctx) => {
      checkIndexRange(idx!, size, ctx, `axis ${axis} of the scattered output`);
      const out = ctx.outShape();
      const { rows, ids, post, groups } = flatRows(out, idx!, axis);
      return [tf.reshape(scatterRowsAdd(tf.reshape(updates!, [ids.size, post]), ids, rows, groups), out)];
    },
    backward: (dy, [updates, idx], _y, { axis }) => {
      const { rows, ids, post, groups } = flatRows(dy, idx!, axis);
      return [tf.reshape(gatherRows(tf.reshape(dy, [rows, post]), ids, groups), updates!.shape), null];
    },
  },
  topk: noGrad(([x, mask], { k }, ctx) => {
    // ranking key: x clamped to >= -FLT_MAX where valid (NaN counts as -FLT_MAX), -Infinity at padding
    const clamped = select(tf.isNaN(x!), scalar(-FLT_MAX), tf.maximum(x!, scalar(-FLT_MAX)));
    const key = mask ? select(mask, clamped, scalar(-Infinity)) : clamped;
    const shape = ctx.outShape(0);
    if (HOST_BACKENDS.has(ctx.backend)) {
      const n = key.shape[key.rank - 1]!;
      const { values, indices } = topkRows(key.dataSync(), key.size / n, n, k);
      return [tf.tensor(values, shape, 'float32'), tf.tensor(indices, shape, 'int32')];
    }
    // libtensorflow's TopKV2 breaks ties by the lower index, as the spec wants
    const r = tf.topk(key, k, true);
    return [r.values, r.indices];
  }),
  where: {
    forward: ([cond, a, b]) => [select(cond!, a!, b!)],
    // only the wanted branches (where(mask, x, 0): the constant 0 needs no full-size select and sum)
    backward: (dy, [cond, a, b], _y, _a, ctx) => {
      const zero = scalar(0);
      return [
        null,
        ctx.gradIdx.includes(1) ? sumToShape(select(cond!, dy, zero), a!.shape) : null,
        ctx.gradIdx.includes(2) ? sumToShape(select(cond!, zero, dy), b!.shape) : null,
      ];
    },
  },
  equal: noGrad(([a, b]) => [tf.equal(a!, b!)]),
  greater: noGrad(([a, b]) => [tf.greater(a!, b!)]),
  less: noGrad(([a, b]) => [tf.less(a!, b!)]),
  logicalAnd: noGrad(([a, b]) => [tf.logicalAnd(a!, b!)]),
  logicalOr: noGrad(([a, b]) => [tf.logicalOr(a!, b!)]),
  logicalNot: noGrad(([x]) => [tf.logicalNot(x!)]),
  cast: {
    forward: ([x], { to }) => {
      const want = tfDtype(to);
      if (x!.dtype === want) return [alias(x!)]; // float->float, int32<->int64 (both int32 here), bool->bool
      // to bool is x != 0 (NaN is true); wasm's Cast to bool keeps the raw value
      if (want === 'bool') return [tf.notEqual(x!, scalar(0, x!.dtype === 'float32' ? 'float32' : 'int32'))];
      return [tf.cast(x!, want)]; // float -> int truncates toward zero; bool -> 0/1
    },
    backward: (dy) => [dy], // only float32 -> float32 carries gradient
  },
  layerNorm: {
    forward: ([x, gamma, beta], { epsilon }) => {
      const axis = x!.rank - 1;
      const xc = tf.sub(x!, tf.mean(x!, axis, true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), axis, true), scalar(epsilon)));
      return [tf.add(tf.mul(tf.mul(xc, rstd), gamma!), beta!)];
    },
    backward: (dy, [x, gamma], _y, { epsilon }) => {
      const axis = x!.rank - 1;
      const d = x!.shape[axis]!;
      const xc = tf.sub(x!, tf.mean(x!, axis, true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), axis, true), scalar(epsilon)));
      const xhat = tf.mul(xc, rstd);
      const g = tf.mul(dy, gamma!);
      const dx = tf.mul(rstd, tf.sub(g, tf.add(tf.mean(g, axis, true), tf.mul(xhat, tf.mean(tf.mul(g, xhat), axis, true)))));
      return [dx, sumToShape(tf.mul(dy, xhat), [d]), sumToShape(dy, [d])];
    },
  },
  l2Normalize: {
    forward: ([x], { axis, epsilon }) => {
      const norm = tf.sqrt(tf.sum(tf.mul(x!, x!), axis, true));
      return [tf.div(x!, tf.maximum(norm, scalar(epsilon)))];
    },
    backward: (dy, [x], y, { axis, epsilon }) => {
      // y = x / max(n, eps): where n >= eps (maximum's ties go to n) dx = (dy - y <dy, y>) / n, else dy / eps
      const norm = tf.sqrt(tf.sum(tf.mul(x!, x!), axis, true));
      const useNorm = tf.greaterEqual(norm, scalar(epsilon));
      const denom = select(useNorm, norm, tf.fill(norm.shape, epsilon));
      const proj = tf.mul(y, tf.sum(tf.mul(dy, y), axis, true));
      return [tf.div(tf.sub(dy, select(useNorm, proj, tf.zerosLike(proj))), denom)];
    },
  },
  constant: noGrad((_xs, a, ctx) => {
    let data = constantCache.get(a);
    if (!data) {
      data = constantData(a.dtype, a.values, `constant '${ctx.node.id}'`);
      constantCache.set(a, data);
    }
    return [tf.tensor(data, [...a.shape], tfDtype(a.dtype))];
  }),
  stopGradient: noGrad(([x]) => [alias(x!)]),
};

/** Describe a tensor for internal error messages. */
export function describeTensor(t: tf.Tensor): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}
