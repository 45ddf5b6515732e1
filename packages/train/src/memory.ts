/**
 * What one training step needs in memory, estimated from the training graph before anything is
 * allocated, and the start-up checks that refuse a config this machine cannot run (issue 17,
 * item 7). Without them `lifelongLen: 100000000` died with a RangeError deep in wasm,
 * `crp.negatives: 1000000000` hung while drawing pairs, and `shards: 64` on 2 cores started 64
 * workers at 3.4 GB.
 *
 * The estimate walks the graph: every input and node output at the shard's batch (the 'batch' dim
 * bound to ceil(batchSize / shards)), float values FLOAT_COPIES times (see there), plus the
 * parameters: each shard thread holds the weights and their gradient, the step adds Adam's m and v
 * once (so 4 x parameters with one shard). That makes the dominant terms batch x lifelongLen x dims
 * for the lifelong activations, CRP negatives x dims, parameters x 4 (per shard), without a
 * per-model formula to keep in sync with the graphs. It is an estimate of the peak, calibrated on
 * tfjs, not a bound.
 */
import { availableParallelism, totalmem } from 'node:os';
import { ConfigError, type DType, type Graph, type Shape, formatShape, resolveDim, symbolsOf } from '@lctr/spec';
import type { TrainConfig } from './config.ts';

export const GIB = 2 ** 30;

/**
 * tfjs-backend-wasm 4.22's heap limit (emscripten's getHeapMax() in tf-backend-wasm.node.js):
 * every wasm instance, one per shard thread, keeps all its tensors in one such heap, whatever the
 * machine has. Past it the backend throws a RangeError from inside the module.
 */
export const WASM_HEAP_BYTES = 4294901760;

const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, int32: 4, int64: 8, bool: 1 };

/**
 * Copies counted per float graph value: the forward value backprop keeps, its gradient, and tfjs'
 * own intermediates (an op lowered to several kernels, gradient temporaries). Value + gradient
 * alone fell short: tf.profile's peakBytes of one wasm train step was 1.45-1.75 x that (lcn and twin
 * at lifelongLen 1000 and 4000, din, ifa; their configs/*-synthetic.json), so 4 copies keep the
 * estimate at 1.1-1.35 x the measured peak.
 */
const FLOAT_COPIES = 4;

export interface TensorSize {
  /** value id in the graph (an input name or 'node:k') */
  readonly id: string;
  /** the graph's shape, symbolic dims included ('batch') */
  readonly shape: Shape;
  /** the shape at the shard's batch */
  readonly dims: readonly number[];
  /** bytes counted for it (float values FLOAT_COPIES times) */
  readonly bytes: number;
}

export interface MemoryEstimate {
  readonly batchSize: number;
  readonly shards: number;
  /** samples per shard: ceil(batchSize / shards) */
  readonly shardBatch: number;
  /** one shard's inputs and node outputs (float ones x FLOAT_COPIES) */
  readonly activationBytes: number;
  /** the parameter values once */
  readonly paramBytes: number;
  /** one shard thread: its activations + the weights + their gradients */
  readonly perShardBytes: number;
  /** the whole step: every shard + Adam's m and v */
  readonly totalBytes: number;
  /** the largest tensors of one shard's step, largest first (at most 3) */
  readonly largest: readonly TensorSize[];
  /** symbolic dims other than 'batch' with no binding (counted as 1, so the estimate is low for them) */
  readonly unresolved: readonly string[];
}

export interface EstimateOptions {
  readonly batchSize: number;
  /** data-parallel shards (default 1) */
  readonly shards?: number;
  /** values of symbolic dims other than 'batch' (a model whose sequence length is symbolic) */
  readonly bindings?: Readonly<Record<string, number>>;
}

/** The memory one training step of `graph` needs; see the header for what is counted. */
export function estimateTrainMemory(graph: Graph, opts: EstimateOptions): MemoryEstimate {
  const shards = opts.shards ?? 1;
  const shardBatch = Math.ceil(opts.batchSize / shards);
  const unresolved = new Set<string>();
  const bindings: Record<string, number> = { ...opts.bindings, batch: shardBatch };
  const bind = (shape: Shape): number[] =>
    shape.map((d) => {
      for (const s of symbolsOf(d))
        if (!(s in bindings)) {
          unresolved.add(s);
          bindings[s] = 1;
        }
      return resolveDim(d, bindings);
    });
  const sizes: TensorSize[] = [];
  const add = (id: string, dtype: DType, shape: Shape) => {
    const dims = bind(shape);
    const copies = dtype === 'float32' ? FLOAT_COPIES : 1;
    sizes.push({ id, shape, dims, bytes: dims.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype] * copies });
  };
  for (const i of graph.inputs) add(i.name, i.dtype, i.shape);
  for (const n of graph.nodes) for (const o of n.outputs) add(o.id, o.dtype, o.shape);
  let activationBytes = 0;
  for (const s of sizes) activationBytes += s.bytes;
  let paramBytes = 0;
  for (const p of graph.params) paramBytes += p.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[p.dtype];
  const perShardBytes = activationBytes + 2 * paramBytes;
  return {
    batchSize: opts.batchSize,
    shards,
    shardBatch,
    activationBytes,
    paramBytes,
    perShardBytes,
    totalBytes: shards * perShardBytes + 2 * paramBytes,
    largest: sizes.sort((a, b) => b.bytes - a.bytes || (a.id < b.id ? -1 : 1)).slice(0, 3),
    unresolved: [...unresolved].sort(),
  };
}

/** Bytes as the messages show them: KiB below 1 MiB, MiB below 0.01 GiB, else GiB (2 decimals below 10 GiB). */
export function formatBytes(bytes: number): string {
  if (bytes < 2 ** 20) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  if (bytes < 0.01 * GIB) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const gib = bytes / GIB;
  return `${gib.toLocaleString('en-US', { maximumFractionDigits: gib < 10 ? 2 : 1, minimumFractionDigits: 1 })} GiB`;
}

