/**
 * What the baseline models (AvgPooling, DIN) share: their config, feature schema and the
 * embedding layer. Feature names are those of @lctr/data's SampleSource (SAMPLE_FEATURES),
 * re-declared here because spec must not depend on data:
 * - user int32 [batch]                      (only when `users` > 0)
 * - profile int32 [batch, P]                (only when `profile` is not empty; P = profile.length)
 * - candidate int32 [batch]; candidateCategory int32 [batch]      (target-domain item)
 * - targetSeq, targetSeqCategory int32 [batch, L]; targetSeqMask bool [batch, L]   (when 'target' is used)
 * - sourceSeq, sourceSeqCategory int32 [batch, L]; sourceSeqMask bool [batch, L]   (when 'source' is used)
 * - label float32 [batch]                   (training graphs only)
 * The *Category features are left out when `categoryDim` is 0. 'batch' is symbolic, L is static.
 *
 * Embeddings: target and source items live in separate tables (`emb/targetItem`, `emb/sourceItem`,
 * [vocab, dim]); one category table (`emb/category`, [categories, categoryDim]) serves both domains
 * (the event log has one category space). An item is represented by its item embedding
 * CONCATENATED with its category embedding (dim + categoryDim), as in DIN's goods ‖ category;
 * each profile column k has its own table `emb/profile<k>` ([cardinality_k, dim]); the user id
 * `emb/user` ([users, dim]). Tables are initialised N(0, 0.05²), dense layers Xavier-uniform.
 */
import { type Bool, type Float, type GraphBuilder, init } from '../builder.ts';
import type { FeatureSchema, InputDecl } from '../graph.ts';
import { bceWithLogits, embed } from '../blocks/common.ts';
import { type FieldRule, checkModelFields } from '../config.ts';

export type ShortSequence = 'target' | 'source';

export interface BaselineConfig {
  /** embedding size of items, users and profile values */
  readonly dim: number;
  /** category embedding size, concatenated to every item embedding; 0 leaves categories out */
  readonly categoryDim: number;
  /** L: static length of the short-term sequences */
  readonly seqLen: number;
  /** length of the source sequence when it differs from seqLen (a longer source history); 0 = seqLen */
  readonly sourceSeqLen: number;
  /** short-term sequences the model reads, each pooled separately */
  readonly sequences: readonly ShortSequence[];
  /** user-id vocabulary; 0 leaves the user id out of the schema and the model */
  readonly users: number;
  readonly targetItems: number;
  readonly sourceItems: number;
  readonly categories: number;
  /** cardinality of each profile column; empty leaves the profile out */
  readonly profile: readonly number[];
  /** hidden sizes of the main MLP (ReLU); a final layer of size 1 gives the logit */
  readonly hidden: readonly number[];
  /**
   * mini-batch-aware L2 (DIN's regulariser): training loss += l2 x mean over the batch of the squared
   * norms of the item embeddings the sample uses (valid sequence items and the candidate); 0 = none
   */
  readonly l2: number;
}

/** Defaults sized for the synthetic world (SPEC.md); the trainer sets vocabularies from the data. */
export const BASELINE_DEFAULTS: BaselineConfig = {
  dim: 16,
  categoryDim: 8,
  seqLen: 50,
  sourceSeqLen: 0,
  sequences: ['target', 'source'],
  users: 0,
  targetItems: 2000,
  sourceItems: 20000,
  categories: 32,
  profile: [8, 2],
  hidden: [200, 80],
  l2: 0,
};

/**
 * The one declaration of the baseline configs' keys, types and ranges: spec's builders check with
 * it (checkBaselineConfig) and the trainer's recipes check and publish (JSON Schema) its model
 * section from it, less BASELINE_DATA_KEYS. Order = BASELINE_DEFAULTS' (error messages list keys in it).
 */
export const BASELINE_RULES = {
  dim: { kind: 'int', min: 1 },
  categoryDim: { kind: 'int', min: 0 },
  seqLen: { kind: 'int', min: 1 },
  sourceSeqLen: { kind: 'int', min: 0 },
  sequences: { kind: 'strings', oneOf: ['target', 'source'] },
  users: { kind: 'int', min: 0 },
  targetItems: { kind: 'int', min: 1 },
  sourceItems: { kind: 'int', min: 1 },
  categories: { kind: 'int', min: 1 },
  profile: { kind: 'ints', min: 1, empty: true },
  hidden: { kind: 'ints', min: 1, empty: true },
  l2: { kind: 'number', min: 0 },
} as const satisfies { readonly [K in keyof BaselineConfig]-?: FieldRule };
/** DIN's: the baseline's and the attention MLP's sizes (din.ts). */
export const DIN_RULES = { ...BASELINE_RULES, attention: { kind: 'ints', min: 1, empty: true } } as const satisfies Record<
  string,
  FieldRule
>;
/** Keys the data sets (vocabularies, profile cardinalities): a training config's `model` section leaves them out. */
export const BASELINE_DATA_KEYS = ['users', 'targetItems', 'sourceItems', 'categories', 'profile'] as const;

/** The two-stage lifelong baselines' sections (blocks/sim.ts, twin.ts), shared by the lifelong and the IFA models. */
export const SIM_SOFT_RULES = {
  k: { kind: 'int', min: 1 },
  gsuDim: { kind: 'int', min: 1 },
  attentionDim: { kind: 'int', min: 1 },
  auxWeight: { kind: 'number', min: 0 },
} as const satisfies Record<string, FieldRule>;
export const SIM_HARD_RULES = { k: { kind: 'int', min: 1 }, attentionDim: { kind: 'int', min: 1 } } as const satisfies Record<
  string,
  FieldRule
