/**
 * compileTfjs: a graph of the IR as a tfjs model. Parameters live in tf.Variables; every node runs
 * its kernel from the table; under a gradient tape (tf.variableGrads, optimizer.minimize) each
 * differentiable node is one tf.customGrad whose gradient is the kernel's backward, and the outputs
 * of non-differentiable nodes (topk, compare, cast to int, stopGradient, ...) are detached, so no
 * tfjs kernel gradient is ever needed.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  type DimBindings,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  type NodeDecl,
  type OpName,
  type ValueInfo,
  type Weights,
  InputError,
  checkFeeds,
  checkWeights,
  formatShape,
  gradInputs,
  indexUses,
  initWeights,
  prepareFeeds,
  resolveShape,
  sizeOf,
  valueInfo,
} from '@lctr/spec';
import { constantData, fromTensor, tfDtype, toTensor } from './convert.ts';
import { type CompiledNode, KERNELS, type KernelContext, type TfjsKernel, alias, describeTensor } from './kernels.ts';

export type { CompiledNode } from './kernels.ts';
import { fuseGatherConcat } from './fuse.ts';
import { registerFastKernels } from './segment-sum.ts';

export interface TfjsModel<S extends FeatureSchema = FeatureSchema, O extends string = string> {
  readonly graph: Graph<S, O>;
  /** one trainable tf.Variable per parameter, keyed by parameter path. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** replace every parameter's value (spec's checkWeights first). */
  setWeights(weights: Weights): void;
  /** copies of the current parameter values. */
  getWeights(): Map<string, HostTensor<'float32'>>;
  /** fresh values from each parameter's initializer (spec's initWeights). */
  initWeights(seed: number): void;
  /**
   * spec's prepareFeeds (checkFeeds, then ids at padded positions replaced by 0), then the inputs as
   * tensors (int64 as int32) and the symbolic dim bindings; the caller disposes them (or runs in tf.tidy).
   */
  toFeeds(inputs: InputsOf<S>): { feeds: Record<string, tf.Tensor>; bindings: DimBindings };
  /**
   * the graph on tensors, for use inside tf.tidy / tf.variableGrads; outputs may be feeds or variables themselves, do not dispose those.
   */
  forward(feeds: Readonly<Record<string, tf.Tensor>>, bindings: DimBindings): Record<O, tf.Tensor>;
  /**
   * Free what forward() kept for a backward pass that is over (done by the next forward, gradients,
   * trainStep and dispose anyway; call it after your own tf.variableGrads to free memory at once).
   */
  releaseSaved(): void;
  /** all outputs on the host; leaves no tensor behind. */
  run(inputs: InputsOf<S>): Record<O, HostTensor>;
  /**
   * value of one float32 output and the gradient of sum(output * cotangent) (cotangent default: ones)
   * with respect to every parameter (zeros for parameters the output does not depend on).
   */
  gradients(
    inputs: InputsOf<S>,
    output: O,
    cotangent?: HostTensor<'float32'>,
  ): { value: HostTensor; grads: Map<string, HostTensor<'float32'>> };
  /** one optimizer step on a scalar (one-element) float32 output; returns the loss before the step. */
  trainStep(inputs: InputsOf<S>, lossOutput: O, optimizer: tf.Optimizer): number;
  /** free the variables; the model cannot be used afterwards. */
  dispose(): void;
}

export interface CompileOptions {
  /** initial weights (checked against the graph); default: initWeights(graph, seed). */
  readonly weights?: Weights;
  /** seed for the initial weights when none are given (default 0). */
  readonly seed?: number;
}

/** Ops whose output holds the input's values, only rearranged (as spec's feeds check traces them). */
const VALUE_PRESERVING = new Set<string>(['reshape', 'transpose', 'expand', 'slice', 'cast', 'stopGradient']);

let modelCounter = 0;

/** An identity whose output has no tape history: gradients stop here without any tfjs kernel gradient. */
const detach = (t: tf.Tensor): tf.Tensor => tf.customGrad(() => ({ value: alias(t), gradFunc: () => [] }))();