/**
 * The config key that makes the step big: the largest dim of the largest tensor that exactly one
 * numeric key of config.model / config.data holds (lifelongLen, crp.negatives, ...), when that dim
 * is at least the shard's batch; otherwise config.batchSize.
 */
export function blameKey(config: TrainConfig, est: MemoryEstimate): { key: string; value: number } {
  const leaves: Array<{ key: string; value: number }> = [];
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'number') leaves.push({ key: path, value: v });
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(config.model, 'config.model');
  walk(config.data, 'config.data');
  const top = est.largest[0];
  if (top) {
    const dims = top.shape.filter((d): d is number => typeof d === 'number' && d >= est.shardBatch && d > 1).sort((a, b) => b - a);
    for (const d of dims) {
      const hits = leaves.filter((l) => l.value === d);
      if (hits.length === 1) return hits[0]!;
    }
  }
  return { key: 'config.batchSize', value: config.batchSize };
}

/** What the estimate is made of, for the messages. */
export function describeEstimate(est: MemoryEstimate): string {
  const shards = `${est.shards} shard${est.shards > 1 ? 's' : ''} of ${est.shardBatch} sample${est.shardBatch > 1 ? 's' : ''}`;
  const big = est.largest.map((t) => `'${t.id}' ${formatShape(t.dims)} ${formatBytes(t.bytes)}`).join(', ');
  const unresolved = est.unresolved.length ? `; dims ${est.unresolved.join(', ')} unknown before the data, counted as 1` : '';
  return (
    `activations with their gradients and temporaries ${formatBytes(est.activationBytes)} per shard x ${shards}, parameters ` +
    `${formatBytes(est.paramBytes)} x ${est.shards * 2 + 2} (weights and gradients per shard, Adam's m and v); largest: ${big}` +
    `${unresolved}`
  );
}

export interface MachineLimits {
  /** memory one step may use */
  readonly memoryBytes: number;
  /** where memoryBytes came from, for the message ('os.totalmem()', 'the cgroup limit', '--memory-gib') */
  readonly memorySource: string;
  /** worker threads that run in parallel: os.availableParallelism() */
  readonly parallelism: number;
}

/**
 * This machine's limits: os.totalmem(), or the cgroup's limit when lower
 * (process.constrainedMemory(): a container's total is not the host's), or `memoryGib` when given
 * (the CLI's --memory-gib, and tests).
 */
export function machineLimits(memoryGib?: number): MachineLimits {
  const parallelism = availableParallelism();
  if (memoryGib !== undefined) return { memoryBytes: memoryGib * GIB, memorySource: '--memory-gib', parallelism };
  const total = totalmem();
  const cgroup = process.constrainedMemory?.() ?? 0;
  return cgroup > 0 && cgroup < total
    ? { memoryBytes: cgroup, memorySource: 'the cgroup limit', parallelism }
    : { memoryBytes: total, memorySource: 'os.totalmem()', parallelism };
}

export interface FitOptions {
  /** names the config in messages (its file) */
  readonly where: string;
  /** run more shards than the machine's parallelism (a warning instead of a refusal) */
  readonly oversubscribe?: boolean;
}

/**
 * Refuse (ConfigError, every problem one line; the CLI exits 2) a step that cannot fit the
 * machine's memory, and shards above the machine's parallelism unless `oversubscribe`, which turns
 * that into a warning. Returns the warnings.
 */
export function checkTrainFits(config: TrainConfig, est: MemoryEstimate, limits: MachineLimits, opts: FitOptions): string[] {
  const problems: string[] = [],
    warnings: string[] = [];
  const blame = blameKey(config, est);
  if (est.totalBytes > limits.memoryBytes) {
    problems.push(
      `${opts.where}: ${blame.key}: ${blame.value} needs about ${formatBytes(est.totalBytes)} for one training step at batchSize ` +
        `${est.batchSize} (estimate: ${describeEstimate(est)}); this machine has ${formatBytes(limits.memoryBytes)} ` +
        `(${limits.memorySource})`,
    );
  }
  const shards = config.shards ?? 1;
  if (shards > limits.parallelism) {
    const what =
      `${opts.where}: config.shards: ${shards} is above this machine's parallelism (${limits.parallelism}, ` +
      `os.availableParallelism()); each shard is a worker thread with its own copy of the weights (this step: about ` +
      `${formatBytes(est.totalBytes)}), and more threads than cores only wait for each other`;
    if (opts.oversubscribe) warnings.push(`warning: ${what}; running anyway (--oversubscribe)`);
    else problems.push(`${what}; use at most ${limits.parallelism}, or pass --oversubscribe to run it anyway`);
  }
  if (problems.length) throw new ConfigError(problems);
  return warnings;
}

/**
 * On the wasm backend each shard thread's share must also fit one wasm heap (WASM_HEAP_BYTES),
 * however much memory the machine has: a ConfigError naming the key otherwise.
 */
export function checkWasmHeap(config: TrainConfig, est: MemoryEstimate, where: string): void {
  if (est.perShardBytes <= WASM_HEAP_BYTES) return;
  const blame = blameKey(config, est);
  throw new ConfigError([
    `${where}: ${blame.key}: ${blame.value} needs about ${formatBytes(est.perShardBytes)} per shard thread for one training step at ` +
      `batchSize ${est.batchSize} (estimate: ${describeEstimate(est)}); the wasm backend holds at most ${formatBytes(WASM_HEAP_BYTES)} ` +
      `per thread (use more shards, a smaller config or another backend)`,
  ]);
}
