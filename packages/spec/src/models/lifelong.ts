/**
 * The lifelong-sequence CTR family: LCN (KDD 2024) and the baselines it is compared with (SIM soft,
 * SIM hard, TWIN), built on one base so that only the lifelong module differs (SPEC.md LCN,
 * Baselines):
 *   base   = DIN target attention over the short target and source sequences (models/din.ts),
 *            profile (and user) embeddings and the candidate, as in the DIN baseline;
 *   module = LAP (CSA -> top-K1 -> MSA -> top-K2 -> FSA) | SIM soft | SIM hard | TWIN | none,
 *            over the lifelong source sequence (N items with context features);
 *   logit  = MLP([base features ‖ module output]);
 *   loss   = mean BCE (+ DIN's mini-batch L2 when l2 > 0) (+ SIM soft's auxiliary GSU loss)
 *            + λ_CRP · L_CRP (training only; λ = 0
 *            leaves CRP out of the graph and its pair inputs out of the schema).
 * Two graphs per config:
 * - training (perSample layout): every input has a leading 'batch' dim, one candidate per row;
 *   outputs `loss`, `prob` [batch].
 * - serving (shared layout): one request: user-side inputs have a leading 1, the candidates are
 *   `candidate`/`candidateCategory` ['cand']; the lifelong sequence is looked up and projected
 *   once per request, then each candidate picks from it; output `prob` ['cand']. No CRP.
 * The serving graph's parameters are the training graph's (CRP has none of its own: it reads the
 * item tables), less SIM soft's auxiliary head.
 */
import { type Bool, type Float, GraphBuilder, type Value, init } from '../builder.ts';
import type { Dim } from '../dims.ts';
import type { FeatureSchema, Graph, InputDecl } from '../graph.ts';
import { bceWithLogits, mlp, mlpOverParts } from '../blocks/common.ts';
import { dinAttention } from '../blocks/din.ts';
import { type SeqLayout, seqLayout } from '../blocks/layout.ts';
import { LAP_DEFAULTS, type LapExplain, type LapOptions, lap } from '../blocks/lap.ts';
import { type SimHardOptions, type SimSoftOptions, simHard, simSoft } from '../blocks/sim.ts';
import { type TwinOptions, twin } from '../blocks/twin.ts';
import { CRP_DEFAULTS, CRP_LAMBDA_SCALE, type CrpOptions, crpLoss, crpSchema } from '../blocks/crp.ts';
import { DIN_DEFAULTS, type DinConfig } from './din.ts';
import {
  BASELINE_DATA_KEYS,
  DIN_RULES,
  SIM_HARD_RULES,
  SIM_SOFT_RULES,
  TWIN_RULES,
  baselineEmbeddings,
  baselineLoss,
  baselineSchema,
} from './baseline.ts';
import { type FieldRule, checkModelFields } from '../config.ts';

export type LifelongModule = 'lap' | 'simSoft' | 'simHard' | 'twin' | 'none';
export const LIFELONG_MODULES: readonly LifelongModule[] = ['lap', 'simSoft', 'simHard', 'twin', 'none'];

export interface CrpConfig extends CrpOptions {
  /** λ_CRP: weight of the CRP loss in the total; 0 leaves CRP out of the training graph */
  readonly lambda: number;
  /** M: negative pairs per type per batch */
  readonly negatives: number;
  /**
   * λ's linear warm-up over this many training steps (crpLambdaScaleAt); absent or 0: none. With
   * W > 0 the training graph takes the scalar input CRP_LAMBDA_SCALE (the trainer feeds it); with
   * 0 graphs and hashes are those of configs without the key.
   */
  readonly warmupSteps?: number;
}

export interface LifelongConfig extends DinConfig {
  /** which lifelong module reads the lifelong sequence */
  readonly module: LifelongModule;
  /** N: static length of the lifelong sequence */
  readonly lifelongLen: number;
  /** cardinality of each context column of the lifelong sequence (watch bucket, ...); empty = no context */
  readonly context: readonly number[];
  /** embedding size of each context column (the context embedding is their concatenation) */
  readonly contextDim: number;
  /** LAP; k1 = 0 / k2 = 0 (or absent) switch the MSA / FSA level off, as in the paper's Table 3 */
  readonly lap: LapOptions;
  /**
   * SIM soft; `auxWeight` weighs SIM's auxiliary CTR loss on the GSU's pooled vector (training
   * only): the top-k pick passes no gradient, so without it the GSU projections never train
   */
  readonly simSoft: SimSoftOptions & { readonly auxWeight: number };
  readonly simHard: SimHardOptions;
  readonly twin: TwinOptions;
  readonly crp: CrpConfig;
}

