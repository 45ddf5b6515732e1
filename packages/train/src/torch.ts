#!/usr/bin/env tsx
/**
 * The torch engine: data-parallel training of a registered model with PyTorch DDP, generated from
 * the same graph (issue 20, items 2-3).
 *
 *   npx tsx packages/train/src/torch.ts --model lcn --config packages/train/configs/lcn-default.json \
 *     [--nproc-per-node 2] [--nnodes 1 --node-rank 0 --master-addr HOST --master-port PORT] [--dtype float32|float64]
 *   (or `npx tsx packages/train/src/cli.ts --engine torch ...`)
 *
 * What it does, in order:
 * 1. the config, graph and sources exactly as the tfjs trainer (same registry, same order: step
 *    k's batch is BatchOrder(seed, size, batchSize).at(k));
 * 2. the training batches of this node's ranks as shards (@lctr/data writeShards: each rank its
 *    contiguous rows of every global batch, CRP's pairs and negatives built with their batch), the
 *    eval batches for rank 0;
 * 3. the module (backend-torch torchSource, distributed: reductions across samples are
 *    all-reduced, so every rank computes the whole batch's loss and DDP's average is the whole
 *    batch's gradient), the training script, the starting weights (initWeights(graph, seed), as the
 *    tfjs trainer) and the learning rate of every step (the trainer's schedule);
 * 4. `nproc-per-node` python processes with the env:// contract (our launcher: torchrun is broken
 *    on Debian's torch 1.13; the equivalent torchrun line is printed for real installs);
 * 5. when every rank exited 0: the checkpoint, written by the trainer's writeCheckpoint from the
 *    weights and Adam moments python wrote (one implementation of the format), metrics.jsonl and
 *    the eval metrics (the trainer's AUC, GAUC, logloss on rank 0's predictions). A failed rank
 *    stops the others and leaves no checkpoint; the work directory is removed either way.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FeatureSchema, type Graph, type HostTensor, encodeSafetensors, decodeSafetensors, initWeights } from '@lctr/spec';
import { UsageError, choiceFlag, intFlag, isMainModule, runCommand } from '@lctr/spec/cli';
import { type SampleSource, writeShards } from '@lctr/data';
import { auc, gauc, logloss } from '@lctr/metrics';
import type { AdamState } from '@lctr/backend-tfjs';
import {
  type TorchDType,
  TRAIN_SCRIPT,
  type TorchTrainManifest,
  launchRanks,
  torchSource,
  torchVersion,
  torchrunCommand,
  freePort,
} from '@lctr/backend-torch';
import { ConfigError, type TrainConfig, parseJsonText, parseTrainConfig, totalSteps } from './config.ts';
import { checkSameGraph, latestCheckpointDir, newestIntactCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { getTrainModel, trainModelNames, trainSources } from './models.ts';
import { BatchOrder } from './order.ts';
import { learningRateAt } from './schedule.ts';
import { type EvalMetrics, TrainError } from './trainer.ts';
import './baselines.ts';
import './lifelong.ts';
import './requests.ts';
import './keep.ts';

export interface TorchTrainOptions<S extends FeatureSchema = FeatureSchema> {
  /** the training graph: scalar `loss`, `prob` [batch] */
  readonly graph: Graph<S, string>;
  readonly train: SampleSource<S>;
  readonly eval?: SampleSource<S>;
  readonly config: TrainConfig;
  readonly outDir: string;
  /** processes on this node (1) */
  readonly nprocPerNode?: number;
  readonly nnodes?: number;
  readonly nodeRank?: number;
  readonly masterAddr?: string;
  readonly masterPort?: number;
  /** float32 (default, what the checkpoint holds) or float64 (the oracle's precision) */
  readonly dtype?: TorchDType;
  /** torch threads per rank (1) */
  readonly threads?: number;
  readonly python?: string;
  readonly device?: 'cpu' | 'cuda';
  /** continue from <outDir>/checkpoints/latest */
  readonly resume?: boolean;
  /** steps per shard file (64) */
  readonly chunkSteps?: number;
  readonly log?: (line: string) => void;
  /** extra environment for every rank (tests: LCTR_TORCH_FAIL_RANK) */
  readonly env?: Readonly<Record<string, string>>;
}

