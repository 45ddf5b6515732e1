/**
 * The two layouts a lifelong-sequence block runs in, so each block (CSA, MSA, FSA, SIM, TWIN) is
 * written once and serves both training and per-request scoring (DESIGN.md, Serving layout):
 * - 'perSample' (training graphs): row r of the batch has its own sequence. Sequence tensors are
 *   [R, N, x], masks [R, N], queries [R, d]; R = 'batch'.
 * - 'shared' (serving graphs): one request, one user; every candidate row reads the same
 *   sequence. Sequence tensors are [N, x] (the request's leading 1 squeezed), masks [1, N] (they
 *   broadcast over the rows), queries [R, d]; R = 'cand'. Work on the sequence alone (embedding
 *   lookups, key/value projections) is done once per request, not once per candidate.
 * After a top-k pick both layouts give [R, K, x]: what follows a pick is layout-free.
 * Rows are always the leading axis of queries, scores ([R, N]) and picks ([R, K, ...]).
 */
import type { Bool, Float, GraphBuilder, Int } from '../builder.ts';
import type { FeatureSchema } from '../graph.ts';

type B = GraphBuilder<FeatureSchema>;

export type SeqLayoutKind = 'perSample' | 'shared';

export interface SeqLayout {
  readonly kind: SeqLayoutKind;
  /**
   * Whether to project sequence rows before picking them: in 'shared' the N rows are projected
   * once for all candidates (cheaper than C x K projections); in 'perSample' each row's K picks are
   * projected after the pick (cheaper than R x N). The same math either way: a projection acts row
   * by row.
   */
  readonly projectBeforePick: boolean;
  /** ⟨q_r, k_n⟩ for every row and sequence item: q [R, d], keys [R, N, d] | [N, d] → [R, N] */
  scores(q: Float, keys: Float): Float;
  /** Σ_n w[r, n] · values[n]: w [R, N], values [R, N, x] | [N, x] → [R, x] */
  pool(w: Float, values: Float): Float;
  /** values at each row's picked positions: values [R, N, ...] | [N, ...], idx int32 [R, K] → [R, K, ...] */
  pick(values: Float, idx: Int): Float;
  /** the same for an integer sequence tensor (item ids, categories) */
  pickInt(values: Int, idx: Int): Int;
}

function lastDim(x: Float, what: string): number {
  const d = x.shape[x.shape.length - 1];
  if (typeof d !== 'number') throw new Error(`${what}: the last dim must be static, got [${x.shape.join(', ')}]`);
  return d;
}

const PER_SAMPLE: Omit<SeqLayout, 'scores' | 'pool' | 'pick' | 'pickInt'> = { kind: 'perSample', projectBeforePick: false };

/** The layout of kind `kind` over builder `b`. */
export function seqLayout(b: B, kind: SeqLayoutKind): SeqLayout {
  if (kind === 'perSample') {
    return {
      ...PER_SAMPLE,
      scores(q, keys) {
        if (keys.shape.length !== 3 || q.shape.length !== 2) throw new Error(`seqLayout perSample scores: q must be [R, d] and keys [R, N, d], got [${q.shape.join(', ')}] and [${keys.shape.join(', ')}]`);
        // a multiply and a sum over d, not a batch of [1, d] x [d, N] products (slow on tfjs wasm)
        return b.reduceSum(b.mul(keys, b.reshape(q, [q.shape[0]!, 1, lastDim(q, 'seqLayout scores')])), [2]);
      },
      pool(w, values) {
        if (values.shape.length !== 3 || w.shape.length !== 2) throw new Error(`seqLayout perSample pool: w must be [R, N] and values [R, N, x], got [${w.shape.join(', ')}] and [${values.shape.join(', ')}]`);
        return b.reduceSum(b.mul(values, b.reshape(w, [...w.shape, 1])), [1]);
      },
      pick: (values, idx) => b.gatherAlongAxis(values, idx, 1),
      pickInt: (values, idx) => b.gatherAlongAxis(values, idx, 1),
    };
  }
  return {
    kind: 'shared', projectBeforePick: true,
    scores(q, keys) {
      if (keys.shape.length !== 2 || q.shape.length !== 2) throw new Error(`seqLayout shared scores: q must be [R, d] and keys [N, d], got [${q.shape.join(', ')}] and [${keys.shape.join(', ')}]`);
      return b.matmul(q, b.transpose(keys, [1, 0]));
    },
    pool(w, values) {
      if (values.shape.length !== 2 || w.shape.length !== 2) throw new Error(`seqLayout shared pool: w must be [R, N] and values [N, x], got [${w.shape.join(', ')}] and [${values.shape.join(', ')}]`);
      return b.matmul(w, values);
    },
    pick: (values, idx) => b.gather(values, idx, 0),
    pickInt: (values, idx) => b.gather(values, idx, 0),
  };
}

/** Valid-pick mask of a masked top-k: padding picks carry -Infinity values (ops.ts topk). */
export function pickedMask(b: B, topkValues: Float): Bool {
  return b.greater(topkValues, b.scalar(-Infinity));
}
