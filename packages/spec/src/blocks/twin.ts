/**
 * TWIN (Chang et al. 2023), the consistency-preserving lifelong-sequence baseline of SPEC.md
 * "Baselines": the GSU and the ESU share one multi-head target attention, so the items the GSU
 * keeps are the ones the ESU would weigh most.
 *
 * With H heads of size dh, q = e^v W_q, k_n = e^h_n W_k (head h in columns [h·dh, (h+1)·dh)),
 * and per-item cross-feature biases β_n = e^c_n W_c ∈ R^H (the behaviour's context: watch
 * duration, behaviour type, ...; TWIN's compressed cross features, one scalar per head):
 *   head logits  s_{h,n} = ⟨q_h, k_{h,n}⟩ / √dh + β_{h,n}
 *   GSU          picks = top-K over all N valid items of Σ_h s_{h,n} (the same ranking as the
 *                mean over heads: every ESU parameter shapes it, at the cost of one H·dh-wide dot
 *                product per item)
 *   ESU          a_h = masked softmax over the picks of s_{h,k}; o_h = Σ_k a_{h,k} e^h_k W_v,h;
 *                out = (o_1 ‖ ... ‖ o_H) W_o ∈ R^outDim
 * W_o has no bias, so a row with no valid item gives zeros. Padding (items and context) is zeroed
 * before use and never picked ahead of a valid item.
 */
import type { Float, GraphBuilder } from '../builder.ts';
import { dimEquals, formatShape } from '../dims.ts';
import type { FeatureSchema } from '../graph.ts';
import { maskedSoftmax } from './common.ts';
import { type SeqLayout, pickedMask } from './layout.ts';
import { type LifelongInputs, type LifelongOutput, checkLifelongInputs, zeroSeqPadding } from './sim.ts';

type B = GraphBuilder<FeatureSchema>;

export interface TwinOptions {
  /** picks of the GSU (1 <= k <= N) */
  k: number;
  heads: number;
  headDim: number;
  /** width of the output projection W_o; default heads · headDim */
  outDim?: number;
}

export interface TwinInputs extends LifelongInputs {
  /** e^c, context embeddings of each behaviour: perSample [R, N, c] | shared [N, c] | perRequest [S, N, c]; c static */
  context: Float;
}

function positive(name: string, option: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`twin '${name}': ${option} must be a positive integer, got ${v}`);
}

/**
 * TWIN. items [R, N, d] | [N, d] | [S, N, d], mask [R, N] | [1, N] | [S, N], query [R, dq], context [R, N, c] | [N, c] | [S, N, c]
 * → output [R, outDim]. Parameters: `<name>/wq` [dq, H·dh], `<name>/wk` [d, H·dh],
 * `<name>/wc` [c, H] (cross-feature biases), `<name>/wv` [d, H·dh], `<name>/wo` [H·dh, outDim].
 */
export function twin(b: B, name: string, layout: SeqLayout, inputs: TwinInputs, opts: TwinOptions): LifelongOutput {
  const dims = checkLifelongInputs('twin', name, layout, inputs);
  positive(name, 'k', opts.k);
  if (opts.k > dims.n) throw new Error(`twin '${name}': k must be <= the sequence length ${dims.n}, got ${opts.k}`);
  positive(name, 'heads', opts.heads);
  positive(name, 'headDim', opts.headDim);
  const outDim = opts.outDim ?? opts.heads * opts.headDim;
  positive(name, 'outDim', outDim);
  const { context } = inputs;
  const c = context.shape[context.shape.length - 1];
  const lead = [...layout.sequenceLead(dims.rows)!, dims.n];
  if (context.shape.length !== lead.length + 1 || typeof c !== 'number' || !lead.every((x, i) => dimEquals(x, context.shape[i]!))) {
    throw new Error(
      `twin '${name}': context must be ${formatShape([...lead, 'c'])} with a static c in the ${layout.kind} layout, got ` +
        `${formatShape(context.shape)}`,
    );
  }
  const { rows, d, dq } = dims;
  const { k, heads, headDim } = opts;
  const width = heads * headDim;
  return b.scope(name, () => {
    const wq = b.param('wq', [dq, width]);
    const wk = b.param('wk', [d, width]);
    const wc = b.param('wc', [c, heads]);
    const wv = b.param('wv', [d, width]);
    const wo = b.param('wo', [width, outDim]);
    const items = zeroSeqPadding(b, layout, inputs.items, inputs.mask);
    const ctx = zeroSeqPadding(b, layout, context, inputs.mask);
    const scale = b.scalar(1 / Math.sqrt(headDim));
    const q = b.matmul(inputs.query, wq); // [R, H·dh]
    // the GSU scores every item: keys and biases of all N in both layouts
    const keys = b.matmul(items, wk); // [R, N, H·dh] | [N, H·dh] | [S, N, H·dh]
    const bias = b.matmul(ctx, wc); // [R, N, H] | [N, H] | [S, N, H]
    const gsu = b.add(b.mul(layout.scores(q, keys), scale), layout.perRow(b.reduceSum(bias, [-1]))); // [R, N]
    const top = b.topk(gsu, k, layout.perRow(inputs.mask));
    const valid = pickedMask(b, top.values); // [R, K]
    const pickedKeys = b.reshape(layout.pick(keys, top.indices), [rows, k, heads, headDim]);
    const pickedBias = layout.pick(bias, top.indices); // [R, K, H]
    const values = layout.projectBeforePick ? layout.pick(b.matmul(items, wv), top.indices) : b.matmul(layout.pick(items, top.indices), wv); // [R, K, H·dh]
    const qh = b.reshape(q, [rows, 1, heads, headDim]);
    const logits = b.add(b.mul(b.reduceSum(b.mul(pickedKeys, qh), [3]), scale), pickedBias); // [R, K, H]
    const a = maskedSoftmax(b, logits, b.reshape(valid, [rows, k, 1]), 1);
    const perHead = b.reduceSum(b.mul(b.reshape(values, [rows, k, heads, headDim]), b.reshape(a, [rows, k, heads, 1])), [1]); // [R, H, dh]
    const output = b.matmul(b.reshape(perHead, [rows, width]), wo);
    return { output, width: outDim, picks: top.indices, pickedMask: valid };
  });
}
