/**
 * SIM (Pi et al. 2020), the two-stage lifelong-sequence baseline of SPEC.md "Baselines": a General
 * Search Unit (GSU) picks K of the N behaviours e^h_n, an Exact Search Unit (ESU) attends over them.
 *
 * SIM soft, GSU:  r_n = ⟨e^h_n W_gk, e^v W_gq⟩ over all N valid items; picks = top-K of r.
 *                 Also u_r = Σ_n softmax_n(r / √g) e^h_n ∈ R^d (masked): SIM's GSU training
 *                 signal (the picks carry no gradient, so W_gk, W_gq learn only through u_r).
 * SIM hard, GSU:  picks = the K most recent valid items whose category equals the candidate's
 *                 (sequences are oldest first, so a later position is more recent).
 * ESU (both):     over the picks k with valid-pick mask m_k,
 *                 a = masked softmax_k(⟨e^v W_q, e^h_k W_k⟩ / √da), out = Σ_k a_k e^h_k W_v ∈ R^da.
 *
 * Padding is zeroed before use and never picked ahead of a valid item; a padding pick has weight
 * 0, so a sequence with fewer than K valid (matching) items works and one with none gives zeros.
 * Every function takes a SeqLayout, so one block serves training ('perSample'), serving
 * ('shared', the sequence's projections computed once for all candidates) and training on
 * requests ('perRequest': S requests of C candidates, rows R = S·C, one sequence per request).
 */
import type { Bool, Float, GraphBuilder, Int } from '../builder.ts';
import { type Dim, dimEquals, formatShape } from '../dims.ts';
import type { FeatureSchema } from '../graph.ts';
import { maskedSoftmax } from './common.ts';
import { type SeqLayout, pickedMask } from './layout.ts';

type B = GraphBuilder<FeatureSchema>;

export interface LifelongInputs {
  /** e^h, the behaviour embeddings: perSample [R, N, d] | shared [N, d] | perRequest [S, N, d]; N and d static */
  items: Float;
  /** true = valid: perSample [R, N] | shared [1, N] | perRequest [S, N] */
  mask: Bool;
  /** e^v, the candidate: [R, dq] (dq may differ from d: every use of it goes through a projection) */
  query: Float;
}

export interface LifelongOutput {
  /** [R, width] */
  output: Float;
  width: number;
  /** [R, K] int32: the sequence positions the GSU picked, valid picks first (padding picks in index order) */
  picks: Int;
  /** [R, K]: which picks are valid items (false for the padding picks of a short sequence) */
  pickedMask: Bool;
}

/** Static sizes of a lifelong block's inputs, checked by checkLifelongInputs. */
export interface LifelongDims {
  /** rows: the leading dim of the query ('batch' in perSample, 'cand' in shared, S·C in perRequest) */
  rows: Dim;
  /** sequence length (static) */
  n: number;
  /** item embedding size */
  d: number;
  /** query embedding size */
  dq: number;
}

const show = (s: readonly Dim[]) => formatShape(s);

/**
 * Check items, mask and query against the layout; throws an Error naming the block, the input,
 * the expected and the actual shape. `fn` and `name` label the message (e.g. simSoft 'sim').
 */
export function checkLifelongInputs(fn: string, name: string, layout: SeqLayout, inputs: LifelongInputs): LifelongDims {
  const { items, mask, query } = inputs;
  const at = `${fn} '${name}'`;
  const dq = query.shape[1];
  if (query.shape.length !== 2 || typeof dq !== 'number')
    throw new Error(`${at}: query must be [R, dq] with a static dq, got ${show(query.shape)}`);
  const rows = query.shape[0]!;
  const lead = layout.sequenceLead(rows);
  if (lead === undefined) {
    throw new Error(
      `${at}: query must be [S·C, dq] in the perRequest layout (C = ${layout.candidates} candidates per request), got ` +
        `${show(query.shape)}: ${rows} is not a multiple of ${layout.candidates}`,
    );
  }
  const want = lead.length === 0 ? '[N, d]' : layout.kind === 'perRequest' ? '[S, N, d]' : '[R, N, d]';
  if (items.shape.length !== lead.length + 2)
    throw new Error(`${at}: items must be ${want} in the ${layout.kind} layout, got ${show(items.shape)}`);
  const n = items.shape[items.shape.length - 2]!,
    d = items.shape[items.shape.length - 1]!;
  if (typeof n !== 'number' || typeof d !== 'number')
    throw new Error(`${at}: items must be ${want} with a static N and d, got ${show(items.shape)}`);
  if (!lead.every((x, i) => dimEquals(items.shape[i]!, x))) {
    const from =
      layout.kind === 'perRequest'
        ? `S from the query ${show(query.shape)} over C = ${layout.candidates} candidates per request`
        : `R from the query ${show(query.shape)}`;
    throw new Error(`${at}: items must be ${show([...lead, n, d])} (${from}), got ${show(items.shape)}`);
  }
  const maskShape: Dim[] = lead.length ? [...lead, n] : [1, n];
  if (mask.shape.length !== 2 || !mask.shape.every((x, i) => dimEquals(x, maskShape[i]!))) {
    throw new Error(`${at}: mask must be ${show(maskShape)} in the ${layout.kind} layout, got ${show(mask.shape)}`);
  }
  return { rows, n, d, dq };
}

