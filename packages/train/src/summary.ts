/**
 * The model summary logged at start (config.summary): parameters per top-level scope (the first
 * path component of each parameter name: `emb`, `lap`, `mlp`, ...) and the FLOPs of one sample's
 * forward pass to `prob` (spec's countFlops; the loss and training-only terms such as CRP are not
 * counted). Symbolic dims other than `batch` count as 1, as in the memory estimate.
 */
import { type Graph, countFlops, sizeOf, symbolsOf } from '@lctr/spec';

export interface ModelSummary {
  /** every parameter's element count, summed */
  readonly parameters: number;
  /** parameters by top-level scope, in the graph's parameter order */
  readonly parametersByScope: Readonly<Record<string, number>>;
  /** FLOPs of the forward pass from the inputs to `prob` for one sample (batch = 1) */
  readonly flopsPerSample: number;
}

export function modelSummary(graph: Graph): ModelSummary {
  const byScope: Record<string, number> = {};
  let parameters = 0;
  for (const p of graph.params) {
    const n = sizeOf(p.shape);
    const scope = p.name.split('/')[0]!;
    byScope[scope] = (byScope[scope] ?? 0) + n;
    parameters += n;
  }
  const bindings: Record<string, number> = {};
  const bind = (shape: readonly (string | number)[]) => {
    for (const d of shape) for (const s of symbolsOf(d)) bindings[s] = 1;
  };
  for (const i of graph.inputs) bind(i.shape);
  for (const n of graph.nodes) for (const o of n.outputs) bind(o.shape);
  const flops = countFlops(graph, bindings, { outputs: ['prob'] });
  return { parameters, parametersByScope: byScope, flopsPerSample: flops.total };
}

/** One line: `model: 22,345 parameters (emb 20,000, mlp 2,345); 4,321 FLOPs per sample (forward to prob)`. */
export function formatSummary(s: ModelSummary): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const scopes = Object.entries(s.parametersByScope)
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ');
  return `model: ${n(s.parameters)} parameters (${scopes}); ${n(s.flopsPerSample)} FLOPs per sample (forward to prob)`;
}
