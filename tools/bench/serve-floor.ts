#!/usr/bin/env tsx
/**
 * Serving against the limit (issue 8, items 1 and 2), on ONNX Runtime CPU in this process:
 * LCN-200-50 (N = 2,000 lifelong items, d = 64, K1 = 200, K2 = 50) scoring one user with C
 * candidates (default C = 100 and 1,000).
 * 1. The floor: the serving graph's FLOPs (flops.ts) divided by ONNX Runtime's own matmul rate on
 *    this machine, measured on MatMul-only models: the model's largest matmul as one 2-D product
 *    (its batch dims folded into rows), and a square 1024³ one; the faster rate is taken, so the
 *    floor is the optimistic one. The model and the two MatMul models run interleaved in blocks of
 *    5 runs in one process, so a busy spell of this shared machine slows all three alike.
 *    Reports latency p50/p99 and latency / floor.
 * 2. Shared user-side work: the same request through the per-request serving graph (user side
 *    once, candidates on 'cand') and through a naive layout that repeats the user's sequence per
 *    candidate (the training graph's layout with the user rows repeated C times). Ratio of
 *    latencies, and of peak memory: each layout runs in its own child process that reports its
 *    max RSS over a baseline taken after its session was created.
 *
 *   npx tsx tools/bench/serve-floor.ts [--cands 100,1000] [--n 2000] [--dim 64] [--requests 30] [--threads 0] [--json FILE]
 *   (--threads 0 = ONNX Runtime's default: all cores)
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type FeatureSchema, type Graph, type HostTensor, type LifelongConfig, GraphBuilder, LIFELONG_DEFAULTS, buildLifelong, buildLifelongTrain, initWeights, weightsFor,
} from '@lctr/spec';
import { lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { countFlops } from './flops.ts';

const { values } = parseArgs({ options: {
  cands: { type: 'string', default: '100,1000' }, n: { type: 'string', default: '2000' }, dim: { type: 'string', default: '64' },
  requests: { type: 'string', default: '30' }, threads: { type: 'string', default: '0' }, json: { type: 'string' },
  child: { type: 'string' }, c: { type: 'string' },
} });
const N = Number(values.n), dim = Number(values.dim), requests = Number(values.requests), threads = Number(values.threads);
const sessionOpts = { provider: 'cpu' as const, ...(threads > 0 ? { intraOpNumThreads: threads } : {}) };

const cfg: Partial<LifelongConfig> = {
  ...LIFELONG_DEFAULTS, module: 'lap', dim, lifelongLen: N, users: 1000, targetItems: 2000, sourceItems: 20000, categories: 32,
  lap: { ...LIFELONG_DEFAULTS.lap, k1: 200, k2: 50 }, crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 },
};
const fullMask = () => (_rng: unknown, shape: readonly number[]) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);
const gens = { ...lifelongGens(cfg), lifelongMask: fullMask(), targetSeqMask: fullMask(), sourceSeqMask: fullMask() };

const percentile = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!; };

async function timeSession(bytes: Uint8Array, g: Graph, feeds: Record<string, HostTensor>, n: number): Promise<number[]> {
  const s = await OnnxSession.create(bytes, g, sessionOpts);
  try {
    for (let i = 0; i < 3; i++) await s.run(feeds as never);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) { const t = performance.now(); await s.run(feeds as never); ms.push(performance.now() - t); }
    return ms;
  } finally {
    await s.release();
  }
}

/** A MatMul-only model [m, k] x [k, n], its feeds and its FLOPs. */
function matmulCase(m: number, k: number, n: number) {
  const b = new GraphBuilder(`matmul-${m}x${k}x${n}`, { a: { dtype: 'float32', shape: [m, k] } });
  const w = b.param('w', [k, n], { kind: 'normal', std: 0.05 });
  const g = b.build({ y: b.matmul(b.inputs.a, w) });
  const a: HostTensor = { dtype: 'float32', shape: [m, k], data: Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)) };
  return { bytes: exportOnnx(g, initWeights(g, 1)), graph: g, feeds: { a }, flops: 2 * m * k * n };
}

