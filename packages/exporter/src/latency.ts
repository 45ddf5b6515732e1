/**
 * Serving latency of an exported model in ONNX Runtime (one session, reused, as a server would),
 * on held-out data: per-request layout, request r is one user (the user side of eval sample s_r)
 * with the candidates of eval samples s_r .. s_r+C-1; batch layout, request r is the batch of eval
 * samples s_r .. s_r+C-1. Feeds are built before the clock starts; each request is timed around
 * OnnxSession.run (input check, tensor hand-over, the ONNX Runtime run, output copy). A few
 * warm-up requests run first and are not counted.
 */
import { type FeatureSchema, type Graph, type HostTensor, type InputsOf, Rng, hashSeed } from '@lctr/spec';
import { OnnxSession, type ProviderRequest } from '@lctr/backend-onnx';
import { ExportError } from './errors.ts';
import { type HeldOutSource, type ServingLayout, servingFeedsOf, servingLayoutOf } from './heldout.ts';

export interface LatencyOptions {
  /** timed requests (default 50) */
  readonly requests?: number;
  /** candidates per request (batch layout: rows per request); default 100, at most the eval size */
  readonly candidates?: number;
  /** untimed requests first (default 5) */
  readonly warmup?: number;
  /** picks the request starts */
  readonly seed: number;
  /** ONNX Runtime provider (default 'cpu') */
  readonly provider?: ProviderRequest;
}

export interface LatencyReport {
  readonly layout: ServingLayout;
  /** the provider that really ran */
  readonly provider: string;
  readonly requests: number;
  readonly candidates: number;
  readonly warmup: number;
  /** milliseconds per request; p50/p99 are nearest-rank percentiles over the timed requests */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** Nearest-rank percentile (q in (0, 1]) of ascending values. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new ExportError('percentile of no values');
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

export async function measureLatency(
  serving: Graph,
  onnx: Uint8Array,
  source: HeldOutSource,
  opts: LatencyOptions,
): Promise<LatencyReport> {
  const requests = opts.requests ?? 50;
  const warmup = opts.warmup ?? 5;
  if (!Number.isInteger(requests) || requests < 1)
    throw new ExportError(`latency requests: expected a positive integer, got ${JSON.stringify(requests)}`);
  if (source.size < 1) throw new ExportError('the eval split is empty: no held-out samples to time requests on');
  // a candidate-set request is one eval sample (its candidates are the sample's); otherwise c samples
  const oneSample = servingLayoutOf(serving) === 'candidateSet';
  let c = oneSample ? 1 : Math.min(opts.candidates ?? 100, source.size);
  const rng = new Rng(hashSeed(opts.seed, 'exporter', 'latency'));
  const feeds: Array<Record<string, HostTensor>> = [];
  for (let r = 0; r < warmup + requests; r++) {
    const start = rng.int(source.size - c + 1);
    feeds.push(servingFeedsOf(serving, source.batch(Int32Array.from({ length: c }, (_, i) => start + i))));
  }
  if (oneSample) {
    const withCand = serving.inputs.find((i) => i.shape[1] === 'cand') ?? serving.inputs.find((i) => i.shape.length > 1);
    c = withCand ? Number(feeds[0]![withCand.name]!.shape[1]) : 1;
  }
  const session = await OnnxSession.create(onnx, serving, { provider: opts.provider ?? 'cpu' });
  const ms: number[] = [];
  try {
    for (let r = 0; r < feeds.length; r++) {
      const t0 = performance.now();
      await session.run(feeds[r] as InputsOf<FeatureSchema>);
      if (r >= warmup) ms.push(performance.now() - t0);
    }
  } finally {
    await session.release();
  }
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    layout: servingLayoutOf(serving),
    provider: session.provider,
    requests,
    candidates: c,
    warmup,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    meanMs: ms.reduce((a, b) => a + b, 0) / ms.length,
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
  };
}

/** `latency (ONNX Runtime cpu): 50 requests x 100 candidates, 1 user each: p50 2.1 ms, p99 3.4 ms, mean 2.2 ms` */
export function formatLatencyLine(l: LatencyReport): string {
  const what =
    l.layout === 'request'
      ? `${l.requests} requests x ${l.candidates} candidates, 1 user each`
      : `${l.requests} batches of ${l.candidates} eval samples`;
  const f = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;
  return (
    `latency (ONNX Runtime ${l.provider}, ${l.warmup} warm-up requests not counted): ${what}: p50 ${f(l.p50Ms)}, p99 ${f(l.p99Ms)}, ` +
    `mean ${f(l.meanMs)}`
  );
}
