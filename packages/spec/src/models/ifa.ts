/**
 * IFA (papers/ifa-2024.txt; SPEC.md "IFA"): the request-level model. One request = one user, C
 * candidate target-domain items, the user's lifelong source sequence (N events). Per request:
 *   U  = user ‖ profile embeddings, repeated for the C candidate rows          [R, C, du]
 *        (serving keeps it [R, 1, du]: the towers' first layers meet it once per request)
 *   Cf = candidate item ‖ category embeddings                                  [R, C, dc]
 *   X  = the candidate's user x item cross-feature embeddings                  [R, C, dx]
 *   S  = sequence item ‖ category ‖ context embeddings                         [R, N, ds]
 *   A  = module(Cf, S): 'ifa' = cross fastAttn (Eq. 2), 'avgPool' = masked mean of S (user side),
 *        'fullAttention' = softmax dot-product target attention over all N (the O(C N d) reference),
 *        'simSoft' | 'simHard' | 'twin' = the two-stage lifelong baselines (blocks/sim.ts, twin.ts:
 *        a GSU picks K of the N events per candidate, an ESU attends over the picks); they read S
 *        as the behaviours and Cf as the query; TWIN also reads the context embeddings (its
 *        per-event cross-feature biases), SIM hard the categories (seqCategory vs candCategory)
 *   Rl = candidate self attention (Eq. 3; left out when relationAware = false)
 *   H0 = [U, Cf, X, A, Rl];  logits a (impression), b (click | impression), b_x (extra objectives)
 *        from row-wise ReLU MLP towers (Eq. 4)
 *   pImpression = σ(a), pClick = σ(b), prob = σ(a) σ(b); padded candidates output 0.
 *   loss (training) = ESMM (Eq. 5) over valid candidates (blocks/ifa.ts esmmLoss)
 *        (+ simSoft.auxWeight · SIM soft's auxiliary GSU loss, see below).
 * Two graphs per config, one body (the schemas differ only in dims):
 * - training: R = 'batch' requests, C and N static from the config; SIM / TWIN run in the
 *   'perRequest' layout (blocks/layout.ts: rows = the R·C candidates, one sequence per request);
 * - serving: one request (leading 1), C -> 'cand', N -> 'seq' symbolic: nothing bakes C or N in.
 *   SIM soft, SIM hard and TWIN need a STATIC N (top-k over the N events; SIM hard ranks by a
 *   position constant of length N): with them the serving schema keeps seq at the config's N
 *   (ifaSeqLen; shorter sequences are right-padded with seqMask false), and asking for a symbolic
 *   seq (`{ seq: 'symbolic' }`) is an error. They serve in the 'shared' layout: the sequence is
 *   looked up and projected once per request, each candidate picks from it.
 * Parameter names are the same in both (the serving graph has no parameter of its own), less SIM
 * soft's auxiliary head `simSoft/aux/...` (training only).
 * SIM soft's auxiliary GSU loss: the top-k pick passes no gradient, so without a signal through
 * the GSU's soft-pooled vector u (blocks/sim.ts gsuPooled) its projections never train. As SIM's
 * auxiliary CTR head, a tower on [u ‖ Cf] gives a logit g, trained (training graph only) with
 * BCE(click, σ(g)) over the IMPRESSED valid candidates, i.e. on p(click | impression). Why click
 * and not impression: the GSU's job is to find the events that tell whether the user wants the
 * candidate (interest: the click), while the impression is the serving policy's exposure
 * decision; the headline metric is the click AUC over impressed candidates. Why not the ESMM
 * product σ(a)σ(g) over all candidates: that would push the auxiliary loss into the impression
 * tower a, which this head should not train; ESMM's sample-selection argument is about the
 * served, calibrated p(click), and this head is dropped at serving. A batch with no impressed
 * candidate gives an auxiliary loss of 0.
 * "IFA without full-sequence modelling" (the paper's Table 3) is the same model reading only the
 * last `shortLen` events: `fullSequence: false` sets the schema's N to shortLen and the data side
 * fills it with the most recent events; the graph has no other switch.
 */
