/** Every op lowered and run in ONNX Runtime on small hand-checkable cases. */
import { describe, expect, it } from 'vitest';
import { type Float, GraphBuilder, type HostTensor } from '@lctr/spec';
import { bool, expectTensor, f32, i32, i64, itPassesChecker, openSession, runOnce, values } from './helpers.ts';

const fr = Math.fround;

type UnarySchema = { x: { dtype: 'float32'; shape: ['n'] } };
function unaryGraph(name: string, fn: (b: GraphBuilder<UnarySchema>, x: Float) => Float) {
  const b = new GraphBuilder<UnarySchema>(name, { x: { dtype: 'float32', shape: ['n'] } });
  return b.build({ y: fn(b, b.inputs.x) });
}

describe('unary float ops', () => {
  const xs = [-100, -3, -0.5, 0, 0.25, 2, 100];
  const pos = [1e-3, 0.25, 1, 2, 9, 1e4];
  const cases: Array<[string, (b: GraphBuilder<UnarySchema>, x: Float) => Float, (x: number) => number, number[]]> = [
    ['neg', (b, x) => b.neg(x), (x) => -x, xs],
    ['abs', (b, x) => b.abs(x), Math.abs, xs],
    ['exp', (b, x) => b.exp(x), Math.exp, [-3, -0.5, 0, 0.25, 2, 10]],
    ['log', (b, x) => b.log(x), Math.log, pos],
    ['sqrt', (b, x) => b.sqrt(x), Math.sqrt, pos],
    ['relu', (b, x) => b.relu(x), (x) => Math.max(x, 0), xs],
    ['sigmoid', (b, x) => b.sigmoid(x), (x) => 1 / (1 + Math.exp(-x)), xs],
    ['tanh', (b, x) => b.tanh(x), Math.tanh, xs],
    ['softplus', (b, x) => b.softplus(x), (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), [...xs, -1e4, 1e4, -20, 20]],
    ['elu', (b, x) => b.elu(x, 0.5), (x) => (x > 0 ? x : 0.5 * (Math.exp(x) - 1)), xs],
    ['stopGradient', (b, x) => b.stopGradient(x), (x) => x, xs],
  ];
  for (const [name, fn, ref, input] of cases) {
    it(`${name} matches the float64 reference`, async () => {
      const g = unaryGraph(name, fn);
      const { y } = await runOnce(g, { x: f32([input.length], input) });
      expectTensor(
        y,
        'float32',
        [input.length],
        input.map((v) => ref(fr(v))),
        1e-7,
        2e-7,
      );
    });
  }
  it('softplus is finite and exact at +-100 and +-1e4 (no overflow)', async () => {
    const { y } = await runOnce(
      unaryGraph('softplus_big', (b, x) => b.softplus(x)),
      { x: f32([4], [100, -100, 1e4, -1e4]) },
    );
    expect(values(y)).toEqual([100, 0, 1e4, 0]);
  });
});

