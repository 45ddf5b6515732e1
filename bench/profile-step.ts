#!/usr/bin/env tsx
/**
 * Where one training step's time goes, per tfjs kernel, for any trainer model and config, on real
 * batches of its data (tf.profile over one step after two warm-up steps), plus the mean step time.
 *   npx tsx bench/profile-step.ts [--model din] [--config packages/train/configs/din-synthetic.json]
 *     [--backend wasm|cpu] [--world small|default] [--steps 3]
 * --world overrides config.data.world (the small world builds in a second; its histories are shorter).
 */
import { scriptArgs } from '@lctr/spec/cli';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initWeights } from '@lctr/spec';
import { Adam, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel, parseTrainConfig } from '@lctr/train';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    model: { type: 'string', default: 'din' },
    config: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    world: { type: 'string' },
    steps: { type: 'string', default: '3' },
  },
});
const root = resolve(import.meta.dirname, '..');
const path = resolve(root, values.config ?? `packages/train/configs/${values.model}-synthetic.json`);
const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const data = { ...(raw['data'] as object), ...(values.world ? { world: values.world } : {}) };
const cfg = parseTrainConfig({ ...raw, data }, path);
const m = getTrainModel(values.model!);
const g = await m.buildTrain(cfg.model, path, cfg.data);
const src = await m.source({ split: 'train', seed: cfg.seed, data: cfg.data, model: cfg.model, where: path });
const batches = [0, 1, 2, 3].map((k) =>
  src.batch(Int32Array.from({ length: cfg.batchSize }, (_, i) => (k * cfg.batchSize + i * 7919) % src.size)),
);
await initTfjs({ backend: values.backend!, log: () => {} });
const model = compileTfjs(g);
model.setWeights(initWeights(g, 1));
const opt = new Adam(model.variables, cfg.optimizer);
for (let i = 0; i < 2; i++) model.trainStep(batches[i]!, 'loss', opt);
const prof = await tf.profile(() => {
  model.trainStep(batches[2]!, 'loss', opt);
});
const byKernel = new Map<string, number>();
for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
const steps = Number(values.steps);
const t0 = performance.now();
for (let i = 0; i < steps; i++) model.trainStep(batches[i % batches.length]!, 'loss', opt);
const ms = (performance.now() - t0) / steps;
console.log(
  `${values.model} (${path.replace(`${root}/`, '')}, world ${cfg.data['world'] ?? 'small'}) on tfjs ${values.backend}: one training step ` +
    `(batch ${cfg.batchSize}) ${ms.toFixed(1)} ms, ${((1000 * cfg.batchSize) / ms).toFixed(0)} samples/s`,
);
console.log('| kernel | ms |\n|---|---|');
for (const [k, kms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`| ${k} | ${kms.toFixed(1)} |`);
