/**
 * Replacements for two tfjs kernels that are slow on the cpu and wasm backends (measured on 2 cores,
 * [256, 200, 32] float32: wasm Tile 94 ms, Gather 54 ms; an elementwise add of the same size 0.4 ms):
 * - broadcastTo: tfjs lowers it (and the broadcasting inside tf.where) to Tile, which walks every
 *   element through generic index arithmetic. Adding a float32 zeros tensor of the target shape broadcasts
 *   through the fast elementwise kernels instead (x + 0 keeps every value, NaN and infinities too;
 *   only the sign of a -0 is lost).
 * - row gather: picking whole rows of a [rows, width] matrix is a memory copy per row; the kernel
 *   below reads the backend's own buffers (no copy of the table) and copies rows with
 *   TypedArray.set. On other backends (tfjs-node) the built-in gather is used.
 */
import * as tf from '@tensorflow/tfjs-core';

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** x broadcast to shape (numpy rules), without Tile. */
export function broadcastTo(x: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (sameShape(x.shape, shape)) return x;
  // bool goes through float32 (0/1 are exact): wasm's broadcasting int32 add is as slow as Tile
  if (x.dtype === 'bool') return tf.notEqual(tf.add(tf.cast(x, 'float32'), tf.zeros(shape as number[])), tf.scalar(0));
  // int32 values may not fit float32 exactly: keep tfjs' own broadcast (rare, small tensors here)
  if (x.dtype === 'int32') return tf.broadcastTo(x, shape as number[]);
  return tf.add(x, tf.zeros(shape as number[]));
}

type Flat = Float32Array | Int32Array | Uint8Array;
interface CpuBackendLike { data: { get(id: object): { values: Flat } }; makeTensorInfo(shape: number[], dtype: tf.DataType, values: Flat): tf.TensorInfo }
interface WasmBackendLike { typedArrayFromHeap(t: tf.TensorInfo): Flat; makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo }

export const GATHER_ROWS = 'LctrGatherRows';

function copyRows(src: Flat, ids: Int32Array, width: number, dst: Flat): void {
  for (let i = 0; i < ids.length; i++) {
    const from = ids[i]! * width;
    dst.set(src.subarray(from, from + width), i * width);
  }
}

const gatherRowsCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as CpuBackendLike;
  const width = x.shape[1]!;
  const src = be.data.get(x.dataId).values;
  const ids = be.data.get(indices.dataId).values as Int32Array;
  const out = x.dtype === 'float32' ? new Float32Array(ids.length * width) : x.dtype === 'int32' ? new Int32Array(ids.length * width) : new Uint8Array(ids.length * width);
  copyRows(src, ids, width, out);
  return be.makeTensorInfo([ids.length, width], x.dtype, out);
};

const gatherRowsWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as WasmBackendLike;
  const width = x.shape[1]!;
  const n = indices.shape[0]!;
  const out = be.makeOutput([n, width], x.dtype);
  if (n * width > 0) copyRows(be.typedArrayFromHeap(x), be.typedArrayFromHeap(indices) as Int32Array, width, be.typedArrayFromHeap(out));
  return out;
};

let registered = false;
export function registerGatherRows(): void {
  if (registered) return;
  tf.registerKernel({ kernelName: GATHER_ROWS, backendName: 'cpu', kernelFunc: gatherRowsCpu });
  tf.registerKernel({ kernelName: GATHER_ROWS, backendName: 'wasm', kernelFunc: gatherRowsWasm });
  registered = true;
}

/** rows of x [rows, width] picked by int32 ids [n] (ids already range-checked) -> [n, width]. */
export function gatherRows(x: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const name = tf.getBackend();
  if (name !== 'cpu' && name !== 'wasm') return tf.gather(x, ids, 0);
  registerGatherRows();
  return tf.engine().runKernel(GATHER_ROWS, { x, indices: ids }, {}) as tf.Tensor2D;
}

function broadcastShape3(...shapes: ReadonlyArray<readonly number[]>): number[] {
  const n = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 1;
    for (const s of shapes) { const v = s[s.length - n + i] ?? 1; if (v !== 1) d = v; }
    out.push(d);
  }
  return out;
}

/** tf.where with numpy broadcasting of all three inputs, done without Tile. */
export function select(cond: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  return tf.where(broadcastTo(cond, shape), broadcastTo(a, shape), broadcastTo(b, shape));
}
