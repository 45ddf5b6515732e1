#!/usr/bin/env tsx
/**
 * Where one training step's time goes, per tfjs kernel: DIN (or AvgPooling) at batch 256, L = 50,
 * on the chosen tfjs backend, with tf.profile over one step after two warm-up steps.
 *   npx tsx tools/bench/profile-step.ts [--model din|avgpool] [--backend wasm|cpu]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { BASELINE_DEFAULTS, type BaselineConfig, buildAvgPoolTrain, buildDinTrain, initWeights } from '@lctr/spec';
import { type FeedGen, gen, randomFeeds } from '@lctr/spec/testing';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'din' }, backend: { type: 'string', default: 'wasm' } } });
const cfg: BaselineConfig = { ...BASELINE_DEFAULTS, dim: 16, categoryDim: 8, seqLen: 50, sequences: ['target', 'source'], users: 0, targetItems: 2000, sourceItems: 20000, categories: 64, profile: [7, 2], hidden: [64, 32] };
const g = values.model === 'din' ? buildDinTrain({ ...cfg, attention: [32, 16] }) : buildAvgPoolTrain(cfg);
const gens: Record<string, FeedGen> = { targetSeqMask: gen.prefixMask(), sourceSeqMask: gen.prefixMask(), label: gen.ints(2), profile: gen.ints(2) };
for (const i of g.inputs) if (i.dtype === 'int32' && !gens[i.name]) gens[i.name] = gen.ints(/ategory/.test(i.name) ? 64 : 2000);
const inputs = randomFeeds(g, { batch: 256 }, 1, gens);
await initTfjs({ backend: values.backend!, log: () => {} });
const model = compileTfjs(g);
model.setWeights(initWeights(g, 1));
const opt = tf.train.adam(1e-3);
for (let i = 0; i < 2; i++) model.trainStep(inputs, 'loss', opt);
const prof = await tf.profile(() => { model.trainStep(inputs, 'loss', opt); });
const byKernel = new Map<string, number>();
for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
const t0 = performance.now();
model.trainStep(inputs, 'loss', opt);
console.log(`${values.model} on tfjs ${values.backend}: one training step (batch 256, L = 50) ${(performance.now() - t0).toFixed(1)} ms`);
console.log('| kernel | ms |\n|---|---|');
for (const [k, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`| ${k} | ${ms.toFixed(1)} |`);
