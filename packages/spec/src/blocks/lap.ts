/**
 * LCN's Lifelong Attention Pyramid (SPEC.md "LAP (Eqs. 7-13)"), written once over a SeqLayout so
 * the same block serves training ('perSample') and per-request scoring ('shared'):
 *
 *   CSA over all N:  r_k = ⟨e^h_k, e^v⟩,  IR_CSA = Σ_k w_k e^h_k,  w = masked softmax(r) (or r);
 *                    top-K1 by raw r.
 *   MSA over K1:     Q = e^v W_Q,  K_k = [e^h_k ‖ e^c_k] W_K,  V_k = [e^h_k ‖ e^c_k] W_V   (da wide)
 *                    s_k = Q·K_k / √da,  IR_MSA = Σ_k a_k V_k,  a = masked softmax(s) (or s);
 *                    top-K2 by s among the valid K1 picks, ties to the earlier sequence position
 *                    (SPEC "Top-k order"), so K1's picks are a set: their order changes nothing.
 *   FSA over K2:     per head h: Q_h = e^v W^Q_h, K_h = [E^h ‖ E^c] W^K_h, V_h = [E^h ‖ E^c] W^V_h,
 *                    a_h = masked softmax(Q_h K_hᵀ / √dh);  H_k = ‖_h a_{h,k} V_{h,k};
 *                    H'_k = ReLU(H_k w1 + b1) w2 + b2;  IR_FSA = mean over valid k of H'_k
 *                    (or 'sumThenFfn': FFN(Σ_k H_k)).
 *   IR_LAP = [IR_CSA ‖ IR_MSA ‖ IR_FSA]; a level switched off (k1 / k2 undefined) is left out, and
 *   with MSA off FSA takes CSA's top-K2 by raw r.
 *
 * Padding never counts: sequence rows are zeroed (where) before any use, so nothing depends on
 * what padding holds (NaN included); a pick of a padded position carries a false mask into the
 * next level; a row with no valid position gives zeros at every level. Projections (W_Q, W_K,
 * W_V) have no bias, as in the paper's formulas; the FSA FFN has biases (b1, b2).
 */
import { type Bool, type Float, type GraphBuilder, type Int, type Value, init } from '../builder.ts';
import { type Dim, dimEquals, formatShape, isStaticDim } from '../dims.ts';
import { FLOAT32_MAX } from '../dtype.ts';
import type { FeatureSchema } from '../graph.ts';
import { dense, maskedMean, maskedSoftmax, matmulBiasRow, mlp } from './common.ts';
import { type SeqLayout, pickedMask } from './layout.ts';

type B = GraphBuilder<FeatureSchema>;

export type LapNormalize = 'softmax' | 'none';
export type FsaPool = 'mean' | 'sumThenFfn';

export interface LapOptions {
  /** MSA on, over CSA's top-K1; undefined = MSA off */
  k1?: number;
  /** FSA on, over the top-K2 of MSA (or of CSA's raw score when MSA is off); undefined = FSA off */
  k2?: number;
  /** MSA attention width da */
  attentionDim: number;
  /** FSA heads l */
  heads: number;
  /** FSA head width dh */
  headDim: number;
  /** FSA FFN hidden width d_ff */
  ffnDim: number;
  /** FSA output width */
  outDim: number;
  csaNormalize: LapNormalize;
  msaNormalize: LapNormalize;
  fsaPool: FsaPool;
}

/**
 * SPEC.md defaults. k1 and k2 are left undefined (levels off unless asked for): the right pool
 * sizes depend on the sequence length; the paper's best is K1 = 500, K2 = 100 over N = 2000
 * (Table 3), with K1 = 200, K2 = 50 within 0.0003 AUC.
 */
export const LAP_DEFAULTS: LapOptions = Object.freeze({
  attentionDim: 64,
  heads: 4,
  headDim: 16,
  ffnDim: 128,
  outDim: 64,
  csaNormalize: 'softmax',
  msaNormalize: 'softmax',
  fsaPool: 'mean',
});

export interface LapInputs {
  /** e^h: perSample [R, N, d] | shared [N, d] */
  items: Float;
  /** e^c: perSample [R, N, c] | shared [N, c] (context embeddings, already looked up) */
  context: Float;
  /** perSample [R, N] | shared [1, N]; true = valid */
  mask: Bool;
  /** e^v: [R, d] */
  query: Float;
}