import { type Bool, type Float, GraphBuilder, type Int, type Value, init } from '../builder.ts';
import type { DType } from '../dtype.ts';
import type { Dim } from '../dims.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import { type MlpPart, maskedMean, maskedSoftmax, mlp, mlpOverParts } from '../blocks/common.ts';
import { type EsmmExtra, IFA_KERNELS, type IfaKernel, candidateSelfAttention, crossAttention, esmmLoss } from '../blocks/ifa.ts';
import { type SeqLayout, candidateRows, requestCandidates, seqLayout } from '../blocks/layout.ts';
import { type SimHardOptions, type SimSoftOptions, simHard, simSoft } from '../blocks/sim.ts';
import { type TwinOptions, twin } from '../blocks/twin.ts';
import { type FieldRule, checkModelFields } from '../config.ts';
import { SIM_HARD_RULES, SIM_SOFT_RULES, TWIN_RULES } from './baseline.ts';

export type IfaModule = 'ifa' | 'avgPool' | 'fullAttention' | 'simSoft' | 'simHard' | 'twin';
export const IFA_MODULES: readonly IfaModule[] = ['ifa', 'avgPool', 'fullAttention', 'simSoft', 'simHard', 'twin'];
/** Modules the request model builds (all of them). */
export const IFA_WIRED_MODULES: readonly IfaModule[] = IFA_MODULES;
/** Modules that pick K of the N events with a top-k: they need a static N, also when serving. */
export const IFA_TOPK_MODULES: readonly IfaModule[] = ['simSoft', 'simHard', 'twin'];

/** SIM soft on requests; `auxWeight` weighs the auxiliary GSU loss (training only; 0 leaves it out). */
export interface IfaSimSoftConfig extends SimSoftOptions {
  readonly auxWeight: number;
}

export interface IfaConfig {
  // ---- filled by the data side from the world (vocab sizes include padding id 0) ----
  readonly users: number;
  readonly targetItems: number;
  readonly sourceItems: number;
  /** one category space for both domains */
  readonly categories: number;
  /** cardinality of each profile column; empty leaves `profile` out of the schema */
  readonly profile: readonly number[];
  /** cardinality of each user x item cross column (bucketised); empty leaves `candCross` out */
  readonly cross: readonly number[];
  /** cardinality of each sequence context column (watch bucket, ...); empty leaves `seqContext` out */
  readonly context: readonly number[];
  /** C: candidates per request (training schema; serving takes any number) */
  readonly candidates: number;
  /** N: sequence length (training schema; serving takes any length) */
  readonly seqLen: number;
  // ---- architecture ----
  /** item, user and profile embedding size */
  readonly dim: number;
  readonly categoryDim: number;
  /** embedding size of each cross column */
  readonly crossDim: number;
  /** embedding size of each context column */
  readonly contextDim: number;
  /** d = dv of the attention projections (cross, self, full attention) */
  readonly attnDim: number;
  /** φ of fastAttn */
  readonly kernel: IfaKernel;
  /** ε of fastAttn's degree normaliser */
  readonly eps: number;
  /** hidden sizes of every tower (ReLU); a final layer of size 1 gives the logit */
  readonly towers: readonly number[];
  readonly module: IfaModule;
  /** false: the model reads only the last `shortLen` events (the schema's N becomes shortLen) */
  readonly fullSequence: boolean;
  readonly shortLen: number;
  /** false: no candidate self attention (Rl left out of H0) */
  readonly relationAware: boolean;
  /**
   * extra conditional objectives beyond impression/click (e.g. 'like'): each adds a tower, a label
   * input `<name>` float32 [batch, C] (training) and an output `p<Name>` = p(<name> | impression)
   */
  readonly objectives: readonly string[];
  // ---- module sections (read only by their module) ----
  /** module 'simSoft': k (1 <= k <= N), gsuDim, attentionDim, auxWeight (>= 0) */
  readonly simSoft: IfaSimSoftConfig;
  /** module 'simHard': k (1 <= k <= N), attentionDim */
  readonly simHard: SimHardOptions;
  /** module 'twin': k (1 <= k <= N), heads, headDim, outDim (default heads · headDim); needs context columns */
  readonly twin: TwinOptions;
}

