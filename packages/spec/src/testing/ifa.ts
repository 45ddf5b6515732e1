/** A small IFA config and index-range generators for it: shared by the IFA tests (spec, parity) and reports. */
import { GraphBuilder } from '../builder.ts';
import type { Graph } from '../graph.ts';
import { type IfaKernel, candidateSelfAttention, crossAttention } from '../blocks/ifa.ts';
import type { IfaConfigInput } from '../models/ifa.ts';
import { type FeedGen, gen } from './random-feeds.ts';

/**
 * C = 5 candidates, N = 12 events, d = 4 + 2, attention 3: every mask rule is exercised in
 * milliseconds. SIM soft / SIM hard / TWIN pick K = 4 of the 12 events (fewer than K valid in the
 * short requests, so padding picks occur).
 */
export const IFA_TEST_CONFIG: IfaConfigInput = {
  users: 7,
  targetItems: 30,
  sourceItems: 40,
  categories: 6,
  profile: [3, 2],
  cross: [4, 3],
  context: [5, 3],
  candidates: 5,
  seqLen: 12,
  dim: 4,
  categoryDim: 2,
  crossDim: 2,
  contextDim: 2,
  attnDim: 3,
  towers: [6],
  simSoft: { k: 4, gsuDim: 3, attentionDim: 3, auxWeight: 0.5 },
  simHard: { k: 4, attentionDim: 3 },
  twin: { k: 4, heads: 2, headDim: 2, outDim: 3 },
};

/**
 * Generators that keep every id inside its table for config c; masks are valid prefixes (short
 * and empty requests occur); labels are 0/1 (click independent of impression: the loss is defined
 * for any labels, the data side guarantees click <= impression).
 */
export function ifaGens(c: IfaConfigInput = IFA_TEST_CONFIG): Record<string, FeedGen> {
  const g: Record<string, FeedGen> = {
    user: gen.ints(c.users!),
    profile: gen.ints(Math.min(...(c.profile ?? [1]))),
    cand: gen.ints(c.targetItems!),
    candCategory: gen.ints(c.categories!),
    candMask: gen.prefixMask(),
    candCross: gen.ints(Math.min(...(c.cross ?? [1]))),
    seq: gen.ints(c.sourceItems!),
    seqCategory: gen.ints(c.categories!),
    seqMask: gen.prefixMask(),
    seqContext: gen.ints(Math.min(...(c.context ?? [1]))),
    impression: gen.ints(2),
    click: gen.ints(2),
  };
  for (const o of c.objectives ?? []) g[o] = gen.ints(2);
  return g;
}

/**
 * A graph around the two attention blocks (kernel `kernel`): inputs cand [r, c, 5], candMask,
 * seq [r, n, 6], seqMask; outputs cross, self [r, c, 3] and `sum` [r, c] (both reduced over the
 * last axis, from a second pair of blocks: the float output gradients are compared on).
 */
export function ifaAttentionTestGraph(kernel: IfaKernel): Graph {
  const b = new GraphBuilder(`ifa-att-${kernel}`, {
    cand: { dtype: 'float32', shape: ['r', 'c', 5] },
    candMask: { dtype: 'bool', shape: ['r', 'c'] },
    seq: { dtype: 'float32', shape: ['r', 'n', 6] },
    seqMask: { dtype: 'bool', shape: ['r', 'n'] },
  });
  const { cand, candMask, seq, seqMask } = b.inputs;
  const opts = { attnDim: 4, valueDim: 3, kernel };
  return b.build({
    cross: crossAttention(b, 'cross', cand, seq, seqMask, opts, candMask),
    self: candidateSelfAttention(b, 'self', cand, candMask, opts),
    sum: b.add(
      b.reduceSum(crossAttention(b, 'cross2', cand, seq, seqMask, opts, candMask), [2]),
      b.reduceSum(candidateSelfAttention(b, 'self2', cand, candMask, opts), [2]),
    ),
  });
}
