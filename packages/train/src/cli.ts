/**
 * `lctr train --model NAME --config FILE [--resume] [--out DIR] [--backend wasm|cpu]` (also
 * `nx run train:train -- ...` and `npx tsx packages/train/src/cli.ts ...`). Exit codes: 0 done (or stopped by
 * SIGINT/SIGTERM after a checkpoint), 1 a training or checkpoint error, 2 bad usage or config,
 * including a config whose estimated step memory does not fit the machine (memory.ts) or whose
 * shards exceed the machine's parallelism (without --oversubscribe), 3 the storage refused a write
 * (disk full, read-only, ...): one line, temp files removed, the previous checkpoint intact
 * (spec's EXIT_CODES).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initTfjs } from '@lctr/backend-tfjs';
import { EventLogError, ReaderError } from '@lctr/data';
import { EXIT_CODES, asStorageError, displayPath } from '@lctr/spec';
import { UsageError, intFlag, isMainModule, numberFlag, runCommand } from '@lctr/spec/cli';
import { CheckpointError } from './checkpoint.ts';
import { ConfigError, parseJsonText, parseTrainConfig } from './config.ts';
import { checkTrainFits, checkWasmHeap, estimateTrainMemory, machineLimits } from './memory.ts';
import { getTrainModel, trainModelNames, trainSources } from './models.ts';
import './baselines.ts'; // registers avgpool and din
import './lifelong.ts'; // registers lcn, sim-soft, sim-hard, twin
import './requests.ts'; // registers ifa, ifa-avgpool, ifa-full-attention, ifa-sim-soft, ifa-sim-hard, ifa-twin
import './keep.ts'; // registers keep, keep-two-tower, keep-degenerate, keep-din, keep-din-base
import { progressPrinter } from './progress.ts';
import { TrainError, train } from './trainer.ts';

const USAGE = `usage: lctr train --model NAME --config FILE [--engine tfjs|torch] [--resume] [--out DIR] [--backend wasm|cpu|tensorflow|tensorflow-gpu] [--stop-at STEP] [--memory-gib N] [--oversubscribe]
  --engine    tfjs (default) or torch: PyTorch DDP on the module generated from the graph (lctr train --engine torch --help)
  --model     one of: ${trainModelNames().join(', ')}
  --config    training config (JSON): optimizer, batchSize, epochs|steps, evalEvery, seed, checkpointEvery, keep, logEvery, evalBatchSize, model, data
  --out       output directory (default out/train/<model>): metrics.jsonl, checkpoints/
  --resume    continue from <out>/checkpoints/latest, bit for bit
  --stop-at   stop after this step (with a checkpoint)
  --memory-gib     memory one training step may use (default: the machine's, os.totalmem() or the cgroup limit)
  --oversubscribe  run config.shards above os.availableParallelism() (refused otherwise)`;

export const TRAIN = {
  name: 'lctr train',
  usage: USAGE,
  options: {
    model: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string' },
    resume: { type: 'boolean' },
    backend: { type: 'string' },
    'stop-at': { type: 'string' },
    'memory-gib': { type: 'string' },
    oversubscribe: { type: 'boolean' },
  },
} as const;

/** `lctr train ...`: the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // `--engine torch`: PyTorch DDP on the module generated from the graph (src/torch.ts, its own flags)
  const at = argv.findIndex((a) => a === '--engine' || a.startsWith('--engine='));
  if (at >= 0) {
    const inline = argv[at]!.includes('=');
    const engine = inline ? argv[at]!.slice('--engine='.length) : argv[at + 1];
    const rest = argv.filter((_, i) => i !== at && (inline || i !== at + 1));
    if (engine === 'torch') return (await import('./torch.ts')).main(rest);
    if (engine !== 'tfjs') {
      console.error(`lctr train: --engine must be one of tfjs, torch, got '${engine ?? ''}'`);
      return EXIT_CODES.usage;
    }
    argv = rest;
  }
  return runCommand(TRAIN, argv, ({ values }) => {
    if (!values.model || !values.config) throw new UsageError(`${!values.model ? '--model' : '--config'} is required`);
    const stopAt = intFlag('stop-at', values['stop-at'], 0);
    const memoryGib = numberFlag('memory-gib', values['memory-gib']);
    if (memoryGib !== undefined && !(memoryGib > 0))
      throw new UsageError(`--memory-gib must be a number > 0, got '${values['memory-gib']}'`);
    return trainMain(
      {
        ...values,
        model: values.model,
        config: values.config,
        resume: values.resume ?? false,
        oversubscribe: values.oversubscribe ?? false,
      },
      stopAt,
      memoryGib,
    );
  });
}

interface TrainFlags {
  model: string;
  config: string;
  out?: string;
  resume: boolean;
  backend?: string;
  oversubscribe: boolean;
}

async function trainMain(values: TrainFlags, stopAt: number | undefined, memoryGib: number | undefined): Promise<number> {
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
    // before the sources: they allocate per batch what the estimate refuses (lifelong sequences, CRP pairs)
    const estimate = estimateTrainMemory(graph, { batchSize: config.batchSize, ...(config.shards ? { shards: config.shards } : {}) });
    for (const w of checkTrainFits(config, estimate, machineLimits(memoryGib), { where, oversubscribe: values.oversubscribe }))
      console.error(`lctr train: ${w}`);
    const sources = await trainSources(entry, values.model, config, where);
    prepared = {
      config,
      graph,
      trainSrc: sources.train,
      evalSrc: sources.eval,
      validationSrc: sources.validation,
      estimate,
      stepFeeds: entry.stepFeeds?.(config.model, where),
    };
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(
        e.message
          .split('\n')
          .map((l) => `lctr train: ${l}`)
          .join('\n'),
      );
      return 2;
    }
    // the data's files (a missing folder, a file where a folder is expected) are the config's problem, like a bad key
    if (e instanceof ReaderError || e instanceof EventLogError) {
      console.error(`lctr train: ${e.message.split('\n')[0]}`);
      return EXIT_CODES.usage;
    }
    const reader = readerError(e);
    if (reader) {
      console.error(`lctr train: ${where}: ${reader}`);
      return EXIT_CODES.usage;
    }
    throw e;
  }

  tf.env().set('PROD', true);
  const out = values.out ?? `out/train/${values.model}`;
  const printer = progressPrinter(process.stderr);
  try {
    const init = await initTfjs({
      ...(values.backend ? { backend: values.backend, requestedFrom: '--backend' } : {}),
      log: (l) => printer.log(l),
    });
    if (init.engineBackend === 'wasm') checkWasmHeap(prepared.config, prepared.estimate, where);
  } catch (e) {
    console.error((e instanceof ConfigError ? e.message.split('\n') : [(e as Error).message]).map((l) => `lctr train: ${l}`).join('\n'));
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

  const { config, graph, trainSrc, evalSrc, validationSrc, stepFeeds } = prepared;
  try {
    const t0 = performance.now();
    const res = await train({
      graph,
      train: trainSrc,
      eval: evalSrc,
      ...(validationSrc ? { validation: validationSrc } : {}),
      config,
      outDir: out,
      resume: values.resume,
      ...(stopAt !== undefined ? { stopAt } : {}),
      ...(stepFeeds ? { stepFeeds } : {}),
      signal: abort.signal,
      log: (l) => printer.log(l),
      onProgress: (p) => printer.update(p),
    });
    printer.done();
    const last = res.evals[res.evals.length - 1];
    const secs = (performance.now() - t0) / 1000;
    const rate = Number.isFinite(res.samplesPerSec) ? `, ${Math.round(res.samplesPerSec).toLocaleString('en-US')} samples/s` : '';
    console.log(
      `${res.finished ? 'done' : 'stopped'}: step ${res.step}/${res.totalSteps} in ${secs.toFixed(1)} s${rate}` +
        (last ? `; ${last.kind} auc ${last.auc.toFixed(4)} gauc ${last.gauc.toFixed(4)} logloss ${last.logloss.toFixed(4)}` : '') +
        (res.test
          ? `; test (weights of step ${res.test.bestStep}) auc ${res.test.auc.toFixed(4)} gauc ${res.test.gauc.toFixed(4)} logloss ` +
            `${res.test.logloss.toFixed(4)}`
          : '') +
        (res.checkpoint ? `; checkpoint ${displayPath(res.checkpoint)}` : '') +
        (res.finished ? '' : ` (continue with --resume)`),
    );
    return 0;
  } catch (e) {
    printer.done();
    if (e instanceof TrainError || e instanceof CheckpointError || e instanceof ConfigError) {
      console.error(`lctr train: ${e.message}`);
      return EXIT_CODES.failure;
    }
    // a checkpoint's refusal arrives as a StorageError naming it; any other write (metrics.jsonl) names the run
    const storage = asStorageError(e, 'write to', out);
    if (storage) {
      console.error(`lctr train: ${storage.message}`);
      return EXIT_CODES.storage;
    }
    throw e;
  }
}

/** A file-system error of reading the data (ENOENT, ENOTDIR, EISDIR, EACCES) as one line, or undefined for any other error. */
function readerError(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const what: Record<string, string> = {
    ENOENT: 'no such file or folder',
    ENOTDIR: 'a file where a folder is expected',
    EISDIR: 'a folder where a file is expected',
    EACCES: 'permission denied',
  };
  if (typeof code !== 'string' || !(code in what)) return undefined;
  const path = (e as NodeJS.ErrnoException).path;
  return `cannot read the data${path ? ` ${path}` : ''}: ${what[code]} (${code})`;
}

if (isMainModule(import.meta.filename)) process.exitCode = await main(process.argv.slice(2));