>;
export const TWIN_RULES = {
  k: { kind: 'int', min: 1 },
  heads: { kind: 'int', min: 1 },
  headDim: { kind: 'int', min: 1 },
  outDim: { kind: 'int', min: 1 },
} as const satisfies Record<string, FieldRule>;

/** Throws an Error naming the model, the field, what is expected and what was given (`rules`: BASELINE_RULES or a model's superset). */
export function checkBaselineConfig(model: string, c: BaselineConfig, rules: Readonly<Record<string, FieldRule>> = BASELINE_RULES): void {
  // categories is read only when categoryDim > 0
  checkModelFields(model, c as unknown as Record<string, unknown>, rules, { skip: c.categoryDim > 0 ? [] : ['categories'] });
}

/** Static length of one of the short sequences under this config. */
export function sequenceLength(c: BaselineConfig, seq: ShortSequence): number {
  return seq === 'source' && c.sourceSeqLen > 0 ? c.sourceSeqLen : c.seqLen;
}

/** The feature schema of a baseline model for this config (see the file comment); `train` adds `label`. */
export function baselineSchema(c: BaselineConfig, train: boolean): FeatureSchema {
  const s: Record<string, InputDecl> = {};
  const add = (name: string, dtype: InputDecl['dtype'], shape: InputDecl['shape']) => {
    s[name] = { name, dtype, shape };
  };
  if (c.users > 0) add('user', 'int32', ['batch']);
  if (c.profile.length > 0) add('profile', 'int32', ['batch', c.profile.length]);
  add('candidate', 'int32', ['batch']);
  if (c.categoryDim > 0) add('candidateCategory', 'int32', ['batch']);
  for (const seq of c.sequences) {
    const len = sequenceLength(c, seq);
    add(`${seq}Seq`, 'int32', ['batch', len]);
    if (c.categoryDim > 0) add(`${seq}SeqCategory`, 'int32', ['batch', len]);
    add(`${seq}SeqMask`, 'bool', ['batch', len]);
  }
  if (train) add('label', 'float32', ['batch']);
  // the schema holds { dtype, shape } only
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape }]));
}

export interface BaselineEmbeddings {
  /** user-independent features of the sample that go straight to the main MLP: [user?, profile...] each [batch, dim] */
  readonly context: readonly Float[];
  /** the candidate item: [batch, dim + categoryDim] */
  readonly candidate: Float;
  /** each used sequence: items [batch, L, dim + categoryDim] and mask [batch, L] */
  readonly sequences: ReadonlyArray<{ readonly name: ShortSequence; readonly items: Float; readonly mask: Bool }>;
  /** width of an item representation: dim + categoryDim */
  readonly itemDim: number;
}

/** The embedding layer every baseline shares (parameters under `emb/`). */
export function baselineEmbeddings(b: GraphBuilder<FeatureSchema>, c: BaselineConfig): BaselineEmbeddings {
  const input = <T extends 'int32' | 'bool'>(name: string, dtype: T) => b.expectDtype(b.value(name), dtype);
  return b.scope('emb', () => {
    const tables = {
      target: b.param('targetItem', [c.targetItems, c.dim], init.normal(0.05)),
      source: c.sequences.includes('source') ? b.param('sourceItem', [c.sourceItems, c.dim], init.normal(0.05)) : undefined,
      category: c.categoryDim > 0 ? b.param('category', [c.categories, c.categoryDim], init.normal(0.05)) : undefined,
    };
    const item = (domain: ShortSequence, ids: string, categoryIds: string): Float => {
      const e = b.gather(tables[domain]!, input(ids, 'int32'));
      return tables.category ? b.concat([e, b.gather(tables.category, input(categoryIds, 'int32'))], -1) : e;
    };
    const context: Float[] = [];
    if (c.users > 0) context.push(embed(b, 'user', input('user', 'int32'), c.users, c.dim));
    c.profile.forEach((card, k) => {
      // column k by a gather with a constant index, not a slice: checkFeeds traces index inputs through
      // slices and would hold every column to this column's table size
      const ids = b.gather(input('profile', 'int32'), b.constant(k, [], 'int32'), 1);
      context.push(embed(b, `profile${k}`, ids, card, c.dim));
    });
    return {
      context,
      candidate: item('target', 'candidate', 'candidateCategory'),
      sequences: c.sequences.map((name) => ({
        name,
        items: item(name, `${name}Seq`, `${name}SeqCategory`),
        mask: input(`${name}SeqMask`, 'bool'),
      })),
      itemDim: c.dim + c.categoryDim,
    };
  });
}

/**
 * The training loss of a baseline: mean BCE on the logit, plus the mini-batch-aware L2 of the item
 * embeddings this batch uses when c.l2 > 0 (only rows that appear in the batch are penalised).
 */
export function baselineLoss(b: GraphBuilder<FeatureSchema>, c: BaselineConfig, e: BaselineEmbeddings, logit: Float): Float {
  const bce = bceWithLogits(b, logit, b.expectDtype(b.value('label'), 'float32'));
  if (c.l2 === 0) return bce;
  const sq = (x: Float) => b.mul(x, x);
  let perSample = b.reduceSum(sq(e.candidate), [1]); // [batch]
  for (const s of e.sequences) {
    const valid = b.where(b.reshape(s.mask, ['batch', s.mask.shape[1]!, 1]), s.items, b.scalar(0));
    perSample = b.add(perSample, b.reduceSum(sq(valid), [1, 2]));
  }
  return b.add(bce, b.mul(b.scalar(c.l2), b.reduceMean(perSample, [0])));
}