export interface LapOutput {
  /** [R, width] = [IR_CSA ‖ IR_MSA? ‖ IR_FSA?] */
  output: Float;
  /** d + (da if MSA is on) + (outDim if FSA is on) */
  width: number;
  /** [R, K1] int32 sequence positions picked for MSA, when MSA is on */
  k1Picks?: Int;
  /** [R, K1] which K1 picks are valid positions, when MSA is on */
  k1Valid?: Bool;
  /** [R, K2] int32 sequence positions picked for FSA, when FSA is on */
  k2Picks?: Int;
  /** [R, K2] which K2 picks are valid positions, when FSA is on */
  k2Valid?: Bool;
  /**
   * What each level picked, with the weights it gave them (the explain variant of a serving
   * graph). Its nodes are made only when called, after the block's own, so a graph that does not
   * call it is node for node what it was (the scoring graph's hash does not change).
   */
  explain(): LapExplain;
}

/** One level's picks, [R, K] each, in the level's rank order (SPEC "Top-k order"). */
export interface LapLevelExplain {
  /** sequence positions; -1 at padding picks */
  positions: Int;
  /**
   * the weight the level pools the pick with (its softmax over what it attends to, or the raw score with normalize 'none'); 0 at padding
   * picks
   */
  weights: Float;
  /** false at padding picks (fewer valid positions than K) */
  valid: Bool;
}

/**
 * csa: CSA's top-K1 (its top-K2 when MSA is off) with CSA's weight over all N; msa (MSA and FSA
 * on): MSA's top-K2 of the K1 picks with MSA's weight over the K1 picks; fsa (FSA on): FSA's picks
 * with its attention averaged over the heads.
 */
export interface LapExplain {
  csa: LapLevelExplain;
  msa?: LapLevelExplain;
  fsa?: LapLevelExplain;
}

/** Picked sequence positions of a masked top-k: indices [R, K] int32, valid [R, K] (false for padding picks). */
export interface LapPicks {
  indices: Int;
  valid: Bool;
}

export interface CsaInputs {
  items: Float;
  mask: Bool;
  query: Float;
}

export interface CsaOutput {
  /** IR_CSA [R, d] */
  pooled: Float;
  /** raw r [R, N] (0 at padding; rank it with the mask) */
  scores: Float;
  /** w [R, N], what IR_CSA pools with (in serving, NaN across a row with no valid position: mask it) */
  weights: Float;
}

/**
 * MSA and FSA read the whole sequence (shapes as LapInputs) and the picks of the level below.
 * picks.valid must be false exactly at picks of padded positions (what a masked top-k gives):
 * 'perSample' zeroes the picked rows by it, 'shared' zeroes the sequence rows by `mask`.
 */
export interface LapLevelInputs {
  items: Float;
  context: Float;
  mask: Bool;
  query: Float;
  picks: LapPicks;
}

export interface CsaOptions {
  normalize: LapNormalize;
}

export interface MsaOptions {
  attentionDim: number;
  normalize: LapNormalize;
}

export interface MsaOutput {
  /** IR_MSA [R, da] */
  pooled: Float;
  /** Q·K_k / √da [R, K1] in the order of the picks (0 at padding picks; rank it with picks.valid) */
  scores: Float;
  /**
   * The top-k of the valid picks by score as sequence positions [R, k] (SPEC "Top-k order": valid
   * first, then score descending, then the earlier position in the sequence, whatever the order
   * of the picks; padding picks after them in position order, valid false).
   */
  select(k: number): LapPicks;
  /**
   * The weights a [R, K1] (what IR_MSA pools with) at sequence positions [R, k] that are valid picks (new nodes; anything at other
   * positions).
   */
  weightsAt(positions: Int): Float;
}

export interface FsaOptions {
  heads: number;
  headDim: number;
  ffnDim: number;
  outDim: number;
  pool: FsaPool;
}

// ---- shape checks (build time; messages name the block, the thing, the expected and the actual) ----

const show = (v: Value) => formatShape(v.shape);

function staticLast(who: string, what: string, v: Value): number {
  const d = v.shape[v.shape.length - 1];
  if (d === undefined || !isStaticDim(d)) throw new Error(`${who}: the last dim of ${what} must be static, got ${show(v)}`);
  return d;
}