export const LIFELONG_DEFAULTS: LifelongConfig = {
  ...DIN_DEFAULTS,
  module: 'lap',
  lifelongLen: 1000,
  context: [6],
  contextDim: 8,
  lap: { ...LAP_DEFAULTS, k1: 200, k2: 50 },
  simSoft: { k: 50, gsuDim: 16, attentionDim: 32, auxWeight: 1 },
  simHard: { k: 50, attentionDim: 32 },
  twin: { k: 50, heads: 2, headDim: 16 },
  crp: { ...CRP_DEFAULTS, lambda: 0.1, negatives: 256 },
};

/** Presets: the models of LCN's Table 5 (and its ablations through config). */
export const LIFELONG_PRESETS: Readonly<Record<'lcn' | 'sim-soft' | 'sim-hard' | 'twin', Partial<LifelongConfig>>> = {
  lcn: { module: 'lap' },
  'sim-soft': { module: 'simSoft', crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 } },
  'sim-hard': { module: 'simHard', crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 } },
  twin: { module: 'twin', crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 } },
};

/**
 * The one declaration of the lifelong configs' keys, types and ranges (lifelongConfig checks with
 * it; the trainer's lifelong recipe checks `config.model` and publishes its JSON Schema from it,
 * less LIFELONG_DATA_KEYS and `module`, which the preset fixes). Cross-field rules stay in
 * lifelongConfig. Order = LIFELONG_DEFAULTS'.
 */
export const LAP_RULES = {
  k1: { kind: 'int', min: 0 },
  k2: { kind: 'int', min: 0 },
  attentionDim: { kind: 'int', min: 1 },
  heads: { kind: 'int', min: 1 },
  headDim: { kind: 'int', min: 1 },
  ffnDim: { kind: 'int', min: 1 },
  outDim: { kind: 'int', min: 1 },
  csaNormalize: { kind: 'string', oneOf: ['softmax', 'none'] },
  msaNormalize: { kind: 'string', oneOf: ['softmax', 'none'] },
  fsaPool: { kind: 'string', oneOf: ['mean', 'sumThenFfn'] },
} as const satisfies { readonly [K in keyof LapOptions]-?: FieldRule };
export const CRP_RULES = {
  lambda: { kind: 'number', min: 0 },
  negatives: { kind: 'int', min: 1 },
  temperature: { kind: 'number', gt: 0 },
  infoNce: { kind: 'bool' },
  meanNegatives: { kind: 'bool' },
  scaleByTemperature: { kind: 'bool' },
  weights: { kind: 'object' },
  warmupSteps: { kind: 'int', min: 0 },
} as const satisfies { readonly [K in keyof CrpConfig]-?: FieldRule };
export const CRP_WEIGHT_RULES = {
  pt: { kind: 'number', min: 0 },
  ps: { kind: 'number', min: 0 },
  pc: { kind: 'number', min: 0 },
} as const satisfies Record<string, FieldRule>;
/** The nested sections of a lifelong config (crp.weights is CRP_WEIGHT_RULES). */
export const LIFELONG_SECTION_RULES = {
  lap: LAP_RULES,
  simSoft: SIM_SOFT_RULES,
  simHard: SIM_HARD_RULES,
  twin: TWIN_RULES,
  crp: CRP_RULES,
} as const;
export const LIFELONG_RULES = {
  ...DIN_RULES,
  module: { kind: 'string', oneOf: LIFELONG_MODULES },
  lifelongLen: { kind: 'int', min: 1 },
  context: { kind: 'ints', min: 1, empty: true },
  contextDim: { kind: 'int', min: 1 },
  lap: { kind: 'object' },
  simSoft: { kind: 'object' },
  simHard: { kind: 'object' },
  twin: { kind: 'object' },
  crp: { kind: 'object' },
} as const satisfies { readonly [K in Exclude<keyof LifelongConfig, 'knowledge'>]-?: FieldRule };
/** Section keys that may be absent: LAP's levels (absent = off) and TWIN's outDim (absent = heads x headDim). */
const SECTION_OPTIONAL = ['k1', 'k2', 'outDim', 'warmupSteps'];
/** Keys the data sets: a training config's `model` section leaves them out. */
export const LIFELONG_DATA_KEYS = [...BASELINE_DATA_KEYS, 'context'] as const;