/** What ifaConfig takes: any field may be left out, and so may any field of a module section. */
export type IfaConfigInput = Partial<Omit<IfaConfig, 'simSoft' | 'simHard' | 'twin'>> & {
  readonly simSoft?: Partial<IfaSimSoftConfig>;
  readonly simHard?: Partial<SimHardOptions>;
  readonly twin?: Partial<TwinOptions>;
};

/** Defaults sized for the synthetic world (SPEC.md); the data side sets vocabularies and C, N. */
export const IFA_DEFAULTS: IfaConfig = Object.freeze({
  users: 10000,
  targetItems: 2000,
  sourceItems: 20000,
  categories: 33,
  profile: Object.freeze([8, 2]),
  cross: Object.freeze([8, 8]),
  context: Object.freeze([6]),
  candidates: 20,
  seqLen: 1000,
  dim: 16,
  categoryDim: 8,
  crossDim: 4,
  contextDim: 4,
  attnDim: 32,
  kernel: 'softplus',
  eps: 1e-6,
  towers: Object.freeze([128, 64]),
  module: 'ifa',
  fullSequence: true,
  shortLen: 50,
  relationAware: true,
  objectives: Object.freeze([]),
  simSoft: Object.freeze({ k: 50, gsuDim: 16, attentionDim: 32, auxWeight: 1 }),
  simHard: Object.freeze({ k: 50, attentionDim: 32 }),
  twin: Object.freeze({ k: 50, heads: 2, headDim: 16 }),
});

/**
 * The one declaration of the IFA config's keys, types and ranges (ifaConfig checks with it; the
 * trainer's request recipe checks `config.model` and publishes its JSON Schema from it, less
 * IFA_DATA_KEYS). Cross-field rules (k <= N, twin needs context, objective names) stay in
 * ifaConfig. Order = IFA_DEFAULTS'.
 */
export const IFA_SECTION_RULES = { simSoft: SIM_SOFT_RULES, simHard: SIM_HARD_RULES, twin: TWIN_RULES } as const;
export const IFA_RULES = {
  users: { kind: 'int', min: 1 },
  targetItems: { kind: 'int', min: 1 },
  sourceItems: { kind: 'int', min: 1 },
  categories: { kind: 'int', min: 1 },
  profile: { kind: 'ints', min: 1, empty: true },
  cross: { kind: 'ints', min: 1, empty: true },
  context: { kind: 'ints', min: 1, empty: true },
  candidates: { kind: 'int', min: 1 },
  seqLen: { kind: 'int', min: 1 },
  dim: { kind: 'int', min: 1 },
  categoryDim: { kind: 'int', min: 1 },
  crossDim: { kind: 'int', min: 1 },
  contextDim: { kind: 'int', min: 1 },
  attnDim: { kind: 'int', min: 1 },
  kernel: { kind: 'string', oneOf: IFA_KERNELS },
  eps: { kind: 'number', gt: 0 },
  towers: { kind: 'ints', min: 1, empty: true },
  module: { kind: 'string', oneOf: IFA_MODULES },
  fullSequence: { kind: 'bool' },
  shortLen: { kind: 'int', min: 1 },
  relationAware: { kind: 'bool' },
  objectives: { kind: 'texts', empty: true },
  simSoft: { kind: 'object' },
  simHard: { kind: 'object' },
  twin: { kind: 'object' },
} as const satisfies { readonly [K in keyof IfaConfig]-?: FieldRule };
/** Keys the data sets (sizes, and the extra objectives its labels allow): a training config's `model` section leaves them out. */
export const IFA_DATA_KEYS = [
  'users',
  'targetItems',
  'sourceItems',
  'categories',
  'profile',
  'cross',
  'context',
  'candidates',
  'seqLen',
  'objectives',
] as const;
type Section = keyof typeof IFA_SECTION_RULES;

