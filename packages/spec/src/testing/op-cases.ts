/**
 * The op test catalogue: small graphs that exercise every op of the vocabulary on several shapes,
 * with broadcasting, symbolic dims resolved at run time, masks and padding. ref-cpu checks its
 * gradients on them against finite differences; packages/parity runs them through every backend.
 * Differentiated operands are parameters (static shapes), so every backend can report their
 * gradients; symbolic-dim inputs exercise run-time shapes.
 */
import type { DimBindings } from '../dims.ts';
import type { Graph, FeatureSchema } from '../graph.ts';
import { GraphBuilder, init, type Value, type Float } from '../builder.ts';
import { OP_NAMES, type OpName } from '../ops.ts';
import { type FeedGen, gen } from './random-feeds.ts';

export interface Tolerance {
  forward?: number;
  grad?: number;
  reason: string;
}

export interface OpCase {
  readonly name: string;
  /** the op under test (other ops may appear around it) */
  readonly op: OpName;
  readonly graph: Graph;
  /** run-time bindings of the symbolic dims; each is one run (several shapes for one graph). */
  readonly dims: readonly DimBindings[];
  readonly gens: Readonly<Record<string, FeedGen>>;
  /** a per-case tolerance exception, with the reason. */
  readonly tol?: Tolerance;
}

type B = GraphBuilder<FeatureSchema>;
const cases: OpCase[] = [];

function add(
  name: string,
  op: OpName,
  schema: FeatureSchema,
  build: (b: B, i: Record<string, Value>) => Value,
  opts: { dims?: DimBindings[]; gens?: Record<string, FeedGen>; tol?: Tolerance } = {},
): void {
  const b = new GraphBuilder(name, schema);
  const y = build(b, b.inputs as Record<string, Value>);
  cases.push({ name, op, graph: b.build({ y }), dims: opts.dims ?? [{}], gens: opts.gens ?? {}, ...(opts.tol ? { tol: opts.tol } : {}) });
}
const P = (b: B, name: string, shape: number[], lo = -1, hi = 1): Float => b.param(name, shape, init.uniform(lo, hi));
const f = (v: Value) => v as Float;
const NONE: FeatureSchema = {};
const SEQ: FeatureSchema = { x: { dtype: 'float32', shape: ['batch', 'seq', 4] } };
const SEQ_DIMS: DimBindings[] = [
  { batch: 2, seq: 3 },
  { batch: 3, seq: 5 },
];

// ---- matmul ----
add('matmul/2d', 'matmul', NONE, (b) => b.matmul(P(b, 'a', [3, 4]), P(b, 'w', [4, 5])));
add('matmul/batch-broadcast', 'matmul', NONE, (b) => b.matmul(P(b, 'a', [2, 1, 3, 4]), P(b, 'w', [5, 4, 6])));
add('matmul/symbolic', 'matmul', SEQ, (b, i) => b.matmul(f(i.x!), P(b, 'w', [4, 3])), { dims: SEQ_DIMS });

// ---- binary arithmetic ----
for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as const) {
  const positiveA = op === 'pow';
  const nonzeroB = op === 'div';
  add(`${op}/broadcast`, op, NONE, (b) => {
    const a = positiveA ? P(b, 'a', [2, 3, 4], 0.5, 2) : P(b, 'a', [2, 3, 4]);
    const w = nonzeroB ? P(b, 'b', [3, 1], 0.5, 2) : P(b, 'b', [3, 1]);
    return (b as unknown as Record<string, (x: Float, y: Float) => Float>)[op]!.call(b, a, w);
  });
  add(
    `${op}/symbolic`,
    op,
    SEQ,
    (b, i) => {
      const x = op === 'pow' ? b.add(b.abs(f(i.x!)), b.scalar(0.5)) : f(i.x!);
      const w = nonzeroB ? P(b, 'b', [4], 0.5, 2) : P(b, 'b', [4]);
      return (b as unknown as Record<string, (x: Float, y: Float) => Float>)[op]!.call(b, x, w);
    },
    { dims: SEQ_DIMS },
  );
}
for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'neg'] as const) {
  add(
    `${op}/int32`,
    op,
    { k: { dtype: 'int32', shape: ['batch', 3] } },
    (b, i) => {
      const k = b.expectDtype(i.k!, 'int32');
      return op === 'neg' ? b.neg(k) : b[op](k, b.constant([2, -1, 5], [3], 'int32'));
    },
    { dims: [{ batch: 4 }], gens: { k: gen.ints(7) } },
  );
}
add(
  'add/int64',
  'add',
  { k: { dtype: 'int64', shape: ['batch'] } },
  (b, i) => b.add(b.expectDtype(i.k!, 'int64'), b.constant([3], [1], 'int64')),
  { dims: [{ batch: 5 }], gens: { k: gen.ints(100) } },
);

