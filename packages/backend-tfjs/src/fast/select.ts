/**
 * tf.where with numpy broadcasting of all three inputs, in one pass on cpu/wasm over the backends'
 * own buffers. tfjs would broadcast a bool condition through a float add and NotEqual, and a and b
 * through adds (or Tile), before its Select: 4 full-size temporaries. The innermost axis is a
 * contiguous copy or fill when the condition is constant along it (a mask [R, N, 1] against rows
 * [R, N, d]); the common float32 cases run as one flat loop each.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sizeOf } from '@lctr/spec';
import { broadcastTo } from './broadcast.ts';
import { type Flat, asCpu, asWasm, copyRun, defineHostKernel, onHost, registerHostKernels } from './host.ts';

export const SELECT = 'LctrSelect';

/** The numpy broadcast of the shapes (static dims, already compatible). */
function broadcastShape3(...shapes: ReadonlyArray<readonly number[]>): number[] {
  const n = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - n + i] ?? 1;
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

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
function selectLoop(
  c: Uint8Array,
  a: Flat,
  b: Flat,
  cShape: readonly number[],
  aShape: readonly number[],
  bShape: readonly number[],
  shape: readonly number[],
  out: Flat,
): void {
  const rank = shape.length;
  const size = sizeOf(shape);
  if (size === 0) return;
  if (out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array && selectF32(c, a, b, size, out)) return;
  if (selectRows(c, a, b, cShape, aShape, bShape, shape, out)) return;
  if (rank === 0) {
    out[0] = c[0] ? a[0]! : b[0]!;
    return;
  }
  const cs = alignedStrides(cShape, shape),
    as = alignedStrides(aShape, shape),
    bs = alignedStrides(bShape, shape);
  const inner = shape[rank - 1]!;
  const ci1 = cs[rank - 1]!,
    ai1 = as[rank - 1]!,
    bi1 = bs[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let co = 0,
    ao = 0,
    bo = 0;
  for (let p = 0; p < size; p += inner) {
    if (ci1 === 0) {
      if (c[co]) {
        if (ai1 === 1) copyRun(a, ao, out, p, inner);
        else if (ai1 === 0) out.fill(a[ao]!, p, p + inner);
        else for (let j = 0; j < inner; j++) out[p + j] = a[ao + j * ai1]!;
      } else if (bi1 === 1) copyRun(b, bo, out, p, inner);
      else if (bi1 === 0) out.fill(b[bo]!, p, p + inner);
      else for (let j = 0; j < inner; j++) out[p + j] = b[bo + j * bi1]!;
    } else {
      for (let j = 0, ci = co, ai = ao, bi = bo; j < inner; j++, ci += ci1, ai += ai1, bi += bi1) {
        out[p + j] = c[ci] ? a[ai]! : b[bi]!;
      }
    }
    // next row: odometer over the outer axes
    for (let axis = rank - 2; axis >= 0; axis--) {
      counter[axis]!++;
      co += cs[axis]!;
      ao += as[axis]!;
      bo += bs[axis]!;
      if (counter[axis]! < shape[axis]!) break;
      co -= cs[axis]! * shape[axis]!;
      ao -= as[axis]! * shape[axis]!;
      bo -= bs[axis]! * shape[axis]!;
      counter[axis] = 0;
    }
  }
}

/**
 * The common float32 cases of selectLoop, one flat loop each: three tensors of the output's size
 * (under broadcasting, an input as large as the output has its shape), and (selectRows) a mask
 * over rows against row data and a constant, i.e. where(mask, x, 0) and its gradient. false (or
 * not handled) for any other broadcast, which the generic loop takes.
 */
function selectF32(c: Uint8Array, a: Float32Array, b: Float32Array, size: number, out: Float32Array): boolean {
  if (c.length === size && a.length === size && b.length === size) {
    for (let i = 0; i < size; i++) out[i] = c[i] ? a[i]! : b[i]!;
    return true;
  }
  return false;
}

function selectRowsF32(c: Uint8Array, rowData: Float32Array, constant: number, rowsTrue: boolean, inner: number, out: Float32Array): void {
  for (let r = 0, p = 0; r < c.length; r++, p += inner) {
    if ((c[r] !== 0) === rowsTrue) for (let j = 0; j < inner; j++) out[p + j] = rowData[p + j]!;
    else for (let j = 0; j < inner; j++) out[p + j] = constant;
  }
}

/** where(mask [.., 1], x [.., inner], scalar) or where(mask, scalar, x), mask rows lined up with x rows: true when handled. */
function selectRows(
  c: Uint8Array,
  a: Flat,
  b: Flat,
  cShape: readonly number[],
  aShape: readonly number[],
  bShape: readonly number[],
  shape: readonly number[],
  out: Flat,
): boolean {
  if (!(out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array)) return false;
  const rank = shape.length;
  if (rank < 2 || cShape.length !== rank || cShape[rank - 1] !== 1 || !cShape.slice(0, -1).every((d, i) => d === shape[i])) return false;
  const full = (s: readonly number[]) => s.length === rank && s.every((d, i) => d === shape[i]);
  const isScalar = (x: Flat) => x.length === 1;
  const inner = shape[rank - 1]!;
  if (full(aShape) && isScalar(b)) {
    selectRowsF32(c, a, b[0]!, true, inner, out);
    return true;
  }
  if (full(bShape) && isScalar(a)) {
    selectRowsF32(c, b, a[0]!, false, inner, out);
    return true;
  }
  return false;
}

const selectCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const { cond, a, b } = inputs as { cond: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const be = asCpu(backend);
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  const size = sizeOf(shape);
  const out = a.dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
  const values = (t: tf.TensorInfo) => be.data.get(t.dataId).values;
  selectLoop(values(cond) as Uint8Array, values(a), values(b), cond.shape, a.shape, b.shape, shape, out);
  return be.makeTensorInfo(shape, a.dtype, out);
};

const selectWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const { cond, a, b } = inputs as { cond: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const be = asWasm(backend);
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  const out = be.makeOutput(shape, a.dtype);
  const heap = (t: tf.TensorInfo) => be.typedArrayFromHeap(t);
  selectLoop(heap(cond) as Uint8Array, heap(a), heap(b), cond.shape, a.shape, b.shape, shape, heap(out));
  return out;
};

defineHostKernel(SELECT, selectCpu, selectWasm);

/**
 * tf.where with numpy broadcasting of all three inputs. On cpu and wasm one pass in JS over the
 * backends' own buffers (tfjs would broadcast a bool condition through a float add and NotEqual,
 * and a and b through adds, before its Select: 4 full-size temporaries); elsewhere without Tile.
 */
export function select(cond: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (onHost() && cond.dtype === 'bool' && a.dtype === b.dtype && (a.dtype === 'float32' || a.dtype === 'int32')) {
    registerHostKernels();
    return tf.engine().runKernel(SELECT, { cond, a, b }, {}) as tf.Tensor;
  }
  const shape = broadcastShape3(cond.shape, a.shape, b.shape);
  return tf.where(broadcastTo(cond, shape), broadcastTo(a, shape), broadcastTo(b, shape));
}
