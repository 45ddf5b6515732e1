/**
 * Ops that accept several dtypes, run on each: ONNX Runtime's CPU kernels do not cover every
 * type the ONNX schema allows (Where has no bool kernel), so every IR dtype is exercised here.
 */
import { describe, expect, it } from 'vitest';
import { type DType, GraphBuilder, type HostTensor, type Value } from '@lctr/spec';
import { expectTensor, itPassesChecker, runOnce, tensor } from './helpers.ts';

const ALL: readonly DType[] = ['float32', 'int32', 'int64', 'bool'];
const NUMERIC = ['float32', 'int32', 'int64'] as const;
const x6 = [1, 0, 1, 1, 0, 1];

describe.each(ALL)('structural ops on %s', (dtype) => {
  const t = (shape: number[], v: number[]): HostTensor => tensor(dtype, shape, v);
  it('concat, reshape, transpose, slice, expand, gather, gatherAlongAxis, where, stopGradient, cast to itself', async () => {
    const b = new GraphBuilder(`structural_${dtype}`, {
      x: { dtype, shape: [2, 3] },
      c: { dtype: 'bool', shape: [3] },
      i: { dtype: 'int32', shape: [2] },
      k: { dtype: 'int64', shape: [2, 1] },
    });
    const x = b.inputs.x as Value<DType>;
    const g = b.build({
      concat: b.concat([x, x], 0),
      reshape: b.reshape(x, [3, 2]),
      transpose: b.transpose(x, [1, 0]),
      slice: b.slice(x, [1], [3], [1]),
      expand: b.expand(b.slice(x, [0], [1], [0]), [2, 2, 3]),
      gather: b.gather(x, b.inputs.i, 1),
      along: b.gatherAlongAxis(x, b.inputs.k, 1),
      where: b.where(b.inputs.c, x, b.slice(x, [1], [2], [0])),
      stop: b.stopGradient(x),
      same: b.cast(x, dtype),
    });
    const out = await runOnce(g, {
      x: t([2, 3], x6),
      c: tensor('bool', [3], [1, 0, 0]),
      i: tensor('int32', [2], [2, 0]),
      k: tensor('int64', [2, 1], [1, 2]),
    });
    // every output comes back, in the graph's dtype (values checked one by one below)
    expect(Object.keys(out).sort()).toEqual(Object.keys(g.outputs).sort());
    expect(Object.values(out).every((o) => o.dtype === dtype)).toBe(true);
    expectTensor(out.concat, dtype, [4, 3], [...x6, ...x6]);
    expectTensor(out.reshape, dtype, [3, 2], x6);
    expectTensor(out.transpose, dtype, [3, 2], [1, 1, 0, 0, 1, 1]);
    expectTensor(out.slice, dtype, [2, 2], [0, 1, 0, 1]);
    expectTensor(out.expand, dtype, [2, 2, 3], [1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1]);
    expectTensor(out.gather, dtype, [2, 2], [1, 1, 1, 1]);
    expectTensor(out.along, dtype, [2, 1], [0, 1]);
    expectTensor(out.where, dtype, [2, 3], [1, 0, 1, 1, 0, 1]);
    expectTensor(out.stop, dtype, [2, 3], x6);
    expectTensor(out.same, dtype, [2, 3], x6);
  });
});

describe.each(NUMERIC)('compare ops and casts from %s', (dtype) => {
  it('equal, greater, less; cast to every dtype', async () => {
    const b = new GraphBuilder(`compare_${dtype}`, { a: { dtype, shape: [3] }, b: { dtype, shape: [3] } });
    const { a, b: bb } = b.inputs;
    const g = b.build({
      eq: b.equal(a as Value<typeof dtype>, bb as Value<typeof dtype>),
      gt: b.greater(a as Value<typeof dtype>, bb as Value<typeof dtype>),
      lt: b.less(a as Value<typeof dtype>, bb as Value<typeof dtype>),
      f: b.cast(a, 'float32'),
      i: b.cast(a, 'int32'),
      l: b.cast(a, 'int64'),
      m: b.cast(a, 'bool'),
    });
    const out = await runOnce(g, { a: tensor(dtype, [3], [-2, 0, 5]), b: tensor(dtype, [3], [-2, 1, 3]) });
    expectTensor(out.eq, 'bool', [3], [1, 0, 0]);
    expectTensor(out.gt, 'bool', [3], [0, 0, 1]);
    expectTensor(out.lt, 'bool', [3], [0, 1, 0]);
    expectTensor(out.f, 'float32', [3], [-2, 0, 5]);
    expectTensor(out.i, 'int32', [3], [-2, 0, 5]);
    expectTensor(out.l, 'int64', [3], [-2, 0, 5]);
    expectTensor(out.m, 'bool', [3], [1, 0, 1]);
  });
});

itPassesChecker();
