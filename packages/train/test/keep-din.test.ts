/**
 * The downstream KEEP models ('keep-din' with knowledge from trained extractor checkpoints,
 * 'keep-din-base' with and without Sample Merging) and the knowledge-table export.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepClickSequences, keepSplit } from '@lctr/data';
import {
  type HostTensor,
  buildKeepItemTable,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  decodeSafetensors,
  weightsFor,
} from '@lctr/spec';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import {
  ConfigError,
  getTrainModel,
  keepDataConfig,
  keepKnowledgeTables,
  keepWorldOf,
  loadKeepCheckpoint,
  parseTrainConfig,
  train,
  writeKnowledgeTables,
} from '../src/index.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-keep-din-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const data = { preset: 'small', world: { seed: 3 } };
const ext = { userDim: 4, featureDim: 4, seqLen: 8, attention: [4], tower: [16, 8, 2] };
const tt = { userDim: 4, featureDim: 4, seqLen: 8, userTower: [16, 8], itemTower: [16, 8] };
const din = { dim: 4, categoryDim: 2, seqLen: 4, hidden: [16, 8], attention: [4], knowledge: { hidden: 8 } };
const base = { dim: 4, categoryDim: 2, seqLen: 4, hidden: [16, 8], attention: [4] };
const world = keepWorldOf(keepDataConfig(data, 'k.json'), 'k.json');
const req = (split: 'train' | 'eval', model: Record<string, unknown>, d: Record<string, unknown>) => ({
  split,
  seed: 1,
  data: d,
  model,
  where: 'k.json',
});

async function run(name: string, model: Record<string, unknown>, d: Record<string, unknown>, out: string, steps: number) {
  const m = getTrainModel(name);
  const config = parseTrainConfig(
    { optimizer: { name: 'adam', lr: 0.02 }, batchSize: 64, steps, logEvery: 1, seed: 1, model, data: d },
    'k.json',
  );
  const graph = await m.buildTrain(config.model, 'k.json', config.data);
  const src = await m.source(req('train', model, d));
  const res = await train({ graph, train: src, config, outDir: join(root, out) });
  return { graph, src, res };
}

/** The loss on a fixed batch of the training source: initial weights vs trained ones. */
function lossDrop(r: Awaited<ReturnType<typeof run>>): [number, number] {
  const model = compileTfjs(r.graph, { seed: 1 });
  const fixed = r.src.batch(Int32Array.from({ length: 512 }, (_, i) => (i * 7) % r.src.size));
  const before = Number(model.run(fixed).loss!.data[0]);
  model.setWeights(r.res.weights);
  const after = Number(model.run(fixed).loss!.data[0]);
  model.dispose();
  return [before, after];
}

const rows = (t: HostTensor, width: number, r: number) => Array.from(t.data as ArrayLike<number>).slice(r * width, (r + 1) * width);

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  // tiny extractors (a few steps: the knowledge only has to be a function of their weights)
  await run('keep', ext, data, 'keep', 3);
  await run('keep-two-tower', tt, data, 'two-tower', 3);
  await run('keep-degenerate', ext, data, 'degenerate', 3);
});

describe('keep-din-base', () => {
  it(
    'is DIN on the sub-domain (no knowledge input); merge adds the super-domain training samples; a short run lowers the ' + 'loss',
    async () => {
      const m = getTrainModel('keep-din-base');
      const g = await m.buildTrain(base, 'k.json', data);
      expect(g.inputs.map((i) => i.name).sort()).toEqual([
        'candidate',
        'candidateCategory',
        'label',
        'targetSeq',
        'targetSeqCategory',
        'targetSeqMask',
      ]);
      expect((await m.source(req('train', base, data))).size).toBe(keepSplit(world, 'sub', 'train').length);
      expect((await m.source(req('eval', base, data))).size).toBe(keepSplit(world, 'sub', 'eval').length);
      const merged = await m.source(req('train', base, { ...data, merge: true }));
      expect(merged.size).toBe(keepSplit(world, 'sub', 'train').length + keepSplit(world, 'super', 'train').length);
      expect((await m.source(req('eval', base, { ...data, merge: true }))).size).toBe(keepSplit(world, 'sub', 'eval').length);
      const [before, after] = lossDrop(await run('keep-din-base', base, data, 'base', 16));
      expect(after).toBeLessThan(before - 0.02);
    },
  );
});

