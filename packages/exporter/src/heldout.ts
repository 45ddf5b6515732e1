/**
 * Parity of an exported trained model on held-out data: seeded samples of the trainer's eval
 * split, scored four ways, and the max |Δprob| of each pair:
 *   onnx        ONNX Runtime (CPU provider) on the exported serving graph
 *   tfjs        tfjs (wasm unless told otherwise) on the serving graph
 *   tfjs-train  tfjs on the TRAINING graph with the checkpoint's weights: what training computed
 *   ref-cpu     the float64 reference interpreter on the serving graph
 * Batch layout (demo, avgpool, din): one batch of `samples` eval samples feeds every graph.
 * Per-request layout (lifelong: user side with a leading 1, candidates on 'cand'): request r
 * takes the user-side rows of eval sample s_r and the candidates of samples s_r .. s_r+C-1;
 * the training graph sees the same C rows with the user side repeated C times (its
 * training-only inputs, CRP pairs and label, are the eval batch's own: they do not change prob).
 */
import {
  type FeatureSchema,
  type Graph,
  type HostData,
  type HostTensor,
  type InputsOf,
  type ServingLayout,
  type Weights,
  Rng,
  hashSeed,
  servingLayoutOf,
  sizeOf,
} from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { OnnxSession } from '@lctr/backend-onnx';
import { ExportError } from './errors.ts';

// the layout is spec's serving contract (graph meta first, shapes otherwise): re-exported for checkpoint.ts and latency.ts
export { type ServingLayout, servingLayoutOf } from '@lctr/spec';
export const PARITY_RUNS = ['onnx', 'tfjs', 'tfjs-train', 'ref-cpu'] as const;
export type ParityRun = (typeof PARITY_RUNS)[number];
export const PARITY_PAIRS = ['onnx-vs-tfjs', 'onnx-vs-tfjs-train', 'onnx-vs-ref-cpu', 'tfjs-vs-ref-cpu'] as const;
export type ParityPair = (typeof PARITY_PAIRS)[number];
const PAIR_RUNS: Readonly<Record<ParityPair, readonly [ParityRun, ParityRun]>> = {
  'onnx-vs-tfjs': ['onnx', 'tfjs'],
  'onnx-vs-tfjs-train': ['onnx', 'tfjs-train'],
  'onnx-vs-ref-cpu': ['onnx', 'ref-cpu'],
  'tfjs-vs-ref-cpu': ['tfjs', 'ref-cpu'],
};

/** The bar of the issue: ONNX Runtime within 1e-5 (absolute, on probabilities) of tfjs and of the reference. */
export const HELD_OUT_TOLERANCE = 1e-5;

/** What the parity check needs of a trainer model's eval split (@lctr/data SampleSource). */
export interface HeldOutSource {
  readonly size: number;
  batch(indices: Int32Array): Readonly<Record<string, HostTensor>>;
}

export interface HeldOutOptions {
  /** picks the samples / request starts */
  readonly seed: number;
  /** batch layout: eval samples scored (default 64) */
  readonly samples?: number;
  /** per-request layout: requests (default 4) and candidates per request (default 16) */
  readonly requests?: number;
  readonly candidates?: number;
  /** max |Δprob| allowed for every pair (default HELD_OUT_TOLERANCE) */
  readonly tolerance?: number;
  /** max |Δprob| allowed for the pairs with ONNX Runtime (default `tolerance`; a float16 export states its own) */
  readonly onnxTolerance?: number;
  /** tfjs backend for the tfjs runs (default 'wasm') */
  readonly tfjsBackend?: string;
  readonly log?: (line: string) => void;
}

export interface HeldOutRequest {
  /** eval sample whose user side the request takes; candidates are samples start .. start+candidates-1 */
  readonly start: number;
  readonly candidates: number;
}

