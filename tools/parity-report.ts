#!/usr/bin/env tsx
/**
 * Parity report: every lifelong-family model (training and serving graphs) and every case of the op
 * catalogue through ref-cpu, tfjs (cpu, wasm) and ONNX Runtime; writes the worst scaled error per
 * case and backend as markdown tables.
 *   npx tsx tools/parity-report.ts [--out PARITY.md]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildLifelong, buildLifelongTrain, hashSeed, initWeights, weightsFor } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, OP_CASES, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { type ParityBackend, DEFAULT_TOLERANCE, checkParity } from '@lctr/parity';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'PARITY.md' } } });
const backends: ParityBackend[] = ['tfjs-cpu', 'tfjs-wasm', 'onnx'];
const rows: string[] = [];
let failures = 0;
const worstOverall: Record<string, number> = {};
for (const c of OP_CASES) {
  for (const [k, dims] of c.dims.entries()) {
    const weights = initWeights(c.graph, hashSeed(c.name));
    const inputs = randomFeeds(c.graph, dims, hashSeed(c.name, k), c.gens);
    const label = `${c.name}${c.dims.length > 1 ? ` ${JSON.stringify(dims)}` : ''}`;
    const r = await checkParity({ name: label, graph: c.graph, weights, inputs, ...(c.tol ? { tol: c.tol } : {}) });
    if (!r.ok) failures++;
    const cells = backends.map((b) => {
      const w = r.worst[b];
      if (!w) return '-';
      worstOverall[`${b} fwd`] = Math.max(worstOverall[`${b} fwd`] ?? 0, w.forward);
      if (b !== 'onnx') worstOverall[`${b} grad`] = Math.max(worstOverall[`${b} grad`] ?? 0, w.grad);
      return b === 'onnx' ? w.forward.toExponential(1) : `${w.forward.toExponential(1)} / ${w.grad.toExponential(1)}`;
    });
    rows.push(`| ${label} | ${cells.join(' | ')} | ${r.ok ? 'ok' : 'FAIL'}${c.tol ? ` (tolerance exception: ${c.tol.reason})` : ''} |`);
  }
}
// model level: every lifelong-family model, training graph (forward + gradients of the loss, CRP
// included for LCN) and serving graph (one request of 6 candidates), random weights, padding
const modelRows: string[] = [];
for (const [label, module] of [['LCN (LAP + CRP)', 'lap'], ['SIM soft', 'simSoft'], ['SIM hard', 'simHard'], ['TWIN', 'twin'], ['DIN base only', 'none']] as const) {
  const cfg = { ...LIFELONG_TEST_CONFIG, module };
  const train = buildLifelongTrain(cfg), serve = buildLifelong(cfg);
  const weights = initWeights(train, hashSeed(label));
  const cases = [
    { name: `${label}: training graph`, graph: train, weights, inputs: randomFeeds(train, { batch: 5 }, hashSeed(label, 1), lifelongGens()), gradOutput: 'loss' },
    { name: `${label}: serving graph`, graph: serve, weights: weightsFor(serve, weights), inputs: randomFeeds(serve, { cand: 6 }, hashSeed(label, 2), lifelongGens()) },
  ];
  for (const c of cases) {
    const r = await checkParity(c);
    if (!r.ok) failures++;
    const cells = backends.map((b) => {
      const w = r.worst[b];
      return !w ? '-' : b === 'onnx' ? w.forward.toExponential(1) : `${w.forward.toExponential(1)} / ${w.grad.toExponential(1)}`;
    });
    modelRows.push(`| ${c.name} (${c.graph.params.length} parameters) | ${cells.join(' | ')} | ${r.ok ? 'ok' : 'FAIL'} |`);
  }
}

const text = [
  '# Parity',
  '',
  '## Models',
  '',
  'The lifelong family (packages/spec/src/models/lifelong.ts) on `LIFELONG_TEST_CONFIG` (N = 12, K1 = 6, K2 = 3, K = 4, M = 5; prefix masks, so short and empty histories occur), random weights; same metric and tolerances as below.',
  '',
  '| model | tfjs-cpu fwd / grad | tfjs-wasm fwd / grad | onnx fwd | result |',
  '|---|---|---|---|---|',
  ...modelRows,
  '',
  '## Ops',
  '',
  `Command: \`npx tsx tools/parity-report.ts\`. Written ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}.`,
  `Error metric: max_i |a_i - r_i| / max(|r_i|, rms(r)) against ref-cpu (float64); ints and bools must match exactly (shown as 0).`,
  `Tolerances: forward ${DEFAULT_TOLERANCE.forward.toExponential(0)}, gradients ${DEFAULT_TOLERANCE.grad.toExponential(0)}, unless the row states an exception (${OP_CASES.filter((c) => c.tol).length} cases do).`,
  '',
  `Worst over all cases: ${Object.entries(worstOverall).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}. Failing cases: ${failures}.`,
  '',
  '| case | tfjs-cpu fwd / grad | tfjs-wasm fwd / grad | onnx fwd | result |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
writeFileSync(values.out!, text);
console.log(`wrote ${values.out}: ${modelRows.length} model and ${rows.length} op runs, ${failures} failing`);
process.exitCode = failures ? 1 : 0;
