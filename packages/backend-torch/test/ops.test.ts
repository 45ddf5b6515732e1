/**
 * The whole op catalogue (spec's OP_CASES: every op, several shapes, symbolic dims bound to
 * different sizes at run time, masks, ties, NaN and infinities) through the generated module, against
 * ref-cpu: in float64 within 1e-12 (forward and gradients), in float32 within the bars parity uses
 * for tfjs (DEFAULT_TOLERANCE, plus a case's stated exception). One python process per dtype.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { OP_NAMES, hashSeed, initWeights } from '@lctr/spec';
import { OP_CASES, randomFeeds, uncoveredOps } from '@lctr/spec/testing';
import { DEFAULT_TOLERANCE } from '@lctr/parity';
import type { TorchOutcome } from '../src/index.ts';
import { type CaseReport, type Expected, type ParityCase, compareCase, expectedOf, line, runCases } from './helpers.ts';

const FLOAT64_BAR = { forward: 1e-12, grad: 1e-12 };

const cases: ParityCase[] = OP_CASES.flatMap((c) =>
  c.dims.map((dims, k) => ({
    name: `${c.name}${c.dims.length > 1 ? ` ${JSON.stringify(dims)}` : ''}`,
    graph: c.graph,
    weights: initWeights(c.graph, hashSeed(c.name)),
    inputs: randomFeeds(c.graph, dims, hashSeed(c.name, k), c.gens),
    ...(c.tol ? { tol: c.tol } : {}),
  })),
);

describe('op catalogue: generated PyTorch module vs ref-cpu', () => {
  let expected: Expected[];
  let f64: TorchOutcome[];
  let f32: TorchOutcome[];
  beforeAll(() => {
    expected = cases.map(expectedOf);
    f64 = runCases(cases, expected, 'float64');
    f32 = runCases(cases, expected, 'float32');
  });

  it('covers every op of the vocabulary', () => {
    expect(uncoveredOps()).toEqual([]);
    expect(new Set(cases.flatMap((c) => c.graph.nodes.map((n) => n.op)))).toEqual(new Set(OP_NAMES));
  });

  it('float64: every case, forward and gradients within 1e-12 of ref-cpu', () => {
    const reports: CaseReport[] = cases.map((c, i) => compareCase(c, expected[i]!, f64[i]!, FLOAT64_BAR));
    for (const r of reports) console.log(`float64 ${line(r)}`);
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
    // gradients really were compared: most cases differentiate some parameter
    expect(expected.filter((e) => e.grads && e.grads.size > 0).length).toBeGreaterThan(cases.length / 2);
  });

  it('float32: every case within the parity bars used for tfjs', () => {
    const reports = cases.map((c, i) => compareCase(c, expected[i]!, f32[i]!, { ...DEFAULT_TOLERANCE, ...c.tol }));
    for (const r of reports) console.log(`float32 ${line(r)}`);
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
  });
});
