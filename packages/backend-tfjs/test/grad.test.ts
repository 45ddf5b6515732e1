/** Gradients: hand values for the conventions of the spec, finite differences for the rest; cpu and wasm. */
import { beforeAll, describe, expect, it } from 'vitest';
import { type FeatureSchema, type Float, type InputsOf, type Value, GraphBuilder, init } from '@lctr/spec';
import { compileTfjs } from '../src/index.ts';
import { BACKENDS, bool, checkGradFD, expectClose, f32, i32, i64, nums, useBackend } from './helpers.ts';

type Params = Record<string, { shape: number[]; values: number[] }>;

/** Gradients of sum(y * cotangent) for parameters with given values. */
function gradsOf<S extends FeatureSchema>(
  schema: S,
  params: Params,
  f: (b: GraphBuilder<S>, p: Record<string, Float>) => Value,
  inputs: InputsOf<S>,
  cotangent?: number[],
): { value: number[]; grads: Record<string, number[]> } {
  const b = new GraphBuilder('grad', schema);
  const p: Record<string, Float> = {};
  for (const [name, { shape }] of Object.entries(params)) p[name] = b.param(name, shape, init.zeros());
  const g = b.build({ y: f(b, p) });
  const m = compileTfjs(g, { weights: new Map(Object.entries(params).map(([k, v]) => [k, f32(v.shape, v.values)])) });
  try {
    const y = m.run(inputs).y;
    const r = m.gradients(inputs, 'y', cotangent ? f32([...y.shape], cotangent) : undefined);
    return { value: nums(r.value), grads: Object.fromEntries([...r.grads].map(([k, v]) => [k, nums(v)])) };
  } finally {
    m.dispose();
  }
}

const F = (shape: readonly (number | string)[]) => ({ dtype: 'float32', shape }) as const;