export interface HeldOutParity {
  readonly layout: ServingLayout;
  readonly ok: boolean;
  readonly tolerance: number;
  /** the bar of the pairs with ONNX Runtime (equal to `tolerance` unless the export is float16) */
  readonly onnxTolerance: number;
  /** max |Δprob| of each pair over every scored candidate */
  readonly maxAbs: Readonly<Record<ParityPair, number>>;
  /** probabilities compared per run */
  readonly scored: number;
  /** smallest and largest reference probability (a spread shows the check is not on a constant) */
  readonly probRange: readonly [number, number];
  /** batch layout: the eval sample indices */
  readonly samples?: readonly number[];
  /** per-request layout: the requests */
  readonly requests?: readonly HeldOutRequest[];
  readonly evalSize: number;
  readonly tfjsBackend: string;
  readonly onnxProvider: string;
  readonly failures: readonly string[];
}

/** `n` distinct integers of [0, size), seeded. */
function pickDistinct(rng: Rng, size: number, n: number): number[] {
  const pool = Int32Array.from({ length: size }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(size - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
    out.push(pool[i]!);
  }
  return out;
}

type Feeds = Record<string, HostTensor>;
type Copyable = HostData & { set(src: HostData, offset: number): void };

/** Row `row` of t as a tensor with a leading 1. */
function rowOf(t: HostTensor, row: number): HostTensor {
  const rs = sizeOf(t.shape.slice(1));
  return { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: t.data.slice(row * rs, (row + 1) * rs) } as HostTensor;
}

/** A [1, ...] tensor repeated to [n, ...]. */
function repeatRow(t: HostTensor, n: number): HostTensor {
  const rs = sizeOf(t.shape.slice(1));
  const data = new (t.data.constructor as new (len: number) => Copyable)(n * rs);
  for (let i = 0; i < n; i++) data.set(t.data, i * rs);
  return { dtype: t.dtype, shape: [n, ...t.shape.slice(1)], data } as HostTensor;
}

function featureOf(batch: Readonly<Record<string, HostTensor>>, name: string, graph: Graph): HostTensor {
  const t = batch[name];
  if (!t)
    throw new ExportError(
      `the eval source has no feature '${name}' that graph '${graph.name}' reads (it has ${Object.keys(batch).join(', ')})`,
    );
  return t;
}

interface Case {
  /** serving feeds and training feeds of one forward pass */
  readonly serving: Feeds;
  readonly training: Feeds;
}

function batchCase(serving: Graph, training: Graph, batch: Readonly<Record<string, HostTensor>>): Case {
  return {
    serving: Object.fromEntries(serving.inputs.map((i) => [i.name, featureOf(batch, i.name, serving)])),
    training: Object.fromEntries(training.inputs.map((i) => [i.name, featureOf(batch, i.name, training)])),
  };
}

/**
 * The serving feeds of one forward pass, from eval rows: batch layout, the rows as they are;
 * per-request layout, the user side (leading 1) of the first row and the candidates of every row.
 */
export function servingFeedsOf(serving: Graph, batch: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> {
  const feeds: Feeds = {};
  const layout = servingLayoutOf(serving);
  if (layout === 'candidateSet') {
    // the first eval sample is the request (its candidate set included)
    for (const i of serving.inputs) feeds[i.name] = rowOf(featureOf(batch, i.name, serving), 0);
    return feeds;
  }
  const request = layout === 'request';
  for (const i of serving.inputs) {
    const t = featureOf(batch, i.name, serving);
    if (!request || i.shape[0] === 'cand') {
      feeds[i.name] = t;
    } else if (i.shape[0] === 1) {
      feeds[i.name] = rowOf(t, 0);
    } else {
      throw new ExportError(
        `serving graph '${serving.name}': input '${i.name}' must lead with 1 (user side) or 'cand' (candidates), got ` +
          `${JSON.stringify(i.shape)}`,
      );
    }
  }
  return feeds;
}

function requestCase(serving: Graph, training: Graph, batch: Readonly<Record<string, HostTensor>>, c: number): Case {
  const servingFeeds = servingFeedsOf(serving, batch);
  const userSide = new Set(serving.inputs.filter((i) => i.shape[0] === 1).map((i) => i.name));
  const trainingFeeds: Feeds = {};
  for (const i of training.inputs) {
    const t = featureOf(batch, i.name, training);
    trainingFeeds[i.name] = userSide.has(i.name) ? repeatRow(servingFeeds[i.name]!, c) : t;
  }
  return { serving: servingFeeds, training: trainingFeeds };
}

/** Candidates of one candidate-set request: the length of the serving feeds' axis 1 of the first input that has one. */
function probCount(serving: Graph, feeds: Feeds): number {
  const withCand = serving.inputs.find((i) => i.shape[1] === 'cand') ?? serving.inputs.find((i) => i.shape.length > 1);
  return withCand ? Number(feeds[withCand.name]!.shape[1]) : 1;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!Number.isFinite(d)) return Infinity;
    if (d > m) m = d;
  }
  return m;
}

