/** A tiny DIN for tests (training graph with every sample feature) and feed generators matching it. */
import { type FeedGen, gen } from '../random-feeds.ts';

export const DIN_TEST_CONFIG = {
  dim: 4,
  categoryDim: 2,
  seqLen: 6,
  users: 20,
  targetItems: 40,
  sourceItems: 50,
  categories: 5,
  profile: [3],
  hidden: [8],
  attention: [4],
};

/** Ids within DIN_TEST_CONFIG's tables, masks valid prefixes. */
export const dinGens = (): Record<string, FeedGen> => ({
  user: gen.ints(DIN_TEST_CONFIG.users),
  profile: gen.ints(3),
  candidate: gen.ints(DIN_TEST_CONFIG.targetItems),
  candidateCategory: gen.ints(DIN_TEST_CONFIG.categories),
  targetSeq: gen.ints(DIN_TEST_CONFIG.targetItems),
  targetSeqCategory: gen.ints(DIN_TEST_CONFIG.categories),
  targetSeqMask: gen.prefixMask(),
  sourceSeq: gen.ints(DIN_TEST_CONFIG.sourceItems),
  sourceSeqCategory: gen.ints(DIN_TEST_CONFIG.categories),
  sourceSeqMask: gen.prefixMask(),
  label: gen.ints(2),
});
