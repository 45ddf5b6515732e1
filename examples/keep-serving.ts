#!/usr/bin/env tsx
/**
 * KEEP served end to end (issue 6, item 6): trained extractors -> knowledge tables -> a General
 * Knowledge Center version -> a downstream request scored by ONNX Runtime with the knowledge it
 * fetched. On the small KEEP world, with tiny models trained here for a few steps:
 *   1. the two-tower extractor (K̂_u, K̂_i) and the degenerate one (K̂_uc) on the super-domain;
 *   2. their tables written to a file (experiments/src/keep-tables.ts does the same) and loaded into an
 *      embedded GKC store as version 'v1' (the file format of backend-tfjs's writer, read by gkc);
 *   3. DIN with the KEEP plug-in (knowledge = [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc]) on the sub-domain;
 *   4. one user's sub-domain impressions as a request: the knowledge rows come from the GKC
 *      (lookup of (user, item, category, 'v1')), the serving ONNX of the DIN scores them, and the
 *      float64 reference scores the same inputs.
 * Prints the request's scores and the checks; exits 1 when a check fails.
 *   npx tsx examples/keep-serving.ts [--keep DIR]   (--keep: leave the work folder there)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Graph, type HostTensor, buildDin, weightsFor } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { initTfjs } from '@lctr/backend-tfjs';
import {
  getTrainModel,
  keepDataConfig,
  keepKnowledgeTables,
  keepWorldOf,
  loadKeepCheckpoint,
  parseTrainConfig,
  train,
  writeKnowledgeTables,
} from '@lctr/train';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { EmbeddedStore, readKnowledgeTables } from '@lctr/gkc';

const { values } = parseArgs({ options: { keep: { type: 'string' } } });
const work = values.keep ?? mkdtempSync(join(tmpdir(), 'lctr-keep-serving-'));
const log = (l: string) => console.log(l);
let failures = 0;
const check = (ok: boolean, what: string) => {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};

try {
  await initTfjs({ backend: 'cpu', log: () => {} });
  const data = { preset: 'small', world: { seed: 3 } };
  const where = 'keep-serving';
  const world = keepWorldOf(keepDataConfig(data, where), where);
  const trainRun = async (model: string, arch: Record<string, unknown>, d: Record<string, unknown>, steps: number) => {
    const config = parseTrainConfig(
      { optimizer: { name: 'adam', lr: 0.02 }, batchSize: 64, steps, logEvery: steps, seed: 1, model: arch, data: d },
      where,
    );
    const m = getTrainModel(model);
    const graph = await m.buildTrain(config.model, where, config.data);
    const src = await m.source({ split: 'train', seed: 1, data: config.data, model: config.model, where });
    const res = await train({ graph, train: src, config, outDir: join(work, model) });
    return { graph, weights: res.weights, dir: join(work, model) };
  };

  // 1. extractors on the super-domain
  const ext = { userDim: 4, featureDim: 4, seqLen: 8, attention: [4], tower: [16, 8, 2] };
  const twoTower = await trainRun(
    'keep-two-tower',
    { userDim: 4, featureDim: 4, seqLen: 8, userTower: [16, 8], itemTower: [16, 8] },
    data,
    30,
  );
  const degenerate = await trainRun('keep-degenerate', ext, data, 30);
  log(`trained keep-two-tower and keep-degenerate (30 steps each) in ${work}`);

  // 2. tables -> file -> GKC version 'v1'
  const tables = keepKnowledgeTables(
    world,
    loadKeepCheckpoint(twoTower.dir, 'two-tower', where),
    loadKeepCheckpoint(degenerate.dir, 'degenerate', where),
  );
  const file = join(work, 'knowledge.safetensors');
  writeKnowledgeTables(file, tables, { world: JSON.stringify(world.config) });
  const store = await EmbeddedStore.open(join(work, 'gkc'));
  const put = await store.putVersion('v1', readKnowledgeTables(file).tables, { source: file });
  log(
    `GKC version v1: ${tables.user.keys.length} users, ${tables.item.keys.length} items, ${tables.userCategory.keys.length} ` +
      `user-category rows; served vector ${put.manifest.dim}-d (${put.manifest.parts.join(', ')})`,
  );

  // 3. the downstream DIN with the plug-in, knowledge = the served vector of the same extractors
  const served = { ...data, knowledge: { checkpoint: twoTower.dir, kind: 'served', userCategoryCheckpoint: degenerate.dir } };
  const dinArch = { dim: 4, categoryDim: 2, seqLen: 4, hidden: [16, 8], attention: [4], knowledge: { hidden: 8 } };
  const din = await trainRun('keep-din', dinArch, served, 40);
  const serving = buildDin(din.graph.meta['config'] as Parameters<typeof buildDin>[0]) as Graph;
  const weights = weightsFor(serving, din.weights);
  log(`trained keep-din (40 steps); serving graph '${serving.name}' reads ${serving.inputs.map((i) => i.name).join(', ')}`);

  // 4. one user's sub-domain impressions as a request; knowledge fetched from the GKC
  const m = getTrainModel('keep-din');
  const evalSrc = await m.source({ split: 'eval', seed: 1, data: served, model: dinArch, where });
  const byUser = new Map<number, number[]>();
  evalSrc.groups.forEach((u, i) => byUser.set(u, [...(byUser.get(u) ?? []), i]));
  const [user, rows] = [...byUser].sort((a, b) => b[1].length - a[1].length)[0]!;
  const batch = evalSrc.batch(Int32Array.from(rows)) as Record<string, HostTensor>;
  const items = batch['candidate']!.data as Int32Array,
    categories = batch['candidateCategory']!.data as Int32Array;
  const knowledge = await store.lookup({ users: new Int32Array(rows.length).fill(user), items, categories, version: 'v1' });
  const dim = put.manifest.dim;
  // the GKC row is the tables' rows assembled as in Eq. 6
  const row = (t: { values: Float32Array; dim: number }, r: number) =>
    r < 0 ? new Array<number>(t.dim).fill(0) : Array.from(t.values.subarray(r * t.dim, (r + 1) * t.dim));
  const find = (keys: Int32Array, arity: number, ...key: number[]) => {
    for (let r = 0; r < keys.length / arity; r++) if (key.every((k, j) => keys[r * arity + j] === k)) return r;
    return -1;
  };
  let assembledOk = true;
  for (let r = 0; r < rows.length; r++) {
    const ku = row(tables.user, find(tables.user.keys, 1, user));
    const ki = row(tables.item, find(tables.item.keys, 1, items[r]!));
    const kuc = row(tables.userCategory, find(tables.userCategory.keys, 2, user, categories[r]!));
    const want = [...ku, ...ki, ...ku.map((x, j) => Math.fround(x * ki[j]!)), ...kuc];
    const got = Array.from(knowledge.subarray(r * dim, (r + 1) * dim));
    if (want.some((x, j) => Math.abs(x - got[j]!) > 1e-6)) assembledOk = false;
  }
  check(assembledOk, `GKC rows for user ${user} x ${rows.length} candidates = [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc] of the exported tables`);
  check(
    store.metrics().misses.user + store.metrics().misses.item + store.metrics().misses.userCategory === 0,
    'no unknown keys in the request',
  );

  const feeds: Record<string, HostTensor> = {};
  for (const i of serving.inputs)
    feeds[i.name] = i.name === 'knowledge' ? { dtype: 'float32', shape: [rows.length, dim], data: knowledge } : batch[i.name]!;
  const session = await OnnxSession.create(exportOnnx(serving, weights), serving, { provider: 'cpu' });
  const onnx = ((await session.run(feeds as never)) as Record<string, HostTensor>)['prob']!.data as Float32Array;
  await session.release();
  const ref = runRef(serving, weights, feeds as never)['prob' as never] as { data: ArrayLike<number> };
  const maxAbs = Math.max(...Array.from(onnx, (p, i) => Math.abs(p - Number(ref.data[i]))));
  check(maxAbs <= 1e-5, `ONNX Runtime vs ref-cpu on the request: max |Δprob| ${maxAbs.toExponential(1)} (bar 1e-5)`);
  log(`\nrequest: user ${user}, ${rows.length} candidates (item / category -> score, clicked)`);
  for (let r = 0; r < rows.length; r++)
    log(
      `  ${String(items[r]).padStart(5)} / ${String(categories[r]).padStart(3)} -> ${onnx[r]!.toFixed(4)}  ` +
        `${evalSrc.labels[rows[r]!] ? 'clicked' : ''}`,
    );
  await store.close();
} finally {
  if (values.keep === undefined) rmSync(work, { recursive: true, force: true });
}
process.exitCode = failures ? 1 : 0;
