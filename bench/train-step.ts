#!/usr/bin/env tsx
/**
 * Side-by-side timing of one training step (forward + gradients through gather + Adam) of the demo
 * model on tfjs cpu and wasm, and of its serving forward pass on tfjs and ONNX Runtime, in one run.
 *   npx tsx bench/train-step.ts [--batch 256] [--seq 200] [--steps 10]
 */
import { scriptArgs } from '@lctr/spec/cli';
import * as tf from '@tensorflow/tfjs-core';
import { buildDemo, buildDemoTrain, initWeights } from '@lctr/spec';
import { gen, randomFeeds } from '@lctr/spec/testing';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { runRef } from '@lctr/ref-cpu';

const { values } = scriptArgs(import.meta.filename, {
  options: { batch: { type: 'string', default: '256' }, seq: { type: 'string', default: '200' }, steps: { type: 'string', default: '10' } },
});
const batch = Number(values.batch),
  seq = Number(values.seq),
  steps = Number(values.steps);
const cfg = { items: 20000, users: 2000, dim: 32, topK: 16, hidden: [64, 32] };
const gens = {
  user: gen.ints(cfg.users),
  history: gen.ints(cfg.items),
  candidate: gen.ints(cfg.items),
  historyMask: gen.prefixMask(),
  label: gen.ints(2),
};
const train = buildDemoTrain(cfg),
  serve = buildDemo(cfg);
const trainInputs = randomFeeds(train, { batch, seq }, 1, gens);
const serveInputs = randomFeeds(serve, { batch, seq }, 1, gens);
const weights = initWeights(train, 7);

function time(n: number, f: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  return (performance.now() - t0) / n;
}
async function timeAsync(n: number, f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - t0) / n;
}

const rows: string[] = [];
for (const backend of ['wasm', 'cpu'] as const) {
  await initTfjs({ backend, log: () => {} });
  const model = compileTfjs(train);
  model.setWeights(weights);
  const opt = tf.train.adam(1e-3);
  for (let i = 0; i < 2; i++) model.trainStep(trainInputs, 'loss', opt);
  const ms = time(steps, () => model.trainStep(trainInputs, 'loss', opt));
  rows.push(`| tfjs ${backend} | train step (fwd + grad + Adam) | ${ms.toFixed(1)} | ${((batch / ms) * 1000).toFixed(0)} |`);
  const sm = compileTfjs(serve);
  sm.setWeights(weights);
  sm.run(serveInputs);
  const fms = time(steps, () => sm.run(serveInputs));
  rows.push(`| tfjs ${backend} | serving forward | ${fms.toFixed(1)} | ${((batch / fms) * 1000).toFixed(0)} |`);
  model.dispose();
  sm.dispose();
  opt.dispose();
}
const serveWeights = new Map([...weights].filter(([k]) => serve.params.some((p) => p.name === k)));
const session = await OnnxSession.create(exportOnnx(serve, serveWeights), serve, { provider: 'cpu' });
await session.run(serveInputs);
const oms = await timeAsync(steps, () => session.run(serveInputs));
rows.push(`| ONNX Runtime cpu | serving forward | ${oms.toFixed(1)} | ${((batch / oms) * 1000).toFixed(0)} |`);
await session.release();
const rms = time(1, () => runRef(serve, serveWeights, serveInputs));
rows.push(`| ref-cpu (float64) | serving forward | ${rms.toFixed(1)} | ${((batch / rms) * 1000).toFixed(0)} |`);

console.log(
  `demo model: batch ${batch}, seq ${seq}, items ${cfg.items}, dim ${cfg.dim}, top-k ${cfg.topK}; mean of ${steps} runs after warm-up`,
);
console.log('| backend | what | ms | samples/s |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
