/**
 * Multi-slot evaluation (targets) and the IFA request models as trainer models: hand-computed metrics, shape errors, a short run, config
 * errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalTarget, SampleSource } from '@lctr/data';
import { auc, gauc, logloss } from '@lctr/metrics';
import { type FeatureSchema, type HostTensor, GraphBuilder, bceWithLogits } from '@lctr/spec';
import { type TfjsModel, initTfjs } from '@lctr/backend-tfjs';
import {
  ConfigError,
  type MetricsRecord,
  TrainError,
  evaluate,
  getTrainModel,
  parseJsonText,
  parseTrainConfig,
  train,
} from '../src/index.ts';
import '../src/requests.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-requests-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// ---- a fake two-slot model and source: outputs known, metrics computed by hand

const schema = { x: { dtype: 'float32', shape: ['batch', 2] } } as const satisfies FeatureSchema;
/** 3 samples x 2 slots; users 0, 0, 1 */
const pA = [0.9, 0.2, 0.6, 0.4, 0.3, 0.7];
const pB = [0.5, 0.1, 0.8, 0.3, 0.2, 0.6];
function fakeSource(targets: EvalTarget[], slots = 2): SampleSource<typeof schema> {
  return {
    schema,
    size: 3,
    labels: Uint8Array.from([1, 0, 1]),
    groups: Int32Array.from([0, 0, 1]),
    targets,
    slots,
    batch: (idx) =>
      ({ x: { dtype: 'float32', shape: [idx.length, 2], data: Float32Array.from(Array.from(idx).flatMap((i) => [i, 0])) } }) as never,
  };
}
function fakeModel(shapes: Record<string, number[]> = {}): TfjsModel<typeof schema, string> {
  const run = (inputs: { x: HostTensor }) => {
    const rows = Array.from(inputs.x.data as Float32Array).filter((_, k) => k % 2 === 0);
    const pick = (p: number[]) => Float32Array.from(rows.flatMap((r) => [p[2 * r]!, p[2 * r + 1]!]));
    const t = (name: string, p: number[]): HostTensor => ({ dtype: 'float32', shape: shapes[name] ?? [rows.length, 2], data: pick(p) });
    return { a: t('a', pA), b: t('b', pB), prob: t('prob', pA) };
  };
  return { run } as unknown as TfjsModel<typeof schema, string>;
}
const groups = Int32Array.from([0, 0, 0, 0, 1, 1]);
const tA: EvalTarget = {
  name: 'first',
  output: 'a',
  labels: Uint8Array.from([1, 0, 0, 1, 0, 1]),
  valid: Uint8Array.from([1, 1, 1, 1, 1, 0]),
  groups,
  trueProbability: Float32Array.from([0.8, 0.1, 0.3, 0.6, 0.5, 0.5]),
};
const tB: EvalTarget = {
  name: 'second',
  output: 'b',
  labels: Uint8Array.from([1, 0, 1, 0, 0, 1]),
  valid: Uint8Array.from([1, 1, 1, 1, 1, 1]),
  groups,
};