describe('keep-din', () => {
  const keepData = (extra: Record<string, unknown> = {}) => ({
    ...data,
    knowledge: { checkpoint: join(root, 'keep'), kind: 'keep', ...extra },
  });
  const servedData = (extra: Record<string, unknown> = {}) => ({
    ...data,
    knowledge: { checkpoint: join(root, 'two-tower'), kind: 'served', userCategoryCheckpoint: join(root, 'degenerate'), ...extra },
  });

  it(
    "kind 'keep': K(u, i) of the extractor as the knowledge input (K_u = the checkpoint's user embedding rows, K_i = item ‖ shop ‖ " +
      'category)',
    async () => {
      const m = getTrainModel('keep-din');
      const g = await m.buildTrain(din, 'k.json', keepData());
      const k = g.inputs.find((i) => i.name === 'knowledge')!;
      expect(k.shape).toEqual(['batch', 4 + 12 + 3 * 8]);
      expect(g.params.map((p) => p.name)).toContain('plugin/l1/w');
      const ck = loadKeepCheckpoint(join(root, 'keep'), 'x', 'k.json');
      const emb = (name: string, id: number, d: number) => Array.from(ck.weights.get(`emb/${name}`)!.data.subarray(id * d, (id + 1) * d));
      const events = keepSplit(world, 'sub', 'eval');
      const pos = Int32Array.from([0, 11, events.length - 1]);
      const full = (await m.source(req('eval', din, keepData()))).batch(pos) as Record<string, HostTensor>;
      const user = (await m.source(req('eval', din, keepData({ parts: ['user'] })))).batch(pos) as Record<string, HostTensor>;
      const item = (await m.source(req('eval', din, keepData({ parts: ['item'] })))).batch(pos) as Record<string, HostTensor>;
      expect(full['knowledge']!.shape).toEqual([3, 40]);
      expect(user['knowledge']!.shape).toEqual([3, 4]);
      pos.forEach((p, r) => {
        const ev = events[p]!,
          u = world.events.user[ev]!,
          it = world.events.item[ev]!;
        const wantUser = emb('user', u, 4),
          wantItem = [...emb('item', it, 4), ...emb('shop', world.itemShop[it]!, 4), ...emb('category', world.itemCategory[it]!, 4)];
        expect(rows(user['knowledge']!, 4, r)).toEqual(wantUser);
        expect(rows(item['knowledge']!, 12, r)).toEqual(wantItem);
        expect(rows(full['knowledge']!, 40, r).slice(0, 16)).toEqual([...wantUser, ...wantItem]);
        // the task knowledge is a ReLU output
        expect(
          rows(full['knowledge']!, 40, r)
            .slice(16)
            .every((x) => x >= 0),
        ).toBe(true);
      });
      const [before, after] = lossDrop(await run('keep-din', din, keepData(), 'din-keep', 16));
      expect(after).toBeLessThan(before - 0.02);
    },
  );

  it("kind 'served': [K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc] from a two-tower and a degenerate checkpoint", async () => {
    const m = getTrainModel('keep-din');
    const g = await m.buildTrain(din, 'k.json', servedData());
    expect(g.inputs.find((i) => i.name === 'knowledge')!.shape).toEqual(['batch', 3 * 8 + 8]);
    const src = await m.source(req('train', din, servedData()));
    const pos = Int32Array.from([3, 40, 41]);
    const b = src.batch(pos) as Record<string, HostTensor>;
    for (let r = 0; r < 3; r++) {
      const row = rows(b['knowledge']!, 32, r);
      for (let j = 0; j < 8; j++) expect(row[16 + j]).toBeCloseTo(row[j]! * row[8 + j]!, 6);
    }
    const ab = (await m.source(req('train', din, servedData({ parts: ['user', 'userCategory'] })))).batch(pos) as Record<
      string,
      HostTensor
    >;
    expect(ab['knowledge']!.shape).toEqual([3, 16]);
    for (let r = 0; r < 3; r++)
      expect(rows(ab['knowledge']!, 16, r)).toEqual([
        ...rows(b['knowledge']!, 32, r).slice(0, 8),
        ...rows(b['knowledge']!, 32, r).slice(24),
      ]);
  });

  it('names what is wrong with config.data.knowledge and config.model.knowledge', async () => {
    const m = getTrainModel('keep-din');
    await expect(m.buildTrain(din, 'k.json', data)).rejects.toThrow(
      new ConfigError([
        'k.json: config.data.knowledge: missing (expected an object { checkpoint, kind }: keep-din reads its knowledge from a trained ' +
          'extractor)',
      ]),
    );
    await expect(m.buildTrain(din, 'k.json', { ...data, knowledge: { kind: 'keep' } })).rejects.toThrow(
      new ConfigError([
        'k.json: config.data.knowledge.checkpoint: missing (expected a string: a checkpoint directory or a training output directory of ' +
          "'keep')",
      ]),
    );
    await expect(m.buildTrain(din, 'k.json', servedData({ userCategoryCheckpoint: undefined }))).rejects.toThrow(ConfigError);
    const nowhere = join(root, 'nowhere');
    await expect(m.buildTrain(din, 'k.json', keepData({ checkpoint: nowhere }))).rejects.toThrow(
      new ConfigError([
        `k.json: config.data.knowledge.checkpoint: no checkpoint at ${JSON.stringify(nowhere)} (expected a checkpoint directory or a ` +
          `training output directory with checkpoints/latest)`,
      ]),
    );
    await expect(m.buildTrain(din, 'k.json', keepData({ checkpoint: join(root, 'two-tower') }))).rejects.toThrow(
      /config\.data\.knowledge\.checkpoint: .* holds a 'keep-two-tower' model, expected a 'keep' checkpoint/,
    );
    await expect(m.buildTrain(din, 'k.json', servedData({ userCategoryCheckpoint: join(root, 'keep') }))).rejects.toThrow(
      /config\.data\.knowledge\.userCategoryCheckpoint: .* holds a 'keep' model, expected a 'keep-degenerate' checkpoint/,
    );
    await expect(m.buildTrain(din, 'k.json', { ...keepData(), world: { seed: 3, users: 100 } })).rejects.toThrow(
      /config\.data\.knowledge\.checkpoint: .* was trained on other vocabularies \(users 120, this world 100\): train the extractor on the same world/,
    );
    await expect(m.buildTrain(din, 'k.json', keepData({ parts: ['user', 'userItem'] }))).rejects.toThrow(
      new ConfigError([
        'k.json: config.data.knowledge.parts: expected a non-empty array of distinct values from "user", "item", "click", "conv", "cart", ' +
          'got ["user","userItem"] (an array)',
      ]),
    );
    await expect(m.buildTrain({ ...din, knowledge: { dim: 40 } }, 'k.json', keepData())).rejects.toThrow(
      new ConfigError(['k.json: config.model.knowledge.dim: unknown key (expected one of layer, hidden)']),
    );
    await expect(getTrainModel('keep-din-base').buildTrain(din, 'k.json', data)).rejects.toThrow(
      new ConfigError([
        'k.json: config.model.knowledge: unknown key (expected one of dim, categoryDim, seqLen, sourceSeqLen, sequences, hidden, l2, ' +
          'attention)',
      ]),
    );
  });
});

