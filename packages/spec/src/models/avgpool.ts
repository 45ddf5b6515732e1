/**
 * AvgPooling baseline (SPEC.md Baselines): each short-term sequence is pooled by its masked mean
 * (zeros when a row has no valid item), then
 *   [user?, profile..., e_v, mean(H^T), mean(H^S)] → MLP (ReLU, `hidden`) → 1 → logit → sigmoid.
 * Schema and embeddings: see baseline.ts. Parameters: `emb/*`, `mlp/l<i>/{w,b}`. With `knowledge` (KEEP
 * plug-in): input `knowledge` float32 [batch, dim] and parameters `plugin/l0/{w,b}`, `plugin/l1/{w,b}`;
 * every other name and shape unchanged.
 */
import { GraphBuilder } from '../builder.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import { maskedMean, mlp } from '../blocks/common.ts';
import { type KnowledgePluginConfig, knowledgeHook, knowledgePluginConfig, withKnowledgeInput } from '../blocks/keep.ts';
import {
  BASELINE_DEFAULTS,
  type BaselineConfig,
  baselineEmbeddings,
  baselineLoss,
  baselineSchema,
  checkBaselineConfig,
} from './baseline.ts';

export interface AvgPoolConfig extends BaselineConfig {
  /**
   * KEEP plug-in (blocks/keep.ts): adds the `knowledge` input float32 [batch, dim] and h^k (parameters
   * `plugin/*`) to the output of MLP layer `layer`. Absent = off: the graph is exactly the plain AvgPooling.
   */
  readonly knowledge?: KnowledgePluginConfig;
}
export const AVGPOOL_DEFAULTS: AvgPoolConfig = BASELINE_DEFAULTS;
/** What the builders accept: any field of AvgPoolConfig; `knowledge` may give only some of its fields. */
export type AvgPoolOptions = Partial<Omit<AvgPoolConfig, 'knowledge'>> & { readonly knowledge?: Partial<KnowledgePluginConfig> };

function config(cfg: AvgPoolOptions): AvgPoolConfig {
  const { knowledge: k, ...rest } = { ...AVGPOOL_DEFAULTS, ...cfg };
  const c: AvgPoolConfig = rest;
  checkBaselineConfig('avgpool', c);
  const knowledge = knowledgePluginConfig('avgpool', k, c.hidden);
  return knowledge ? { ...c, knowledge } : c;
}

/** The feature schema of AvgPooling for this config; `train` adds `label`. */
export function avgPoolSchema(cfg: AvgPoolOptions = {}, train = false): FeatureSchema {
  const c = config(cfg);
  return withKnowledgeInput(baselineSchema(c, train), c.knowledge);
}

function body(b: GraphBuilder<FeatureSchema>, c: AvgPoolConfig) {
  const e = baselineEmbeddings(b, c);
  const pooled = e.sequences.map((s) => maskedMean(b, s.items, s.mask)); // [batch, dim + categoryDim] each
  const hook = knowledgeHook(b, c.knowledge, c.hidden);
  const logit = b.reshape(mlp(b, 'mlp', b.concat([...e.context, e.candidate, ...pooled], 1), [...c.hidden, 1], 'relu', 'none', hook), [
    'batch',
  ]);
  return { logit, prob: b.sigmoid(logit), embeddings: e };
}

/** Serving graph: output `prob` [batch]. */
export function buildAvgPool(cfg: AvgPoolOptions = {}): Graph<FeatureSchema, 'prob'> {
  const c = config(cfg);
  const b = new GraphBuilder('avgpool', withKnowledgeInput(baselineSchema(c, false), c.knowledge));
  return b.build({ prob: body(b, c).prob }, { model: 'avgpool', config: c });
}

/** Training graph: adds `label` [batch] and outputs `loss` (mean BCE on the logit) next to `prob`. */
export function buildAvgPoolTrain(cfg: AvgPoolOptions = {}): Graph<FeatureSchema, 'prob' | 'loss'> {
  const c = config(cfg);
  const b = new GraphBuilder('avgpool-train', withKnowledgeInput(baselineSchema(c, true), c.knowledge));
  const { logit, prob, embeddings } = body(b, c);
  return b.build({ prob, loss: baselineLoss(b, c, embeddings, logit) }, { model: 'avgpool', config: c });
}
