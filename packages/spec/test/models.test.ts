/** The baseline models (AvgPooling, DIN): schemas, shapes, parameter names, config errors, the DIN block's checks. */
import { describe, expect, it } from 'vitest';
import {
  AVGPOOL_DEFAULTS,
  DIN_DEFAULTS,
  GraphBuilder,
  avgPoolSchema,
  buildAvgPool,
  buildAvgPoolTrain,
  buildDin,
  buildDinTrain,
  dinAttention,
  dinSchema,
  graphFromJSON,
  serializeGraph,
  valueInfo,
} from '../src/index.ts';

const SMALL = {
  dim: 4,
  categoryDim: 2,
  seqLen: 5,
  users: 10,
  targetItems: 30,
  sourceItems: 40,
  categories: 6,
  profile: [3, 2],
  hidden: [8],
} as const;
const shapes = (g: { params: ReadonlyArray<{ name: string; shape: readonly number[] }> }) =>
  g.params.map((p) => `${p.name} [${p.shape.join(', ')}]`);

describe('baseline schemas', () => {
  it('full config: the SampleSource feature names, batch symbolic, lengths static', () => {
    expect(avgPoolSchema(SMALL, true)).toEqual({
      user: { dtype: 'int32', shape: ['batch'] },
      profile: { dtype: 'int32', shape: ['batch', 2] },
      candidate: { dtype: 'int32', shape: ['batch'] },
      candidateCategory: { dtype: 'int32', shape: ['batch'] },
      targetSeq: { dtype: 'int32', shape: ['batch', 5] },
      targetSeqCategory: { dtype: 'int32', shape: ['batch', 5] },
      targetSeqMask: { dtype: 'bool', shape: ['batch', 5] },
      sourceSeq: { dtype: 'int32', shape: ['batch', 5] },
      sourceSeqCategory: { dtype: 'int32', shape: ['batch', 5] },
      sourceSeqMask: { dtype: 'bool', shape: ['batch', 5] },
      label: { dtype: 'float32', shape: ['batch'] },
    });
    expect(Object.keys(dinSchema(SMALL, false))).toEqual(Object.keys(avgPoolSchema(SMALL, true)).filter((k) => k !== 'label'));
  });

  it('features a config does not use are left out', () => {
    expect(Object.keys(dinSchema({ ...SMALL, users: 0, profile: [], categoryDim: 0, sequences: ['source'] }, true))).toEqual([
      'candidate',
      'sourceSeq',
      'sourceSeqMask',
      'label',
    ]);
    expect(Object.keys(avgPoolSchema({ ...SMALL, sequences: ['target'] }))).toEqual([
      'user',
      'profile',
      'candidate',
      'candidateCategory',
      'targetSeq',
      'targetSeqCategory',
      'targetSeqMask',
    ]);
  });

  it('defaults: d = 16, categories 8 wide and concatenated, L = 50, both short sequences, MLP 200-80, DIN attention 80-40', () => {
    expect(AVGPOOL_DEFAULTS).toMatchObject({
      dim: 16,
      categoryDim: 8,
      seqLen: 50,
      sequences: ['target', 'source'],
      hidden: [200, 80],
      users: 0,
    });
    expect(DIN_DEFAULTS.attention).toEqual([80, 40]);
    const g = buildDin();
    expect(g.inputs.find((i) => i.name === 'targetSeq')!.shape).toEqual(['batch', 50]);
    expect(g.params.find((p) => p.name === 'din/target/att/l0/w')!.shape).toEqual([96, 80]); // 4 × (16 + 8)
  });
});

describe('AvgPooling', () => {
  it('parameter names and shapes', () => {
    // MLP input: user 4 + profile 4 + 4 + candidate (4 + 2) + mean target (4 + 2) + mean source (4 + 2) = 30
    expect(shapes(buildAvgPoolTrain(SMALL))).toEqual([
      'emb/targetItem [30, 4]',
      'emb/sourceItem [40, 4]',
      'emb/category [6, 2]',
      'emb/user [10, 4]',
      'emb/profile0 [3, 4]',
      'emb/profile1 [2, 4]',
      'mlp/l0/w [30, 8]',
      'mlp/l0/b [8]',
      'mlp/l1/w [8, 1]',
      'mlp/l1/b [1]',
    ]);
    expect(shapes(buildAvgPool({ ...SMALL, users: 0, categoryDim: 0, profile: [], sequences: ['target'], hidden: [] }))).toEqual([
      'emb/targetItem [30, 4]',
      'mlp/l0/w [8, 1]',
      'mlp/l0/b [1]',
    ]);
  });

  it('training graph: prob [batch] and scalar loss; serving graph: prob only, no label', () => {
    const t = buildAvgPoolTrain(SMALL),
      s = buildAvgPool(SMALL);
    expect(t.name).toBe('avgpool-train');
    expect(Object.keys(t.outputs)).toEqual(['prob', 'loss']);
    expect(valueInfo(t, t.outputs.prob)).toEqual({ dtype: 'float32', shape: ['batch'] });
    expect(valueInfo(t, t.outputs.loss)).toEqual({ dtype: 'float32', shape: [] });
    expect(s.name).toBe('avgpool');
    expect(Object.keys(s.outputs)).toEqual(['prob']);
    expect(s.inputs.map((i) => i.name)).not.toContain('label');
    expect(shapes(s)).toEqual(shapes(t));
    expect(s.meta).toEqual({ model: 'avgpool', config: { ...AVGPOOL_DEFAULTS, ...SMALL } });
  });
});

