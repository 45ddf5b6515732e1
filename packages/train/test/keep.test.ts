/**
 * The KEEP extractors as trainer models ('keep', 'keep-degenerate', 'keep-two-tower'): graphs, sources, a short run each, config errors.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeepSource, keepSplit } from '@lctr/data';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { ConfigError, getTrainModel, keepDataConfig, keepWorldOf, parseTrainConfig, train } from '../src/index.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-keep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
});

const data = { preset: 'small', world: { seed: 3 } };
const ext = { userDim: 4, featureDim: 4, seqLen: 8, attention: [4], tower: [16, 8, 2] };
const tt = { userDim: 4, featureDim: 4, seqLen: 8, userTower: [16, 8], itemTower: [16, 8] };
const arch: Record<string, Record<string, unknown>> = { keep: ext, 'keep-degenerate': ext, 'keep-two-tower': tt };
const req = (split: 'train' | 'eval', model: Record<string, unknown>, d: Record<string, unknown> = data) => ({
  split,
  seed: 1,
  data: d,
  model,
  where: 'k.json',
});

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; loss: number })
    .filter((r) => r.kind === 'train')
    .map((r) => r.loss);
}

describe('KEEP extractors as trainer models', () => {
  for (const name of ['keep', 'keep-degenerate', 'keep-two-tower']) {
    it(`${name}: builds from the world's vocabularies, its source feeds every input, splits by time`, async () => {
      const m = getTrainModel(name);
      const g = await m.buildTrain(arch[name]!, 'k.json', data);
      expect(Object.keys(g.outputs)).toContain('prob');
      expect(Object.keys(g.outputs)).toContain('loss');
      const src = await m.source(req('train', arch[name]!));
      const w = keepWorldOf(keepDataConfig(data, 'k.json'), 'k.json');
      expect(src.size).toBe(keepSplit(w, 'super', 'train').length);
      const b = src.batch(Int32Array.from([0, 7, 3])) as Record<string, { shape: readonly number[] }>;
      expect(Object.keys(b).sort()).toEqual(g.inputs.map((i) => i.name).sort());
      expect(b[name === 'keep-degenerate' ? 'behaviourCategory' : 'behaviourItem']!.shape).toEqual([3, 8]);
      expect(g.inputs.some((i) => i.name === 'item')).toBe(name !== 'keep-degenerate');
      expect(g.inputs.some((i) => i.name === 'convLabel')).toBe(name !== 'keep-two-tower');
      expect(g.params.find((p) => p.name === 'emb/user')!.shape).toEqual([w.config.users, 4]);
      // 'sub' = KEEP-C: the sub-domain's own training days; days = the last N super-domain days
      expect((await m.source(req('train', arch[name]!, { ...data, domain: 'sub' }))).size).toBe(keepSplit(w, 'sub', 'train').length);
      expect((await m.source(req('eval', arch[name]!, { ...data, domain: 'sub' }))).size).toBe(keepSplit(w, 'sub', 'eval').length);
      expect((await m.source(req('train', arch[name]!, { ...data, days: 4 }))).size).toBe(
        keepSplit(w, 'super', 'train', { days: 4 }).length,
      );
      // behaviours 'sub': the sequence holds the sub-domain's clicks (the same as a downstream DIN's targetSeq)
      const own = (await m.source(req('train', arch[name]!, { ...data, domain: 'sub', behaviours: 'sub' }))).batch(
        Int32Array.from([5, 60]),
      ) as Record<string, { data: ArrayLike<number> }>;
      const din = createKeepSource(w, keepSplit(w, 'sub', 'train'), { targetSeqCategory: { dtype: 'int32', shape: ['batch', 8] } }).batch(
        Int32Array.from([5, 60]),
      ) as Record<string, { data: ArrayLike<number> }>;
      expect(Array.from(own['behaviourCategory']!.data)).toEqual(Array.from(din['targetSeqCategory']!.data));
    });
  }

  for (const name of ['keep', 'keep-degenerate', 'keep-two-tower']) {
    it(`${name}: a short run on the small world's super-domain lowers the loss`, async () => {
      const m = getTrainModel(name);
      const config = parseTrainConfig(
        { optimizer: { name: 'adam', lr: 0.03 }, batchSize: 128, steps: 16, logEvery: 1, seed: 1, model: arch[name], data },
        'k.json',
      );
      const graph = await m.buildTrain(config.model, 'k.json', config.data);
      const src = await m.source(req('train', arch[name]!));
      const res = await train({ graph, train: src, config, outDir: join(root, name) });
      expect(res.step).toBe(16);
      const l = losses(join(root, name));
      expect(l.length).toBe(16);
      expect(l.every(Number.isFinite)).toBe(true);
      // the loss on a fixed batch of 512 training samples: initial weights vs trained ones
      const model = compileTfjs(graph, { seed: 1 });
      const fixed = src.batch(Int32Array.from({ length: 512 }, (_, i) => (i * 7) % src.size));
      const before = Number(model.run(fixed).loss!.data[0]);
      model.setWeights(res.weights);
      const after = Number(model.run(fixed).loss!.data[0]);
      model.dispose();
      expect(after).toBeLessThan(before - 0.03); // 2.60 -> 2.48 (keep), 2.61 -> 2.49 (degenerate), 0.866 -> 0.804 (two-tower)
    });
  }

  it('the keep-*.json configs parse, and those without a checkpoint build their graphs', async () => {
    const dir = join(import.meta.dirname, '../configs');
    const files = readdirSync(dir)
      .filter((f) => /^keep-.*\.json$/.test(f))
      .sort();
    expect(files).toEqual([
      'keep-c.json',
      'keep-degenerate.json',
      'keep-din-base.json',
      'keep-din-merge.json',
      'keep-din-served.json',
      'keep-din.json',
      'keep-super.json',
      'keep-tiny.json',
      'keep-two-tower.json',
    ]);
    const model: Record<string, string> = {
      'keep-c.json': 'keep',
      'keep-degenerate.json': 'keep-degenerate',
      'keep-din-base.json': 'keep-din-base',
      'keep-din-merge.json': 'keep-din-base',
      'keep-super.json': 'keep',
      'keep-tiny.json': 'keep',
      'keep-two-tower.json': 'keep-two-tower',
    };
    for (const f of files) {
      const config = parseTrainConfig(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
      if (!model[f]) continue;
      const g = await getTrainModel(model[f]!).buildTrain(config.model, f, config.data);
      expect(g.outputs).toHaveProperty('prob');
    }
  });

  it('names bad keys and values of config.model and config.data', async () => {
    const keep = getTrainModel('keep');
    await expect(keep.buildTrain({ ...ext, tower: [16, 8] }, 'k.json', data)).rejects.toThrow(
      new ConfigError([
        'k.json: config.model: keep config: tower must be at least 2 sizes ending with 2 (the 2-way output, s = z1 - z0), got [16,8]',
      ]),
    );
    await expect(keep.buildTrain({ ...ext, towers: [2] }, 'k.json', data)).rejects.toThrow(
      new ConfigError(['k.json: config.model.towers: unknown key (expected one of userDim, featureDim, seqLen, alpha, attention, tower)']),
    );
    await expect(keep.buildTrain(ext, 'k.json', { ...data, merge: true })).rejects.toThrow(
      new ConfigError(['k.json: config.data.merge: unknown key (expected one of preset, world, domain, behaviours, days)']),
    );
    await expect(keep.buildTrain(ext, 'k.json', { ...data, domain: 'ads' })).rejects.toThrow(
      new ConfigError(['k.json: config.data.domain: expected one of "super", "sub", got "ads" (a string)']),
    );
    await expect(keep.buildTrain(ext, 'k.json', { world: { users: 0 } })).rejects.toThrow(
      new ConfigError(['k.json: config.data.world: keep world: users must be an integer >= 1, got 0']),
    );
    await expect(getTrainModel('keep-two-tower').buildTrain({ ...tt, itemTower: [16, 4] }, 'k.json', data)).rejects.toThrow(
      new ConfigError([
        "k.json: config.model: keep-two-tower config: itemTower must be an array ending with the userTower's width 8 (⟨K̂_u, K̂_i⟩ and " +
          'K̂_u ⊙ K̂_i need equal widths), got [16,4]',
      ]),
    );
  });
});
