/**
 * KEEP blocks (SPEC.md "KEEP"; papers/keep-cikm2022.txt), written once in the DSL:
 * - the task tower: a private ReLU MLP [.., 64, 2] whose logit is s = z1 - z0 and whose
 *   second-to-last layer output (after its ReLU) is the task's user-item knowledge K^t_ui;
 * - the task loss: mean BCE over the samples the task trains on + α · pairwise logistic loss over
 *   same-user pairs of opposite labels in the batch (Eqs. 1-3);
 * - the plug-in network h^k = Linear(K→hidden)-ReLU-Linear(hidden→dim h_m), last layer
 *   zero-initialised, added to layer m of a downstream MLP through `mlp`'s layer hook (Eq. 5);
 * - the served knowledge assembly [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc] (Eq. 6).
 */
import { type Bool, type Float, type GraphBuilder, type Int, init } from '../builder.ts';
import type { FeatureSchema } from '../graph.ts';
import { type MlpLayerHook, dense, mlp } from './common.ts';

type B = GraphBuilder<FeatureSchema>;

// ---------------------------------------------------------------- task towers and losses

export interface KeepTowerOutput {
  /** s = z1 - z0 [batch]: σ(s) is the softmax probability of class 1 of the 2-way output */
  readonly logit: Float;
  /** the output (after ReLU) of the layer before the 2-way layer: K^t_ui [batch, sizes[len - 2]] */
  readonly knowledge: Float;
}

/** A task tower `<name>/l<i>/{w,b}` over x [batch, in]; sizes must end with 2 (checked by the model config). */
export function keepTower(b: B, name: string, x: Float, sizes: readonly number[]): KeepTowerOutput {
  if (sizes.length < 2 || sizes[sizes.length - 1] !== 2)
    throw new Error(`keepTower '${name}': sizes must have at least 2 layers and end with 2, got [${sizes.join(', ')}]`);
  let knowledge: Float | undefined;
  const z = mlp(b, name, x, sizes, 'relu', 'none', (i, h) => {
    if (i === sizes.length - 2) knowledge = h;
    return h;
  });
  const logit = b.sub(b.slice(z, [1], [2], [1]), b.slice(z, [0], [1], [1]));
  return { logit: b.reshape(logit, [x.shape[0]!]), knowledge: knowledge! };
}

/** Σ w·x / Σ w over [batch], or 0 when Σ w = 0 (no sample of this task in the batch). */
function weightedMean(b: B, x: Float, weight: Float): Float {
  const sw = b.reduceSum(weight, [0]);
  return b.div(b.reduceSum(b.mul(x, weight), [0]), b.where(b.greater(sw, b.scalar(0)), sw, b.scalar(1)));
}

/**
 * Mean binary cross-entropy on logits [batch] over the samples a task trains on: Σ_i w_i BCE_i / Σ_i w_i
 * (0 when no sample has weight); `weight` absent = every sample, the plain mean.
 */
export function maskedBce(b: B, logits: Float, labels: Float, weight?: Float): Float {
  const per = b.sub(b.softplus(logits), b.mul(labels, logits));
  return weight ? weightedMean(b, per, weight) : b.reduceMean(per, [0]);
}

/**
 * Pairwise logistic loss (KEEP Eq. 2) computed for all pairs of the batch at once with a [B, B] mask:
 *   mean over pairs (i, j) with user_i = user_j, label_i = 1, label_j = 0, both trained on by the task
 *   (weight > 0), of log(1 + exp(-(s_i - s_j))); 0 when the batch holds no such pair.
 * Reading of SPEC's "j = an item of the same user in the batch with the opposite label (skip if
 * none)": every opposite-label pair of the same user counts once, oriented positive i vs negative j
 * (the orientation that makes the loss push s_i above s_j), and the pair term is the mean over all
 * such pairs of the batch (a sample without an opposite-label partner adds no term). Labels are
 * positive when > 0.5. logits, labels, weight [batch] float32; users [batch] int.
 */
export function pairwiseLogisticLoss(b: B, logits: Float, labels: Float, users: Int, weight?: Float): Float {
  const n = logits.shape[0]!;
  const col = <T extends Float | Int | Bool>(v: T) => b.reshape(v, [n, 1]) as T;
  const row = <T extends Float | Int | Bool>(v: T) => b.reshape(v, [1, n]) as T;
  let pos: Bool = b.greater(labels, b.scalar(0.5));
  let neg: Bool = b.logicalNot(pos);
  if (weight) {
    const used = b.greater(weight, b.scalar(0));
    pos = b.logicalAnd(pos, used);
    neg = b.logicalAnd(neg, used);
  }
  const pair = b.logicalAnd(b.equal(col(users), row(users)), b.logicalAnd(col(pos), row(neg))); // [B, B]
  const term = b.softplus(b.sub(row(logits), col(logits))); // log(1 + e^-(s_i - s_j))
  const sum = b.reduceSum(b.where(pair, term, b.scalar(0)), [0, 1]);
  const count = b.reduceSum(b.cast(pair, 'float32'), [0, 1]);
  return b.div(sum, b.maximum(count, b.scalar(1)));
}

/** KEEP's loss of one task (Eq. 3): maskedBce + α · pairwiseLogisticLoss over the same samples. */
export function keepTaskLoss(b: B, logits: Float, labels: Float, users: Int, alpha: number, weight?: Float): Float {
  const bce = maskedBce(b, logits, labels, weight);
  return alpha === 0 ? bce : b.add(bce, b.mul(b.scalar(alpha), pairwiseLogisticLoss(b, logits, labels, users, weight)));
}

