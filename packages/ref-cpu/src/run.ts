/**
 * The interpreter: checks the feeds and weights with the spec's checks, runs every node in
 * topological order through the kernel table (checking each result against the node's declared
 * dtype and shape), and runs the gradient rules backwards for gradRef.
 */
import {
  type DimBindings,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  type NodeDecl,
  type OpAttrs,
  type OpName,
  type ValueInfo,
  type Weights,
  checkWeights,
  formatShape,
  gradInputs,
  prepareFeeds,
  resolveShape,
  valueInfo,
} from '@lctr/spec';
import { GRADIENTS, type GradContext, type GradRule, isNoGradient } from './gradients.ts';
import { KERNELS, type Kernel, type KernelContext } from './kernels.ts';
import { type RefTensor, fromHost } from './tensor.ts';

export interface RunOptions {
  /** Accept weights for names the graph has no parameter for (e.g. a training checkpoint for a pruned serving graph). */
  readonly allowExtraWeights?: boolean;
}

export interface Evaluation {
  /** Run-time value of every symbolic dim, from checkFeeds (inside prepareFeeds). */
  readonly bindings: DimBindings;
  /** Every value of the graph by id: inputs, parameters and node outputs ('nodeId:k'). */
  readonly values: ReadonlyMap<string, RefTensor>;
}

function kernelFor<N extends OpName>(op: N): Kernel<OpAttrs[N]> {
  return KERNELS[op] as Kernel<OpAttrs[N]>;
}

function runNode(node: NodeDecl, inputs: RefTensor[], ctx: KernelContext): RefTensor[] {
  let outs: RefTensor[];
  try {
    outs = kernelFor(node.op)(inputs, node.attrs as OpAttrs[OpName], ctx);
  } catch (e) {
    throw new Error(`ref-cpu: node '${node.id}' (${node.op}): ${(e as Error).message}`, { cause: e });
  }
  if (outs.length !== node.outputs.length) {
    throw new Error(`ref-cpu: node '${node.id}' (${node.op}) produced ${outs.length} outputs, the graph declares ${node.outputs.length}`);
  }
  node.outputs.forEach((decl, k) => {
    const got = outs[k]!;
    const want = resolveShape(decl.shape, ctx.bindings);
    if (got.dtype !== decl.dtype || got.shape.length !== want.length || got.shape.some((d, i) => d !== want[i])) {
      throw new Error(
        `ref-cpu: node '${node.id}' (${node.op}) output ${k} is ${got.dtype}${formatShape(got.shape)}, ` +
          `the graph declares ${decl.dtype}${formatShape(decl.shape)} = ${decl.dtype}${formatShape(want)}`,
      );
    }
  });
  return outs;
}

/**
 * Run a graph and keep every intermediate value (for debugging a backend against the oracle). The
 * inputs go through spec's prepareFeeds: checked, and ids at padded positions read as 0 (the
 * values map holds the inputs as computed on).
 */
export function evaluateRef(
  graph: Graph,
  weights: Weights,
  given: Readonly<Record<string, HostTensor>>,
  opts: RunOptions = {},
): Evaluation {
  const { bindings, feeds: inputs } = prepareFeeds(graph, given);
  checkWeights(graph, weights, { allowExtra: opts.allowExtraWeights ?? false });
  const values = new Map<string, RefTensor>();
  for (const decl of graph.inputs) values.set(decl.name, fromHost(inputs[decl.name]!));
  for (const p of graph.params) values.set(p.name, fromHost(weights.get(p.name)!));
  for (const node of graph.nodes) {
    const ins = node.inputs.map((id) => {
      const v = values.get(id);
      if (!v)
        throw new Error(
          `ref-cpu: node '${node.id}' (${node.op}) reads '${id}', which no earlier node, input or parameter of graph '${graph.name}' ` +
            `defines`,
        );
      return v;
    });
    const outs = runNode(node, ins, { bindings, node });
    node.outputs.forEach((o, k) => values.set(o.id, outs[k]!));
  }
  return { bindings, values };
}

/** Run a graph in float64; returns every named output. Bad feeds or weights throw the spec's InputError / WeightsError. */
export function runRef<S extends FeatureSchema, O extends string>(
  graph: Graph<S, O>,
  weights: Weights,
  inputs: InputsOf<S>,
  opts: RunOptions = {},
): Record<O, RefTensor> {
  const { values } = evaluateRef(graph, weights, inputs as Readonly<Record<string, HostTensor>>, opts);
  const out = {} as Record<O, RefTensor>;
  for (const name of Object.keys(graph.outputs) as O[]) out[name] = values.get(graph.outputs[name])!;
  return out;
}

export interface GradResult {
  /** every named output of the graph */
  readonly outputs: Record<string, RefTensor>;
  /** d sum(output * cotangent) / d parameter, for every parameter (zeros off the path) */
  readonly paramGrads: Map<string, Float64Array>;
  /** the same for every float32 input (zeros off the path) */
  readonly inputGrads: Map<string, Float64Array>;
}

