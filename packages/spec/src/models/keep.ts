/**
 * KEEP (SPEC.md "KEEP"; papers/keep-cikm2022.txt): the knowledge extraction model, its knowledge
 * graph, the degenerate (category-level) extractor, the two-tower (decomposed) extractor, the per-entity
 * table graphs a knowledge center caches, and the served knowledge assembly. The plug-in that consumes
 * knowledge lives in blocks/keep.ts and is switched on in DIN / AvgPooling by their `knowledge` key.
 *
 * Features (ids int32, masks bool true = valid, 'batch' symbolic, L = seqLen static):
 *   user                                   [batch]      user id (vocab `users`)
 *   item, shop, category                   [batch]      the target item's ids (vocabs `items`, `shops`, `categories`)
 *   behaviourItem, behaviourShop,
 *   behaviourCategory                      [batch, L]   the user's behaviour items
 *   behaviourMask                          [batch, L]
 *   clickLabel, convLabel, cartLabel       float32 [batch], training graphs only (0/1). Click trains on
 *                                          every sample (impressions); conversion and add-to-cart train on
 *                                          the clicked samples only: their per-sample weight IS clickLabel.
 * The degenerate extractor (`target: 'category'`) reads only user, category, behaviourCategory and
 * behaviourMask (see below); the two-tower extractor reads the same features as the extractor and only
 * clickLabel.
 *
 * Extraction model (target 'item'): embeddings shared by all tasks: `emb/user` [users, userDim=48],
 * `emb/item`, `emb/shop`, `emb/category` [vocab, featureDim=16]; an item is item ‖ shop ‖ category (48).
 *   u_seq = Σ_j a_j e_j, a_j = MLP_att([e_j, e_i, e_j - e_i, e_j ⊙ e_i]) (no softmax, masked; `att/*`)
 *   x = [e_user ‖ u_seq ‖ e_item] (144)
 *   per task t ∈ {click, conv, cart}: tower `tower/<t>/l<i>` sizes [512, 256, 128, 64, 2] (ReLU), s_t = z1 - z0,
 *   K^t_ui = the 64-d output of the layer before the 2-way layer.
 *   loss = Σ_t mean BCE(t) + α · pairwise(t), α = 0.25 (blocks/keep.ts for the pair reading).
 *   Knowledge K(u, i) = [K_u = e_user (48) ‖ K_i = e_item (48) ‖ K^click ‖ K^conv ‖ K^cart (64 each)] = 288.
 * Degeneration (target 'category'): the same model with the target item's features replaced by its
 *   category. DIN matches feature groups between the target and the behaviours, so with only a category
 *   on the target side the attention compares categories: e_target = e_category (16), behaviours are
 *   their category embeddings (16), x = [e_user ‖ u_seq ‖ e_category] (80); the towers and losses are
 *   unchanged. K̂_uc = the click tower's 64-d layer output: a function of (user, behaviours, category).
 * Decomposition (two towers, `emb/*` as above, separate parameters):
 *   K̂_u = userTower([e_user ‖ masked mean of the behaviour items]) ∈ R^64, K̂_i = itemTower(e_item) ∈ R^64
 *   (ReLU MLPs, last layer linear), logit = ⟨K̂_u, K̂_i⟩ + `bias`, trained on clicks with BCE + α · pairwise.
 * Served knowledge (Eq. 6): [K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc] (256 with the defaults).
 */
import { type Float, GraphBuilder, type Int, init } from '../builder.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import type { Dim } from '../dims.ts';
import { maskedMean, mlp } from '../blocks/common.ts';
import { dinAttention } from '../blocks/din.ts';
import { keepTaskLoss, keepTower, servedKnowledge } from '../blocks/keep.ts';
import { type FieldRule, checkModelFields } from '../config.ts';

export const KEEP_TASKS = ['click', 'conv', 'cart'] as const;
export type KeepTask = (typeof KEEP_TASKS)[number];
/** The label input of each task. */
export const KEEP_LABELS: Readonly<Record<KeepTask, string>> = { click: 'clickLabel', conv: 'convLabel', cart: 'cartLabel' };
const TASK_SUFFIX: Readonly<Record<KeepTask, string>> = { click: 'Click', conv: 'Conv', cart: 'Cart' };

