/**
 * concat and split along any axis in one pass over the backends' own buffers (tfjs copies run by
 * run through slices): per outer index, one run of each input (run = its axis size x inner).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sizeOf } from '@lctr/spec';
import { type Flat, asCpu, asWasm, copyRun, defineHostKernel, newFlat, onHost, registerHostKernels } from './host.ts';

export const CONCAT = 'LctrConcat';
export const SPLIT = 'LctrSplit';

/** Concatenation along an axis: per outer index, one run of each input (run = its axis size x inner). */
function concatLoop(xs: Flat[], runs: number[], outer: number, out: Flat): void {
  const total = runs.reduce((p, r) => p + r, 0);
  if (out instanceof Float32Array && runs.every((r) => r < 48) && xs.every((x) => x instanceof Float32Array)) {
    for (let k = 0, at = 0; k < xs.length; at += runs[k]!, k++) {
      stridedCopyF32(xs[k] as Float32Array, 0, runs[k]!, out, at, total, runs[k]!, outer);
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    for (let k = 0; k < xs.length; k++) {
      copyRun(xs[k]!, o * runs[k]!, out, at, runs[k]!);
      at += runs[k]!;
    }
  }
}

/** `count` runs of `len` float32 values: run o from src[from + o * srcStep] to dst[to + o * dstStep]. */
function stridedCopyF32(
  src: Float32Array,
  from: number,
  srcStep: number,
  dst: Float32Array,
  to: number,
  dstStep: number,
  len: number,
  count: number,
): void {
  for (let o = 0; o < count; o++, from += srcStep, to += dstStep) for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

/** The inverse: x split into outs along an axis. */
function splitLoop(x: Flat, runs: number[], outer: number, outs: Flat[]): void {
  const total = runs.reduce((p, r) => p + r, 0);
  if (x instanceof Float32Array && runs.every((r) => r < 48) && outs.every((o) => o instanceof Float32Array)) {
    for (let k = 0, at = 0; k < outs.length; at += runs[k]!, k++) {
      stridedCopyF32(x, at, total, outs[k] as Float32Array, 0, runs[k]!, runs[k]!, outer);
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    for (let k = 0; k < outs.length; k++) {
      copyRun(x, at, outs[k]!, o * runs[k]!, runs[k]!);
      at += runs[k]!;
    }
  }
}

/** Outer count and per-input runs of a concat along `axis` of inputs with shapes `shapes`. */
function runsOf(shapes: ReadonlyArray<readonly number[]>, axis: number): { outer: number; runs: number[] } {
  const first = shapes[0]!;
  const outer = sizeOf(first.slice(0, axis));
  const inner = sizeOf(first.slice(axis + 1));
  return { outer, runs: shapes.map((s) => s[axis]! * inner) };
}

function concatShape(shapes: ReadonlyArray<readonly number[]>, axis: number): number[] {
  const out = [...shapes[0]!];
  out[axis] = shapes.reduce((p, s) => p + s[axis]!, 0);
  return out;
}

const concatCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asCpu(backend);
  const xs = Object.values(inputs) as tf.TensorInfo[];
  const axis = Number(attrs!['axis']);
  const shape = concatShape(
    xs.map((x) => x.shape),
    axis,
  );
  const out = newFlat(xs[0]!.dtype, sizeOf(shape));
  const { outer, runs } = runsOf(
    xs.map((x) => x.shape),
    axis,
  );
  concatLoop(
    xs.map((x) => be.data.get(x.dataId).values),
    runs,
    outer,
    out,
  );
  return be.makeTensorInfo(shape, xs[0]!.dtype, out);
};

const concatWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asWasm(backend);
  const xs = Object.values(inputs) as tf.TensorInfo[];
  const axis = Number(attrs!['axis']);
  const shape = concatShape(
    xs.map((x) => x.shape),
    axis,
  );
  const out = be.makeOutput(shape, xs[0]!.dtype);
  const { outer, runs } = runsOf(
    xs.map((x) => x.shape),
    axis,
  );
  if (shape.every((d) => d > 0))
    concatLoop(
      xs.map((x) => be.typedArrayFromHeap(x)),
      runs,
      outer,
      be.typedArrayFromHeap(out),
    );
  return out;
};

function splitShapes(x: tf.TensorInfo, sizes: number[], axis: number): number[][] {
  return sizes.map((n) => {
    const s = [...x.shape];
    s[axis] = n;
    return s;
  });
}

const splitCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asCpu(backend);
  const { x } = inputs as { x: tf.TensorInfo };
  const axis = Number(attrs!['axis']),
    sizes = attrs!['sizes'] as number[];
  const shapes = splitShapes(x, sizes, axis);
  const outs = shapes.map((s) => newFlat(x.dtype, sizeOf(s)));
  const { outer, runs } = runsOf(shapes, axis);
  splitLoop(be.data.get(x.dataId).values, runs, outer, outs);
  return outs.map((o, k) => be.makeTensorInfo(shapes[k]!, x.dtype, o));
};

const splitWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asWasm(backend);
  const { x } = inputs as { x: tf.TensorInfo };
  const axis = Number(attrs!['axis']),
    sizes = attrs!['sizes'] as number[];
  const shapes = splitShapes(x, sizes, axis);
  const outs = shapes.map((s) => be.makeOutput(s, x.dtype));
  const { outer, runs } = runsOf(shapes, axis);
  if (x.shape.every((d) => d > 0))
    splitLoop(
      be.typedArrayFromHeap(x),
      runs,
      outer,
      outs.map((o) => be.typedArrayFromHeap(o)),
    );
  return outs;
};

defineHostKernel(CONCAT, concatCpu, concatWasm);
defineHostKernel(SPLIT, splitCpu, splitWasm);

/** tf.concat along `axis` in one pass on cpu/wasm (tfjs copies run by run through slices). */
export function concat(xs: readonly tf.Tensor[], axis: number): tf.Tensor {
  if (!onHost() || xs.some((x) => x.dtype !== xs[0]!.dtype)) return tf.concat([...xs], axis);
  registerHostKernels();
  const named: tf.NamedTensorMap = {};
  xs.forEach((x, k) => {
    named[`x${k}`] = x;
  });
  return tf.engine().runKernel(CONCAT, named, { axis }) as tf.Tensor;
}

/** tf.split along `axis` into parts of `sizes`, in one pass on cpu/wasm. */
export function split(x: tf.Tensor, sizes: readonly number[], axis: number): tf.Tensor[] {
  if (!onHost()) return tf.split(x, [...sizes], axis);
  registerHostKernels();
  return tf.engine().runKernel(SPLIT, { x }, { axis, sizes: [...sizes] }) as unknown as tf.Tensor[];
}
