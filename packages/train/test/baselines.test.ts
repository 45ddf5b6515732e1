/** AvgPooling and DIN as trainer models on the synthetic world and ml-100k: graphs, sources, splits, config errors. */
import { describe, expect, it } from 'vitest';
import { SMALL_WORLD_CONFIG, generateWorld } from '@lctr/data';
import { ConfigError, getTrainModel } from '../src/index.ts';
import '../src/baselines.ts';

const arch = { dim: 4, categoryDim: 2, seqLen: 10, hidden: [8] };
const small = { dataset: 'synthetic', world: 'small', worldSeed: 3 };

describe('baseline trainer models', () => {
  it("build from the data set's vocabulary and feed the schema they declare", async () => {
    const din = getTrainModel('din');
    const g = await din.buildTrain({ ...arch, attention: [4] }, 'c.json', small);
    expect(Object.keys(g.outputs).sort()).toEqual(['loss', 'prob']);
    const world = generateWorld(SMALL_WORLD_CONFIG, 3);
    expect(g.params.find((p) => p.name === 'emb/targetItem')!.shape).toEqual([world.log.meta.items.target, 4]);
    const train = await din.source({ split: 'train', seed: 1, data: small, model: { ...arch, attention: [4] }, where: 'c.json' });
    const evalSrc = await din.source({ split: 'eval', seed: 1, data: small, model: { ...arch, attention: [4] }, where: 'c.json' });
    expect(train.size).toBe(world.train.length);
    expect(evalSrc.size).toBe(world.test.length);
    expect(evalSrc.trueProbability!.length).toBe(world.test.length);
    expect(evalSrc.trueProbability!.every((p) => p > 0 && p < 1)).toBe(true);
    const batch = train.batch(Int32Array.from([0, 5, 2]));
    expect(Object.keys(batch).sort()).toEqual(g.inputs.map((i) => i.name).sort());
    expect((batch as Record<string, { shape: readonly number[] }>)['targetSeq']!.shape).toEqual([3, 10]);
  });

  it('give the source sequence its own length when sourceSeqLen is set', async () => {
    const avg = getTrainModel('avgpool');
    const model = { ...arch, sourceSeqLen: 30 };
    const g = await avg.buildTrain(model, 'c.json', small);
    expect(g.inputs.find((i) => i.name === 'sourceSeq')!.shape).toEqual(['batch', 30]);
    expect(g.inputs.find((i) => i.name === 'targetSeq')!.shape).toEqual(['batch', 10]);
    const src = await avg.source({ split: 'train', seed: 1, data: small, model, where: 'c.json' });
    const b = src.batch(Int32Array.from([1, 2])) as Record<string, { shape: readonly number[]; data: ArrayLike<number> }>;
    expect(b['sourceSeqMask']!.shape).toEqual([2, 30]);
    // the small world's users have 150+ source events before any impression: all 30 positions are valid
    expect(Array.from(b['sourceSeqMask']!.data).every((v) => v === 1)).toBe(true);
  });

  it('size the synthetic world by worldUsers (0 keeps the preset)', async () => {
    const avg = getTrainModel('avgpool');
    const data = { ...small, worldUsers: 200 };
    const src = await avg.source({ split: 'train', seed: 1, data, model: arch, where: 'c.json' });
    const world = generateWorld({ ...SMALL_WORLD_CONFIG, users: 200 }, 3);
    expect(world.log.meta.users).toBe(200);
    expect(src.size).toBe(world.train.length);
    await expect(avg.buildTrain(arch, 'c.json', { ...small, worldUsers: -1 })).rejects.toThrow(
      new ConfigError(['c.json: config.data.worldUsers: expected an integer >= 0, got -1']),
    );
  });

  it('split ml-100k by time: the latest 20% of target events are the eval set', async () => {
    const avg = getTrainModel('avgpool');
    const data = { dataset: 'ml-100k', dir: '../shared/data/ml-100k' };
    const train = await avg.source({ split: 'train', seed: 1, data, model: arch, where: 'c.json' });
    const evalSrc = await avg.source({ split: 'eval', seed: 1, data, model: arch, where: 'c.json' });
    expect(train.size + evalSrc.size).toBe(7855);
    expect(evalSrc.size / 7855).toBeGreaterThan(0.19);
    expect(evalSrc.size / 7855).toBeLessThan(0.21);
    expect(evalSrc.trueProbability).toBeUndefined();
  });

  it(
    '"dataset": "file" trains on any dataset config: ml-100k\'s gives the samples of the "ml-100k" alias, the Taobao sample its own ' +
      'split',
    async () => {
      const avg = getTrainModel('avgpool');
      const viaFile = await avg.source({
        split: 'eval',
        seed: 1,
        data: { dataset: 'file', config: 'datasets/ml-100k.json' },
        model: arch,
        where: 'c.json',
      });
      const viaAlias = await avg.source({ split: 'eval', seed: 1, data: { dataset: 'ml-100k' }, model: arch, where: 'c.json' });
      const rows = Int32Array.from({ length: 32 }, (_, k) => k * 41);
      expect(viaFile.size).toBe(1571);
      expect(viaFile.batch(rows)).toEqual(viaAlias.batch(rows));
      const taobao = await avg.source({
        split: 'train',
        seed: 1,
        data: { dataset: 'file', config: 'datasets/taobao-sample.json' },
        model: arch,
        where: 'c.json',
      });
      expect(taobao.size).toBe(756);
      await expect(avg.buildTrain(arch, 'c.json', { dataset: 'file', config: 'datasets/none.json' })).rejects.toThrow(
        /datasets\/none\.json: cannot read the dataset config: ENOENT/,
      );
    },
  );

  it('names bad model and data keys', async () => {
    const din = getTrainModel('din');
    await expect(din.buildTrain({ ...arch, sequences: ['lifelong'] }, 'c.json', small)).rejects.toThrow(
      new ConfigError([
        'c.json: config.model.sequences: expected a non-empty array of distinct values from "target", "source", got ["lifelong"] (an ' +
          'array)',
      ]),
    );
    await expect(din.buildTrain(arch, 'c.json', { dataset: 'taobao' })).rejects.toThrow(
      new ConfigError(['c.json: config.data.dataset: expected one of "synthetic", "ml-100k", "file", got "taobao" (a string)']),
    );
    await expect(din.buildTrain(arch, 'c.json', { dataset: 'ml-100k', dir: 'elsewhere/ml-100k' })).rejects.toThrow(
      new ConfigError([
        'c.json: config.data.dir: expected "../shared/data/ml-100k" (ml-100k reads the files datasets/ml-100k.json names; for other ' +
          'files write a dataset config and use "dataset": "file"), got "elsewhere/ml-100k"',
      ]),
    );
  });
});
