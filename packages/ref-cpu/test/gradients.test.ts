/**
 * Every differentiable op against central finite differences (float64), on random operands of a
 * couple of shapes including broadcasting; every op without gradient shown to contribute zero.
 * The case table is typed over every OpName and the suite enumerates OP_NAMES.
 */
import { describe, expect, it } from 'vitest';
import { type Bool, type Float, GraphBuilder, OP_NAMES, type OpName, Rng } from '@lctr/spec';
import { GRADIENTS, gradRef, isNoGradient, runRef } from '../src/index.ts';
import { type GradCase, awayFromZero, bool, checkGradients, expectValues, f32, fill, gradCase, i32, normal, uniform } from './helpers.ts';

const F = 'float32' as const;
const positive = uniform(0.3, 2);

/** Differentiable ops: grad cases. Ops without gradient: a check that they contribute exactly zero. */
type Entry = { grad: GradCase[] } | { zero: () => void };

const ZERO = (xs: Float64Array | undefined) => {
  expect(xs).toBeDefined();
  expectValues(xs!, new Array<number>(xs!.length).fill(0), 0);
};

const CASES: { readonly [N in OpName]: Entry } = {
  matmul: {
    grad: [
      gradCase('matmul 2d', {}, (b, p) => b.matmul(p.a!, p.b!), { params: { a: { shape: [3, 4] }, b: { shape: [4, 2] } } }),
      gradCase('matmul batch x shared', { a: { dtype: F, shape: [2, 3, 4] } }, (b, p) => b.matmul(b.inputs.a, p.w!), {
        params: { w: { shape: [4, 5] } },
      }),
      gradCase('matmul batch broadcast both ways', { b: { dtype: F, shape: [3, 3, 2] } }, (b, p) => b.matmul(p.a!, b.inputs.b), {
        params: { a: { shape: [2, 1, 2, 3] } },
      }),
    ],
  },
  add: {
    grad: [
      gradCase('add broadcast', { b: { dtype: F, shape: [3] } }, (b, p) => b.add(p.a!, b.inputs.b), { params: { a: { shape: [2, 3] } } }),
      gradCase('add both broadcast', {}, (b, p) => b.add(p.a!, p.b!), { params: { a: { shape: [2, 1, 3] }, b: { shape: [4, 1] } } }),
    ],
  },
  sub: {
    grad: [
      gradCase('sub broadcast', { b: { dtype: F, shape: [2, 1] } }, (b, p) => b.sub(p.a!, b.inputs.b), {
        params: { a: { shape: [2, 3] } },
      }),
      gradCase('sub same', {}, (b, p) => b.sub(p.a!, p.b!), { params: { a: { shape: [3] }, b: { shape: [3] } } }),
    ],
  },
  mul: {
    grad: [
      gradCase('mul broadcast', { b: { dtype: F, shape: [3] } }, (b, p) => b.mul(p.a!, b.inputs.b), { params: { a: { shape: [2, 3] } } }),
      gradCase('mul both broadcast', {}, (b, p) => b.mul(p.a!, p.b!), { params: { a: { shape: [2, 1, 3] }, b: { shape: [4, 1] } } }),
      // the same value on both sides: x * x
      gradCase('mul square', {}, (b, p) => b.mul(p.a!, p.a!), { params: { a: { shape: [4] } } }),
    ],
  },
  div: {
    grad: [
      gradCase('div broadcast', { b: { dtype: F, shape: [3] } }, (b, p) => b.div(p.a!, b.inputs.b), {
        params: { a: { shape: [2, 3] } },
        floats: { b: awayFromZero(0.5, 2) },
      }),
      gradCase('div scalar numerator', {}, (b, p) => b.div(p.a!, p.b!), {
        params: { a: { shape: [] }, b: { shape: [2, 2], gen: awayFromZero(0.5, 2) } },
      }),
    ],
  },
  pow: {
    grad: [
      gradCase('pow', {}, (b, p) => b.pow(p.a!, p.b!), {
        params: { a: { shape: [2, 3], gen: positive }, b: { shape: [2, 3], gen: uniform(-1.5, 2.5) } },
      }),
      gradCase('pow broadcast exponent', { b: { dtype: F, shape: [3] } }, (b, p) => b.pow(p.a!, b.inputs.b), {
        params: { a: { shape: [2, 3], gen: positive } },
        floats: { b: uniform(-1, 3) },
      }),
    ],
  },
  maximum: {
    grad: [
      gradCase('maximum', {}, (b, p) => b.maximum(p.a!, p.b!), { params: { a: { shape: [3, 4] }, b: { shape: [3, 4] } } }),
      gradCase('maximum broadcast', { b: { dtype: F, shape: [4] } }, (b, p) => b.maximum(p.a!, b.inputs.b), {
        params: { a: { shape: [3, 4] } },
      }),
    ],
  },
  minimum: {
    grad: [
      gradCase('minimum', {}, (b, p) => b.minimum(p.a!, p.b!), { params: { a: { shape: [3, 4] }, b: { shape: [3, 4] } } }),
      gradCase('minimum broadcast', { b: { dtype: F, shape: [3, 1] } }, (b, p) => b.minimum(p.a!, b.inputs.b), {
        params: { a: { shape: [3, 4] } },
      }),
    ],
  },
  neg: { grad: [gradCase('neg', { x: { dtype: F, shape: [2, 3] } }, (b) => b.neg(b.inputs.x), {})] },
  abs: { grad: [gradCase('abs', {}, (b, p) => b.abs(p.x!), { params: { x: { shape: [2, 5], gen: awayFromZero() } } })] },
  exp: { grad: [gradCase('exp', {}, (b, p) => b.exp(p.x!), { params: { x: { shape: [2, 3] } } })] },
  log: { grad: [gradCase('log', {}, (b, p) => b.log(p.x!), { params: { x: { shape: [2, 3], gen: positive } } })] },
  sqrt: { grad: [gradCase('sqrt', {}, (b, p) => b.sqrt(p.x!), { params: { x: { shape: [2, 3], gen: positive } } })] },
  relu: { grad: [gradCase('relu', {}, (b, p) => b.relu(p.x!), { params: { x: { shape: [3, 4], gen: awayFromZero() } } })] },
  sigmoid: { grad: [gradCase('sigmoid', {}, (b, p) => b.sigmoid(p.x!), { params: { x: { shape: [2, 3], gen: uniform(-4, 4) } } })] },
  tanh: { grad: [gradCase('tanh', {}, (b, p) => b.tanh(p.x!), { params: { x: { shape: [2, 3], gen: uniform(-2, 2) } } })] },
  softplus: {
    grad: [
      gradCase('softplus', {}, (b, p) => b.softplus(p.x!), { params: { x: { shape: [2, 3], gen: uniform(-4, 4) } } }),
      gradCase('softplus large', {}, (b, p) => b.softplus(p.x!), { params: { x: { shape: [4], gen: awayFromZero(20, 40) } } }),
    ],
  },
  elu: { grad: [gradCase('elu', {}, (b, p) => b.elu(p.x!, 0.7), { params: { x: { shape: [3, 4], gen: awayFromZero(0.1, 2) } } })] },
  softmax: {
    grad: [
      gradCase('softmax last', {}, (b, p) => b.softmax(p.x!), { params: { x: { shape: [2, 4] } } }),
      gradCase('softmax middle axis', { x: { dtype: F, shape: [2, 3, 2] } }, (b) => b.softmax(b.inputs.x, 1), {}),
    ],
  },
  logSoftmax: {
    grad: [
      gradCase('logSoftmax last', {}, (b, p) => b.logSoftmax(p.x!), { params: { x: { shape: [2, 4] } } }),
      gradCase('logSoftmax axis 0', { x: { dtype: F, shape: [3, 2] } }, (b) => b.logSoftmax(b.inputs.x, 0), {}),
    ],
  },
  reduceSum: {
    grad: [
      gradCase('reduceSum axis 1', {}, (b, p) => b.reduceSum(p.x!, 1), { params: { x: { shape: [2, 3, 2] } } }),
      gradCase('reduceSum keepDims', {}, (b, p) => b.reduceSum(p.x!, [0, 2], true), { params: { x: { shape: [2, 3, 2] } } }),
    ],
  },
  reduceMean: {
    grad: [
      gradCase('reduceMean', {}, (b, p) => b.reduceMean(p.x!, [1]), { params: { x: { shape: [2, 3] } } }),
      gradCase('reduceMean all keepDims', {}, (b, p) => b.reduceMean(p.x!, [0, 1], true), { params: { x: { shape: [3, 2] } } }),
    ],
  },
  reduceMax: {
    grad: [
      gradCase('reduceMax', {}, (b, p) => b.reduceMax(p.x!, 1), { params: { x: { shape: [3, 4] } } }),
      gradCase('reduceMax two axes', {}, (b, p) => b.reduceMax(p.x!, [0, 2], true), { params: { x: { shape: [2, 3, 2] } } }),
    ],
  },
  concat: {
    grad: [
      gradCase('concat axis 1', { b: { dtype: F, shape: [2, 2] } }, (b, p) => b.concat([p.a!, b.inputs.b], 1), {
        params: { a: { shape: [2, 3] } },
      }),
      gradCase('concat three axis 0', {}, (b, p) => b.concat([p.a!, p.b!, p.a!], 0), {
        params: { a: { shape: [1, 3] }, b: { shape: [2, 3] } },
      }),
    ],
  },
  reshape: {
    grad: [
      gradCase('reshape -1', {}, (b, p) => b.mul(b.reshape(p.x!, [3, -1]), p.w!), {
        params: { x: { shape: [2, 6] }, w: { shape: [3, 4] } },
      }),
      gradCase('reshape', {}, (b, p) => b.reshape(p.x!, [2, 3]), { params: { x: { shape: [6] } } }),
    ],
  },
  transpose: {
    grad: [
      gradCase('transpose 3d', {}, (b, p) => b.mul(b.transpose(p.x!, [2, 0, 1]), p.w!), {
        params: { x: { shape: [2, 3, 4] }, w: { shape: [4, 2, 3] } },
      }),
      gradCase('transpose 2d', { x: { dtype: F, shape: [2, 3] } }, (b) => b.transpose(b.inputs.x, [1, 0]), {}),
    ],
  },
  slice: {
    grad: [
      gradCase('slice two axes', {}, (b, p) => b.slice(p.x!, [1, 1], [3, -1], [0, 1]), { params: { x: { shape: [3, 4] } } }),
      gradCase('slice last axis', { x: { dtype: F, shape: [2, 5] } }, (b) => b.slice(b.inputs.x, [-3], [4], [1]), {}),
    ],
  },
  expand: {
    grad: [
      gradCase('expand', {}, (b, p) => b.expand(p.x!, [2, 3, 4]), { params: { x: { shape: [3, 1] } } }),
      gradCase('expand both ways', { x: { dtype: F, shape: [3, 1] } }, (b) => b.expand(b.inputs.x, [1, 2]), {}),
    ],
  },
  gather: {
    grad: [
      // repeated indices: the table gradient adds up
      gradCase('gather axis 0', { i: { dtype: 'int32', shape: [2, 3] } }, (b, p) => b.gather(p.t!, b.inputs.i), {
        params: { t: { shape: [5, 3] } },
        feeds: { i: i32([2, 3], [4, 0, 4, 1, 4, 2]) },
      }),
      gradCase('gather axis 1', { i: { dtype: 'int32', shape: [4] } }, (b, p) => b.gather(p.t!, b.inputs.i, 1), {
        params: { t: { shape: [2, 5, 3] } },
        feeds: { i: i32([4], [1, 3, 1, 0]) },
      }),
    ],
  },
  gatherAlongAxis: {
    grad: [
      gradCase('gatherAlongAxis axis 1', { i: { dtype: 'int32', shape: [2, 3] } }, (b, p) => b.gatherAlongAxis(p.x!, b.inputs.i), {
        params: { x: { shape: [2, 5, 3] } },
        feeds: { i: i32([2, 3], [4, 0, 4, 1, 2, 2]) },
      }),
      gradCase('gatherAlongAxis axis 2', { i: { dtype: 'int32', shape: [2, 3, 2] } }, (b, p) => b.gatherAlongAxis(p.x!, b.inputs.i, 2), {
        params: { x: { shape: [2, 3, 4] } },
        feeds: { i: i32([2, 3, 2], [3, 3, 0, 1, 2, 0, 1, 1, 3, 2, 0, 3]) },
      }),
    ],
  },
  scatterAlongAxis: {
    grad: [
      gradCase(
        'scatterAlongAxis axis 1, a repeated index',
        { i: { dtype: 'int32', shape: [2, 3] } },
        (b, p) => b.scatterAlongAxis(p.u!, b.inputs.i, 5),
        { params: { u: { shape: [2, 3, 2] } }, feeds: { i: i32([2, 3], [4, 0, 4, 1, 2, 3]) } },
      ),
      gradCase('scatterAlongAxis last axis', { i: { dtype: 'int32', shape: [3, 2] } }, (b, p) => b.scatterAlongAxis(p.u!, b.inputs.i, 4), {
        params: { u: { shape: [3, 2] } },
        feeds: { i: i32([3, 2], [3, 1, 0, 2, 2, 2]) },
      }),
    ],
  },
  topk: {
    zero: () => {
      const b = new GraphBuilder('t', { m: { dtype: 'bool', shape: [2, 4] } });
      const x = b.param('x', [2, 4]);
      const { values, indices } = b.topk(x, 2, b.inputs.m);
      const g = b.build({ y: b.add(values, b.cast(indices, 'float32')) });
      const w = new Map([['x', f32([2, 4], [1, 4, 2, 3, 5, 6, 7, 8])]]);
      const r = gradRef(g, w, { m: bool([2, 4], [1, 1, 1, 1, 1, 0, 1, 0]) }, 'y');
      ZERO(r.paramGrads.get('x'));
    },
  },
  where: {
    grad: [
      gradCase('where broadcast', { c: { dtype: 'bool', shape: [2, 1] } }, (b, p) => b.where(b.inputs.c, p.a!, p.b!), {
        params: { a: { shape: [2, 3] }, b: { shape: [3] } },
        feeds: { c: bool([2, 1], [1, 0]) },
      }),
      gradCase(
        'where mixed',
        { c: { dtype: 'bool', shape: [2, 3] }, b: { dtype: F, shape: [2, 3] } },
        (b, p) => b.where(b.inputs.c, p.a!, b.inputs.b),
        { params: { a: { shape: [] } }, feeds: { c: bool([2, 3], [1, 0, 1, 0, 1, 1]) } },
      ),
    ],
  },
  equal: { zero: () => zeroThroughCompare((b, x, y) => b.equal(x, y)) },
  greater: { zero: () => zeroThroughCompare((b, x, y) => b.greater(x, y)) },
  less: { zero: () => zeroThroughCompare((b, x, y) => b.less(x, y)) },
  logicalAnd: { zero: () => zeroThroughCompare((b, x, y) => b.logicalAnd(b.greater(x, y), b.less(x, y))) },
  logicalOr: { zero: () => zeroThroughCompare((b, x, y) => b.logicalOr(b.greater(x, y), b.less(x, y))) },
  logicalNot: { zero: () => zeroThroughCompare((b, x, y) => b.logicalNot(b.greater(x, y))) },
  cast: {
    grad: [
      gradCase('cast float32 -> float32', {}, (b, p) => b.mul(b.cast(p.x!, 'float32'), p.w!), {
        params: { x: { shape: [2, 3] }, w: { shape: [3] } },
      }),
    ],
  },
  layerNorm: {
    grad: [
      gradCase('layerNorm params', {}, (b, p) => b.layerNorm(p.x!, p.g!, p.b!, 1e-3), {
        params: { x: { shape: [3, 4] }, g: { shape: [4] }, b: { shape: [4] } },
      }),
      gradCase('layerNorm input 3d', { x: { dtype: F, shape: [2, 2, 5] } }, (b, p) => b.layerNorm(b.inputs.x, p.g!, p.b!), {
        params: { g: { shape: [5] }, b: { shape: [5] } },
      }),
    ],
  },
  l2Normalize: {
    grad: [
      gradCase('l2Normalize last', {}, (b, p) => b.l2Normalize(p.x!), { params: { x: { shape: [3, 4] } } }),
      gradCase('l2Normalize axis 0', { x: { dtype: F, shape: [3, 2] } }, (b) => b.l2Normalize(b.inputs.x, 0), {}),
      // norm below epsilon: the denominator is the constant epsilon
      gradCase('l2Normalize floored', {}, (b, p) => b.l2Normalize(p.x!, -1, 10), { params: { x: { shape: [2, 3] } } }),
    ],
  },
  constant: {
    zero: () => {
      // a constant has no inputs: the gradient reaches only the operand next to it
      const b = new GraphBuilder('t', { x: { dtype: F, shape: [3] } });
      const g = b.build({ y: b.mul(b.inputs.x, b.constant([2, -1, 3], [3])) });
      const r = gradRef(g, new Map(), { x: f32([3], [5, 6, 7]) }, 'y');
      expectValues(r.inputGrads.get('x')!, [2, -1, 3], 0);
    },
  },
  stopGradient: {
    zero: () => {
      const b = new GraphBuilder('t', {});
      const p = b.param('p', [3]),
        q = b.param('q', [3]);
      const g = b.build({ y: b.mul(b.stopGradient(p), q) });
      const w = new Map([
        ['p', f32([3], [1, 2, 3])],
        ['q', f32([3], [4, 5, 6])],
      ]);
      const r = gradRef(g, w, {}, 'y');
      ZERO(r.paramGrads.get('p'));
      expectValues(r.paramGrads.get('q')!, [1, 2, 3], 0);
    },
  },
};