describe('evaluate with targets', () => {
  it('scores each target over its valid slots: hand-computed AUC, GAUC, logloss, Bayes AUC', () => {
    for (const batchSize of [1, 2, 3]) {
      const m = evaluate(fakeModel(), fakeSource([tA, tB]), batchSize);
      // first: valid slots 0..4, labels 1 0 0 1 0, scores .9 .2 .6 .4 .3; positives {.9, .4} vs negatives {.2, .6, .3}: 3 + 2 = 5 of 6
      // pairs
      expect(m.target).toBe('first');
      expect([m.samples, m.positives]).toEqual([5, 2]);
      expect(m.auc).toBeCloseTo(5 / 6, 12);
      // user 0: slots 0..3 (4 impressions): pos {.9, .4} neg {.2, .6}: 3 of 4; user 1: slot 4 only, one class -> skipped
      expect([m.gauc, m.gaucUsers]).toEqual([0.75, 1]);
      const ll = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(Math.fround(0.4)) + Math.log(0.7)) / 5;
      expect(m.logloss).toBeCloseTo(ll, 6);
      // Bayes: pos {.8, .6} neg {.1, .3, .5}: 6 of 6
      expect(m.bayesAuc).toBe(1);
      // second: all six slots, labels 1 0 1 0 0 1, scores .5 .1 .8 .3 .2 .6: pos {.5, .8, .6} all above neg {.1, .3, .2}
      const second = m.objectives!['second']!;
      expect([second.samples, second.positives, second.auc]).toEqual([6, 3, 1]);
      expect(second.gauc).toBe(1);
      expect(second.gaucUsers).toBe(2);
      expect(second.logloss).toBeCloseTo(logloss([1, 0, 1, 0, 0, 1], Float32Array.from(pB)), 12);
      expect('bayesAuc' in second).toBe(false);
      expect(Object.keys(m.objectives!)).toEqual(['second']);
    }
  });

  it('agrees with the metrics package on a larger random case', () => {
    const n = 40,
      C = 5;
    const scores = Float32Array.from({ length: n * C }, (_, i) => ((i * 7919) % 101) / 101);
    const labels = Uint8Array.from({ length: n * C }, (_, i) => ((i * 31) % 7 < 3 ? 1 : 0));
    const valid = Uint8Array.from({ length: n * C }, (_, i) => (i % C < 1 + (Math.floor(i / C) % C) ? 1 : 0));
    const g = Int32Array.from({ length: n * C }, (_, i) => Math.floor(i / C / 4));
    const src: SampleSource<typeof schema> = {
      schema,
      size: n,
      labels: new Uint8Array(n),
      groups: new Int32Array(n),
      slots: C,
      targets: [{ name: 't', output: 'prob', labels, valid, groups: g }],
      batch: (idx) => ({ x: { dtype: 'float32', shape: [idx.length, 1], data: Float32Array.from(idx) } }) as never,
    };
    const model = {
      run: (inp: { x: HostTensor }) => {
        const rows = Array.from(inp.x.data as Float32Array);
        return {
          prob: {
            dtype: 'float32',
            shape: [rows.length, C],
            data: Float32Array.from(rows.flatMap((r) => Array.from(scores.subarray(r * C, (r + 1) * C)))),
          },
        };
      },
    } as unknown as TfjsModel<typeof schema, string>;
    const m = evaluate(model, src, 7);
    const at = [...valid.keys()].filter((i) => valid[i]);
    const L = at.map((i) => labels[i]!),
      S = at.map((i) => scores[i]!),
      G = at.map((i) => g[i]!);
    expect(m.auc).toBe(auc(L, S));
    expect(m.gauc).toBe(gauc(L, S, G).gauc);
    expect(m.logloss).toBe(logloss(L, S));
    expect(m.samples).toBe(at.length);
  });

  it('names an output of the wrong shape and targets of the wrong length', () => {
    expect(() => evaluate(fakeModel({ b: [2, 1] }), fakeSource([tA, tB]), 2)).toThrow(
      new TrainError("evaluate: output 'b' (target 'second') must be float32 [2, 2] (one value per sample and slot), got float32 [2, 1]"),
    );
    expect(() => evaluate(fakeModel(), fakeSource([tA, { ...tB, output: 'c' }]), 2)).toThrow(
      new TrainError("evaluate: output 'c' (target 'second') must be float32 [2, 2] (one value per sample and slot), got nothing"),
    );
    expect(() => evaluate(fakeModel(), fakeSource([tA, { ...tB, valid: new Uint8Array(5) }]), 2)).toThrow(
      new TrainError("eval source: target 'second': valid must hold one entry per sample and slot (3 x 2 = 6), got 5"),
    );
    expect(() => evaluate(fakeModel(), fakeSource([tA], 0), 2)).toThrow(
      new TrainError('eval source: slots must be a positive integer with targets, got 0'),
    );
    expect(() => evaluate(fakeModel(), fakeSource([tA, { ...tB, name: 'first' }]), 2)).toThrow(
      new TrainError("eval source: target 'first' is listed twice"),
    );
    expect(() => evaluate(fakeModel(), fakeSource([]), 2)).toThrow(
      new TrainError('eval source: targets must be a non-empty array when present, got an empty array'),
    );
  });

  it('train() refuses a source whose target output the graph lacks or shapes differently', async () => {
    const b = new GraphBuilder('two-slot', { x: { dtype: 'float32', shape: ['batch', 2] }, y: { dtype: 'float32', shape: ['batch', 2] } });
    const w = b.param('w', [2, 2]);
    const logits = b.matmul(b.inputs.x, w);
    const graph = b.build({ a: b.sigmoid(logits), prob: b.sigmoid(logits), loss: bceWithLogits(b, logits, b.inputs.y) });
    const src = (targets: EvalTarget[], slots = 2) =>
      ({ ...fakeSource(targets, slots), schema: { x: schema.x, y: schema.x } }) as unknown as SampleSource<FeatureSchema>;
    const config = parseTrainConfig({ optimizer: { name: 'adam', lr: 0.01 }, batchSize: 2, steps: 1, seed: 1 }, 't');
    await expect(train({ graph, train: src([tA, tB]), config, outDir: join(root, 'x1') })).rejects.toThrow(
      new TrainError("training source: target 'second' scores output 'b', which graph 'two-slot' lacks (outputs: a, prob, loss)"),
    );
    await expect(
      train({ graph, train: src([tA], 2), eval: src([{ ...tA, output: 'loss' }]), config, outDir: join(root, 'x2') }),
    ).rejects.toThrow(
      new TrainError(
        "eval source: target 'first' needs output 'loss' float32 [batch, 2] (one value per slot), graph 'two-slot' gives float32 []",
      ),
    );
  });
});

