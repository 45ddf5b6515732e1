#!/usr/bin/env tsx
/**
 * `nx run exporter:onnx -- [--model demo] [--out out/demo] [--seed N] [--force]`: the untrained demo model;
 * `nx run exporter:onnx -- --checkpoint RUN_OR_CHECKPOINT_DIR [--config FILE] [--model TRAINER_MODEL] [--out DIR] [--force]`:
 * a trained model. Exit codes: 0 exported with parity, 1 an export error or a parity/checker failure, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { MODELS, exportModel } from './export.ts';
import { exportCheckpoint } from './checkpoint.ts';

const USAGE = `usage: nx run exporter:onnx -- [--model ${Object.keys(MODELS).join('|')}] [--out DIR] [--seed N] [--force]
       nx run exporter:onnx -- --checkpoint DIR [--config FILE] [--model NAME] [--out DIR] [--seed N] [--force]
                                [--samples N] [--requests N] [--candidates N]
  --checkpoint  a training run directory (its checkpoints/latest) or a checkpoint directory (step-<N>)
  --config      training config (JSON); default: the config saved in the checkpoint's state.json
  --model       without --checkpoint: the model to export (default demo); with it: the trainer model
                (default: derived from the checkpoint graph: demo, avgpool, din; lifelong -> lcn, sim-soft, sim-hard, twin)
  --out         output directory (default out/<model>)
  --seed        seeds the demo weights / picks the held-out samples (default 20240801)
  --samples     batch-layout models: held-out eval samples in the parity check (default 64)
  --requests, --candidates   per-request models: requests and candidates per request (default 4 x 16)
  --force       replace an output directory that the exporter did not write`;

/** Error classes whose message is the whole story (named thing, expected, actual): printed without a stack. */
const REPORTED = /^(Export|Checkpoint|Config|Weights|Input|Graph|Safetensors)Error$/;

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
  return n;
}

async function main(): Promise<number> {
  let values;
  let seed: number, samples: number | undefined, requests: number | undefined, candidates: number | undefined;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: 'string' },
        checkpoint: { type: 'string' },
        config: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string', default: '20240801' },
        samples: { type: 'string' },
        requests: { type: 'string' },
        candidates: { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
    seed = Number(values.seed);
    if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${values.seed}'`);
    samples = positiveInt('samples', values.samples);
    requests = positiveInt('requests', values.requests);
    candidates = positiveInt('candidates', values.candidates);
    if (values.checkpoint === undefined) {
      for (const flag of ['config', 'samples', 'requests', 'candidates'] as const) {
        if (values[flag] !== undefined) throw new Error(`--${flag} needs --checkpoint`);
      }
    }
  } catch (e) {
    console.error(`exporter: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const log = (l: string) => console.log(l);
  try {
    const t0 = Date.now();
    if (values.checkpoint !== undefined) {
      const res = await exportCheckpoint({
        checkpoint: values.checkpoint, force: values.force, seed, log,
        ...(values.config !== undefined ? { config: values.config } : {}),
        ...(values.model !== undefined ? { model: values.model } : {}),
        ...(values.out !== undefined ? { out: values.out } : {}),
        ...(samples !== undefined ? { samples } : {}),
        ...(requests !== undefined ? { requests } : {}),
        ...(candidates !== undefined ? { candidates } : {}),
      });
      console.log(`wrote ${res.files.join(', ')} to ${res.dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const f of res.parity.failures) console.error(`parity failure: ${f}`);
      return res.parity.ok && res.checkerOk !== false ? 0 : 1;
    }
    const model = values.model ?? 'demo';
    const res = await exportModel({ model, out: values.out ?? `out/${model}`, seed, force: values.force, log });
    console.log(`wrote ${res.files.join(', ')} to ${res.dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (!res.parity.ok) {
      for (const f of res.parity.failures) console.error(`parity failure: ${f}`);
      return 1;
    }
    if (res.checkerOk === false) return 1;
    return 0;
  } catch (e) {
    if (e instanceof Error && REPORTED.test(e.name)) {
      console.error(`exporter: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main();
