#!/usr/bin/env tsx
/**
 * Two (or more) exported serving models side by side in one process (LCN-200-50, or with
 * `--model ifa | ifa-avgpool` IFA's request model at its defaults): the same request
 * (C candidates, N = 2,000, full masks) through each, interleaved in blocks of 5 timed runs after
 * 2 warm-ups per block (ONNX Runtime's threads spin after a run and would slow an alternating
 * neighbour), medians over `--rounds` rounds; the largest probability difference from the first
 * model; with `--profile`, each model's ORT kernel time by op type. How a serving-graph change is
 * judged before it lands: write the model before the change (from a checkout of the old tree), then
 * after, then compare.
 *   npx tsx bench/serve-ab.ts --write before.onnx            (the current tree's model)
 *   npx tsx bench/serve-ab.ts before.onnx after.onnx [--rounds 12] [--cands 1000] [--profile] [--model lcn]
 *   --executor sequential,parallel: each file under each of ONNX Runtime's executors (parallel: 2
 *   inter-op threads, intra-op threads as --intra, default ORT's own).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { scriptArgs } from '@lctr/spec/cli';
import * as ort from 'onnxruntime-node';
import { type FeatureSchema, type Graph, type HostTensor, buildIfa, buildLifelong, ifaConfig, initWeights } from '@lctr/spec';
import { ifaGens, randomFeeds } from '@lctr/spec/testing';
import { exportOnnx } from '@lctr/backend-onnx';
import { fullMaskGens, lcnServingConfig, readOrtProfile } from './lcn-serving.ts';

const { values, positionals } = scriptArgs(import.meta.filename, {
  allowPositionals: true,
  options: {
    write: { type: 'string' },
    rounds: { type: 'string', default: '12' },
    cands: { type: 'string', default: '1000' },
    profile: { type: 'boolean', default: false },
    executor: { type: 'string', default: 'sequential' },
    intra: { type: 'string', default: '0' },
    model: { type: 'string', default: 'lcn' },
  },
});
const N = 2000;
const MODELS = {
  lcn: () => {
    const cfg = lcnServingConfig({ n: N });
    const graph = buildLifelong(cfg) as Graph<FeatureSchema, string>;
    return { graph, feeds: (C: number) => randomFeeds(graph, { cand: C }, 7, fullMaskGens(cfg)) };
  },
  ...Object.fromEntries(
    (['ifa', 'avgPool'] as const).map((module) => [
      module === 'ifa' ? 'ifa' : 'ifa-avgpool',
      () => {
        const graph = buildIfa({ module }) as Graph<FeatureSchema, string>;
        const ones = (_rng: unknown, shape: readonly number[]) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);
        return {
          graph,
          feeds: (C: number) =>
            randomFeeds(graph, { cand: C, seq: N }, 7, { ...ifaGens(ifaConfig({ module })), candMask: ones, seqMask: ones }),
        };
      },
    ]),
  ),
} as const;
const make = (MODELS as Record<string, (() => { graph: Graph<FeatureSchema, string>; feeds(C: number): unknown }) | undefined>)[
  values.model
];
if (!make) throw new Error(`serve-ab: --model must be one of ${Object.keys(MODELS).join(', ')}, got '${values.model}'`);
const { graph, feeds: feedsFor } = make();

if (values.write) {
  writeFileSync(values.write, exportOnnx(graph, initWeights(graph, 5)));
  console.log(`wrote ${values.write}`);
  process.exit(0);
}

const feeds = feedsFor(Number(values.cands)) as Record<string, HostTensor>;
const ortFeeds: Record<string, ort.Tensor> = {};
for (const i of graph.inputs) {
  const t = feeds[i.name]!;
  ortFeeds[i.name] = new ort.Tensor(t.dtype === 'bool' ? 'bool' : (t.dtype as 'float32'), t.data as Float32Array, [...t.shape]);
}
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const executors = values.executor.split(',').map((e): 'sequential' | 'parallel' => {
  if (e !== 'sequential' && e !== 'parallel') throw new Error(`serve-ab: --executor takes sequential and/or parallel, got '${e}'`);
  return e;
});
const intra = Number(values.intra);
const runsOf = positionals.flatMap((file) =>
  executors.map((executor) => ({ file, executor, label: executors.length > 1 ? `${file} [${executor}]` : file })),
);
if (runsOf.length < 2)
  throw new Error('serve-ab: give two or more .onnx files to compare, or one with two --executor values (or --write FILE)');
const sessions = await Promise.all(
  runsOf.map(({ file, executor }) =>
    ort.InferenceSession.create(readFileSync(file), {
      executionProviders: ['cpu'],
      executionMode: executor,
      ...(executor === 'parallel' ? { interOpNumThreads: 2 } : {}),
      ...(intra > 0 ? { intraOpNumThreads: intra } : {}),
    }),
  ),
);
const ms: number[][] = runsOf.map(() => []);
const probs: Float32Array[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (let i = 0; i < sessions.length; i++) {
    for (let r = 0; r < 7; r++) {
      const t = performance.now();
      const out = await sessions[i]!.run(ortFeeds);
      const dt = performance.now() - t;
      if (r >= 2) ms[i]!.push(dt);
      if (round === 0 && r === 0) probs[i] = Float32Array.from(out['prob']!.data as Float32Array);
    }
  }
}
await Promise.all(sessions.map((s) => s.release()));
console.log(
  `serving A/B: ${values.model === 'lcn' ? 'LCN-200-50' : values.model}, C ${values.cands}, N ${N}; ${values.rounds} rounds of 5 timed ` +
    `runs per model, interleaved`,
);
runsOf.forEach(({ label: f }, i) => {
  let d = 0;
  for (let j = 0; j < probs[0]!.length; j++) d = Math.max(d, Math.abs(probs[i]![j]! - probs[0]![j]!));
  console.log(
    `  ${f}: p50 ${median(ms[i]!).toFixed(2)} ms (${(median(ms[i]!) / median(ms[0]!)).toFixed(3)}x the first); max |prob - first's| ` +
      `${d.toExponential(2)}`,
  );
});

if (values.profile) {
  const runs = 20;
  for (const f of positionals) {
    const s = await ort.InferenceSession.create(readFileSync(f), {
      executionProviders: ['cpu'],
      enableProfiling: true,
      profileFilePrefix: 'lctr-ab-prof',
    });
    for (let r = 0; r < runs + 3; r++) await s.run(ortFeeds); // 3 warm-up runs
    (s as unknown as { endProfiling(): unknown }).endProfiling();
    await s.release();
    const byOp = new Map<string, number>();
    let total = 0;
    for (const e of readOrtProfile('lctr-ab-prof', runs + 3, 3)) {
      byOp.set(e.op, (byOp.get(e.op) ?? 0) + e.us);
      total += e.us;
    }
    const perRun = (us: number) => (us / runs / 1e3).toFixed(1);
    console.log(
      `  ${f} kernel time ${perRun(total)} ms per run: ${[...byOp]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([op, us]) => `${op} ${perRun(us)}`)
        .join(', ')}`,
    );
  }
}