describe('binary ops with numpy broadcasting', () => {
  const a = [1, -2, 3, 0.5, 4, -6];
  const b3 = [2, 0.5, -3];
  const bcast = (f: (p: number, q: number) => number) => a.map((v, i) => f(v, b3[i % 3]!));
  const cases: Array<[string, (p: number, q: number) => number]> = [
    ['add', (p, q) => p + q],
    ['sub', (p, q) => p - q],
    ['mul', (p, q) => p * q],
    ['div', (p, q) => p / q],
    ['maximum', Math.max],
    ['minimum', Math.min],
  ];
  for (const [op, f] of cases) {
    it(`${op} float32 [2, 3] with [3]`, async () => {
      const b = new GraphBuilder(op, { a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [3] } });
      const y = b.node(op, [b.inputs.a, b.inputs.b])[0]!;
      const { y: out } = await runOnce(b.build({ y }), { a: f32([2, 3], a), b: f32([3], b3) });
      expectTensor(out, 'float32', [2, 3], bcast(f).map(fr), 0, 1e-7);
    });
  }
  it('pow float32: a ** b with broadcasting, including 0 ** 0 = 1 and a negative base with an integer exponent', async () => {
    const b = new GraphBuilder('pow', { a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [1, 3] } });
    const { y } = await runOnce(b.build({ y: b.pow(b.inputs.a, b.inputs.b) }), {
      a: f32([2, 3], [2, 0, -2, 9, 4, 1.5]),
      b: f32([1, 3], [3, 0, 2]),
    });
    expectTensor(y, 'float32', [2, 3], [8, 1, 4, 729, 1, 2.25], 0, 1e-6);
  });
  for (const dtype of ['int32', 'int64'] as const) {
    it(`add, sub, mul, maximum, minimum, neg keep ${dtype}`, async () => {
      const b = new GraphBuilder(`int_${dtype}`, { a: { dtype, shape: [4] }, b: { dtype, shape: [1] } });
      const { a: A, b: B } = b.inputs;
      const g = b.build({
        add: b.add(A, B),
        sub: b.sub(A, B),
        mul: b.mul(A, B),
        max: b.maximum(A, B),
        min: b.minimum(A, B),
        neg: b.neg(A),
      });
      const t = (v: number[], s: number[]) =>
        ({ dtype, shape: s, data: dtype === 'int32' ? Int32Array.from(v) : BigInt64Array.from(v.map(BigInt)) }) as HostTensor<typeof dtype>;
      const out = await runOnce(g, { a: t([5, -7, 0, 2], [4]), b: t([-3], [1]) } as never);
      expectTensor(out.add, dtype, [4], [2, -10, -3, -1]);
      expectTensor(out.sub, dtype, [4], [8, -4, 3, 5]);
      expectTensor(out.mul, dtype, [4], [-15, 21, 0, -6]);
      expectTensor(out.max, dtype, [4], [5, -3, 0, 2]);
      expectTensor(out.min, dtype, [4], [-3, -7, -3, -3]);
      expectTensor(out.neg, dtype, [4], [-5, 7, 0, -2]);
    });
  }
  it('int64 arithmetic beyond 2^53 stays exact', async () => {
    const b = new GraphBuilder('int64_big', { a: { dtype: 'int64', shape: [1] }, b: { dtype: 'int64', shape: [1] } });
    const { y } = await runOnce(b.build({ y: b.add(b.inputs.a, b.inputs.b) }), {
      a: { dtype: 'int64', shape: [1], data: BigInt64Array.from([9007199254740993n]) },
      b: { dtype: 'int64', shape: [1], data: BigInt64Array.from([2n]) },
    });
    expect((y.data as BigInt64Array)[0]).toBe(9007199254740995n);
  });
});

describe('matmul', () => {
  it('[2, 3] @ [3, 2]', async () => {
    const b = new GraphBuilder('matmul2d', { a: { dtype: 'float32', shape: [2, 3] }, b: { dtype: 'float32', shape: [3, 2] } });
    const { y } = await runOnce(b.build({ y: b.matmul(b.inputs.a, b.inputs.b) }), {
      a: f32([2, 3], [1, 2, 3, 4, 5, 6]),
      b: f32([3, 2], [7, 8, 9, 10, 11, 12]),
    });
    expectTensor(y, 'float32', [2, 2], [58, 64, 139, 154], 0, 0);
  });
  it('batch dims broadcast: [1, 2, 2] @ [3, 2, 1] -> [3, 2, 1]', async () => {
    const b = new GraphBuilder('matmul_batch', {
      a: { dtype: 'float32', shape: [1, 2, 2] },
      b: { dtype: 'float32', shape: ['batch', 2, 1] },
    });
    const { y } = await runOnce(b.build({ y: b.matmul(b.inputs.a, b.inputs.b) }), {
      a: f32([1, 2, 2], [1, 2, 3, 4]),
      b: f32([3, 2, 1], [1, 0, 0, 1, 1, 1]),
    });
    expectTensor(y, 'float32', [3, 2, 1], [1, 3, 2, 4, 3, 7], 0, 0);
  });
});