function ruleFor<N extends OpName>(op: N): GradRule<OpAttrs[N]> | undefined {
  const r = GRADIENTS[op];
  return isNoGradient(r) ? undefined : (r as GradRule<OpAttrs[N]>);
}

/**
 * Reverse-mode gradient of sum(output * cotangent) (cotangent defaults to all ones) with respect
 * to every parameter and every float32 input of the graph.
 */
export function gradRef<S extends FeatureSchema, O extends string>(
  graph: Graph<S, O>,
  weights: Weights,
  inputs: InputsOf<S>,
  output: O,
  cotangent?: Float64Array,
  opts: RunOptions = {},
): GradResult {
  const outputNames = Object.keys(graph.outputs);
  if (!Object.hasOwn(graph.outputs, output)) {
    throw new Error(`gradRef: graph '${graph.name}' has no output '${output}'; its outputs are: ${outputNames.join(', ')}`);
  }
  const { bindings, values } = evaluateRef(graph, weights, inputs as Readonly<Record<string, HostTensor>>, opts);
  const outputs: Record<string, RefTensor> = {};
  for (const name of outputNames) outputs[name] = values.get((graph.outputs as Record<string, string>)[name]!)!;
  const y = outputs[output]!;
  if (y.dtype !== 'float32')
    throw new Error(
      `gradRef: output '${output}' of graph '${graph.name}' is ${y.dtype}${formatShape(y.shape)}; gradients need a float32 output`,
    );
  if (cotangent && cotangent.length !== y.data.length) {
    throw new Error(
      `gradRef: cotangent for output '${output}' ${formatShape(y.shape)} needs ${y.data.length} values, got ${cotangent.length}`,
    );
  }

  // Values that depend on a differentiable source (parameter or float32 input) through gradient-carrying slots.
  const live = new Set<string>([
    ...graph.params.map((p) => p.name),
    ...graph.inputs.filter((i) => i.dtype === 'float32').map((i) => i.name),
  ]);
  const flows = new Map<NodeDecl, boolean[]>();
  for (const node of graph.nodes) {
    const infos: ValueInfo[] = node.inputs.map((id) => valueInfo(graph, id));
    const carries = gradInputs(node.op, infos, node.attrs as OpAttrs[OpName]).map((g, i) => g && live.has(node.inputs[i]!));
    flows.set(node, carries);
    if (carries.some(Boolean)) for (const o of node.outputs) if (o.dtype === 'float32') live.add(o.id);
  }

  const cots = new Map<string, Float64Array>();
  const accumulate = (id: string, g: Float64Array): void => {
    const have = cots.get(id);
    if (!have) cots.set(id, g.slice());
    else for (let i = 0; i < g.length; i++) have[i] += g[i]!;
  };
  accumulate(graph.outputs[output as keyof typeof graph.outputs] as string, cotangent ?? new Float64Array(y.data.length).fill(1));

  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n]!;
    const carries = flows.get(node)!;
    if (!carries.some(Boolean) || !node.outputs.some((o) => cots.has(o.id))) continue;
    const rule = ruleFor(node.op);
    if (!rule) throw new Error(`ref-cpu: op '${node.op}' has no gradient rule, but the spec says gradient flows into node '${node.id}'`);
    const ins = node.inputs.map((id) => values.get(id)!);
    const outs = node.outputs.map((o) => values.get(o.id)!);
    const ctx: GradContext<OpAttrs[OpName]> = {
      inputs: ins,
      outputs: outs,
      attrs: node.attrs as OpAttrs[OpName],
      bindings,
      node,
      dys: outs.map((o, k) => cots.get(node.outputs[k]!.id) ?? new Float64Array(o.data.length)),
    };
    const grads = rule(ctx);
    carries.forEach((flow, i) => {
      if (!flow) return;
      const g = grads[i];
      if (!g || g.length !== ins[i]!.data.length) {
        throw new Error(
          `ref-cpu: gradient rule of '${node.op}' gave ${g ? `${g.length} values` : 'no cotangent'} for input ${i} of node '${node.id}' ` +
            `(${ins[i]!.dtype}${formatShape(ins[i]!.shape)})`,
        );
      }
      accumulate(node.inputs[i]!, g);
    });
  }

  const paramGrads = new Map<string, Float64Array>();
  for (const p of graph.params) paramGrads.set(p.name, cots.get(p.name) ?? new Float64Array(values.get(p.name)!.data.length));
  const inputGrads = new Map<string, Float64Array>();
  for (const i of graph.inputs) {
    if (i.dtype === 'float32') inputGrads.set(i.name, cots.get(i.name) ?? new Float64Array(values.get(i.name)!.data.length));
  }
  return { outputs, paramGrads, inputGrads };
}