export interface TorchTrainResult {
  readonly step: number;
  readonly totalSteps: number;
  /** this node ran no rank 0: it trained, rank 0's node wrote the checkpoint */
  readonly finalised: boolean;
  /** the loss of every step this run did (the whole global batch's, from rank 0) */
  readonly losses: readonly number[];
  /** final weights at the module's precision (float64 data with dtype float64) */
  readonly weights: Map<string, HostTensor<'float32'>>;
  readonly checkpoint?: string;
  readonly eval?: EvalMetrics;
  /** the equivalent torchrun line */
  readonly torchrun: string;
  readonly torch: string;
  /** training samples per second over the run's wall time (python start and shard reading included) */
  readonly samplesPerSec: number;
  /** rank 0's seconds per step (forward, backward with DDP's all-reduce, Adam): the engine's own rate */
  readonly stepSeconds: readonly number[];
}

/** AUC, GAUC and logloss of predictions for every sample of `source`, as the trainer's evaluate(). */
export function evalMetricsOf(source: SampleSource, probs: Float32Array): EvalMetrics {
  let positives = 0;
  for (let i = 0; i < source.size; i++) positives += source.labels[i]!;
  const g = gauc(source.labels, probs, source.groups);
  return {
    samples: source.size,
    positives,
    auc: auc(source.labels, probs),
    gauc: g.gauc,
    gaucUsers: g.users,
    logloss: logloss(source.labels, probs),
    ...(source.trueProbability ? { bayesAuc: auc(source.labels, source.trueProbability) } : {}),
  };
}

/** Config keys the torch engine does not implement yet: refused, naming the key, rather than silently ignored. */
function checkTorchConfig(config: TrainConfig, world: number, train: SampleSource, where: string): void {
  const size = train.size;
  const problems: string[] = [];
  if (config.validation)
    problems.push(
      `${where}: config.validation: not supported by the torch engine yet (it evaluates the eval split at the end only); remove it or ` +
        `use the tfjs trainer`,
    );
  if (config.logClickLoss) problems.push(`${where}: config.logClickLoss: not supported by the torch engine yet`);
  if (train.targets)
    problems.push(`${where}: the model's source scores several slots per sample (targets), which the torch engine does not evaluate yet`);
  const last = size % config.batchSize || config.batchSize;
  const smallest = Math.min(config.batchSize, last, size);
  if (smallest < world) {
    problems.push(
      `${where}: config.batchSize: every step's batch must hold at least one sample per rank (${world} ranks), but ` +
        `${smallest === last && last !== config.batchSize ? `the last batch of an epoch holds ${last} (${size} samples % batchSize ${config.batchSize})` : `batchSize is ${config.batchSize}`}`,
    );
  }
  if (problems.length) throw new ConfigError(problems);
}

/** The weights of a safetensors file python wrote (F64 or F32) by spec path. */
function readTensors(path: string): Map<string, HostTensor> {
  return decodeSafetensors(readFileSync(path), path).tensors;
}

const toFloat32 = (t: HostTensor): HostTensor<'float32'> => ({
  dtype: 'float32',
  shape: [...t.shape],
  data: Float32Array.from(t.data as ArrayLike<number>),
});

