/**
 * FLOPs of one forward pass of a graph: the counter moved to @lctr/spec (spec/src/flops.ts, where
 * the trainer's model summary uses it too); re-exported here for the benchmarks.
 */
export { type CountFlopsOptions, type FlopCount, type MatmulShape, countFlops } from '@lctr/spec';
