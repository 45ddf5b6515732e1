/**
 * LCN's cross-domain contrastive loss, CRP (SPEC.md "CRP loss (Eqs. 3-6)"), in the DSL:
 *   s(x, y) = ⟨x / max(‖x‖, 1e-12), y / max(‖y‖, 1e-12)⟩                 (cosine similarity)
 *   z_i = s(p1_i, p2_i) / τ  for the positive pair of sample i,  n_j = s(q1_j, q2_j) / τ  for negative j
 *   L_X = -(1/|I|) Σ_{i ∈ I} log( e^{z_i} / Σ_{j ∈ J} e^{n_j} ) = (1/|I|) Σ_{i ∈ I} (logsumexp_{j ∈ J} n_j - z_i)
 *   with I the valid positives and J the valid negatives of the term; option `infoNce` adds the
 *   positive to its own denominator (standard InfoNCE: logsumexp over {z_i} ∪ {n_j}).
 *   L_CRP = w_pt L_PT + w_ps L_PS + w_pc L_PC.
 * Two scalings (issue 19; evidence and commands in experiments/crp/README.md):
 * - `meanNegatives` (default on): log-mean-exp instead of logsumexp (minus log of the number of
 *   valid entries), so a term reads the same at any M. Value only: the gradient is unchanged (the
 *   printed form's push over the negatives is a softmax, 1/τ in total at any M).
 * - `scaleByTemperature` (default off): each term times τ, so its gradient loses the 1/τ factor
 *   (at τ 0.1: the push of λ 0.01). With the printed push at τ 0.1, λ 0.1, CRP's gradient on the
 *   item tables was 100x (target) and 300x (source) the click loss's at step 0 on ml-100k (3 seeds)
 *   and LCN trailed LCN without CRP by 0.012 test AUC after epoch 1; scaled by τ that gap is gone.
 *   It stays off because the same evidence shows the full push paying later: validation-selected
 *   over 6 epochs on the small synthetic world the printed push beat no CRP by 0.014, the scaled
 *   one fell 0.005 short; on ml-100k all three were within one standard error.
 * The paper's printed form is `{ meanNegatives: false, scaleByTemperature: false }` (CRP_PAPER).
 * PT pairs two target-domain items, PS two source-domain items, PC a target item (first) with a
 * source item (second). The loss reads the item-id embedding tables directly (no projection
 * head), so gradients flow into the table rows the pairs name. The pairs are item ids drawn by
 * the data layer (@lctr/data `withCrpPairs`), so every backend sees the same pairs.
 *
 * Masks: a sample whose sequence holds fewer than 2 valid items has no positive (mask false) and
 * is left out of the term's mean; a term with no valid positive, or no valid negative, is 0. The
 * ids of masked pairs are replaced by 0 before the lookup, so they may hold anything (even ids out
 * of the table's range). logsumexp subtracts the (gradient-stopped) max over the valid entries, so
 * a small τ cannot overflow. A zero embedding row has cosine 0 with everything (no NaN).
 *
 * λ_CRP is carried in the options (CRP_DEFAULTS.lambda = 0.1) but not applied here: the model
 * adds λ_CRP · loss to the click loss, so `loss` stays the plain L_CRP the paper's terms define.
 */
import { FLOAT32_MAX, type HostTensor } from '../dtype.ts';
import type { Bool, Float, GraphBuilder, Int, Value } from '../builder.ts';
import type { FeatureSchema } from '../graph.ts';
import type { Shape } from '../dims.ts';

type B = GraphBuilder<FeatureSchema>;

export interface CrpOptions {
  /** τ, the softmax temperature of every term; SPEC default 0.1 */
  temperature: number;
  /** λ_PT, λ_PS, λ_PC; SPEC default 1 each. A zero weight leaves the term out of `loss` (it is still in `terms`). */
  weights: { pt: number; ps: number; pc: number };
  /** false (default): the denominator as printed, negatives only; true: standard InfoNCE (the positive is included) */
  infoNce: boolean;
  /** λ_CRP, the weight of L_CRP in the total loss (0.1); applied by the model, not by crpLoss */
  lambda: number;
  /**
   * true: the denominator is the mean, not the sum, of its exp terms (log-mean-exp: log of the
   * number of valid entries, M or M + 1 with infoNce, is subtracted). Only the value moves (the
   * gradient is the same): a term then reads the same at any M (the printed form is about log M at
   * random init, so λ would weigh a different number at every M).
   */
  meanNegatives: boolean;
  /**
   * true: each term is multiplied by τ, so its gradient per pair does not grow as 1/τ (the raw
   * term's gradient on a cosine is (1/τ) x a probability); λ then weighs a loss whose gradient
   * scale is that of a mean BCE at any τ.
   */
  scaleByTemperature: boolean;
}

