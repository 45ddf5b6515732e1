/**
 * Whole models through the generated module against ref-cpu: the LCN training graph (CRP included)
 * and the other lifelong modules, IFA and KEEP training graphs, the LCN serving graph; forward and
 * the gradient of every parameter (of `loss`, against a seeded cotangent), float64 within 1e-12 and
 * float32 within the parity bars used for tfjs. Ids at padded positions hold -1 and 2^31 - 1: the
 * module itself must read row 0 there (the runner hands python the feeds as given).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type DimBindings,
  type FeatureSchema,
  type Graph,
  buildIfaTrain,
  buildKeepTrain,
  buildLifelong,
  buildLifelongTrain,
  hashSeed,
  initWeights,
} from '@lctr/spec';
import {
  IFA_TEST_CONFIG,
  KEEP_TEST_CONFIG,
  LIFELONG_TEST_CONFIG,
  ifaGens,
  keepGens,
  keepSpreadWeights,
  lifelongGens,
  nestKeepLabels,
  randomFeeds,
  withPaddingIds,
} from '@lctr/spec/testing';
import { DEFAULT_TOLERANCE } from '@lctr/parity';
import type { TorchOutcome } from '../src/index.ts';
import { type Expected, type ParityCase, compareCase, expectedOf, line, runCases } from './helpers.ts';

function modelCase(
  name: string,
  graph: Graph<FeatureSchema, string>,
  dims: DimBindings,
  gens: Parameters<typeof randomFeeds>[3],
  keep = false,
): ParityCase {
  let feeds = randomFeeds(graph, dims, hashSeed(name), gens) as Record<string, never>;
  if (keep) feeds = nestKeepLabels(feeds);
  const { feeds: padded, written } = withPaddingIds(graph, feeds, (i) => (i % 2 ? -1 : 2 ** 31 - 1));
  if (written === 0 && name !== 'keep train') throw new Error(`${name}: no padded id to fill`);
  // KEEP's five-layer toy towers: spread weights, as parity's KEEP test uses (Xavier at these widths leaves
  // gradients that cancel to float32 rounding)
  const weights = keep ? keepSpreadWeights(graph, 12) : initWeights(graph, hashSeed(name, 'w'));
  return { name, graph, weights, inputs: padded, gradOutput: 'loss' in graph.outputs ? 'loss' : 'prob' };
}

const lcnTrain = buildLifelongTrain(LIFELONG_TEST_CONFIG);
const cases: ParityCase[] = [
  modelCase('lcn train', lcnTrain, { batch: 6 }, lifelongGens()),
  modelCase('lcn serve', buildLifelong(LIFELONG_TEST_CONFIG), { cand: 4 }, lifelongGens()),
  ...(['simSoft', 'simHard', 'twin'] as const).map((module) =>
    modelCase(
      `${module} train`,
      buildLifelongTrain({ ...LIFELONG_TEST_CONFIG, module, crp: { ...LIFELONG_TEST_CONFIG.crp!, lambda: 0 } }),
      { batch: 5 },
      lifelongGens(),
    ),
  ),
  modelCase('ifa train', buildIfaTrain(IFA_TEST_CONFIG), { batch: 3 }, ifaGens()),
  modelCase('keep train', buildKeepTrain(KEEP_TEST_CONFIG), { batch: 8 }, keepGens(), true),
];

describe('models: generated PyTorch module vs ref-cpu', () => {
  let expected: Expected[];
  let f64: TorchOutcome[];
  let f32: TorchOutcome[];
  beforeAll(() => {
    expected = cases.map(expectedOf);
    f64 = runCases(cases, expected, 'float64');
    f32 = runCases(cases, expected, 'float32');
  });

  it('the LCN training graph: forward and every gradient within 1e-12 in float64', () => {
    const r = compareCase(cases[0]!, expected[0]!, f64[0]!, { forward: 1e-12, grad: 1e-12 });
    console.log(`float64 ${line(r)}`);
    expect(r.failures).toEqual([]);
    // all 30 parameters compared, CRP's pair inputs among the feeds
    expect(expected[0]!.grads!.size).toBe(lcnTrain.params.length);
    expect(lcnTrain.params.length).toBe(30);
    expect(lcnTrain.inputs.some((i) => i.name === 'crpPtNeg')).toBe(true);
    if (f64[0]!.ok) expect(Object.keys(f64[0]!.result.outputs).sort()).toEqual(['loss', 'prob']);
  });

  it('every model within 1e-12 in float64', () => {
    const reports = cases.map((c, i) => compareCase(c, expected[i]!, f64[i]!, { forward: 1e-12, grad: 1e-12 }));
    for (const r of reports) console.log(`float64 ${line(r)}`);
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
  });

  it('every model within the parity bars in float32', () => {
    const reports = cases.map((c, i) => compareCase(c, expected[i]!, f32[i]!, DEFAULT_TOLERANCE));
    for (const r of reports) console.log(`float32 ${line(r)}`);
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
  });
});
