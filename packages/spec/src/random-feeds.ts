/**
 * Seeded random inputs for a graph's feature schema (float32-representable, so every backend sees
 * the same numbers). Production code uses them too (the exporter's parity batch of the untrained
 * demo model), so they live here rather than in testing/, which re-exports them for the tests.
 */
import type { DType, HostTensor } from './dtype.ts';
import { type DimBindings, resolveShape } from './dims.ts';
import { sizeOf } from './dtype.ts';
import type { FeatureSchema, Graph, InputsOf } from './graph.ts';
import { Rng, hashSeed } from './random.ts';

export type FeedGen = (rng: Rng, shape: readonly number[]) => ArrayLike<number>;

export const gen = {
  normal:
    (std = 1, mean = 0): FeedGen =>
    (rng, s) =>
      Float32Array.from({ length: sizeOf(s) }, () => mean + std * rng.normal()),
  uniform:
    (min: number, max: number): FeedGen =>
    (rng, s) =>
      Float32Array.from({ length: sizeOf(s) }, () => rng.uniform(min, max)),
  ints:
    (bound: number): FeedGen =>
    (rng, s) =>
      Array.from({ length: sizeOf(s) }, () => rng.int(bound)),
  /** mask with `pValid` true; rows (last axis) of a mask may end up all-false, which is what we want to test. */
  mask:
    (pValid = 0.7): FeedGen =>
    (rng, s) =>
      Array.from({ length: sizeOf(s) }, () => (rng.next() < pValid ? 1 : 0)),
  /** valid prefix then padding per row of the last axis: lengths drawn in [0, n]. */
  prefixMask: (): FeedGen => (rng, s) => {
    const n = s[s.length - 1] ?? 1,
      rows = sizeOf(s) / Math.max(n, 1);
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      const len = rng.int(n + 1);
      for (let i = 0; i < n; i++) out.push(i < len ? 1 : 0);
    }
    return out;
  },
  values:
    (v: readonly number[]): FeedGen =>
    () =>
      v,
};

function toData(dtype: DType, v: ArrayLike<number>): HostTensor['data'] {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(v);
    case 'int32':
      return Int32Array.from(v);
    case 'int64':
      return BigInt64Array.from(Array.from(v, (x) => BigInt(x)));
    case 'bool':
      return Uint8Array.from(v, (x) => (x ? 1 : 0));
  }
}

/** Random feeds for every input of g with symbolic dims bound by `dims`; `gens` overrides per input. */
export function randomFeeds<S extends FeatureSchema>(
  g: Graph<S, string>,
  dims: DimBindings,
  seed: number,
  gens: Readonly<Record<string, FeedGen>> = {},
): InputsOf<S> {
  const out: Record<string, HostTensor> = {};
  for (const inp of g.inputs) {
    const shape = resolveShape(inp.shape, dims);
    const rng = new Rng(hashSeed(seed, inp.name));
    const fg = gens[inp.name] ?? (inp.dtype === 'float32' ? gen.normal() : inp.dtype === 'bool' ? gen.mask() : gen.ints(2));
    out[inp.name] = { dtype: inp.dtype, shape, data: toData(inp.dtype, fg(rng, shape)) } as HostTensor;
  }
  return out as InputsOf<S>;
}