// ---- the registered request models on a tiny world

const tinyPath = join(import.meta.dirname, '../configs/ifa-tiny.json');
const tiny = parseTrainConfig(parseJsonText(readFileSync(tinyPath, 'utf8'), tinyPath), tinyPath);
const readMetrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);

describe('request trainer models', () => {
  beforeAll(() => initTfjs({ backend: 'wasm', log: () => {} }));
  const req = (split: 'train' | 'eval', model: Record<string, unknown> = tiny.model) => ({
    split,
    seed: tiny.seed,
    data: tiny.data,
    model,
    where: 'ifa.json',
  });

  const MODULES: Record<string, string> = {
    ifa: 'ifa',
    'ifa-avgpool': 'avgPool',
    'ifa-full-attention': 'fullAttention',
    'ifa-sim-soft': 'simSoft',
    'ifa-sim-hard': 'simHard',
    'ifa-twin': 'twin',
  };
  for (const name of Object.keys(MODULES)) {
    it(`${name}: builds from the world's sizes and its source feeds every input of the graph`, async () => {
      const m = getTrainModel(name);
      const g = await m.buildTrain(tiny.model, 'ifa.json', tiny.data);
      const src = await m.source(req('train'));
      expect(src.size).toBe(60 * 8);
      expect((await m.source(req('eval'))).size).toBe(60 * 4);
      const batch = src.batch(Int32Array.from([0, 9, 4])) as Record<string, HostTensor>;
      expect(Object.keys(batch).sort()).toEqual(g.inputs.map((i) => i.name).sort());
      expect(batch['cand']!.shape).toEqual([3, 8]);
      expect(batch['seqContext']!.shape).toEqual([3, 32, 2]);
      expect(src.targets!.map((t) => t.output)).toEqual(['pClick', 'pImpression', 'prob']);
      expect(g.inputs.find((i) => i.name === 'seq')!.shape).toEqual(['batch', 32]);
      expect((g.meta as { config: { module: string } }).config.module).toBe(MODULES[name]);
    });
  }

  it('fullSequence: false reads the last shortLen events of the same requests', async () => {
    const m = getTrainModel('ifa');
    const short = { ...tiny.model, fullSequence: false, shortLen: 8 };
    const g = await m.buildTrain(short, 'ifa.json', tiny.data);
    expect(g.inputs.find((i) => i.name === 'seq')!.shape).toEqual(['batch', 8]);
    const idx = Int32Array.from([0, 5, 479]);
    const full = (await m.source(req('train'))).batch(idx) as Record<string, HostTensor>;
    const last = (await m.source(req('train', short))).batch(idx) as Record<string, HostTensor>;
    for (let r = 0; r < 3; r++) {
      expect(Array.from(full['seqMask']!.data.subarray(r * 32, r * 32 + 32) as Uint8Array).every((x) => x === 1)).toBe(true);
      expect(Array.from(last['seq']!.data.subarray(r * 8, r * 8 + 8) as Int32Array)).toEqual(
        Array.from(full['seq']!.data.subarray(r * 32 + 24, r * 32 + 32) as Int32Array),
      );
    }
  });

  it('ifa trains on the tiny world: loss falls, eval reports click (headline), impression and ranking with Bayes AUCs', async () => {
    const m = getTrainModel('ifa');
    const graph = await m.buildTrain(tiny.model, tinyPath, tiny.data);
    const out = join(root, 'ifa');
    const res = await train({ graph, train: await m.source(req('train')), eval: await m.source(req('eval')), config: tiny, outDir: out });
    expect(res.step).toBe(40);
    const losses = readMetrics(out)
      .filter((r) => r.kind === 'train')
      .map((r) => (r as { loss: number }).loss);
    expect(losses.length).toBe(4);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.1);
    const evals = readMetrics(out).filter((r) => r.kind === 'eval') as Array<Extract<MetricsRecord, { kind: 'eval' }>>;
    expect(evals.map((e) => e.step)).toEqual([20, 40]);
    const e = evals.at(-1)!;
    expect(e.target).toBe('click');
    expect(Object.keys(e.objectives!)).toEqual(['impression', 'ranking']);
    expect(e.bayesAuc).toBeGreaterThan(0.75);
    expect(e.auc).toBeGreaterThan(0.6);
    expect(e.objectives!['ranking']!.auc).toBeGreaterThan(0.6);
    expect(e.objectives!['impression']!.bayesAuc).toBeGreaterThan(0.7);
    // the headline is pClick over the impressed candidates: its sample count is the eval impressions
    expect(e.samples).toBe(e.objectives!['impression']!.positives);
  });

  it('names bad keys and values of config.model, config.data and config.data.requests', async () => {
    const ifa = getTrainModel('ifa');
    const bad = async (model: Record<string, unknown>, data: Record<string, unknown>) => {
      try {
        await ifa.buildTrain(model, 'ifa.json', data);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(await bad({ objectives: ['like'] }, tiny.data)).toBe(
      'ifa.json: config.model.objectives: unknown key (expected one of dim, categoryDim, crossDim, contextDim, attnDim, kernel, eps, ' +
        'towers, module, fullSequence, shortLen, relationAware, simSoft, simHard, twin)',
    );
    expect(await bad({ module: 'lstm' }, tiny.data)).toBe(
      'ifa.json: config.model.module: expected one of "ifa", "avgPool", "fullAttention", "simSoft", "simHard", "twin", got "lstm" (a ' +
        'string)',
    );
    expect(await bad({ module: 'twin', twin: { k: 64 } }, tiny.data)).toBe(
      'ifa.json: config.model: ifa config: twin.k must be <= the sequence length the model reads, N = 32 (seqLen), got 64',
    );
    expect(await bad({ twin: { k: 0 } }, tiny.data)).toBe('ifa.json: config.model.twin.k: expected an integer >= 1, got 0');
    expect(await bad({ simSoft: { gsu: 4 } }, tiny.data)).toBe(
      'ifa.json: config.model.simSoft.gsu: unknown key (expected one of k, gsuDim, attentionDim, auxWeight)',
    );
    await expect((async () => getTrainModel('ifa-avgpool').buildTrain({ module: 'ifa' }, 'ifa.json', tiny.data))()).rejects.toThrow(
      new ConfigError([
        `ifa.json: config.model.module: model 'ifa-avgpool' fixes module "avgPool", got "ifa" (choose the module in the config with ` +
          `--model ifa)`,
      ]),
    );
    expect(await bad({}, { ...tiny.data, seqlen: 3 })).toBe(
      'ifa.json: config.data.seqlen: unknown key (expected one of world, worldSeed, worldUsers, sharedCategories, seed, seqLen, requests)',
    );
    expect(await bad({}, { ...tiny.data, requests: { candidates: 0 } })).toBe(
      'ifa.json: config.data.requests.candidates: expected an integer >= 1, got 0',
    );
    expect(await bad({}, { ...tiny.data, requests: { candidate: 4 } })).toMatch(
      /^ifa.json: config.data.requests.candidate: unknown key \(expected one of candidates, minCandidates, /,
    );
    expect(await bad({}, { ...tiny.data, requests: { candidates: 4, minCandidates: 5 } })).toBe(
      'ifa.json: config.data.requests: request config: minCandidates must be <= candidates (4), got 5',
    );
  });
});
