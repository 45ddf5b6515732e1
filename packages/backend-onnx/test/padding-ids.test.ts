/**
 * Inside the exported model, an id outside [0, rows) reads row 0 (SPEC: padding reads row 0; a
 * Triton client reaches the model with no check of ours). Run in onnxruntime-node directly, past
 * OnnxSession's checkFeeds: -1, rows and 2^31 - 1 at ANY position give what 0 gives there, where
 * ONNX Gather alone would read -1 from the end and raise on the others.
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type FeatureSchema, type Graph, type HostTensor, GraphBuilder, buildLifelong, indexUses, initWeights } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, paddedFeeds } from '@lctr/spec/testing';
import { decodeModel } from '../src/index.ts';
import { exportForTest, itPassesChecker } from './helpers.ts';

const ortTensor = (t: HostTensor): ort.Tensor => new ort.Tensor(t.dtype, t.data as never, [...t.shape]);

async function runRaw(
  bytes: Uint8Array,
  g: Graph<FeatureSchema, string>,
  feeds: Readonly<Record<string, HostTensor>>,
): Promise<Record<string, number[]>> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const r = await s.run(Object.fromEntries(g.inputs.map((i) => [i.name, ortTensor(feeds[i.name]!)])));
    return Object.fromEntries(Object.keys(g.outputs).map((o) => [o, Array.from(r[o]!.data as Float32Array)]));
  } finally {
    await s.release();
  }
}

const withValue = (t: HostTensor, i: number, v: number): HostTensor => {
  const data = t.data.slice();
  if (data instanceof BigInt64Array) data[i] = BigInt(v);
  else data[i] = v;
  return { ...t, data } as HostTensor;
};

describe('exported gathers read row 0 for any id outside [0, rows)', () => {
  // ids int32 [batch, 3] and int64 [batch]: both index dtypes of gather
  const b = new GraphBuilder('ids', { ids: { dtype: 'int32', shape: ['batch', 3] }, id64: { dtype: 'int64', shape: ['batch'] } } as const);
  const e = b.gather(b.param('emb', [5, 2]), b.inputs.ids);
  const g = b.build({ rows: e, one: b.gather(b.param('other', [7, 2]), b.inputs.id64) });
  const weights = new Map([
    ['emb', { dtype: 'float32' as const, shape: [5, 2], data: Float32Array.from([10, 11, 20, 21, 30, 31, 40, 41, 50, 51]) }],
    ['other', { dtype: 'float32' as const, shape: [7, 2], data: Float32Array.from({ length: 14 }, (_, i) => i + 1) }],
  ]);
  const bytes = exportForTest(g, weights);
  const feeds = {
    ids: { dtype: 'int32' as const, shape: [2, 3], data: Int32Array.from([1, -1, 5, 2147483647, -2147483648, 4]) },
    id64: { dtype: 'int64' as const, shape: [2], data: BigInt64Array.from([-1n, 7n]) },
  };

  it('int32 and int64 ids: -1, rows, +-2^31 read row 0, in-range ids their row', async () => {
    const out = await runRaw(bytes, g as never, feeds);
    expect(out['rows']).toEqual([20, 21, 10, 11, 10, 11, 10, 11, 10, 11, 50, 51]);
    expect(out['one']).toEqual([1, 2, 1, 2]);
  });
});

describe('the exported LCN serving graph', () => {
  const cfg = { ...LIFELONG_TEST_CONFIG, module: 'lap' as const };
  const g = buildLifelong(cfg);
  const bytes = exportForTest(g, initWeights(g, 6));
  const base = paddedFeeds(g, { cand: 3 }, 8, lifelongGens());

  it('-1, rows and 2^31 - 1 in place of an id at a valid or a padded position score what 0 there scores', async () => {
    const mask = base['lifelongMask']!.data as Uint8Array;
    const valid = mask.indexOf(1),
      padded = mask.indexOf(0);
    expect(valid).toBeGreaterThanOrEqual(0);
    expect(padded).toBeGreaterThan(0);
    const cases: Array<[string, number]> = [
      ['lifelongSeq', valid],
      ['lifelongSeq', padded],
      ['candidate', 1],
      ['targetSeq', 0],
      ['profile', 1],
    ];
    for (const [input, at] of cases) {
      const rows = { lifelongSeq: cfg.sourceItems!, candidate: cfg.targetItems!, targetSeq: cfg.targetItems!, profile: cfg.profile![1]! }[
        input
      ]!;
      const want = await runRaw(bytes, g, { ...base, [input]: withValue(base[input]!, at, 0) });
      for (const v of [-1, rows, 2147483647]) {
        expect(await runRaw(bytes, g, { ...base, [input]: withValue(base[input]!, at, v) }), `${input}[${at}] = ${v}`).toEqual(want);
      }
    }
  });

  it('guards exactly the gathers of ids (inputs and picks of them), not those by a constant or by top-k indices', () => {
    const guarded = decodeModel(bytes).graph!.node!.filter((n) => n.opType === 'GreaterOrEqual').length;
    const fromInputs = indexUses(g).filter((u) => u.op === 'gather').length;
    // LAP's FSA gathers by K2's positions, which come straight from a top-k (blocks/lap.ts): unguarded
    expect(guarded).toBe(fromInputs);
  });
});

itPassesChecker();
