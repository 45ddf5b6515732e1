#!/usr/bin/env tsx
/**
 * The peer a user would pick instead (issue 22, item 3): LCN-200-50's serving graph (N = 2,000,
 * d = 64, K1 = 200, K2 = 50; one user, C candidates, full masks) served by PyTorch 1.13 on this
 * machine, eager and TorchScript, float32, at each torch thread setting, against our ONNX export
 * (float32, and the int8 export) in ONNX Runtime CPU, in one run: ONNX Runtime timed before and
 * after the python process (its median of both halves), the same request (the same safetensors
 * bytes feed both), scores compared (max |Δprob| of torch eager vs each ONNX file).
 * The PyTorch module is generated from the same IR by @lctr/backend-torch (torchSource), with the
 * same weights; bench/peer/serve_peer.py times it and says which BLAS torch has loaded.
 * Weights: seeded (initWeights, as serve-floor), or a model directory's graph.json and
 * weights.safetensors (--model-dir out/models/lcn: the trained export, its graph at its own sizes).
 *
 *   npx tsx bench/serve-peer.ts [--cands 100,1000] [--threads 1,2] [--runs 20] [--model-dir DIR] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type Weights,
  buildLifelong,
  buildLifelongTrain,
  decodeSafetensors,
  encodeSafetensors,
  graphFromJSON,
  initWeights,
  readWeightsFile,
  weightsFor,
} from '@lctr/spec';
import { randomFeeds } from '@lctr/spec/testing';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { PY_SAFETENSORS, torchSource } from '@lctr/backend-torch';
import { servingOnnx } from '@lctr/exporter';
import { fullMaskGens, lcnServingConfig } from './lcn-serving.ts';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    cands: { type: 'string', default: '100,1000' },
    threads: { type: 'string', default: '1,2' },
    runs: { type: 'string', default: '20' },
    'model-dir': { type: 'string' },
    json: { type: 'string' },
  },
});
const cands = values.cands.split(',').map(Number);
const runs = Number(values.runs);

const cfg = lcnServingConfig({});
let serving: Graph<FeatureSchema, string>;
let weights: Weights;
if (values['model-dir']) {
  serving = graphFromJSON(readFileSync(join(values['model-dir'], 'graph.json'), 'utf8'));
  weights = readWeightsFile(join(values['model-dir'], 'weights.safetensors')).weights;
} else {
  serving = buildLifelong(cfg) as Graph<FeatureSchema, string>;
  weights = weightsFor(serving, initWeights(buildLifelongTrain(cfg), 5));
}
const feedsFor = (C: number) =>
  randomFeeds(serving, { cand: C }, 7, fullMaskGens(values['model-dir'] ? (serving.meta['config'] as typeof cfg) : cfg)) as Record<
    string,
    HostTensor
  >;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
};

const float32 = exportOnnx(serving, weights);
const int8 = servingOnnx(serving, weights, { precision: 'int8' }).bytes;

/** ONNX Runtime p50 over `n` runs after 3 warm-ups, each file in its own block (threads spin after a run). */
async function ortTimes(feeds: Record<string, HostTensor>, n: number) {
  const out: Record<'float32' | 'int8', { ms: number[]; prob: Float32Array }> = {
    float32: { ms: [], prob: new Float32Array() },
    int8: { ms: [], prob: new Float32Array() },
  };
  for (const [name, bytes] of [
    ['float32', float32],
    ['int8', int8],
  ] as const) {
    const s = await OnnxSession.create(bytes, serving, { provider: 'cpu' });
    try {
      await new Promise((done) => setTimeout(done, 50));
      for (let i = 0; i < n + 3; i++) {
        const t = performance.now();
        const o = await s.run(feeds as never);
        if (i >= 3) out[name].ms.push(performance.now() - t);
        out[name].prob = o.prob.data as Float32Array;
      }
    } finally {
      await s.release();
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'lctr-serve-peer-'));
try {
  const threads = values.threads.split(',').map(Number);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ cands, threads, runs, warmup: 3 }));
  writeFileSync(join(dir, 'st.py'), `import json, struct\nimport torch\n${PY_SAFETENSORS}`);
  writeFileSync(join(dir, 'model.py'), torchSource(serving, { dtype: 'float32' }));
  writeFileSync(join(dir, 'weights.safetensors'), encodeSafetensors(weights));
  const feeds = new Map(cands.map((C) => [C, feedsFor(C)]));
  for (const [C, f] of feeds) writeFileSync(join(dir, `inputs-${C}.safetensors`), encodeSafetensors(new Map(Object.entries(f))));

  const half = Math.ceil(runs / 2);
  const before = new Map<number, Awaited<ReturnType<typeof ortTimes>>>();
  for (const [C, f] of feeds) before.set(C, await ortTimes(f, half));
  const py = spawnSync('/usr/bin/python3', [join(import.meta.dirname, 'peer', 'serve_peer.py'), dir], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (py.status !== 0) {
    console.error(py.stderr.slice(-3000));
    throw new Error(`serve_peer.py failed (exit ${py.status})`);
  }
  const peer = JSON.parse(py.stdout.trim().split('\n').pop()!) as {
    torch: string;
    blas: string[];
    interop: number;
    rows: Array<{
      C: number;
      threads: number;
      eager: { p50: number; p99: number };
      torchscript: { p50: number; p99: number; how: string; maxAbsVsEager: number };
    }>;
  };
  console.log(
    `LCN serving (${serving.name}${values['model-dir'] ? ` from ${values['model-dir']}` : ', LCN-200-50, seeded weights'}): ONNX Runtime cpu (default threads, ${cpus().length} cores) vs PyTorch ${peer.torch} ` +
      `(module generated by @lctr/backend-torch, float32; BLAS ${peer.blas.join(', ')}); ${cpus()[0]?.model ?? ''}`,
  );
  const rows: Array<Record<string, unknown>> = [];
  for (const [C, f] of feeds) {
    const after = await ortTimes(f, runs - half);
    const b = before.get(C)!;
    const ort32 = percentile([...b.float32.ms, ...after.float32.ms], 0.5),
      ort8 = percentile([...b.int8.ms, ...after.int8.ms], 0.5);
    const torchProb = decodeSafetensors(readFileSync(join(dir, `prob-${C}.safetensors`)), 'prob').tensors.get('prob')!.data as Float32Array;
    const maxAbs = (p: Float32Array) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - torchProb[i]!)), 0);
    const forms = peer.rows
      .filter((r) => r.C === C)
      .flatMap((r) => [
        { form: 'eager', threads: r.threads, p50: r.eager.p50 },
        { form: `torchscript (${r.torchscript.how})`, threads: r.threads, p50: r.torchscript.p50 },
      ]);
    const best = forms.reduce((a, x) => (x.p50 < a.p50 ? x : a));
    const row = {
      C,
      ort: { float32: ort32, int8: ort8, float32Halves: [percentile(b.float32.ms, 0.5), percentile(after.float32.ms, 0.5)] },
      torch: forms,
      best,
      speedup: { float32: best.p50 / ort32, int8: best.p50 / ort8 },
      maxAbsProb: { float32: maxAbs(b.float32.prob), int8: maxAbs(b.int8.prob) },
    };
    rows.push(row);
    console.log(
      `C ${C}: ONNX float32 p50 ${ort32.toFixed(2)} ms (before/after python ${row.ort.float32Halves.map((x) => x.toFixed(2)).join(' / ')}), int8 p50 ${ort8.toFixed(2)} ms; ` +
        `PyTorch ${forms.map((x) => `${x.form} ${x.threads}t ${x.p50.toFixed(2)}`).join(', ')} ms; best ${best.form} ${best.threads}t: ` +
        `ONNX float32 ${row.speedup.float32.toFixed(2)}x faster, int8 ${row.speedup.int8.toFixed(2)}x (goal 3x at C = 1,000); ` +
        `max |Δprob| torch eager vs ONNX float32 ${row.maxAbsProb.float32.toExponential(2)}, vs int8 ` +
        `${row.maxAbsProb.int8.toExponential(2)}`,
    );
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ torch: peer.torch, blas: peer.blas, rows }, null, 2) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