const KEYS = Object.keys(IFA_RULES) as Array<keyof IfaConfig>;
const OBJECTIVE_NAME = /^[a-z][A-Za-z0-9]*$/;
const RESERVED = new Set([
  'user',
  'profile',
  'cand',
  'candCategory',
  'candMask',
  'candCross',
  'seq',
  'seqCategory',
  'seqMask',
  'seqContext',
  'impression',
  'click',
  'loss',
  'prob',
]);

function fail(field: string, expected: string, got: unknown): never {
  throw new Error(`ifa config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

function section<K extends Section>(name: K, given: unknown): IfaConfig[K] {
  if (given === undefined) return { ...IFA_DEFAULTS[name] };
  if (given === null || typeof given !== 'object' || Array.isArray(given)) fail(name, 'an object', given);
  const known = Object.keys(IFA_SECTION_RULES[name]);
  const unknown = Object.keys(given).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new Error(
      `ifa config: unknown field(s) ${unknown.map((k) => `'${name}.${k}'`).join(', ')}; known fields of ${name}: ${known.join(', ')}`,
    );
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  return { ...IFA_DEFAULTS[name], ...defined } as IfaConfig[K];
}

/** Fill defaults and check every field; errors name the field, what is expected and what was given. */
export function ifaConfig(partial: IfaConfigInput = {}): IfaConfig {
  if (partial === null || typeof partial !== 'object') throw new Error(`ifa config: expected an object, got ${JSON.stringify(partial)}`);
  const unknown = Object.keys(partial).filter((k) => !(KEYS as string[]).includes(k));
  if (unknown.length)
    throw new Error(`ifa config: unknown field(s) ${unknown.map((k) => `'${k}'`).join(', ')}; known fields: ${KEYS.join(', ')}`);
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as IfaConfigInput;
  const c: IfaConfig = {
    ...IFA_DEFAULTS,
    ...(defined as Partial<IfaConfig>),
    simSoft: section('simSoft', defined.simSoft),
    simHard: section('simHard', defined.simHard),
    twin: section('twin', defined.twin),
  };
  const fields = (v: object) => v as Readonly<Record<string, unknown>>;
  checkModelFields('ifa', fields(c), IFA_RULES);
  for (const name of Object.keys(IFA_SECTION_RULES) as Section[])
    checkModelFields('ifa', fields(c[name]), IFA_SECTION_RULES[name], { prefix: `${name}.`, optional: ['outDim'] });
  c.objectives.forEach((o, i) => {
    if (!OBJECTIVE_NAME.test(o)) fail(`objectives[${i}]`, 'a name of letters and digits starting with a lower-case letter', o);
    if (RESERVED.has(o)) fail(`objectives[${i}]`, `a name other than the model's inputs and outputs (${[...RESERVED].join(', ')})`, o);
    if (c.objectives.indexOf(o) !== i) fail(`objectives[${i}]`, 'a name not listed twice', o);
  });
  if (c.module === 'simSoft' || c.module === 'simHard' || c.module === 'twin') {
    const n = c.fullSequence ? c.seqLen : Math.min(c.shortLen, c.seqLen);
    const k = c[c.module].k;
    if (k > n)
      fail(`${c.module}.k`, `<= the sequence length the model reads, N = ${n} (${c.fullSequence ? 'seqLen' : 'min(shortLen, seqLen)'})`, k);
  }
  if (c.module === 'twin' && c.context.length === 0)
    fail('context', "at least one context column for module 'twin' (its per-event cross-feature biases)", c.context);
  return Object.freeze({
    ...c,
    profile: [...c.profile],
    cross: [...c.cross],
    context: [...c.context],
    towers: [...c.towers],
    objectives: [...c.objectives],
    simSoft: { ...c.simSoft },
    simHard: { ...c.simHard },
    twin: { ...c.twin },
  });
}

