/**
 * The demo model (`nx run exporter:onnx -- --model demo`; the main job now trains LCN): a
 * candidate item attends over the top-k items of a long user sequence (masked), the pooled
 * interest and the candidate go through an MLP to a click probability. Small, but it exercises
 * what the real models need: embeddings, masked top-k, gather of the picks, masked softmax,
 * symbolic batch and sequence dims, and a training loss.
 */
import { GraphBuilder, init } from '../builder.ts';
import type { Graph } from '../graph.ts';
import { bceWithLogits, dense, embed, maskedMean, maskedSoftmax, mlp } from '../blocks/common.ts';

export interface DemoConfig {
  items: number;
  users: number;
  dim: number;
  topK: number;
  hidden: readonly number[];
}
export const DEMO_DEFAULTS: DemoConfig = { items: 1000, users: 200, dim: 16, topK: 8, hidden: [32, 16] };

export const demoSchema = {
  user: { dtype: 'int32', shape: ['batch'] },
  history: { dtype: 'int32', shape: ['batch', 'seq'] },
  historyMask: { dtype: 'bool', shape: ['batch', 'seq'] },
  candidate: { dtype: 'int32', shape: ['batch'] },
} as const;
export const demoTrainSchema = { ...demoSchema, label: { dtype: 'float32', shape: ['batch'] } } as const;

function body(b: GraphBuilder<typeof demoSchema>, cfg: DemoConfig) {
  const { user, history, historyMask, candidate } = b.inputs;
  const itemTable = b.scope('emb', () => b.param('item', [cfg.items, cfg.dim], init.normal(0.05)));
  const seqEmb = b.gather(itemTable, history); // [batch, seq, d]
  const candEmb = b.gather(itemTable, candidate); // [batch, d]
  const userEmb = b.scope('emb', () => embed(b, 'user', user, cfg.users, cfg.dim)); // [batch, d]
  // coarse relevance over the whole sequence, masked top-k, then attention over the picks
  const relevance = b.reduceSum(b.mul(seqEmb, b.reshape(candEmb, ['batch', 1, cfg.dim])), [2]);
  const top = b.topk(relevance, cfg.topK, historyMask);
  const picked = b.gatherAlongAxis(seqEmb, top.indices, 1); // [batch, k, d]
  const pickedMask = b.greater(top.values, b.scalar(-Infinity)); // padding picks are -inf
  const q = b.scope('attn', () => dense(b, 'q', candEmb, cfg.dim, { bias: false }));
  const scores = b.reduceSum(b.mul(picked, b.reshape(q, ['batch', 1, cfg.dim])), [2]);
  const weights = maskedSoftmax(b, b.div(scores, b.scalar(Math.sqrt(cfg.dim))), pickedMask);
  const interest = b.reduceSum(b.mul(picked, b.reshape(weights, ['batch', cfg.topK, 1])), [1]);
  const longTerm = maskedMean(b, seqEmb, historyMask);
  const features = b.concat([userEmb, candEmb, interest, longTerm], 1);
  const logit = b.reshape(mlp(b, 'mlp', features, [...cfg.hidden, 1]), ['batch']);
  return { logit, prob: b.sigmoid(logit) };
}

/** The serving graph: inputs of demoSchema, output `prob` [batch]. */
export function buildDemo(cfg: Partial<DemoConfig> = {}): Graph<typeof demoSchema, 'prob'> {
  const c = { ...DEMO_DEFAULTS, ...cfg };
  const b = new GraphBuilder('demo', demoSchema);
  return b.build({ prob: body(b, c).prob }, { model: 'demo', config: c });
}

/** The training graph: adds `label` and outputs `loss` (mean BCE) next to `prob`. */
export function buildDemoTrain(cfg: Partial<DemoConfig> = {}): Graph<typeof demoTrainSchema, 'prob' | 'loss'> {
  const c = { ...DEMO_DEFAULTS, ...cfg };
  const b = new GraphBuilder('demo-train', demoTrainSchema);
  const { logit, prob } = body(b, c);
  return b.build({ prob, loss: bceWithLogits(b, logit, b.inputs.label) }, { model: 'demo', config: c });
}