export async function trainTorch<S extends FeatureSchema>(opts: TorchTrainOptions<S>): Promise<TorchTrainResult> {
  const { config, outDir } = opts;
  const graph = opts.graph as unknown as Graph;
  const log = opts.log ?? (() => {});
  const nproc = opts.nprocPerNode ?? 1,
    nnodes = opts.nnodes ?? 1,
    nodeRank = opts.nodeRank ?? 0;
  const world = nproc * nnodes;
  const dtype = opts.dtype ?? 'float32';
  const python = opts.python;
  checkTorchConfig(config, world, opts.train as unknown as SampleSource, 'config');
  const version = torchVersion(python);
  const total = totalSteps(config, opts.train.size);
  const order = new BatchOrder(config.seed, opts.train.size, config.batchSize);
  const metricsPath = join(outDir, 'metrics.jsonl');

  // where to start: a fresh run from initWeights(graph, seed), as the tfjs trainer; a resume from latest
  let start = 0;
  let weights: Map<string, HostTensor<'float32'>> = initWeights(graph, config.seed);
  let optimizer: AdamState | undefined;
  let samples = 0,
    wallBase = 0;
  if (opts.resume) {
    const found = newestIntactCheckpoint(outDir);
    for (const s of found.skipped) log(`skipped checkpoint ${s.dir}: ${s.reason}`);
    if (found.checkpoint) {
      checkSameGraph(found.checkpoint.graph, opts.graph as Graph<FeatureSchema, string>, found.checkpoint.dir);
      if (found.checkpoint.state.trainSize !== opts.train.size)
        throw new TrainError(
          `cannot resume from ${found.checkpoint.dir}: the training source held ${found.checkpoint.state.trainSize} samples, now ` +
            `${opts.train.size} (the sample order depends on it)`,
        );
      start = found.checkpoint.state.step;
      weights = found.checkpoint.weights;
      optimizer = found.checkpoint.optimizer;
      samples = found.checkpoint.state.samples;
      wallBase = found.checkpoint.state.wallSeconds;
      log(`resumed from ${found.checkpoint.dir} (step ${start} of ${total})`);
    }
  } else if (latestCheckpointDir(outDir) !== undefined || existsSync(metricsPath)) {
    throw new TrainError(`${outDir} already holds a training run; resume it (--resume) or choose another output directory`);
  }
  if (start >= total) throw new TrainError(`${outDir}: the run is at step ${start} of ${total}: nothing left to train`);

  const work = join(outDir, `.torch-work-${process.pid}`);
  const ranks = Array.from({ length: nproc }, (_, l) => nodeRank * nproc + l);
  const masterPort = opts.masterPort ?? (await freePort(opts.masterAddr ?? '127.0.0.1'));
  const launch = {
    script: join(work, 'train.py'),
    args: [join(work, 'manifest.json')],
    nprocPerNode: nproc,
    nnodes,
    nodeRank,
    masterAddr: opts.masterAddr ?? '127.0.0.1',
    masterPort,
  };
  const torchrun = torchrunCommand(launch);
  try {
    mkdirSync(work, { recursive: true });
    writeShards(opts.train, (k) => order.at(k).indices, join(work, 'shards'), {
      world,
      from: start,
      to: total,
      ranks,
      ...(opts.chunkSteps ? { chunkSteps: opts.chunkSteps } : {}),
    });
    const finalises = ranks.includes(0);
    if (opts.eval && finalises) {
      const n = opts.eval.size,
        B = config.evalBatchSize;
      writeShards(opts.eval, (k) => Int32Array.from({ length: Math.min(B, n - k * B) }, (_, i) => k * B + i), join(work, 'eval'), {
        world: 1,
        from: 0,
        to: Math.ceil(n / B),
      });
    }
    writeFileSync(join(work, 'model.py'), torchSource(graph, { dtype, distributed: true }));
    writeFileSync(join(work, 'train.py'), TRAIN_SCRIPT);
    writeFileSync(join(work, 'weights.safetensors'), encodeSafetensors(weights));
    if (optimizer) {
      const moments = new Map<string, HostTensor>();
      for (const [k, t] of optimizer.m) moments.set(`m/${k}`, t);
      for (const [k, t] of optimizer.v) moments.set(`v/${k}`, t);
      writeFileSync(join(work, 'optimizer.safetensors'), encodeSafetensors(moments));
    }
    const lrs = Array.from({ length: total - start }, (_, i) =>
      config.lrSchedule ? learningRateAt(config.lrSchedule, config.optimizer.lr, start + i, total) : config.optimizer.lr,
    );
    const manifest: TorchTrainManifest = {
      module: join(work, 'model.py'),
      threads: opts.threads ?? 1,
      device: opts.device ?? 'cpu',
      weights: join(work, 'weights.safetensors'),
      ...(optimizer ? { optimizerState: { path: join(work, 'optimizer.safetensors'), step: optimizer.step } } : {}),
      adam: { lr: config.optimizer.lr, beta1: config.optimizer.beta1, beta2: config.optimizer.beta2, epsilon: config.optimizer.epsilon },
      from: start,
      to: total,
      lrs,
      shards: join(work, 'shards'),
      ...(opts.eval && finalises ? { evalShards: join(work, 'eval') } : {}),
      lossOutput: 'loss',
      probOutput: 'prob',
      out: join(work, 'result'),
    };
    writeFileSync(join(work, 'manifest.json'), JSON.stringify(manifest));
    log(
      `torch ${version}: ${world} rank(s) (${nproc} on this node, node ${nodeRank} of ${nnodes}), steps ${start}..${total}, ${dtype}; ` +
        `with torchrun: ${torchrun}`,
    );

    const t0 = performance.now();
    await launchRanks({
      ...launch,
      ...(python ? { python } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      onLine: (r, l) => log(`[rank ${r}] ${l}`),
    });
    const secs = (performance.now() - t0) / 1000;
    const stepSamples = Array.from({ length: total - start }, (_, i) => order.at(start + i).indices.length);
    const trained = stepSamples.reduce((a, b) => a + b, 0);
    if (!finalises) {
      return {
        step: total,
        totalSteps: total,
        finalised: false,
        losses: [],
        weights: new Map(),
        torchrun,
        torch: version,
        samplesPerSec: trained / secs,
        stepSeconds: [],
      };
    }

    // rank 0's results -> the trainer's checkpoint format (and metrics.jsonl), written here
    const result = join(work, 'result');
    const { losses, stepSeconds } = JSON.parse(readFileSync(join(result, 'losses.json'), 'utf8')) as {
      losses: number[];
      stepSeconds: number[];
    };
    const full = readTensors(join(result, 'weights.safetensors')) as Map<string, HostTensor<'float32'>>;
    const moments = readTensors(join(result, 'optimizer.safetensors'));
    const m = new Map<string, HostTensor<'float32'>>(),
      v = new Map<string, HostTensor<'float32'>>();
    for (const [k, t] of moments) (k.startsWith('m/') ? m : v).set(k.slice(2), toFloat32(t));
    let b1 = 1,
      b2 = 1;
    for (let i = 0; i < total; i++) {
      b1 *= config.optimizer.beta1;
      b2 *= config.optimizer.beta2;
    } // the running products the tfjs Adam keeps
    let evalMetrics: EvalMetrics | undefined;
    if (opts.eval) {
      const prob = readTensors(join(result, 'eval.safetensors')).get('prob')!;
      evalMetrics = evalMetricsOf(opts.eval as unknown as SampleSource, Float32Array.from(prob.data as ArrayLike<number>));
    }
    mkdirSync(outDir, { recursive: true });
    const perEpoch = order.perEpoch;
    const record = (r: Record<string, unknown>) => appendFileSync(metricsPath, JSON.stringify(r) + '\n');
    const now = () => new Date().toISOString();
    record({
      kind: 'start',
      step: start,
      totalSteps: total,
      resumed: start > 0,
      backend: `torch ${version} (${world} ranks, ${dtype})`,
      trainSize: opts.train.size,
      evalSize: opts.eval?.size ?? 0,
      wallSeconds: wallBase,
      time: now(),
    });
    for (let s = start + config.logEvery - (start % config.logEvery); s <= total; s += config.logEvery) {
      const win = losses.slice(Math.max(0, s - config.logEvery - start), s - start);
      record({
        kind: 'train',
        step: s,
        epoch: s / perEpoch,
        loss: win.reduce((a, b) => a + b, 0) / win.length,
        samplesPerSec: trained / secs,
        wallSeconds: wallBase + secs,
        time: now(),
      });
    }
    if (evalMetrics)
      record({
        kind: 'eval',
        step: total,
        epoch: total / perEpoch,
        ...evalMetrics,
        evalSeconds: 0,
        wallSeconds: wallBase + secs,
        time: now(),
      });
    const checkpoint = writeCheckpoint(
      outDir,
      {
        step: total,
        epoch: total / perEpoch,
        samples: samples + trained,
        wallSeconds: wallBase + secs,
        backend: 'torch',
        trainSize: opts.train.size,
        config,
        graph,
        weights: new Map([...full].map(([k, t]) => [k, toFloat32(t)])),
        optimizer: { step: total, beta1Power: b1, beta2Power: b2, m, v },
      },
      config.keep,
    );
    log(`checkpoint ${checkpoint}`);
    return {
      step: total,
      totalSteps: total,
      finalised: true,
      losses,
      weights: full,
      checkpoint,
      ...(evalMetrics ? { eval: evalMetrics } : {}),
      torchrun,
      torch: version,
      samplesPerSec: trained / secs,
      stepSeconds,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const USAGE = `usage: npx tsx packages/train/src/torch.ts --model NAME --config FILE [--out DIR] [--resume] [--nproc-per-node N]
       [--nnodes N --node-rank R --master-addr HOST --master-port PORT] [--dtype float32|float64] [--threads T] [--device cpu|cuda] [--python PATH]
  (also: npx tsx packages/train/src/cli.ts --engine torch ...)
  Trains with PyTorch DDP on modules generated from the model's graph; one process per rank with the env:// contract torchrun uses
  (printed as a torchrun line for installs where torchrun works). Needs python3-torch (apt-get install -y python3-torch).
  --model           one of: ${trainModelNames().join(', ')}
  --nproc-per-node  ranks on this node (default 1); --nnodes / --node-rank / --master-addr / --master-port as torchrun's
  --dtype           float32 (default) or float64; the checkpoint holds float32
  --threads         torch threads per rank (default 1)`;

const OPTIONS = {
  model: { type: 'string' },
  config: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  'nproc-per-node': { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  'master-addr': { type: 'string' },
  'master-port': { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  python: { type: 'string' },
} as const;

/** The command: exit 0 done, 1 a rank or training failed (no checkpoint written), 2 usage/config, 3 storage. */
export function main(argv: readonly string[]): Promise<number> {
  return runCommand({ name: 'lctr train --engine torch', usage: USAGE, options: OPTIONS }, argv, async ({ values }) => {
    if (!values.model || !values.config) throw new UsageError(`${!values.model ? '--model' : '--config'} is required`);
    const nprocPerNode = intFlag('nproc-per-node', values['nproc-per-node'], 1) ?? 1;
    const nnodes = intFlag('nnodes', values.nnodes, 1) ?? 1;
    const nodeRank = intFlag('node-rank', values['node-rank'], 0, nnodes - 1) ?? 0;
    const masterPort = intFlag('master-port', values['master-port'], 1, 65535);
    if (nnodes > 1 && (masterPort === undefined || values['master-addr'] === undefined))
      throw new UsageError('--nnodes above 1 needs --master-addr and --master-port (the same on every node)');
    const where = values.config;
    let text: string;
    try {
      text = readFileSync(where, 'utf8');
    } catch (e) {
      throw new ConfigError([`${where}: cannot read the config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
    }
    const config = parseTrainConfig(parseJsonText(text, where), where);
    const entry = getTrainModel(values.model);
    const graph = await entry.buildTrain(config.model, where, config.data);
    const sources = await trainSources(entry, values.model, config, where);
    const res = await trainTorch({
      graph,
      train: sources.train,
      eval: sources.eval,
      config,
      outDir: resolve(values.out ?? `out/train/${values.model}-torch`),
      resume: values.resume ?? false,
      nprocPerNode,
      nnodes,
      nodeRank,
      ...(values['master-addr'] ? { masterAddr: values['master-addr'] } : {}),
      ...(masterPort ? { masterPort } : {}),
      dtype: choiceFlag('dtype', values.dtype, ['float32', 'float64'] as const) ?? 'float32',
      threads: intFlag('threads', values.threads, 1) ?? 1,
      device: choiceFlag('device', values.device, ['cpu', 'cuda'] as const) ?? 'cpu',
      ...(values.python ? { python: values.python } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    const e = res.eval;
    process.stdout.write(
      `done: step ${res.step}/${res.totalSteps} on ${nnodes * nprocPerNode} rank(s), ${Math.round(res.samplesPerSec).toLocaleString('en-US')} samples/s` +
        (e ? `; eval auc ${e.auc.toFixed(4)} gauc ${e.gauc.toFixed(4)} logloss ${e.logloss.toFixed(4)}` : '') +
        (res.checkpoint ? `; checkpoint ${res.checkpoint}` : '; checkpoint written by node 0') +
        '\n',
    );
    return 0;
  });
}

if (isMainModule(import.meta.filename)) process.exitCode = await main(process.argv.slice(2));
