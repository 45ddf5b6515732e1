/**
 * Reverse-mode rules: for each op, the cotangent of every input given the cotangents of its
 * outputs. Typed over every OpName: an op either has a rule or says explicitly, with a reason,
 * that no gradient flows through it. Which inputs receive gradient at all is the spec's
 * `gradInputs` (float inputs of slots marked grad); a rule returns null for the others.
 */
import { type DimBindings, type NodeDecl, type OpAttrs, type OpName, sizeOf } from '@lctr/spec';
import { gatherAlong, keepDimsShape, lanes, layerNormStats, scatterAlong } from './kernels.ts';
import { type RefTensor, broadcastMap, broadcastStatic, splitAt, stridesOf, unbroadcast, walk } from './tensor.ts';

export interface GradContext<A> {
  /** forward inputs and outputs of the node */
  readonly inputs: readonly RefTensor[];
  readonly outputs: readonly RefTensor[];
  /** cotangent of each output (zeros for an output nothing downstream used) */
  readonly dys: readonly Float64Array[];
  readonly attrs: A;
  readonly bindings: DimBindings;
  readonly node: NodeDecl;
}
/** Cotangent for each input (same length as inputs), null where no gradient flows. */
export type GradRule<A> = (ctx: GradContext<A>) => Array<Float64Array | null>;
/** An op through which no gradient flows, with the reason. */
export interface NoGradient {
  readonly noGradient: string;
}
export type GradTable = { readonly [N in OpName]: GradRule<OpAttrs[N]> | NoGradient };

export function isNoGradient(r: GradRule<never> | NoGradient): r is NoGradient {
  return typeof r === 'object';
}

const none = (reason: string): NoGradient => ({ noGradient: reason });

/** Elementwise unary: dx = dy * f'(x, y). */
function unary(d: (x: number, y: number) => number): GradRule<unknown> {
  return ({ inputs: [x], outputs: [y], dys: [dy] }) => {
    const out = new Float64Array(dy!.length);
    for (let i = 0; i < out.length; i++) out[i] = dy![i]! * d(x!.data[i]!, y!.data[i]!);
    return [out];
  };
}

/** Elementwise broadcasting binary: per output element, the partials to a and b; summed back over broadcast axes. */
function binary(da: (a: number, b: number, y: number) => number, db: (a: number, b: number, y: number) => number): GradRule<unknown> {
  return ({ inputs: [a, b], outputs: [y], dys: [dy] }) => {
    const ma = broadcastMap(a!.shape, y!.shape),
      mb = broadcastMap(b!.shape, y!.shape);
    const ga = new Float64Array(a!.data.length),
      gb = new Float64Array(b!.data.length);
    for (let f = 0; f < dy!.length; f++) {
      const av = a!.data[ma[f]!]!,
        bv = b!.data[mb[f]!]!,
        yv = y!.data[f]!,
        g = dy![f]!;
      ga[ma[f]!] += g * da(av, bv, yv);
      gb[mb[f]!] += g * db(av, bv, yv);
    }
    return [ga, gb];
  };
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Gradient of a reduction given, per input element, the weight of the output cotangent it receives. */
function reduceGrad(weight: (x: number, y: number, count: number) => number): GradRule<OpAttrs['reduceSum']> {
  return ({ inputs: [x], outputs: [y], dys: [dy], attrs: { axes } }) => {
    const map = broadcastMap(keepDimsShape(x!.shape, axes), x!.shape);
    const count = sizeOf(axes.map((a) => x!.shape[a]!));
    const out = new Float64Array(x!.data.length);
    for (let f = 0; f < out.length; f++) out[f] = dy![map[f]!]! * weight(x!.data[f]!, y!.data[map[f]!]!, count);
    return [out];
  };
}

/** Scatter-add of a gathered cotangent back into the source: the adjoint of out[f] = x[map[f]]. */
function scatter(dy: Float64Array, map: Int32Array, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let f = 0; f < map.length; f++) out[map[f]!] += dy[f]!;
  return out;
}

