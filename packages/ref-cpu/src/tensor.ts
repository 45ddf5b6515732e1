/**
 * The reference tensor (every dtype held as float64 numbers) and the index maps every kernel is
 * written with. An index map lists, for each flat position of one shape, the flat position it
 * reads in another; a forward op gathers through it and its gradient scatter-adds back through
 * the same map, so forward and backward cannot disagree about the layout.
 */
import { type DType, type HostTensor, formatShape, sizeOf, toFloat64 } from '@lctr/spec';

/** A tensor of the reference interpreter: ints are exact (|v| <= 2^53), bool is 0/1, floats are float64. */
export interface RefTensor {
  dtype: DType;
  shape: number[];
  data: Float64Array;
}

export function refTensor(dtype: DType, shape: readonly number[], data: Float64Array): RefTensor {
  const want = sizeOf(shape);
  if (data.length !== want) throw new Error(`refTensor: shape ${formatShape(shape)} needs ${want} values, got ${data.length}`);
  return { dtype, shape: [...shape], data };
}

/** A host tensor from a reference tensor: float32 keeps float64 precision (Float64Array). */
export function toHost(t: RefTensor): HostTensor {
  const shape = [...t.shape];
  switch (t.dtype) {
    case 'float32':
      return { dtype: 'float32', shape, data: Float64Array.from(t.data) };
    case 'int32':
      return { dtype: 'int32', shape, data: Int32Array.from(t.data) };
    case 'int64':
      return { dtype: 'int64', shape, data: BigInt64Array.from(t.data, (v) => BigInt(v)) };
    case 'bool':
      return { dtype: 'bool', shape, data: Uint8Array.from(t.data, (v) => (v ? 1 : 0)) };
  }
}

/** A reference tensor from a host tensor (int64 goes through Number: values beyond ±(2^53 - 1) are rejected, not rounded). */
export function fromHost(t: HostTensor): RefTensor {
  if (t.data instanceof BigInt64Array) {
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    const i = t.data.findIndex((v) => v > limit || v < -limit);
    if (i >= 0)
      throw new Error(`fromHost: int64 value ${t.data[i]} at flat position ${i} is beyond ±(2^53 - 1), which float64 cannot hold exactly`);
  }
  const data = toFloat64(t);
  if (t.dtype === 'bool') for (let i = 0; i < data.length; i++) data[i] = data[i] ? 1 : 0;
  return refTensor(t.dtype, t.shape, data);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Walk every flat position of `shape` in row-major order and record `offset + Σ idx[i] * strides[i]`.
 * With strides of another tensor this is a transpose, a slice, a broadcast or a concat placement.
 */
export function walk(shape: readonly number[], strides: readonly number[], offset = 0): Int32Array {
  const n = sizeOf(shape);
  const map = new Int32Array(n);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let pos = offset;
  for (let f = 0; f < n; f++) {
    map[f] = pos;
    for (let ax = r - 1; ax >= 0; ax--) {
      idx[ax]!++;
      pos += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      pos -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
  return map;
}

/** Numpy broadcast of run-time shapes; throws naming both shapes. */
export function broadcastStatic(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
  }
  return out;
}

/** For each flat position of `outShape`, the flat position of `inShape` (broadcast to it) that it reads. */
export function broadcastMap(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const off = outShape.length - inShape.length;
  if (off < 0) throw new Error(`cannot broadcast ${formatShape(inShape)} to lower rank ${formatShape(outShape)}`);
  const inStrides = stridesOf(inShape);
  const strides = outShape.map((d, i) => {
    if (i < off) return 0;
    const di = inShape[i - off]!;
    if (di === d) return di === 1 ? 0 : inStrides[i - off]!;
    if (di === 1) return 0;
    throw new Error(`cannot broadcast ${formatShape(inShape)} to ${formatShape(outShape)}`);
  });
  return walk(outShape, strides);
}

/** Sum a cotangent of `outShape` back onto `inShape` (the adjoint of broadcasting `inShape` to `outShape`). */
export function unbroadcast(g: Float64Array, outShape: readonly number[], inShape: readonly number[]): Float64Array {
  const map = broadcastMap(inShape, outShape);
  const out = new Float64Array(sizeOf(inShape));
  for (let f = 0; f < g.length; f++) out[map[f]!] += g[f]!;
  return out;
}

/** Sizes before, along and after one axis: a tensor viewed as [outer, n, inner]. */
export function splitAt(shape: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  return {
    outer: sizeOf(shape.slice(0, axis)),
    n: shape[axis]!,
    inner: sizeOf(shape.slice(axis + 1)),
  };
}

/** Wrap to the int32 range (two's complement), as int32 arithmetic does on every runtime. */
export function wrapInt32(v: number): number {
  return v | 0;
}
