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

export const SELECT = 'LctrSelect';

/** Strides of `shape` aligned to an output of rank `rank`; 0 on broadcast (size-1 or missing) dims. */
function alignedStrides(shape: readonly number[], out: readonly number[]): number[] {
  const rank = out.length;
  const strides = new Array<number>(rank).fill(0);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const axis = rank - shape.length + i;
    strides[axis] = shape[i] === 1 && out[axis] !== 1 ? 0 : step;
    step *= shape[i]!;
  }
  return strides;
}

/**
 * out = cond ? a : b over the broadcast shape, in one pass: the innermost axis is a contiguous
 * copy or fill when the condition is constant along it (a mask [R, N, 1] against rows [R, N, d]).
 */
function selectLoop(c: Uint8Array, a: Flat, b: Flat, cShape: readonly number[], aShape: readonly number[], bShape: readonly number[], shape: readonly number[], out: Flat): void {
  const rank = shape.length;
  const size = shape.reduce((p, d) => p * d, 1);
  if (size === 0) return;
  if (rank === 0) { out[0] = c[0] ? a[0]! : b[0]!; return; }
  const cs = alignedStrides(cShape, shape), as = alignedStrides(aShape, shape), bs = alignedStrides(bShape, shape);
  const inner = shape[rank - 1]!;
  const ci1 = cs[rank - 1]!, ai1 = as[rank - 1]!, bi1 = bs[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let co = 0, ao = 0, bo = 0;
  for (let p = 0; p < size; p += inner) {
    if (ci1 === 0) {
      if (c[co]) {
        if (ai1 === 1) out.set(a.subarray(ao, ao + inner), p); else if (ai1 === 0) out.fill(a[ao]!, p, p + inner); else for (let j = 0; j < inner; j++) out[p + j] = a[ao + j * ai1]!;
      } else if (bi1 === 1) out.set(b.subarray(bo, bo + inner), p); else if (bi1 === 0) out.fill(b[bo]!, p, p + inner); else for (let j = 0; j < inner; j++) out[p + j] = b[bo + j * bi1]!;
    } else {
      for (let j = 0, ci = co, ai = ao, bi = bo; j < inner; j++, ci += ci1, ai += ai1, bi += bi1) out[p + j] = c[ci] ? a[ai]! : b[bi]!;
    }
    // next row: odometer over the outer axes
    for (let axis = rank - 2; axis >= 0; axis--) {
      counter[axis]!++;
      co += cs[axis]!; ao += as[axis]!; bo += bs[axis]!;
      if (counter[axis]! < shape[axis]!) break;
      co -= cs[axis]! * shape[axis]!; ao -= as[axis]! * shape[axis]!; bo -= bs[axis]! * shape[axis]!;
      counter[axis] = 0;
    }
  }
}

const selectCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const { cond, a, b } = inputs as { cond: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const be = backend as unknown as CpuBackendLike;
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  const size = shape.reduce((p, d) => p * d, 1);
  const out = a.dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
  selectLoop(be.data.get(cond.dataId).values as Uint8Array, be.data.get(a.dataId).values, be.data.get(b.dataId).values, cond.shape, a.shape, b.shape, shape, out);
  return be.makeTensorInfo(shape, a.dtype, out);
};

const selectWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const { cond, a, b } = inputs as { cond: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const be = backend as unknown as WasmBackendLike;
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  const out = be.makeOutput(shape, a.dtype);
  selectLoop(be.typedArrayFromHeap(cond) as Uint8Array, be.typedArrayFromHeap(a), be.typedArrayFromHeap(b), cond.shape, a.shape, b.shape, shape, be.typedArrayFromHeap(out));
  return out;
};

let selectRegistered = false;

/**
 * tf.where with numpy broadcasting of all three inputs. On cpu and wasm one pass in JS over the
 * backends' own buffers (tfjs would broadcast a bool condition through a float add and NotEqual,
 * and a and b through adds, before its Select: 4 full-size temporaries); elsewhere without Tile.
 */
export function select(cond: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const name = tf.getBackend();
  if ((name === 'cpu' || name === 'wasm') && cond.dtype === 'bool' && a.dtype === b.dtype && (a.dtype === 'float32' || a.dtype === 'int32')) {
    if (!selectRegistered) {
      tf.registerKernel({ kernelName: SELECT, backendName: 'cpu', kernelFunc: selectCpu });
      tf.registerKernel({ kernelName: SELECT, backendName: 'wasm', kernelFunc: selectWasm });
      selectRegistered = true;
    }
    return tf.engine().runKernel(SELECT, { cond, a, b }, {}) as tf.Tensor;
  }
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  return tf.where(broadcastTo(cond, shape), broadcastTo(a, shape), broadcastTo(b, shape));
}