/** A comparison's bool output, cast to float, gives its float operands no gradient. */
function zeroThroughCompare(cmp: (b: GraphBuilder, x: Float, y: Float) => Bool): void {
  const b: GraphBuilder = new GraphBuilder('t', {});
  const x = b.param('x', [4]),
    y = b.param('y', [4]);
  const g = b.build({ out: b.cast(cmp(b, x, y), 'float32') });
  const w = new Map([
    ['x', f32([4], [1, 2, 3, 4])],
    ['y', f32([4], [2, 2, 1, 5])],
  ]);
  const r = gradRef(g, w, {}, 'out', Float64Array.from([1, -2, 3, 4]));
  ZERO(r.paramGrads.get('x'));
  ZERO(r.paramGrads.get('y'));
}

describe('gradients: every op of the vocabulary', () => {
  it('covers every op in OP_NAMES: grad cases exactly for ops with a rule, a zero check for the others', () => {
    for (const op of OP_NAMES) {
      const entry = (CASES as Partial<Record<string, Entry>>)[op];
      expect(entry, `no gradient test for op '${op}'`).toBeDefined();
      expect('grad' in entry!, `op '${op}': grad cases iff it has a gradient rule`).toBe(!isNoGradient(GRADIENTS[op]));
      if ('grad' in entry!) {
        expect(entry.grad.length).toBeGreaterThan(0);
        for (const c of entry.grad)
          expect(
            c.graph.nodes.some((n) => n.op === op),
            `case '${c.name}' does not use ${op}`,
          ).toBe(true);
      }
    }
  });

  describe.each(OP_NAMES)('%s', (op) => {
    const entry = CASES[op];
    if ('grad' in entry) {
      it.each(entry.grad.map((c) => [c.name, c] as const))('%s matches finite differences', (_, c) => {
        const g = checkGradients(c);
        // not vacuous: every differentiated operand gets a non-zero gradient somewhere
        for (const [name, grad] of [...g.params, ...g.inputs]) {
          expect(
            grad.some((v) => v !== 0),
            `${c.name}: gradient of '${name}' is all zeros`,
          ).toBe(true);
        }
      });
    } else {
      it('contributes no gradient', () => entry.zero());
    }
  });
});