describe.each(BACKENDS)('gradients on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('maximum and minimum: ties go to a', () => {
    const ab = { a: { shape: [3], values: [1, 2, 3] }, b: { shape: [3], values: [1, 3, 2] } };
    expect(gradsOf({}, ab, (b, p) => b.maximum(p.a!, p.b!), {}, [1, 2, 3]).grads).toEqual({ a: [1, 0, 3], b: [0, 2, 0] });
    expect(gradsOf({}, ab, (b, p) => b.minimum(p.a!, p.b!), {}, [1, 2, 3]).grads).toEqual({ a: [1, 2, 0], b: [0, 0, 3] });
  });

  it('maximum broadcasting sums back to the smaller input', () => {
    const r = gradsOf(
      {},
      { a: { shape: [2, 2], values: [1, 5, 3, 0] }, b: { shape: [1], values: [3] } },
      (b, p) => b.maximum(p.a!, p.b!),
      {},
    );
    expect(r.grads).toEqual({ a: [0, 1, 1, 0], b: [2] });
  });

  it("relu'(0) = 0 and abs'(0) = 0", () => {
    const x = { x: { shape: [3], values: [-1, 0, 2] } };
    expect(gradsOf({}, x, (b, p) => b.relu(p.x!), {}).grads.x).toEqual([0, 0, 1]);
    expect(gradsOf({}, x, (b, p) => b.abs(p.x!), {}).grads.x).toEqual([-1, 0, 1]);
  });

  it('reduceMax: every position equal to the max gets the full gradient', () => {
    expect(gradsOf({}, { x: { shape: [4], values: [1, 3, 3, 2] } }, (b, p) => b.reduceMax(p.x!, 0), {}).grads.x).toEqual([0, 1, 1, 0]);
    const r = gradsOf({}, { x: { shape: [2, 3], values: [1, 5, 5, 7, 7, 0] } }, (b, p) => b.reduceMax(p.x!, 1, true), {}, [2, 3]);
    expect(r.grads.x).toEqual([0, 2, 2, 3, 3, 0]);
  });

  it('pow: d/da = b a^(b-1), d/db = y log a where a > 0 and exactly 0 where a <= 0', () => {
    const r = gradsOf(
      {},
      { a: { shape: [4], values: [-2, 0, 2, 4] }, b: { shape: [4], values: [2, 2, 3, 0.5] } },
      (b, p) => b.pow(p.a!, p.b!),
      {},
    );
    expectClose(r.grads.a!, [-4, 0, 12, 0.25]);
    expectClose(r.grads.b!, [0, 0, 8 * Math.LN2, 2 * Math.log(4)]);
    const nan = gradsOf({}, { a: { shape: [2], values: [-8, 0] }, b: { shape: [2], values: [0.5, 0.5] } }, (b, p) => b.pow(p.a!, p.b!), {});
    expect(nan.value[0]).toBeNaN(); // (-8)^0.5
    expect(nan.grads.b).toEqual([0, 0]); // not NaN
  });

  it('where: a gets dy where cond, b where not, summed over broadcast axes', () => {
    const r = gradsOf(
      { c: { dtype: 'bool', shape: [3] } },
      { a: { shape: [3], values: [1, 2, 3] }, b: { shape: [1], values: [9] } },
      (b, p) => b.where(b.inputs.c, p.a!, p.b!),
      { c: bool([3], [1, 0, 1]) },
      [1, 2, 3],
    );
    expect(r.value).toEqual([1, 9, 3]);
    expect(r.grads).toEqual({ a: [1, 0, 3], b: [2] });
  });

  it('gather scatter-adds repeated rows (axis 0, 2-D indices, int64 indices)', () => {
    const table = { t: { shape: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8] } };
    const r = gradsOf({ i: { dtype: 'int32', shape: [4] } }, table, (b, p) => b.gather(p.t!, b.inputs.i), { i: i32([4], [0, 2, 0, 3]) });
    expect(r.grads.t).toEqual([2, 2, 0, 0, 1, 1, 1, 1]);
    const r2 = gradsOf(
      { i: { dtype: 'int64', shape: [2, 2] } },
      table,
      (b, p) => b.gather(p.t!, b.inputs.i),
      { i: i64([2, 2], [3, 0, 3, 3]) },
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    expect(r2.grads.t).toEqual([3, 4, 0, 0, 0, 0, 1 + 5 + 7, 2 + 6 + 8]);
  });

  it('gather along axis 1 scatter-adds columns', () => {
    const r = gradsOf(
      { i: { dtype: 'int32', shape: [3] } },
      { t: { shape: [2, 4], values: [1, 2, 3, 4, 5, 6, 7, 8] } },
      (b, p) => b.gather(p.t!, b.inputs.i, 1),
      { i: i32([3], [1, 1, 3]) },
    );
    expect(r.value).toEqual([2, 2, 4, 6, 6, 8]);
    expect(r.grads.t).toEqual([0, 2, 0, 1, 0, 2, 0, 1]);
  });

  it('gatherAlongAxis scatter-adds per batch row', () => {
    const r = gradsOf(
      { i: { dtype: 'int32', shape: [2, 2] } },
      { x: { shape: [2, 3, 2], values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] } },
      (b, p) => b.gatherAlongAxis(p.x!, b.inputs.i, 1),
      { i: i32([2, 2], [2, 2, 0, 1]) },
    );
    expect(r.grads.x).toEqual([0, 0, 0, 0, 2, 2, 1, 1, 1, 1, 0, 0]);
  });

  it('topk carries no gradient: only the rows gathered by its indices do', () => {
    const r = gradsOf(
      {},
      { x: { shape: [1, 4], values: [1, 4, 2, 3] } },
      (b, p) => {
        const t = b.topk(p.x!, 2);
        return b.add(b.gatherAlongAxis(p.x!, t.indices, 1), t.values);
      },
      {},
    );
    expect(r.value).toEqual([8, 6]);
    expect(r.grads.x).toEqual([0, 1, 0, 1]);
  });

  it('stopGradient, compare and cast to int carry no gradient', () => {
    const x = { x: { shape: [2], values: [1.5, -2.5] } };
    expect(gradsOf({}, x, (b, p) => b.mul(p.x!, b.stopGradient(p.x!)), {}).grads.x).toEqual([1.5, -2.5]);
    expect(gradsOf({}, x, (b, p) => b.mul(b.cast(b.cast(p.x!, 'int32'), 'float32'), p.x!), {}).grads.x).toEqual([1, -2]);
    expect(gradsOf({}, x, (b, p) => b.where(b.greater(p.x!, b.scalar(0)), p.x!, b.scalar(0)), {}).grads.x).toEqual([1, 0]);
  });

  it('matmul: weight gradients with a shared [k, n] weight (batch folded) and batched weights', () => {
    const w = { w: { shape: [3, 2], values: [1, 2, 3, 4, 5, 6] } };
    const r = gradsOf({ x: F([2, 3]) }, w, (b, p) => b.matmul(b.inputs.x, p.w!), { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
    expect(r.grads.w).toEqual([5, 5, 7, 7, 9, 9]);
    const r3 = gradsOf({ x: F([2, 2, 3]) }, w, (b, p) => b.matmul(b.inputs.x, p.w!), {
      x: f32([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    });
    expect(r3.grads.w).toEqual([22, 22, 26, 26, 30, 30]);
    const rx = gradsOf(
      {},
      { x: { shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6] } },
      (b, p) => b.matmul(p.x!, b.constant([1, 2, 3, 4, 5, 6], [3, 2])),
      {},
    );
    expect(rx.grads.x).toEqual([3, 7, 11, 3, 7, 11]);
  });

  it('parameters off the path get zeros; the value comes back too', () => {
    const b = new GraphBuilder('two', {});
    const used = b.param('used', [2], init.constant(1));
    const other = b.param('other', [3], init.constant(2));
    const m = compileTfjs(b.build({ y: b.mul(used, b.scalar(3)), z: b.reduceSum(other, 0) }));
    const r = m.gradients({}, 'y');
    expect(nums(r.value)).toEqual([3, 3]);
    expect(Object.fromEntries([...r.grads].map(([k, v]) => [k, nums(v)]))).toEqual({ used: [3, 3], other: [0, 0, 0] });
    m.dispose();
    const r2 = gradsOf({ x: F([2]) }, { p: { shape: [2], values: [1, 2] } }, (b, p) => b.add(b.inputs.x, b.stopGradient(p.p!)), {
      x: f32([2], [5, 5]),
    });
    expect(r2).toEqual({ value: [6, 7], grads: { p: [0, 0] } });
  });

  describe('finite differences', () => {
    const unary: Array<[string, (b: GraphBuilder, x: Float) => Float]> = [
      ['div (numerator and denominator)', (b, x) => b.div(x, b.add(b.abs(x), b.scalar(0.5)))],
      ['sqrt, log, exp', (b, x) => b.add(b.sqrt(b.exp(x)), b.log(b.add(b.abs(x), b.scalar(1))))],
      ['sigmoid, tanh, softplus', (b, x) => b.add(b.sigmoid(x), b.mul(b.tanh(x), b.softplus(b.mul(x, b.scalar(3)))))],
      ['elu alpha 0.5', (b, x) => b.elu(b.mul(x, b.scalar(2)), 0.5)],
      ['softmax axis 0 and logSoftmax', (b, x) => b.add(b.softmax(x, 0), b.logSoftmax(x))],
      ['l2Normalize', (b, x) => b.l2Normalize(x)],
      ['reduceMean, reduceSum keepDims', (b, x) => b.mul(b.reduceMean(x, 1, true), b.reduceSum(x, [0, 1], true))],
      [
        'transpose, reshape, slice, concat',
        (b, x) => b.concat([b.reshape(b.transpose(x, [1, 0]), [2, 3]), b.slice(b.mul(x, x), [1], [3], [1])], 1),
      ],
      [
        'expand, sub, neg, cast',
        (b, x) => b.sub(b.expand(b.reshape(b.reduceSum(x, 1), [2, 1, 1]), [2, 2, 3]), b.neg(b.cast(x, 'float32'))),
      ],
      ['pow', (b, x) => b.pow(b.add(b.abs(x), b.scalar(0.5)), x)],
      ['maximum, minimum (no ties)', (b, x) => b.add(b.maximum(x, b.scalar(0.1)), b.minimum(b.mul(x, x), b.scalar(0.3)))],
    ];
    it.each(unary)('%s', (_name, f) => {
      const b = new GraphBuilder('fd', {});
      const x = b.param('x', [2, 3], init.uniform(-1, 1));
      checkGradFD(b.build({ y: f(b as unknown as GraphBuilder, x) }), {});
    });

    it('layerNorm (x, gamma, beta)', () => {
      const b = new GraphBuilder('ln', {});
      const x = b.param('x', [2, 4], init.uniform(-1, 1));
      const g = b.param('g', [4], init.uniform(0.5, 1.5));
      const be = b.param('be', [4], init.uniform(-1, 1));
      checkGradFD(b.build({ y: b.layerNorm(x, g, be) }), {});
    });

    it('matmul with batch dims broadcast both ways', () => {
      const b = new GraphBuilder('mm', {});
      const a = b.param('a', [2, 1, 2, 3], init.uniform(-1, 1));
      const w = b.param('w', [1, 3, 3, 2], init.uniform(-1, 1));
      checkGradFD(b.build({ y: b.matmul(a, w) }), {});
    });

    it('gather with 2-D indices and gatherAlongAxis on axis 2', () => {
      const b = new GraphBuilder('ga', { i: { dtype: 'int32', shape: [2, 2] }, j: { dtype: 'int32', shape: [2, 2, 2] } } as const);
      const t = b.param('t', [3, 2, 3], init.uniform(-1, 1));
      const g = b.gather(t, b.inputs.i, 0); // [2, 2, 2, 3]
      const s = b.reshape(g, [2, 2, 6]);
      checkGradFD(b.build({ y: b.gatherAlongAxis(s, b.inputs.j, 2) }), {
        i: i32([2, 2], [2, 0, 2, 1]),
        j: i32([2, 2, 2], [5, 5, 0, 3, 1, 2, 4, 4]),
      });
    });
  });
});
