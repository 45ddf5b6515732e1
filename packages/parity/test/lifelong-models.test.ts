/**
 * The lifelong family (LCN, SIM soft, SIM hard, TWIN): schemas of both graphs, the serving graph
 * (one request, C candidates, user-side work once) scoring exactly what the training graph scores
 * for the same user repeated per row, CRP in and out of the graph, and config errors.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type LifelongConfig,
  LIFELONG_PRESETS,
  buildLifelong,
  buildLifelongTrain,
  graphFromJSON,
  initWeights,
  lifelongConfig,
  weightsFor,
  lifelongSchema,
  serializeGraph,
} from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { checkParity } from '../src/index.ts';

const N = 12;
const SMALL_LIFELONG = LIFELONG_TEST_CONFIG;
const MODULES = [
  ['lcn', 'lap'],
  ['sim-soft', 'simSoft'],
  ['sim-hard', 'simHard'],
  ['twin', 'twin'],
  ['base only', 'none'],
] as const;

/** Training feeds that repeat the request's user-side rows once per candidate. */
function trainFeedsFor(train: Graph<FeatureSchema, string>, serve: Record<string, HostTensor>, C: number): Record<string, HostTensor> {
  const other = randomFeeds(train, { batch: C }, 99, lifelongGens()) as Record<string, HostTensor>;
  const out: Record<string, HostTensor> = {};
  for (const inp of train.inputs) {
    const s = serve[inp.name];
    if (!s) {
      out[inp.name] = other[inp.name]!;
      continue;
    } // crp pairs, label: not read by `prob`
    if (inp.name === 'candidate' || inp.name === 'candidateCategory') {
      out[inp.name] = s;
      continue;
    }
    const row = s.data.length; // the user's one row
    const data = new (s.data.constructor as new (n: number) => HostTensor['data'])(row * C) as HostTensor['data'];
    for (let r = 0; r < C; r++) (data as Int32Array).set(s.data as Int32Array, r * row);
    out[inp.name] = { ...s, shape: [C, ...s.shape.slice(1)], data } as HostTensor;
  }
  return out;
}

describe('lifelong family: schemas', () => {
  it('training: batch-leading SampleSource features + lifelong + CRP pairs + label; serving: a leading 1 and candidates on cand', () => {
    const train = lifelongSchema(SMALL_LIFELONG, 'train');
    expect(train['lifelongSeq']).toEqual({ dtype: 'int32', shape: ['batch', N] });
    expect(train['lifelongContext']).toEqual({ dtype: 'int32', shape: ['batch', N, 2] });
    expect(train['crpPtNeg']!.shape).toEqual([5, 2]);
    expect(train['label']).toEqual({ dtype: 'float32', shape: ['batch'] });
    const serve = lifelongSchema(SMALL_LIFELONG, 'serve');
    expect(serve['candidate']).toEqual({ dtype: 'int32', shape: ['cand'] });
    expect(serve['candidateCategory']).toEqual({ dtype: 'int32', shape: ['cand'] });
    expect(serve['lifelongMask']).toEqual({ dtype: 'bool', shape: [1, N] });
    expect(serve['targetSeq']).toEqual({ dtype: 'int32', shape: [1, 5] });
    expect(serve['profile']).toEqual({ dtype: 'int32', shape: [1, 2] });
    expect(Object.keys(serve).some((k) => k.startsWith('crp') || k === 'label')).toBe(false);
  });

  it('λ_CRP = 0 leaves the pair inputs out of the training graph', () => {
    const g = buildLifelongTrain({ ...SMALL_LIFELONG, crp: { ...SMALL_LIFELONG.crp!, lambda: 0 } });
    expect(g.inputs.some((i) => i.name.startsWith('crp'))).toBe(false);
    expect(buildLifelongTrain(SMALL_LIFELONG).inputs.filter((i) => i.name.startsWith('crp')).length).toBe(12);
  });

  it('presets: LCN reads the lifelong sequence with LAP and CRP; the baselines without CRP', () => {
    expect(LIFELONG_PRESETS.lcn.module).toBe('lap');
    for (const p of ['sim-soft', 'sim-hard', 'twin'] as const) expect(LIFELONG_PRESETS[p].crp!.lambda).toBe(0);
  });
});

