/**
 * Constant folding of parameter-only subgraphs, for serving: a node whose inputs are all
 * parameters, constants or outputs of other such nodes computes the same value for every request
 * (DIN's attention first layer, for one, splits and recombines its weight rows:
 * [e_j, e_v, e_j − e_v, e_j ⊙ e_v] @ W = e_j (W1 + W3) + e_v (W2 − W3) + ...). Folding evaluates
 * those nodes once, with the float64 reference interpreter, rounds each result to float32 and
 * makes it a parameter of the serving graph; parameters that only fed folded nodes leave the
 * graph. Inputs, outputs and every other node stay as they are, so the folded graph is a drop-in
 * for the original: the exporter's parity report compares the folded ONNX model against the
 * UNfolded graph on tfjs and ref-cpu.
 * Not folded: `constant` nodes alone (they are initializers already), non-float results (a
 * parameter is float32), and a node whose result is larger than its inputs (a broadcast would
 * grow the model file, not shrink the work).
 */
import { type Graph, type HostTensor, type NodeDecl, type ParamDecl, type Weights, checkWeights, sizeOf } from '@lctr/spec';
import { evaluateRef } from '@lctr/ref-cpu';

export interface FoldResult<G extends Graph = Graph> {
  readonly graph: G;
  readonly weights: Map<string, HostTensor<'float32'>>;
  /** ids of the folded nodes, in graph order */
  readonly foldedNodes: readonly string[];
  /** parameters added (folded values), by name */
  readonly addedParameters: readonly string[];
  /** parameters that only fed folded nodes, now gone */
  readonly droppedParameters: readonly string[];
}

/** The parameter name a folded value gets: its node id under 'folded/' (and ':k' beyond the first output). */
export function foldedParamName(valueId: string): string {
  const [node, k] = valueId.split(':');
  return `folded/${node}${k && k !== '0' ? `:${k}` : ''}`;
}

const staticSize = (shape: readonly (number | string)[]): number | undefined =>
  shape.every((d) => typeof d === 'number') ? sizeOf(shape as number[]) : undefined;

/** Fold every parameter-only subgraph of `graph` (see the file comment); `weights` are checked first. */
export function foldParameters<G extends Graph>(graph: G, weights: Weights): FoldResult<G> {
  checkWeights(graph, weights);
  const constant = new Set<string>(graph.params.map((p) => p.name));
  const sizes = new Map<string, number>(graph.params.map((p) => [p.name, sizeOf(p.shape)]));
  const folded: NodeDecl[] = [];
  const foldedIds = new Set<string>();
  const constantNodes: NodeDecl[] = [];
  for (const n of graph.nodes) {
    if (n.op === 'constant') {
      for (const o of n.outputs) {
        constant.add(o.id);
        sizes.set(o.id, staticSize(o.shape) ?? Infinity);
      }
      constantNodes.push(n);
      continue;
    }
    if (n.inputs.length === 0 || !n.inputs.every((i) => constant.has(i))) continue;
    const inSize = n.inputs.reduce((s, i) => s + (sizes.get(i) ?? Infinity), 0);
    const outSizes = n.outputs.map((o) => staticSize(o.shape));
    const outSize = outSizes.reduce<number>((s, v) => s + (v ?? Infinity), 0);
    if (!n.outputs.every((o) => o.dtype === 'float32') || !(outSize <= inSize)) continue;
    folded.push(n);
    foldedIds.add(n.id);
    n.outputs.forEach((o, k) => {
      constant.add(o.id);
      sizes.set(o.id, outSizes[k]!);
    });
  }
  if (folded.length === 0) {
    return {
      graph,
      weights: new Map(weights as Map<string, HostTensor<'float32'>>),
      foldedNodes: [],
      addedParameters: [],
      droppedParameters: [],
    };
  }

  // values read by the nodes that stay (and by the graph outputs) that a folded node computes
  const kept = graph.nodes.filter((n) => !foldedIds.has(n.id));
  const foldedValue = new Set(folded.flatMap((n) => n.outputs.map((o) => o.id)));
  const needed = new Set<string>(
    [...kept.flatMap((n) => n.inputs), ...(Object.values(graph.outputs) as string[])].filter((id) => foldedValue.has(id)),
  );
  const frontier = folded.flatMap((n) => n.outputs.map((o) => o.id)).filter((id) => needed.has(id)); // graph order

  const taken = new Set<string>([...graph.params.map((p) => p.name), ...graph.inputs.map((i) => i.name)]);
  const rename = new Map<string, string>();
  for (const id of frontier) {
    const name = foldedParamName(id);
    if (taken.has(name)) throw new Error(`foldParameters: graph '${graph.name}' already has a parameter or input named '${name}'`);
    taken.add(name);
    rename.set(id, name);
  }

  // evaluate the folded nodes once: a graph with no inputs whose outputs are the frontier
  const probe: Graph = {
    name: `${graph.name}/fold`,
    inputs: [],
    params: graph.params,
    nodes: [...constantNodes, ...folded],
    outputs: Object.fromEntries(frontier.map((id) => [id, id])),
    meta: {},
  };
  const { values } = evaluateRef(probe, weights, {});
  const newWeights = new Map<string, HostTensor<'float32'>>();
  const addedParams: ParamDecl[] = [];
  for (const id of frontier) {
    const v = values.get(id)!;
    const name = rename.get(id)!;
    newWeights.set(name, { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.data) });
    addedParams.push({ name, dtype: 'float32', shape: [...v.shape], init: { kind: 'zeros' } });
  }

  const nodes = kept.map((n) => (n.inputs.some((i) => rename.has(i)) ? { ...n, inputs: n.inputs.map((i) => rename.get(i) ?? i) } : n));
  const outputs = Object.fromEntries(Object.entries(graph.outputs as Record<string, string>).map(([k, id]) => [k, rename.get(id) ?? id]));
  const read = new Set<string>([...nodes.flatMap((n) => n.inputs), ...Object.values(outputs)]);
  const params = graph.params.filter((p) => read.has(p.name));
  for (const p of params) newWeights.set(p.name, weights.get(p.name)! as HostTensor<'float32'>);
  const droppedParameters = graph.params.filter((p) => !read.has(p.name)).map((p) => p.name);
  const out = {
    ...graph,
    params: [...params, ...addedParams],
    nodes: nodes.filter((n) => n.op !== 'constant' || n.outputs.some((o) => read.has(o.id))),
    outputs,
    meta: { ...graph.meta, folded: { nodes: folded.length, parameters: addedParams.length } },
  } as G;
  return {
    graph: out,
    weights: newWeights,
    foldedNodes: folded.map((n) => n.id),
    addedParameters: addedParams.map((p) => p.name),
    droppedParameters,
  };
}
