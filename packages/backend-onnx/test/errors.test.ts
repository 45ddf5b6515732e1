/** Bad input and bad weights surface the spec's exact messages (never an ONNX Runtime crash). */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type HostTensor, InputError, WeightsError, initWeights } from '@lctr/spec';
import { OnnxExportError, OnnxSession, exportOnnx } from '../src/index.ts';
import { bool, expectTensor, f32, i32, itPassesChecker, openSession } from './helpers.ts';

function errGraph() {
  const b = new GraphBuilder('errs', {
    ids: { dtype: 'int32', shape: ['batch', 2] },
    scores: { dtype: 'float32', shape: ['batch', 'n'] },
    mask: { dtype: 'bool', shape: ['batch', 'n'] },
  });
  const emb = b.param('emb', [5, 3]);
  const [rows] = b.node('gather', [emb, b.inputs.ids], { axis: 0 }, 'lookup');
  const [, idx] = b.node('topk', [b.inputs.scores, b.inputs.mask], { k: 2 }, 'top');
  return b.build({ rows: rows!, idx: idx! });
}

const good = () => ({ ids: i32([2, 2], [0, 4, 1, 2]), scores: f32([2, 3], [1, 2, 3, 3, 2, 1]), mask: bool([2, 3], [1, 1, 1, 1, 1, 1]) });

async function expectError(p: Promise<unknown>, type: new (m: string) => Error, message: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(type);
  expect((e as Error).message).toBe(message);
}

describe('bad inputs are rejected by checkFeeds before ONNX Runtime sees them', () => {
  const cases: Array<[string, Record<string, HostTensor | undefined>, string]> = [
    ['missing input', { ...good(), mask: undefined }, "graph 'errs' is missing input(s): mask (expected ids, scores, mask)"],
    ['unknown input', { ...good(), extra: f32([1], [0]) }, "graph 'errs' got unknown input(s): extra (expected ids, scores, mask)"],
    [
      'wrong dtype',
      { ...good(), ids: f32([2, 2], [0, 1, 2, 3]) },
      "input 'ids': expected dtype int32 (int32[batch, 2]), got float32[2, 2]",
    ],
    [
      'wrong rank',
      { ...good(), scores: f32([6], [1, 2, 3, 4, 5, 6]) },
      "input 'scores': expected rank 2 (float32[batch, n]), got shape [6]",
    ],
    [
      'wrong static dim',
      { ...good(), ids: i32([2, 3], [0, 1, 2, 3, 4, 0]) },
      "input 'ids': expected shape int32[batch, 2], got [2, 3] (dim 1 is 3, expected 2)",
    ],
    [
      'inconsistent symbol',
      { ...good(), scores: f32([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]) },
      "input 'scores': dim 0 ('batch') is 3, but 'batch' is 2 from ids dim 0",
    ],
    [
      'wrong array type',
      { ...good(), ids: { dtype: 'int32', shape: [2, 2], data: new Float32Array(4) } as unknown as HostTensor },
      "input 'ids': int32 data must be a Int32Array, got Float32Array",
    ],
    [
      'wrong data length',
      { ...good(), ids: { dtype: 'int32', shape: [2, 2], data: new Int32Array(3) } },
      "input 'ids': shape [2, 2] needs 4 values, got 3",
    ],
    [
      'index past the table',
      { ...good(), ids: i32([2, 2], [0, 1, 2, 5]) },
      "input 'ids' holds index 5 at flat position 3, out of range for gather 'lookup' on 'emb' with 5 entries along axis 0 (valid 0..4)",
    ],
    [
      'negative index',
      { ...good(), ids: i32([2, 2], [-1, 1, 2, 3]) },
      "input 'ids' holds index -1 at flat position 0, out of range for gather 'lookup' on 'emb' with 5 entries along axis 0 (valid 0..4)",
    ],
    [
      'k above the run-time length',
      { ...good(), scores: f32([2, 1], [1, 2]), mask: bool([2, 1], [1, 1]) },
      "topk 'top' takes k = 2 along 'n', which is 1 in these inputs (k must be <= 1)",
    ],
  ];
  it.each(cases)('%s', async (_name, inputs, message) => {
    const s = await openSession(errGraph());
    try {
      await expectError(s.run(inputs as never), InputError, message);
      // the session is intact afterwards
      const out = await s.run(good());
      expectTensor(out.idx, 'int32', [2, 2], [2, 1, 0, 1]);
    } finally {
      await s.release();
    }
  });
});

describe('bad weights, bad options, misuse', () => {
  it('a missing weight', () => {
    expect(() => exportOnnx(errGraph(), new Map())).toThrow(new WeightsError("weights for graph 'errs' miss 1 parameter(s): emb"));
  });
  it('a weight of the wrong shape', () => {
    expect(() => exportOnnx(errGraph(), new Map([['emb', f32([3, 5], new Array(15).fill(0))]]))).toThrow(
      new WeightsError("weight 'emb': expected shape [5, 3], got [3, 5]"),
    );
  });
  it('a weight the graph has no parameter for', () => {
    const w = new Map([...initWeights(errGraph(), 1), ['other', f32([1], [0])]]);
    expect(() => exportOnnx(errGraph(), w)).toThrow(
      new WeightsError("weights hold 1 name(s) that graph 'errs' has no parameter for: other"),
    );
  });
  it('an opset other than 17', () => {
    const g = errGraph();
    expect(() => exportOnnx(g, initWeights(g, 1), { opset: 18 as 17 })).toThrow(
      'ONNX opset 18 is not supported: this exporter writes opset 17 (IR version 8)',
    );
  });
  it('an output named like a graph input but holding another value cannot be written (one ONNX name space)', () => {
    const b = new GraphBuilder('clash', { x: { dtype: 'float32', shape: [2] } });
    // the builder refuses it first; a hand-made graph object reaches the exporter's own check
    expect(() => b.build({ x: b.neg(b.inputs.x) })).toThrow(
      "output name 'x' is already the name of an input or parameter of graph 'clash' but would hold value 'neg_0:0'",
    );
    const ok = b.build({ y: b.neg(b.inputs.x) });
    const g = { ...ok, outputs: { x: ok.outputs.y } };
    expect(() => exportOnnx(g, new Map())).toThrow(
      new OnnxExportError("graph 'clash': output 'x' has the name of a graph input but is value 'neg_1:0'; ONNX names must be unique"),
    );
  });
  it('a model opened with a graph it was not exported from', async () => {
    const b = new GraphBuilder('other', { z: { dtype: 'float32', shape: [2] } });
    const other = b.build({ w: b.neg(b.inputs.z) });
    const g = errGraph();
    await expectError(
      OnnxSession.create(exportOnnx(g, initWeights(g, 1)), other, { provider: 'cpu' }),
      Error,
      "the ONNX model does not match graph 'other': inputs missing: z; outputs missing: w; model inputs: ids, scores, mask, model " +
        'outputs: rows, idx',
    );
  });
  it('running a released session', async () => {
    const s = await openSession(errGraph());
    await s.release();
    await expectError(s.run(good()), Error, "the ONNX session of graph 'errs' was released");
  });
});

itPassesChecker();