describe('lifelong family: the serving graph scores what the training graph scores', () => {
  for (const [label, module] of MODULES) {
    it(`${label}: same parameters, one request of 4 candidates == 4 training rows of that user`, () => {
      const cfg = { ...SMALL_LIFELONG, module };
      const train = buildLifelongTrain(cfg),
        serve = buildLifelong(cfg);
      const trainParams = new Map(train.params.map((p) => [p.name, p.shape]));
      for (const p of serve.params) expect(trainParams.get(p.name), p.name).toEqual(p.shape);
      // CRP has no parameters of its own; only SIM soft's auxiliary head is training-only
      expect(train.params.filter((p) => !serve.params.some((q) => q.name === p.name)).map((p) => p.name)).toEqual(
        module === 'simSoft' ? ['simSoft/aux/l0/w', 'simSoft/aux/l0/b', 'simSoft/aux/l1/w', 'simSoft/aux/l1/b'] : [],
      );
      const weights = initWeights(train, 5);
      const C = 4;
      const serveFeeds = randomFeeds(serve, { cand: C }, 3, lifelongGens()) as Record<string, HostTensor>;
      // a short lifelong history (7 of 12 valid) so picks run out of valid items for K > 7
      (serveFeeds['lifelongMask']!.data as Uint8Array).set([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
      const served = runRef(serve, weightsFor(serve, weights), serveFeeds).prob;
      expect(served.shape).toEqual([C]);
      const trained = runRef(train, weights, trainFeedsFor(train, serveFeeds, C)).prob;
      for (let i = 0; i < C; i++) expect(served.data[i]!).toBeCloseTo(trained.data[i]!, 12);
      expect(new Set(Array.from(served.data)).size).toBe(C); // candidates differ, so do their scores
    });
  }

  it('lap.k1 / k2 = 0 switch a pyramid level off, and the graph meta rebuilds the same graph', () => {
    const names = (g: { params: ReadonlyArray<{ name: string }> }) => g.params.map((p) => p.name).filter((n) => n.startsWith('lap/'));
    const full = buildLifelong(SMALL_LIFELONG);
    expect(names(full).some((n) => n.startsWith('lap/msa/'))).toBe(true);
    const noMsa = buildLifelong({ ...SMALL_LIFELONG, lap: { ...SMALL_LIFELONG.lap!, k1: 0 } });
    expect(names(noMsa).some((n) => n.startsWith('lap/msa/'))).toBe(false);
    expect(names(noMsa).some((n) => n.startsWith('lap/fsa/'))).toBe(true);
    const none = buildLifelong({ ...SMALL_LIFELONG, lap: { ...SMALL_LIFELONG.lap!, k1: 0, k2: 0 } });
    expect(names(none)).toEqual([]);
    // the config stored in the graph (JSON) rebuilds exactly this graph: k = 0 survives, undefined would not
    const back = buildLifelong(JSON.parse(JSON.stringify(noMsa.meta.config)) as Partial<LifelongConfig>);
    expect(serializeGraph(back)).toEqual(serializeGraph(noMsa));
  });

  it('round-trips through graph JSON', () => {
    const g = buildLifelong(SMALL_LIFELONG);
    const back = graphFromJSON(serializeGraph(g));
    expect(back.nodes.length).toBe(g.nodes.length);
    expect(back.meta).toEqual(JSON.parse(JSON.stringify(g.meta)));
  });
});

describe('lifelong family: parity across backends', () => {
  for (const [label, module] of MODULES) {
    it(`${label}: training graph forward and gradients of the loss, serving graph forward`, async () => {
      const cfg = { ...SMALL_LIFELONG, module };
      const train = buildLifelongTrain(cfg),
        serve = buildLifelong(cfg);
      const weights = initWeights(train, 11);
      const trainFeeds = randomFeeds(train, { batch: 5 }, 7, lifelongGens());
      const r = await checkParity({ name: `${label}-train`, graph: train, weights, inputs: trainFeeds, gradOutput: 'loss' });
      expect(r.failures).toEqual([]);
      expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * train.params.length);
      const s = await checkParity({
        name: `${label}-serve`,
        graph: serve,
        weights: weightsFor(serve, weights),
        inputs: randomFeeds(serve, { cand: 6 }, 8, lifelongGens()),
      });
      expect(s.failures).toEqual([]);
    });
  }
});

describe('lifelong family: config errors', () => {
  it('names the field, what is expected and what was given', () => {
    expect(() => lifelongConfig({ ...SMALL_LIFELONG, module: 'sim' as never })).toThrow(
      "lifelong config: module must be one of 'lap', 'simSoft', 'simHard', 'twin', 'none', got \"sim\"",
    );
    expect(() => lifelongConfig({ ...SMALL_LIFELONG, lifelongLen: 0 })).toThrow(
      'lifelong config: lifelongLen must be a positive integer, got 0',
    );
    expect(() => lifelongConfig({ ...SMALL_LIFELONG, context: [] })).toThrow(
      "lifelong config: context must be at least one context column for module 'lap', got []",
    );
    expect(() => lifelongConfig({ ...SMALL_LIFELONG, sequences: ['source'] })).toThrow(
      "lifelong config: sequences must be both 'target' and 'source' when crp.lambda > 0 (CRP pairs come from both), got [\"source\"]",
    );
    expect(() => lifelongConfig({ ...SMALL_LIFELONG, crp: { ...SMALL_LIFELONG.crp!, lambda: -1 } })).toThrow(
      'lifelong config: crp.lambda must be a finite number >= 0, got -1',
    );
  });

  it('K1 < K2 and K larger than the sequence are build-time errors', () => {
    expect(() => buildLifelongTrain({ ...SMALL_LIFELONG, lap: { ...SMALL_LIFELONG.lap!, k1: 3, k2: 5 } })).toThrow(/k2.*5/);
    expect(() => buildLifelongTrain({ ...SMALL_LIFELONG, lap: { ...SMALL_LIFELONG.lap!, k1: 20 } })).toThrow(/k1.*12.*20|k1.*20.*12/);
    expect(() => buildLifelong({ ...SMALL_LIFELONG, module: 'twin', twin: { k: 13, heads: 1, headDim: 2 } })).toThrow(/13/);
  });
});