/** The N the model reads: seqLen, or shortLen (at most seqLen) when fullSequence is false. */
export function ifaSeqLen(cfg: IfaConfigInput = {}): number {
  const c = ifaConfig(cfg);
  return c.fullSequence ? c.seqLen : Math.min(c.shortLen, c.seqLen);
}

/** Output name of an extra objective: 'like' -> 'pLike'. */
export function ifaObjectiveOutput(objective: string): string {
  return `p${objective[0]!.toUpperCase()}${objective.slice(1)}`;
}

/**
 * How the serving graph takes the sequence axis: 'symbolic' (seq, any length per request) or
 * 'static' (the config's N = ifaSeqLen; shorter sequences right-padded). Default: 'symbolic' for
 * 'ifa', 'avgPool', 'fullAttention', 'static' for the top-k modules (the only one they take).
 */
export interface IfaServeOptions {
  readonly seq?: 'symbolic' | 'static';
}

/** The N of the serving schema: 'seq' or the static N; an error for a top-k module asked to take a symbolic seq. */
function serveSeqDim(c: IfaConfig, opts: IfaServeOptions): Dim {
  const seq = opts.seq ?? (IFA_TOPK_MODULES.includes(c.module) ? 'static' : 'symbolic');
  if (seq !== 'symbolic' && seq !== 'static')
    throw new Error(`ifa serving options: seq must be 'symbolic' or 'static', got ${JSON.stringify(seq)}`);
  if (seq === 'symbolic' && IFA_TOPK_MODULES.includes(c.module)) {
    throw new Error(
      `ifa: module '${c.module}' needs a static sequence length N (a top-k over the N events${c.module === 'simHard' ? ', a position constant of length N' : ''}): ` +
        `its serving graph takes seq [1, ${ifaSeqLen(c)}] (the config's N, right-padded), got seq 'symbolic'`,
    );
  }
  return seq === 'static' ? ifaSeqLen(c) : 'seq';
}

/**
 * Feature schema (IFA-CONTRACT.md). Training: 'batch' requests, C and N static; labels
 * impression, click (+ one per extra objective) float32 [batch, C]. Serving: one request
 * (leading 1), C -> 'cand', N -> 'seq' (the static N for SIM soft, SIM hard and TWIN, see
 * IfaServeOptions), no labels. profile / candCross / seqContext are left out when the config has
 * no such column.
 */
export function ifaSchema(cfg: IfaConfigInput = {}, graph: 'train' | 'serve' = 'serve', opts: IfaServeOptions = {}): FeatureSchema {
  const c = ifaConfig(cfg);
  const train = graph === 'train';
  const R: Dim = train ? 'batch' : 1;
  const C: Dim = train ? c.candidates : 'cand';
  const N: Dim = train ? ifaSeqLen(c) : serveSeqDim(c, opts);
  const s: Record<string, { dtype: 'int32' | 'bool' | 'float32'; shape: readonly Dim[] }> = {};
  s['user'] = { dtype: 'int32', shape: [R] };
  if (c.profile.length) s['profile'] = { dtype: 'int32', shape: [R, c.profile.length] };
  s['cand'] = { dtype: 'int32', shape: [R, C] };
  s['candCategory'] = { dtype: 'int32', shape: [R, C] };
  s['candMask'] = { dtype: 'bool', shape: [R, C] };
  if (c.cross.length) s['candCross'] = { dtype: 'int32', shape: [R, C, c.cross.length] };
  s['seq'] = { dtype: 'int32', shape: [R, N] };
  s['seqCategory'] = { dtype: 'int32', shape: [R, N] };
  s['seqMask'] = { dtype: 'bool', shape: [R, N] };
  if (c.context.length) s['seqContext'] = { dtype: 'int32', shape: [R, N, c.context.length] };
  if (train) {
    s['impression'] = { dtype: 'float32', shape: [R, C] };
    s['click'] = { dtype: 'float32', shape: [R, C] };
    for (const o of c.objectives) s[o] = { dtype: 'float32', shape: [R, C] };
  }
  return s;
}

type B = GraphBuilder<FeatureSchema>;

