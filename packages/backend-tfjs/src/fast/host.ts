/**
 * What every fast kernel shares: the backends' own buffers (cpu: a typed array per tensor; wasm: a
 * view of its heap), the copy loops, whether tfjs runs on the host, and the registry behind
 * registerHostKernels. Each kernel file (one per kernel, as tfjs-core keeps one file per gradient)
 * registers its cpu and wasm functions here when it loads.
 *
 * Why JS loops at all: only where tfjs' own kernels are pathological (generic strided index math,
 * a subarray per row, int32 broadcasting). A JS loop costs 1-3 ns per element, wasm's SIMD kernels
 * well under 1, so elementwise ops and reductions stay with tfjs. Before/after per-kernel profile
 * of an LCN step: BENCHMARKS.md. On other backends (tfjs-node) tfjs' own kernels are used.
 */
import * as tf from '@tensorflow/tfjs-core';

export type Flat = Float32Array | Int32Array | Uint8Array;
export interface CpuBackendLike {
  data: { get(id: object): { values: Flat } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Flat): tf.TensorInfo;
}
export interface WasmBackendLike {
  typedArrayFromHeap(t: tf.TensorInfo): Flat;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export const asCpu = (backend: unknown): CpuBackendLike => backend as unknown as CpuBackendLike;
export const asWasm = (backend: unknown): WasmBackendLike => backend as unknown as WasmBackendLike;

/** tfjs runs on cpu or wasm: the fast kernels apply (elsewhere tfjs' own kernels run). */
export const onHost = (): boolean => {
  const name = tf.getBackend();
  return name === 'cpu' || name === 'wasm';
};

export const newFlat = (dtype: tf.DataType, n: number): Flat =>
  dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n);

/**
 * Row ids with a per-group offset: id i reads row ids[i] + floor(i / group) * stride (group 0: no
 * offset). gatherAlongAxis picks k rows per leading index out of n: group k, stride n; computing
 * the offset here saves an int32 broadcasting add, which tfjs wasm runs about 100x slower than a
 * float one ([256, 200] + [256, 1]: 5.7 ms).
 */
export interface RowGroups {
  group: number;
  stride: number;
}

/**
 * Copy `len` values; a loop for short runs (a subarray per run costs more than the copy). float32
 * goes through its own function so its loop only ever sees one array type (a loop shared by
 * several typed-array types runs several times slower in V8).
 */
export function copyRun(src: Flat, from: number, dst: Flat, to: number, len: number): void {
  if (len >= 48) {
    dst.set(src.subarray(from, from + len), to);
    return;
  }
  if (src instanceof Float32Array && dst instanceof Float32Array) {
    copyShortF32(src, from, dst, to, len);
    return;
  }
  for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

function copyShortF32(src: Float32Array, from: number, dst: Float32Array, to: number, len: number): void {
  for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

/** Per part of a gather-concat: its row width, offset in the output row, and row groups. */
export interface ConcatPart extends RowGroups {
  width: number;
  offset: number;
}

/**
 * out [rows, total]: row i = source_t[id_t(i)] for every part t side by side (ids as in RowGroups,
 * the group offset kept as a running sum). The row gather's float32 path is this with one part,
 * so it lives here, shared by gather-rows.ts and gather-concat.ts.
 */
export function gatherConcatLoop(
  sources: Float32Array[],
  ids: Int32Array[],
  parts: ConcatPart[],
  rows: number,
  total: number,
  out: Float32Array,
): void {
  parts.forEach((p, t) => {
    const src = sources[t]!,
      id = ids[t]!,
      w = p.width;
    let offset = 0,
      left = p.group > 0 ? p.group : rows;
    for (let i = 0, to = p.offset; i < rows; i++, to += total) {
      const from = (id[i]! + offset) * w;
      for (let j = 0; j < w; j++) out[to + j] = src[from + j]!;
      if (--left === 0) {
        offset += p.stride;
        left = p.group;
      }
    }
  });
}

/** Kernels defined (by their files, as they load) but not yet registered with tfjs. */
const pending: Array<[string, tf.KernelFunc, tf.KernelFunc]> = [];

/** A kernel's cpu and wasm functions, registered with tfjs by the next registerHostKernels(). */
export function defineHostKernel(kernelName: string, cpu: tf.KernelFunc, wasm: tf.KernelFunc): void {
  pending.push([kernelName, cpu, wasm]);
}

/** Register every fast kernel defined so far for cpu and wasm (once each; cheap when none is new). */
export function registerHostKernels(): void {
  if (pending.length === 0) return;
  for (const [kernelName, cpu, wasm] of pending.splice(0)) {
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: cpu });
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: wasm });
  }
}