// ---------------------------------------------------------------- the plug-in network

/** Where and how knowledge is plugged into a downstream model (its `knowledge` config key). */
export interface KnowledgePluginConfig {
  /** width of the knowledge input: 288 for K(u, i), 256 for the served [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc] */
  readonly dim: number;
  /** m: 1-based index of the downstream MLP's hidden layer whose output h_m receives h^k */
  readonly layer: number;
  /** hidden width of the plug-in MLP */
  readonly hidden: number;
}
export const KNOWLEDGE_PLUGIN_DEFAULTS: KnowledgePluginConfig = { dim: 288, layer: 1, hidden: 128 };
/** Name of the knowledge input of a plugged model: float32 [batch, dim]. */
export const KNOWLEDGE_INPUT = 'knowledge';
/** Scope of the plug-in parameters: `plugin/l0/{w,b}`, `plugin/l1/{w,b}`. */
export const KNOWLEDGE_PLUGIN_SCOPE = 'plugin';

/**
 * The plug-in config with defaults filled, or undefined when `k` is undefined (plug-in off). Throws an
 * Error naming `<model> config: knowledge.<field>`, what is expected and what was given; `mlpHidden`
 * are the downstream MLP's hidden sizes (layer m must be one of them, not the logit layer).
 */
export function knowledgePluginConfig(
  model: string,
  k: Partial<KnowledgePluginConfig> | undefined,
  mlpHidden: readonly number[],
): KnowledgePluginConfig | undefined {
  if (k === undefined) return undefined;
  if (k === null || typeof k !== 'object' || Array.isArray(k))
    throw new Error(`${model} config: knowledge must be an object { dim, layer, hidden }, got ${JSON.stringify(k)}`);
  const known = Object.keys(KNOWLEDGE_PLUGIN_DEFAULTS);
  for (const key of Object.keys(k))
    if (!known.includes(key)) throw new Error(`${model} config: knowledge.${key} is not a field (known: ${known.join(', ')})`);
  const c = { ...KNOWLEDGE_PLUGIN_DEFAULTS, ...k };
  for (const f of ['dim', 'hidden', 'layer'] as const) {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new Error(`${model} config: knowledge.${f} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (mlpHidden.length === 0)
    throw new Error(`${model} config: knowledge needs an MLP with at least one hidden layer to add h^k to, got hidden []`);
  if (c.layer > mlpHidden.length) {
    throw new Error(
      `${model} config: knowledge.layer must be between 1 and ${mlpHidden.length} (the hidden layers of the MLP ` +
        `[${mlpHidden.join(', ')}]), got ${c.layer}`,
    );
  }
  return c;
}

/**
 * h^k = Linear(hidden → outDim)(ReLU(Linear(K → hidden))) with the last layer (w and b) zero-initialised,
 * parameters `<name>/l0/{w,b}` (Xavier) and `<name>/l1/{w,b}` (zeros). knowledge [batch, K] → [batch, outDim].
 */
export function knowledgePlugin(b: B, name: string, knowledge: Float, outDim: number, hidden: number): Float {
  return b.scope(name, () => dense(b, 'l1', b.relu(dense(b, 'l0', knowledge, hidden)), outDim, { init: init.zeros() }));
}

/**
 * For a downstream model built with `mlp(b, 'mlp', x, [...hidden, 1], 'relu', 'none', hook)`: reads the
 * `knowledge` input, builds h^k under `plugin/` (outside the MLP's scope, before it) and returns the hook
 * that adds it to layer m's output: h'_m = h_m + h^k. Returns undefined when the plug-in is off, so the
 * graph is then exactly the one without KEEP.
 */
export function knowledgeHook(b: B, k: KnowledgePluginConfig | undefined, mlpHidden: readonly number[]): MlpLayerHook | undefined {
  if (!k) return undefined;
  const input = b.expectDtype(b.value(KNOWLEDGE_INPUT), 'float32');
  const m = k.layer - 1;
  const hk = knowledgePlugin(b, KNOWLEDGE_PLUGIN_SCOPE, input, mlpHidden[m]!, k.hidden);
  return (i, h) => (i === m ? b.add(h, hk) : h);
}

/** The schema with the `knowledge` input float32 [batch, dim] inserted before `label` (unchanged when k is undefined). */
export function withKnowledgeInput(schema: FeatureSchema, k: KnowledgePluginConfig | undefined): FeatureSchema {
  if (!k) return schema;
  const out: Record<string, FeatureSchema[string]> = {};
  for (const [name, decl] of Object.entries(schema)) {
    if (name === 'label') out[KNOWLEDGE_INPUT] = { dtype: 'float32', shape: ['batch', k.dim] };
    out[name] = decl;
  }
  if (!(KNOWLEDGE_INPUT in out)) out[KNOWLEDGE_INPUT] = { dtype: 'float32', shape: ['batch', k.dim] };
  return out;
}

// ---------------------------------------------------------------- served knowledge (Eq. 6)

/** [K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc]: K̂_u and K̂_i [batch, d] (same d), K̂_uc [batch, d_uc] → [batch, 3d + d_uc]. */
export function servedKnowledge(b: B, userK: Float, itemK: Float, userCategoryK: Float): Float {
  const du = userK.shape[userK.shape.length - 1],
    di = itemK.shape[itemK.shape.length - 1];
  if (du !== di)
    throw new Error(`servedKnowledge: user and item knowledge must have the same width for K̂_u ⊙ K̂_i, got ${String(du)} and ${String(di)}`);
  return b.concat([userK, itemK, b.mul(userK, itemK), userCategoryK], -1);
}