interface Body {
  impLogit: Float;
  clickLogit: Float;
  extraLogits: Float[];
  candMask: Bool;
  auxLogit?: Float;
}

/** What SIM soft, SIM hard and TWIN read: candidate side [R, C, ...], sequence side [R, N, ...]. */
interface TopkInputs {
  Cf: Float;
  S: Float;
  seqMask: Bool;
  context?: Float;
  candCategory: Int;
  seqCategory: Int;
}
type Reshape = <D extends DType>(t: Value<D>) => Value<D>;

/**
 * SIM soft / SIM hard / TWIN over the request: training in the 'perRequest' layout (rows = the
 * R·C candidates, one sequence per request), serving in the 'shared' layout (rows = the 'cand'
 * candidates of the one request, the sequence squeezed to [N, x]). Returns A [R, C, w] and, for
 * SIM soft in training, the auxiliary head's logit [R, C].
 */
function topkModule(b: B, c: IfaConfig, graph: 'train' | 'serve', x: TopkInputs): { A: Float; auxLogit?: Float } {
  const [R, C] = x.Cf.shape as [Dim, Dim];
  const N = x.S.shape[1]!;
  if (typeof N !== 'number') {
    throw new Error(
      `ifa: module '${c.module}' needs a static sequence length N (a top-k over the N events), got seq ` +
        `${JSON.stringify(x.S.shape.slice(0, 2))}`,
    );
  }
  let layout: SeqLayout, rows: Reshape, seqSide: Reshape, back: (y: Float) => Float;
  if (graph === 'train') {
    layout = seqLayout(b, 'perRequest', { candidates: c.candidates });
    rows = (t) => candidateRows(b, layout, t); // [R, C, ...] -> [R·C, ...]
    seqSide = (t) => t; // [R, N, ...]
    back = (y) => requestCandidates(b, layout, y); // [R·C, w] -> [R, C, w]
  } else {
    layout = seqLayout(b, 'shared');
    rows = (t) => b.reshape(t, [C, ...t.shape.slice(2)]); // [1, cand, ...] -> [cand, ...]
    seqSide = (t) => b.reshape(t, [N, ...t.shape.slice(2)]); // [1, N, ...] -> [N, ...]
    back = (y) => b.reshape(y, [R, C, y.shape[1]!]);
  }
  const base = { items: seqSide(x.S), mask: x.seqMask, query: rows(x.Cf) };
  switch (c.module) {
    case 'simSoft': {
      const { auxWeight, ...opts } = c.simSoft;
      const m = simSoft(b, 'simSoft', layout, base, opts);
      let auxLogit: Float | undefined;
      if (graph === 'train' && auxWeight > 0) {
        // SIM's auxiliary head on the GSU's soft-pooled vector (training only; see the header)
        const h = b.concat([m.gsuPooled, base.query], 1); // [R·C, ds + dc]
        auxLogit = b.reshape(back(b.scope('simSoft', () => mlp(b, 'aux', h, [...c.towers, 1]))), [R, C]);
      }
      return { A: back(m.output), auxLogit };
    }
    case 'simHard':
      return {
        A: back(
          simHard(b, 'simHard', layout, { ...base, itemCategory: seqSide(x.seqCategory), queryCategory: rows(x.candCategory) }, c.simHard)
            .output,
        ),
      };
    case 'twin':
      return { A: back(twin(b, 'twin', layout, { ...base, context: seqSide(x.context!) }, c.twin).output) };
    default:
      throw new Error(`ifa: module '${c.module}' is not a top-k module`);
  }
}