describe('DIN', () => {
  it('parameter names and shapes: one attention MLP per sequence over [e_j, e_v, e_j - e_v, e_j * e_v]', () => {
    expect(shapes(buildDinTrain({ ...SMALL, attention: [6, 3] }))).toEqual([
      'emb/targetItem [30, 4]',
      'emb/sourceItem [40, 4]',
      'emb/category [6, 2]',
      'emb/user [10, 4]',
      'emb/profile0 [3, 4]',
      'emb/profile1 [2, 4]',
      'din/target/att/l0/w [24, 6]',
      'din/target/att/l0/b [6]',
      'din/target/att/l1/w [6, 3]',
      'din/target/att/l1/b [3]',
      'din/target/att/l2/w [3, 1]',
      'din/target/att/l2/b [1]',
      'din/source/att/l0/w [24, 6]',
      'din/source/att/l0/b [6]',
      'din/source/att/l1/w [6, 3]',
      'din/source/att/l1/b [3]',
      'din/source/att/l2/w [3, 1]',
      'din/source/att/l2/b [1]',
      'mlp/l0/w [30, 8]',
      'mlp/l0/b [8]',
      'mlp/l1/w [8, 1]',
      'mlp/l1/b [1]',
    ]);
  });

  it('training and serving graphs, and they survive the JSON round trip', () => {
    const t = buildDinTrain(SMALL),
      s = buildDin(SMALL);
    expect(Object.keys(t.outputs)).toEqual(['prob', 'loss']);
    expect(valueInfo(t, t.outputs.loss).shape).toEqual([]);
    expect(Object.keys(s.outputs)).toEqual(['prob']);
    expect(valueInfo(s, s.outputs.prob)).toEqual({ dtype: 'float32', shape: ['batch'] });
    expect(s.meta).toEqual({ model: 'din', config: { ...DIN_DEFAULTS, ...SMALL } });
    const back = graphFromJSON(serializeGraph(s));
    expect(back.params).toEqual(s.params);
    expect(back.nodes.length).toBe(s.nodes.length);
  });

  it('dinAttention: [batch, L, d] keys, [batch, L] mask, [batch, d] query -> [batch, d]; wrong shapes are named', () => {
    const b = new GraphBuilder('att', {
      k: { dtype: 'float32', shape: ['batch', 'seq', 6] },
      m: { dtype: 'bool', shape: ['batch', 'seq'] },
      q: { dtype: 'float32', shape: ['batch', 6] },
      q5: { dtype: 'float32', shape: ['batch', 5] },
      m3: { dtype: 'bool', shape: ['batch', 3] },
    } as const);
    const { k, m, q, q5, m3 } = b.inputs;
    expect(dinAttention(b, 'a', k, m, q).shape).toEqual(['batch', 6]);
    expect(() => dinAttention(b, 'b', k, m, q5)).toThrow(
      "dinAttention 'b': query must be [..., 6] (keys are [batch, seq, 6]), got [batch, 5]",
    );
    expect(() => dinAttention(b, 'c', k, m3, q)).toThrow(
      "dinAttention 'c': mask must be [..., seq] (keys are [batch, seq, 6]), got [batch, 3]",
    );
    const g = b.build({ y: dinAttention(b, 'd', k, m, q, { hidden: [5] }) });
    expect(shapes(g)).toEqual(['d/l0/w [24, 5]', 'd/l0/b [5]', 'd/l1/w [5, 1]', 'd/l1/b [1]']);
  });
});

describe('config errors name the model, the field, the expectation and the value', () => {
  it.each([
    [{ dim: 0 }, 'avgpool config: dim must be a positive integer, got 0'],
    [{ seqLen: 2.5 }, 'avgpool config: seqLen must be a positive integer, got 2.5'],
    [{ categoryDim: -1 }, 'avgpool config: categoryDim must be a non-negative integer, got -1'],
    [{ profile: [3, 0] }, 'avgpool config: profile[1] must be a positive integer, got 0'],
    [{ sequences: [] }, "avgpool config: sequences must list at least one of 'target', 'source', got []"],
    [{ sequences: ['target', 'lifelong'] }, "avgpool config: sequences[1] must be 'target' or 'source', got \"lifelong\""],
    [{ sequences: ['source', 'source'] }, "avgpool config: sequences lists 'source' twice"],
  ] as const)('%j', (bad, message) => {
    expect(() => buildAvgPoolTrain({ ...SMALL, ...(bad as object) })).toThrow(message);
  });

  it('DIN checks its attention sizes too', () => {
    expect(() => buildDin({ ...SMALL, attention: [4, -2] })).toThrow('din config: attention[1] must be a positive integer, got -2');
    expect(() => buildDin({ ...SMALL, targetItems: 0 })).toThrow('din config: targetItems must be a positive integer, got 0');
  });
});
