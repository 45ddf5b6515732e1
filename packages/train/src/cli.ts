#!/usr/bin/env tsx
/**
 * `nx run train:train -- --model NAME --config FILE [--resume] [--out DIR] [--backend wasm|cpu]`
 * (or `npx tsx packages/train/src/cli.ts ...`). Exit codes: 0 done (or stopped by
 * SIGINT/SIGTERM after a checkpoint), 1 a training or checkpoint error, 2 bad usage or config.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initTfjs } from '@lctr/backend-tfjs';
import { CheckpointError } from './checkpoint.ts';
import { ConfigError, parseJsonText, parseTrainConfig } from './config.ts';
import { getTrainModel, trainModelNames } from './models.ts';
import './baselines.ts'; // registers avgpool and din
import './lifelong.ts'; // registers lcn, sim-soft, sim-hard, twin
import './requests.ts'; // registers ifa, ifa-avgpool, ifa-full-attention, ifa-sim-soft, ifa-sim-hard, ifa-twin
import './keep.ts'; // registers keep, keep-two-tower, keep-degenerate, keep-din, keep-din-base
import { progressPrinter } from './progress.ts';
import { TrainError, train } from './trainer.ts';

const USAGE = `usage: nx run train:train -- --model NAME --config FILE [--resume] [--out DIR] [--backend wasm|cpu|tensorflow|tensorflow-gpu] [--stop-at STEP]
  --model     one of: ${trainModelNames().join(', ')}
  --config    training config (JSON): optimizer, batchSize, epochs|steps, evalEvery, seed, checkpointEvery, keep, logEvery, evalBatchSize, model, data
  --out       output directory (default out/train/<model>): metrics.jsonl, checkpoints/
  --resume    continue from <out>/checkpoints/latest, bit for bit
  --stop-at   stop after this step (with a checkpoint)`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: 'string' },
        config: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'boolean', default: false },
        backend: { type: 'string' },
        'stop-at': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`train: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model || !values.config) {
    console.error(`train: ${!values.model ? '--model' : '--config'} is required\n${USAGE}`);
    return 2;
  }
  let stopAt: number | undefined;
  if (values['stop-at'] !== undefined) {
    stopAt = Number(values['stop-at']);
    if (!Number.isInteger(stopAt) || stopAt < 0) {
      console.error(`train: --stop-at must be a non-negative integer, got '${values['stop-at']}'`);
      return 2;
    }
  }
  const where = values.config;
  let prepared;
  try {
    const entry = getTrainModel(values.model);
    let text: string;
    try {
      text = readFileSync(where, 'utf8');
    } catch (e) {
      throw new ConfigError([`${where}: cannot read the config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
    }
    const config = parseTrainConfig(parseJsonText(text, where), where);
    const graph = await entry.buildTrain(config.model, where, config.data);
    const trainSrc = await entry.source({ split: 'train', seed: config.seed, data: config.data, model: config.model, where });
    const evalSrc = await entry.source({ split: 'eval', seed: config.seed, data: config.data, model: config.model, where });
    prepared = { config, graph, trainSrc, evalSrc };
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message.split('\n').map((l) => `train: ${l}`).join('\n'));
      return 2;
    }
    throw e;
  }

  tf.env().set('PROD', true);
  const out = values.out ?? `out/train/${values.model}`;
  const printer = progressPrinter(process.stderr);
  try {
    await initTfjs({ ...(values.backend ? { backend: values.backend, requestedFrom: '--backend' } : {}), log: (l) => printer.log(l) });
  } catch (e) {
    console.error(`train: ${(e as Error).message}`);
    return 2;
  }
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    if (abort.signal.aborted) process.exit(130);
    printer.log(`${sig}: stopping after the current step (a checkpoint is written); send it again to quit at once`);
    abort.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const { config, graph, trainSrc, evalSrc } = prepared;
  try {
    const t0 = performance.now();
    const res = await train({
      graph, train: trainSrc, eval: evalSrc, config, outDir: out, resume: values.resume,
      ...(stopAt !== undefined ? { stopAt } : {}),
      signal: abort.signal, log: (l) => printer.log(l), onProgress: (p) => printer.update(p),
    });
    printer.done();
    const last = res.evals[res.evals.length - 1];
    const secs = (performance.now() - t0) / 1000;
    const rate = Number.isFinite(res.samplesPerSec) ? `, ${Math.round(res.samplesPerSec).toLocaleString('en-US')} samples/s` : '';
    console.log(`${res.finished ? 'done' : 'stopped'}: step ${res.step}/${res.totalSteps} in ${secs.toFixed(1)} s${rate}` +
      (last ? `; eval auc ${last.auc.toFixed(4)} gauc ${last.gauc.toFixed(4)} logloss ${last.logloss.toFixed(4)}` : '') +
      (res.checkpoint ? `; checkpoint ${res.checkpoint}` : '') + (res.finished ? '' : ` (continue with --resume)`));
    return 0;
  } catch (e) {
    printer.done();
    if (e instanceof TrainError || e instanceof CheckpointError || e instanceof ConfigError) {
      console.error(`train: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main();