describe('gradients: conventions and edge cases', () => {
  it('relu and abs have gradient 0 at 0', () => {
    const b = new GraphBuilder('t', { x: { dtype: F, shape: [3] } });
    const g = b.build({ r: b.relu(b.inputs.x), a: b.abs(b.inputs.x) });
    const x = { x: f32([3], [0, -1, 2]) };
    expectValues(gradRef(g, new Map(), x, 'r').inputGrads.get('x')!, [0, 0, 1], 0);
    expectValues(gradRef(g, new Map(), x, 'a').inputGrads.get('x')!, [0, -1, 1], 0);
  });

  it('maximum and minimum send the gradient of a tie to a', () => {
    const b = new GraphBuilder('t', { a: { dtype: F, shape: [2] }, b: { dtype: F, shape: [2] } });
    const g = b.build({ mx: b.maximum(b.inputs.a, b.inputs.b), mn: b.minimum(b.inputs.a, b.inputs.b) });
    const feeds = { a: f32([2], [1, 3]), b: f32([2], [1, 2]) };
    const mx = gradRef(g, new Map(), feeds, 'mx');
    expectValues(mx.inputGrads.get('a')!, [1, 1], 0);
    expectValues(mx.inputGrads.get('b')!, [0, 0], 0);
    const mn = gradRef(g, new Map(), feeds, 'mn');
    expectValues(mn.inputGrads.get('a')!, [1, 0], 0);
    expectValues(mn.inputGrads.get('b')!, [0, 1], 0);
  });

  it('reduceMax gives every position equal to the max the full upstream gradient', () => {
    const b = new GraphBuilder('t', { x: { dtype: F, shape: [2, 3] } });
    const g = b.build({ y: b.reduceMax(b.inputs.x, 1) });
    const r = gradRef(g, new Map(), { x: f32([2, 3], [5, 1, 5, 0, 2, 1]) }, 'y', Float64Array.from([3, 7]));
    expectValues(r.inputGrads.get('x')!, [3, 0, 3, 0, 7, 0], 0);
  });

  it('pow: the gradient for b is 0 where a <= 0', () => {
    const b = new GraphBuilder('t', { a: { dtype: F, shape: [2] }, b: { dtype: F, shape: [2] } });
    const g = b.build({ y: b.pow(b.inputs.a, b.inputs.b) });
    const r = gradRef(g, new Map(), { a: f32([2], [-2, 0]), b: f32([2], [2, 2]) }, 'y');
    expectValues(r.inputGrads.get('b')!, [0, 0], 0);
    expectValues(r.inputGrads.get('a')!, [-4, 0], 0);
  });

  it('where: no NaN from the masked branch leaks into the gradient', () => {
    const b = new GraphBuilder('t', { x: { dtype: F, shape: [4] }, m: { dtype: 'bool', shape: [4] } });
    const sel = b.where(b.inputs.m, b.inputs.x, b.scalar(0));
    const g = b.build({ y: b.reduceSum(b.mul(sel, sel), 0) });
    const r = gradRef(g, new Map(), { x: f32([4], [1, NaN, 2, Infinity]), m: bool([4], [1, 0, 1, 0]) }, 'y');
    expectValues(r.outputs.y!.data, [5], 0);
    expectValues(r.inputGrads.get('x')!, [2, 0, 4, 0], 0);
  });

  it('cast to int and back blocks the gradient', () => {
    const b = new GraphBuilder('t', {});
    const p = b.param('p', [3]);
    const g = b.build({ y: b.mul(b.cast(b.cast(p, 'int32'), 'float32'), p) });
    const r = gradRef(g, new Map([['p', f32([3], [1.5, 2.5, -3.5])]]), {}, 'y');
    // d/dp (trunc(p) * p) with trunc treated as constant = trunc(p)
    expectValues(r.paramGrads.get('p')!, [1, 2, -3], 0);
  });

  it('top-k indices with gatherAlongAxis carry gradient to the gathered rows only', () => {
    const b = new GraphBuilder('t', {});
    const x = b.param('x', [1, 4]);
    const { indices } = b.topk(x, 2);
    const g = b.build({ y: b.gatherAlongAxis(x, indices) });
    const r = gradRef(g, new Map([['x', f32([1, 4], [1, 4, 2, 3])]]), {}, 'y', Float64Array.from([10, 20]));
    expectValues(r.paramGrads.get('x')!, [0, 10, 0, 20], 0);
  });

  it('default cotangent is all ones; parameters off the path get zeros', () => {
    const b = new GraphBuilder('t', { x: { dtype: F, shape: [2] }, k: { dtype: 'int32', shape: [2] } });
    const p = b.param('p', [2]),
      q = b.param('q', [3]);
    const g = b.build({ y: b.mul(b.inputs.x, p), z: b.reduceSum(q, 0) });
    const w = new Map([
      ['p', f32([2], [3, 4])],
      ['q', f32([3], [1, 1, 1])],
    ]);
    const r = gradRef(g, w, { x: f32([2], [5, 6]), k: i32([2], [0, 0]) }, 'y');
    expectValues(r.paramGrads.get('p')!, [5, 6], 0);
    expectValues(r.inputGrads.get('x')!, [3, 4], 0);
    expectValues(r.paramGrads.get('q')!, [0, 0, 0], 0);
    expect([...r.inputGrads.keys()]).toEqual(['x']);
    expectValues(r.outputs.y!.data, [15, 24], 0);
    expectValues(r.outputs.z!.data, [3], 0);
  });

  it('a gradient through a symbolic batch and a reshape to a symbolic target', () => {
    const c = gradCase(
      'symbolic',
      { x: { dtype: F, shape: ['batch', 6] } },
      (b, p) => b.reduceMean(b.mul(b.reshape(b.inputs.x, ['batch', 2, 3]), p.w!), [1]),
      { params: { w: { shape: [2, 3] } }, feeds: { x: f32([3, 6], Array.from(fill(new Rng(3), [18], normal))) } },
    );
    checkGradients(c);
  });

  it('a small network (matmul, layerNorm, softmax-weighted sum over masked gathered rows) matches finite differences', () => {
    const c = gradCase(
      'net',
      { ids: { dtype: 'int32', shape: [2, 4] }, m: { dtype: 'bool', shape: [2, 4] } },
      (b, p) => {
        const e = b.gather(p.emb!, b.inputs.ids); // [2,4,3]
        const s = b.reduceSum(b.mul(b.matmul(e, p.w!), p.q!), -1); // [2,4]
        const a = b.softmax(b.where(b.inputs.m, s, b.scalar(-1e9)));
        const pooled = b.reduceSum(b.mul(b.reshape(a, [2, 4, 1]), e), 1); // [2,3]
        return b.sigmoid(b.layerNorm(pooled, p.g!, p.bb!));
      },
      {
        params: { emb: { shape: [6, 3] }, w: { shape: [3, 3] }, q: { shape: [3] }, g: { shape: [3] }, bb: { shape: [3] } },
        feeds: { ids: i32([2, 4], [0, 5, 2, 2, 1, 3, 4, 0]), m: bool([2, 4], [1, 1, 1, 0, 1, 0, 1, 1]) },
      },
    );
    checkGradients(c);
  });

  it('rejects an unknown output, listing the outputs, and a cotangent of the wrong length', () => {
    const b = new GraphBuilder('g', { x: { dtype: F, shape: [2] } });
    const g = b.build({ y: b.exp(b.inputs.x), z: b.neg(b.inputs.x), k: b.cast(b.inputs.x, 'int32') });
    const feeds = { x: f32([2], [1, 2]) };
    // an unknown output name does not compile; untyped callers get the error
    expect(() => gradRef(g, new Map(), feeds, 'w' as 'y')).toThrow("gradRef: graph 'g' has no output 'w'; its outputs are: y, z, k");
    expect(() => gradRef(g, new Map(), feeds, 'y', new Float64Array(3))).toThrow(
      "gradRef: cotangent for output 'y' [2] needs 2 values, got 3",
    );
    expect(() => gradRef(g, new Map(), feeds, 'k')).toThrow(
      "gradRef: output 'k' of graph 'g' is int32[2]; gradients need a float32 output",
    );
  });

  it('gradRef outputs equal runRef outputs', () => {
    const c = CASES.layerNorm as { grad: GradCase[] };
    const g = c.grad[0]!;
    const r = gradRef(g.graph, g.weights, g.inputs, 'y');
    expect(r.outputs.y).toEqual(runRef(g.graph, g.weights, g.inputs).y);
  });
});