export const CRP_DEFAULTS: Readonly<CrpOptions> = Object.freeze({
  temperature: 0.1,
  weights: Object.freeze({ pt: 1, ps: 1, pc: 1 }),
  infoNce: false,
  lambda: 0.1,
  meanNegatives: true,
  scaleByTemperature: false,
});

/** The paper's printed form (SPEC Eqs. 3-6 as written): raw logsumexp over the negatives, no τ scaling. */
export const CRP_PAPER: Readonly<CrpOptions> = Object.freeze({ ...CRP_DEFAULTS, meanNegatives: false, scaleByTemperature: false });

/** Fill defaults and check every option; throws an error naming the option, the expected and the actual value. */
export function resolveCrpOptions(opts: Partial<CrpOptions> = {}): CrpOptions {
  const o: CrpOptions = {
    temperature: opts.temperature ?? CRP_DEFAULTS.temperature,
    weights: { ...CRP_DEFAULTS.weights, ...opts.weights },
    infoNce: opts.infoNce ?? CRP_DEFAULTS.infoNce,
    lambda: opts.lambda ?? CRP_DEFAULTS.lambda,
    meanNegatives: opts.meanNegatives ?? CRP_DEFAULTS.meanNegatives,
    scaleByTemperature: opts.scaleByTemperature ?? CRP_DEFAULTS.scaleByTemperature,
  };
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!finite(o.temperature) || o.temperature <= 0)
    throw new Error(`crp: temperature must be a positive number, got ${String(o.temperature)}`);
  for (const k of ['pt', 'ps', 'pc'] as const) {
    const w = o.weights[k];
    if (!finite(w) || w < 0) throw new Error(`crp: weights.${k} must be a number >= 0, got ${String(w)}`);
  }
  if (typeof o.infoNce !== 'boolean') throw new Error(`crp: infoNce must be true or false, got ${String(o.infoNce)}`);
  if (!finite(o.lambda) || o.lambda < 0) throw new Error(`crp: lambda must be a number >= 0, got ${String(o.lambda)}`);
  for (const k of ['meanNegatives', 'scaleByTemperature'] as const) {
    if (typeof o[k] !== 'boolean') throw new Error(`crp: ${k} must be true or false, got ${String(o[k])}`);
  }
  return o;
}

/**
 * λ_CRP's warm-up (issue 19): with `crp.warmupSteps` W > 0 the LCN training graph takes a float32
 * scalar input of this name and weighs CRP by λ · scale; the trainer feeds scale per step from
 * crpLambdaScaleAt (a pure function of the step, so a resumed run feeds the same values). Eval
 * batches get it too (the training graph reads it) but `prob` does not depend on it; the serving
 * graph has no CRP and no such input. With W = 0 the input does not exist (graphs as before).
 */
export const CRP_LAMBDA_SCALE = 'crpLambdaScale';

/**
 * The warm-up's scale at `step` (0-based: the step about to run): linear, step / W, from 0 at step
 * 0 to 1 at step W and after. Linear, not cosine: CRP's gradient on the item tables falls from
 * 100-300x the click loss's to about 5-20x within the first epoch with the paper's push
 * (experiments/crp/README.md), so the push must stay small for most of the ramp; a cosine ramp
 * is flatter at its start but reaches half way at W/2 like the linear one, and adds a shape
 * nobody measured. W = 0: 1 at every step.
 */
export function crpLambdaScaleAt(warmupSteps: number, step: number): number {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0)
    throw new Error(`crp: warmupSteps must be an integer >= 0, got ${String(warmupSteps)}`);
  if (!Number.isInteger(step) || step < 0) throw new Error(`crp: the step must be an integer >= 0, got ${String(step)}`);
  return warmupSteps === 0 || step >= warmupSteps ? 1 : step / warmupSteps;
}