function body(b: B, c: IfaConfig, graph: 'train' | 'serve'): Body {
  const int = (n: string) => b.expectDtype(b.value(n), 'int32');
  const bool = (n: string) => b.expectDtype(b.value(n), 'bool');
  const cand = int('cand');
  const [R, C] = cand.shape as [Dim, Dim];
  const candMask = bool('candMask');
  const seqMask = bool('seqMask');
  const table = (name: string, rows: number, width: number) => b.scope('emb', () => b.param(name, [rows, width], init.normal(0.05)));
  const column = (x: ReturnType<typeof int>, k: number) => b.gather(x, b.constant(k, [], 'int32'), x.shape.length - 1);
  const catTable = table('category', c.categories, c.categoryDim);

  // U: user ‖ profile, [R, du] -> [R, C, du]
  const userParts: Float[] = [b.gather(table('user', c.users, c.dim), int('user'))];
  c.profile.forEach((card, k) => userParts.push(b.gather(table(`profile${k}`, card, c.dim), column(int('profile'), k))));
  const u = userParts.length === 1 ? userParts[0]! : b.concat(userParts, -1);
  const du = c.dim * userParts.length;
  const perCandidate = (x: Float, width: number) => b.expand(b.reshape(x, [R, 1, width]), [R, C, width]);
  // serving: user-side features stay [R, 1, w] and meet the towers' first layers once per request
  // (mlpOverParts); training repeats them per candidate row
  const serve = graph === 'serve';
  const perRequest = (x: Float, width: number) => (serve ? b.reshape(x, [R, 1, width]) : perCandidate(x, width));
  const U = perRequest(u, du);

  // Cf: candidate item ‖ category [R, C, dc]
  const Cf = b.concat([b.gather(table('targetItem', c.targetItems, c.dim), cand), b.gather(catTable, int('candCategory'))], -1);
  // X: cross columns [R, C, dx]
  const X = c.cross.map((card, k) => b.gather(table(`cross${k}`, card, c.crossDim), column(int('candCross'), k)));
  // S: sequence item ‖ category ‖ context [R, N, ds]
  const seqItem = b.gather(table('sourceItem', c.sourceItems, c.dim), int('seq'));
  const context = c.context.map((card, k) => b.gather(table(`context${k}`, card, c.contextDim), column(int('seqContext'), k)));
  const S = b.concat([seqItem, b.gather(catTable, int('seqCategory')), ...context], -1);
  const ds = c.dim + c.categoryDim + c.contextDim * c.context.length;

  const att = { attnDim: c.attnDim, kernel: c.kernel, eps: c.eps };
  let A: Float;
  let auxLogit: Float | undefined;
  switch (c.module) {
    case 'ifa':
      A = b.scope('ifa', () => crossAttention(b, 'cross', Cf, S, seqMask, att, candMask));
      break;
    case 'avgPool':
      A = perRequest(maskedMean(b, S, seqMask, 1), ds);
      break;
    case 'fullAttention':
      A = b.scope('fullAttention', () => {
        const dc = c.dim + c.categoryDim;
        const q = b.matmul(Cf, b.param('w_q', [dc, c.attnDim])); // [R, C, d]
        const s0 = b.where(b.reshape(seqMask, [R, seqMask.shape[1]!, 1]), S, b.scalar(0));
        const k = b.matmul(s0, b.param('w_k', [ds, c.attnDim])); // [R, N, d]
        const v = b.matmul(s0, b.param('w_v', [ds, c.attnDim])); // [R, N, dv]
        const scores = b.mul(b.matmul(q, b.transpose(k, [0, 2, 1])), b.scalar(1 / Math.sqrt(c.attnDim))); // [R, C, N]
        const w = maskedSoftmax(b, scores, b.reshape(seqMask, [R, 1, seqMask.shape[1]!]));
        return b.matmul(w, v); // [R, C, dv]
      });
      break;
    case 'simSoft':
    case 'simHard':
    case 'twin': {
      const ctx = context.length === 0 ? undefined : context.length === 1 ? context[0]! : b.concat(context, -1);
      ({ A, auxLogit } = topkModule(b, c, graph, {
        Cf,
        S,
        seqMask,
        context: ctx,
        candCategory: int('candCategory'),
        seqCategory: int('seqCategory'),
      }));
      break;
    }
  }
  const parts: MlpPart[] = [
    { x: U, perRequest: serve },
    ...[Cf, ...X].map((x) => ({ x, perRequest: false })),
    { x: A, perRequest: serve && c.module === 'avgPool' },
  ];
  if (c.relationAware) parts.push({ x: b.scope('ifa', () => candidateSelfAttention(b, 'self', Cf, candMask, att)), perRequest: false });
  const H0 = serve
    ? undefined
    : b.concat(
        parts.map((p) => p.x),
        -1,
      );
  const tower = (name: string) =>
    b.reshape(H0 ? mlp(b, name, H0, [...c.towers, 1]) : mlpOverParts(b, name, parts, [...c.towers, 1]), [R, C]);
  return b.scope('towers', () => ({
    impLogit: tower('impression'),
    clickLogit: tower('click'),
    extraLogits: c.objectives.map((o) => tower(o)),
    candMask,
    auxLogit,
  }));
}

