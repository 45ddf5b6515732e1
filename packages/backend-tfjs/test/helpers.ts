/** Test helpers: host tensors, one-op graphs, backend switching, finite differences. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type DType, type FeatureSchema, type Graph, type HostTensor, type InputsOf, type Value, GraphBuilder, sizeOf } from '@lctr/spec';
import { compileTfjs, initTfjs } from '../src/index.ts';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof BACKENDS)[number];

// tfjs prints a banner suggesting tfjs-node on first use; not useful in tests.
tf.env().set('IS_TEST', true);

export async function useBackend(name: TestBackend): Promise<void> {
  await initTfjs({ backend: name, log: () => {} });
  expect(tf.getBackend()).toBe(name);
}

export const f32 = (shape: number[], values: ArrayLike<number>): HostTensor<'float32'> => ({
  dtype: 'float32',
  shape,
  data: Float32Array.from(values),
});
export const i32 = (shape: number[], values: ArrayLike<number>): HostTensor<'int32'> => ({
  dtype: 'int32',
  shape,
  data: Int32Array.from(values),
});
export const i64 = (shape: number[], values: ArrayLike<number>): HostTensor<'int64'> => ({
  dtype: 'int64',
  shape,
  data: BigInt64Array.from(Array.from(values), (v) => BigInt(v)),
});
export const bool = (shape: number[], values: ArrayLike<number>): HostTensor<'bool'> => ({
  dtype: 'bool',
  shape,
  data: Uint8Array.from(values),
});

/** Plain numbers of a host tensor (int64 via Number). */
export function nums(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Build a graph with one output 'y' from f, run it once on the current backend, return y. */
export function runOne<S extends FeatureSchema>(schema: S, f: (b: GraphBuilder<S>) => Value, inputs: InputsOf<S>): HostTensor {
  const b = new GraphBuilder('t', schema);
  const g = b.build({ y: f(b) });
  const m = compileTfjs(g);
  try {
    return m.run(inputs).y;
  } finally {
    m.dispose();
  }
}

/** Expect values close elementwise (NaN matches NaN, infinities match exactly). */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!,
      e = expected[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= tol * Math.max(1, Math.abs(e));
    if (!ok) bad.push(`[${i}] got ${a}, expected ${e}`);
  }
  expect(bad, bad.join('; ')).toEqual([]);
}

/** Host tensor of a dtype filled from plain numbers. */
export function host(dtype: DType, shape: number[], values: ArrayLike<number>): HostTensor {
  switch (dtype) {
    case 'float32':
      return f32(shape, values);
    case 'int32':
      return i32(shape, values);
    case 'int64':
      return i64(shape, values);
    case 'bool':
      return bool(shape, values);
  }
}

/** A deterministic cotangent-like vector. */
export function pattern(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.1 * ((i % 3) - 1);
  return out;
}

/**
 * Check the model's gradients of sum(y * c) against central differences in float32 (h = 1e-2,
 * so the tolerance is loose: this checks the formula, not the last digits).
 */
export function checkGradFD<S extends FeatureSchema>(g: Graph<S, 'y'>, inputs: InputsOf<S>, tol = 2e-2): void {
  const m = compileTfjs(g, { seed: 3 });
  try {
    const y0 = m.run(inputs).y;
    const c = f32([...y0.shape], pattern(sizeOf(y0.shape), 7));
    const { grads } = m.gradients(inputs, 'y', c);
    const base = m.getWeights();
    const loss = (w: Map<string, HostTensor<'float32'>>) => {
      m.setWeights(w);
      const y = m.run(inputs).y.data as Float32Array;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i]! * c.data[i]!;
      return s;
    };
    const h = 1e-2;
    for (const [name, w] of base) {
      const fd: number[] = [];
      for (let i = 0; i < w.data.length; i++) {
        const plus = new Map(base),
          minus = new Map(base);
        const dp = Float32Array.from(w.data);
        dp[i]! += h;
        const dm = Float32Array.from(w.data);
        dm[i]! -= h;
        plus.set(name, { ...w, data: dp });
        minus.set(name, { ...w, data: dm });
        fd.push((loss(plus) - loss(minus)) / (2 * h));
      }
      const got = Array.from(grads.get(name)!.data);
      const scale = Math.max(1, ...fd.map(Math.abs));
      const bad = got
        .map((v, i) => (Math.abs(v - fd[i]!) > tol * scale ? `${name}[${i}] analytic ${v} vs fd ${fd[i]}` : ''))
        .filter(Boolean);
      expect(bad, bad.join('; ')).toEqual([]);
    }
    m.setWeights(base);
  } finally {
    m.dispose();
  }
}