/** The per-step feed of a graph with λ warm-up W > 0 ({ crpLambdaScale: scale at `step` }); undefined for W = 0 (no such input). */
export function crpLambdaScaleFeeds(
  warmupSteps: number,
): ((step: number) => Record<typeof CRP_LAMBDA_SCALE, HostTensor<'float32'>>) | undefined {
  crpLambdaScaleAt(warmupSteps, 0); // checks W
  if (warmupSteps === 0) return undefined;
  return (step) => ({ [CRP_LAMBDA_SCALE]: { dtype: 'float32', shape: [], data: Float32Array.of(crpLambdaScaleAt(warmupSteps, step)) } });
}

/** The twelve pair inputs, in schema order: positives [batch, 2] + mask [batch], then negatives [M, 2] + mask [M]. */
export const CRP_FEATURES = [
  'crpPt',
  'crpPtMask',
  'crpPs',
  'crpPsMask',
  'crpPc',
  'crpPcMask',
  'crpPtNeg',
  'crpPtNegMask',
  'crpPsNeg',
  'crpPsNegMask',
  'crpPcNeg',
  'crpPcNegMask',
] as const;
export type CrpFeature = (typeof CRP_FEATURES)[number];
export type CrpPairFeature = 'crpPt' | 'crpPs' | 'crpPc' | 'crpPtNeg' | 'crpPsNeg' | 'crpPcNeg';
export type CrpMaskFeature = Exclude<CrpFeature, CrpPairFeature>;

/** The feature schema of the pair inputs: ids int32, masks bool; 'batch' symbolic, M static. */
export type CrpSchema = { readonly [K in CrpPairFeature]: { readonly dtype: 'int32'; readonly shape: Shape } } & {
  readonly [K in CrpMaskFeature]: { readonly dtype: 'bool'; readonly shape: Shape };
};

/**
 * Schema of the CRP inputs with M negatives per term:
 * crpPt/crpPs/crpPc int32 ['batch', 2], their masks bool ['batch'];
 * crpPtNeg/crpPsNeg/crpPcNeg int32 [m, 2], their masks bool [m].
 */
export function crpSchema(m: number): CrpSchema {
  if (!Number.isInteger(m) || m < 1) throw new Error(`crpSchema: the number of negatives must be a positive integer, got ${String(m)}`);
  const pair = (lead: string | number) => ({ dtype: 'int32' as const, shape: [lead, 2] as const });
  const mask = (lead: string | number) => ({ dtype: 'bool' as const, shape: [lead] as const });
  return {
    crpPt: pair('batch'),
    crpPtMask: mask('batch'),
    crpPs: pair('batch'),
    crpPsMask: mask('batch'),
    crpPc: pair('batch'),
    crpPcMask: mask('batch'),
    crpPtNeg: pair(m),
    crpPtNegMask: mask(m),
    crpPsNeg: pair(m),
    crpPsNegMask: mask(m),
    crpPcNeg: pair(m),
    crpPcNegMask: mask(m),
  };
}

/**
 * `schema` without the CRP features (and the warm-up's CRP_LAMBDA_SCALE, which the trainer feeds,
 * not the data): what the inner sample source of `withCrpPairs` (@lctr/data) is given.
 */
export function withoutCrpFeatures<S extends FeatureSchema>(schema: S): Omit<S, CrpFeature> {
  const out: Record<string, S[string]> = {};
  for (const [k, v] of Object.entries(schema))
    if (!(CRP_FEATURES as readonly string[]).includes(k) && k !== CRP_LAMBDA_SCALE) out[k] = v as S[string];
  return out as Omit<S, CrpFeature>;
}

export interface CrpInputs {
  /** the target-domain item table [Vt, d] (emb/targetItem) */
  targetTable: Float;
  /** the source-domain item table [Vs, d] (emb/sourceItem); same d as the target table */
  sourceTable: Float;
  /** positives [R, 2] (target, target) / (source, source) / (target, source) ids, masks [R] */
  pt: Int;
  ptMask: Bool;
  ps: Int;
  psMask: Bool;
  pc: Int;
  pcMask: Bool;
  /** negatives [M, 2] with the same domains as their positives, masks [M] */
  ptNeg: Int;
  ptNegMask: Bool;
  psNeg: Int;
  psNegMask: Bool;
  pcNeg: Int;
  pcNegMask: Bool;
}