// ---- unary ----
const unary: Array<[OpName, number, number]> = [
  ['neg', -2, 2],
  ['abs', -2, 2],
  ['exp', -2, 2],
  ['log', 0.2, 3],
  ['sqrt', 0.2, 3],
  ['relu', -2, 2],
  ['sigmoid', -4, 4],
  ['tanh', -3, 3],
  ['softplus', -4, 4],
  ['elu', -3, 3],
];
for (const [op, lo, hi] of unary) {
  add(`${op}/param`, op, NONE, (b) => (b as unknown as Record<string, (x: Float) => Float>)[op]!.call(b, P(b, 'x', [3, 5], lo, hi)));
}
add('elu/alpha', 'elu', NONE, (b) => b.elu(P(b, 'x', [4, 4], -3, 3), 0.7));
add('softplus/large', 'softplus', { x: { dtype: 'float32', shape: [6] } }, (b, i) => b.softplus(f(i.x!)), {
  gens: { x: gen.values([-100, -30, -1e-3, 0, 30, 100]) },
});
add('sigmoid/large', 'sigmoid', { x: { dtype: 'float32', shape: [4] } }, (b, i) => b.sigmoid(f(i.x!)), {
  gens: { x: gen.values([-80, -20, 20, 80]) },
});
add('exp/symbolic', 'exp', SEQ, (b, i) => b.exp(b.mul(f(i.x!), P(b, 'w', [4]))), { dims: SEQ_DIMS });

// ---- softmax family ----
for (const op of ['softmax', 'logSoftmax'] as const) {
  add(`${op}/last`, op, NONE, (b) => b[op](P(b, 'x', [2, 3, 5], -3, 3)));
  add(`${op}/axis1`, op, NONE, (b) => b[op](P(b, 'x', [2, 3, 5], -3, 3), 1));
  add(`${op}/symbolic`, op, SEQ, (b, i) => b[op](b.mul(f(i.x!), P(b, 'w', [4])), 1), { dims: SEQ_DIMS });
  add(`${op}/large-logits`, op, { x: { dtype: 'float32', shape: [2, 3] } }, (b, i) => b[op](f(i.x!)), {
    gens: { x: gen.values([1000, 999, -1000, 50, 50, -50]) },
  });
}

// ---- reductions ----
for (const op of ['reduceSum', 'reduceMean', 'reduceMax'] as const) {
  add(`${op}/axis1`, op, NONE, (b) => b[op](P(b, 'x', [2, 3, 4], -3, 3), 1));
  add(`${op}/axes02-keep`, op, NONE, (b) => b[op](P(b, 'x', [2, 3, 4], -3, 3), [0, 2], true));
  add(`${op}/symbolic`, op, SEQ, (b, i) => b[op](b.mul(f(i.x!), P(b, 'w', [4])), [1]), { dims: SEQ_DIMS });
}

// ---- shape ops ----
add('concat/axis1', 'concat', NONE, (b) => b.concat([P(b, 'a', [2, 3]), P(b, 'c', [2, 4]), P(b, 'd', [2, 1])], 1));
add('concat/symbolic-axis', 'concat', SEQ, (b, i) => b.concat([f(i.x!), b.mul(f(i.x!), P(b, 'w', [4]))], 1), { dims: SEQ_DIMS });
add('concat/features', 'concat', SEQ, (b, i) => b.concat([f(i.x!), b.expand(P(b, 'w', [1, 1, 2]), ['batch', 'seq', 2])], -1), {
  dims: SEQ_DIMS,
});
add('reshape/static', 'reshape', NONE, (b) => b.reshape(P(b, 'x', [2, 6]), [3, 4]));
add('reshape/infer-symbolic', 'reshape', SEQ, (b, i) => b.reshape(b.mul(f(i.x!), P(b, 'w', [4])), ['batch', -1]), { dims: SEQ_DIMS });
add(
  'reshape/merge-split',
  'reshape',
  SEQ,
  (b, i) => b.reshape(b.reshape(b.add(f(i.x!), P(b, 'w', [4])), [-1, 2]), ['batch', 'seq', 2, 2]),
  { dims: SEQ_DIMS },
);
add('transpose/3d', 'transpose', NONE, (b) => b.transpose(P(b, 'x', [2, 3, 4]), [2, 0, 1]));
add('transpose/symbolic', 'transpose', SEQ, (b, i) => b.transpose(b.mul(f(i.x!), P(b, 'w', [4])), [0, 2, 1]), { dims: SEQ_DIMS });
add('slice/two-axes', 'slice', NONE, (b) => b.slice(P(b, 'x', [4, 6]), [1, -3], [3, 100], [0, 1]));
add('slice/symbolic-other-axis', 'slice', SEQ, (b, i) => b.slice(b.mul(f(i.x!), P(b, 'w', [4])), [1], [3], [2]), { dims: SEQ_DIMS });
add('expand/static', 'expand', NONE, (b) => b.expand(P(b, 'x', [3, 1]), [2, 3, 4]));
add(
  'expand/symbolic',
  'expand',
  { m: { dtype: 'float32', shape: ['batch', 1] } },
  (b, i) => b.mul(b.expand(f(i.m!), ['batch', 5]), P(b, 'w', [5])),
  { dims: [{ batch: 2 }, { batch: 4 }] },
);

