/**
 * AvgPooling baseline (SPEC.md Baselines): each short-term sequence is pooled by its masked mean
 * (zeros when a row has no valid item), then
 *   [user?, profile..., e_v, mean(H^T), mean(H^S)] → MLP (ReLU, `hidden`) → 1 → logit → sigmoid.
 * Schema and embeddings: see baseline.ts. Parameters: `emb/*`, `mlp/l<i>/{w,b}`.
 */
import { GraphBuilder } from '../builder.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import { maskedMean, mlp } from '../blocks/common.ts';
import { BASELINE_DEFAULTS, type BaselineConfig, baselineEmbeddings, baselineLoss, baselineSchema, checkBaselineConfig } from './baseline.ts';

export type AvgPoolConfig = BaselineConfig;
export const AVGPOOL_DEFAULTS: AvgPoolConfig = BASELINE_DEFAULTS;

function config(cfg: Partial<AvgPoolConfig>): AvgPoolConfig {
  const c = { ...AVGPOOL_DEFAULTS, ...cfg };
  checkBaselineConfig('avgpool', c);
  return c;
}

/** The feature schema of AvgPooling for this config; `train` adds `label`. */
export function avgPoolSchema(cfg: Partial<AvgPoolConfig> = {}, train = false): FeatureSchema {
  return baselineSchema(config(cfg), train);
}

function body(b: GraphBuilder<FeatureSchema>, c: AvgPoolConfig) {
  const e = baselineEmbeddings(b, c);
  const pooled = e.sequences.map((s) => maskedMean(b, s.items, s.mask));                // [batch, dim + categoryDim] each
  const logit = b.reshape(mlp(b, 'mlp', b.concat([...e.context, e.candidate, ...pooled], 1), [...c.hidden, 1]), ['batch']);
  return { logit, prob: b.sigmoid(logit), embeddings: e };
}

/** Serving graph: output `prob` [batch]. */
export function buildAvgPool(cfg: Partial<AvgPoolConfig> = {}): Graph<FeatureSchema, 'prob'> {
  const c = config(cfg);
  const b = new GraphBuilder('avgpool', baselineSchema(c, false));
  return b.build({ prob: body(b, c).prob }, { model: 'avgpool', config: c });
}

/** Training graph: adds `label` [batch] and outputs `loss` (mean BCE on the logit) next to `prob`. */
export function buildAvgPoolTrain(cfg: Partial<AvgPoolConfig> = {}): Graph<FeatureSchema, 'prob' | 'loss'> {
  const c = config(cfg);
  const b = new GraphBuilder('avgpool-train', baselineSchema(c, true));
  const { logit, prob, embeddings } = body(b, c);
  return b.build({ prob, loss: baselineLoss(b, c, embeddings, logit) }, { model: 'avgpool', config: c });
}
