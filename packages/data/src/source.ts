/**
 * The boundary between data and training: a SampleSource materialises any subset of its samples as
 * one batch, typed by a model's feature schema. The trainer owns the order (a seeded permutation
 * per epoch), so a run can resume at any step and see exactly the batches it would have seen.
 */
import type { FeatureSchema, InputsOf } from '@lctr/spec';

export interface SampleSource<S extends FeatureSchema = FeatureSchema> {
  readonly schema: S;
  /** number of samples */
  readonly size: number;
  /** the samples at these positions (0..size-1), in this order, as one batch ('batch' = indices.length) */
  batch(indices: Int32Array): InputsOf<S>;
  /** label (0/1) of every sample, for metrics */
  readonly labels: Uint8Array;
  /** group (user) of every sample, for GAUC */
  readonly groups: Int32Array;
  /** the true click probability of every sample when the data is synthetic (for the Bayes AUC) */
  readonly trueProbability?: Float32Array;
  /**
   * Samples with several scored slots (a request of C candidates): what evaluation scores, first =
   * the headline. When present the trainer evaluates these (not `prob` vs `labels`); `labels` and
   * `groups` above still hold one entry per sample (e.g. any click, the user).
   */
  readonly targets?: readonly EvalTarget[];
  /** slots per sample of every target (C); required with `targets` */
  readonly slots?: number;
}

/**
 * One evaluation objective of a multi-slot source: the graph output `output` ([batch, slots]
 * float32 probabilities) scored against `labels` at the slots where `valid` is 1. Every array is
 * per slot, sample-major (index = sample * slots + slot), length size * slots.
 */
export interface EvalTarget {
  /** e.g. 'click' (the headline), 'impression', 'ranking' */
  readonly name: string;
  /** name of the graph output scored */
  readonly output: string;
  /** 0/1 per slot */
  readonly labels: Uint8Array;
  /** 1 where the slot counts for this objective (a valid candidate; an impressed one for click) */
  readonly valid: Uint8Array;
  /** group (user) of every slot, for GAUC */
  readonly groups: Int32Array;
  /** the true probability of every slot when the data is synthetic (for the Bayes AUC) */
  readonly trueProbability?: Float32Array;
}

/**
 * Feature names every sample source knows (a model's schema picks the ones it uses; shapes come
 * from the schema: 'batch' symbolic, sequence lengths static):
 * - user int32 [batch]; profile int32 [batch, P]
 * - candidate, candidateCategory int32 [batch]   (target-domain item)
 * - targetSeq, targetSeqCategory int32 [batch, L]; targetSeqMask bool [batch, L]   (short-term target history)
 * - sourceSeq, sourceSeqCategory int32 [batch, L]; sourceSeqMask bool [batch, L]   (short-term source history)
 * - lifelongSeq, lifelongSeqCategory int32 [batch, N]; lifelongMask bool [batch, N]; lifelongContext int32 [batch, N, C]
 * - label float32 [batch]
 * A sequence holds the user's most recent events strictly before the sample, oldest first,
 * right-padded (id 0, mask false).
 */
export const SAMPLE_FEATURES = [
  'user',
  'profile',
  'candidate',
  'candidateCategory',
  'targetSeq',
  'targetSeqCategory',
  'targetSeqMask',
  'sourceSeq',
  'sourceSeqCategory',
  'sourceSeqMask',
  'lifelongSeq',
  'lifelongSeqCategory',
  'lifelongMask',
  'lifelongContext',
  'label',
] as const;
export type SampleFeature = (typeof SAMPLE_FEATURES)[number];