// ---- gathers ----
add(
  'gather/embedding',
  'gather',
  { ids: { dtype: 'int32', shape: ['batch', 'seq'] } },
  (b, i) => b.gather(P(b, 'table', [10, 4]), b.expectDtype(i.ids!, 'int32')),
  { dims: SEQ_DIMS, gens: { ids: gen.ints(10) } },
);
add(
  'gather/int64-repeats',
  'gather',
  { ids: { dtype: 'int64', shape: [6] } },
  (b, i) => b.gather(P(b, 'table', [5, 3]), b.expectDtype(i.ids!, 'int64')),
  { gens: { ids: gen.values([0, 4, 4, 2, 0, 4]) } },
);
add(
  'gather/axis1',
  'gather',
  { ids: { dtype: 'int32', shape: [2, 2] } },
  (b, i) => b.gather(P(b, 'table', [3, 7, 2]), b.expectDtype(i.ids!, 'int32'), 1),
  { gens: { ids: gen.values([6, 0, 3, 3]) } },
);
add(
  'gatherAlongAxis/static',
  'gatherAlongAxis',
  { ids: { dtype: 'int32', shape: [2, 4] } },
  (b, i) => b.gatherAlongAxis(P(b, 'x', [2, 6, 3]), b.expectDtype(i.ids!, 'int32'), 1),
  { gens: { ids: gen.values([5, 0, 0, 2, 1, 1, 3, 4]) } },
);
add(
  'gatherAlongAxis/symbolic',
  'gatherAlongAxis',
  { x: { dtype: 'float32', shape: ['batch', 'seq', 4] }, ids: { dtype: 'int32', shape: ['batch', 2] } },
  (b, i) => b.gatherAlongAxis(b.mul(f(i.x!), P(b, 'w', [4])), b.expectDtype(i.ids!, 'int32'), 1),
  { dims: SEQ_DIMS, gens: { ids: gen.ints(3) } },
);
add(
  'gatherAlongAxis/last-axis',
  'gatherAlongAxis',
  { ids: { dtype: 'int32', shape: [2, 3, 2] } },
  (b, i) => b.gatherAlongAxis(P(b, 'x', [2, 3, 5]), b.expectDtype(i.ids!, 'int32'), 2),
  { gens: { ids: gen.ints(5) } },
);

add(
  'scatterAlongAxis/static-repeats',
  'scatterAlongAxis',
  { ids: { dtype: 'int32', shape: [2, 4] } },
  (b, i) => b.scatterAlongAxis(P(b, 'u', [2, 4]), b.expectDtype(i.ids!, 'int32'), 6, 1),
  { gens: { ids: gen.values([5, 0, 0, 2, 1, 1, 3, 4]) } },
);
add(
  'scatterAlongAxis/symbolic-rows',
  'scatterAlongAxis',
  { x: { dtype: 'float32', shape: ['batch', 3] }, ids: { dtype: 'int32', shape: ['batch', 3] } },
  (b, i) => b.matmul(b.scatterAlongAxis(b.mul(f(i.x!), P(b, 'w', [3])), b.expectDtype(i.ids!, 'int32'), 5, 1), P(b, 'v', [5, 2])),
  { dims: [{ batch: 2 }, { batch: 4 }], gens: { ids: gen.ints(5) } },
);
add(
  'scatterAlongAxis/trailing-dims',
  'scatterAlongAxis',
  { ids: { dtype: 'int32', shape: [2, 3] } },
  (b, i) => b.scatterAlongAxis(P(b, 'u', [2, 3, 2]), b.expectDtype(i.ids!, 'int32'), 4, 1),
  { gens: { ids: gen.ints(4) } },
);

