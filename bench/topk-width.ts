#!/usr/bin/env tsx
/**
 * ONNX Runtime CPU's TopK (sorted, as the exporter emits it) over `rows` rows of n scores, as k
 * grows: its kernel keeps a heap of k below k = n^0.725 and partitions (nth_element) then sorts
 * from there on, so just below that switch a wider k is faster. The exporter's topk lowering
 * (backend-onnx ortTopkWidth) asks for the switch's k and slices; this bench is the evidence.
 *   npx tsx bench/topk-width.ts [--rows 1000] [--n 1000,2000] [--runs 15]
 */
import { scriptArgs } from '@lctr/spec/cli';
import * as ort from 'onnxruntime-node';
import { ortTopkWidth } from '@lctr/backend-onnx';
import { pseudoScores, topkOnlyModel } from './lcn-serving.ts';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    rows: { type: 'string', default: '1000' },
    n: { type: 'string', default: '1000,2000' },
    runs: { type: 'string', default: '15' },
  },
});
const rows = Number(values.rows),
  runs = Number(values.runs);

async function timeTopk(n: number, k: number, x: Float32Array): Promise<number> {
  const s = await ort.InferenceSession.create(topkOnlyModel(x, rows, n, k, true), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'disabled',
  });
  for (let i = 0; i < 3; i++) await s.run({});
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await s.run({});
    ms.push(performance.now() - t);
  }
  await s.release();
  return ms.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

console.log(`ONNX Runtime CPU TopK (sorted) over ${rows} rows, median of ${runs}; the heap/partition switch at k = ceil(n^0.725)`);
console.log('| n | k | ms | k the exporter asks for | its ms |\n|---:|---:|---:|---:|---:|');
for (const n of values.n.split(',').map(Number)) {
  const x = pseudoScores(rows * n);
  const limit = Math.ceil(n ** 0.725);
  for (const k of [
    ...new Set([
      Math.round(n / 40),
      Math.round(n / 20),
      Math.round(limit * 0.6),
      Math.round(limit * 0.8),
      limit - 1,
      limit,
      Math.round(n / 4),
    ]),
  ]
    .filter((k) => k >= 1 && k <= n)
    .sort((a, b) => a - b)) {
    const wide = ortTopkWidth(k, n);
    const ms = await timeTopk(n, k, x);
    const wideMs = wide === k ? ms : await timeTopk(n, wide, x);
    console.log(`| ${n} | ${k} | ${ms.toFixed(2)} | ${wide} | ${wideMs.toFixed(2)} |`);
  }
}