/** Vocabularies and embedding sizes every KEEP extractor shares. */
export interface KeepFeatureConfig {
  readonly users: number;
  readonly items: number;
  readonly shops: number;
  readonly categories: number;
  /** user-id embedding size (48 in the paper) */
  readonly userDim: number;
  /** item, shop and category embedding sizes (16 each in the paper) */
  readonly featureDim: number;
  /** L: static length of the behaviour sequence */
  readonly seqLen: number;
  /** weight α of the pairwise logistic loss */
  readonly alpha: number;
}

export interface KeepConfig extends KeepFeatureConfig {
  /** hidden sizes of the DIN attention MLP (a final layer of size 1 is added) */
  readonly attention: readonly number[];
  /** each task tower's sizes; must end with 2 (s = z1 - z0); the layer before gives K^t */
  readonly tower: readonly number[];
  /** 'item': the extraction model; 'category': its degeneration (target features replaced by the category) */
  readonly target: 'item' | 'category';
}

export interface KeepTwoTowerConfig extends KeepFeatureConfig {
  /** f_u sizes (ReLU between, last linear); its last size is the width of K̂_u */
  readonly userTower: readonly number[];
  /** f_i sizes; must end with the same width as userTower */
  readonly itemTower: readonly number[];
}

/** Paper sizes; vocabularies are placeholders the trainer sets from the data. */
const FEATURE_DEFAULTS: KeepFeatureConfig = {
  users: 1000,
  items: 22000,
  shops: 500,
  categories: 32,
  userDim: 48,
  featureDim: 16,
  seqLen: 50,
  alpha: 0.25,
};
export const KEEP_DEFAULTS: KeepConfig = { ...FEATURE_DEFAULTS, attention: [80, 40], tower: [512, 256, 128, 64, 2], target: 'item' };
export const KEEP_DEGENERATE_DEFAULTS: KeepConfig = { ...KEEP_DEFAULTS, target: 'category' };
export const KEEP_TWO_TOWER_DEFAULTS: KeepTwoTowerConfig = { ...FEATURE_DEFAULTS, userTower: [128, 64], itemTower: [128, 64] };

// ---------------------------------------------------------------- config checks

function fail(model: string, field: string, expected: string, got: unknown): never {
  throw new Error(`${model} config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}
function checkKnown(model: string, cfg: object, defaults: object): void {
  for (const key of Object.keys(cfg)) {
    if (!(key in defaults)) throw new Error(`${model} config: '${key}' is not a field (known: ${Object.keys(defaults).join(', ')})`);
  }
}
/**
 * The one declaration of the KEEP configs' keys, types and ranges (keepConfig, keepTwoTowerConfig
 * and buildKeepServedKnowledge check with them; the trainer's KEEP recipe checks `config.model` and
 * publishes its JSON Schema from them, less KEEP_DATA_KEYS). Cross-field rules (the tower's last
 * size, equal tower widths) stay in the functions. Order = the defaults'.
 */
const KEEP_FEATURE_RULES = {
  users: { kind: 'int', min: 1 },
  items: { kind: 'int', min: 1 },
  shops: { kind: 'int', min: 1 },
  categories: { kind: 'int', min: 1 },
  userDim: { kind: 'int', min: 1 },
  featureDim: { kind: 'int', min: 1 },
  seqLen: { kind: 'int', min: 1 },
  alpha: { kind: 'number', min: 0 },
} as const satisfies { readonly [K in keyof KeepFeatureConfig]-?: FieldRule };
export const KEEP_RULES = {
  ...KEEP_FEATURE_RULES,
  attention: { kind: 'ints', min: 1, empty: true },
  tower: { kind: 'ints', min: 1 },
  target: { kind: 'string', oneOf: ['item', 'category'] },
} as const satisfies { readonly [K in keyof KeepConfig]-?: FieldRule };
export const KEEP_TWO_TOWER_RULES = {
  ...KEEP_FEATURE_RULES,
  userTower: { kind: 'ints', min: 1 },
  itemTower: { kind: 'ints', min: 1 },
} as const satisfies { readonly [K in keyof KeepTwoTowerConfig]-?: FieldRule };
const SERVED_KNOWLEDGE_RULES = { dim: { kind: 'int', min: 1 }, userCategoryDim: { kind: 'int', min: 1 } } as const satisfies Record<
  string,
  FieldRule
>;
/** Keys the KEEP world sets (vocabularies): a training config's `model` section leaves them out. */
export const KEEP_DATA_KEYS = ['users', 'items', 'shops', 'categories'] as const;
const fields = (v: object) => v as Readonly<Record<string, unknown>>;

/** Defaults filled and every field checked; errors name `keep config: <field>`, expected and actual. */
export function keepConfig(cfg: Partial<KeepConfig> = {}): KeepConfig {
  checkKnown('keep', cfg, KEEP_RULES);
  const c = { ...KEEP_DEFAULTS, ...cfg };
  checkModelFields('keep', fields(c), KEEP_RULES);
  if (c.tower.length < 2 || c.tower[c.tower.length - 1] !== 2)
    fail('keep', 'tower', 'at least 2 sizes ending with 2 (the 2-way output, s = z1 - z0)', c.tower);
  return c;
}

/** Defaults filled and every field checked; errors name `keep-two-tower config: <field>`. */
export function keepTwoTowerConfig(cfg: Partial<KeepTwoTowerConfig> = {}): KeepTwoTowerConfig {
  const model = 'keep-two-tower';
  checkKnown(model, cfg, KEEP_TWO_TOWER_RULES);
  const c = { ...KEEP_TWO_TOWER_DEFAULTS, ...cfg };
  checkModelFields(model, fields(c), KEEP_TWO_TOWER_RULES);
  const du = c.userTower[c.userTower.length - 1],
    di = c.itemTower[c.itemTower.length - 1];
  if (du !== di)
    fail(
      model,
      'itemTower',
      `an array ending with the userTower's width ${String(du)} (⟨K̂_u, K̂_i⟩ and K̂_u ⊙ K̂_i need equal widths)`,
      c.itemTower,
    );
  return c;
}