function probOf(out: Readonly<Record<string, HostTensor>>, run: ParityRun): Float64Array {
  const t = out['prob'];
  if (!t || t.dtype !== 'float32') throw new ExportError(`${run}: no float32 output 'prob'`);
  return Float64Array.from(t.data as Float32Array | Float64Array);
}

/**
 * Score the held-out samples through ONNX Runtime, tfjs (serving and training graphs) and ref-cpu.
 * `training` and `trainingWeights` are the checkpoint's; `serving` and `servingWeights` what is exported.
 * Note: switches the process-wide tfjs backend to `tfjsBackend` (initTfjs) and leaves it there.
 */
export async function heldOutParity(
  args: {
    readonly serving: Graph;
    readonly servingWeights: Weights;
    readonly onnx: Uint8Array;
    readonly training: Graph;
    readonly trainingWeights: Weights;
    readonly source: HeldOutSource;
  },
  opts: HeldOutOptions,
): Promise<HeldOutParity> {
  const log = opts.log ?? (() => {});
  const tolerance = opts.tolerance ?? HELD_OUT_TOLERANCE;
  const onnxTolerance = opts.onnxTolerance ?? tolerance;
  const layout = servingLayoutOf(args.serving);
  const size = args.source.size;
  if (size < 1) throw new ExportError('the eval split is empty: no held-out samples to check parity on');
  const rng = new Rng(hashSeed(opts.seed, 'exporter', 'held-out'));
  const cases: Case[] = [];
  let samples: number[] | undefined;
  let requests: HeldOutRequest[] | undefined;
  if (layout === 'batch') {
    const n = Math.min(opts.samples ?? 64, size);
    samples = pickDistinct(rng, size, n).sort((a, b) => a - b);
    cases.push(batchCase(args.serving, args.training, args.source.batch(Int32Array.from(samples))));
  } else if (layout === 'candidateSet') {
    // each eval sample is a whole request: the serving graph scores it alone (leading 1), the
    // training graph as a batch of one; padded candidates score 0 in both
    const r = Math.min(opts.requests ?? 16, size);
    const starts = pickDistinct(rng, size, r).sort((a, b) => a - b);
    requests = [];
    for (const s of starts) {
      const batch = args.source.batch(Int32Array.of(s));
      const k = batchCase(args.serving, args.training, batch);
      cases.push({ serving: servingFeedsOf(args.serving, batch), training: k.training });
      requests.push({ start: s, candidates: probCount(args.serving, k.serving) });
    }
  } else {
    const c = Math.min(opts.candidates ?? 16, size);
    const r = Math.min(opts.requests ?? 4, size - c + 1);
    requests = pickDistinct(rng, size - c + 1, r)
      .sort((a, b) => a - b)
      .map((start) => ({ start, candidates: c }));
    for (const q of requests) {
      const batch = args.source.batch(Int32Array.from({ length: c }, (_, i) => q.start + i));
      cases.push(requestCase(args.serving, args.training, batch, c));
    }
  }

  const probs: Record<ParityRun, Float64Array[]> = { onnx: [], tfjs: [], 'tfjs-train': [], 'ref-cpu': [] };
  for (const k of cases)
    probs['ref-cpu'].push(Float64Array.from(runRef(args.serving, args.servingWeights, k.serving as InputsOf<FeatureSchema>).prob.data));

  const session = await OnnxSession.create(args.onnx, args.serving, { provider: 'cpu' });
  try {
    for (const k of cases) probs.onnx.push(probOf(await session.run(k.serving as InputsOf<FeatureSchema>), 'onnx'));
  } finally {
    await session.release();
  }

  const tfjsBackend = opts.tfjsBackend ?? 'wasm';
  await initTfjs({ backend: tfjsBackend, requestedFrom: 'the exporter', log });
  for (const [run, graph, weights, feeds] of [
    ['tfjs', args.serving, args.servingWeights, (k: Case) => k.serving],
    ['tfjs-train', args.training, args.trainingWeights, (k: Case) => k.training],
  ] as const) {
    const model = compileTfjs(graph, { weights });
    try {
      for (const k of cases) probs[run].push(probOf(model.run(feeds(k) as InputsOf<FeatureSchema>), run));
    } finally {
      model.dispose();
    }
  }

  const flat = (run: ParityRun) => {
    const parts = probs[run];
    const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const all = Object.fromEntries(PARITY_RUNS.map((r) => [r, flat(r)])) as Record<ParityRun, Float64Array>;
  const maxAbs = Object.fromEntries(PARITY_PAIRS.map((p) => [p, maxAbsDiff(all[PAIR_RUNS[p][0]], all[PAIR_RUNS[p][1]])])) as Record<
    ParityPair,
    number
  >;
  const bar = (p: ParityPair) => (PAIR_RUNS[p].includes('onnx') ? onnxTolerance : tolerance);
  const failures = PARITY_PAIRS.filter((p) => !(maxAbs[p] <= bar(p))).map(
    (p) => `${p}: max |Δprob| ${maxAbs[p].toExponential(2)} exceeds ${bar(p).toExponential(0)}`,
  );
  return {
    layout,
    ok: failures.length === 0,
    tolerance,
    onnxTolerance,
    maxAbs,
    scored: all['ref-cpu'].length,
    probRange: [Math.min(...all['ref-cpu']), Math.max(...all['ref-cpu'])],
    ...(samples ? { samples } : {}),
    ...(requests ? { requests } : {}),
    evalSize: size,
    tfjsBackend,
    onnxProvider: session.provider,
    failures,
  };
}

/** `din step 5: 64 held-out eval samples | max |Δprob| onnx-vs-tfjs 1.2e-8 ... (bar 1e-5)  OK` */
export function formatHeldOutLine(name: string, step: number, p: HeldOutParity): string {
  const what =
    p.layout === 'batch'
      ? `${p.scored} held-out eval samples`
      : p.layout === 'candidateSet'
        ? `${p.requests!.length} held-out requests of ${p.requests![0]!.candidates} candidates (padding included)`
        : `${p.requests!.length} held-out requests x ${p.requests![0]!.candidates} candidates`;
  const pairs = PARITY_PAIRS.map((k) => `${k} ${p.maxAbs[k].toExponential(1)}`).join(', ');
  const bars =
    p.onnxTolerance === p.tolerance
      ? p.tolerance.toExponential(0)
      : `${p.tolerance.toExponential(0)}, with onnx ${p.onnxTolerance.toExponential(0)}`;
  return `${name} step ${step}: ${what} | max |Δprob| ${pairs} (bar ${bars})  ${p.ok ? 'OK' : 'FAIL'}`;
}