describe('knowledge tables', () => {
  it('holds K̂_u, K̂_i, K̂_uc of every user, item and (user, category) seen, equal to the table graphs on the same inputs', async () => {
    const two = loadKeepCheckpoint(join(root, 'two-tower'), 'x', 'k.json'),
      deg = loadKeepCheckpoint(join(root, 'degenerate'), 'x', 'k.json');
    const tables = keepKnowledgeTables(world, two, deg);
    const path = join(root, 'tables.safetensors');
    writeKnowledgeTables(path, tables, { world: JSON.stringify(world.config) });
    const f = decodeSafetensors(readFileSync(path), path);
    expect(f.metadata['format']).toBe('lctr-keep-knowledge');
    const t = (n: string) => f.tensors.get(n)!;
    const e = world.events;
    const users = new Set<number>(),
      items = new Set<number>(),
      pairs = new Set<string>();
    for (let i = 0; i < world.size; i++) {
      users.add(e.user[i]!);
      items.add(e.item[i]!);
      pairs.add(`${e.user[i]},${world.itemCategory[e.item[i]!]}`);
    }
    expect(t('user.keys').dtype).toBe('int32');
    expect(t('user.keys').shape).toEqual([users.size]);
    expect(t('user.values').shape).toEqual([users.size, 8]);
    expect(t('item.keys').shape).toEqual([items.size]);
    expect(t('item.values').shape).toEqual([items.size, 8]);
    expect(t('userCategory.keys').shape).toEqual([pairs.size, 2]);
    expect(t('userCategory.values').shape).toEqual([pairs.size, 8]);
    expect(new Set(Array.from(t('item.keys').data as Int32Array))).toEqual(items);
    const uck = Array.from(t('userCategory.keys').data as Int32Array);
    expect(new Set(Array.from({ length: pairs.size }, (_, r) => `${uck[2 * r]},${uck[2 * r + 1]}`))).toEqual(pairs);

    // a few rows against the table graphs run here on hand-built inputs
    const i32 = (a: number[]): HostTensor => ({ dtype: 'int32', shape: [a.length], data: Int32Array.from(a) });
    const seq = (u: number[]) => {
      const s = keepClickSequences(
        world,
        'super',
        Int32Array.from(u),
        u.map(() => Infinity),
        8,
      );
      return {
        behaviourItem: { dtype: 'int32', shape: [u.length, 8], data: s.item },
        behaviourShop: { dtype: 'int32', shape: [u.length, 8], data: s.shop },
        behaviourCategory: { dtype: 'int32', shape: [u.length, 8], data: s.category },
        behaviourMask: { dtype: 'bool', shape: [u.length, 8], data: s.mask },
      } as Record<string, HostTensor>;
    };
    const ttCfg = two.graph.meta['config'] as never,
      degCfg = deg.graph.meta['config'] as never;
    const ug = buildKeepUserTable(ttCfg),
      ig = buildKeepItemTable(ttCfg),
      cg = buildKeepUserCategoryTable(degCfg);
    const at = [0, 5, users.size - 1];
    const uKeys = at.map((r) => t('user.keys').data[r] as number);
    const um = compileTfjs(ug, { weights: weightsFor(ug, two.weights) });
    const uOut = um.run({ user: i32(uKeys), ...seq(uKeys) } as never)['userKnowledge']!;
    um.dispose();
    const iKeys = at.map((r) => t('item.keys').data[r] as number);
    const im = compileTfjs(ig, { weights: weightsFor(ig, two.weights) });
    const iOut = im.run({
      item: i32(iKeys),
      shop: i32(iKeys.map((x) => world.itemShop[x]!)),
      category: i32(iKeys.map((x) => world.itemCategory[x]!)),
    } as never)['itemKnowledge']!;
    im.dispose();
    const cAt = [0, 7, pairs.size - 1];
    const cu = cAt.map((r) => uck[2 * r]!),
      cc = cAt.map((r) => uck[2 * r + 1]!);
    const cm = compileTfjs(cg, { weights: weightsFor(cg, deg.weights) });
    const s = seq(cu);
    const cOut = cm.run({
      user: i32(cu),
      category: i32(cc),
      behaviourCategory: s['behaviourCategory'],
      behaviourMask: s['behaviourMask'],
    } as never)['userCategoryKnowledge']!;
    cm.dispose();
    at.forEach((r, j) => {
      expect(rows(t('user.values'), 8, r)).toEqual(rows(uOut, 8, j));
      expect(rows(t('item.values'), 8, r)).toEqual(rows(iOut, 8, j));
    });
    cAt.forEach((r, j) => expect(rows(t('userCategory.values'), 8, r)).toEqual(rows(cOut, 8, j)));
    // users differ, so do their rows
    expect(rows(t('user.values'), 8, 0)).not.toEqual(rows(t('user.values'), 8, 1));
  });
});