// ---------------------------------------------------------------- schemas and layouts

type Schema = Record<string, { dtype: 'int32' | 'bool' | 'float32'; shape: Dim[] }>;

function featureSchema(
  c: KeepFeatureConfig,
  parts: { user?: boolean; target?: 'item' | 'category' | 'none'; behaviours?: 'item' | 'category' | 'none'; labels?: readonly KeepTask[] },
): FeatureSchema {
  const s: Schema = {};
  const L = c.seqLen;
  if (parts.user ?? true) s['user'] = { dtype: 'int32', shape: ['batch'] };
  const target = parts.target ?? 'item';
  if (target === 'item') for (const f of ['item', 'shop'] as const) s[f] = { dtype: 'int32', shape: ['batch'] };
  if (target !== 'none') s['category'] = { dtype: 'int32', shape: ['batch'] };
  const beh = parts.behaviours ?? 'item';
  if (beh === 'item') for (const f of ['behaviourItem', 'behaviourShop'] as const) s[f] = { dtype: 'int32', shape: ['batch', L] };
  if (beh !== 'none') {
    s['behaviourCategory'] = { dtype: 'int32', shape: ['batch', L] };
    s['behaviourMask'] = { dtype: 'bool', shape: ['batch', L] };
  }
  for (const t of parts.labels ?? []) s[KEEP_LABELS[t]] = { dtype: 'float32', shape: ['batch'] };
  return s;
}

/** Feature schema of the extractor ('train' adds the three labels; 'serve' also serves the knowledge graph). */
export function keepSchema(cfg: Partial<KeepConfig> = {}, graph: 'train' | 'serve' = 'serve'): FeatureSchema {
  const c = keepConfig(cfg);
  return featureSchema(c, { target: c.target, behaviours: c.target, labels: graph === 'train' ? KEEP_TASKS : [] });
}

/** Feature schema of the two-tower extractor ('train' adds clickLabel). */
export function keepTwoTowerSchema(cfg: Partial<KeepTwoTowerConfig> = {}, graph: 'train' | 'serve' = 'serve'): FeatureSchema {
  return featureSchema(keepTwoTowerConfig(cfg), { labels: graph === 'train' ? ['click'] : [] });
}

export interface KnowledgePart {
  readonly name: string;
  readonly offset: number;
  readonly dim: number;
}

/**
 * Column layout of K(u, i) for an item-target config: user (K_u), item (K_i), click, conv, cart (K^t_ui),
 * in that order, with offsets; the last part ends at the knowledge width (288 with the defaults).
 */
