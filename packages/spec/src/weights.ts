/** Initial weights drawn from each parameter's initializer, and checks of a weights map against a graph. */
import { type HostTensor, sizeOf } from './dtype.ts';
import { formatShape } from './dims.ts';
import type { Graph, ParamDecl, Weights } from './graph.ts';
import { Rng, hashSeed } from './random.ts';

/** Fan-in/fan-out as Keras computes them: [in, out] for matrices; receptive field for rank > 2. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  const receptive = shape.slice(0, -2).reduce((p, d) => p * d, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/** Values of one parameter; the stream depends only on (seed, parameter name, initializer seed). */
export function initParam(p: ParamDecl, seed: number): Float32Array {
  const n = sizeOf(p.shape);
  const out = new Float32Array(n);
  const init = p.init;
  const rng = new Rng(hashSeed(seed, p.name, 'seed' in init && init.seed !== undefined ? init.seed : 0));
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(init.value);
      break;
    case 'xavierUniform': {
      const [fi, fo] = fans(p.shape);
      const limit = (init.gain ?? 1) * Math.sqrt(6 / (fi + fo));
      for (let i = 0; i < n; i++) out[i] = rng.uniform(-limit, limit);
      break;
    }
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = (init.mean ?? 0) + init.std * rng.normal();
      break;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = rng.uniform(init.min, init.max);
      break;
    default:
      throw new Error(`parameter '${p.name}': unknown initializer ${JSON.stringify(init)}`);
  }
  return out;
}

/** Fresh weights for every parameter of a graph, deterministic by seed. */
export function initWeights(g: Graph, seed: number): Map<string, HostTensor<'float32'>> {
  const w = new Map<string, HostTensor<'float32'>>();
  for (const p of g.params) w.set(p.name, { dtype: 'float32', shape: [...p.shape], data: initParam(p, seed) });
  return w;
}

export class WeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsError';
  }
}

/**
 * Every parameter present with its exact shape and dtype; names not in the graph are an error
 * unless allowExtra (e.g. a checkpoint of a bigger model).
 */
export function checkWeights(g: Graph, weights: Weights, opts: { allowExtra?: boolean } = {}): void {
  const missing = g.params.filter((p) => !weights.has(p.name)).map((p) => p.name);
  if (missing.length) {
    throw new WeightsError(`weights for graph '${g.name}' miss ${missing.length} parameter(s): ${missing.join(', ')}`);
  }
  for (const p of g.params) {
    const t = weights.get(p.name)!;
    if (t.dtype !== 'float32') throw new WeightsError(`weight '${p.name}': expected dtype float32, got ${t.dtype}`);
    const same = t.shape.length === p.shape.length && t.shape.every((d, i) => d === p.shape[i]);
    if (!same) throw new WeightsError(`weight '${p.name}': expected shape ${formatShape(p.shape)}, got ${formatShape(t.shape)}`);
    if (t.data.length !== sizeOf(p.shape))
      throw new WeightsError(`weight '${p.name}': shape ${formatShape(p.shape)} needs ${sizeOf(p.shape)} values, got ${t.data.length}`);
  }
  if (!opts.allowExtra) {
    const names = new Set(g.params.map((p) => p.name));
    const extra = [...weights.keys()].filter((k) => !names.has(k));
    if (extra.length)
      throw new WeightsError(`weights hold ${extra.length} name(s) that graph '${g.name}' has no parameter for: ${extra.join(', ')}`);
  }
}

/**
 * The weights of g's parameters taken from a larger set (a training checkpoint for its serving
 * graph, whose training-only heads the serving graph lacks); checked like checkWeights.
 */
export function weightsFor(g: Graph, weights: Weights): Map<string, HostTensor<'float32'>> {
  checkWeights(g, weights, { allowExtra: true });
  return new Map(g.params.map((p) => [p.name, weights.get(p.name) as HostTensor<'float32'>]));
}
