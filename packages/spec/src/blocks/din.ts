/**
 * DIN target attention (SPEC.md Baselines; KEEP's extractor uses the same block):
 *   out = Σ_j a(e_j, e_v) e_j,   a = MLP([e_j ‖ e_v ‖ e_j - e_v ‖ e_j ⊙ e_v]) → 1,
 * NOT softmax-normalised (the weights are raw MLP outputs, so the pooled vector keeps the
 * intensity of the user's interest). Padded positions are zeroed before use and their weight is
 * exactly 0, so the output does not depend on what padding holds (NaN included), and a row with no
 * valid position gives zeros.
 */
import type { Bool, Float, GraphBuilder } from '../builder.ts';
import type { FeatureSchema } from '../graph.ts';
import { init } from '../builder.ts';
import { mulDims } from '../dims.ts';
import { type Activation, activate, dense, matmulBiasRow } from './common.ts';

type B = GraphBuilder<FeatureSchema>;

export interface DinAttentionOptions {
  /** hidden sizes of the attention MLP (a final layer of size 1 is added); default [80, 40] as in DIN */
  hidden?: readonly number[];
  /** activation of the hidden layers; default 'relu' */
  act?: Activation;
}

/**
 * keys [..., L, d] (the behaviour sequence), mask [..., L] (true = valid), query [..., d] (the
 * candidate) → [..., d]. Keys and mask may lead with 1 where the query leads with R (one user's
 * sequence for R candidates, the serving layout): they broadcast, and the work on the keys alone
 * (zeroing padding, the keys' term of the first layer) is done once, not R times. Parameters `<name>/l<i>/w`, `<name>/l<i>/b` (the
 * attention MLP; the first
 * layer is [4d, hidden[0]], rows in the order e_j, e_v, e_j - e_v, e_j ⊙ e_v).
 */
export function dinAttention(b: B, name: string, keys: Float, mask: Bool, query: Float, opts: DinAttentionOptions = {}): Float {
  const rank = keys.shape.length;
  const d = keys.shape[rank - 1];
  const len = keys.shape[rank - 2];
  if (rank < 2 || typeof d !== 'number')
    throw new Error(`dinAttention '${name}': keys must be [..., L, d] with a static d, got [${keys.shape.join(', ')}]`);
  if (query.shape.length !== rank - 1 || query.shape[rank - 2] !== d) {
    throw new Error(
      `dinAttention '${name}': query must be [..., ${d}] (keys are [${keys.shape.join(', ')}]), got [${query.shape.join(', ')}]`,
    );
  }
  if (mask.shape.length !== rank - 1 || mask.shape[rank - 2] !== len) {
    throw new Error(
      `dinAttention '${name}': mask must be [..., ${String(len)}] (keys are [${keys.shape.join(', ')}]), got [${mask.shape.join(', ')}]`,
    );
  }
  const hidden = opts.hidden ?? [80, 40];
  const act = opts.act ?? 'relu';
  const m = b.reshape(mask, [...mask.shape, 1]); // [..., L, 1]
  const k = b.where(m, keys, b.scalar(0)); // padding zeroed before use
  const q = b.reshape(query, [...query.shape.slice(0, -1), 1, d]); // [..., 1, d], broadcasts over L
  const sizes = [...hidden, 1];
  // one user's keys [1, L, d] for R query rows (serving), with a static L
  const sharedLen = rank === 3 && keys.shape[0] === 1 && query.shape[0] !== 1 && typeof len === 'number' ? len : undefined;
  const a = b.scope(name, () => {
    // First layer over [k ‖ q ‖ k - q ‖ k ⊙ q] without building the 4d-wide input:
    //   [k, q, k-q, k⊙q] W = k (W_k + W_d) + q (W_q - W_d) + (k ⊙ q) W_p
    // (W's row blocks in that order), so the query's term is computed once per sample, not per
    // position, and no concat (nor its split in the backward pass) is needed. Same parameters.
    const h0 = sizes[0]!;
    const w = b.scope('l0', () => b.param('w', [4 * d, h0]));
    const bias = b.scope('l0', () => b.param('b', [h0], init.zeros()));
    const block = (i: number) => b.slice(w, [i * d], [(i + 1) * d], [0]);
    const [wk, wq, wd, wp] = [block(0), block(1), block(2), block(3)];
    let h: Float;
    if (sharedLen !== undefined) {
      // keys shared by every query row (serving): with T_l = diag(k_l) W_p + (W_q - W_d) [d, h0] and
      // S_l = k_l (W_k + W_d) + b, the first layer at (row r, position l) is q_r T_l + S_l, so it
      // is ONE [R, d + 1] x [d + 1, L·h0] product, [q_r, 1] [T ; S] (matmulBiasRow): no [R, L, d]
      // product k ⊙ q and no add over [R, L, h0]. T and S are built from the L keys once per
      // request. Same sum, another order.
      const keys2 = b.reshape(k, [sharedLen, d]);
      const keysT = b.reshape(b.transpose(keys2, [1, 0]), [d, sharedLen, 1]); // [d, L, 1]
      const perPos = b.add(b.mul(keysT, b.reshape(wp, [d, 1, h0])), b.reshape(b.sub(wq, wd), [d, 1, h0])); // T [d, L, h0]
      const shared = b.add(b.matmul(keys2, b.add(wk, wd)), bias); // S [L, h0]
      h = matmulBiasRow(b, query, b.reshape(perPos, [d, sharedLen * h0]), shared); // [R, L·h0]
      if (sizes.length > 1) h = activate(b, h, act);
      // the next layers as 2-D products too, [R·L, h] (ONNX Runtime fuses each with its bias and ReLU)
      h = b.reshape(h, [mulDims(query.shape[0]!, sharedLen), h0]);
    } else {
      const fromKeys = b.add(b.matmul(k, b.add(wk, wd)), b.matmul(b.mul(k, q), wp)); // [..., L, h0]
      const fromQuery = b.matmul(q, b.sub(wq, wd)); // [..., 1, h0]
      h = b.add(b.add(fromKeys, fromQuery), bias);
      if (sizes.length > 1) h = activate(b, h, act);
    }
    for (let i = 1; i < sizes.length; i++) {
      h = dense(b, `l${i}`, h, sizes[i]!);
      if (i < sizes.length - 1) h = activate(b, h, act);
    }
    return b.reshape(h, sharedLen !== undefined ? [query.shape[0]!, sharedLen] : h.shape.slice(0, -1)); // [..., L]
  });
  const weight = b.where(mask, a, b.scalar(0)); // padded weight exactly 0
  // serving: the pool is a [R, L] x [L, d] product (no [R, L, d] product and sum)
  if (sharedLen !== undefined) return b.matmul(weight, b.reshape(k, [sharedLen, d]));
  return b.reduceSum(b.mul(k, b.reshape(weight, [...weight.shape, 1])), [rank - 2]);
}