export function keepKnowledgeLayout(cfg: Partial<KeepConfig> = {}): KnowledgePart[] {
  const c = keepConfig(cfg);
  if (c.target !== 'item')
    throw new Error(
      `keep knowledge: K(u, i) needs target 'item', got '${c.target}' (the degenerate extractor gives K̂_uc: buildKeepUserCategoryTable)`,
    );
  const k = c.tower[c.tower.length - 2]!;
  const dims: Array<[string, number]> = [
    ['user', c.userDim],
    ['item', 3 * c.featureDim],
    ...KEEP_TASKS.map((t): [string, number] => [t, k]),
  ];
  let offset = 0;
  return dims.map(([name, dim]) => {
    const p = { name, offset, dim };
    offset += dim;
    return p;
  });
}

/** Width of K(u, i): userDim + 3 featureDim + 3 × the towers' knowledge layer (288 with the defaults). */
export function keepKnowledgeDim(cfg: Partial<KeepConfig> = {}): number {
  const parts = keepKnowledgeLayout(cfg);
  return parts[parts.length - 1]!.offset + parts[parts.length - 1]!.dim;
}

// ---------------------------------------------------------------- shared embedding layer

type B = GraphBuilder<FeatureSchema>;

/** `emb/<name>` [vocab, dim], declared the first time a graph uses it. */
function table(b: B, name: string, vocab: number, dim: number): Float {
  const id = `emb/${name}`;
  if (b.has(id)) return b.expectDtype(b.value(id), 'float32');
  return b.scope('emb', () => b.param(name, [vocab, dim], init.normal(0.05)));
}
const ids = (b: B, name: string): Int => b.expectDtype(b.value(name), 'int32');

/** e_user [batch, userDim]. */
function userEmbedding(b: B, c: KeepFeatureConfig): Float {
  return b.gather(table(b, 'user', c.users, c.userDim), ids(b, 'user'));
}
/** An item as item ‖ shop ‖ category (3 featureDim), or its category alone, from the given id inputs. */
function itemEmbedding(b: B, c: KeepFeatureConfig, names: { item: string; shop: string; category: string }, only?: 'category'): Float {
  const category = () => b.gather(table(b, 'category', c.categories, c.featureDim), ids(b, names.category));
  if (only === 'category') return category();
  const item = b.gather(table(b, 'item', c.items, c.featureDim), ids(b, names.item));
  const shop = b.gather(table(b, 'shop', c.shops, c.featureDim), ids(b, names.shop));
  return b.concat([item, shop, category()], -1);
}
const TARGET = { item: 'item', shop: 'shop', category: 'category' };
const BEHAVIOUR = { item: 'behaviourItem', shop: 'behaviourShop', category: 'behaviourCategory' };

// ---------------------------------------------------------------- the extractor (and its degeneration)

interface ExtractorOut {
  readonly user: Float;
  readonly target: Float;
  readonly towers: Readonly<Record<KeepTask, ReturnType<typeof keepTower>>>;
}

function extractorBody(b: B, c: KeepConfig): ExtractorOut {
  const only = c.target === 'category' ? 'category' : undefined;
  const user = userEmbedding(b, c);
  const target = itemEmbedding(b, c, TARGET, only);
  const behaviours = itemEmbedding(b, c, BEHAVIOUR, only);
  const mask = b.expectDtype(b.value('behaviourMask'), 'bool');
  const uSeq = dinAttention(b, 'att', behaviours, mask, target, { hidden: c.attention });
  const x = b.concat([user, uSeq, target], 1);
  const towers = b.scope('tower', () =>
    Object.fromEntries(KEEP_TASKS.map((t) => [t, keepTower(b, t, x, c.tower)])),
  ) as ExtractorOut['towers'];
  return { user, target, towers };
}

type KeepProbs = 'probClick' | 'probConv' | 'probCart';
type KeepLosses = 'loss' | 'lossClick' | 'lossConv' | 'lossCart';

function probs(b: B, o: ExtractorOut): Record<KeepProbs, Float> {
  return Object.fromEntries(KEEP_TASKS.map((t) => [`prob${TASK_SUFFIX[t]}`, b.sigmoid(o.towers[t].logit)])) as Record<KeepProbs, Float>;
}