// ---- topk: forward (indices and values) and the gather-by-indices pattern that carries gradient ----
const TK: FeatureSchema = { s: { dtype: 'float32', shape: ['batch', 'seq'] }, m: { dtype: 'bool', shape: ['batch', 'seq'] } };
add('topk/indices-masked', 'topk', TK, (b, i) => b.topk(f(i.s!), 3, b.expectDtype(i.m!, 'bool')).indices, {
  dims: [
    { batch: 4, seq: 6 },
    { batch: 3, seq: 3 },
  ],
  gens: { m: gen.prefixMask() },
});
add('topk/values-masked', 'topk', TK, (b, i) => b.topk(f(i.s!), 3, b.expectDtype(i.m!, 'bool')).values, {
  dims: [{ batch: 4, seq: 6 }],
  gens: { m: gen.mask(0.5) },
});
add('topk/ties', 'topk', { s: { dtype: 'float32', shape: [3, 6] } }, (b, i) => b.topk(f(i.s!), 4).indices, {
  gens: { s: gen.values([1, 2, 2, 1, 2, 0, 5, 5, 5, 5, 5, 5, 0, -1, 0, -1, 3, 3]) },
});
add('topk/ties-masked', 'topk', TK, (b, i) => b.topk(f(i.s!), 4, b.expectDtype(i.m!, 'bool')).indices, {
  dims: [{ batch: 2, seq: 6 }],
  gens: { s: gen.values([1, 1, 1, 1, 1, 1, 0, -Infinity, 0, -Infinity, 2, 2]), m: gen.values([0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0]) },
});
add('topk/nan-and-inf-valid', 'topk', TK, (b, i) => b.topk(f(i.s!), 5, b.expectDtype(i.m!, 'bool')).indices, {
  dims: [{ batch: 2, seq: 6 }],
  gens: {
    s: gen.values([NaN, 1, -Infinity, -3.4028234663852886e38, NaN, 2, 0, NaN, 5, NaN, -Infinity, 1]),
    m: gen.values([1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0]),
  },
});
add('topk/no-mask', 'topk', { s: { dtype: 'float32', shape: ['batch', 7] } }, (b, i) => b.topk(f(i.s!), 7).values, {
  dims: [{ batch: 3 }],
});
add(
  'topk/gather-picks',
  'topk',
  { x: { dtype: 'float32', shape: ['batch', 'seq', 4] }, m: { dtype: 'bool', shape: ['batch', 'seq'] } },
  (b, i) => {
    const keys = b.mul(f(i.x!), P(b, 'w', [4]));
    const scores = b.reduceSum(b.mul(keys, P(b, 'q', [4])), -1);
    const picks = b.topk(scores, 2, b.expectDtype(i.m!, 'bool'));
    const rows = b.gatherAlongAxis(keys, picks.indices, 1);
    const s = b.gatherAlongAxis(scores, picks.indices, 1);
    return b.mul(rows, b.reshape(b.sigmoid(s), ['batch', 2, 1]));
  },
  { dims: [{ batch: 3, seq: 5 }], gens: { m: gen.mask(0.8) } },
);

