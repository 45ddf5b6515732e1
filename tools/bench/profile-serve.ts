#!/usr/bin/env tsx
/**
 * Where one LCN serving request's time goes on ONNX Runtime CPU: the per-node profile of the
 * exported per-request graph (ORT's own profiler), summed over timed runs after warm-up, grouped
 * by node and by op type.
 *   npx tsx tools/bench/profile-serve.ts [--cands 1000] [--n 2000] [--k1 200] [--k2 50] [--runs 10] [--top 25]
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { type FeatureSchema, type Graph, type HostTensor, type LifelongConfig, LIFELONG_DEFAULTS, buildLifelong, initWeights } from '@lctr/spec';
import { lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { exportOnnx } from '@lctr/backend-onnx';

const { values } = parseArgs({ options: {
  cands: { type: 'string', default: '1000' }, n: { type: 'string', default: '2000' }, dim: { type: 'string', default: '64' },
  k1: { type: 'string', default: '200' }, k2: { type: 'string', default: '50' }, runs: { type: 'string', default: '10' }, top: { type: 'string', default: '25' },
} });
const C = Number(values.cands), N = Number(values.n), runs = Number(values.runs);
const cfg: Partial<LifelongConfig> = {
  ...LIFELONG_DEFAULTS, module: 'lap', dim: Number(values.dim), lifelongLen: N, users: 1000, targetItems: 2000, sourceItems: 20000, categories: 32,
  lap: { ...LIFELONG_DEFAULTS.lap, k1: Number(values.k1), k2: Number(values.k2) }, crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 },
};
const fullMask = () => (_rng: unknown, shape: readonly number[]) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);
const gens = { ...lifelongGens(cfg), lifelongMask: fullMask(), targetSeqMask: fullMask(), sourceSeqMask: fullMask() };
const g = buildLifelong(cfg) as Graph<FeatureSchema, string>;
const feeds = randomFeeds(g, { cand: C }, 7, gens) as Record<string, HostTensor>;
const session = await ort.InferenceSession.create(exportOnnx(g, initWeights(g, 5)), { executionProviders: ['cpu'], enableProfiling: true, profileFilePrefix: 'lctr-serve-prof' });
const ortFeeds: Record<string, ort.Tensor> = {};
for (const i of g.inputs) {
  const t = feeds[i.name]!;
  ortFeeds[i.name] = new ort.Tensor(t.dtype === 'bool' ? 'bool' : t.dtype as 'float32', t.dtype === 'bool' ? Uint8Array.from(t.data as Uint8Array) : t.data as Float32Array, [...t.shape]);
}
const wall: number[] = [];
for (let r = 0; r < runs + 3; r++) { const t = performance.now(); await session.run(ortFeeds); wall.push(performance.now() - t); }
const file = (session as unknown as { endProfiling(): string }).endProfiling?.();
await session.release();
// onnxruntime-node writes the profile in the working folder under the prefix
const path = typeof file === 'string' && file ? file : readdirSync('.').filter((f) => f.startsWith('lctr-serve-prof') && f.endsWith('.json')).sort().pop()!;
const events = JSON.parse(readFileSync(path, 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
rmSync(path, { force: true });
const kernel = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
// The first 3 runs are warm-up: keep the last `runs` runs' share (every node runs once per run).
const perRun = kernel.length / (runs + 3);
const timed = kernel.slice(Math.round(perRun * 3));
const byNode = new Map<string, { op: string; us: number }>(), byOp = new Map<string, number>();
let total = 0;
for (const e of timed) {
  const name = e.name.replace(/_kernel_time$/, ''), op = e.args?.op_name ?? '?';
  // an If's time is its branch's nodes' time, and those are listed themselves
  if (op === 'If') continue;
  const cur = byNode.get(name) ?? { op, us: 0 }; cur.us += e.dur; byNode.set(name, cur);
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur); total += e.dur;
}
const ms = (us: number) => (us / runs / 1e3).toFixed(2);
const sortedWall = wall.slice(3).sort((a, b) => a - b);
console.log(`LCN serving profile: C ${C}, N ${N}, K1 ${values.k1}, K2 ${values.k2}; wall p50 ${sortedWall[Math.floor(runs / 2)]!.toFixed(1)} ms; kernel time ${ms(total)} ms per run (sums over threads of parallel kernels are not included: ORT reports each node's wall; an If counts as its branch's nodes)`);
console.log('\nby op type (ms per run):');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${op.padEnd(22)} ${ms(us).padStart(8)}`);
console.log(`\nby node (top ${values.top}):`);
for (const [name, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, Number(values.top))) console.log(`  ${ms(v.us).padStart(8)}  ${v.op.padEnd(18)} ${name}`);