/** Serving graph of the extractor: probClick, probConv, probCart [batch]. */
export function buildKeep(cfg: Partial<KeepConfig> = {}): Graph<FeatureSchema, KeepProbs> {
  const c = keepConfig(cfg);
  const b = new GraphBuilder(c.target === 'item' ? 'keep' : 'keep-degenerate', keepSchema(c, 'serve'));
  return b.build(probs(b, extractorBody(b, c)), { model: 'keep', config: c });
}

/**
 * Training graph: the probabilities, each task's loss (lossClick over every sample, lossConv and
 * lossCart over the clicked samples, each BCE + α · pairwise) and their sum `loss`.
 */
export function buildKeepTrain(cfg: Partial<KeepConfig> = {}): Graph<FeatureSchema, KeepProbs | KeepLosses> {
  const c = keepConfig(cfg);
  const b = new GraphBuilder(c.target === 'item' ? 'keep-train' : 'keep-degenerate-train', keepSchema(c, 'train'));
  const o = extractorBody(b, c);
  const users = ids(b, 'user');
  const clicked = b.expectDtype(b.value(KEEP_LABELS.click), 'float32');
  const losses = Object.fromEntries(
    KEEP_TASKS.map((t) => {
      const labels = b.expectDtype(b.value(KEEP_LABELS[t]), 'float32');
      return [`loss${TASK_SUFFIX[t]}`, keepTaskLoss(b, o.towers[t].logit, labels, users, c.alpha, t === 'click' ? undefined : clicked)];
    }),
  ) as Record<Exclude<KeepLosses, 'loss'>, Float>;
  const loss = b.add(b.add(losses.lossClick, losses.lossConv), losses.lossCart);
  return b.build({ ...probs(b, o), ...losses, loss }, { model: 'keep', config: c });
}

/**
 * The knowledge graph of a trained extractor (same parameter names; target 'item'): output `knowledge`
 * [batch, 288] = [K_u ‖ K_i ‖ K^click_ui ‖ K^conv_ui ‖ K^cart_ui] (keepKnowledgeLayout gives the columns).
 */
export function buildKeepKnowledge(cfg: Partial<KeepConfig> = {}): Graph<FeatureSchema, 'knowledge'> {
  const c = keepConfig(cfg);
  keepKnowledgeLayout(c); // target check
  const b = new GraphBuilder('keep-knowledge', keepSchema(c, 'serve'));
  const o = extractorBody(b, c);
  const knowledge = b.concat([o.user, o.target, ...KEEP_TASKS.map((t) => o.towers[t].knowledge)], 1);
  return b.build({ knowledge }, { model: 'keep', config: c });
}

/**
 * The user-category table of the degenerate extractor (target 'category'; its parameter names):
 * inputs user, category, behaviourCategory, behaviourMask; output `userCategoryKnowledge` [batch, 64] =
 * K̂_uc, the click tower's knowledge layer.
 */
export function buildKeepUserCategoryTable(cfg: Partial<KeepConfig> = {}): Graph<FeatureSchema, 'userCategoryKnowledge'> {
  const c = keepConfig(cfg);
  if (c.target !== 'category')
    throw new Error(`keep config: target must be 'category' for the user-category table (the degenerate extractor), got '${c.target}'`);
  const b = new GraphBuilder('keep-user-category-table', keepSchema(c, 'serve'));
  return b.build({ userCategoryKnowledge: extractorBody(b, c).towers.click.knowledge }, { model: 'keep', config: c });
}

// ---------------------------------------------------------------- the two-tower extractor (decomposition)

function userTower(b: B, c: KeepTwoTowerConfig): Float {
  const behaviours = itemEmbedding(b, c, BEHAVIOUR);
  const pooled = maskedMean(b, behaviours, b.expectDtype(b.value('behaviourMask'), 'bool'));
  return mlp(b, 'userTower', b.concat([userEmbedding(b, c), pooled], 1), c.userTower);
}
function itemTower(b: B, c: KeepTwoTowerConfig): Float {
  return mlp(b, 'itemTower', itemEmbedding(b, c, TARGET), c.itemTower);
}
function twoTowerLogit(b: B, c: KeepTwoTowerConfig): Float {
  const dot = b.reduceSum(b.mul(userTower(b, c), itemTower(b, c)), [1]);
  return b.add(dot, b.param('bias', [1], init.zeros()));
}

