#!/usr/bin/env tsx
/**
 * Where one LCN serving request's time goes on ONNX Runtime CPU: the per-node profile of the
 * exported per-request graph (ORT's own profiler), summed over timed runs after warm-up, grouped
 * by node and by op type.
 *   npx tsx bench/profile-serve.ts [--cands 1000] [--n 2000] [--k1 200] [--k2 50] [--runs 10] [--top 25]
 */
import { scriptArgs } from '@lctr/spec/cli';
import * as ort from 'onnxruntime-node';
import { type FeatureSchema, type Graph, type HostTensor, buildLifelong, initWeights } from '@lctr/spec';
import { randomFeeds } from '@lctr/spec/testing';
import { exportOnnx } from '@lctr/backend-onnx';
import { fullMaskGens, lcnServingConfig, readOrtProfile } from './lcn-serving.ts';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    cands: { type: 'string', default: '1000' },
    n: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '64' },
    k1: { type: 'string', default: '200' },
    k2: { type: 'string', default: '50' },
    runs: { type: 'string', default: '10' },
    top: { type: 'string', default: '25' },
  },
});
const C = Number(values.cands),
  N = Number(values.n),
  runs = Number(values.runs);
const cfg = lcnServingConfig({ n: N, dim: Number(values.dim), k1: Number(values.k1), k2: Number(values.k2) });
const gens = fullMaskGens(cfg);
const g = buildLifelong(cfg) as Graph<FeatureSchema, string>;
const feeds = randomFeeds(g, { cand: C }, 7, gens) as Record<string, HostTensor>;
const session = await ort.InferenceSession.create(exportOnnx(g, initWeights(g, 5)), {
  executionProviders: ['cpu'],
  enableProfiling: true,
  profileFilePrefix: 'lctr-serve-prof',
});
const ortFeeds: Record<string, ort.Tensor> = {};
for (const i of g.inputs) {
  const t = feeds[i.name]!;
  ortFeeds[i.name] = new ort.Tensor(
    t.dtype === 'bool' ? 'bool' : (t.dtype as 'float32'),
    t.dtype === 'bool' ? Uint8Array.from(t.data as Uint8Array) : (t.data as Float32Array),
    [...t.shape],
  );
}
const wall: number[] = [];
for (let r = 0; r < runs + 3; r++) {
  const t = performance.now();
  await session.run(ortFeeds);
  wall.push(performance.now() - t);
}
const file = (session as unknown as { endProfiling(): string }).endProfiling?.();
await session.release();
const byNode = new Map<string, { op: string; us: number }>(),
  byOp = new Map<string, number>();
let total = 0;
for (const e of readOrtProfile('lctr-serve-prof', runs + 3, 3, file)) {
  const cur = byNode.get(e.node) ?? { op: e.op, us: 0 };
  cur.us += e.us;
  byNode.set(e.node, cur);
  byOp.set(e.op, (byOp.get(e.op) ?? 0) + e.us);
  total += e.us;
}
const ms = (us: number) => (us / runs / 1e3).toFixed(2);
const sortedWall = wall.slice(3).sort((a, b) => a - b);
console.log(
  `LCN serving profile: C ${C}, N ${N}, K1 ${values.k1}, K2 ${values.k2}; wall p50 ${sortedWall[Math.floor(runs / 2)]!.toFixed(1)} ms; ` +
    `kernel time ${ms(total)} ms per run (sums over threads of parallel kernels are not included: ORT reports each node's wall; an If ` +
    `counts as its branch's nodes)`,
);
console.log('\nby op type (ms per run):');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${op.padEnd(22)} ${ms(us).padStart(8)}`);
console.log(`\nby node (top ${values.top}):`);
for (const [name, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, Number(values.top)))
  console.log(`  ${ms(v.us).padStart(8)}  ${v.op.padEnd(18)} ${name}`);
