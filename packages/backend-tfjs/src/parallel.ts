/**
 * Data-parallel training steps over worker threads (tfjs wasm runs one thread per JS thread, so
 * a second core needs a second thread). The batch is cut along its 'batch' dim into `shards`
 * contiguous shards of near-equal size; shard 0 runs on this thread, the others in workers
 * (parallel-worker.ts), each with its own compiled copy of the training graph and the current
 * weights; the gradients come back, are averaged weighted by shard size, and one Adam step updates
 * the weights here, which go to the workers with the next step.
 *
 * What it equals: for a loss that is a mean over the batch's samples (BCE, ESMM), the weighted
 * average of the shards' gradients is the gradient of the whole batch, so a step equals
 * trainStep on the whole batch up to float32 summation order (tested). Inputs without a 'batch'
 * dim (CRP's M negative pairs; a scalar the trainer feeds per step, as LCN's crpLambdaScale
 * warm-up, tested) go whole to every shard: a loss that mixes them with the batch
 * (CRP's mean over positives) is then averaged per shard, close to but not the same as the
 * whole batch's value.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type FeatureSchema, type Graph, type HostTensor, type InputsOf, type Weights, serializeGraph, sizeOf } from '@lctr/spec';
import { type TfjsModel, compileTfjs } from './model.ts';
import { Adam } from './adam.ts';
import type { AdamConfig } from './adam.ts';

export interface DataParallelOptions {
  /** shards per step, this thread included (>= 1; 2 on a 2-core machine) */
  readonly shards: number;
  /** the tfjs backend of the workers (the current one here) */
  readonly backend: string;
  /** the scalar loss output (default 'loss') */
  readonly output?: string;
}

/**
 * The worker's boot code. Built (dist/*.js, an installed package): import the worker module.
 * From the sources (TypeScript in the repository): register tsx's loader first, then import it
 * (tsx's ESM entry: require.resolve finds the CJS one, whose register() does not load here).
 * Resolved when the first worker starts, so importing this module does not need tsx.
 */
function workerBoot(): string {
  if (import.meta.url.endsWith('.js')) return `import(${JSON.stringify(new URL('./parallel-worker.js', import.meta.url).href)})`;
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/index\.cjs$/, 'index.mjs'),
  ).href;
  return (
    `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(` +
    `${JSON.stringify(new URL('./parallel-worker.ts', import.meta.url).href)}); })`
  );
}

interface StepReply {
  loss?: number;
  grads?: Array<[string, Float32Array]>;
  error?: string;
  ready?: boolean;
}

/** The rows [start, end) of every input with a leading 'batch' dim; the others whole. */
export function shardInputs(
  graph: Graph,
  inputs: Readonly<Record<string, HostTensor>>,
  start: number,
  end: number,
): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const decl of graph.inputs) {
    const t = inputs[decl.name]!;
    if (decl.shape[0] !== 'batch') {
      out[decl.name] = t;
      continue;
    }
    const row = sizeOf(t.shape.slice(1) as number[]);
    out[decl.name] = { ...t, shape: [end - start, ...t.shape.slice(1)], data: t.data.slice(start * row, end * row) } as HostTensor;
  }
  return out;
}