describe('softmax and logSoftmax', () => {
  const x = [1, 2, 3, 1000, 1000, 999];
  const softmaxRows = (rows: number[][]) =>
    rows.map((r) => {
      const m = Math.max(...r);
      const e = r.map((v) => Math.exp(v - m));
      const s = e.reduce((p, q) => p + q);
      return e.map((v) => v / s);
    });
  it('last axis, max-subtracted (no overflow at 1000)', async () => {
    const b = new GraphBuilder('softmax', { x: { dtype: 'float32', shape: [2, 3] } });
    const out = await runOnce(b.build({ s: b.softmax(b.inputs.x), l: b.logSoftmax(b.inputs.x) }), { x: f32([2, 3], x) });
    const want = softmaxRows([x.slice(0, 3), x.slice(3)]).flat();
    expectTensor(out.s, 'float32', [2, 3], want, 1e-7, 1e-6);
    expectTensor(out.l, 'float32', [2, 3], want.map(Math.log), 1e-6, 1e-6);
  });
  it('axis 0', async () => {
    const b = new GraphBuilder('softmax0', { x: { dtype: 'float32', shape: [2, 3] } });
    const out = await runOnce(b.build({ s: b.softmax(b.inputs.x, 0), l: b.logSoftmax(b.inputs.x, 0) }), { x: f32([2, 3], x) });
    const cols = softmaxRows([
      [1, 1000],
      [2, 1000],
      [3, 999],
    ]);
    const want = [cols[0]![0]!, cols[1]![0]!, cols[2]![0]!, cols[0]![1]!, cols[1]![1]!, cols[2]![1]!];
    expectTensor(out.s, 'float32', [2, 3], want, 1e-7, 1e-6);
    expectTensor(out.l, 'float32', [2, 3], [1 - 1000, 2 - 1000, 3 - 999, 0, 0, 0], 1e-4, 1e-6);
  });
});

describe('reductions', () => {
  // x[i][j][k] = i*100 + j*10 + k, shape [2, 2, 3]
  const xv = [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112];
  const graph = (keepDims: boolean) => {
    const b = new GraphBuilder(`reduce_${keepDims}`, { x: { dtype: 'float32', shape: [2, 2, 3] } });
    const x = b.inputs.x;
    return b.build({
      sum: b.reduceSum(x, [0, 2], keepDims),
      mean: b.reduceMean(x, [0, 2], keepDims),
      max: b.reduceMax(x, [0, 2], keepDims),
      last: b.reduceSum(x, -1, keepDims),
    });
  };
  it('axes [0, 2] without keepDims', async () => {
    const out = await runOnce(graph(false), { x: f32([2, 2, 3], xv) });
    expectTensor(out.sum, 'float32', [2], [306, 366]);
    expectTensor(out.mean, 'float32', [2], [51, 61]);
    expectTensor(out.max, 'float32', [2], [102, 112]);
    expectTensor(out.last, 'float32', [2, 2], [3, 33, 303, 333]);
  });
  it('axes [0, 2] with keepDims', async () => {
    const out = await runOnce(graph(true), { x: f32([2, 2, 3], xv) });
    expectTensor(out.sum, 'float32', [1, 2, 1], [306, 366]);
    expectTensor(out.mean, 'float32', [1, 2, 1], [51, 61]);
    expectTensor(out.max, 'float32', [1, 2, 1], [102, 112]);
    expectTensor(out.last, 'float32', [2, 2, 1], [3, 33, 303, 333]);
  });
  it('over a symbolic axis: the run-time count divides; an empty axis gives sum 0, mean NaN, max -Infinity', async () => {
    const b = new GraphBuilder('reduce_sym', { x: { dtype: 'float32', shape: ['batch', 'n'] } });
    const x = b.inputs.x;
    const g = b.build({
      sum: b.reduceSum(x, 1),
      mean: b.reduceMean(x, 1),
      all: b.reduceMean(x, [0, 1]),
      keep: b.reduceMean(x, 1, true),
      max: b.reduceMax(x, 1),
    });
    const s = await openSession(g);
    try {
      const out = await s.run({ x: f32([2, 3], [1, 2, 6, -3, 0, 0]) });
      expectTensor(out.mean, 'float32', [2], [3, -1]);
      expectTensor(out.all, 'float32', [], [1]);
      expectTensor(out.keep, 'float32', [2, 1], [3, -1]);
      const empty = await s.run({ x: f32([2, 0], []) });
      expectTensor(empty.sum, 'float32', [2], [0, 0]);
      expectTensor(empty.mean, 'float32', [2], [NaN, NaN]);
      expectTensor(empty.all, 'float32', [], [NaN]);
      expectTensor(empty.max, 'float32', [2], [-Infinity, -Infinity]);
    } finally {
      await s.release();
    }
  });
  it('reduceMax of a row holding -Infinity and ties', async () => {
    const b = new GraphBuilder('reduce_max_inf', { x: { dtype: 'float32', shape: [2, 3] } });
    const { y } = await runOnce(b.build({ y: b.reduceMax(b.inputs.x, 1) }), {
      x: f32([2, 3], [-Infinity, -Infinity, -Infinity, 4, 4, -1]),
    });
    expectTensor(y, 'float32', [2], [-Infinity, 4]);
  });
});