/**
 * Tensors one differentiable node needs in its backward pass, kept (as aliases) past the tidy of the
 * forward pass. tf.customGrad's own save() would clone them, which copies every activation on wasm.
 * A group is freed by its backward, or, when backprop never reaches it, once its tape is over.
 */
interface SavedGroup {
  readonly tape: unknown;
  readonly tensors: tf.Tensor[];
}

/** sum(y * c) (c default ones) with its own gradient, so no tfjs kernel gradient is needed. */
function weightedSum(y: tf.Tensor, c: tf.Tensor | undefined): tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor;
    return {
      value: tf.sum(c ? tf.mul(x, c) : x),
      gradFunc: (dy: tf.Tensor) => (c ? tf.mul(dy, c) : tf.mul(dy, tf.onesLike(x))),
    };
  })(y);
}

const gradientDepth = () => tf.engine().state.gradientDepth;

export function compileTfjs<S extends FeatureSchema, O extends string>(graph: Graph<S, O>, opts: CompileOptions = {}): TfjsModel<S, O> {
  registerFastKernels();
  const modelId = ++modelCounter;
  const outputNames = Object.keys(graph.outputs) as O[];

  // Index inputs that spec's checkFeeds range-checks (prepareFeeds zeroes their padded positions), and topk indices, need no run-time
  // check.
  const checkedByFeeds = new Set(indexUses(graph).map((u) => u.node));
  const producer = new Map<string, NodeDecl>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o.id, n);
  const fromTopk = (id: string): boolean => {
    for (let p = producer.get(id); p; p = producer.get(id)) {
      if (p.op === 'topk') return id === p.outputs[1]!.id;
      if (!VALUE_PRESERVING.has(p.op)) return false;
      id = p.inputs[0]!;
    }
    return false;
  };

  // Values a parameter's gradient can flow through: only inputs among them carry gradient (a
  // where's constant 0, a mask's arithmetic, a float feature need none; their nodes run untaped).
  const fromParams = new Set<string>(graph.params.map((p) => p.name));
  const compiled: CompiledNode[] = graph.nodes.map((node) => {
    const kernel = KERNELS[node.op] as TfjsKernel<OpName>;
    if (!kernel) throw new Error(`backend-tfjs has no kernel for op '${node.op}' (node '${node.id}')`);
    const inputInfo = node.inputs.map((id) => valueInfo(graph, id));
    const grad = gradInputs(node.op, inputInfo, node.attrs as never);
    const gradIdx = grad.flatMap((g, i) => (g && fromParams.has(node.inputs[i]!) ? [i] : []));
    if (gradIdx.length) for (const o of node.outputs) fromParams.add(o.id);
    if (gradIdx.length && (!kernel.backward || node.outputs.length !== 1)) {
      throw new Error(`backend-tfjs: op '${node.op}' (node '${node.id}') carries gradient but its kernel has no single-output backward`);
    }
    if (node.op === 'constant') {
      const a = node.attrs as { dtype: ValueInfo['dtype']; values: number[] };
      constantData(a.dtype, a.values, `constant '${node.id}'`); // int64 values must fit int32: fail at compile time
    }
    const isGather = node.op === 'gather' || node.op === 'gatherAlongAxis' || node.op === 'scatterAlongAxis';
    return {
      node,
      kernel,
      attrs: node.attrs as never,
      inputInfo,
      outputInfo: node.outputs,
      gradIdx,
      checkIndices: isGather && !checkedByFeeds.has(node.id) && !fromTopk(node.inputs[1]!),
    };
  });
  const nodes = fuseGatherConcat(graph, compiled);

  // Parameters each output's gradient reaches (through differentiable inputs only).
  const reachCache = new Map<string, string[]>();
  const reachingParams = (output: string): string[] => {
    let r = reachCache.get(output);
    if (!r) {
      const needed = new Set<string>([graph.outputs[output as O]]);
      for (let i = nodes.length - 1; i >= 0; i--) {
        const cn = nodes[i]!;
        if (cn.node.outputs.some((o) => needed.has(o.id))) for (const j of cn.gradIdx) needed.add(cn.node.inputs[j]!);
      }
      r = graph.params.filter((p) => needed.has(p.name)).map((p) => p.name);
      reachCache.set(output, r);
    }
    return r;
  };

  const initial = opts.weights ?? initWeights(graph, opts.seed ?? 0);
  if (opts.weights) checkWeights(graph, opts.weights);
  const variables = new Map<string, tf.Variable>();
  tf.tidy(() => {
    for (const p of graph.params) {
      const w = initial.get(p.name)!;
      variables.set(
        p.name,
        tf.variable(tf.tensor(Float32Array.from(w.data), [...p.shape], 'float32'), true, `lctr${modelId}:${graph.name}/${p.name}`),
      );
    }
  });

  let disposed = false;
  const alive = () => {
    if (disposed) throw new Error(`tfjs model of graph '${graph.name}' was disposed`);
  };

  const outputInfo = (output: string, what: string): ValueInfo => {
    const id = graph.outputs[output as O];
    if (id === undefined) throw new Error(`${what}: graph '${graph.name}' has no output '${output}' (outputs: ${outputNames.join(', ')})`);
    return valueInfo(graph, id);
  };

  const toFeeds = (inputs: InputsOf<S>) => {
    const { bindings, feeds: host } = prepareFeeds(graph, inputs as Record<string, HostTensor>);
    const feeds: Record<string, tf.Tensor> = {};
    try {
      for (const decl of graph.inputs) feeds[decl.name] = toTensor(host[decl.name]!, `input '${decl.name}'`);
    } catch (e) {
      tf.dispose(Object.values(feeds));
      throw e;
    }
    return { feeds, bindings };
  };

  const execute = (feeds: Readonly<Record<string, tf.Tensor>>, bindings: DimBindings): Map<string, tf.Tensor> => {
    const values = new Map<string, tf.Tensor>();
    for (const decl of graph.inputs) {
      const t = feeds[decl.name];
      if (!t)
        throw new InputError(
          `graph '${graph.name}' is missing input tensor '${decl.name}' (expected ${graph.inputs.map((i) => i.name).join(', ')})`,
        );
      const want = resolveShape(decl.shape, bindings);
      const dtype = tfDtype(decl.dtype);
      if (t.dtype !== dtype || t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new InputError(
          `input tensor '${decl.name}': expected ${dtype}${formatShape(want)} (${decl.dtype}${formatShape(decl.shape)}), got ` +
            `${describeTensor(t)}`,
        );
      }
      values.set(decl.name, t);
    }
    for (const [name, v] of variables) values.set(name, v);
    const taping = gradientDepth() > 0;
    const backend = tf.getBackend();
    for (const cn of nodes) {
      const xs = cn.node.inputs.map((id) => values.get(id)!);
      const ctx: KernelContext = {
        node: cn.node,
        bindings,
        inputInfo: cn.inputInfo,
        outputInfo: cn.outputInfo,
        backend,
        checkIndices: cn.checkIndices,
        gradIdx: cn.gradIdx,
        outShape: (i = 0) => resolveShape(cn.outputInfo[i]!.shape, bindings),
      };
      // Outputs with no elements are made directly: wasm kernels mishandle empty tensors (gather leaks).
      const empty = cn.node.outputs.every((o) => sizeOf(resolveShape(o.shape, bindings)) === 0);
      const kernel = empty ? emptyKernel(cn) : cn.kernel;
      let outs: tf.Tensor[];
      if (taping && cn.gradIdx.length > 0) {
        outs = [runDifferentiable(cn, kernel, xs, ctx, saved)];
      } else {
        outs = kernel.forward(xs, cn.attrs, ctx);
        if (taping) outs = outs.map(detach);
      }
      cn.node.outputs.forEach((o, i) => {
        const t = outs[i];
        const want = resolveShape(o.shape, bindings);
        const dtype = tfDtype(o.dtype);
        if (!t || t.dtype !== dtype || t.shape.length !== want.length || t.shape.some((d, j) => d !== want[j])) {
          throw new Error(
            `internal error in backend-tfjs: kernel '${cn.node.op}' of node '${cn.node.id}' gave output ${i} as ` +
              `${t ? describeTensor(t) : 'nothing'}, expected ${dtype}${formatShape(want)}`,
          );
        }
        values.set(o.id, t);
      });
    }
    return values;
  };

  // Saved tensors of nodes that backprop did not reach are freed once their tape is over.
  const saved = new Set<SavedGroup>();
  const releaseSaved = (all: boolean) => {
    const state = tf.engine().state;
    for (const g of saved) {
      if (all || state.gradientDepth === 0 || g.tape !== state.activeTape) {
        saved.delete(g);
        tf.dispose(g.tensors);
      }
    }
  };

  const forward = (feeds: Readonly<Record<string, tf.Tensor>>, bindings: DimBindings): Record<O, tf.Tensor> => {
    alive();
    releaseSaved(false);
    const values = execute(feeds, bindings);
    const out = {} as Record<O, tf.Tensor>;
    for (const name of outputNames) out[name] = values.get(graph.outputs[name])!;
    return out;
  };

  const model: TfjsModel<S, O> = {
    graph,
    variables,
    setWeights(weights) {
      alive();
      checkWeights(graph, weights);
      tf.tidy(() => {
        for (const p of graph.params) {
          const w = weights.get(p.name)!;
          variables.get(p.name)!.assign(tf.tensor(Float32Array.from(w.data), [...p.shape], 'float32'));
        }
      });
    },
    getWeights() {
      alive();
      const out = new Map<string, HostTensor<'float32'>>();
      for (const [name, v] of variables)
        out.set(name, { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) });
      return out;
    },
    initWeights(seed) {
      model.setWeights(initWeights(graph, seed));
    },
    toFeeds(inputs) {
      alive();
      return toFeeds(inputs);
    },
    forward,
    releaseSaved() {
      releaseSaved(false);
    },
    run(inputs) {
      alive();
      const bindings = checkFeeds(graph, inputs as Record<string, HostTensor>);
      const result = {} as Record<O, HostTensor>;
      // tidy returns nothing: walking host arrays as a tensor container would visit every element
      tf.tidy(() => {
        const { feeds } = toFeeds(inputs);
        const outs = forward(feeds, bindings);
        for (const name of outputNames) result[name] = fromTensor(outs[name], outputInfo(name, 'run').dtype);
      });
      return result;
    },
    gradients(inputs, output, cotangent) {
      alive();
      const info = outputInfo(output, 'gradients');
      if (info.dtype !== 'float32') throw new Error(`gradients: output '${output}' is ${info.dtype}; only float32 outputs have gradients`);
      const bindings = checkFeeds(graph, inputs as Record<string, HostTensor>);
      const shape = resolveShape(info.shape, bindings);
      if (cotangent) {
        const okShape = cotangent.shape.length === shape.length && cotangent.shape.every((d, i) => d === shape[i]);
        if (cotangent.dtype !== 'float32' || !okShape || cotangent.data.length !== sizeOf(shape)) {
          throw new InputError(
            `gradients: cotangent for output '${output}' must be float32${formatShape(shape)}, got ` +
              `${cotangent.dtype}${formatShape(cotangent.shape)} with ${cotangent.data.length} values`,
          );
        }
      }
      const params = reachingParams(output);
      let value: HostTensor | undefined;
      const grads = new Map<string, HostTensor<'float32'>>();
      tf.tidy(() => {
        const { feeds } = toFeeds(inputs);
        const cot = cotangent ? tf.tensor(Float32Array.from(cotangent.data), shape, 'float32') : undefined;
        if (params.length === 0) {
          value = fromTensor(forward(feeds, bindings)[output], 'float32');
          return;
        }
        const vars = params.map((p) => variables.get(p)!);
        const r = tf.variableGrads(() => {
          const y = forward(feeds, bindings)[output];
          value = fromTensor(y, 'float32');
          return weightedSum(y, cot) as tf.Scalar;
        }, vars);
        params.forEach((p, i) => {
          const g = r.grads[vars[i]!.name];
          if (g) grads.set(p, fromTensor(g, 'float32') as HostTensor<'float32'>);
        });
      });
      releaseSaved(false);
      for (const p of graph.params) {
        if (!grads.has(p.name)) grads.set(p.name, { dtype: 'float32', shape: [...p.shape], data: new Float32Array(sizeOf(p.shape)) });
      }
      const ordered = new Map<string, HostTensor<'float32'>>();
      for (const p of graph.params) ordered.set(p.name, grads.get(p.name)!);
      return { value: value!, grads: ordered };
    },
    trainStep(inputs, lossOutput, optimizer) {
      alive();
      const info = outputInfo(lossOutput, 'trainStep');
      const bindings = checkFeeds(graph, inputs as Record<string, HostTensor>);
      const shape = resolveShape(info.shape, bindings);
      if (info.dtype !== 'float32' || sizeOf(shape) !== 1) {
        throw new Error(
          `trainStep: loss output '${lossOutput}' must be a float32 scalar (one element), got ${info.dtype}${formatShape(shape)}`,
        );
      }
      const params = reachingParams(lossOutput);
      if (params.length === 0) throw new Error(`trainStep: loss output '${lossOutput}' of graph '${graph.name}' depends on no parameter`);
      const vars = params.map((p) => variables.get(p)!);
      let loss = NaN;
      tf.tidy(() => {
        const { feeds } = toFeeds(inputs);
        const cost = optimizer.minimize(() => weightedSum(forward(feeds, bindings)[lossOutput], undefined) as tf.Scalar, true, vars);
        loss = cost!.dataSync()[0]!;
      });
      releaseSaved(false);
      return loss;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      releaseSaved(true);
      for (const v of variables.values()) v.dispose();
    },
  };
  return model;
}