function probs(b: B, c: IfaConfig, out: Body): Record<string, Float> {
  const zero = b.scalar(0);
  const p = (logit: Float) => b.where(out.candMask, b.sigmoid(logit), zero);
  const pImpression = p(out.impLogit),
    pClick = p(out.clickLogit);
  const r: Record<string, Float> = { pImpression, pClick, prob: b.mul(pImpression, pClick) };
  c.objectives.forEach((o, i) => {
    r[ifaObjectiveOutput(o)] = p(out.extraLogits[i]!);
  });
  return r;
}

/**
 * SIM soft's auxiliary GSU loss: mean over the impressed valid candidates (candMask and
 * impression = 1) of BCE(click, σ(g)) = softplus(g) - click · g; 0 when there is none. Other
 * candidates (logits and labels may hold anything) do not count.
 */
function simSoftAuxLoss(b: B, logit: Float, impression: Float, click: Float, candMask: Bool): Float {
  return b.scope('simSoftAux', () => {
    const zero = b.scalar(0);
    const m = b.logicalAnd(candMask, b.greater(impression, b.scalar(0.5)));
    const g = b.where(m, logit, zero),
      y = b.where(m, click, zero);
    const axes = g.shape.map((_, i) => i);
    const total = b.reduceSum(b.where(m, b.sub(b.softplus(g), b.mul(y, g)), zero), axes);
    return b.div(total, b.maximum(b.reduceSum(b.cast(m, 'float32'), axes), b.scalar(1)));
  });
}

function build(c: IfaConfig, graph: 'train' | 'serve', opts: IfaServeOptions = {}): Graph<FeatureSchema, string> {
  const b = new GraphBuilder(graph === 'train' ? 'ifa-train' : 'ifa', ifaSchema(c, graph, opts));
  const out = body(b, c, graph);
  const outputs = probs(b, c, out);
  const meta = { model: 'ifa', config: c, graph };
  if (graph === 'serve') return b.build(outputs, meta);
  const f = (n: string) => b.expectDtype(b.value(n), 'float32');
  const extra: EsmmExtra[] = c.objectives.map((o, i) => ({ logit: out.extraLogits[i]!, label: f(o) }));
  let loss = esmmLoss(b, out.impLogit, out.clickLogit, { impression: f('impression'), click: f('click') }, out.candMask, extra);
  if (out.auxLogit)
    loss = b.add(loss, b.mul(b.scalar(c.simSoft.auxWeight), simSoftAuxLoss(b, out.auxLogit, f('impression'), f('click'), out.candMask)));
  return b.build({ ...outputs, loss }, meta);
}

/**
 * Serving graph: one request; outputs pImpression, pClick, prob (+ p<Objective>) [1, 'cand'].
 * `opts.seq`: see IfaServeOptions (SIM soft, SIM hard and TWIN take only a static seq).
 */
export function buildIfa(cfg: IfaConfigInput = {}, opts: IfaServeOptions = {}): Graph<FeatureSchema, string> {
  return build(ifaConfig(cfg), 'serve', opts);
}

/** Training graph: outputs pImpression, pClick, prob (+ p<Objective>) [batch, C] and loss []. */
export function buildIfaTrain(cfg: IfaConfigInput = {}): Graph<FeatureSchema, string> {
  return build(ifaConfig(cfg), 'train');
}
