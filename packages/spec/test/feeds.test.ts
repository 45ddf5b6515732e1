import { describe, expect, it } from 'vitest';
import { GraphBuilder, checkFeeds, indexUses, type HostTensor } from '../src/index.ts';

const schema = {
  ids: { dtype: 'int32', shape: ['batch', 'seq'] },
  x: { dtype: 'float32', shape: ['batch', 4] },
  m: { dtype: 'bool', shape: ['batch', 'seq'] },
} as const;
function graph() {
  const b = new GraphBuilder('f', schema);
  const table = b.param('emb', [10, 4]);
  const flat = b.reshape(b.inputs.ids, [-1]);
  const e = b.gather(table, flat);
  const s = b.reshape(b.reduceSum(e, -1), ['batch', 'seq']);
  const top = b.topk(s, 3, b.inputs.m);
  return b.build({ y: b.add(b.gatherAlongAxis(s, top.indices, 1), b.reduceSum(b.inputs.x, [1], true)) });
}
const f32 = (shape: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
const i32 = (shape: number[], v = 0) => ({
  dtype: 'int32' as const,
  shape,
  data: new Int32Array(shape.reduce((a, b) => a * b, 1)).fill(v),
});
const bool = (shape: number[]) => ({ dtype: 'bool' as const, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1)) });

describe('checkFeeds', () => {
  const g = graph();
  const ok = { ids: i32([2, 5]), x: f32([2, 4]), m: bool([2, 5]) };
  it('binds symbolic dims', () => {
    expect(checkFeeds(g, ok)).toEqual({ batch: 2, seq: 5 });
  });
  it('finds index inputs through reshape', () => {
    expect(indexUses(g)).toEqual([{ input: 'ids', node: 'gather_1', op: 'gather', table: 'emb', axis: 0 }]);
  });
  it('gives exact errors for bad inputs', () => {
    const { m: _m, ...noMask } = ok;
    expect(() => checkFeeds(g, noMask)).toThrow("graph 'f' is missing input(s): m (expected ids, x, m)");
    expect(() => checkFeeds(g, { ...ok, extra: f32([1]) })).toThrow("graph 'f' got unknown input(s): extra (expected ids, x, m)");
    expect(() => checkFeeds(g, { ...ok, x: i32([2, 4]) })).toThrow(
      "input 'x': expected dtype float32 (float32[batch, 4]), got int32[2, 4]",
    );
    expect(() => checkFeeds(g, { ...ok, x: f32([2, 4, 1]) })).toThrow(
      "input 'x': expected rank 2 (float32[batch, 4]), got shape [2, 4, 1]",
    );
    expect(() => checkFeeds(g, { ...ok, x: f32([2, 3]) })).toThrow(
      "input 'x': expected shape float32[batch, 4], got [2, 3] (dim 1 is 3, expected 4)",
    );
    expect(() => checkFeeds(g, { ...ok, x: f32([3, 4]) })).toThrow("input 'x': dim 0 ('batch') is 3, but 'batch' is 2 from ids dim 0");
    expect(() => checkFeeds(g, { ...ok, x: { dtype: 'float32', shape: [2, 4], data: new Float32Array(7) } })).toThrow(
      "input 'x': shape [2, 4] needs 8 values, got 7",
    );
    expect(() =>
      checkFeeds(g, { ...ok, ids: { dtype: 'int32', shape: [2, 5], data: new Float32Array(10) } as unknown as HostTensor }),
    ).toThrow("input 'ids': int32 data must be a Int32Array, got Float32Array");
    const badIds = i32([2, 5]);
    badIds.data[7] = 10;
    expect(() => checkFeeds(g, { ...ok, ids: badIds })).toThrow(
      "input 'ids' holds index 10 at flat position 7, out of range for gather 'gather_1' on 'emb' with 10 entries along axis 0 (valid " +
        '0..9)',
    );
    expect(() => checkFeeds(g, { ...ok, ids: i32([2, 5], -1) })).toThrow("input 'ids' holds index -1 at flat position 0");
    expect(() => checkFeeds(g, { ids: i32([2, 2]), x: f32([2, 4]), m: bool([2, 2]) })).toThrow(
      "topk 'topk_4' takes k = 3 along 'seq', which is 2 in these inputs (k must be <= 2)",
    );
  });
  it('range-checks the indices a scatter takes from an input against its size', () => {
    const b = new GraphBuilder('s', { u: { dtype: 'float32', shape: ['batch', 2] }, i: { dtype: 'int32', shape: ['batch', 2] } } as const);
    const sg = b.build({ y: b.scatterAlongAxis(b.inputs.u, b.inputs.i, 3) });
    expect(checkFeeds(sg, { u: f32([1, 2]), i: i32([1, 2], 2) })).toEqual({ batch: 1 });
    expect(() => checkFeeds(sg, { u: f32([1, 2]), i: i32([1, 2], 3) })).toThrow(
      "input 'i' holds index 3 at flat position 0, out of range for scatterAlongAxis 'scatterAlongAxis_0' of 'u' into 3 entries along " +
        'axis 1 (valid 0..2)',
    );
  });
});

describe('index checks through slices', () => {
  it("do not hold every column of a sliced input to one column's table", () => {
    const b = new GraphBuilder('slices', { profile: { dtype: 'int32', shape: ['batch', 2] } } as const);
    const age = b.gather(b.param('age', [3, 2]), b.reshape(b.slice(b.inputs.profile, [0], [1], [1]), ['batch']));
    const job = b.gather(b.param('job', [10, 2]), b.reshape(b.slice(b.inputs.profile, [1], [2], [1]), ['batch']));
    const g = b.build({ y: b.add(age, job) });
    expect(indexUses(g)).toEqual([]);
    expect(checkFeeds(g, { profile: { dtype: 'int32', shape: [2, 2], data: Int32Array.from([2, 9, 0, 4]) } })).toEqual({ batch: 2 });
  });
});

describe('index checks through a column pick', () => {
  it('hold each column (a gather of the last axis by a constant) to its own table, through reshapes that keep the last axis', () => {
    const b = new GraphBuilder('columns', { ctx: { dtype: 'int32', shape: [1, 'seq', 2] } } as const);
    const flat = b.reshape(b.inputs.ctx, ['seq', 2]); // the serving layout's [1, N, C] -> [N, C]
    const col = (k: number) => b.gather(flat, b.constant(k, [], 'int32'), 1);
    const g = b.build({ y: b.add(b.gather(b.param('watch', [6, 2]), col(0)), b.gather(b.param('behaviour', [4, 2]), col(1))) });
    expect(indexUses(g).map((u) => [u.input, u.table, u.column])).toEqual([
      ['ctx', 'watch', { index: 0, width: 2 }],
      ['ctx', 'behaviour', { index: 1, width: 2 }],
    ]);
    const feed = (v: number[]) => ({ ctx: { dtype: 'int32' as const, shape: [1, v.length / 2, 2], data: Int32Array.from(v) } });
    expect(checkFeeds(g, feed([5, 3, 0, 0]))).toEqual({ seq: 2 }); // 5 < 6 in column 0, 3 < 4 in column 1
    expect(() => checkFeeds(g, feed([5, 3, 0, 4]))).toThrow(
      "input 'ctx' holds index 4 at flat position 3 (column 1 of the last axis), out of range for gather 'gather_6' on 'behaviour' with " +
        '4 entries along axis 0 (valid 0..3)',
    );
    expect(() => checkFeeds(g, feed([6, 0, 0, 0]))).toThrow("input 'ctx' holds index 6 at flat position 0 (column 0 of the last axis)");
  });
});
