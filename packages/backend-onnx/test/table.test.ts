/** The lowering table covers the whole vocabulary; versions are picked by target opset; names trace back. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, OP_NAMES, type OpName, initWeights } from '@lctr/spec';
import {
  LOWERINGS,
  type Lowering,
  type LoweringTable,
  SUPPORTED_OPSETS,
  decodeModel,
  exportOnnx,
  loweringsFor,
  pickVersion,
} from '../src/index.ts';
import { f32, i32, bool, itPassesChecker, runOnce, values } from './helpers.ts';

describe('lowering table', () => {
  it('has a lowering for every op of OP_NAMES, and no other key', () => {
    for (const op of OP_NAMES) {
      expect(Object.keys(LOWERINGS[op]).map(Number)).toContain(17);
      expect(typeof loweringsFor(17)[op]).toBe('function');
    }
    expect(Object.keys(LOWERINGS).sort()).toEqual([...OP_NAMES].sort());
  });
  it('only opset 17 is written (pinned)', () => {
    expect(SUPPORTED_OPSETS).toEqual([17]);
    expect(() => loweringsFor(16)).toThrow('ONNX opset 16 is not supported: this exporter writes opset 17 (IR version 8)');
    expect(() => loweringsFor(18)).toThrow('ONNX opset 18 is not supported');
  });
  it('picks the highest version not above the target opset (tf2onnx style)', () => {
    const v =
      (tag: string): Lowering<'reduceMean'> =>
      () => [tag];
    const versions = { 13: v('13'), 17: v('17'), 18: v('18') };
    const run = (l: Lowering<'reduceMean'>) => l(undefined as never, undefined as never, [], { axes: [0], keepDims: false });
    expect(run(pickVersion('reduceMean', versions, 17))).toEqual(['17']);
    expect(run(pickVersion('reduceMean', versions, 16))).toEqual(['13']);
    expect(run(pickVersion('reduceMean', versions, 20))).toEqual(['18']);
    expect(() => pickVersion('reduceMean', versions, 12)).toThrow(
      "op 'reduceMean' has no ONNX lowering for opset 12 (lowerings exist from opset 13, 17, 18)",
    );
  });
  it('a table missing an op is rejected by loweringsFor', () => {
    const partial = { ...LOWERINGS, topk: {} } as LoweringTable;
    expect(() => loweringsFor(17, partial)).toThrow("op 'topk' has no ONNX lowering for opset 17");
  });
});

/** One graph that uses every op of the vocabulary. */
function everyOpGraph() {
  const b = new GraphBuilder('every_op', {
    x: { dtype: 'float32', shape: ['batch', 4] },
    ids: { dtype: 'int32', shape: ['batch', 2] },
    mask: { dtype: 'bool', shape: ['batch', 4] },
  });
  const { x, ids, mask } = b.inputs;
  const w = b.param('w', [4, 4]);
  const gamma = b.param('gamma', [4]);
  const beta = b.param('beta', [4]);
  const emb = b.param('emb', [6, 4]);
  let h = b.matmul(x, w);
  h = b.add(h, b.sub(x, b.mul(x, b.div(x, b.scalar(2)))));
  h = b.maximum(h, b.minimum(h, b.neg(b.abs(h))));
  h = b.add(h, b.pow(b.exp(b.neg(b.sqrt(b.abs(h)))), b.scalar(2)));
  h = b.add(b.log(b.add(b.relu(h), b.scalar(1))), b.sigmoid(b.tanh(b.softplus(b.elu(h)))));
  h = b.add(b.softmax(h), b.logSoftmax(h));
  const r = b.add(b.add(b.reduceSum(h, 1, true), b.reduceMean(h, 1, true)), b.reduceMax(h, 1, true));
  const cat = b.concat([h, r], 1); // [batch, 5]
  const t = b.transpose(b.reshape(b.slice(cat, [0], [4], [1]), ['batch', 2, 2]), [0, 2, 1]);
  const e = b.expand(b.reshape(t, ['batch', 4]), ['batch', 4]);
  const rows = b.gather(emb, ids); // [batch, 2, 4]
  const top = b.topk(e, 2, mask);
  const picked = b.gatherAlongAxis(b.reshape(e, ['batch', 4, 1]), top.indices, 1); // [batch, 2, 1]
  const valid = b.logicalAnd(
    b.gatherAlongAxis(mask, top.indices, 1),
    b.logicalNot(b.logicalOr(b.equal(top.values, b.scalar(0)), b.less(top.values, b.scalar(-1e30)))),
  );
  const keep = b.cast(b.greater(b.where(valid, b.reshape(picked, ['batch', 2]), b.scalar(0)), b.scalar(-1e30)), 'float32');
  const ln = b.layerNorm(b.l2Normalize(b.reduceSum(rows, 1)), gamma, beta);
  const spread = b.scatterAlongAxis(keep, top.indices, 4, 1); // [batch, 4]: the kept picks back at their positions
  const out = b.add(b.add(b.stopGradient(ln), spread), b.mul(b.reduceSum(keep, 1, true), b.constant([1, 2, 3, 4], [4])));
  return b.build({ out });
}

describe('a graph using every op', () => {
  it('uses the whole vocabulary, names every ONNX node after its IR node, and runs', async () => {
    const g = everyOpGraph();
    expect(new Set<OpName>(g.nodes.map((n) => n.op))).toEqual(new Set(OP_NAMES));
    const m = decodeModel(exportOnnx(g, initWeights(g, 3), { docString: 'every op' }));
    expect(Number(m.irVersion)).toBe(8);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(m.docString).toBe('every op');
    expect(m.producerName).toBe('@lctr/backend-onnx');
    const onnxNames = m.graph!.node!.map((n) => n.name!);
    expect(new Set(onnxNames).size).toBe(onnxNames.length);
    for (const n of g.nodes) {
      if (n.op === 'constant') continue; // a constant becomes an initializer, not a node
      expect(
        onnxNames.some((name) => name === n.id || name.startsWith(`${n.id}/`)),
        `ONNX node for ${n.id}`,
      ).toBe(true);
    }
    expect(m.graph!.initializer!.map((t) => t.name)).toEqual(expect.arrayContaining(['w', 'gamma', 'beta', 'emb']));
    const { out } = await runOnce(
      g,
      {
        x: f32([3, 4], [1, -2, 3, 0.5, 0, 0, 0, 0, -1, 2, 5, 7]),
        ids: i32([3, 2], [0, 5, 2, 2, 1, 3]),
        mask: bool([3, 4], [1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1]),
      },
      initWeights(g, 3),
    );
    expect(out.shape).toEqual([3, 4]);
    expect(values(out).every(Number.isFinite)).toBe(true);
  });
});

itPassesChecker();