/** An error unless `v` is a positive integer: `<fn> '<name>': <option> must be a positive integer, got <v>`. */
function checkPositive(fn: string, name: string, option: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} '${name}': ${option} must be a positive integer, got ${v}`);
}

/** An error unless 1 <= k <= n (the static sequence length), naming the option, the bound and k. */
function checkK(fn: string, name: string, option: string, k: number, n: number): void {
  checkPositive(fn, name, option, k);
  if (k > n) throw new Error(`${fn} '${name}': ${option} must be <= the sequence length ${n}, got ${k}`);
}

/** Per-item tensor x (perSample [R, N, x] | shared [N, x] | perRequest [S, N, x]) with padding rows set to 0, so NaN there cannot leak. */
export function zeroSeqPadding(b: B, layout: SeqLayout, x: Float, mask: Bool): Float {
  const m = layout.kind === 'shared' ? b.reshape(mask, [mask.shape[1]!, 1]) : b.reshape(mask, [...mask.shape, 1]);
  return b.where(m, x, b.scalar(0));
}

/**
 * The ESU: single-head softmax target attention over the picks. Parameters `esu/wq` [dq, da],
 * `esu/wk` [d, da], `esu/wv` [d, da] under the caller's scope. `items` has its padding zeroed.
 */
function esu(b: B, layout: SeqLayout, items: Float, query: Float, picks: Int, valid: Bool, dims: LifelongDims, da: number): Float {
  return b.scope('esu', () => {
    const wq = b.param('wq', [dims.dq, da]);
    const wk = b.param('wk', [dims.d, da]);
    const wv = b.param('wv', [dims.d, da]);
    let keys: Float, values: Float; // [R, K, da]
    if (layout.projectBeforePick) {
      keys = layout.pick(b.matmul(items, wk), picks);
      values = layout.pick(b.matmul(items, wv), picks);
    } else {
      const rows = layout.pick(items, picks);
      keys = b.matmul(rows, wk);
      values = b.matmul(rows, wv);
    }
    const q = b.reshape(b.matmul(query, wq), [dims.rows, 1, da]);
    const logits = b.mul(b.reduceSum(b.mul(keys, q), [2]), b.scalar(1 / Math.sqrt(da))); // [R, K]
    const w = maskedSoftmax(b, logits, valid);
    return b.reduceSum(b.mul(values, b.reshape(w, [...w.shape, 1])), [1]); // [R, da]
  });
}

export interface SimSoftOptions {
  /** picks of the GSU (1 <= k <= N) */
  k: number;
  /** size g of the GSU projections W_gk, W_gq */
  gsuDim: number;
  /** size da of the ESU's query, key and value projections (the output width) */
  attentionDim: number;
  /**
   * true: output = [ESU ‖ gsuPooled], width da + d, so a model without SIM's auxiliary GSU loss
   * still trains the GSU projections; default false (output = the ESU alone, as in SIM).
   */
  concatGsu?: boolean;
}

export interface SimSoftOutput extends LifelongOutput {
  /**
   * u_r = Σ_n softmax_n(r_n / √g) e^h_n, [R, d]: SIM's soft-search representation of the whole
   * sequence. SIM trains the GSU with it (an auxiliary CTR head, Loss = Loss_ESU + Loss_GSU); a
   * model that leaves it out gets no gradient into `gsu/wk`, `gsu/wq` (top-k has none).
   */
  gsuPooled: Float;
}

/**
 * SIM soft. items [R, N, d] | [N, d] | [S, N, d], mask [R, N] | [1, N] | [S, N], query [R, dq] → output [R, attentionDim]
 * ([R, attentionDim + d] with concatGsu), gsuPooled [R, d].
 * Parameters: `<name>/gsu/wk` [d, g] (items), `<name>/gsu/wq` [dq, g] (candidate),
 * `<name>/esu/wq` [dq, da], `<name>/esu/wk` [d, da], `<name>/esu/wv` [d, da].
 * The GSU has separate item and candidate projections, as SIM's W_b and W_a: here the candidate
 * (target domain) and the behaviours (source domain) come from different embedding tables (and
 * may differ in size), so one shared projection would tie two unrelated coordinate systems.
 */
export function simSoft(b: B, name: string, layout: SeqLayout, inputs: LifelongInputs, opts: SimSoftOptions): SimSoftOutput {
  const dims = checkLifelongInputs('simSoft', name, layout, inputs);
  checkK('simSoft', name, 'k', opts.k, dims.n);
  checkPositive('simSoft', name, 'gsuDim', opts.gsuDim);
  checkPositive('simSoft', name, 'attentionDim', opts.attentionDim);
  return b.scope(name, () => {
    const items = zeroSeqPadding(b, layout, inputs.items, inputs.mask);
    // the GSU scores every item, so its projection covers all N in both layouts
    const r = b.scope('gsu', () =>
      layout.scores(b.matmul(inputs.query, b.param('wq', [dims.dq, opts.gsuDim])), b.matmul(items, b.param('wk', [dims.d, opts.gsuDim]))),
    ); // [R, N]
    const mask = layout.perRow(inputs.mask); // lines up with r
    const top = b.topk(r, opts.k, mask);
    const valid = pickedMask(b, top.values);
    const output = esu(b, layout, items, inputs.query, top.indices, valid, dims, opts.attentionDim);
    const gsuWeights = maskedSoftmax(b, b.mul(r, b.scalar(1 / Math.sqrt(opts.gsuDim))), mask);
    const gsuPooled = layout.pool(gsuWeights, items); // [R, d]
    const picked = { picks: top.indices, pickedMask: valid, gsuPooled };
    return opts.concatGsu
      ? { output: b.concat([output, gsuPooled], 1), width: opts.attentionDim + dims.d, ...picked }
      : { output, width: opts.attentionDim, ...picked };
  });
}

export interface SimHardOptions {
  /** picks of the GSU (1 <= k <= N): the K most recent items of the candidate's category */
  k: number;
  /** size da of the ESU's projections (the output width) */
  attentionDim: number;
}

export interface SimHardInputs extends LifelongInputs {
  /** category of each behaviour: perSample [R, N] | shared [N] | perRequest [S, N] */
  itemCategory: Int;
  /** the candidate's category: [R] */
  queryCategory: Int;
}

/**
 * SIM hard. items [R, N, d] | [N, d] | [S, N, d], mask [R, N] | [1, N] | [S, N], query [R, dq], itemCategory [R, N] | [N] | [S, N],
 * queryCategory [R] → output [R, attentionDim]; zeros for a row with no valid item of its category.
 * Parameters: `<name>/esu/wq` [dq, da], `<name>/esu/wk` [d, da], `<name>/esu/wv` [d, da] (the GSU
 * has none). queryCategory is cast to itemCategory's int type if they differ.
 */
export function simHard(b: B, name: string, layout: SeqLayout, inputs: SimHardInputs, opts: SimHardOptions): LifelongOutput {
  const dims = checkLifelongInputs('simHard', name, layout, inputs);
  checkK('simHard', name, 'k', opts.k, dims.n);
  checkPositive('simHard', name, 'attentionDim', opts.attentionDim);
  const { itemCategory } = inputs;
  const catShape: Dim[] = [...layout.sequenceLead(dims.rows)!, dims.n];
  if (itemCategory.shape.length !== catShape.length || !itemCategory.shape.every((x, i) => dimEquals(x, catShape[i]!))) {
    throw new Error(
      `simHard '${name}': itemCategory must be ${show(catShape)} in the ${layout.kind} layout, got ${show(itemCategory.shape)}`,
    );
  }
  if (inputs.queryCategory.shape.length !== 1 || !dimEquals(inputs.queryCategory.shape[0]!, dims.rows)) {
    throw new Error(`simHard '${name}': queryCategory must be [${dims.rows}] (one per query row), got ${show(inputs.queryCategory.shape)}`);
  }
  return b.scope(name, () => {
    const items = zeroSeqPadding(b, layout, inputs.items, inputs.mask);
    const qc = inputs.queryCategory.dtype === itemCategory.dtype ? inputs.queryCategory : b.cast(inputs.queryCategory, itemCategory.dtype);
    const match = b.logicalAnd(b.equal(layout.perRow(itemCategory), b.reshape(qc, [dims.rows, 1])), layout.perRow(inputs.mask)); // [R, N]
    // rank matching items by position: the most recent (last) first; the mask keeps padding and
    // other categories behind every match (their picks come out invalid)
    const position = b.constant(
      Array.from({ length: dims.n }, (_, i) => i),
      [dims.n],
    );
    const top = b.topk(b.where(match, position, b.scalar(-1)), opts.k, match);
    const valid = pickedMask(b, top.values);
    const output = esu(b, layout, items, inputs.query, top.indices, valid, dims, opts.attentionDim);
    return { output, width: opts.attentionDim, picks: top.indices, pickedMask: valid };
  });
}