function positiveInt(who: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new Error(`${who}: ${what} must be a positive integer, got ${String(v)}`);
  return v;
}

function oneOf<T extends string>(who: string, what: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T))
    throw new Error(`${who}: ${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

interface SeqDims {
  rows: Dim;
  n: Dim;
  d: number;
}

/** Checks items, mask and query against the layout; returns R, N and d. */
function checkSequence(who: string, layout: SeqLayout, items: Float, mask: Bool, query: Float): SeqDims {
  const perSample = layout.kind === 'perSample';
  const itemsRank = perSample ? 3 : 2;
  if (items.shape.length !== itemsRank) {
    throw new Error(`${who}: items must be ${perSample ? '[R, N, d]' : '[N, d]'} in the '${layout.kind}' layout, got ${show(items)}`);
  }
  const d = staticLast(who, 'items', items);
  const n = items.shape[itemsRank - 2]!;
  if (query.shape.length !== 2) throw new Error(`${who}: query must be [R, d], got ${show(query)}`);
  const qd = staticLast(who, 'query', query);
  if (qd !== d) throw new Error(`${who}: the query width must equal the item width ${d} (CSA is a dot product), got ${qd}`);
  const rows = query.shape[0]!;
  if (perSample && !dimEquals(items.shape[0]!, rows))
    throw new Error(`${who}: items ${show(items)} and query ${show(query)} must have the same rows R`);
  const wantMask: Dim[] = perSample ? [rows, n] : [1, n];
  if (mask.shape.length !== 2 || !mask.shape.every((m, i) => dimEquals(m, wantMask[i]!))) {
    throw new Error(`${who}: mask must be ${formatShape(wantMask)} in the '${layout.kind}' layout, got ${show(mask)}`);
  }
  return { rows, n, d };
}

function checkContext(who: string, layout: SeqLayout, items: Float, context: Float): number {
  const lead = items.shape.slice(0, -1);
  if (context.shape.length !== items.shape.length || !lead.every((x, i) => dimEquals(x, context.shape[i]!))) {
    throw new Error(
      `${who}: context must be ${formatShape([...lead, 'c'])} like items ${show(items)} in the '${layout.kind}' layout, got ` +
        `${show(context)}`,
    );
  }
  return staticLast(who, 'context', context);
}

function checkPicks(who: string, rows: Dim, picks: LapPicks): number {
  const k = picks.indices.shape[1];
  if (picks.indices.shape.length !== 2 || !dimEquals(picks.indices.shape[0]!, rows) || k === undefined || !isStaticDim(k)) {
    throw new Error(`${who}: picks.indices must be [${rows}, K] with a static K, got ${show(picks.indices)}`);
  }
  if (picks.valid.shape.length !== 2 || !picks.valid.shape.every((x, i) => dimEquals(x, picks.indices.shape[i]!))) {
    throw new Error(`${who}: picks.valid must be ${show(picks.indices)} like picks.indices, got ${show(picks.valid)}`);
  }
  return k;
}

/** A k that must fit in the sequence: a positive integer, and <= N when N is static. */
function checkK(who: string, option: string, k: unknown, n: Dim): number {
  const v = positiveInt(who, option, k);
  if (isStaticDim(n) && v > n) throw new Error(`${who}: ${option} must be <= the sequence length ${n}, got ${v}`);
  return v;
}

// ---- helpers ----

/** Padding rows of a sequence tensor zeroed: mask [R, N] | [1, N] against x [R, N, x] | [N, x]. */
function zeroPadding(b: B, layout: SeqLayout, x: Float, mask: Bool): Float {
  const m = layout.kind === 'shared' ? b.transpose(mask, [1, 0]) : b.reshape(mask, [...mask.shape, 1]);
  return b.where(m, x, b.scalar(0));
}

/**
 * Serving's softmax mask over picks valid [R, K] as an additive bias [R, K]: 0 at valid picks,
 * -Infinity at padding picks, and 0 across a row with no valid pick (valid picks come first, so
 * pick 0 tells), whose weights are then finite (uniform over zeroed rows: no NaN forward or
 * backward) and whose output the caller masks.
 */
function pickBias(b: B, valid: Bool): Float {
  return b.where(b.logicalOr(valid, b.logicalNot(b.slice(valid, [0], [1], [1]))), b.scalar(0), b.scalar(-Infinity));
}

/** A masked top-k of scores [R, N'] as picks (indices into the scored axis). */
function topPicks(b: B, scores: Float, k: number, mask: Bool): LapPicks {
  const t = b.topk(scores, k, mask);
  return { indices: t.indices, valid: pickedMask(b, t.values) };
}

/**
 * The top-k of scores [R, K] (aligned with picks [R, K]) among the valid picks, as sequence
 * positions, ties to the earlier position: the picks are first put in position order (a top-K of
 * -position over the valid picks; padding picks keep their order after them, which a masked top-k
 * gives in position order), so the top-k's "lower index" is the earlier position.
 */
function selectByPosition(b: B, scores: Float, picks: LapPicks, k: number): LapPicks {
  const order = b.topk(b.neg(b.cast(picks.indices, 'float32')), picks.indices.shape[1] as number, picks.valid);
  const positions = b.gatherAlongAxis(picks.indices, order.indices, 1);
  const sub = topPicks(b, b.gatherAlongAxis(scores, order.indices, 1), k, pickedMask(b, order.values));
  return { indices: b.gatherAlongAxis(positions, sub.indices, 1), valid: sub.valid };
}

/**
 * Weights a [R, K] aligned with picks [R, K], read at sequence positions [R, k]: the weight of the
 * valid pick holding each position (valid picks hold distinct positions), 0 where none does.
 */
function weightsAtPicks(b: B, a: Float, picks: LapPicks, positions: Int): Float {
  const [rows, k] = [positions.shape[0]!, positions.shape[1]!];
  const kp = picks.indices.shape[1]!;
  const same = b.logicalAnd(
    b.equal(b.reshape(positions, [rows, k, 1]), b.reshape(picks.indices, [rows, 1, kp])),
    b.reshape(picks.valid, [rows, 1, kp]),
  );
  return b.reduceSum(b.where(same, b.reshape(a, [rows, 1, kp]), b.scalar(0)), [2]);
}

/**
 * Serving's off-pick offset for MSA's [C, N] score row: a position that is not a valid K1 pick
 * scores s - 2^96, which rounds to -2^96 exactly (|s| < 2^42 in float64, 2^71 in float32), so
 * its softmax weight is exactly 0 and all such positions tie and rank after every valid pick in
 * position order. Finite, unlike -Infinity: the row's sum stays finite (C·N < 2^32) so ONNX's
 * top-k takes its fast branch, and a row with no valid pick is uniform over zeroed values (zeros,
 * no NaN). A valid pick scoring -2^96 or less would rank with the padding: no trained model does.
 */
const OFF_PICK = 2 ** 96;

/**
 * [e^h ‖ e^c] W for each W, at the picked positions: [R, K, width] per weight, exactly 0 at padding
 * picks. 'shared' projects the N rows once (zeroed first, so a NaN row cannot reach W's gradient)
 * and then picks; 'perSample' picks the K rows, zeroes the padding picks, then projects.
 */
function projectPicked(b: B, layout: SeqLayout, inputs: LapLevelInputs, weights: readonly Float[]): Float[] {
  const { items, context, mask, picks } = inputs;
  if (layout.projectBeforePick) {
    const rows = zeroPadding(b, layout, b.concat([items, context], -1), mask);
    return weights.map((w) => layout.pick(b.matmul(rows, w), picks.indices));
  }
  const picked = b.concat([layout.pick(items, picks.indices), layout.pick(context, picks.indices)], -1);
  const rows = b.where(b.reshape(picks.valid, [...picks.valid.shape, 1]), picked, b.scalar(0));
  return weights.map((w) => b.matmul(rows, w));
}

// ---- the levels ----

/**
 * Coarse-scope attention over the whole sequence: items perSample [R, N, d] | shared [N, d],
 * mask [R, N] | [1, N], query [R, d] → pooled IR_CSA [R, d] and the raw scores r [R, N]. No
 * parameters.
 */
export function csa(b: B, name: string, layout: SeqLayout, inputs: CsaInputs, opts: Partial<CsaOptions> = {}): CsaOutput {
  const who = `csa '${name}'`;
  checkSequence(who, layout, inputs.items, inputs.mask, inputs.query);
  const normalize = oneOf(who, 'normalize', opts.normalize ?? LAP_DEFAULTS.csaNormalize, ['softmax', 'none']);
  return b.scope(name, () => {
    const items = zeroPadding(b, layout, inputs.items, inputs.mask);
    const scores = layout.scores(inputs.query, items); // [R, N], 0 at padding
    if (layout.kind === 'shared' && normalize === 'softmax') {
      // serving: one mask row [1, N] for every candidate, so it becomes an additive bias (0 / -inf)
      // once and the weights are one softmax over [C, N] (a masked softmax selects over [C, N]
      // twice). A sequence with no valid position gives NaN weights; the pool is zeroed then, on
      // [C, d] (the masked softmax's zeros pool to zeros).
      const bias = b.where(inputs.mask, b.scalar(0), b.scalar(-Infinity));
      const w = b.softmax(b.add(scores, bias), -1);
      const anyValid = b.greater(b.reduceMax(b.cast(inputs.mask, 'float32'), [1], true), b.scalar(0)); // [1, 1]
      return { pooled: b.where(anyValid, layout.pool(w, items), b.scalar(0)), scores, weights: w };
    }
    const w = normalize === 'softmax' ? maskedSoftmax(b, scores, inputs.mask) : b.where(inputs.mask, scores, b.scalar(0));
    return { pooled: layout.pool(w, items), scores, weights: w };
  });
}

/** The checks MSA and FSA share: the sequence, its context and the picks; their sizes. */
function checkLevelInputs(who: string, layout: SeqLayout, inputs: LapLevelInputs) {
  const { rows, d } = checkSequence(who, layout, inputs.items, inputs.mask, inputs.query);
  const c = checkContext(who, layout, inputs.items, inputs.context);
  return { rows, d, c, k: checkPicks(who, rows, inputs.picks) };
}

/**
 * Median-scope attention over picked positions: items [R, N, d] | [N, d], context [R, N, c] |
 * [N, c], mask [R, N] | [1, N], query [R, d], picks [R, K1] → pooled IR_MSA [R, da] and the scores
 * [R, K1]. Parameters `<name>/wq` [d, da], `<name>/wk` [d + c, da], `<name>/wv` [d + c, da].
 */
export function msa(b: B, name: string, layout: SeqLayout, inputs: LapLevelInputs, opts: Partial<MsaOptions> = {}): MsaOutput {
  const who = `msa '${name}'`;
  const { rows, d, c, k } = checkLevelInputs(who, layout, inputs);
  const da = positiveInt(who, 'attentionDim', opts.attentionDim ?? LAP_DEFAULTS.attentionDim);
  const normalize = oneOf(who, 'normalize', opts.normalize ?? LAP_DEFAULTS.msaNormalize, ['softmax', 'none']);
  return b.scope(name, () => {
    const wq = b.param('wq', [d, da]),
      wk = b.param('wk', [d + c, da]),
      wv = b.param('wv', [d + c, da]);
    const valid = inputs.picks.valid;
    const weigh = (scores: Float) => (normalize === 'softmax' ? maskedSoftmax(b, scores, valid) : b.where(valid, scores, b.scalar(0)));
    if (layout.kind === 'shared') {
      // serving: the N keys are projected once per request, so one [C, da] x [da, N] product scores
      // every position (the query scaled by 1/√da first: [C, da], not [C, N]); padding rows are
      // zeroed before projecting, so a padding position scores 0 and adds 0.
      const seqRows = zeroPadding(b, layout, b.concat([inputs.items, inputs.context], -1), inputs.mask);
      const keysAll = b.matmul(seqRows, wk),
        valuesAll = b.matmul(seqRows, wv); // [N, da]
      const scoresAll = layout.scores(b.div(b.matmul(inputs.query, wq), b.scalar(Math.sqrt(da))), keysAll); // [C, N]
      const scores = b.gatherAlongAxis(scoresAll, inputs.picks.indices, 1); // [C, K1]
      const n = inputs.items.shape[0]!;
      if (isStaticDim(n)) {
        // K1's picks as a set: a [C, N] row, 1 at the valid picks (scattered: their order changes
        // nothing, so the exporter may select K1 unsorted), the scores there and -2^96 elsewhere.
        // The weights are one softmax over the row and the pool one [C, N] x [N, da] product (no
        // [C, K1, da] gather, 51 MB at C = 1,000); K2 is a top-k of the row itself, whose lower
        // index is the earlier sequence position, as SPEC's tie rule asks.
        const picked = b.scatterAlongAxis(b.cast(valid, 'float32'), inputs.picks.indices, n, 1); // [C, N]
        const row = b.add(scoresAll, b.mul(b.sub(picked, b.scalar(1)), b.scalar(OFF_PICK)));
        const w = normalize === 'softmax' ? b.softmax(row, -1) : b.mul(scoresAll, picked);
        const select = (k: number): LapPicks => {
          const t = b.topk(row, k);
          return { indices: t.indices, valid: b.greater(b.gatherAlongAxis(picked, t.indices, 1), b.scalar(0)) };
        };
        return { pooled: b.matmul(w, valuesAll), scores, select, weightsAt: (positions) => b.gatherAlongAxis(w, positions, 1) };
      }
      // a symbolic N: the picked values gathered, a batched [1, K1] x [K1, da] product per row
      const a = weigh(scores);
      const pooled = b.reshape(b.matmul(b.reshape(a, [rows, 1, k]), layout.pick(valuesAll, inputs.picks.indices)), [rows, da]);
      return {
        pooled,
        scores,
        select: (k2: number) => selectByPosition(b, scores, inputs.picks, k2),
        weightsAt: (positions) => weightsAtPicks(b, a, inputs.picks, positions),
      };
    }
    const q = b.reshape(b.matmul(inputs.query, wq), [rows, 1, da]);
    const [keys, values] = projectPicked(b, layout, inputs, [wk, wv]) as [Float, Float]; // [R, K1, da]
    const scores = b.div(b.reduceSum(b.mul(keys, q), [2]), b.scalar(Math.sqrt(da))); // [R, K1]
    const a = weigh(scores);
    const pooled = b.reduceSum(b.mul(values, b.reshape(a, [rows, k, 1])), [1]);
    return {
      pooled,
      scores,
      select: (k2: number) => selectByPosition(b, scores, inputs.picks, k2),
      weightsAt: (positions) => weightsAtPicks(b, a, inputs.picks, positions),
    };
  });
}

/**
 * Focused-scope attention: l-head attention of the query over the picked positions, a per-item
 * FFN, a mean over the valid picks. Inputs as msa (picks [R, K2]) → IR_FSA [R, outDim]; zeros for
 * a row with no valid pick. Parameters `<name>/wq` [d, l·dh], `<name>/wk`, `<name>/wv` [d + c, l·dh]
 * (head h in columns [h·dh, (h+1)·dh)), `<name>/ffn/l0/{w,b}` [l·dh, d_ff], `<name>/ffn/l1/{w,b}` [d_ff, out].
 */
export function fsa(b: B, name: string, layout: SeqLayout, inputs: LapLevelInputs, opts: Partial<FsaOptions> = {}): Float {
  return fsaLevel(b, name, layout, inputs, opts).output;
}

/** fsa, with its attention a [R, K2, l] (softmax over the picks, per head; what explain reads). */
function fsaLevel(
  b: B,
  name: string,
  layout: SeqLayout,
  inputs: LapLevelInputs,
  opts: Partial<FsaOptions>,
): { output: Float; attention: Float } {
  const who = `fsa '${name}'`;
  const { rows, d, c, k } = checkLevelInputs(who, layout, inputs);
  const l = positiveInt(who, 'heads', opts.heads ?? LAP_DEFAULTS.heads);
  const dh = positiveInt(who, 'headDim', opts.headDim ?? LAP_DEFAULTS.headDim);
  const ffnDim = positiveInt(who, 'ffnDim', opts.ffnDim ?? LAP_DEFAULTS.ffnDim);
  const outDim = positiveInt(who, 'outDim', opts.outDim ?? LAP_DEFAULTS.outDim);
  const pool = oneOf(who, 'pool', opts.pool ?? LAP_DEFAULTS.fsaPool, ['mean', 'sumThenFfn']);
  return b.scope(name, () => {
    const wq = b.param('wq', [d, l * dh]),
      wk = b.param('wk', [d + c, l * dh]),
      wv = b.param('wv', [d + c, l * dh]);
    let scores: Float, values: Float; // [R, K2, l], [R, K2, l, dh]
    if (layout.kind === 'shared') {
      // serving: every head's score in one batched product [K2, l·dh] x [l·dh, l] per row, the
      // query spread over a block-diagonal (head h's dh entries in column h, scaled by 1/√dh)
      // instead of a product over [C, K2, l, dh] and a sum over dh
      const [keys3, values3] = projectPicked(b, layout, inputs, [wk, wv]) as [Float, Float]; // [C, K2, l·dh]
      const blocks = b.constant(
        Array.from({ length: l * dh * l }, (_, i) => (Math.floor(Math.floor(i / l) / dh) === i % l ? 1 / Math.sqrt(dh) : 0)),
        [1, l * dh, l],
      );
      scores = b.matmul(keys3, b.mul(b.reshape(b.matmul(inputs.query, wq), [rows, l * dh, 1]), blocks));
      values = b.reshape(values3, [rows, k, l, dh]);
    } else {
      const q = b.reshape(b.matmul(inputs.query, wq), [rows, 1, l, dh]);
      const [keys, v] = projectPicked(b, layout, inputs, [wk, wv]).map((p) => b.reshape(p, [rows, k, l, dh])) as [Float, Float];
      scores = b.div(b.reduceSum(b.mul(keys, q), [3]), b.scalar(Math.sqrt(dh)));
      values = v;
    }
    const valid = inputs.picks.valid;
    // serving: the mask as a bias [C, K2, 1] added to the scores, then one softmax (ONNX Runtime's
    // Where over [C, K2, l] and the mask's expansion cost 1.5 ms at C = 1,000; the add 0.1); a row
    // with no valid pick is masked below
    const a =
      layout.kind === 'shared'
        ? b.softmax(b.add(scores, b.reshape(pickBias(b, valid), [rows, k, 1])), 1)
        : maskedSoftmax(b, scores, b.reshape(valid, [rows, k, 1]), 1); // softmax over K2, per head
    const h = b.reshape(b.mul(values, b.reshape(a, [rows, k, l, 1])), [rows, k, l * dh]); // H_k, heads side by side
    if (pool === 'mean') {
      if (layout.kind !== 'shared') return { output: maskedMean(b, mlp(b, 'ffn', h, [ffnDim, outDim]), valid), attention: a };
      // serving: the FFN's last layer is affine, so mean_k(x_k w2 + b2) = (mean_k x_k) w2 + b2: one
      // [C, d_ff] x [d_ff, out] product instead of C·K2 rows (same parameters, same value). The
      // mean is a [1, K2] x [K2, d_ff] product per row with weights valid / count (no broadcast
      // select over [C, K2, d_ff]; a padding pick's row is finite, as its H_k is 0). The first
      // layer stays 3-D: as a 2-D product ONNX Runtime fuses it with bias and ReLU into a Gemm
      // that ran 1.2x slower here. A row with no valid pick is masked, as the mean over no pick
      // is zeros (valid picks come first).
      const y = b.scope('ffn', () => {
        // the first layer's bias as one more row of its product, [H_k, 1] [w1; b1] (matmulBiasRow)
        const hidden = b.relu(
          b.scope('l0', () =>
            matmulBiasRow(b, h, b.param('w', [l * dh, ffnDim], init.xavierUniform()), b.param('b', [ffnDim], init.zeros())),
          ),
        ); // [C, K2, d_ff]
        const validF = b.cast(valid, 'float32');
        const weights = b.div(validF, b.maximum(b.reduceSum(validF, [1], true), b.scalar(1))); // [C, K2]
        const mean = b.reshape(b.matmul(b.reshape(weights, [rows, 1, k]), hidden), [rows, ffnDim]);
        return dense(b, 'l1', mean, outDim);
      });
      return { output: b.where(b.slice(valid, [0], [1], [1]), y, b.scalar(0)), attention: a };
    }
    // padding picks add exact zeros to the sum (a = 0, V = 0); FFN(0) = ReLU(b1) w2 + b2 is not 0,
    // so a row with no valid pick is masked; valid picks come first, so pick 0 tells.
    const y = mlp(b, 'ffn', b.reduceSum(h, [1]), [ffnDim, outDim]);
    return { output: b.where(b.slice(valid, [0], [1], [1]), y, b.scalar(0)), attention: a };
  });
}

/**
 * The whole pyramid. items perSample [R, N, d] | shared [N, d], context [R, N, c] | [N, c], mask
 * [R, N] | [1, N], query [R, d] → output [R, d (+ da) (+ outDim)], with the picks of each level.
 * Parameters under `<name>/msa/...` and `<name>/fsa/...` (see msa and fsa); CSA has none.
 */
export function lap(b: B, name: string, layout: SeqLayout, inputs: LapInputs, opts: Partial<LapOptions> = {}): LapOutput {
  const o: LapOptions = { ...LAP_DEFAULTS, ...opts };
  const who = `lap '${name}'`;
  const { n, d } = checkSequence(who, layout, inputs.items, inputs.mask, inputs.query);
  checkContext(who, layout, inputs.items, inputs.context);
  const k1 = o.k1 === undefined ? undefined : checkK(who, 'k1', o.k1, n);
  const k2 = o.k2 === undefined ? undefined : checkK(who, 'k2', o.k2, n);
  if (k1 !== undefined && k2 !== undefined && k2 > k1) throw new Error(`${who}: k2 must be <= k1 (${k1}), got ${k2}`);
  if (k1 !== undefined) positiveInt(who, 'attentionDim', o.attentionDim);
  if (k2 !== undefined) for (const key of ['heads', 'headDim', 'ffnDim', 'outDim'] as const) positiveInt(who, key, o[key]);
  oneOf(who, 'csaNormalize', o.csaNormalize, ['softmax', 'none']);
  oneOf(who, 'msaNormalize', o.msaNormalize, ['softmax', 'none']);
  oneOf(who, 'fsaPool', o.fsaPool, ['mean', 'sumThenFfn']);

  return b.scope(name, () => {
    const level = { items: inputs.items, context: inputs.context, mask: inputs.mask, query: inputs.query };
    const coarse = csa(b, 'csa', layout, level, { normalize: o.csaNormalize });
    const parts: Float[] = [coarse.pooled];
    const out: Omit<LapOutput, 'output' | 'width' | 'explain'> = {};
    let width = d;
    let p1: LapPicks | undefined, median: MsaOutput | undefined, fsaPicks: LapPicks | undefined, fsaAttention: Float | undefined;
    if (k1 !== undefined) {
      p1 = topPicks(b, coarse.scores, k1, inputs.mask);
      median = msa(b, 'msa', layout, { ...level, picks: p1 }, { attentionDim: o.attentionDim, normalize: o.msaNormalize });
      parts.push(median.pooled);
      width += o.attentionDim;
      out.k1Picks = p1.indices;
      out.k1Valid = p1.valid;
      // top-K2 among the K1 picks as sequence positions, ties to the earlier position
      if (k2 !== undefined) fsaPicks = median.select(k2);
    } else if (k2 !== undefined) {
      fsaPicks = topPicks(b, coarse.scores, k2, inputs.mask);
    }
    if (fsaPicks) {
      const focused = fsaLevel(
        b,
        'fsa',
        layout,
        { ...level, picks: fsaPicks },
        { heads: o.heads, headDim: o.headDim, ffnDim: o.ffnDim, outDim: o.outDim, pool: o.fsaPool },
      );
      parts.push(focused.output);
      fsaAttention = focused.attention;
      width += o.outDim;
      out.k2Picks = fsaPicks.indices;
      out.k2Valid = fsaPicks.valid;
    }
    const explain = (): LapExplain =>
      b.scope(name, () =>
        b.scope('explain', () => {
          const at = (picks: LapPicks, weights: Float): LapLevelExplain => ({
            positions: b.where(picks.valid, picks.indices, b.constant(-1, [], 'int32')),
            weights: b.where(picks.valid, weights, b.scalar(0)),
            valid: picks.valid,
          });
          // CSA's picks are what the next level reads: K1 for MSA, or K2 for FSA when MSA is off
          const csaPicks = p1 ?? fsaPicks;
          if (!csaPicks)
            throw new Error(
              `${who}: nothing to explain: k1 and k2 are both off (CSA alone pools over the whole sequence and picks nothing)`,
            );
          const r: LapExplain = { csa: at(csaPicks, b.gatherAlongAxis(coarse.weights, csaPicks.indices, 1)) };
          if (median && fsaPicks) r.msa = at(fsaPicks, median.weightsAt(fsaPicks.indices));
          if (fsaPicks && fsaAttention) r.fsa = at(fsaPicks, b.reduceMean(fsaAttention, [2]));
          return r;
        }),
      );
    return { output: parts.length === 1 ? parts[0]! : b.concat(parts, 1), width, ...out, explain };
  });
}
