#!/usr/bin/env tsx
/**
 * LAP's selection section on ONNX Runtime CPU, in the forms issue 8's serving budget weighs: from
 * the K1 scores r [C, N] and MSA's scores of all N positions [C, N] to MSA's pool [C, da] and the
 * K2 picks (sequence positions), at LCN-200-50's sizes (C = 1,000, N = 2,000, K1 = 200, K2 = 50).
 *   exported        what the exporter emitted before K1 became a set: TopK(k 248, sorted) sliced to K1, GatherElements of
 *                   the K1 scores, Softmax, ScatterElements of the weights into a [C, N] row of
 *                   zeros (Expand), one [C, N] x [N, da] product; TopK(K2, sorted) of the K1
 *                   scores, the picks mapped back (GatherElements).
 *   exported, ConstantOfShape zeros   the same with the zeros from ConstantOfShape.
 *   set             K1 as a set: TopK(k 248, unsorted), the exact top K1 of those by a float64
 *                   key (the value, then the lower index: finite values only, as here), a 0 / -inf
 *                   bias scattered at the picks, one Softmax over [C, N] and the product; K2 as an
 *                   unsorted TopK of the masked row. Ties at K2's boundary go to the earlier
 *                   sequence position: SPEC's rule since 2026-12, and the exporter's form since
 *                   (blocks/lap.ts msa 'shared', lower/opset17.ts picksAsSet / exactTopOfSet;
 *                   its off-pick entries are a finite -2^96, not -inf).
 *   set, sorted K2  the same with a sorted K2.
 * Scores: seeded, 30% of the positions repeat an earlier one (a repeated item scores the same).
 * Each form's sum of the pool and of its K2 positions is printed (equal sums: the same picks).
 *   npx tsx bench/lap-select.ts [--rounds 8]
 */
import { scriptArgs } from '@lctr/spec/cli';
import * as ort from 'onnxruntime-node';
import { onnx, ortTopkWidth } from '@lctr/backend-onnx';

const { values } = scriptArgs(import.meta.filename, { options: { rounds: { type: 'string', default: '8' } } });
const C = 1000,
  N = 2000,
  DA = 64,
  K1 = 200,
  K2 = 50;
const WIDTH = ortTopkWidth(K1, N);

type Attr = ReturnType<typeof onnx.AttributeProto.create>;
const int = (name: string, i: number): Attr => onnx.AttributeProto.create({ name, type: 2, i });
const node = (op: string, input: string[], output: string[], attribute: Attr[] = []) =>
  onnx.NodeProto.create({ opType: op, input, output, attribute });
const ints = (name: string, v: number[]) => onnx.TensorProto.create({ name, dataType: 7, dims: [v.length], int64Data: v });
const scalar = (name: string, v: number, dataType = 1) =>
  onnx.TensorProto.create({ name, dataType, dims: [], ...(dataType === 11 ? { doubleData: [v] } : { floatData: [v] }) });
const fill = (v: number): Attr =>
  onnx.AttributeProto.create({ name: 'value', type: 4, t: onnx.TensorProto.create({ dataType: 1, dims: [1], floatData: [v] }) });
const info = (name: string, dims: (number | string)[], elemType = 1) =>
  onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });

/** A model of the section: inputs r, msa [cand, N], values [N, da]; outputs the pool's sum and the sum of the K2 positions. */
function model(nodes: ReturnType<typeof node>[]): Uint8Array {
  const constants = [
    ints('width', [WIDTH]),
    ints('k1', [K1]),
    ints('k2', [K2]),
    ints('zero1', [0]),
    ints('axis1', [1]),
    scalar('zero', 0),
    scalar('invSqrtDa', 1 / Math.sqrt(DA)),
    scalar('tiny', 2 ** -126, 11),
    scalar('tieStep', 2 ** -(25 + Math.ceil(Math.log2(N))), 11),
  ];
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const graph = onnx.GraphProto.create({
    name: 'lap-select',
    initializer: constants.filter((t) => read.has(t.name!)),
    node: [
      ...nodes,
      node('ReduceSum', ['pool'], ['poolSum'], [int('keepdims', 0)]),
      node('Cast', ['k2Picks'], ['k2f'], [int('to', 1)]),
      node('ReduceSum', ['k2f'], ['k2Sum'], [int('keepdims', 0)]),
    ],
    input: [info('r', ['cand', N]), info('msa', ['cand', N]), info('values', [N, DA])],
    output: [info('poolSum', []), info('k2Sum', [])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}

function exported(zeros: 'Expand' | 'ConstantOfShape'): Uint8Array {
  return model([
    node('TopK', ['r', 'width'], ['k1Wide', 'k1WideIdx'], [int('axis', -1), int('sorted', 1)]),
    node('Slice', ['k1WideIdx', 'zero1', 'k1', 'axis1'], ['k1Idx']),
    node('GatherElements', ['msa', 'k1Idx'], ['k1Raw'], [int('axis', 1)]),
    node('Mul', ['k1Raw', 'invSqrtDa'], ['k1Scores']),
    node('Softmax', ['k1Scores'], ['k1Weights'], [int('axis', -1)]),
    node('Shape', ['r'], ['rowShape']),
    zeros === 'Expand' ? node('Expand', ['zero', 'rowShape'], ['zeros']) : node('ConstantOfShape', ['rowShape'], ['zeros'], [fill(0)]),
    node('ScatterElements', ['zeros', 'k1Idx', 'k1Weights'], ['weightRow'], [int('axis', 1)]),
    node('MatMul', ['weightRow', 'values'], ['pool']),
    node('TopK', ['k1Scores', 'k2'], ['k2Scores', 'k2Of1'], [int('axis', -1), int('sorted', 1)]),
    node('GatherElements', ['k1Idx', 'k2Of1'], ['k2Picks'], [int('axis', 1)]),
  ]);
}

function asSet(k2Sorted: boolean): Uint8Array {
  return model([
    node('TopK', ['r', 'width'], ['wideValues', 'wideIdx'], [int('axis', -1), int('sorted', 0)]),
    // key = v - index * max(|v|, 2^-126) * 2^-(25 + ceil(log2 N)): below half a float32 step of v, so
    // distinct values keep their order and equal values rank by the lower index (exact in float64)
    node('Cast', ['wideValues'], ['v64'], [int('to', 11)]),
    node('Abs', ['v64'], ['abs64']),
    node('Max', ['abs64', 'tiny'], ['mag']),
    node('Mul', ['mag', 'tieStep'], ['step']),
    node('Cast', ['wideIdx'], ['idx64'], [int('to', 11)]),
    node('Mul', ['idx64', 'step'], ['tie']),
    node('Sub', ['v64', 'tie'], ['key']),
    node('TopK', ['key', 'k1'], ['_k1Key', 'k1OfWide'], [int('axis', -1), int('sorted', 0)]),
    node('GatherElements', ['wideIdx', 'k1OfWide'], ['k1Idx'], [int('axis', 1)]),
    node('Shape', ['r'], ['rowShape']),
    node('ConstantOfShape', ['rowShape'], ['offRow'], [fill(-Infinity)]),
    node('Shape', ['k1Idx'], ['k1Shape']),
    node('ConstantOfShape', ['k1Shape'], ['k1Zeros'], [fill(0)]),
    node('ScatterElements', ['offRow', 'k1Idx', 'k1Zeros'], ['k1Bias'], [int('axis', 1)]),
    node('Mul', ['msa', 'invSqrtDa'], ['scaled']),
    node('Add', ['scaled', 'k1Bias'], ['masked']),
    node('Softmax', ['masked'], ['weightRow'], [int('axis', -1)]),
    node('MatMul', ['weightRow', 'values'], ['pool']),
    node('TopK', ['masked', 'k2'], ['_k2Scores', 'k2Picks'], [int('axis', -1), int('sorted', k2Sorted ? 1 : 0)]),
  ]);
}

const forms: Record<string, Uint8Array> = {
  exported: exported('Expand'),
  'exported, ConstantOfShape zeros': exported('ConstantOfShape'),
  set: asSet(false),
  'set, sorted K2': asSet(true),
};
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const source = Array.from({ length: N }, (_, n) => (n > 10 && rnd() < 0.3 ? Math.floor(rnd() * n) : n));
const r = new Float32Array(C * N),
  msa = new Float32Array(C * N);
for (let c = 0; c < C; c++)
  for (let n = 0; n < N; n++) {
    const at = c * N + n,
      from = c * N + source[n]!;
    r[at] = source[n] === n ? rnd() * 4 - 2 : r[from]!;
    msa[at] = source[n] === n ? rnd() * 4 - 2 : msa[from]!;
  }
const valuesRow = Float32Array.from({ length: N * DA }, (_, i) => Math.sin(i));
const feeds = {
  r: new ort.Tensor('float32', r, [C, N]),
  msa: new ort.Tensor('float32', msa, [C, N]),
  values: new ort.Tensor('float32', valuesRow, [N, DA]),
};
const names = Object.keys(forms);
const sessions = await Promise.all(names.map((n) => ort.InferenceSession.create(forms[n]!, { executionProviders: ['cpu'] })));
const ms: number[][] = names.map(() => []);
const sums: string[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (let i = 0; i < names.length; i++) {
    await new Promise((done) => setTimeout(done, 50)); // the last session's spinning threads go idle
    for (let k = 0; k < 7; k++) {
      const t = performance.now();
      const out = await sessions[i]!.run(feeds);
      if (k >= 2) ms[i]!.push(performance.now() - t);
      sums[i] =
        `pool sum ${(out['poolSum']!.data as Float32Array)[0]!.toFixed(5)}, K2 positions sum ${(out['k2Sum']!.data as Float32Array)[0]}`;
    }
  }
}
await Promise.all(sessions.map((s) => s.release()));
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `LAP selection section, C ${C}, N ${N}, K1 ${K1}, K2 ${K2}, da ${DA}; ONNX Runtime CPU; medians of ${Number(values.rounds) * 5} runs, ` +
    `interleaved`,
);
names.forEach((n, i) =>
  console.log(`  ${n.padEnd(32)} ${median(ms[i]!).toFixed(2)} ms (${(median(ms[i]!) / median(ms[0]!)).toFixed(3)}x exported)  ${sums[i]}`),
);
