/**
 * The op vocabulary: every op is declared here once, with its input slots, attribute schema,
 * dtype/shape rule and which inputs carry gradient. Backends type their kernel tables as
 * Record<OpName, ...> over this list, so a backend that misses an op does not compile.
 */
import { type DType, isDType } from './dtype.ts';
import {
  type Dim,
  type Shape,
  addDims,
  broadcastShapes,
  canonicalDim,
  dimEquals,
  divDims,
  formatShape,
  isStaticDim,
  isSymbolName,
  normalizeAxis,
  productOf,
} from './dims.ts';

export interface ValueInfo {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

type NoAttrs = Record<string, never>;
export interface AxisAttrs {
  axis: number;
}
export interface ReduceAttrs {
  axes: number[];
  keepDims: boolean;
}

/** Attributes of every op, after defaults are filled and axes normalised. */
export interface OpAttrs {
  matmul: NoAttrs;
  add: NoAttrs;
  sub: NoAttrs;
  mul: NoAttrs;
  div: NoAttrs;
  pow: NoAttrs;
  maximum: NoAttrs;
  minimum: NoAttrs;
  neg: NoAttrs;
  abs: NoAttrs;
  exp: NoAttrs;
  log: NoAttrs;
  sqrt: NoAttrs;
  relu: NoAttrs;
  sigmoid: NoAttrs;
  tanh: NoAttrs;
  softplus: NoAttrs;
  elu: { alpha: number };
  softmax: AxisAttrs;
  logSoftmax: AxisAttrs;
  reduceSum: ReduceAttrs;
  reduceMean: ReduceAttrs;
  reduceMax: ReduceAttrs;
  concat: AxisAttrs;
  reshape: { shape: Dim[] };
  transpose: { perm: number[] };
  slice: { starts: number[]; ends: number[]; axes: number[] };
  expand: { shape: Dim[] };
  gather: AxisAttrs;
  gatherAlongAxis: AxisAttrs;
  scatterAlongAxis: { axis: number; size: number };
  topk: { k: number };
  where: NoAttrs;
  equal: NoAttrs;
  greater: NoAttrs;
  less: NoAttrs;
  logicalAnd: NoAttrs;
  logicalOr: NoAttrs;
  logicalNot: NoAttrs;
  cast: { to: DType };
  layerNorm: { epsilon: number };
  l2Normalize: { axis: number; epsilon: number };
  constant: { dtype: DType; shape: number[]; values: number[] };
  stopGradient: NoAttrs;
}
export type OpName = keyof OpAttrs;

export type AttrKind = 'int' | 'float' | 'bool' | 'ints' | 'floats' | 'dims' | 'dtype';
export interface AttrDef {
  kind: AttrKind;
  default?: unknown;
}

export interface InputSlot {
  name: string;
  /** true when the gradient flows into this input (for float inputs). */
  grad: boolean;
  optional?: boolean;
}

export interface OpDef<N extends OpName = OpName> {
  readonly name: N;
  readonly doc: string;
  readonly inputs: readonly InputSlot[];
  readonly outputs: readonly string[];
  readonly attrs: { readonly [K in keyof OpAttrs[N]]-?: AttrDef };
  /** Normalise attrs against the inputs (negative axes, defaults already filled). */
  normalize?(inputs: readonly ValueInfo[], attrs: OpAttrs[N]): OpAttrs[N];
  /** dtype and shape of each output; throws ShapeRuleError on a mismatch. */
  infer(inputs: readonly ValueInfo[], attrs: OpAttrs[N]): ValueInfo[];
}

/** Thrown by shape rules; the builder adds the node, op and input shapes to the message. */
export class ShapeRuleError extends Error {}

const fail = (msg: string): never => {
  throw new ShapeRuleError(msg);
};
const show = (v: ValueInfo): string => `${v.dtype}${formatShape(v.shape)}`;

function wantDtype(v: ValueInfo, slot: string, allowed: readonly DType[]): void {
  if (!allowed.includes(v.dtype)) fail(`input '${slot}' must be ${allowed.join(' or ')}, got ${show(v)}`);
}
function sameDtype(a: ValueInfo, b: ValueInfo, na: string, nb: string): void {
  if (a.dtype !== b.dtype) fail(`inputs '${na}' and '${nb}' must share a dtype, got ${show(a)} and ${show(b)}`);
}
function bcast(a: Shape, b: Shape): Dim[] {
  return broadcastShapes(a, b) ?? fail(`shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
}
function axisOf(axis: number, rank: number, what = 'axis'): number {
  return normalizeAxis(axis, rank) ?? fail(`${what} ${axis} is out of range for rank ${rank}`);
}

const FLOAT: readonly DType[] = ['float32'];
const NUMERIC: readonly DType[] = ['float32', 'int32', 'int64'];
const INTS: readonly DType[] = ['int32', 'int64'];
const COMPARABLE: readonly DType[] = ['float32', 'int32', 'int64'];

const x1: readonly InputSlot[] = [{ name: 'x', grad: true }];
const ab: readonly InputSlot[] = [
  { name: 'a', grad: true },
  { name: 'b', grad: true },
];
const abNoGrad: readonly InputSlot[] = [
  { name: 'a', grad: false },
  { name: 'b', grad: false },
];
const Y = ['y'] as const;

function unaryFloat<N extends OpName>(name: N, doc: string, attrs: OpDef<N>['attrs']): OpDef<N> {
  return {
    name,
    doc,
    inputs: x1,
    outputs: Y,
    attrs,
    infer: ([x]) => {
      wantDtype(x!, 'x', FLOAT);
      return [x!];
    },
  };
}
function binary<N extends OpName>(name: N, doc: string, dtypes: readonly DType[]): OpDef<N> {
  return {
    name,
    doc,
    inputs: ab,
    outputs: Y,
    attrs: {} as OpDef<N>['attrs'],
    infer: ([a, b]) => {
      wantDtype(a!, 'a', dtypes);
      wantDtype(b!, 'b', dtypes);
      sameDtype(a!, b!, 'a', 'b');
      return [{ dtype: a!.dtype, shape: bcast(a!.shape, b!.shape) }];
    },
  };
}
function compare<N extends OpName>(name: N, doc: string): OpDef<N> {
  return {
    name,
    doc,
    inputs: abNoGrad,
    outputs: Y,
    attrs: {} as OpDef<N>['attrs'],
    infer: ([a, b]) => {
      wantDtype(a!, 'a', COMPARABLE);
      sameDtype(a!, b!, 'a', 'b');
      return [{ dtype: 'bool', shape: bcast(a!.shape, b!.shape) }];
    },
  };
}
function logical<N extends OpName>(name: N, doc: string): OpDef<N> {
  return {
    name,
    doc,
    inputs: abNoGrad,
    outputs: Y,
    attrs: {} as OpDef<N>['attrs'],
    infer: ([a, b]) => {
      wantDtype(a!, 'a', ['bool']);
      wantDtype(b!, 'b', ['bool']);
      return [{ dtype: 'bool', shape: bcast(a!.shape, b!.shape) }];
    },
  };
}
const axisAttr = { axis: { kind: 'int', default: -1 } } as const;
function softmaxLike<N extends 'softmax' | 'logSoftmax'>(name: N, doc: string): OpDef<N> {
  return {
    name,
    doc,
    inputs: x1,
    outputs: Y,
    attrs: axisAttr as OpDef<N>['attrs'],
    normalize: ([x], a) => ({ axis: axisOf(a.axis, x!.shape.length) }) as OpAttrs[N],
    infer: ([x]) => {
      wantDtype(x!, 'x', FLOAT);
      return [x!];
    },
  };
}
function reduce<N extends 'reduceSum' | 'reduceMean' | 'reduceMax'>(name: N, doc: string): OpDef<N> {
  return {
    name,
    doc,
    inputs: x1,
    outputs: Y,
    attrs: { axes: { kind: 'ints' }, keepDims: { kind: 'bool', default: false } } as OpDef<N>['attrs'],
    normalize: ([x], a) => {
      const axes = a.axes.map((ax) => axisOf(ax, x!.shape.length)).sort((p, q) => p - q);
      if (axes.length === 0) fail('axes must name at least one axis');
      if (new Set(axes).size !== axes.length) fail(`axes [${a.axes.join(', ')}] repeat an axis`);
      return { axes, keepDims: a.keepDims } as OpAttrs[N];
    },
    infer: ([x], a) => {
      wantDtype(x!, 'x', FLOAT);
      const shape: Dim[] = [];
      x!.shape.forEach((d, i) => {
        if (!a.axes.includes(i)) shape.push(d);
        else if (a.keepDims) shape.push(1);
      });
      return [{ dtype: x!.dtype, shape }];
    },
  };
}

function matmulShape(a: ValueInfo, b: ValueInfo): Dim[] {
  if (a.shape.length < 2 || b.shape.length < 2) fail('matmul needs rank >= 2 on both inputs');
  const [m, k1] = a.shape.slice(-2) as [Dim, Dim];
  const [k2, n] = b.shape.slice(-2) as [Dim, Dim];
  if (!dimEquals(k1, k2)) fail(`inner dims differ: a has ${k1} columns, b has ${k2} rows`);
  const batch = bcast(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return [...batch, canonicalDim(m), canonicalDim(n)];
}

export const OPS: { readonly [N in OpName]: OpDef<N> } = {
  matmul: {
    name: 'matmul',
    doc: 'a @ b over the last two axes; leading (batch) axes broadcast.',
    inputs: ab,
    outputs: Y,
    attrs: {},
    infer: ([a, b]) => {
      wantDtype(a!, 'a', FLOAT);
      wantDtype(b!, 'b', FLOAT);
      return [{ dtype: 'float32', shape: matmulShape(a!, b!) }];
    },
  },
  add: binary('add', 'a + b, broadcasting.', NUMERIC),
  sub: binary('sub', 'a - b, broadcasting.', NUMERIC),
  mul: binary('mul', 'a * b, broadcasting.', NUMERIC),
  div: binary('div', 'a / b, broadcasting (float only: integer division differs between runtimes).', FLOAT),
  pow: binary('pow', 'a ** b, broadcasting. The gradient for b uses log(a) where a > 0 and 0 elsewhere.', FLOAT),
  maximum: binary('maximum', 'max(a, b); on ties the gradient goes to a.', NUMERIC),
  minimum: binary('minimum', 'min(a, b); on ties the gradient goes to a.', NUMERIC),
  neg: {
    name: 'neg',
    doc: 'negation, -x.',
    inputs: x1,
    outputs: Y,
    attrs: {},
    infer: ([x]) => {
      wantDtype(x!, 'x', NUMERIC);
      return [x!];
    },
  },
  abs: unaryFloat('abs', '|x|; the gradient at 0 is 0.', {}),
  exp: unaryFloat('exp', 'exponential, e^x.', {}),
  log: unaryFloat('log', 'natural log.', {}),
  sqrt: unaryFloat('sqrt', 'square root.', {}),
  relu: unaryFloat('relu', 'max(x, 0); the gradient at 0 is 0.', {}),
  sigmoid: unaryFloat('sigmoid', '1 / (1 + e^-x).', {}),
  tanh: unaryFloat('tanh', 'hyperbolic tangent.', {}),
  softplus: unaryFloat('softplus', 'log(1 + e^x), computed stably as max(x, 0) + log(1 + e^-|x|).', {}),
  elu: unaryFloat('elu', 'x if x > 0 else alpha (e^x - 1).', { alpha: { kind: 'float', default: 1 } }),
  softmax: softmaxLike('softmax', 'softmax along one axis (max-subtracted).'),
  logSoftmax: softmaxLike('logSoftmax', 'log of softmax along one axis, computed stably.'),
  reduceSum: reduce('reduceSum', 'sum over axes.'),
  reduceMean: reduce('reduceMean', 'mean over axes.'),
  reduceMax: reduce('reduceMax', 'max over axes; the gradient goes to every position equal to the max.'),
  concat: {
    name: 'concat',
    doc: 'join inputs along an axis (any number of inputs, at least one).',
    inputs: [{ name: 'xs', grad: true }],
    outputs: Y,
    attrs: axisAttr,
    normalize: (xs, a) => ({ axis: axisOf(a.axis, xs[0]!.shape.length) }),
    infer: (xs, a) => {
      const first = xs[0]!;
      let along: Dim = first.shape[a.axis]!;
      xs.forEach((x, i) => {
        if (x.dtype !== first.dtype) fail(`input ${i} is ${show(x)} but input 0 is ${show(first)}: dtypes differ`);
        if (x.shape.length !== first.shape.length) fail(`input ${i} has rank ${x.shape.length}, input 0 has rank ${first.shape.length}`);
        x.shape.forEach((d, j) => {
          if (j !== a.axis && !dimEquals(d, first.shape[j]!))
            fail(`input ${i} differs from input 0 at axis ${j} (${d} vs ${first.shape[j]})`);
        });
        if (i > 0)
          along =
            addDims(along, x.shape[a.axis]!) ??
            fail(
              `cannot add dims ${along} and ${x.shape[a.axis]} along the concat axis (symbolic dims must be multiples of the same names)`,
            );
      });
      const shape = first.shape.map((d, j) => (j === a.axis ? along : canonicalDim(d)));
      return [{ dtype: first.dtype, shape }];
    },
  },
  reshape: {
    name: 'reshape',
    doc: 'new shape with the same element count; one dim may be -1 (inferred); symbolic dims allowed.',
    inputs: x1,
    outputs: Y,
    attrs: { shape: { kind: 'dims' } },
    infer: ([x], a) => {
      const inferred = a.shape.filter((d) => d === -1).length;
      if (inferred > 1) fail(`target shape ${formatShape(a.shape)} has more than one -1`);
      const known = a.shape.filter((d) => d !== -1);
      const total = productOf(x!.shape);
      const knownProduct = productOf(known);
      let shape: Dim[];
      if (inferred === 1) {
        const rest = divDims(total, knownProduct) ?? fail(`cannot infer -1: ${total} elements do not divide by ${knownProduct}`);
        shape = a.shape.map((d) => (d === -1 ? rest : canonicalDim(d)));
      } else {
        if (!dimEquals(total, knownProduct))
          fail(`target shape ${formatShape(a.shape)} holds ${knownProduct} elements, input holds ${total}`);
        shape = a.shape.map(canonicalDim);
      }
      return [{ dtype: x!.dtype, shape }];
    },
  },
  transpose: {
    name: 'transpose',
    doc: 'permute axes: output axis i is input axis perm[i].',
    inputs: x1,
    outputs: Y,
    attrs: { perm: { kind: 'ints' } },
    infer: ([x], a) => {
      const r = x!.shape.length;
      const ok = a.perm.length === r && [...a.perm].sort((p, q) => p - q).every((p, i) => p === i);
      if (!ok) fail(`perm [${a.perm.join(', ')}] is not a permutation of ${r} axes`);
      return [{ dtype: x!.dtype, shape: a.perm.map((p) => x!.shape[p]!) }];
    },
  },
  slice: {
    name: 'slice',
    doc: 'x[starts:ends] along the listed (static) axes, step 1; negative indices count from the end, ends clamp.',
    inputs: x1,
    outputs: Y,
    attrs: { starts: { kind: 'ints' }, ends: { kind: 'ints' }, axes: { kind: 'ints' } },
    normalize: ([x], a) => {
      const r = x!.shape.length;
      if (a.starts.length !== a.axes.length || a.ends.length !== a.axes.length) fail('starts, ends and axes must have the same length');
      const axes: number[] = [],
        starts: number[] = [],
        ends: number[] = [];
      a.axes.forEach((ax, i) => {
        const axis = axisOf(ax, r);
        const dim = x!.shape[axis]!;
        if (!isStaticDim(dim)) return fail(`slice along axis ${axis} needs a static dim, got '${dim}'`);
        const norm = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
        axes.push(axis);
        starts.push(norm(a.starts[i]!));
        ends.push(Math.max(norm(a.ends[i]!), norm(a.starts[i]!)));
      });
      if (new Set(axes).size !== axes.length) fail(`axes [${a.axes.join(', ')}] repeat an axis`);
      return { starts, ends, axes };
    },
    infer: ([x], a) => {
      const shape = x!.shape.map(canonicalDim);
      a.axes.forEach((ax, i) => {
        shape[ax] = a.ends[i]! - a.starts[i]!;
      });
      return [{ dtype: x!.dtype, shape }];
    },
  },
  expand: {
    name: 'expand',
    doc: 'broadcast x to a shape (numpy rules, both ways, like ONNX Expand).',
    inputs: x1,
    outputs: Y,
    attrs: { shape: { kind: 'dims' } },
    infer: ([x], a) => [{ dtype: x!.dtype, shape: bcast(x!.shape, a.shape) }],
  },
  gather: {
    name: 'gather',
    doc: 'rows of a table by integer indices (embedding lookup): out = table.shape[:axis] + indices.shape + table.shape[axis+1:].',
    inputs: [
      { name: 'table', grad: true },
      { name: 'indices', grad: false },
    ],
    outputs: Y,
    attrs: { axis: { kind: 'int', default: 0 } },
    normalize: ([t], a) => ({ axis: axisOf(a.axis, t!.shape.length) }),
    infer: ([t, idx], a) => {
      wantDtype(idx!, 'indices', INTS);
      const s = t!.shape;
      return [{ dtype: t!.dtype, shape: [...s.slice(0, a.axis), ...idx!.shape, ...s.slice(a.axis + 1)].map(canonicalDim) }];
    },
  },
  gatherAlongAxis: {
    name: 'gatherAlongAxis',
    doc:
      'per leading index, pick entries along axis: indices is x.shape[:axis] + [k]; out = x.shape[:axis] + [k] + x.shape[axis+1:] ' +
      '(top-k rows per batch row).',
    inputs: [
      { name: 'x', grad: true },
      { name: 'indices', grad: false },
    ],
    outputs: Y,
    attrs: { axis: { kind: 'int', default: 1 } },
    normalize: ([x], a) => ({ axis: axisOf(a.axis, x!.shape.length) }),
    infer: ([x, idx], a) => {
      wantDtype(idx!, 'indices', INTS);
      const lead = x!.shape.slice(0, a.axis);
      if (idx!.shape.length !== a.axis + 1) fail(`indices must have rank ${a.axis + 1} (x.shape[:${a.axis}] + [k]), got ${show(idx!)}`);
      lead.forEach((d, i) => {
        if (!dimEquals(d, idx!.shape[i]!)) fail(`indices axis ${i} is ${idx!.shape[i]}, x has ${d}`);
      });
      return [{ dtype: x!.dtype, shape: [...lead, idx!.shape[a.axis]!, ...x!.shape.slice(a.axis + 1)].map(canonicalDim) }];
    },
  },
  scatterAlongAxis: {
    name: 'scatterAlongAxis',
    doc:
      'the adjoint of gatherAlongAxis: per leading index, add the entries of updates into zeros along axis at indices; ' +
      'indices is updates.shape[:axis] + [k], out = updates.shape[:axis] + [size] + updates.shape[axis+1:]; repeated indices sum; ' +
      'indices must lie in [0, size). (A k-of-n weight row as a dense [.., n] row, e.g. for one dense product instead of a gather.)',
    inputs: [
      { name: 'updates', grad: true },
      { name: 'indices', grad: false },
    ],
    outputs: Y,
    attrs: { axis: { kind: 'int', default: 1 }, size: { kind: 'int' } },
    normalize: ([u], a) => ({ axis: axisOf(a.axis, u!.shape.length), size: a.size }),
    infer: ([u, idx], a) => {
      wantDtype(u!, 'updates', FLOAT);
      wantDtype(idx!, 'indices', INTS);
      if (!Number.isInteger(a.size) || a.size < 1) fail(`size must be a positive integer, got ${a.size}`);
      if (idx!.shape.length !== a.axis + 1) fail(`indices must have rank ${a.axis + 1} (updates.shape[:${a.axis + 1}]), got ${show(idx!)}`);
      idx!.shape.forEach((d, i) => {
        if (!dimEquals(d, u!.shape[i]!)) fail(`indices axis ${i} is ${d}, updates has ${u!.shape[i]}`);
      });
      return [{ dtype: u!.dtype, shape: [...u!.shape.slice(0, a.axis), a.size, ...u!.shape.slice(a.axis + 1)].map(canonicalDim) }];
    },
  },
  topk: {
    name: 'topk',
    doc:
      'k largest along the last axis. Order: valid positions first, then value descending, then the lower index. ' +
      'values = the ranking key: x where valid, clamped to >= -3.4028234663852886e38 (so a valid -Infinity or NaN ranks as -FLT_MAX, ' +
      'above padding), -Infinity at padding; indices int32. No gradient: gather what you need by the indices.',
    inputs: [
      { name: 'x', grad: false },
      { name: 'mask', grad: false, optional: true },
    ],
    outputs: ['values', 'indices'],
    attrs: { k: { kind: 'int' } },
    infer: ([x, mask], a) => {
      wantDtype(x!, 'x', FLOAT);
      if (x!.shape.length < 1) fail('topk needs rank >= 1');
      if (!Number.isInteger(a.k) || a.k < 1) fail(`k must be a positive integer, got ${a.k}`);
      const n = x!.shape[x!.shape.length - 1]!;
      if (isStaticDim(n) && a.k > n) fail(`k = ${a.k} is greater than the last axis (${n})`);
      if (mask) {
        wantDtype(mask, 'mask', ['bool']);
        const s = broadcastShapes(mask.shape, x!.shape);
        if (!s || s.length !== x!.shape.length || !s.every((d, i) => dimEquals(d, x!.shape[i]!)))
          fail(`mask ${show(mask)} must broadcast to x ${show(x!)}`);
      }
      const shape = [...x!.shape.slice(0, -1).map(canonicalDim), a.k];
      return [
        { dtype: 'float32', shape },
        { dtype: 'int32', shape },
      ];
    },
  },
  where: {
    name: 'where',
    doc: 'cond ? a : b, broadcasting all three.',
    inputs: [
      { name: 'cond', grad: false },
      { name: 'a', grad: true },
      { name: 'b', grad: true },
    ],
    outputs: Y,
    attrs: {},
    infer: ([c, a, b]) => {
      wantDtype(c!, 'cond', ['bool']);
      sameDtype(a!, b!, 'a', 'b');
      return [{ dtype: a!.dtype, shape: bcast(c!.shape, bcast(a!.shape, b!.shape)) }];
    },
  },
  equal: compare('equal', 'a == b (bool).'),
  greater: compare('greater', 'a > b (bool).'),
  less: compare('less', 'a < b (bool).'),
  logicalAnd: logical('logicalAnd', 'a && b.'),
  logicalOr: logical('logicalOr', 'a || b.'),
  logicalNot: {
    name: 'logicalNot',
    doc: 'logical not, !x.',
    inputs: [{ name: 'x', grad: false }],
    outputs: Y,
    attrs: {},
    infer: ([x]) => {
      wantDtype(x!, 'x', ['bool']);
      return [x!];
    },
  },
  cast: {
    name: 'cast',
    doc: 'convert dtype; float to int truncates toward zero; to bool is x != 0.',
    inputs: x1,
    outputs: Y,
    attrs: { to: { kind: 'dtype' } },
    infer: ([x], a) => [{ dtype: a.to, shape: x!.shape }],
  },
  layerNorm: {
    name: 'layerNorm',
    doc: '(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis (biased variance).',
    inputs: [
      { name: 'x', grad: true },
      { name: 'gamma', grad: true },
      { name: 'beta', grad: true },
    ],
    outputs: Y,
    attrs: { epsilon: { kind: 'float', default: 1e-5 } },
    infer: ([x, g, b]) => {
      wantDtype(x!, 'x', FLOAT);
      wantDtype(g!, 'gamma', FLOAT);
      wantDtype(b!, 'beta', FLOAT);
      const d = x!.shape[x!.shape.length - 1];
      if (d === undefined) fail('layerNorm needs rank >= 1');
      for (const [v, n] of [
        [g!, 'gamma'],
        [b!, 'beta'],
      ] as const) {
        if (v.shape.length !== 1 || !dimEquals(v.shape[0]!, d!)) fail(`${n} must be [${d}], got ${show(v)}`);
      }
      return [x!];
    },
  },
  l2Normalize: {
    name: 'l2Normalize',
    doc: 'x / max(||x||_2, epsilon) along an axis.',
    inputs: x1,
    outputs: Y,
    attrs: { axis: { kind: 'int', default: -1 }, epsilon: { kind: 'float', default: 1e-12 } },
    normalize: ([x], a) => ({ axis: axisOf(a.axis, x!.shape.length), epsilon: a.epsilon }),
    infer: ([x]) => {
      wantDtype(x!, 'x', FLOAT);
      return [x!];
    },
  },
  constant: {
    name: 'constant',
    doc: 'a tensor of fixed values (static shape; NaN and +-Infinity allowed).',
    inputs: [],
    outputs: Y,
    attrs: { dtype: { kind: 'dtype' }, shape: { kind: 'ints' }, values: { kind: 'floats' } },
    infer: (_, a) => {
      if (a.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`shape ${formatShape(a.shape)} must hold non-negative integers`);
      const n = a.shape.reduce((p, d) => p * d, 1);
      if (a.values.length !== n) fail(`shape ${formatShape(a.shape)} needs ${n} values, got ${a.values.length}`);
      if (a.dtype !== 'float32' && a.values.some((v) => !Number.isInteger(v))) fail(`${a.dtype} constant needs integer values`);
      return [{ dtype: a.dtype, shape: [...a.shape] }];
    },
  },
  stopGradient: {
    name: 'stopGradient',
    doc: 'identity forward; no gradient flows back.',
    inputs: [{ name: 'x', grad: false }],
    outputs: Y,
    attrs: {},
    infer: ([x]) => [x!],
  },
};

export const OP_NAMES = Object.keys(OPS) as OpName[];

export function isOpName(s: string): s is OpName {
  return Object.hasOwn(OPS, s);
}

/** Which inputs of a node carry gradient (float inputs of differentiable slots only). */
export function gradInputs(op: OpName, inputs: readonly ValueInfo[], attrs: OpAttrs[OpName]): boolean[] {
  const def = OPS[op] as OpDef;
  return inputs.map((v, i) => {
    const slot = def.inputs[Math.min(i, def.inputs.length - 1)]!; // concat repeats its single slot
    if (!slot.grad || v.dtype !== 'float32') return false;
    if (op === 'cast') return (attrs as OpAttrs['cast']).to === 'float32';
    return true;
  });
}

/** Check one attribute value against its kind; returns an error text or undefined. */
export function checkAttrValue(kind: AttrKind, v: unknown): string | undefined {
  const isNum = (x: unknown) => typeof x === 'number';
  switch (kind) {
    case 'int':
      return Number.isInteger(v) ? undefined : `expected an integer, got ${JSON.stringify(v)}`;
    case 'float':
      return isNum(v) ? undefined : `expected a number, got ${JSON.stringify(v)}`;
    case 'bool':
      return typeof v === 'boolean' ? undefined : `expected true or false, got ${JSON.stringify(v)}`;
    case 'ints':
      return Array.isArray(v) && v.every((x) => Number.isInteger(x))
        ? undefined
        : `expected an array of integers, got ${JSON.stringify(v)}`;
    case 'floats':
      return Array.isArray(v) && v.every(isNum) ? undefined : `expected an array of numbers, got ${JSON.stringify(v)}`;
    case 'dims':
      return Array.isArray(v) &&
        v.every(
          (x) =>
            (Number.isInteger(x) && (x as number) >= -1) ||
            (typeof x === 'string' && x.split('*').every((p) => /^\d+$/.test(p.trim()) || isSymbolName(p.trim()))),
        )
        ? undefined
        : `expected an array of dims (integers >= -1 or symbolic names), got ${JSON.stringify(v)}`;
    case 'dtype':
      return isDType(v) ? undefined : `expected a dtype (float32, int32, int64, bool), got ${JSON.stringify(v)}`;
  }
}