/** Serving graph of the two-tower extractor: prob [batch] = σ(⟨K̂_u, K̂_i⟩ + b). */
export function buildKeepTwoTower(cfg: Partial<KeepTwoTowerConfig> = {}): Graph<FeatureSchema, 'prob'> {
  const c = keepTwoTowerConfig(cfg);
  const b = new GraphBuilder('keep-two-tower', keepTwoTowerSchema(c, 'serve'));
  return b.build({ prob: b.sigmoid(twoTowerLogit(b, c)) }, { model: 'keep-two-tower', config: c });
}

/** Training graph: prob and loss = mean BCE + α · pairwise on clickLabel. */
export function buildKeepTwoTowerTrain(cfg: Partial<KeepTwoTowerConfig> = {}): Graph<FeatureSchema, 'prob' | 'loss'> {
  const c = keepTwoTowerConfig(cfg);
  const b = new GraphBuilder('keep-two-tower-train', keepTwoTowerSchema(c, 'train'));
  const logit = twoTowerLogit(b, c);
  const loss = keepTaskLoss(b, logit, b.expectDtype(b.value(KEEP_LABELS.click), 'float32'), ids(b, 'user'), c.alpha);
  return b.build({ prob: b.sigmoid(logit), loss }, { model: 'keep-two-tower', config: c });
}

/** The user table: inputs user and the behaviour features; output `userKnowledge` [batch, 64] = K̂_u. */
export function buildKeepUserTable(cfg: Partial<KeepTwoTowerConfig> = {}): Graph<FeatureSchema, 'userKnowledge'> {
  const c = keepTwoTowerConfig(cfg);
  const b = new GraphBuilder('keep-user-table', featureSchema(c, { target: 'none' }));
  return b.build({ userKnowledge: userTower(b, c) }, { model: 'keep-two-tower', config: c });
}

/** The item table: inputs item, shop, category; output `itemKnowledge` [batch, 64] = K̂_i. */
export function buildKeepItemTable(cfg: Partial<KeepTwoTowerConfig> = {}): Graph<FeatureSchema, 'itemKnowledge'> {
  const c = keepTwoTowerConfig(cfg);
  const b = new GraphBuilder('keep-item-table', featureSchema(c, { user: false, behaviours: 'none' }));
  return b.build({ itemKnowledge: itemTower(b, c) }, { model: 'keep-two-tower', config: c });
}

export interface ServedKnowledgeConfig {
  /** width of K̂_u and K̂_i */
  readonly dim: number;
  /** width of K̂_uc */
  readonly userCategoryDim: number;
}
export const SERVED_KNOWLEDGE_DEFAULTS: ServedKnowledgeConfig = { dim: 64, userCategoryDim: 64 };

/**
 * The served knowledge (Eq. 6) as a graph without parameters: inputs userKnowledge, itemKnowledge
 * [batch, dim] and userCategoryKnowledge [batch, userCategoryDim] (rows fetched from the cache); output
 * `knowledge` [batch, 3 dim + userCategoryDim] = [K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc] (256 with the defaults).
 */
export function buildKeepServedKnowledge(cfg: Partial<ServedKnowledgeConfig> = {}): Graph<FeatureSchema, 'knowledge'> {
  checkKnown('keep-served-knowledge', cfg, SERVED_KNOWLEDGE_RULES);
  const c = { ...SERVED_KNOWLEDGE_DEFAULTS, ...cfg };
  checkModelFields('keep-served-knowledge', fields(c), SERVED_KNOWLEDGE_RULES);
  const b = new GraphBuilder('keep-served-knowledge', {
    userKnowledge: { dtype: 'float32', shape: ['batch', c.dim] },
    itemKnowledge: { dtype: 'float32', shape: ['batch', c.dim] },
    userCategoryKnowledge: { dtype: 'float32', shape: ['batch', c.userCategoryDim] },
  });
  const f = (n: string) => b.expectDtype(b.value(n), 'float32');
  return b.build(
    { knowledge: servedKnowledge(b, f('userKnowledge'), f('itemKnowledge'), f('userCategoryKnowledge')) },
    { model: 'keep-served-knowledge', config: c },
  );
}
