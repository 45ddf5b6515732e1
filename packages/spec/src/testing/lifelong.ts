/** A small lifelong-family config and index-range generators for it: shared by the parity tests and the parity report. */
import type { LifelongConfig } from '../models/lifelong.ts';
import { CRP_DEFAULTS } from '../blocks/crp.ts';
import { type FeedGen, gen } from './random-feeds.ts';

/** N = 12, d = 4 + 2, K1 = 6, K2 = 3, K = 4, M = 5: every level, pick and mask rule is exercised in milliseconds. */
export const LIFELONG_TEST_CONFIG: Partial<LifelongConfig> = {
  dim: 4,
  categoryDim: 2,
  seqLen: 5,
  users: 10,
  targetItems: 30,
  sourceItems: 40,
  categories: 6,
  profile: [3, 2],
  hidden: [8],
  attention: [4],
  lifelongLen: 12,
  context: [5, 3],
  contextDim: 2,
  lap: {
    k1: 6,
    k2: 3,
    attentionDim: 4,
    heads: 2,
    headDim: 2,
    ffnDim: 4,
    outDim: 3,
    csaNormalize: 'softmax',
    msaNormalize: 'softmax',
    fsaPool: 'mean',
  },
  simSoft: { k: 4, gsuDim: 3, attentionDim: 4, auxWeight: 1 },
  simHard: { k: 4, attentionDim: 4 },
  twin: { k: 4, heads: 2, headDim: 2 },
  crp: { ...CRP_DEFAULTS, lambda: 0.1, negatives: 5 },
};

/** Generators that keep every id inside its table for config c (prefix masks: short and empty rows occur). */
export function lifelongGens(c: Partial<LifelongConfig> = LIFELONG_TEST_CONFIG): Record<string, FeedGen> {
  const both = Math.min(c.targetItems!, c.sourceItems!);
  return {
    user: gen.ints(c.users!),
    profile: gen.ints(Math.min(...c.profile!)),
    candidate: gen.ints(c.targetItems!),
    candidateCategory: gen.ints(c.categories!),
    targetSeq: gen.ints(c.targetItems!),
    targetSeqCategory: gen.ints(c.categories!),
    targetSeqMask: gen.prefixMask(),
    sourceSeq: gen.ints(c.sourceItems!),
    sourceSeqCategory: gen.ints(c.categories!),
    sourceSeqMask: gen.prefixMask(),
    lifelongSeq: gen.ints(c.sourceItems!),
    lifelongSeqCategory: gen.ints(c.categories!),
    lifelongMask: gen.prefixMask(),
    lifelongContext: gen.ints(Math.min(...c.context!)),
    crpPt: gen.ints(c.targetItems!),
    crpPs: gen.ints(c.sourceItems!),
    crpPc: gen.ints(both),
    crpPtNeg: gen.ints(c.targetItems!),
    crpPsNeg: gen.ints(c.sourceItems!),
    crpPcNeg: gen.ints(both),
    label: gen.ints(2),
  };
}
