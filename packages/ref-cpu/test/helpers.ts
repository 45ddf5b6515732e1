/** Small builders and checks shared by the ref-cpu tests. */
import { expect } from 'vitest';
import {
  type DType,
  type FeatureSchema,
  type Graph,
  GraphBuilder,
  type HostTensor,
  type InputsOf,
  Rng,
  type Value,
  type Weights,
  sizeOf,
} from '@lctr/spec';
import { type RefTensor, gradRef, runRef } from '../src/index.ts';

export const f32 = (shape: number[], values: readonly number[]): HostTensor<'float32'> => ({
  dtype: 'float32',
  shape,
  data: Float64Array.from(values),
});
export const i32 = (shape: number[], values: readonly number[]): HostTensor<'int32'> => ({
  dtype: 'int32',
  shape,
  data: Int32Array.from(values),
});
export const i64 = (shape: number[], values: readonly number[]): HostTensor<'int64'> => ({
  dtype: 'int64',
  shape,
  data: BigInt64Array.from(values, (v) => BigInt(v)),
});
export const bool = (shape: number[], values: readonly number[]): HostTensor<'bool'> => ({
  dtype: 'bool',
  shape,
  data: Uint8Array.from(values),
});

/** Build a one-output graph ('y') from a schema and run it. */
export function run1<S extends FeatureSchema>(
  schema: S,
  build: (b: GraphBuilder<S>) => Value,
  feeds: Record<string, HostTensor>,
  weights: Weights = new Map(),
): RefTensor {
  const b = new GraphBuilder('t', schema);
  const g = b.build({ y: build(b) });
  return runRef(g, weights, feeds as InputsOf<S>).y;
}

/** Values equal within tol (NaN matches NaN, ±Infinity must match exactly). */
export function expectValues(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-12): void {
  expect(actual.length, 'length').toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!,
      e = expected[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= tol * Math.max(1, Math.abs(e));
    if (!ok) expect.fail(`element ${i}: got ${a}, expected ${e} (all: [${Array.from(actual).join(', ')}])`);
  }
}

export function expectTensor(t: RefTensor, dtype: DType, shape: number[], values: readonly number[], tol = 1e-12): void {
  expect(t.dtype).toBe(dtype);
  expect(t.shape).toEqual(shape);
  expectValues(t.data, values, tol);
}

// ---- random operands ----
export type Gen = (rng: Rng) => number;
export const normal: Gen = (rng) => rng.normal();
export const uniform =
  (lo: number, hi: number): Gen =>
  (rng) =>
    rng.uniform(lo, hi);
/** |v| in [lo, hi] with a random sign: keeps operands away from kinks at 0 (relu, abs) and from poles (div). */
export const awayFromZero =
  (lo = 0.2, hi = 1.5): Gen =>
  (rng) =>
    (rng.next() < 0.5 ? -1 : 1) * rng.uniform(lo, hi);

export function fill(rng: Rng, shape: readonly number[], gen: Gen): Float64Array {
  return Float64Array.from({ length: sizeOf(shape) }, () => gen(rng));
}

// ---- gradient checks ----
export interface GradCase {
  readonly name: string;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly inputs: Record<string, HostTensor>;
}

/**
 * Build a grad case: `params` and float `inputs` (name -> shape and generator) are random; other
 * feeds are given. The graph output must be named 'y'.
 */
export function gradCase<S extends FeatureSchema>(
  name: string,
  schema: S,
  build: (b: GraphBuilder<S>, p: Record<string, Value<'float32'>>) => Value,
  opts: {
    params?: Record<string, { shape: number[]; gen?: Gen }>;
    floats?: Record<string, Gen>;
    feeds?: Record<string, HostTensor>;
    seed?: number;
  },
): GradCase {
  const rng = new Rng(opts.seed ?? 7);
  const b = new GraphBuilder(name, schema);
  const p: Record<string, Value<'float32'>> = {};
  const weights = new Map<string, HostTensor<'float32'>>();
  for (const [pn, spec] of Object.entries(opts.params ?? {})) {
    p[pn] = b.param(pn, spec.shape);
    weights.set(pn, { dtype: 'float32', shape: spec.shape, data: fill(rng, spec.shape, spec.gen ?? normal) });
  }
  const graph = b.build({ y: build(b, p) });
  const inputs: Record<string, HostTensor> = { ...(opts.feeds ?? {}) };
  for (const decl of graph.inputs) {
    if (inputs[decl.name]) continue;
    if (decl.dtype !== 'float32' || decl.shape.some((d) => typeof d !== 'number'))
      throw new Error(`gradCase '${name}': give feed '${decl.name}'`);
    const shape = decl.shape as number[];
    inputs[decl.name] = { dtype: 'float32', shape, data: fill(rng, shape, opts.floats?.[decl.name] ?? normal) };
  }
  return { name, graph, weights, inputs };
}

export const FD_STEP = 1e-6;
export const FD_REL = 1e-6;
export const FD_ABS = 1e-8;

/**
 * Compare gradRef against central finite differences of sum(y * cotangent) for every element of
 * every parameter and float input; returns the analytic gradients.
 */
export function checkGradients(c: GradCase, seed = 11): { params: Map<string, Float64Array>; inputs: Map<string, Float64Array> } {
  const rng = new Rng(seed);
  const y0 = runRef(c.graph, c.weights, c.inputs).y;
  const cot = fill(rng, y0.shape, normal);
  const { paramGrads, inputGrads } = gradRef(c.graph, c.weights, c.inputs, 'y', cot);
  const objective = (weights: Weights, inputs: Record<string, HostTensor>): number => {
    const y = runRef(c.graph, weights, inputs).y.data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * cot[i]!;
    return s;
  };
  const compare = (what: string, analytic: Float64Array, perturb: (i: number, h: number) => number): void => {
    for (let i = 0; i < analytic.length; i++) {
      const fd = (perturb(i, FD_STEP) - perturb(i, -FD_STEP)) / (2 * FD_STEP);
      const a = analytic[i]!;
      if (!(Math.abs(a - fd) <= FD_ABS + FD_REL * Math.max(Math.abs(a), Math.abs(fd)))) {
        expect.fail(`${c.name}: d/d ${what}[${i}]: analytic ${a}, finite difference ${fd} (diff ${Math.abs(a - fd)})`);
      }
    }
  };
  for (const [pn, t] of c.weights) {
    compare(`param ${pn}`, paramGrads.get(pn)!, (i, h) => {
      const data = Float64Array.from(t.data);
      data[i] += h;
      return objective(new Map(c.weights).set(pn, { ...t, data }), c.inputs);
    });
  }
  for (const [name, t] of Object.entries(c.inputs)) {
    if (t.dtype !== 'float32') continue;
    compare(`input ${name}`, inputGrads.get(name)!, (i, h) => {
      const data = Float64Array.from(t.data as Float64Array);
      data[i] += h;
      return objective(c.weights, { ...c.inputs, [name]: { ...t, data } });
    });
  }
  return { params: paramGrads, inputs: inputGrads };
}