// ---- selection, comparison, logic, cast ----
add(
  'where/broadcast',
  'where',
  { m: { dtype: 'bool', shape: ['batch', 4] } },
  (b, i) => b.where(b.expectDtype(i.m!, 'bool'), P(b, 'a', [1, 4]), P(b, 'c', [4])),
  { dims: [{ batch: 3 }] },
);
add(
  'where/neg-inf-max',
  'where',
  { x: { dtype: 'float32', shape: ['batch', 5] }, m: { dtype: 'bool', shape: ['batch', 5] } },
  (b, i) => {
    const masked = b.where(b.expectDtype(i.m!, 'bool'), b.mul(f(i.x!), P(b, 'w', [5])), b.constant(-Infinity));
    return b.reduceMax(masked, 1);
  },
  { dims: [{ batch: 3 }], gens: { m: gen.values([1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]) } },
);
for (const op of ['equal', 'greater', 'less'] as const) {
  add(
    `${op}/float`,
    op,
    { a: { dtype: 'float32', shape: ['batch', 4] }, c: { dtype: 'float32', shape: [4] } },
    (b, i) => b[op](f(i.a!), f(i.c!)),
    { dims: [{ batch: 3 }], gens: { a: gen.ints(3), c: gen.values([0, 1, 2, 1]) } },
  );
  add(
    `${op}/int32`,
    op,
    { a: { dtype: 'int32', shape: ['batch', 3] } },
    (b, i) => b[op](b.expectDtype(i.a!, 'int32'), b.constant([1], [1], 'int32')),
    { dims: [{ batch: 4 }], gens: { a: gen.ints(3) } },
  );
}
const BB: FeatureSchema = { p: { dtype: 'bool', shape: ['batch', 3] }, q: { dtype: 'bool', shape: [3] } };
add('logicalAnd/broadcast', 'logicalAnd', BB, (b, i) => b.logicalAnd(b.expectDtype(i.p!, 'bool'), b.expectDtype(i.q!, 'bool')), {
  dims: [{ batch: 4 }],
});
add('logicalOr/broadcast', 'logicalOr', BB, (b, i) => b.logicalOr(b.expectDtype(i.p!, 'bool'), b.expectDtype(i.q!, 'bool')), {
  dims: [{ batch: 4 }],
});
add('logicalNot/plain', 'logicalNot', BB, (b, i) => b.logicalNot(b.expectDtype(i.p!, 'bool')), { dims: [{ batch: 4 }] });
const CF: FeatureSchema = { x: { dtype: 'float32', shape: [8] } };
const fractions = gen.values([-2.7, -1, -0.5, 0, 0.4, 1.5, 2.999, 7]);
add('cast/float-to-int32', 'cast', CF, (b, i) => b.cast(f(i.x!), 'int32'), { gens: { x: fractions } });
add('cast/float-to-int64', 'cast', CF, (b, i) => b.cast(f(i.x!), 'int64'), { gens: { x: fractions } });
add('cast/float-to-bool', 'cast', CF, (b, i) => b.cast(f(i.x!), 'bool'), { gens: { x: fractions } });
add('cast/bool-to-float', 'cast', { m: { dtype: 'bool', shape: ['batch', 3] } }, (b, i) => b.mul(b.cast(i.m!, 'float32'), P(b, 'w', [3])), {
  dims: [{ batch: 3 }],
});
add('cast/int-to-float', 'cast', { k: { dtype: 'int32', shape: [5] } }, (b, i) => b.cast(i.k!, 'float32'), {
  gens: { k: gen.values([-3, 0, 1, 7, 100]) },
});
add('cast/int32-to-int64', 'cast', { k: { dtype: 'int32', shape: [5] } }, (b, i) => b.cast(i.k!, 'int64'), {
  gens: { k: gen.values([-3, 0, 1, 7, 100]) },
});
add('cast/float-identity', 'cast', NONE, (b) => b.cast(P(b, 'x', [2, 3]), 'float32'));

// ---- normalisation ----
add('layerNorm/param', 'layerNorm', NONE, (b) => b.layerNorm(P(b, 'x', [3, 8], -2, 2), P(b, 'gamma', [8], 0.5, 1.5), P(b, 'beta', [8])));
add(
  'layerNorm/symbolic',
  'layerNorm',
  SEQ,
  (b, i) => b.layerNorm(b.mul(f(i.x!), P(b, 'w', [4])), P(b, 'gamma', [4], 0.5, 1.5), P(b, 'beta', [4])),
  { dims: SEQ_DIMS },
);
add('l2Normalize/last', 'l2Normalize', NONE, (b) => b.l2Normalize(P(b, 'x', [3, 5])));
add('l2Normalize/axis0', 'l2Normalize', NONE, (b) => b.l2Normalize(P(b, 'x', [3, 5]), 0));
add('l2Normalize/zero-row', 'l2Normalize', { x: { dtype: 'float32', shape: [2, 3] } }, (b, i) => b.l2Normalize(f(i.x!)), {
  gens: { x: gen.values([0, 0, 0, 3, 4, 0]) },
});

// ---- constants and gradient stopping ----
add('constant/add', 'constant', NONE, (b) => b.add(P(b, 'x', [2, 3]), b.constant([1, -2, 0.5], [3])));
add('constant/int', 'constant', NONE, (b) => b.constant([1, 2, -7], [3], 'int32'));
add('stopGradient/half', 'stopGradient', NONE, (b) => {
  const p = P(b, 'x', [3, 4]);
  return b.mul(b.stopGradient(p), p);
});

export const OP_CASES: readonly OpCase[] = cases;

/** Ops of the vocabulary that no case covers (must be empty; a test asserts it). */
export function uncoveredOps(): OpName[] {
  const covered = new Set(cases.map((c) => c.op));
  return OP_NAMES.filter((op) => !covered.has(op));
}