/** The CrpInputs of a graph whose schema holds the CRP features (crpSchema), with the two item tables. */
export function crpInputsOf(
  inputs: { readonly [K in CrpPairFeature]: Value<'int32'> } & { readonly [K in CrpMaskFeature]: Value<'bool'> },
  targetTable: Float,
  sourceTable: Float,
): CrpInputs {
  return {
    targetTable,
    sourceTable,
    pt: inputs.crpPt,
    ptMask: inputs.crpPtMask,
    ps: inputs.crpPs,
    psMask: inputs.crpPsMask,
    pc: inputs.crpPc,
    pcMask: inputs.crpPcMask,
    ptNeg: inputs.crpPtNeg,
    ptNegMask: inputs.crpPtNegMask,
    psNeg: inputs.crpPsNeg,
    psNegMask: inputs.crpPsNegMask,
    pcNeg: inputs.crpPcNeg,
    pcNegMask: inputs.crpPcNegMask,
  };
}

const fmt = (s: Shape) => `[${s.join(', ')}]`;
const sameDim = (a: Shape[number] | undefined, b: Shape[number] | undefined) => a !== undefined && String(a) === String(b);

function checkPairs(what: string, ids: Int, mask: Bool): void {
  if (ids.shape.length !== 2 || ids.shape[1] !== 2)
    throw new Error(`crp: ${what} must be [rows, 2] item ids, got ${ids.dtype}${fmt(ids.shape)}`);
  if (mask.shape.length !== 1 || !sameDim(mask.shape[0], ids.shape[0])) {
    throw new Error(
      `crp: ${what}Mask must be [${String(ids.shape[0])}] (one flag per row of ${what} ${fmt(ids.shape)}), got ` +
        `${mask.dtype}${fmt(mask.shape)}`,
    );
  }
}

/** Cosine similarity of each id pair: ids [R, 2] (first id in t1, second in t2) → [R, 1]. */
function pairCosine(b: B, t1: Float, t2: Float, ids: Int): Float {
  // normalise the gathered rows, not the whole tables: R rows instead of V
  const e1 = b.l2Normalize(b.gather(t1, b.slice(ids, [0], [1], [1])), -1, 1e-12); // [R, 1, d]
  const e2 = b.l2Normalize(b.gather(t2, b.slice(ids, [1], [2], [1])), -1, 1e-12);
  return b.reduceSum(b.mul(e1, e2), [2]); // [R, 1]
}

/** Masked ids replaced by 0, so what a masked row holds (even an id out of range) is never looked up. */
function safeIds(b: B, ids: Int, mask: Bool): Int {
  return b.where(b.reshape(mask, [...mask.shape, 1]), ids, b.constant(0, [], ids.dtype));
}

/** One term: positives [R, 2] with mask [R], negatives [M, 2] with mask [M] → scalar []. */
function crpTerm(b: B, t1: Float, t2: Float, pos: Int, posMask: Bool, neg: Int, negMask: Bool, o: CrpOptions): Float {
  const invTau = b.scalar(1 / o.temperature);
  const zPos = b.mul(pairCosine(b, t1, t2, safeIds(b, pos, posMask)), invTau); // [R, 1]
  const m = neg.shape[0]!;
  const zNeg = b.reshape(b.mul(pairCosine(b, t1, t2, safeIds(b, neg, negMask)), invTau), [1, m]); // [1, M]
  const negRow = b.reshape(negMask, [1, m]);
  const negCount = b.reduceSum(b.cast(negMask, 'float32'), [0]); // []
  // max over the valid negatives, -FLT_MAX when there is none (the term is then gated to 0)
  const negMax = b.reduceMax(b.where(negRow, zNeg, b.scalar(-FLOAT32_MAX)), [1], true); // [1, 1]
  let perRow: Float; // -log(...) per positive, [R, 1]
  if (!o.infoNce) {
    // the printed denominator does not depend on i: one logsumexp over the valid negatives
    const shift = b.stopGradient(b.where(b.greater(negMax, b.scalar(-1e38)), negMax, b.scalar(0)));
    const e = b.exp(b.where(negRow, b.sub(zNeg, shift), b.scalar(-Infinity))); // exp(-inf) = 0 at masked negatives
    const lse = b.add(shift, b.log(b.maximum(b.reduceSum(e, [1], true), b.scalar(1e-30)))); // [1, 1]
    perRow = b.sub(o.meanNegatives ? b.sub(lse, b.log(b.maximum(negCount, b.scalar(1)))) : lse, zPos);
  } else {
    // the positive joins its own denominator: shift by max(z_i, max_j n_j), finite since z_i is
    const shift = b.stopGradient(b.maximum(zPos, negMax)); // [R, 1]
    const eNeg = b.exp(b.where(negRow, b.sub(zNeg, shift), b.scalar(-Infinity))); // [R, M]
    const den = b.add(b.exp(b.sub(zPos, shift)), b.reduceSum(eNeg, [1], true)); // [R, 1], >= 1
    const lse = b.add(shift, b.log(den));
    perRow = b.sub(o.meanNegatives ? b.sub(lse, b.log(b.add(negCount, b.scalar(1)))) : lse, zPos);
  }
  const posCol = b.reshape(posMask, [...posMask.shape, 1]);
  const sum = b.reduceSum(b.where(posCol, perRow, b.scalar(0)), [0, 1]);
  const count = b.reduceSum(b.cast(posMask, 'float32'), [0]);
  let mean = b.div(sum, b.maximum(count, b.scalar(1))); // 0 when no positive is valid
  if (o.scaleByTemperature) mean = b.mul(mean, b.scalar(o.temperature));
  return b.where(b.greater(negCount, b.scalar(0)), mean, b.scalar(0));
}