/** Fill defaults (nested sections merged key by key) and check every field. */
export function lifelongConfig(cfg: Partial<LifelongConfig> = {}): LifelongConfig {
  const d = LIFELONG_DEFAULTS;
  const c: LifelongConfig = {
    ...d,
    ...cfg,
    lap: { ...d.lap, ...cfg.lap },
    simSoft: { ...d.simSoft, ...cfg.simSoft },
    simHard: { ...d.simHard, ...cfg.simHard },
    twin: { ...d.twin, ...cfg.twin },
    crp: { ...d.crp, ...cfg.crp, weights: { ...d.crp.weights, ...cfg.crp?.weights } },
  };
  const fields = (v: object) => v as Readonly<Record<string, unknown>>;
  // categories is read only with categoryDim > 0, contextDim only with context columns, crp.negatives only with crp.lambda > 0
  checkModelFields('lifelong', fields(c), LIFELONG_RULES, {
    skip: [...(c.categoryDim > 0 ? [] : ['categories']), ...(c.context.length > 0 ? [] : ['contextDim'])],
  });
  for (const [name, rules] of Object.entries(LIFELONG_SECTION_RULES)) {
    checkModelFields('lifelong', fields(c[name as keyof typeof LIFELONG_SECTION_RULES]), rules, {
      prefix: `${name}.`,
      skip: name === 'crp' && c.crp.lambda === 0 ? ['negatives'] : [],
      optional: SECTION_OPTIONAL,
    });
  }
  checkModelFields('lifelong', fields(c.crp.weights), CRP_WEIGHT_RULES, { prefix: 'crp.weights.' });
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new Error(`lifelong config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
  };
  if ((c.module === 'lap' || c.module === 'twin') && c.context.length === 0)
    fail('context', `at least one context column for module '${c.module}'`, c.context);
  if (c.crp.lambda > 0 && (!c.sequences.includes('target') || !c.sequences.includes('source'))) {
    fail('sequences', "both 'target' and 'source' when crp.lambda > 0 (CRP pairs come from both)", c.sequences);
  }
  return c;
}

/** True when the training graph carries the CRP loss (and its pair inputs). */
export const hasCrp = (c: LifelongConfig): boolean => c.crp.lambda > 0;

/** λ's warm-up steps of the training graph: > 0 only with CRP on and crp.warmupSteps > 0 (then it takes CRP_LAMBDA_SCALE). */
export const crpWarmupSteps = (c: LifelongConfig): number => (hasCrp(c) ? (c.crp.warmupSteps ?? 0) : 0);

/**
 * Feature schema. Training: the baseline's (batch-leading) + lifelongSeq, lifelongSeqCategory
 * (when categoryDim > 0), lifelongMask [batch, N], lifelongContext [batch, N, C] (when context
 * columns exist) + the CRP pair inputs (when λ_CRP > 0) + label. Serving: the same user-side
 * features with a leading 1 and candidate, candidateCategory ['cand'].
 */
export function lifelongSchema(cfg: Partial<LifelongConfig> = {}, graph: 'train' | 'serve' = 'serve'): FeatureSchema {
  const c = lifelongConfig(cfg);
  const train = graph === 'train';
  const s: Record<string, InputDecl | { dtype: InputDecl['dtype']; shape: readonly Dim[] }> = { ...baselineSchema(c, false) };
  const lead: Dim = train ? 'batch' : 1;
  s['lifelongSeq'] = { dtype: 'int32', shape: ['batch', c.lifelongLen] };
  if (c.categoryDim > 0) s['lifelongSeqCategory'] = { dtype: 'int32', shape: ['batch', c.lifelongLen] };
  s['lifelongMask'] = { dtype: 'bool', shape: ['batch', c.lifelongLen] };
  if (c.context.length > 0) s['lifelongContext'] = { dtype: 'int32', shape: ['batch', c.lifelongLen, c.context.length] };
  const out: Record<string, { dtype: InputDecl['dtype']; shape: readonly Dim[] }> = {};
  for (const [name, decl] of Object.entries(s)) {
    const candidateSide = name === 'candidate' || name === 'candidateCategory';
    out[name] = {
      dtype: decl.dtype,
      shape: decl.shape.map((d, i) => (i === 0 && d === 'batch' ? (candidateSide && !train ? 'cand' : lead) : d)),
    };
  }
  if (train) {
    if (hasCrp(c)) Object.assign(out, crpSchema(c.crp.negatives));
    if (crpWarmupSteps(c) > 0) out[CRP_LAMBDA_SCALE] = { dtype: 'float32', shape: [] };
    out['label'] = { dtype: 'float32', shape: ['batch'] };
  }
  return out;
}

function body(b: GraphBuilder<FeatureSchema>, c: LifelongConfig, layout: SeqLayout) {
  const shared = layout.kind === 'shared';
  const rows: Dim = shared ? 'cand' : 'batch';
  const e = baselineEmbeddings(b, c);
  const w = e.itemDim;
  // user-side tensors have a leading 1 when serving: repeated per candidate only for the MLP
  // input; DIN over the short sequences takes them as they are (they broadcast against the
  // candidates, so the keys' own work runs once per request)
  const perRow = <T extends Float | Bool>(x: T): T => (shared ? (b.expand(x, [rows, ...x.shape.slice(1)]) as T) : x);
  const pooled = b.scope('din', () =>
    e.sequences.map((s) => b.scope(s.name, () => dinAttention(b, 'att', s.items, s.mask, e.candidate, { hidden: c.attention }))),
  );
  // serving: the user's features meet their rows of the MLP's first layer once per request (mlpOverParts)
  const splitUser = shared && e.context.length > 0;
  const features: Float[] = [...(splitUser ? [] : e.context.map(perRow)), e.candidate, ...pooled];
  let auxLogit: Float | undefined;
  let explain: (() => LapExplain) | undefined;
  if (c.module !== 'none') {
    const m = lifelongModule(b, c, layout, e.candidate);
    explain = m.explain;
    features.push(m.output);
    // SIM's auxiliary CTR head on the GSU's pooled vector (training only: the serving graph drops it)
    if (m.gsuPooled && !shared && c.simSoft.auxWeight > 0) {
      auxLogit = b.reshape(
        b.scope('simSoft', () => mlp(b, 'aux', b.concat([m.gsuPooled!, e.candidate], 1), [...c.hidden, 1])),
        [rows],
      );
    }
  }
  const x = b.concat(features, 1);
  const head = splitUser
    ? mlpOverParts(
        b,
        'mlp',
        [
          { x: e.context.length === 1 ? e.context[0]! : b.concat(e.context, 1), perRequest: true },
          { x, perRequest: false },
        ],
        [...c.hidden, 1],
      )
    : mlp(b, 'mlp', x, [...c.hidden, 1]);
  const logit = b.reshape(head, [rows]);
  return { logit, prob: b.sigmoid(logit), embeddings: e, auxLogit, explain };
}

/** A table under `emb/`, shared with the base when it already made it (same name, same init). */
function table(b: GraphBuilder<FeatureSchema>, name: string, shape: readonly number[]): Float {
  const id = `emb/${name}`;
  return b.has(id) ? b.expectDtype(b.value(id), 'float32') : b.scope('emb', () => b.param(name, shape, init.normal(0.05)));
}

/** The lifelong module's output [rows, width] (and SIM soft's GSU-pooled vector); the candidate `query` is [rows, itemDim]. */
function lifelongModule(
  b: GraphBuilder<FeatureSchema>,
  c: LifelongConfig,
  layout: SeqLayout,
  query: Float,
): { output: Float; gsuPooled?: Float; explain?: () => LapExplain } {
  const shared = layout.kind === 'shared';
  const N = c.lifelongLen;
  const int = (name: string) => b.expectDtype(b.value(name), 'int32');
  // shared: [1, N, ...] -> [N, ...] (the request's one user), so lookups and projections run once
  const seq = (name: string, tail: readonly Dim[] = []) => (shared ? b.reshape(int(name), [N, ...tail]) : int(name));
  const ids = seq('lifelongSeq');
  let items = b.gather(table(b, 'sourceItem', [c.sourceItems, c.dim]), ids); // [.., N, dim]
  const category = c.categoryDim > 0 ? seq('lifelongSeqCategory') : undefined;
  if (category) items = b.concat([items, b.gather(table(b, 'category', [c.categories, c.categoryDim]), category)], -1);
  let context: Float | undefined;
  if (c.context.length > 0) {
    const ctx = seq('lifelongContext', [c.context.length]);
    const cols = c.context.map((card, k) =>
      b.gather(table(b, `context${k}`, [card, c.contextDim]), b.gather(ctx, b.constant(k, [], 'int32'), shared ? 1 : 2)),
    );
    context = cols.length === 1 ? cols[0]! : b.concat(cols, -1); // [.., N, C * contextDim]
  }
  const mask = b.expectDtype(b.value('lifelongMask'), 'bool'); // [batch, N] | [1, N] (broadcasts over candidates)
  switch (c.module) {
    // k = 0 in the config switches a level off (JSON has no undefined; the graph's meta keeps the 0)
    case 'lap':
      return lap(
        b,
        'lap',
        layout,
        { items, context: context!, mask, query },
        { ...c.lap, k1: c.lap.k1 || undefined, k2: c.lap.k2 || undefined },
      );
    case 'simSoft': {
      const { auxWeight: _aux, ...opts } = c.simSoft;
      return simSoft(b, 'simSoft', layout, { items, mask, query }, opts);
    }
    case 'simHard':
      if (!category) throw new Error("lifelong config: module 'simHard' needs categories: categoryDim must be > 0, got 0");
      return simHard(
        b,
        'simHard',
        layout,
        { items, mask, query, itemCategory: category, queryCategory: int('candidateCategory') },
        c.simHard,
      );
    case 'twin':
      return twin(b, 'twin', layout, { items, mask, query, context: context! }, c.twin);
    case 'none':
      throw new Error("lifelong: module 'none' has no lifelong output");
  }
}

function build(c: LifelongConfig, graph: 'train' | 'serve'): Graph<FeatureSchema, string> {
  const name = graph === 'train' ? 'lifelong-train' : 'lifelong';
  const b = new GraphBuilder(name, lifelongSchema(c, graph));
  const layout = seqLayout(b, graph === 'train' ? 'perSample' : 'shared');
  const out = body(b, c, layout);
  // CRP's options newer than the paper's form are recorded only where CRP is in the graph, so models
  // without it (sim-soft, twin, lambda 0) keep the graph hashes their finished runs are reused by
  const { meanNegatives, scaleByTemperature, warmupSteps, ...paperCrp } = c.crp;
  // likewise warmupSteps: recorded only when > 0 (absent and 0 build the same graph); rest copies keep the key order
  const { warmupSteps: _w, ...crpNoWarmup } = c.crp;
  const metaConfig = hasCrp(c) ? (crpWarmupSteps(c) > 0 ? c : { ...c, crp: crpNoWarmup }) : { ...c, crp: paperCrp };
  const meta = { model: 'lifelong', config: metaConfig, layout: layout.kind };
  if (graph === 'serve') return b.build({ prob: out.prob }, meta);
  let loss = baselineLoss(b, c, out.embeddings, out.logit);
  if (out.auxLogit)
    loss = b.add(loss, b.mul(b.scalar(c.simSoft.auxWeight), bceWithLogits(b, out.auxLogit, b.expectDtype(b.value('label'), 'float32'))));
  if (hasCrp(c)) {
    const i = (n: string) => b.expectDtype(b.value(n), 'int32');
    const m = (n: string) => b.expectDtype(b.value(n), 'bool');
    const tables = { target: table(b, 'targetItem', [c.targetItems, c.dim]), source: table(b, 'sourceItem', [c.sourceItems, c.dim]) };
    const crp = crpLoss(
      b,
      {
        targetTable: tables.target,
        sourceTable: tables.source,
        pt: i('crpPt'),
        ptMask: m('crpPtMask'),
        ps: i('crpPs'),
        psMask: m('crpPsMask'),
        pc: i('crpPc'),
        pcMask: m('crpPcMask'),
        ptNeg: i('crpPtNeg'),
        ptNegMask: m('crpPtNegMask'),
        psNeg: i('crpPsNeg'),
        psNegMask: m('crpPsNegMask'),
        pcNeg: i('crpPcNeg'),
        pcNegMask: m('crpPcNegMask'),
      },
      c.crp,
    );
    // warm-up: λ · scale, scale fed per step (crpLambdaScaleAt); λ · 1 would be the same value, not the same graph
    const lambda =
      crpWarmupSteps(c) > 0 ? b.mul(b.scalar(c.crp.lambda), b.expectDtype(b.value(CRP_LAMBDA_SCALE), 'float32')) : b.scalar(c.crp.lambda);
    loss = b.add(loss, b.mul(lambda, crp.loss));
  }
  return b.build({ prob: out.prob, loss }, meta);
}

/** Serving graph (one request, shared layout): output `prob` ['cand']. */
export function buildLifelong(cfg: Partial<LifelongConfig> = {}): Graph<FeatureSchema, 'prob'> {
  return build(lifelongConfig(cfg), 'serve') as Graph<FeatureSchema, 'prob'>;
}

/** Training graph (perSample layout): outputs `loss` and `prob` [batch]. */
export function buildLifelongTrain(cfg: Partial<LifelongConfig> = {}): Graph<FeatureSchema, 'prob' | 'loss'> {
  return build(lifelongConfig(cfg), 'train') as Graph<FeatureSchema, 'prob' | 'loss'>;
}

/** Whether a lifelong config has an explain variant: LCN (module 'lap') with K1 or K2 on. */
export function hasLifelongExplain(cfg: Partial<LifelongConfig> = {}): boolean {
  const c = lifelongConfig(cfg);
  return c.module === 'lap' && Boolean(c.lap.k1 || c.lap.k2);
}

function explainRefused(c: LifelongConfig): never {
  if (c.module !== 'lap') {
    throw new Error(
      `lifelong explain: module '${c.module}' has no attention pyramid to explain; only module 'lap' (LCN, preset 'lcn') has an explain ` +
        `variant`,
    );
  }
  throw new Error(
    `lifelong explain: lap.k1 and lap.k2 are both 0, so the pyramid picks nothing (CSA alone pools over the whole sequence); expected k1 ` +
      `or k2 > 0, got ${JSON.stringify({ k1: c.lap.k1, k2: c.lap.k2 })}`,
  );
}

/** Outputs of the explain variant of LCN's serving graph, besides `prob` (see buildLifelongExplain). */
export const LIFELONG_EXPLAIN_LEVELS = ['csa', 'msa', 'fsa'] as const;
export type LifelongExplainLevel = (typeof LIFELONG_EXPLAIN_LEVELS)[number];

/** The explain graph's meta.explain: each level present and its K (the width of its outputs). */
export type LifelongExplainMeta = Partial<Record<LifelongExplainLevel, number>>;

/**
 * The explain variant of LCN's serving graph (one request, shared layout, same inputs and
 * parameters): `prob` ['cand'], the very subgraph of buildLifelong's (node for node: the scoring
 * graph is not changed by it), plus what each level of the pyramid picked for each candidate, in
 * its rank order (SPEC "Top-k order"), each [cand, K]:
 *   csaPositions int32, csaWeights, csaValid bool: CSA's top-K1 (top-K2 when MSA is off), weighted
 *     by CSA's softmax over all N (r itself with csaNormalize 'none');
 *   msaPositions, msaWeights, msaValid (MSA and FSA on): MSA's top-K2 of the K1 picks, as
 *     positions in the original sequence, weighted by MSA's softmax over the K1 picks;
 *   fsaPositions, fsaWeights, fsaValid (FSA on): FSA's picks (MSA's top-K2, or CSA's when MSA is
 *     off), weighted by FSA's attention averaged over its heads.
 * Padding picks (fewer valid positions than K) have valid false, position -1 and weight 0. Item
 * ids are the caller's: `lifelongSeq` at the positions. meta.explain gives each level's K.
 * Only LCN (module 'lap') with K1 or K2 on has a pyramid; any other module is an error.
 */
export function buildLifelongExplain(cfg: Partial<LifelongConfig> = {}): Graph<FeatureSchema, string> {
  const c = lifelongConfig(cfg);
  if (!hasLifelongExplain(c)) explainRefused(c);
  const b = new GraphBuilder('lifelong-explain', lifelongSchema(c, 'serve'));
  const layout = seqLayout(b, 'shared');
  const out = body(b, c, layout);
  // made after the scoring graph's nodes, so prob's subgraph keeps its node ids
  const levels = out.explain!();
  const outputs: Record<string, Value> = { prob: out.prob };
  const meta: LifelongExplainMeta = {};
  for (const name of LIFELONG_EXPLAIN_LEVELS) {
    const l = levels[name];
    if (!l) continue;
    Object.assign(outputs, { [`${name}Positions`]: l.positions, [`${name}Weights`]: l.weights, [`${name}Valid`]: l.valid });
    meta[name] = l.positions.shape[1] as number;
  }
  return b.build(outputs, { model: 'lifelong', config: c, layout: layout.kind, variant: 'explain', explain: meta });
}
