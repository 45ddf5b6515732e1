/**
 * DIN baseline (SPEC.md Baselines; Zhou et al., KDD 2018): each short-term sequence is pooled by
 * DIN target attention with the candidate as query,
 *   u = Σ_j a(e_j, e_v) e_j,  a = MLP([e_j ‖ e_v ‖ e_j - e_v ‖ e_j ⊙ e_v]) (ReLU `attention`, then 1),
 * not softmax-normalised, masked (blocks/din.ts); each sequence has its own attention MLP (source
 * items and the target candidate live in different tables). Then
 *   [user?, profile..., e_v, u^T, u^S] → MLP (ReLU, `hidden`) → 1 → logit → sigmoid.
 * Schema and embeddings: see baseline.ts. Parameters: `emb/*`, `din/<target|source>/att/l<i>/{w,b}`,
 * `mlp/l<i>/{w,b}`. With `knowledge` (KEEP plug-in): input `knowledge` float32 [batch, dim] and
 * parameters `plugin/l0/{w,b}`, `plugin/l1/{w,b}`; every other name and shape unchanged.
 */
import { GraphBuilder } from '../builder.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import { mlp } from '../blocks/common.ts';
import { dinAttention } from '../blocks/din.ts';
import { type KnowledgePluginConfig, knowledgeHook, knowledgePluginConfig, withKnowledgeInput } from '../blocks/keep.ts';
import {
  BASELINE_DEFAULTS,
  type BaselineConfig,
  DIN_RULES,
  baselineEmbeddings,
  baselineLoss,
  baselineSchema,
  checkBaselineConfig,
} from './baseline.ts';

export interface DinConfig extends BaselineConfig {
  /** hidden sizes of the attention MLP (ReLU); a final layer of size 1 gives a(e_j, e_v) */
  readonly attention: readonly number[];
  /**
   * KEEP plug-in (blocks/keep.ts): adds the `knowledge` input float32 [batch, dim] and h^k (parameters
   * `plugin/*`) to the output of MLP layer `layer`. Absent = off: the graph is exactly the plain DIN.
   */
  readonly knowledge?: KnowledgePluginConfig;
}
export const DIN_DEFAULTS: DinConfig = { ...BASELINE_DEFAULTS, attention: [80, 40] };
/** What the builders accept: any field of DinConfig; `knowledge` may give only some of its fields. */
export type DinOptions = Partial<Omit<DinConfig, 'knowledge'>> & { readonly knowledge?: Partial<KnowledgePluginConfig> };

function config(cfg: DinOptions): DinConfig {
  const { knowledge: k, ...rest } = { ...DIN_DEFAULTS, ...cfg };
  const c: DinConfig = rest;
  checkBaselineConfig('din', c, DIN_RULES);
  const knowledge = knowledgePluginConfig('din', k, c.hidden);
  return knowledge ? { ...c, knowledge } : c;
}

/** The feature schema of DIN for this config; `train` adds `label`. */
export function dinSchema(cfg: DinOptions = {}, train = false): FeatureSchema {
  const c = config(cfg);
  return withKnowledgeInput(baselineSchema(c, train), c.knowledge);
}

function body(b: GraphBuilder<FeatureSchema>, c: DinConfig) {
  const e = baselineEmbeddings(b, c);
  const pooled = b.scope('din', () =>
    e.sequences.map((s) => b.scope(s.name, () => dinAttention(b, 'att', s.items, s.mask, e.candidate, { hidden: c.attention }))),
  );
  const hook = knowledgeHook(b, c.knowledge, c.hidden);
  const logit = b.reshape(mlp(b, 'mlp', b.concat([...e.context, e.candidate, ...pooled], 1), [...c.hidden, 1], 'relu', 'none', hook), [
    'batch',
  ]);
  return { logit, prob: b.sigmoid(logit), embeddings: e };
}

/** Serving graph: output `prob` [batch]. */
export function buildDin(cfg: DinOptions = {}): Graph<FeatureSchema, 'prob'> {
  const c = config(cfg);
  const b = new GraphBuilder('din', withKnowledgeInput(baselineSchema(c, false), c.knowledge));
  return b.build({ prob: body(b, c).prob }, { model: 'din', config: c });
}

/** Training graph: adds `label` [batch] and outputs `loss` (mean BCE on the logit) next to `prob`. */
export function buildDinTrain(cfg: DinOptions = {}): Graph<FeatureSchema, 'prob' | 'loss'> {
  const c = config(cfg);
  const b = new GraphBuilder('din-train', withKnowledgeInput(baselineSchema(c, true), c.knowledge));
  const { logit, prob, embeddings } = body(b, c);
  return b.build({ prob, loss: baselineLoss(b, c, embeddings, logit) }, { model: 'din', config: c });
}