/**
 * L_CRP and its three terms, each a float32 scalar []. Tables [Vt, d] and [Vs, d]; positives
 * [R, 2] with masks [R] (R = 'batch' in a training graph); negatives [M, 2] with masks [M], M
 * static (it may differ between the terms). Node ids are scoped `crp/...`; no parameters.
 */
export function crpLoss(
  b: B,
  inputs: CrpInputs,
  opts: Partial<CrpOptions> = {},
): { loss: Float; terms: { pt: Float; ps: Float; pc: Float } } {
  const o = resolveCrpOptions(opts);
  const { targetTable: tt, sourceTable: st } = inputs;
  if (tt.shape.length !== 2 || st.shape.length !== 2)
    throw new Error(`crp: the item tables must be [vocab, d], got targetTable ${fmt(tt.shape)} and sourceTable ${fmt(st.shape)}`);
  if (typeof tt.shape[1] !== 'number' || !sameDim(tt.shape[1], st.shape[1])) {
    throw new Error(
      `crp: targetTable and sourceTable must share a static width d (PC compares a target with a source item), got ${fmt(tt.shape)} and ` +
        `${fmt(st.shape)}`,
    );
  }
  const pairs = [
    ['pt', inputs.pt, inputs.ptMask],
    ['ps', inputs.ps, inputs.psMask],
    ['pc', inputs.pc, inputs.pcMask],
    ['ptNeg', inputs.ptNeg, inputs.ptNegMask],
    ['psNeg', inputs.psNeg, inputs.psNegMask],
    ['pcNeg', inputs.pcNeg, inputs.pcNegMask],
  ] as const;
  for (const [what, ids, mask] of pairs) checkPairs(what, ids, mask);
  for (const [what, ids] of pairs.slice(3)) {
    if (typeof ids.shape[0] !== 'number') throw new Error(`crp: ${what} must have a static number of rows M, got ${fmt(ids.shape)}`);
  }
  return b.scope('crp', () => {
    const terms = {
      pt: b.scope('pt', () => crpTerm(b, tt, tt, inputs.pt, inputs.ptMask, inputs.ptNeg, inputs.ptNegMask, o)),
      ps: b.scope('ps', () => crpTerm(b, st, st, inputs.ps, inputs.psMask, inputs.psNeg, inputs.psNegMask, o)),
      pc: b.scope('pc', () => crpTerm(b, tt, st, inputs.pc, inputs.pcMask, inputs.pcNeg, inputs.pcNegMask, o)),
    };
    // zero-weight terms stay out of the sum, so a graph that outputs only `loss` prunes them
    const used = (['pt', 'ps', 'pc'] as const).filter((k) => o.weights[k] !== 0);
    const loss =
      used.length === 0
        ? b.scalar(0)
        : used.map((k) => (o.weights[k] === 1 ? terms[k] : b.mul(terms[k], b.scalar(o.weights[k])))).reduce((acc, t) => b.add(acc, t));
    return { loss, terms };
  });
}