describe('shape ops', () => {
  it('concat of three inputs along axis 1', async () => {
    const b = new GraphBuilder('concat', { a: { dtype: 'float32', shape: [2, 1] }, b: { dtype: 'float32', shape: [2, 2] } });
    const { y } = await runOnce(b.build({ y: b.concat([b.inputs.a, b.inputs.b, b.inputs.a], 1) }), {
      a: f32([2, 1], [1, 2]),
      b: f32([2, 2], [3, 4, 5, 6]),
    });
    expectTensor(y, 'float32', [2, 4], [1, 3, 4, 1, 2, 5, 6, 2]);
  });
  it('concat of one input is the input', async () => {
    const b = new GraphBuilder('concat1', { a: { dtype: 'int32', shape: [2] } });
    const { y } = await runOnce(b.build({ y: b.concat([b.inputs.a], 0) }), { a: i32([2], [4, 5]) });
    expectTensor(y, 'int32', [2], [4, 5]);
  });
  it('reshape with -1, transpose, slice with negative starts and clamped ends', async () => {
    const b = new GraphBuilder('shape_ops', { x: { dtype: 'float32', shape: [2, 3] } });
    const x = b.inputs.x;
    const g = b.build({
      r: b.reshape(x, [3, -1]),
      t: b.transpose(x, [1, 0]),
      s: b.slice(x, [-2, 0], [100, 2], [1, 0]),
      e: b.slice(x, [1], [1], [1]),
    });
    const out = await runOnce(g, { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
    expectTensor(out.r, 'float32', [3, 2], [1, 2, 3, 4, 5, 6]);
    expectTensor(out.t, 'float32', [3, 2], [1, 4, 2, 5, 3, 6]);
    expectTensor(out.s, 'float32', [2, 2], [2, 3, 5, 6]);
    expectTensor(out.e, 'float32', [2, 0], []);
  });
  it('transpose of a rank-3 bool tensor', async () => {
    const b = new GraphBuilder('transpose3', { m: { dtype: 'bool', shape: [1, 2, 3] } });
    const { y } = await runOnce(b.build({ y: b.transpose(b.inputs.m, [2, 0, 1]) }), { m: bool([1, 2, 3], [1, 0, 0, 0, 1, 1]) });
    expectTensor(y, 'bool', [3, 1, 2], [1, 0, 0, 1, 0, 1]);
  });
  it('expand both ways (numpy rules)', async () => {
    const b = new GraphBuilder('expand', { x: { dtype: 'float32', shape: [2, 1] } });
    const g = b.build({ y: b.expand(b.inputs.x, [3]), z: b.expand(b.inputs.x, [2, 1, 2]) });
    const out = await runOnce(g, { x: f32([2, 1], [1, 2]) });
    expectTensor(out.y, 'float32', [2, 3], [1, 1, 1, 2, 2, 2]);
    expectTensor(out.z, 'float32', [2, 2, 2], [1, 1, 2, 2, 1, 1, 2, 2]);
  });
});

describe('where, compare and logical ops', () => {
  it('where broadcasts cond, a and b', async () => {
    const b = new GraphBuilder('where', {
      c: { dtype: 'bool', shape: [2, 1] },
      a: { dtype: 'float32', shape: [3] },
      b: { dtype: 'float32', shape: [] },
    });
    const { y } = await runOnce(b.build({ y: b.where(b.inputs.c, b.inputs.a, b.inputs.b) }), {
      c: bool([2, 1], [1, 0]),
      a: f32([3], [1, 2, 3]),
      b: f32([], [-1]),
    });
    expectTensor(y, 'float32', [2, 3], [1, 2, 3, -1, -1, -1]);
  });
  it('where on int64 and on bool', async () => {
    const b = new GraphBuilder('where_int', {
      c: { dtype: 'bool', shape: [3] },
      a: { dtype: 'int64', shape: [3] },
      m: { dtype: 'bool', shape: [3] },
    });
    const { c, a, m } = b.inputs;
    const out = await runOnce(b.build({ i: b.where(c, a, b.neg(a)), mm: b.where(c, m, b.logicalNot(m)) }), {
      c: bool([3], [1, 0, 1]),
      a: i64([3], [4, 5, 6]),
      m: bool([3], [0, 0, 1]),
    });
    expectTensor(out.i, 'int64', [3], [4, -5, 6]);
    expectTensor(out.mm, 'bool', [3], [0, 1, 1]);
  });
  it('equal, greater, less on float32 and int32', async () => {
    const b = new GraphBuilder('compare', {
      a: { dtype: 'float32', shape: [4] },
      b: { dtype: 'float32', shape: [4] },
      i: { dtype: 'int32', shape: [4] },
    });
    const { a, b: bb, i } = b.inputs;
    const zero = b.constant(1, [], 'int32');
    const g = b.build({
      eq: b.equal(a, bb),
      gt: b.greater(a, bb),
      lt: b.less(a, bb),
      ieq: b.equal(i, zero),
      igt: b.greater(i, zero),
      ilt: b.less(i, zero),
    });
    const out = await runOnce(g, { a: f32([4], [1, 2, NaN, -Infinity]), b: f32([4], [1, 3, 0, -1]), i: i32([4], [0, 1, 2, -5]) });
    expectTensor(out.eq, 'bool', [4], [1, 0, 0, 0]);
    expectTensor(out.gt, 'bool', [4], [0, 0, 0, 0]);
    expectTensor(out.lt, 'bool', [4], [0, 1, 0, 1]);
    expectTensor(out.ieq, 'bool', [4], [0, 1, 0, 0]);
    expectTensor(out.igt, 'bool', [4], [0, 0, 1, 0]);
    expectTensor(out.ilt, 'bool', [4], [1, 0, 0, 1]);
  });
  it('logicalAnd, logicalOr (broadcasting), logicalNot', async () => {
    const b = new GraphBuilder('logical', { p: { dtype: 'bool', shape: [4] }, q: { dtype: 'bool', shape: [2, 1] } });
    const { p, q } = b.inputs;
    const out = await runOnce(b.build({ and: b.logicalAnd(p, q), or: b.logicalOr(p, q), not: b.logicalNot(p) }), {
      p: bool([4], [0, 1, 0, 1]),
      q: bool([2, 1], [0, 1]),
    });
    expectTensor(out.and, 'bool', [2, 4], [0, 0, 0, 0, 0, 1, 0, 1]);
    expectTensor(out.or, 'bool', [2, 4], [0, 1, 0, 1, 1, 1, 1, 1]);
    expectTensor(out.not, 'bool', [4], [1, 0, 1, 0]);
  });
});

describe('cast', () => {
  it('float32 -> int32 and int64 truncate toward zero; -> bool is x != 0 (NaN is true); -> float32 is identity', async () => {
    const b = new GraphBuilder('cast_float', { x: { dtype: 'float32', shape: [6] } });
    const x = b.inputs.x;
    const g = b.build({ i: b.cast(x, 'int32'), l: b.cast(x, 'int64'), m: b.cast(x, 'bool'), f: b.cast(x, 'float32') });
    const out = await runOnce(g, { x: f32([6], [-1.7, 2.9, 0, -0, 0.25, 7]) });
    expectTensor(out.i, 'int32', [6], [-1, 2, 0, 0, 0, 7]);
    expectTensor(out.l, 'int64', [6], [-1, 2, 0, 0, 0, 7]);
    expectTensor(out.m, 'bool', [6], [1, 1, 0, 0, 1, 1]);
    expectTensor(out.f, 'float32', [6], [-1.7, 2.9, 0, 0, 0.25, 7].map(fr), 0, 0);
    const nan = await runOnce(g, { x: f32([6], [NaN, 1, 1, 1, 1, 1]) });
    expect(values(nan.m)[0]).toBe(1);
  });
  it('bool -> float32 is 0/1, int -> float, int32 <-> int64, int -> bool', async () => {
    const b = new GraphBuilder('cast_other', {
      m: { dtype: 'bool', shape: [3] },
      i: { dtype: 'int32', shape: [3] },
      l: { dtype: 'int64', shape: [3] },
    });
    const { m, i, l } = b.inputs;
    const g = b.build({
      mf: b.cast(m, 'float32'),
      mi: b.cast(m, 'int32'),
      if: b.cast(i, 'float32'),
      il: b.cast(i, 'int64'),
      li: b.cast(l, 'int32'),
      ib: b.cast(i, 'bool'),
    });
    const out = await runOnce(g, { m: bool([3], [1, 0, 1]), i: i32([3], [-3, 0, 9]), l: i64([3], [5, -6, 0]) });
    expectTensor(out.mf, 'float32', [3], [1, 0, 1]);
    expectTensor(out.mi, 'int32', [3], [1, 0, 1]);
    expectTensor(out.if, 'float32', [3], [-3, 0, 9]);
    expectTensor(out.il, 'int64', [3], [-3, 0, 9]);
    expectTensor(out.li, 'int32', [3], [5, -6, 0]);
    expectTensor(out.ib, 'bool', [3], [1, 0, 1]);
  });
});

describe('layerNorm and l2Normalize', () => {
  it('layerNorm over the last axis with biased variance, gamma and beta from weights', async () => {
    const b = new GraphBuilder('layernorm', { x: { dtype: 'float32', shape: ['batch', 4] } });
    const gamma = b.param('ln/gamma', [4]);
    const beta = b.param('ln/beta', [4]);
    const g = b.build({ y: b.layerNorm(b.inputs.x, gamma, beta, 1e-3) });
    const weights = new Map([
      ['ln/gamma', f32([4], [1, 2, 0.5, -1])],
      ['ln/beta', f32([4], [0, 1, 0, 10])],
    ]);
    const rows = [
      [1, 2, 3, 4],
      [5, 5, 5, 5],
      [1000, 1001, 1002, 1003],
    ];
    const { y } = await runOnce(g, { x: f32([3, 4], rows.flat()) }, weights);
    const want = rows.flatMap((r) => {
      const mean = r.reduce((p, q) => p + q) / 4;
      const v = r.reduce((p, q) => p + (q - mean) ** 2, 0) / 4;
      return r.map((q, j) => ((q - mean) / Math.sqrt(v + 1e-3)) * [1, 2, 0.5, -1][j]! + [0, 1, 0, 10][j]!);
    });
    expectTensor(y, 'float32', [3, 4], want, 1e-5, 1e-5);
  });
  it('l2Normalize divides by max(norm, epsilon), on the last axis and on axis 0', async () => {
    const b = new GraphBuilder('l2', { x: { dtype: 'float32', shape: [2, 2] } });
    const g = b.build({ y: b.l2Normalize(b.inputs.x), z: b.l2Normalize(b.inputs.x, 0), e: b.l2Normalize(b.inputs.x, -1, 10) });
    const out = await runOnce(g, { x: f32([2, 2], [3, 4, 0, 0]) });
    expectTensor(out.y, 'float32', [2, 2], [0.6, 0.8, 0, 0]);
    expectTensor(out.z, 'float32', [2, 2], [1, 1, 0, 0]);
    expectTensor(out.e, 'float32', [2, 2], [0.3, 0.4, 0, 0]);
  });
});

describe('constants, parameters and outputs', () => {
  it('float32 constants keep NaN and +-Infinity; int32, int64 and bool constants; a scalar', async () => {
    const b = new GraphBuilder('constants', { x: { dtype: 'float32', shape: [3] } });
    const c = b.constant([NaN, Infinity, -Infinity], [3]);
    const g = b.build({
      f: b.add(b.inputs.x, c),
      i: b.constant([1, -2, 3, 4], [2, 2], 'int32'),
      l: b.constant([-9007199254740991], [1], 'int64'),
      m: b.constant([1, 0], [2], 'bool'),
      s: b.mul(b.inputs.x, b.scalar(0.5)),
    });
    const out = await runOnce(g, { x: f32([3], [1, 2, 3]) });
    expectTensor(out.f, 'float32', [3], [NaN, Infinity, -Infinity]);
    expectTensor(out.i, 'int32', [2, 2], [1, -2, 3, 4]);
    expect(Array.from(out.l.data as BigInt64Array)).toEqual([-9007199254740991n]);
    expectTensor(out.m, 'bool', [2], [1, 0]);
    expectTensor(out.s, 'float32', [3], [0.5, 1, 1.5]);
  });
  it('an output may be an input, a parameter, or a value another output also names', async () => {
    const b = new GraphBuilder('outputs', { x: { dtype: 'float32', shape: [2] } });
    const w = b.param('w', [2]);
    const y = b.add(b.inputs.x, w);
    const g = b.build({ x: b.inputs.x, xCopy: b.inputs.x, w, y, y2: y });
    const out = await runOnce(g, { x: f32([2], [1, 2]) }, new Map([['w', f32([2], [10, 20])]]));
    expectTensor(out.x, 'float32', [2], [1, 2]);
    expectTensor(out.xCopy, 'float32', [2], [1, 2]);
    expectTensor(out.w, 'float32', [2], [10, 20]);
    expectTensor(out.y, 'float32', [2], [11, 22]);
    expectTensor(out.y2, 'float32', [2], [11, 22]);
  });
  it('a graph input no node reads is still accepted and checked', async () => {
    const b = new GraphBuilder('unused_input', { x: { dtype: 'float32', shape: [2] }, unused: { dtype: 'int32', shape: ['n'] } });
    const g = b.build({ y: b.neg(b.inputs.x) });
    const out = await runOnce(g, { x: f32([2], [1, -2]), unused: i32([3], [1, 2, 3]) });
    expectTensor(out.y, 'float32', [2], [-1, 2]);
  });
});

itPassesChecker();