/** A node whose outputs have no elements: zeros of the output shapes, zero gradients for the inputs. */
function emptyKernel(cn: CompiledNode): TfjsKernel<OpName> {
  return {
    forward: (_xs, _a, ctx) => cn.node.outputs.map((o, i) => tf.zeros(ctx.outShape(i), tfDtype(o.dtype))),
    backward: (_dy, xs) => xs.map((x) => tf.zerosLike(x)),
  };
}

/**
 * A differentiable node as one tf.customGrad over its differentiable inputs; the other inputs
 * (indices, masks, conditions) are closed over. Inputs and output are kept for the backward pass
 * in a SavedGroup (the forward pass runs inside tidies that would otherwise free them).
 */
function runDifferentiable(
  cn: CompiledNode,
  kernel: TfjsKernel<OpName>,
  xs: readonly tf.Tensor[],
  ctx: KernelContext,
  saved: Set<SavedGroup>,
): tf.Tensor {
  const f = tf.customGrad(() => {
    const y = kernel.forward(xs, cn.attrs, ctx)[0]!;
    const group: SavedGroup = { tape: tf.engine().state.activeTape, tensors: [...xs, y].map((t) => tf.keep(alias(t))) };
    saved.add(group);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor) => {
        const sx = group.tensors.slice(0, xs.length);
        const g = kernel.backward!(dy, sx, group.tensors[xs.length]!, cn.attrs, ctx);
        // Each gradient a fresh tensor object: tfjs' tape disposes an input's gradient when it adds
        // another contribution to it, so one object handed to two inputs (add's [dy, dy]), or dy
        // itself, would be freed under the other's feet. An alias shares the data (no copy).
        const grads = cn.gradIdx.map((i, j) => {
          const t = g[i];
          if (!t)
            throw new Error(
              `internal error in backend-tfjs: backward of '${cn.node.op}' (node '${cn.node.id}') gave no gradient for input ${i}`,
            );
          return t === dy || cn.gradIdx.slice(0, j).some((k) => g[k] === t) ? alias(t) : t;
        });
        saved.delete(group);
        tf.dispose(group.tensors.filter((t) => !grads.includes(t)));
        return grads;
      },
    };
  });
  return f(...cn.gradIdx.map((i) => xs[i]!));
}
