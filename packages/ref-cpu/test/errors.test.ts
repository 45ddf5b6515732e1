/**
 * Bad input surfaces the spec's own errors (checkFeeds / checkWeights) with their exact text,
 * and an index computed inside the graph that falls out of range names the node, the index and
 * the valid range.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type HostTensor, InputError, type Weights, WeightsError } from '@lctr/spec';
import { evaluateRef, gradRef, runRef } from '../src/index.ts';
import { bool, expectTensor, f32, i32 } from './helpers.ts';

function expectThrow(fn: () => unknown, cls: new (...args: never[]) => Error, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(cls);
  expect((caught as Error).message).toBe(message);
}

// gather_0 (table by idx), add_1, matmul_2, constant_3, add_4 (idx + 2: a computed index), gather_5
function model() {
  const b = new GraphBuilder('g', { x: { dtype: 'float32', shape: ['batch', 3] }, idx: { dtype: 'int32', shape: ['batch'] } });
  const table = b.param('table', [4, 3]);
  const w = b.param('w', [3, 2]);
  const rows = b.gather(table, b.inputs.idx);
  const y = b.matmul(b.add(b.inputs.x, rows), w);
  const shifted = b.gather(table, b.add(b.inputs.idx, b.constant(2, [], 'int32')));
  return b.build({ y, shifted });
}
const g = model();
const weights: Weights = new Map([
  ['table', f32([4, 3], [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])],
  ['w', f32([3, 2], [1, 0, 0, 1, 1, 1])],
]);
// deliberately untyped: these tests feed what the schema forbids
const feeds = (over: Record<string, HostTensor | undefined> = {}): never => {
  const base: Record<string, HostTensor | undefined> = { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), idx: i32([2], [1, 0]), ...over };
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as never;
};

describe('bad input surfaces the spec checks', () => {
  it('runs on good input', () => {
    const out = runRef(g, weights, feeds());
    // x + table[idx] = [[2,3,4],[4,5,6]]; @ w = [[2+4, 3+4], [4+6, 5+6]]
    expectTensor(out.y, 'float32', [2, 2], [6, 7, 10, 11]);
    expectTensor(out.shifted, 'float32', [2, 3], [3, 3, 3, 2, 2, 2]);
  });

  it('missing input', () =>
    expectThrow(() => runRef(g, weights, feeds({ idx: undefined })), InputError, "graph 'g' is missing input(s): idx (expected x, idx)"));

  it('extra input', () =>
    expectThrow(() => runRef(g, weights, feeds({ z: f32([1], [0]) })), InputError, "graph 'g' got unknown input(s): z (expected x, idx)"));

  it('wrong dtype', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ x: i32([2, 3], [1, 2, 3, 4, 5, 6]) })),
      InputError,
      "input 'x': expected dtype float32 (float32[batch, 3]), got int32[2, 3]",
    ));

  it('wrong shape', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ x: f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]) })),
      InputError,
      "input 'x': expected shape float32[batch, 3], got [2, 4] (dim 1 is 4, expected 3)",
    ));

  it('wrong rank', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ x: f32([6], [1, 2, 3, 4, 5, 6]) })),
      InputError,
      "input 'x': expected rank 2 (float32[batch, 3]), got shape [6]",
    ));

  it('inconsistent symbolic dim', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ idx: i32([3], [0, 1, 2]) })),
      InputError,
      "input 'idx': dim 0 ('batch') is 3, but 'batch' is 2 from x dim 0",
    ));

  it('wrong storage for the dtype', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ idx: { dtype: 'int32', shape: [2], data: Float64Array.from([0, 1]) } as unknown as HostTensor })),
      InputError,
      "input 'idx': int32 data must be a Int32Array, got Float64Array",
    ));

  it('missing weight', () =>
    expectThrow(
      () => runRef(g, new Map([['table', weights.get('table')!]]), feeds()),
      WeightsError,
      "weights for graph 'g' miss 1 parameter(s): w",
    ));

  it('wrong weight shape', () =>
    expectThrow(
      () => runRef(g, new Map(weights).set('w', f32([2, 3], [1, 0, 0, 1, 1, 1])), feeds()),
      WeightsError,
      "weight 'w': expected shape [3, 2], got [2, 3]",
    ));

  it('extra weight is an error unless allowed', () => {
    const extra = new Map(weights).set('other', f32([1], [0]));
    expectThrow(() => runRef(g, extra, feeds()), WeightsError, "weights hold 1 name(s) that graph 'g' has no parameter for: other");
    expectTensor(runRef(g, extra, feeds(), { allowExtraWeights: true }).y, 'float32', [2, 2], [6, 7, 10, 11]);
  });

  it('out-of-range index fed directly to a gather (caught by checkFeeds)', () =>
    expectThrow(
      () => runRef(g, weights, feeds({ idx: i32([2], [1, 4]) })),
      InputError,
      "input 'idx' holds index 4 at flat position 1, out of range for gather 'gather_0' on 'table' with 4 entries along axis 0 (valid " +
        '0..3)',
    ));

  it('gradRef runs the same checks', () =>
    expectThrow(
      () => gradRef(g, weights, feeds({ idx: undefined }), 'y'),
      InputError,
      "graph 'g' is missing input(s): idx (expected x, idx)",
    ));
});

describe('computed indices out of range', () => {
  it('gather names the node, the index and the valid range', () => {
    // idx + 2 = [1 + 2, 2 + 2]: 4 is out of range for a 4-row table
    expect(() => runRef(g, weights, feeds({ idx: i32([2], [1, 2]) }))).toThrowError(
      new Error(
        "ref-cpu: node 'gather_5' (gather): index 4 at flat position 1 of 'add_4:0' is out of range for 'table' with 4 entries along " +
          'axis 0 (valid 0..3)',
      ),
    );
  });

  it('gatherAlongAxis names the node, the index and the valid range', () => {
    const b = new GraphBuilder('h', { x: { dtype: 'float32', shape: [2, 3] }, i: { dtype: 'int32', shape: [2, 1] } });
    const h = b.build({ y: b.gatherAlongAxis(b.inputs.x, b.sub(b.inputs.i, b.constant(1, [], 'int32'))) });
    let msg = '';
    try {
      runRef(h, new Map(), { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), i: i32([2, 1], [1, 0]) });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toBe(
      "ref-cpu: node 'gatherAlongAxis_2' (gatherAlongAxis): index -1 at flat position 1 of 'sub_1:0' is out of range for 'x' with 3 " +
        'entries along axis 1 (valid 0..2)',
    );
  });

  it('topk k above a symbolic length is the spec error', () => {
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: ['n'] }, m: { dtype: 'bool', shape: ['n'] } });
    const { indices } = b.topk(b.inputs.x, 3, b.inputs.m);
    const t = b.build({ indices });
    expectThrow(
      () => runRef(t, new Map(), { x: f32([2], [1, 2]), m: bool([2], [1, 1]) }),
      InputError,
      "topk 'topk_0' takes k = 3 along 'n', which is 2 in these inputs (k must be <= 2)",
    );
  });

  it('evaluateRef keeps every intermediate value and the bindings', () => {
    const ev = evaluateRef(g, weights, feeds());
    expect(ev.bindings).toEqual({ batch: 2 });
    expectTensor(ev.values.get('gather_0:0')!, 'float32', [2, 3], [1, 1, 1, 0, 0, 0]);
    expectTensor(ev.values.get('add_4:0')!, 'int32', [2], [3, 2]);
  });
});
