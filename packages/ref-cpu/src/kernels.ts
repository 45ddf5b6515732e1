/**
 * Forward kernels: one per op of the vocabulary, in float64, written for clarity. The table is
 * typed over every OpName, so an op added to the spec without a kernel here does not compile.
 * Kernels never mutate their inputs and always return fresh data.
 */
import {
  type DType,
  type DimBindings,
  type NodeDecl,
  type OpAttrs,
  type OpName,
  formatShape,
  resolveDim,
  resolveShape,
  sizeOf,
} from '@lctr/spec';
import { type RefTensor, broadcastMap, broadcastStatic, splitAt, stridesOf, walk, wrapInt32 } from './tensor.ts';

export interface KernelContext {
  readonly bindings: DimBindings;
  readonly node: NodeDecl;
}
export type Kernel<A> = (inputs: RefTensor[], attrs: A, ctx: KernelContext) => RefTensor[];
export type KernelTable = { readonly [N in OpName]: Kernel<OpAttrs[N]> };

/** The most negative finite float32: a valid -Infinity is clamped to it so it still ranks above padding. */
export { FLOAT32_LOWEST } from '@lctr/spec';
import { FLOAT32_LOWEST } from '@lctr/spec';

const tensor = (dtype: DType, shape: readonly number[], data: Float64Array): RefTensor => ({ dtype, shape: [...shape], data });

function unary(f: (x: number) => number): Kernel<unknown> {
  return ([x]) => [tensor(x!.dtype, x!.shape, x!.data.map(f))];
}

/** Elementwise a (op) b with numpy broadcasting; `int32` (when given) is used for int32 operands. */
function binary(f: (a: number, b: number) => number, int32?: (a: number, b: number) => number, outDtype?: DType): Kernel<unknown> {
  return ([a, b]) => {
    const shape = broadcastStatic(a!.shape, b!.shape);
    const ma = broadcastMap(a!.shape, shape),
      mb = broadcastMap(b!.shape, shape);
    const g = a!.dtype === 'int32' && int32 ? int32 : f;
    const out = new Float64Array(ma.length);
    for (let i = 0; i < out.length; i++) out[i] = g(a!.data[ma[i]!]!, b!.data[mb[i]!]!);
    return [tensor(outDtype ?? a!.dtype, shape, out)];
  };
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** Shape with 1 at each reduced axis (keepDims form); its broadcast map sends each input position to its output. */
export function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduce(
  init: number,
  step: (acc: number, v: number) => number,
  finish?: (acc: number, count: number) => number,
): Kernel<OpAttrs['reduceSum']> {
  return ([x], { axes, keepDims }) => {
    const keep = keepDimsShape(x!.shape, axes);
    const map = broadcastMap(keep, x!.shape);
    const out = new Float64Array(sizeOf(keep)).fill(init);
    for (let f = 0; f < map.length; f++) out[map[f]!] = step(out[map[f]!]!, x!.data[f]!);
    if (finish) {
      const count = sizeOf(axes.map((a) => x!.shape[a]!));
      for (let i = 0; i < out.length; i++) out[i] = finish(out[i]!, count);
    }
    const shape = keepDims ? keep : x!.shape.filter((_, i) => !axes.includes(i));
    return [tensor(x!.dtype, shape, out)];
  };
}

/** Call f for every 1-D lane along `axis` (x viewed as [outer, n, inner]): element j of a lane is at base + j * stride. */
export function lanes(shape: readonly number[], axis: number, f: (base: number, stride: number, n: number) => void): void {
  const { outer, n, inner } = splitAt(shape, axis);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) f(o * n * inner + i, inner, n);
}

