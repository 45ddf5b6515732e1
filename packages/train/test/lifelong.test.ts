/** LCN, SIM soft, SIM hard, TWIN as trainer models: graphs and sources on the small world, a short run, config and checkpoint errors. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initTfjs } from '@lctr/backend-tfjs';
import { CheckpointError, ConfigError, getTrainModel, parseTrainConfig, train } from '../src/index.ts';
import '../src/lifelong.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-lifelong-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const small = { dataset: 'synthetic', world: 'small', worldSeed: 3 };
const arch = {
  dim: 4,
  categoryDim: 2,
  seqLen: 8,
  hidden: [8],
  attention: [4],
  lifelongLen: 40,
  contextDim: 2,
  lap: { k1: 10, k2: 4, attentionDim: 4, heads: 2, headDim: 2, ffnDim: 8, outDim: 4 },
  simSoft: { k: 6, gsuDim: 4, attentionDim: 4 },
  simHard: { k: 6, attentionDim: 4 },
  twin: { k: 6, heads: 2, headDim: 2 },
  crp: { negatives: 16 },
};
const req = (split: 'train' | 'eval', model: Record<string, unknown> = arch) => ({ split, seed: 1, data: small, model, where: 'l.json' });

describe('lifelong trainer models', () => {
  for (const name of ['lcn', 'sim-soft', 'sim-hard', 'twin']) {
    it(`${name}: builds from the world's vocabulary and its source feeds every input of the graph`, async () => {
      const m = getTrainModel(name);
      const g = await m.buildTrain(arch, 'l.json', small);
      const src = await m.source(req('train'));
      const batch = src.batch(Int32Array.from([0, 9, 4])) as Record<string, { shape: readonly number[] }>;
      expect(Object.keys(batch).sort()).toEqual(g.inputs.map((i) => i.name).sort());
      expect(batch['lifelongSeq']!.shape).toEqual([3, 40]);
      expect(batch['lifelongContext']!.shape).toEqual([3, 40, 2]); // watch bucket, behaviour
      expect(g.inputs.some((i) => i.name === 'crpPt')).toBe(name === 'lcn');
      if (name === 'lcn') expect(batch['crpPtNeg']!.shape).toEqual([16, 2]);
    });
  }

  it('lcn trains on the small world: loss falls, metrics are written, eval reports the Bayes AUC', async () => {
    await initTfjs({ backend: 'cpu', log: () => {} });
    const m = getTrainModel('lcn');
    const config = parseTrainConfig(
      { optimizer: { name: 'adam', lr: 0.01 }, batchSize: 64, steps: 12, evalEvery: 0, logEvery: 1, seed: 1, model: arch, data: small },
      'l.json',
    );
    const graph = await m.buildTrain(config.model, 'l.json', config.data);
    const trainSrc = await m.source(req('train')),
      evalSrc = await m.source(req('eval'));
    const res = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: join(root, 'lcn') });
    expect(res.step).toBe(12);
    const losses = readFileSync(join(root, 'lcn', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; loss: number })
      .filter((r) => r.kind === 'train')
      .map((r) => r.loss);
    expect(losses.length).toBe(12);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3);
    const ev = res.evals.at(-1)!;
    expect(ev.bayesAuc).toBeGreaterThan(0.7);
    expect(ev.auc).toBeGreaterThan(0.3);
  });

  it('names bad keys and values, K1 < K2 and K beyond the sequence', async () => {
    const lcn = getTrainModel('lcn');
    await expect(lcn.buildTrain({ ...arch, lap: { ...arch.lap, k3: 2 } }, 'l.json', small)).rejects.toThrow(
      new ConfigError([
        'l.json: config.model.lap.k3: unknown key (expected one of k1, k2, attentionDim, heads, headDim, ffnDim, outDim, csaNormalize, ' +
          'msaNormalize, fsaPool)',
      ]),
    );
    await expect(lcn.buildTrain({ ...arch, crp: { lambda: -1 } }, 'l.json', small)).rejects.toThrow(
      new ConfigError(['l.json: config.model.crp.lambda: expected a number >= 0, got -1']),
    );
    await expect(lcn.buildTrain({ ...arch, lap: { ...arch.lap, k1: 3, k2: 4 } }, 'l.json', small)).rejects.toThrow(
      new ConfigError(["l.json: config.model: lap 'lap': k2 must be <= k1 (3), got 4"]),
    );
    await expect(lcn.buildTrain({ ...arch, lap: { ...arch.lap, k1: 41 } }, 'l.json', small)).rejects.toThrow(
      new ConfigError(["l.json: config.model: lap 'lap': k1 must be <= the sequence length 40, got 41"]),
    );
    await expect(getTrainModel('twin').buildTrain({ ...arch, twin: { k: 50, heads: 1, headDim: 2 } }, 'l.json', small)).rejects.toThrow(
      new ConfigError(["l.json: config.model: twin 'twin': k must be <= the sequence length 40, got 50"]),
    );
  });

  it('a checkpoint of another feature schema is refused on resume, naming the features', async () => {
    await initTfjs({ backend: 'cpu', log: () => {} });
    const m = getTrainModel('lcn');
    const dir = join(root, 'mismatch');
    const config = parseTrainConfig(
      { optimizer: { name: 'adam', lr: 0.01 }, batchSize: 64, steps: 2, seed: 1, model: arch, data: small },
      'l.json',
    );
    await train({ graph: await m.buildTrain(arch, 'l.json', small), train: await m.source(req('train')), config, outDir: dir });
    const longer = { ...arch, lifelongLen: 60 };
    const err = await train({
      graph: await m.buildTrain(longer, 'l.json', small),
      train: await m.source(req('train', longer)),
      config: { ...config, steps: 4, model: longer },
      outDir: dir,
      resume: true,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toContain("feature 'lifelongSeq' is int32[batch, 40] in the checkpoint, int32[batch, 60] in the model");
  });
});
