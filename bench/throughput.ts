#!/usr/bin/env tsx
/**
 * Data vs training throughput, side by side in one run (issue 3, item 7): for each trainer config,
 * the samples/s of building batches (SampleSource.batch over a shuffled order, the trainer's data
 * path) and of training steps (forward + gradients + our Adam) on tfjs wasm and cpu, on the same
 * batches. Batch building must be at least 10x the faster training rate so data never bottlenecks;
 * the process exits 1 otherwise. A last row times the widest batch the data layer builds (every
 * sample feature, lifelong length 2,000 with context), the input LCN will read.
 *   npx tsx bench/throughput.ts [--world small|default] [--batches 20] [--steps 5] [--cpu-steps 2]
 */
import { scriptArgs } from '@lctr/spec/cli';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Rng, initWeights } from '@lctr/spec';
import { createSampleSource, sampleSchema } from '@lctr/data';
import { Adam, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel, parseTrainConfig, prepareData } from '@lctr/train';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    world: { type: 'string', default: 'default' },
    batches: { type: 'string', default: '20' },
    steps: { type: 'string', default: '5' },
    'cpu-steps': { type: 'string', default: '2' },
  },
});
const world = values.world as 'small' | 'default';
const batches = Number(values.batches),
  steps = Number(values.steps),
  cpuSteps = Number(values['cpu-steps']);
const root = resolve(import.meta.dirname, '..');
const CONFIGS = ['avgpool-synthetic.json', 'din-synthetic.json', 'din-600-synthetic.json', 'lcn-synthetic.json'];

function shuffledBatches(size: number, batch: number, n: number, seed: number): Int32Array[] {
  const rng = new Rng(seed);
  const order = Int32Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return Array.from({ length: n }, (_, k) => order.subarray((k * batch) % (size - batch), ((k * batch) % (size - batch)) + batch));
}
const perSecond = (samples: number, ms: number) => (1000 * samples) / ms;
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

interface Row {
  config: string;
  build: number;
  wasm: number;
  cpu: number;
}
const rows: Row[] = [];
for (const file of CONFIGS) {
  const path = resolve(root, 'packages/train/configs', file);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const cfg = parseTrainConfig({ ...raw, data: { ...(raw['data'] as object), world } }, path);
  const model = getTrainModel(file.replace(/-synthetic\.json$/, '').replace(/-\d+$/, '')); // din-600 -> din
  const graph = await model.buildTrain(cfg.model, path, cfg.data);
  const source = await model.source({ split: 'train', seed: cfg.seed, data: cfg.data, model: cfg.model, where: path });
  const order = shuffledBatches(source.size, cfg.batchSize, batches, 1);
  source.batch(order[0]!); // warm-up
  let t0 = performance.now();
  const built = order.map((idx) => source.batch(idx));
  const build = perSecond(batches * cfg.batchSize, performance.now() - t0);
  const weights = initWeights(graph, cfg.seed);
  const rate: Record<'wasm' | 'cpu', number> = { wasm: NaN, cpu: NaN };
  for (const backend of ['wasm', 'cpu'] as const) {
    await initTfjs({ backend, log: () => {} });
    const m = compileTfjs(graph);
    m.setWeights(weights);
    const adam = new Adam(m.variables, cfg.optimizer);
    m.trainStep(built[0]!, 'loss', adam); // warm-up: kernels compiled, Adam slots made
    const n = backend === 'wasm' ? steps : cpuSteps;
    t0 = performance.now();
    for (let s = 1; s <= n; s++) m.trainStep(built[s % built.length]!, 'loss', adam);
    rate[backend] = perSecond(n * cfg.batchSize, performance.now() - t0);
    adam.dispose();
    m.dispose();
  }
  rows.push({ config: file, build, ...rate });
  console.error(`${file}: build ${fmt(build)}/s, wasm ${fmt(rate.wasm)}/s, cpu ${fmt(rate.cpu)}/s`);
}

// the widest batch: every sample feature, lifelong 2,000 with context (what LCN reads)
const { log, train } = await prepareData({
  dataset: 'synthetic',
  world,
  worldSeed: 1,
  worldUsers: 0,
  sharedCategories: true,
  dir: '',
  testFraction: 0.2,
  config: '',
});
const wide = createSampleSource(log, train, sampleSchema(log.meta, { targetLength: 50, sourceLength: 50, lifelongLength: 2000 }), {
  targetLength: 50,
  sourceLength: 50,
  lifelongLength: 2000,
});
const wideOrder = shuffledBatches(wide.size, 256, batches, 2);
wide.batch(wideOrder[0]!);
const t1 = performance.now();
for (const idx of wideOrder) wide.batch(idx);
const wideRate = perSecond(batches * 256, performance.now() - t1);

console.log(
  `world '${world}', batch size from each config, ${batches} batches built, ${steps} wasm / ${cpuSteps} cpu steps timed after one ` +
    `warm-up step`,
);
console.log('| config | batch building samples/s | train wasm samples/s | train cpu samples/s | building / fastest training |');
console.log('|---|---|---|---|---|');
let ok = true;
for (const r of rows) {
  const ratio = r.build / Math.max(r.wasm, r.cpu);
  ok &&= ratio >= 10;
  console.log(`| ${r.config} | ${fmt(r.build)} | ${fmt(r.wasm)} | ${fmt(r.cpu)} | ${ratio.toFixed(1)}x |`);
}
console.log(`| every feature, lifelong 2,000 + context (batch 256) | ${fmt(wideRate)} | | | |`);
if (!ok) {
  console.log('batch building is under 10x the training rate for some config');
  process.exitCode = 1;
}