/** Resolve a reshape target: symbolic dims through the bindings, one -1 from the element count. */
export function reshapeTarget(
  target: readonly (number | string)[],
  size: number,
  bindings: DimBindings,
  from: readonly number[],
): number[] {
  const dims = target.map((d) => (d === -1 ? -1 : resolveDim(d, bindings)));
  const known = sizeOf(dims.filter((d) => d !== -1));
  const free = dims.indexOf(-1);
  if (free >= 0) {
    if (known === 0 || size % known !== 0)
      throw new Error(`cannot reshape ${formatShape(from)} to ${formatShape(target)}: ${size} elements do not divide by ${known}`);
    dims[free] = size / known;
  } else if (known !== size) {
    throw new Error(
      `cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(target)} = ${formatShape(dims)} (${known} elements)`,
    );
  }
  return dims;
}

/** Check one gather index; the error names the node, the index and the valid range. */
/** Sizes of a gather or scatter along an axis: outer leading rows, n entries along the axis, k picked, inner after it. */
export interface AlongAxis {
  outer: number;
  n: number;
  k: number;
  inner: number;
}

/** x [outer, n, inner] at idx [outer, k] -> [outer, k, inner] (gatherAlongAxis; its adjoint's gradient). */
export function gatherAlong(x: ArrayLike<number>, { outer, n, k, inner }: AlongAxis, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(outer * k * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const src = (o * n + idx[o * k + j]!) * inner,
        dst = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = x[src + i]!;
    }
  }
  return out;
}

/**
 * u [outer, k, inner] added into zeros [outer, n, inner] at idx [outer, k], repeats summed (scatterAlongAxis; gatherAlongAxis' gradient).
 */
export function scatterAlong(u: ArrayLike<number>, { outer, n, k, inner }: AlongAxis, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(outer * n * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const dst = (o * n + idx[o * k + j]!) * inner,
        src = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += u[src + i]!;
    }
  }
  return out;
}

function checkIndex(v: number, pos: number, rows: number, axis: number, node: NodeDecl): void {
  if (!(Number.isInteger(v) && v >= 0 && v < rows)) {
    throw new Error(
      `index ${v} at flat position ${pos} of '${node.inputs[1]}' is out of range for '${node.inputs[0]}' ` +
        `with ${rows} entries along axis ${axis} (valid 0..${rows - 1})`,
    );
  }
}

/** Truncate toward zero; NaN and ±Infinity become 0 (runtimes disagree there; do not rely on it). */
function toInt(v: number): number {
  return Number.isFinite(v) ? Math.trunc(v) : 0;
}

/** Mean and 1/sqrt(biased variance + epsilon) of the row X[o .. o + d) (layerNorm, forward and backward). */
export function layerNormStats(X: Float64Array, o: number, d: number, epsilon: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let j = 0; j < d; j++) mean += X[o + j]!;
  mean /= d;
  let v = 0;
  for (let j = 0; j < d; j++) v += (X[o + j]! - mean) ** 2;
  v /= d;
  return { mean, rstd: 1 / Math.sqrt(v + epsilon) };
}

/** topk ranking of one lane: valid first, then key descending, then lower index (keys hold no NaN: see the kernel). */
export function topkOrder(keys: readonly number[], valid: readonly boolean[]): number[] {
  const order = keys.map((_, i) => i);
  order.sort((p, q) => {
    if (valid[p] !== valid[q]) return valid[p] ? -1 : 1;
    if (valid[p]) {
      const kp = keys[p]!,
        kq = keys[q]!;
      if (kp !== kq) return kq > kp ? 1 : -1;
    }
    return p - q;
  });
  return order;
}