/** Near-equal contiguous shards of `n` rows: [start, end) pairs, the larger ones first. */
export function shardBounds(n: number, shards: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let k = 0; k < shards; k++) {
    const size = Math.floor(n / shards) + (k < n % shards ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out.filter(([a, b]) => b > a);
}

export class DataParallel<S extends FeatureSchema> {
  private weightsSent = false;

  private constructor(
    readonly graph: Graph<S, string>,
    readonly model: TfjsModel<S, string>,
    readonly optimizer: Adam,
    private readonly workers: Worker[],
    private readonly output: string,
  ) {}

  /** Compile the graph here and in `shards - 1` workers; `weights` are the starting point. */
  static async create<S extends FeatureSchema>(
    graph: Graph<S, string>,
    weights: Weights,
    adam: AdamConfig,
    opts: DataParallelOptions,
  ): Promise<DataParallel<S>> {
    if (!Number.isInteger(opts.shards) || opts.shards < 1)
      throw new Error(`DataParallel: shards must be an integer >= 1, got ${opts.shards}`);
    const model = compileTfjs(graph, { weights });
    const json = serializeGraph(graph);
    const workers: Worker[] = [];
    try {
      for (let k = 1; k < opts.shards; k++) {
        const w = new Worker(workerBoot(), { eval: true });
        workers.push(w);
        await request(w, { kind: 'init', graph: json, backend: opts.backend });
      }
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      model.dispose();
      throw e;
    }
    return new DataParallel(graph, model, new Adam(model.variables, adam), workers, opts.output ?? 'loss');
  }

  /** One optimizer step on `inputs` (the whole batch); returns the batch's loss (the shard losses weighted by size). */
  async step(inputs: InputsOf<S>): Promise<number> {
    const all = inputs as Record<string, HostTensor>;
    const lead = this.graph.inputs.find((i) => i.shape[0] === 'batch');
    if (!lead) throw new Error(`DataParallel: graph '${this.graph.name}' has no input with a leading 'batch' dim to shard`);
    const n = all[lead.name]!.shape[0]!;
    const bounds = shardBounds(n, this.workers.length + 1);
    const weights = this.weightsSent ? undefined : this.hostWeights();
    // the workers' shards first (they run while this thread computes shard 0)
    const pending = bounds.slice(1).map(([a, b], k) =>
      request(this.workers[k]!, {
        kind: 'step',
        output: this.output,
        inputs: shardInputs(this.graph, all, a, b),
        ...(weights ? { weights } : {}),
      }),
    );
    const [a0, b0] = bounds[0]!;
    const own = this.model.gradients(shardInputs(this.graph, all, a0, b0) as InputsOf<S>, this.output);
    const replies = await Promise.all(pending);
    const sizes = bounds.map(([a, b]) => b - a);
    let loss = (sizes[0]! / n) * Number(own.value.data[0]);
    // plain loops: Float32Array.from with a map function runs about 50x slower (60 ms a step here)
    const sum = new Map<string, Float32Array>();
    const share0 = sizes[0]! / n;
    for (const [name, g] of own.grads) {
      const src = g.data as Float32Array,
        acc = new Float32Array(src.length);
      for (let i = 0; i < acc.length; i++) acc[i] = share0 * src[i]!;
      sum.set(name, acc);
    }
    replies.forEach((r, k) => {
      const share = sizes[k + 1]! / n;
      loss += share * r.loss!;
      for (const [name, g] of r.grads!) addScaled(sum.get(name)!, g, share);
    });
    tf.tidy(() => {
      const named: tf.NamedTensorMap = {};
      for (const [path, v] of this.model.variables) named[v.name] = tf.tensor(sum.get(path)!, v.shape, 'float32');
      this.optimizer.applyGradients(named);
    });
    this.weightsSent = false;
    return loss;
  }

  private hostWeights(): Array<[string, number[], Float32Array]> {
    this.weightsSent = true;
    return [...this.model.getWeights()].map(([name, t]) => [name, [...t.shape], Float32Array.from(t.data as Float32Array)]);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.optimizer.dispose();
    this.model.dispose();
  }
}

function addScaled(acc: Float32Array, g: Float32Array, share: number): void {
  for (let i = 0; i < acc.length; i++) acc[i]! += share * g[i]!;
}

function request(w: Worker, msg: unknown): Promise<StepReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (r: StepReply) => {
      cleanup();
      if (r.error) reject(new Error(`data-parallel worker: ${r.error}`));
      else resolve(r);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      w.off('message', onMessage);
      w.off('error', onError);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.postMessage(msg);
  });
}
