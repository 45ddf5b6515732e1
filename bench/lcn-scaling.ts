#!/usr/bin/env tsx
/**
 * LCN's cost as the lifelong length N and the candidate count C grow (issue 8, item 4):
 *   - serving: one request of the per-request serving graph (LCN-200-50, d = 64) on ONNX Runtime
 *     CPU, N in --ns at C = --c-fixed and C in --cs at N = --n-fixed;
 *   - training: one training step (forward, gradients, Adam) of the training graph on tfjs wasm at
 *     batch --batch, N in --train-ns (K1 and K2 capped at N).
 * Feeds are seeded with full-length sequences. Each point: 2 warm-up runs, then the median of runs
 * until about --budget seconds have passed (at least 3). Reports a markdown table, the least-squares
 * slope of log time vs log N (and vs log C), a JSON file and a log-log SVG chart (loglog.ts) under --out.
 *
 *   npx tsx bench/lcn-scaling.ts [--ns 500,1000,2000,4000] [--cs 50,100,200,500,1000] [--c-fixed 100]
 *     [--n-fixed 2000] [--train-ns 250,500,1000] [--batch 64] [--budget 1.5] [--out out/bench/lcn-scaling]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type LifelongConfig,
  LIFELONG_DEFAULTS,
  buildLifelong,
  buildLifelongTrain,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import { lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { Adam, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { logLogChart, logLogSlope } from './loglog.ts';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    ns: { type: 'string', default: '500,1000,2000,4000' },
    cs: { type: 'string', default: '50,100,200,500,1000' },
    'c-fixed': { type: 'string', default: '100' },
    'n-fixed': { type: 'string', default: '2000' },
    'train-ns': { type: 'string', default: '250,500,1000' },
    batch: { type: 'string', default: '64' },
    budget: { type: 'string', default: '1.5' },
    out: { type: 'string', default: 'out/bench/lcn-scaling' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const ns = list(values.ns!),
  cs = list(values.cs!),
  trainNs = list(values['train-ns']!);
const cFixed = Number(values['c-fixed']),
  nFixed = Number(values['n-fixed']),
  batch = Number(values.batch),
  budget = Number(values.budget);
const out = resolve(import.meta.dirname, '..', values.out!);

const cfgFor = (n: number): Partial<LifelongConfig> => ({
  ...LIFELONG_DEFAULTS,
  module: 'lap',
  dim: 64,
  lifelongLen: n,
  users: 1000,
  targetItems: 2000,
  sourceItems: 20000,
  categories: 32,
  lap: { ...LIFELONG_DEFAULTS.lap, k1: Math.min(200, n), k2: Math.min(50, n) },
  crp: { ...LIFELONG_DEFAULTS.crp, negatives: 64 },
});
const full = () => (_r: unknown, s: readonly number[]) => new Uint8Array(s.reduce((p, d) => p * d, 1)).fill(1);
const gens = (n: number) => ({ ...lifelongGens(cfgFor(n)), lifelongMask: full(), targetSeqMask: full(), sourceSeqMask: full() });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function timeIt(run: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  const ms: number[] = [];
  const t0 = performance.now();
  while (ms.length < 3 || (performance.now() - t0) / 1000 < budget) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
    if (ms.length >= 200) break;
  }
  return median(ms);
}

async function serveMs(n: number, c: number): Promise<number> {
  const g = buildLifelong(cfgFor(n)) as Graph<FeatureSchema, string>;
  const w = initWeights(g, 1);
  const feeds = randomFeeds(g, { cand: c }, 3, gens(n)) as Record<string, HostTensor>;
  const s = await OnnxSession.create(exportOnnx(g, w), g, { provider: 'cpu' });
  try {
    return await timeIt(() => s.run(feeds as never));
  } finally {
    await s.release();
  }
}

async function trainMs(n: number): Promise<number> {
  const g = buildLifelongTrain(cfgFor(n)) as Graph<FeatureSchema, string>;
  const feeds = randomFeeds(g, { batch }, 3, gens(n)) as Record<string, HostTensor>;
  const model = compileTfjs(g);
  model.setWeights(weightsFor(g, initWeights(g, 1)));
  const opt = new Adam(model.variables, { name: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  try {
    return await timeIt(() => model.trainStep(feeds as never, 'loss', opt));
  } finally {
    model.dispose();
  }
}

await initTfjs({ backend: 'wasm', log: () => {} });
const serveN = [] as Array<{ x: number; y: number }>,
  serveC = [] as Array<{ x: number; y: number }>,
  train = [] as Array<{ x: number; y: number }>;
for (const n of ns) serveN.push({ x: n, y: await serveMs(n, cFixed) });
for (const c of cs) serveC.push({ x: c, y: await serveMs(nFixed, c) });
for (const n of trainNs) train.push({ x: n, y: await trainMs(n) });

const slope = (pts: Array<{ x: number; y: number }>) =>
  pts.length >= 2
    ? logLogSlope(
        pts.map((p) => p.x),
        pts.map((p) => p.y),
      )
    : undefined;
const fits = { serveN: slope(serveN), serveC: slope(serveC), train: slope(train) };
const fmt = (f: ReturnType<typeof slope>) =>
  f ? `${f.slope.toFixed(2)}${Number.isFinite(f.slopeStdErr) ? ` ± ${f.slopeStdErr.toFixed(2)}` : ''}` : '–';
const lines = [
  `LCN-200-50 (d = 64) scaling: serving one request on ONNX Runtime CPU (default threads), training one step on tfjs wasm (batch ` +
    `${batch}); median ms`,
  '| sweep | points (x: ms) | log-log slope |',
  '|---|---|---|',
  `| serving vs N (C = ${cFixed}) | ${serveN.map((p) => `${p.x}: ${p.y.toFixed(1)}`).join(', ')} | ${fmt(fits.serveN)} |`,
  `| serving vs C (N = ${nFixed}) | ${serveC.map((p) => `${p.x}: ${p.y.toFixed(1)}`).join(', ')} | ${fmt(fits.serveC)} |`,
  `| training step vs N (batch ${batch}) | ${train.map((p) => `${p.x}: ${p.y.toFixed(0)}`).join(', ')} | ${fmt(fits.train)} |`,
];
console.log(lines.join('\n'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'results.json'), JSON.stringify({ cFixed, nFixed, batch, serveN, serveC, train, fits }, null, 2) + '\n');
writeFileSync(
  join(out, 'chart.svg'),
  logLogChart({
    title: 'LCN-200-50: time vs N and C (log-log)',
    subtitle: `serving: ONNX Runtime CPU, one request; training: tfjs wasm, batch ${batch}`,
    xLabel: 'N (lifelong length) or C (candidates)',
    yLabel: 'ms',
    series: [
      { name: `serving vs N (C = ${cFixed}), slope ${fmt(fits.serveN)}`, points: serveN },
      { name: `serving vs C (N = ${nFixed}), slope ${fmt(fits.serveC)}`, points: serveC, dashed: true },
      { name: `training step vs N, slope ${fmt(fits.train)}`, points: train },
    ],
  }),
);
console.log(`wrote ${join(out, 'results.json')} and chart.svg`);