export const KERNELS: KernelTable = {
  matmul: ([a, b]) => {
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const [k2, n] = b!.shape.slice(-2) as [number, number];
    if (k !== k2) throw new Error(`inner dims differ: ${formatShape(a!.shape)} @ ${formatShape(b!.shape)}`);
    const aBatch = a!.shape.slice(0, -2),
      bBatch = b!.shape.slice(0, -2);
    const batch = broadcastStatic(aBatch, bBatch);
    const ma = broadcastMap(aBatch, batch),
      mb = broadcastMap(bBatch, batch);
    const out = new Float64Array(ma.length * m * n);
    const A = a!.data,
      B = b!.data;
    for (let t = 0; t < ma.length; t++) {
      const ao = ma[t]! * m * k,
        bo = mb[t]! * k * n,
        oo = t * m * n;
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < k; p++) {
          const av = A[ao + i * k + p]!;
          const brow = bo + p * n,
            orow = oo + i * n;
          for (let j = 0; j < n; j++) out[orow + j] += av * B[brow + j]!;
        }
      }
    }
    return [tensor('float32', [...batch, m, n], out)];
  },
  add: binary(
    (a, b) => a + b,
    (a, b) => wrapInt32(a + b),
  ),
  sub: binary(
    (a, b) => a - b,
    (a, b) => wrapInt32(a - b),
  ),
  mul: binary(
    (a, b) => a * b,
    (a, b) => Math.imul(a, b),
  ),
  div: binary((a, b) => a / b),
  pow: binary((a, b) => a ** b),
  maximum: binary(Math.max),
  minimum: binary(Math.min),
  neg: ([x]) => [tensor(x!.dtype, x!.shape, x!.data.map(x!.dtype === 'int32' ? (v) => wrapInt32(-v) : (v) => -v))],
  abs: unary(Math.abs),
  exp: unary(Math.exp),
  log: unary(Math.log),
  sqrt: unary(Math.sqrt),
  // max(x, 0) as IEEE's maximum: NaN stays NaN (like tfjs and ONNX Runtime); `x > 0 ? x : 0` turned it into 0
  relu: unary((v) => Math.max(v, 0)),
  sigmoid: unary(sigmoid),
  tanh: unary(Math.tanh),
  softplus: unary(softplus),
  elu: ([x], { alpha }) => [
    tensor(
      x!.dtype,
      x!.shape,
      x!.data.map((v) => (v > 0 ? v : alpha * Math.expm1(v))),
    ),
  ],
  softmax: ([x], { axis }) => {
    const X = x!.data,
      out = new Float64Array(X.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let m = -Infinity;
      for (let j = 0; j < n; j++) m = Math.max(m, X[base + j * s]!);
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(X[base + j * s]! - m);
        out[base + j * s] = e;
        sum += e;
      }
      for (let j = 0; j < n; j++) out[base + j * s]! /= sum;
    });
    return [tensor(x!.dtype, x!.shape, out)];
  },
  logSoftmax: ([x], { axis }) => {
    const X = x!.data,
      out = new Float64Array(X.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let m = -Infinity;
      for (let j = 0; j < n; j++) m = Math.max(m, X[base + j * s]!);
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(X[base + j * s]! - m);
      const lse = m + Math.log(sum);
      for (let j = 0; j < n; j++) out[base + j * s] = X[base + j * s]! - lse;
    });
    return [tensor(x!.dtype, x!.shape, out)];
  },
  reduceSum: reduce(0, (acc, v) => acc + v),
  reduceMean: reduce(
    0,
    (acc, v) => acc + v,
    (acc, count) => acc / count,
  ),
  // NaN propagates: once the accumulator is NaN no comparison replaces it.
  reduceMax: reduce(-Infinity, (acc, v) => (v > acc || Number.isNaN(v) ? v : acc)),
  concat: (xs, { axis }) => {
    const first = xs[0]!;
    const shape = [...first.shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const outStrides = stridesOf(shape);
    const out = new Float64Array(sizeOf(shape));
    let along = 0;
    for (const x of xs) {
      const map = walk(x.shape, outStrides, along * outStrides[axis]!);
      for (let f = 0; f < map.length; f++) out[map[f]!] = x.data[f]!;
      along += x.shape[axis]!;
    }
    return [tensor(first.dtype, shape, out)];
  },
  reshape: ([x], { shape }, { bindings }) => [tensor(x!.dtype, reshapeTarget(shape, x!.data.length, bindings, x!.shape), x!.data.slice())],
  transpose: ([x], { perm }) => {
    const inStrides = stridesOf(x!.shape);
    const shape = perm.map((p) => x!.shape[p]!);
    const map = walk(
      shape,
      perm.map((p) => inStrides[p]!),
    );
    const out = new Float64Array(map.length);
    for (let f = 0; f < map.length; f++) out[f] = x!.data[map[f]!]!;
    return [tensor(x!.dtype, shape, out)];
  },
  slice: ([x], { starts, ends, axes }) => {
    const inStrides = stridesOf(x!.shape);
    const shape = [...x!.shape];
    let offset = 0;
    axes.forEach((ax, i) => {
      shape[ax] = ends[i]! - starts[i]!;
      offset += starts[i]! * inStrides[ax]!;
    });
    const map = walk(shape, inStrides, offset);
    const out = new Float64Array(map.length);
    for (let f = 0; f < map.length; f++) out[f] = x!.data[map[f]!]!;
    return [tensor(x!.dtype, shape, out)];
  },
  expand: ([x], { shape }, { bindings }) => {
    const target = broadcastStatic(x!.shape, resolveShape(shape, bindings));
    const map = broadcastMap(x!.shape, target);
    const out = new Float64Array(map.length);
    for (let f = 0; f < map.length; f++) out[f] = x!.data[map[f]!]!;
    return [tensor(x!.dtype, target, out)];
  },
  gather: ([table, indices], { axis }, { node }) => {
    const { outer, n: rows, inner } = splitAt(table!.shape, axis);
    const idx = indices!.data,
      J = idx.length;
    for (let j = 0; j < J; j++) checkIndex(idx[j]!, j, rows, axis, node);
    const shape = [...table!.shape.slice(0, axis), ...indices!.shape, ...table!.shape.slice(axis + 1)];
    const out = new Float64Array(outer * J * inner);
    const T = table!.data;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < J; j++) {
        const src = (o * rows + idx[j]!) * inner,
          dst = (o * J + j) * inner;
        for (let i = 0; i < inner; i++) out[dst + i] = T[src + i]!;
      }
    }
    return [tensor(table!.dtype, shape, out)];
  },
  gatherAlongAxis: ([x, indices], { axis }, { node }) => {
    const { outer, n: rows, inner } = splitAt(x!.shape, axis);
    const k = indices!.shape[axis]!;
    const idx = indices!.data;
    for (let j = 0; j < idx.length; j++) checkIndex(idx[j]!, j, rows, axis, node);
    const shape = [...x!.shape.slice(0, axis), k, ...x!.shape.slice(axis + 1)];
    return [tensor(x!.dtype, shape, gatherAlong(x!.data, { outer, n: rows, k, inner }, idx))];
  },
  scatterAlongAxis: ([updates, indices], { axis, size }, { node }) => {
    const { outer, n: k, inner } = splitAt(updates!.shape, axis);
    const idx = indices!.data;
    for (let j = 0; j < idx.length; j++) {
      const v = idx[j]!;
      if (!(Number.isInteger(v) && v >= 0 && v < size)) {
        throw new Error(
          `index ${v} at flat position ${j} of '${node.inputs[1]}' is out of range for a scatter of '${node.inputs[0]}' into ${size} ` +
            `entries along axis ${axis} (valid 0..${size - 1})`,
        );
      }
    }
    const shape = [...updates!.shape.slice(0, axis), size, ...updates!.shape.slice(axis + 1)];
    return [tensor(updates!.dtype, shape, scatterAlong(updates!.data, { outer, n: size, k, inner }, idx))];
  },
  topk: ([x, mask], { k }) => {
    const n = x!.shape[x!.shape.length - 1]!;
    if (k > n) throw new Error(`k = ${k} is greater than the last axis (${n})`);
    const rows = n === 0 ? 0 : x!.data.length / n;
    const maskMap = mask ? broadcastMap(mask.shape, x!.shape) : undefined;
    const shape = [...x!.shape.slice(0, -1), k];
    const values = new Float64Array(rows * k),
      indices = new Float64Array(rows * k);
    for (let r = 0; r < rows; r++) {
      const keys: number[] = [],
        valid: boolean[] = [];
      for (let j = 0; j < n; j++) {
        const f = r * n + j;
        const ok = maskMap ? mask!.data[maskMap[f]!] !== 0 : true;
        valid.push(ok);
        // the spec's key: x clamped to >= -FLT_MAX, a NaN at a valid position counts as -FLT_MAX
        const v = x!.data[f]!;
        keys.push(ok ? (Number.isNaN(v) ? FLOAT32_LOWEST : Math.max(v, FLOAT32_LOWEST)) : -Infinity);
      }
      const order = topkOrder(keys, valid);
      for (let j = 0; j < k; j++) {
        values[r * k + j] = keys[order[j]!]!;
        indices[r * k + j] = order[j]!;
      }
    }
    return [tensor('float32', shape, values), tensor('int32', shape, indices)];
  },
  where: ([cond, a, b]) => {
    const shape = broadcastStatic(cond!.shape, broadcastStatic(a!.shape, b!.shape));
    const mc = broadcastMap(cond!.shape, shape),
      ma = broadcastMap(a!.shape, shape),
      mb = broadcastMap(b!.shape, shape);
    const out = new Float64Array(mc.length);
    for (let f = 0; f < out.length; f++) out[f] = cond!.data[mc[f]!] ? a!.data[ma[f]!]! : b!.data[mb[f]!]!;
    return [tensor(a!.dtype, shape, out)];
  },
  equal: binary((a, b) => (a === b ? 1 : 0), undefined, 'bool'),
  greater: binary((a, b) => (a > b ? 1 : 0), undefined, 'bool'),
  less: binary((a, b) => (a < b ? 1 : 0), undefined, 'bool'),
  logicalAnd: binary((a, b) => (a && b ? 1 : 0), undefined, 'bool'),
  logicalOr: binary((a, b) => (a || b ? 1 : 0), undefined, 'bool'),
  logicalNot: ([x]) => [
    tensor(
      'bool',
      x!.shape,
      x!.data.map((v) => (v ? 0 : 1)),
    ),
  ],
  cast: ([x], { to }) => {
    const conv: (v: number) => number =
      to === 'float32'
        ? (v) => v
        : to === 'bool'
          ? (v) => (v !== 0 ? 1 : 0) // NaN != 0: true
          : to === 'int32'
            ? (v) => wrapInt32(toInt(v))
            : toInt;
    return [tensor(to, x!.shape, x!.data.map(conv))];
  },
  layerNorm: ([x, gamma, beta], { epsilon }) => {
    const d = x!.shape[x!.shape.length - 1]!;
    const X = x!.data,
      out = new Float64Array(X.length);
    for (let o = 0; o < X.length; o += d) {
      const { mean, rstd } = layerNormStats(X, o, d, epsilon);
      for (let j = 0; j < d; j++) out[o + j] = (X[o + j]! - mean) * rstd * gamma!.data[j]! + beta!.data[j]!;
    }
    return [tensor(x!.dtype, x!.shape, out)];
  },
  l2Normalize: ([x], { axis, epsilon }) => {
    const X = x!.data,
      out = new Float64Array(X.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let ss = 0;
      for (let j = 0; j < n; j++) ss += X[base + j * s]! ** 2;
      const den = Math.max(Math.sqrt(ss), epsilon);
      for (let j = 0; j < n; j++) out[base + j * s] = X[base + j * s]! / den;
    });
    return [tensor(x!.dtype, x!.shape, out)];
  },
  constant: (_, { dtype, shape, values }) => [
    tensor(
      dtype,
      shape,
      Float64Array.from(values, (v) => (dtype === 'bool' ? (v ? 1 : 0) : v)),
    ),
  ],
  stopGradient: ([x]) => [tensor(x!.dtype, x!.shape, x!.data.slice())],
};
