/** Test helpers: host tensors, export + run in ONNX Runtime, and one batched checker call per file. */
import { expect, it } from 'vitest';
import {
  type DType,
  type DataFor,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  type Weights,
  dataFromNumbers,
  initWeights,
  toFloat64,
} from '@lctr/spec';
import { OnnxSession, checkOnnxModels, exportOnnx } from '../src/index.ts';

export const f32 = (shape: number[], values: number[]): HostTensor<'float32'> => tensor('float32', shape, values);
export const i32 = (shape: number[], values: number[]): HostTensor<'int32'> => tensor('int32', shape, values);
export const i64 = (shape: number[], values: number[]): HostTensor<'int64'> => tensor('int64', shape, values);
export const bool = (shape: number[], values: number[]): HostTensor<'bool'> => tensor('bool', shape, values);

export function tensor<D extends DType>(dtype: D, shape: number[], values: number[]): HostTensor<D> {
  const data: DataFor[D] = dataFromNumbers(dtype, values);
  return { dtype, shape, data };
}

/** Every model exported by a test file, checked in one python process by `itPassesChecker`. */
const exported: Array<{ name: string; bytes: Uint8Array }> = [];

export function exportForTest(g: Graph, weights?: Weights): Uint8Array {
  const bytes = exportOnnx(g, weights ?? initWeights(g, 7));
  exported.push({ name: g.name, bytes });
  return bytes;
}

export async function openSession<S extends FeatureSchema, O extends string>(
  g: Graph<S, O>,
  weights?: Weights,
): Promise<OnnxSession<S, O>> {
  return OnnxSession.create(exportForTest(g, weights), g, { provider: 'cpu', intraOpNumThreads: 1 });
}

/** Export, open, run once, release. */
export async function runOnce<S extends FeatureSchema, O extends string>(
  g: Graph<S, O>,
  inputs: InputsOf<S>,
  weights?: Weights,
): Promise<Record<O, HostTensor>> {
  const s = await openSession(g, weights);
  try {
    return await s.run(inputs);
  } finally {
    await s.release();
  }
}

/** Values as plain numbers (int64 through Number, bool as 0/1). */
export const values = (t: HostTensor): number[] => Array.from(toFloat64(t));

/** Shape, dtype and values within |a - e| <= atol + rtol |e| (NaN and +-Infinity must match exactly). */
export function expectTensor(t: HostTensor, dtype: DType, shape: number[], expected: number[], atol = 1e-6, rtol = 1e-6): void {
  expect(t.dtype).toBe(dtype);
  expect([...t.shape]).toEqual(shape);
  expect(t.data.constructor.name).toBe({ float32: 'Float32Array', int32: 'Int32Array', int64: 'BigInt64Array', bool: 'Uint8Array' }[dtype]);
  const got = values(t);
  expect(got.length).toBe(expected.length);
  const bad: string[] = [];
  got.forEach((g, i) => {
    const e = expected[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(g) : !Number.isFinite(e) ? g === e : Math.abs(g - e) <= atol + rtol * Math.abs(e);
    if (!ok) bad.push(`[${i}] got ${g}, expected ${e}`);
  });
  expect(bad).toEqual([]);
}

/** Register, as the last test of a file, the ONNX checker (full_check + strict shape inference) over every model the file exported. */
export function itPassesChecker(): void {
  it('every model exported by this file passes the ONNX checker (full_check, strict shape inference)', () => {
    expect(exported.length).toBeGreaterThan(0);
    const results = checkOnnxModels(exported.map((m) => m.bytes));
    const failures = results.map((r, i) => (r.ok ? undefined : `${exported[i]!.name}: ${r.message}`)).filter((x) => x !== undefined);
    expect(failures).toEqual([]);
  });
}