export const GRADIENTS: GradTable = {
  matmul: ({ inputs: [a, b], dys: [dy] }) => {
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const n = b!.shape[b!.shape.length - 1]!;
    const aBatch = a!.shape.slice(0, -2),
      bBatch = b!.shape.slice(0, -2);
    // The output's batch shape is the broadcast of both; map each output batch to the input batches.
    const yBatch = broadcastStatic(aBatch, bBatch);
    const ma = broadcastMap(aBatch, yBatch),
      mb = broadcastMap(bBatch, yBatch);
    const A = a!.data,
      B = b!.data,
      G = dy!;
    const ga = new Float64Array(A.length),
      gb = new Float64Array(B.length);
    for (let t = 0; t < ma.length; t++) {
      const ao = ma[t]! * m * k,
        bo = mb[t]! * k * n,
        oo = t * m * n;
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < k; p++) {
          const av = A[ao + i * k + p]!;
          const brow = bo + p * n,
            orow = oo + i * n;
          let s = 0;
          for (let j = 0; j < n; j++) {
            s += G[orow + j]! * B[brow + j]!;
            gb[brow + j] += av * G[orow + j]!;
          }
          ga[ao + i * k + p] += s;
        }
      }
    }
    return [ga, gb];
  },
  add: binary(
    () => 1,
    () => 1,
  ),
  sub: binary(
    () => 1,
    () => -1,
  ),
  mul: binary(
    (_, b) => b,
    (a) => a,
  ),
  div: binary(
    (_, b) => 1 / b,
    (a, b) => -a / (b * b),
  ),
  pow: binary(
    (a, b) => b * a ** (b - 1),
    (a, _, y) => (a > 0 ? y * Math.log(a) : 0),
  ),
  maximum: binary(
    (a, b) => (a >= b ? 1 : 0),
    (a, b) => (a >= b ? 0 : 1),
  ),
  minimum: binary(
    (a, b) => (a <= b ? 1 : 0),
    (a, b) => (a <= b ? 0 : 1),
  ),
  neg: unary(() => -1),
  abs: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)),
  exp: unary((_, y) => y),
  log: unary((x) => 1 / x),
  sqrt: unary((_, y) => 0.5 / y),
  relu: unary((x) => (x > 0 ? 1 : 0)),
  sigmoid: unary((_, y) => y * (1 - y)),
  tanh: unary((_, y) => 1 - y * y),
  softplus: unary((x) => sigmoid(x)),
  elu: ({ inputs: [x], dys: [dy], attrs: { alpha } }) => [dy!.map((g, i) => (x!.data[i]! > 0 ? g : g * alpha * Math.exp(x!.data[i]!)))],
  softmax: ({ inputs: [x], outputs: [y], dys: [dy], attrs: { axis } }) => {
    const Y = y!.data,
      G = dy!,
      out = new Float64Array(Y.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += G[base + j * s]! * Y[base + j * s]!;
      for (let j = 0; j < n; j++) out[base + j * s] = Y[base + j * s]! * (G[base + j * s]! - dot);
    });
    return [out];
  },
  logSoftmax: ({ inputs: [x], outputs: [y], dys: [dy], attrs: { axis } }) => {
    const Y = y!.data,
      G = dy!,
      out = new Float64Array(Y.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let sum = 0;
      for (let j = 0; j < n; j++) sum += G[base + j * s]!;
      for (let j = 0; j < n; j++) out[base + j * s] = G[base + j * s]! - Math.exp(Y[base + j * s]!) * sum;
    });
    return [out];
  },
  reduceSum: reduceGrad(() => 1),
  reduceMean: reduceGrad((_x, _y, count) => 1 / count),
  // Every position equal to the max receives the full upstream gradient (ties included).
  reduceMax: reduceGrad((x, y) => (x === y ? 1 : 0)),
  concat: ({ inputs, outputs: [y], dys: [dy], attrs: { axis } }) => {
    const outStrides = stridesOf(y!.shape);
    let along = 0;
    return inputs.map((x) => {
      const map = walk(x.shape, outStrides, along * outStrides[axis]!);
      along += x.shape[axis]!;
      const g = new Float64Array(map.length);
      for (let f = 0; f < map.length; f++) g[f] = dy![map[f]!]!;
      return g;
    });
  },
  reshape: ({ dys: [dy] }) => [dy!.slice()],
  transpose: ({ inputs: [x], dys: [dy], attrs: { perm } }) => {
    const inStrides = stridesOf(x!.shape);
    const map = walk(
      perm.map((p) => x!.shape[p]!),
      perm.map((p) => inStrides[p]!),
    );
    return [scatter(dy!, map, x!.data.length)];
  },
  slice: ({ inputs: [x], outputs: [y], dys: [dy], attrs: { starts, axes } }) => {
    const inStrides = stridesOf(x!.shape);
    const offset = axes.reduce((o, ax, i) => o + starts[i]! * inStrides[ax]!, 0);
    return [scatter(dy!, walk(y!.shape, inStrides, offset), x!.data.length)];
  },
  expand: ({ inputs: [x], outputs: [y], dys: [dy] }) => [unbroadcast(dy!, y!.shape, x!.shape)],
  gather: ({ inputs: [table, indices], dys: [dy], attrs: { axis } }) => {
    const { outer, n: rows, inner } = splitAt(table!.shape, axis);
    const idx = indices!.data,
      J = idx.length;
    const g = new Float64Array(table!.data.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < J; j++) {
        const dst = (o * rows + idx[j]!) * inner,
          src = (o * J + j) * inner;
        for (let i = 0; i < inner; i++) g[dst + i] += dy![src + i]!;
      }
    }
    return [g, null];
  },
  gatherAlongAxis: ({ inputs: [x, indices], dys: [dy], attrs: { axis } }) => {
    const { outer, n: rows, inner } = splitAt(x!.shape, axis);
    return [scatterAlong(dy!, { outer, n: rows, k: indices!.shape[axis]!, inner }, indices!.data), null];
  },
  // the adjoint's adjoint: each update's gradient is dy at its index
  scatterAlongAxis: ({ inputs: [updates, indices], dys: [dy], attrs: { axis, size } }) => {
    const { outer, n: k, inner } = splitAt(updates!.shape, axis);
    return [gatherAlong(dy!, { outer, n: size, k, inner }, indices!.data), null];
  },
  topk: none(
    'selection is discrete: neither values nor indices carry gradient; gather what you need by the indices (gatherAlongAxis carries ' +
      'gradient)',
  ),
  where: ({ inputs: [cond, a, b], outputs: [y], dys: [dy] }) => {
    const mc = broadcastMap(cond!.shape, y!.shape),
      ma = broadcastMap(a!.shape, y!.shape),
      mb = broadcastMap(b!.shape, y!.shape);
    const ga = new Float64Array(a!.data.length),
      gb = new Float64Array(b!.data.length);
    // Select, never multiply by the mask: a NaN or Infinity in the unselected branch must not leak.
    for (let f = 0; f < dy!.length; f++) {
      if (cond!.data[mc[f]!]) ga[ma[f]!] += dy![f]!;
      else gb[mb[f]!] += dy![f]!;
    }
    return [null, ga, gb];
  },
  equal: none('comparison: bool output'),
  greater: none('comparison: bool output'),
  less: none('comparison: bool output'),
  logicalAnd: none('bool inputs and output'),
  logicalOr: none('bool inputs and output'),
  logicalNot: none('bool input and output'),
  // float32 -> float32 is the identity; a cast to int or bool has no gradient (gradInputs excludes it).
  cast: ({ inputs: [x], dys: [dy], attrs: { to } }) => [x!.dtype === 'float32' && to === 'float32' ? dy!.slice() : null],
  layerNorm: ({ inputs: [x, gamma], dys: [dy], attrs: { epsilon } }) => {
    const d = x!.shape[x!.shape.length - 1]!;
    const X = x!.data,
      G = dy!,
      gam = gamma!.data;
    const gx = new Float64Array(X.length),
      gg = new Float64Array(d),
      gbeta = new Float64Array(d);
    const xhat = new Float64Array(d),
      gh = new Float64Array(d);
    for (let o = 0; o < X.length; o += d) {
      const { mean, rstd } = layerNormStats(X, o, d, epsilon);
      let meanGh = 0,
        meanGhXhat = 0;
      for (let j = 0; j < d; j++) {
        xhat[j] = (X[o + j]! - mean) * rstd;
        gh[j] = G[o + j]! * gam[j]!;
        meanGh += gh[j]!;
        meanGhXhat += gh[j]! * xhat[j]!;
        gg[j] += G[o + j]! * xhat[j]!;
        gbeta[j] += G[o + j]!;
      }
      meanGh /= d;
      meanGhXhat /= d;
      for (let j = 0; j < d; j++) gx[o + j] = rstd * (gh[j]! - meanGh - xhat[j]! * meanGhXhat);
    }
    return [gx, gg, gbeta];
  },
  l2Normalize: ({ inputs: [x], outputs: [y], dys: [dy], attrs: { axis, epsilon } }) => {
    const X = x!.data,
      Y = y!.data,
      G = dy!,
      out = new Float64Array(X.length);
    lanes(x!.shape, axis, (base, s, n) => {
      let ss = 0;
      for (let j = 0; j < n; j++) ss += X[base + j * s]! ** 2;
      const norm = Math.sqrt(ss);
      if (norm >= epsilon) {
        // y = x / ||x||: dx = (dy - y <dy, y>) / ||x||
        let dot = 0;
        for (let j = 0; j < n; j++) dot += G[base + j * s]! * Y[base + j * s]!;
        for (let j = 0; j < n; j++) out[base + j * s] = (G[base + j * s]! - Y[base + j * s]! * dot) / norm;
      } else {
        // y = x / epsilon (the denominator is the constant)
        for (let j = 0; j < n; j++) out[base + j * s] = G[base + j * s]! / epsilon;
      }
    });
    return [out];
  },
  constant: none('no inputs'),
  stopGradient: none('identity forward, blocks the gradient by definition'),
};

/** Whether gradient can flow through an op at all (which inputs receive it is the spec's gradInputs). */
export function hasGradient(op: OpName): boolean {
  return !isNoGradient(GRADIENTS[op]);
}