/**
 * Run the cases in rounds, each round a block of 2 warm-up and `block` timed runs per case, until
 * `runs` timed runs each: per-case milliseconds. Blocks, not single alternating runs: ONNX
 * Runtime's intra-op threads spin for a while after a run, and a second session started while the
 * first one's threads spin is slowed by them (1.7x for the model here).
 */
async function interleaved(cases: Array<{ bytes: Uint8Array; graph: Graph; feeds: Record<string, HostTensor> }>, runs: number, block = 5): Promise<number[][]> {
  const sessions = await Promise.all(cases.map((c) => OnnxSession.create(c.bytes, c.graph, sessionOpts)));
  try {
    const ms: number[][] = cases.map(() => []);
    while (ms[0]!.length < runs) {
      for (let i = 0; i < cases.length; i++) {
        for (let r = 0; r < block + 2; r++) {
          const t = performance.now();
          await sessions[i]!.run(cases[i]!.feeds as never);
          if (r >= 2) ms[i]!.push(performance.now() - t);
        }
      }
    }
    return ms;
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/** Serving feeds of one request (user side [1, ...], C candidates) and the naive layout's feeds (user side repeated C times). */
function requestFeeds(serving: Graph, train: Graph, C: number) {
  const serve = randomFeeds(serving, { cand: C }, 7, gens) as Record<string, HostTensor>;
  const naive: Record<string, HostTensor> = {};
  for (const inp of train.inputs) {
    const s = serve[inp.name];
    if (!s) continue;
    if (inp.name === 'candidate' || inp.name === 'candidateCategory') { naive[inp.name] = s; continue; }
    const row = s.data.length;
    const data = new (s.data.constructor as new (n: number) => Int32Array)(row * C);
    for (let r = 0; r < C; r++) data.set(s.data as Int32Array, r * row);
    naive[inp.name] = { ...s, shape: [C, ...s.shape.slice(1)], data } as HostTensor;
  }
  return { serve, naive };
}

/** The naive layout: the training graph's forward (prob only; no label needed) */
function naiveGraph(train: Graph): Graph {
  const keep = new Set<string>();
  const need = [train.outputs['prob' as never] as string];
  const producer = new Map(train.nodes.flatMap((n) => n.outputs.map((o) => [o.id, n] as const)));
  while (need.length) {
    const id = need.pop()!;
    const n = producer.get(id);
    if (!n || keep.has(n.id)) continue;
    keep.add(n.id);
    need.push(...n.inputs);
  }
  const nodes = train.nodes.filter((n) => keep.has(n.id));
  const read = new Set(nodes.flatMap((n) => n.inputs));
  return {
    ...train, name: `${train.name}-naive`, nodes, outputs: { prob: train.outputs['prob' as never] },
    inputs: train.inputs.filter((i) => read.has(i.name)), params: train.params.filter((p) => read.has(p.name)),
  };
}

const serving = buildLifelong(cfg) as Graph<FeatureSchema, string>;
const training = buildLifelongTrain(cfg) as Graph<FeatureSchema, string>;
const naive = naiveGraph(training);
const weights = initWeights(training, 5);

async function child(layout: 'shared' | 'naive', C: number): Promise<void> {
  const g = layout === 'shared' ? serving : naive;
  const { serve, naive: nf } = requestFeeds(serving, training, C);
  const s = await OnnxSession.create(exportOnnx(g, weightsFor(g, weights)), g, sessionOpts);
  const base = process.memoryUsage().rss;
  const ms: number[] = [];
  for (let i = 0; i < requests + 3; i++) {
    const t = performance.now();
    await s.run((layout === 'shared' ? serve : nf) as never);
    if (i >= 3) ms.push(performance.now() - t);
  }
  const peak = process.resourceUsage().maxRSS * 1024;
  await s.release();
  console.log(JSON.stringify({ layout, C, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), baseRss: base, peakRss: peak }));
}

if (values.child) {
  await child(values.child as 'shared' | 'naive', Number(values.c));
} else {
  const cands = values.cands.split(',').map(Number);
  console.log(`LCN-200-50 serving: N ${N}, d ${dim}, K1 200, K2 50; ONNX Runtime cpu, ${threads > 0 ? `${threads} intra-op threads` : `default threads (${cpus().length} cores)`}; ${cpus()[0]?.model ?? ''}`);
  const rows: Array<Record<string, unknown>> = [];
  for (const C of cands) {
    const flops = countFlops(serving, { cand: C });
    const top = flops.topMatmuls[0]!;
    const k = top.a[top.a.length - 1]!, n0 = top.b[top.b.length - 1]!;
    const m = top.a.slice(0, -1).reduce((p, d) => p * d, 1);
    const same = matmulCase(m, k, n0), square = matmulCase(1024, 1024, 1024);
    const { serve } = requestFeeds(serving, training, C);
    const [modelMs, sameMs, squareMs] = await interleaved([
      { bytes: exportOnnx(serving, weightsFor(serving, weights)), graph: serving, feeds: serve }, same, square,
    ], requests);
    const rateSame = same.flops / (percentile(sameMs!, 0.5) / 1e3) / 1e9;
    const rateSquare = square.flops / (percentile(squareMs!, 0.5) / 1e3) / 1e9;
    const rate = Math.max(rateSame, rateSquare);
    const floorMs = flops.total / (rate * 1e9) * 1e3;
    const runs: Record<string, { p50: number; p99: number; baseRss: number; peakRss: number }> = {};
    for (const layout of ['shared', 'naive'] as const) {
      const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, '--child', layout, '--c', String(C), '--n', String(N), '--dim', String(dim), '--requests', String(requests), '--threads', String(threads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !line.startsWith('{')) { console.error(r.stderr.slice(-2000)); throw new Error(`child ${layout} C=${C} failed (exit ${r.status})`); }
      runs[layout] = JSON.parse(line);
    }
    const sh = runs['shared']!, nv = runs['naive']!;
    const p50 = percentile(modelMs!, 0.5), p99 = percentile(modelMs!, 0.99);
    const row = {
      C, gflop: flops.total / 1e9, matmulShare: flops.matmul / flops.total, largestMatmul: `${top.node} [${top.a.join(', ')}] x [${top.b.join(', ')}]`,
      ortMatmulGflops: { sameSize: rateSame, square1024: rateSquare, sameSizeShape: [m, k, n0] },
      floorMs, p50, p99, ratioP50: p50 / floorMs, ownProcess: { p50: sh.p50, p99: sh.p99 },
      naive: { p50: nv.p50, p99: nv.p99 }, latencyRatio: nv.p50 / sh.p50,
      memoryMB: { shared: (sh.peakRss - sh.baseRss) / 2 ** 20, naive: (nv.peakRss - nv.baseRss) / 2 ** 20, sharedPeak: sh.peakRss / 2 ** 20, naivePeak: nv.peakRss / 2 ** 20 },
    };
    rows.push(row);
    console.log(`C ${C}: ${row.gflop.toFixed(3)} GFLOP (matmul ${(100 * row.matmulShare).toFixed(0)}%; largest ${row.largestMatmul}); ` +
      `ORT matmul ${rateSame.toFixed(1)} GFLOP/s at [${m}, ${k}] x [${k}, ${n0}], ${rateSquare.toFixed(1)} GFLOP/s at 1024³ -> floor ${floorMs.toFixed(2)} ms`);
    console.log(`  per-request layout: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms = ${row.ratioP50.toFixed(2)}x the floor (interleaved with the MatMul models in blocks; alone in its own process p50 ${sh.p50.toFixed(2)} ms); ` +
      `naive (sequence repeated per candidate): p50 ${nv.p50.toFixed(2)} ms, p99 ${nv.p99.toFixed(2)} ms = ${row.latencyRatio.toFixed(1)}x slower; ` +
      `peak memory over the loaded session ${row.memoryMB.shared.toFixed(0)} MB vs ${row.memoryMB.naive.toFixed(0)} MB (${(row.memoryMB.naive / Math.max(1, row.memoryMB.shared)).toFixed(1)}x)`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ N, dim, threads, rows }, null, 2) + '\n');
}
