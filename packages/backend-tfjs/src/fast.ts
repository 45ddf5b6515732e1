/**
 * Replacements for tfjs kernels that are slow on the cpu and wasm backends (measured on 2 cores,
 * [256, 200, 32] float32: wasm Tile 94 ms, Gather 54 ms; an elementwise add of the same size 0.4 ms):
 * - broadcastTo: tfjs lowers it (and the broadcasting inside tf.where) to Tile, which walks every
 *   element through generic index arithmetic. Adding a float32 zeros tensor of the target shape broadcasts
 *   through the fast elementwise kernels instead (x + 0 keeps every value, NaN and infinities too;
 *   only the sign of a -0 is lost).
 * - row gather (also gatherAlongAxis, with per-group row offsets) and its backward (a scatter-add
 *   of rows), a gather of several sources side by side (fuse.ts), concat and split along any axis,
 *   gather along an inner axis, select, relu's gradient: one pass in JS over the backends' own
 *   buffers (no copies of the inputs), short runs copied by a loop. Only where tfjs' own kernels
 *   are pathological (generic strided index math, a subarray per row, int32 broadcasting): a JS
 *   loop costs 1-3 ns per element, wasm's SIMD kernels well under 1, so elementwise ops and
 *   reductions stay with tfjs. Before/after per-kernel profile of an LCN step: BENCHMARKS.md.
 *   On other backends (tfjs-node) tfjs' own kernels are used.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sameShape } from '@lctr/spec';


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
export const SCATTER_ROWS = 'LctrScatterRows';
export const CONCAT = 'LctrConcat';
export const SPLIT = 'LctrSplit';

/**
 * Row ids with a per-group offset: id i reads row ids[i] + floor(i / group) * stride (group 0: no
 * offset). gatherAlongAxis picks k rows per leading index out of n: group k, stride n; computing
 * the offset here saves an int32 broadcasting add, which tfjs wasm runs about 100x slower than a
 * float one ([256, 200] + [256, 1]: 5.7 ms).
 */
export interface RowGroups { group: number; stride: number }

/**
 * Copy `len` values; a loop for short runs (a subarray per run costs more than the copy). float32
 * goes through its own function so its loop only ever sees one array type (a loop shared by
 * several typed-array types runs several times slower in V8).
 */
function copyRun(src: Flat, from: number, dst: Flat, to: number, len: number): void {
  if (len >= 48) { dst.set(src.subarray(from, from + len), to); return; }
  if (src instanceof Float32Array && dst instanceof Float32Array) { copyShortF32(src, from, dst, to, len); return; }
  for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

function copyShortF32(src: Float32Array, from: number, dst: Float32Array, to: number, len: number): void {
  for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

function copyRows(src: Flat, ids: Int32Array, width: number, dst: Flat, groups: RowGroups): void {
  // float32 rows: a gather-concat of one part (one loop, the group offset kept as a running sum)
  if (src instanceof Float32Array && dst instanceof Float32Array && width < 48) {
    gatherConcatLoop([src], [ids], [{ width, offset: 0, ...groups }], ids.length, width, dst);
    return;
  }
  const { group, stride } = groups;
  for (let i = 0; i < ids.length; i++) {
    const row = ids[i]! + (group > 0 ? Math.floor(i / group) * stride : 0);
    copyRun(src, row * width, dst, i * width, width);
  }
}

/**
 * out[rows, width] = 0, then out[row(i)] += dy[i] for every i (row(i) as in copyRows; rows out of
 * range are dropped, TensorFlow's UnsortedSegmentSum rule). When no row is hit twice (top-k picks,
 * gatherAlongAxis' backward) the rows are plain copies; otherwise the sums run in float64 and round
 * once, like segment-sum.ts.
 */
function scatterRows(dy: Float32Array, ids: Int32Array, width: number, rows: number, out: Float32Array, { group, stride }: RowGroups, dyStride = width, dyOffset = 0): void {
  const n = ids.length;
  // the target row of every id (its group offset added), -1 when out of range; and whether any repeats
  const target = new Int32Array(n);
  const hits = new Uint8Array(rows);
  let repeated = false, offset = 0, left = group > 0 ? group : n;
  for (let i = 0; i < n; i++) {
    const r = ids[i]! + offset;
    if (r >= 0 && r < rows) { target[i] = r; if (hits[r]) repeated = true; else hits[r] = 1; } else target[i] = -1;
    if (--left === 0) { offset += stride; left = group; }
  }
  if (!repeated) {
    for (let i = 0, from = dyOffset; i < n; i++, from += dyStride) {
      const r = target[i]!;
      if (r < 0) continue;
      const to = r * width;
      for (let j = 0; j < width; j++) out[to + j] = dy[from + j]!;
    }
    return;
  }
  const acc = new Float64Array(rows * width);
  for (let i = 0, from = dyOffset; i < n; i++, from += dyStride) {
    const r = target[i]!;
    if (r < 0) continue;
    const to = r * width;
    for (let j = 0; j < width; j++) acc[to + j]! += dy[from + j]!;
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i]!;
}

/** Concatenation along an axis: per outer index, one run of each input (run = its axis size x inner). */
function concatLoop(xs: Flat[], runs: number[], outer: number, out: Flat): void {
  const total = runs.reduce((p, r) => p + r, 0);
  if (out instanceof Float32Array && runs.every((r) => r < 48) && xs.every((x) => x instanceof Float32Array)) {
    for (let k = 0, at = 0; k < xs.length; at += runs[k]!, k++) stridedCopyF32(xs[k] as Float32Array, 0, runs[k]!, out, at, total, runs[k]!, outer);
    return;
  }
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    for (let k = 0; k < xs.length; k++) { copyRun(xs[k]!, o * runs[k]!, out, at, runs[k]!); at += runs[k]!; }
  }
}

/** `count` runs of `len` float32 values: run o from src[from + o * srcStep] to dst[to + o * dstStep]. */
function stridedCopyF32(src: Float32Array, from: number, srcStep: number, dst: Float32Array, to: number, dstStep: number, len: number, count: number): void {
  for (let o = 0; o < count; o++, from += srcStep, to += dstStep) for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}

/** The inverse: x split into outs along an axis. */
function splitLoop(x: Flat, runs: number[], outer: number, outs: Flat[]): void {
  const total = runs.reduce((p, r) => p + r, 0);
  if (x instanceof Float32Array && runs.every((r) => r < 48) && outs.every((o) => o instanceof Float32Array)) {
    for (let k = 0, at = 0; k < outs.length; at += runs[k]!, k++) stridedCopyF32(x, at, total, outs[k] as Float32Array, 0, runs[k]!, runs[k]!, outer);
    return;
  }
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    for (let k = 0; k < outs.length; k++) { copyRun(x, at, outs[k]!, o * runs[k]!, runs[k]!); at += runs[k]!; }
  }
}

const groupsOf = (attrs: tf.NamedAttrMap | undefined): RowGroups => ({ group: Number(attrs?.['group'] ?? 0), stride: Number(attrs?.['stride'] ?? 0) });
const newFlat = (dtype: tf.DataType, n: number): Flat => (dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n));

const gatherRowsCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as CpuBackendLike;
  const width = x.shape[1]!;
  const ids = be.data.get(indices.dataId).values as Int32Array;
  const out = newFlat(x.dtype, ids.length * width);
  copyRows(be.data.get(x.dataId).values, ids, width, out, groupsOf(attrs));
  return be.makeTensorInfo([ids.length, width], x.dtype, out);
};

// wasm: outputs are allocated before any heap view is taken (an allocation can grow the heap and
// detach earlier views)
const gatherRowsWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as WasmBackendLike;
  const width = x.shape[1]!;
  const n = indices.shape[0]!;
  const out = be.makeOutput([n, width], x.dtype);
  if (n * width > 0) copyRows(be.typedArrayFromHeap(x), be.typedArrayFromHeap(indices) as Int32Array, width, be.typedArrayFromHeap(out), groupsOf(attrs));
  return out;
};

/** The column window of dy a scatter reads: [offset, offset + width) of rows dy.shape[1] wide (default: all of it). */
const windowOf = (dy: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined) => {
  const width = attrs?.['width'] === undefined ? dy.shape[1]! : Number(attrs['width']);
  return { width, offset: Number(attrs?.['offset'] ?? 0), stride: dy.shape[1]! };
};

const scatterRowsCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, indices } = inputs as { dy: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as CpuBackendLike;
  const rows = Number(attrs!['rows']), win = windowOf(dy, attrs);
  const out = new Float32Array(rows * win.width);
  scatterRows(be.data.get(dy.dataId).values as Float32Array, be.data.get(indices.dataId).values as Int32Array, win.width, rows, out, groupsOf(attrs), win.stride, win.offset);
  return be.makeTensorInfo([rows, win.width], 'float32', out);
};

const scatterRowsWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, indices } = inputs as { dy: tf.TensorInfo; indices: tf.TensorInfo };
  const be = backend as unknown as WasmBackendLike;
  const rows = Number(attrs!['rows']), win = windowOf(dy, attrs);
  const out = be.makeOutput([rows, win.width], 'float32');
  const o = be.typedArrayFromHeap(out) as Float32Array;
  o.fill(0);
  scatterRows(be.typedArrayFromHeap(dy) as Float32Array, be.typedArrayFromHeap(indices) as Int32Array, win.width, rows, o, groupsOf(attrs), win.stride, win.offset);
  return out;
};

/** Outer count and per-input runs of a concat along `axis` of inputs with shapes `shapes`. */
function runsOf(shapes: ReadonlyArray<readonly number[]>, axis: number): { outer: number; runs: number[] } {
  const first = shapes[0]!;
  const outer = first.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = first.slice(axis + 1).reduce((p, d) => p * d, 1);
  return { outer, runs: shapes.map((s) => s[axis]! * inner) };
}

function concatShape(shapes: ReadonlyArray<readonly number[]>, axis: number): number[] {
  const out = [...shapes[0]!];
  out[axis] = shapes.reduce((p, s) => p + s[axis]!, 0);
  return out;
}

const concatCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as CpuBackendLike;
  const xs = Object.values(inputs) as tf.TensorInfo[];
  const axis = Number(attrs!['axis']);
  const shape = concatShape(xs.map((x) => x.shape), axis);
  const out = newFlat(xs[0]!.dtype, shape.reduce((p, d) => p * d, 1));
  const { outer, runs } = runsOf(xs.map((x) => x.shape), axis);
  concatLoop(xs.map((x) => be.data.get(x.dataId).values), runs, outer, out);
  return be.makeTensorInfo(shape, xs[0]!.dtype, out);
};

const concatWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackendLike;
  const xs = Object.values(inputs) as tf.TensorInfo[];
  const axis = Number(attrs!['axis']);
  const shape = concatShape(xs.map((x) => x.shape), axis);
  const out = be.makeOutput(shape, xs[0]!.dtype);
  const { outer, runs } = runsOf(xs.map((x) => x.shape), axis);
  if (shape.every((d) => d > 0)) concatLoop(xs.map((x) => be.typedArrayFromHeap(x)), runs, outer, be.typedArrayFromHeap(out));
  return out;
};

function splitShapes(x: tf.TensorInfo, sizes: number[], axis: number): number[][] {
  return sizes.map((n) => { const s = [...x.shape]; s[axis] = n; return s; });
}

const splitCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as CpuBackendLike;
  const { x } = inputs as { x: tf.TensorInfo };
  const axis = Number(attrs!['axis']), sizes = attrs!['sizes'] as number[];
  const shapes = splitShapes(x, sizes, axis);
  const outs = shapes.map((s) => newFlat(x.dtype, s.reduce((p, d) => p * d, 1)));
  const { outer, runs } = runsOf(shapes, axis);
  splitLoop(be.data.get(x.dataId).values, runs, outer, outs);
  return outs.map((o, k) => be.makeTensorInfo(shapes[k]!, x.dtype, o));
};

const splitWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackendLike;
  const { x } = inputs as { x: tf.TensorInfo };
  const axis = Number(attrs!['axis']), sizes = attrs!['sizes'] as number[];
  const shapes = splitShapes(x, sizes, axis);
  const outs = shapes.map((s) => be.makeOutput(s, x.dtype));
  const { outer, runs } = runsOf(shapes, axis);
  if (x.shape.every((d) => d > 0)) splitLoop(be.typedArrayFromHeap(x), runs, outer, outs.map((o) => be.typedArrayFromHeap(o)));
  return outs;
};

export const GATHER_AXIS = 'LctrGatherAxis';

/** x as [pre, n, post] gathered along n by ids [m] -> [pre, m, post] (ids already range-checked). */
function gatherAxisLoop(x: Flat, ids: Int32Array, pre: number, n: number, post: number, out: Flat): void {
  const m = ids.length;
  for (let p = 0; p < pre; p++) {
    for (let i = 0; i < m; i++) copyRun(x, (p * n + ids[i]!) * post, out, (p * m + i) * post, post);
  }
}

const axisDims = (x: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined) => {
  const axis = Number(attrs!['axis']);
  const size = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
  return { pre: size(x.shape.slice(0, axis)), n: x.shape[axis]!, post: size(x.shape.slice(axis + 1)), shape: attrs!['shape'] as number[] };
};

const gatherAxisCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as CpuBackendLike;
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { pre, n, post, shape } = axisDims(x, attrs);
  const out = newFlat(x.dtype, shape.reduce((p, d) => p * d, 1));
  gatherAxisLoop(be.data.get(x.dataId).values, be.data.get(indices.dataId).values as Int32Array, pre, n, post, out);
  return be.makeTensorInfo(shape, x.dtype, out);
};

const gatherAxisWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackendLike;
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { pre, n, post, shape } = axisDims(x, attrs);
  const out = be.makeOutput(shape, x.dtype);
  if (shape.every((d) => d > 0)) gatherAxisLoop(be.typedArrayFromHeap(x), be.typedArrayFromHeap(indices) as Int32Array, pre, n, post, be.typedArrayFromHeap(out));
  return out;
};

export const RELU_GRAD = 'LctrReluGrad';

function reluGradLoop(dy: Float32Array, x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = x[i]! > 0 ? dy[i]! : 0;
}

const reluGradCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const be = backend as unknown as CpuBackendLike;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = new Float32Array(x.shape.reduce((p, d) => p * d, 1));
  reluGradLoop(be.data.get(dy.dataId).values as Float32Array, be.data.get(x.dataId).values as Float32Array, out);
  return be.makeTensorInfo([...x.shape], 'float32', out);
};

const reluGradWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const be = backend as unknown as WasmBackendLike;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = be.makeOutput([...x.shape], 'float32');
  reluGradLoop(be.typedArrayFromHeap(dy) as Float32Array, be.typedArrayFromHeap(x) as Float32Array, be.typedArrayFromHeap(out) as Float32Array);
  return out;
};

export const GATHER_CONCAT = 'LctrGatherConcat';

/** Per part of a gather-concat: its row width, offset in the output row, and row groups. */
interface ConcatPart extends RowGroups { width: number; offset: number }

const partsOf = (attrs: tf.NamedAttrMap | undefined): ConcatPart[] => JSON.parse(String(attrs!['parts'])) as ConcatPart[];

/**
 * out [rows, total]: row i = source_t[id_t(i)] for every part t side by side (ids as in copyRows,
 * the group offset kept as a running sum). copyRows' float32 path is this with one part.
 */
function gatherConcatLoop(sources: Float32Array[], ids: Int32Array[], parts: ConcatPart[], rows: number, total: number, out: Float32Array): void {
  parts.forEach((p, t) => {
    const src = sources[t]!, id = ids[t]!, w = p.width;
    let offset = 0, left = p.group > 0 ? p.group : rows;
    for (let i = 0, to = p.offset; i < rows; i++, to += total) {
      const from = (id[i]! + offset) * w;
      for (let j = 0; j < w; j++) out[to + j] = src[from + j]!;
      if (--left === 0) { offset += p.stride; left = p.group; }
    }
  });
}

const gatherConcatCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as CpuBackendLike;
  const parts = partsOf(attrs), rows = Number(attrs!['rows']), total = Number(attrs!['total']);
  const out = new Float32Array(rows * total);
  gatherConcatLoop(parts.map((_, t) => be.data.get(inputs[`s${t}`]!.dataId).values as Float32Array), parts.map((_, t) => be.data.get(inputs[`i${t}`]!.dataId).values as Int32Array), parts, rows, total, out);
  return be.makeTensorInfo([rows, total], 'float32', out);
};

const gatherConcatWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackendLike;
  const parts = partsOf(attrs), rows = Number(attrs!['rows']), total = Number(attrs!['total']);
  const out = be.makeOutput([rows, total], 'float32');
  if (rows * total > 0) {
    gatherConcatLoop(parts.map((_, t) => be.typedArrayFromHeap(inputs[`s${t}`]!) as Float32Array), parts.map((_, t) => be.typedArrayFromHeap(inputs[`i${t}`]!) as Int32Array), parts, rows, total, be.typedArrayFromHeap(out) as Float32Array);
  }
  return out;
};

let registered = false;
export function registerHostKernels(): void {
  if (registered) return;
  const kernels: Array<[string, tf.KernelFunc, tf.KernelFunc]> = [
    [GATHER_ROWS, gatherRowsCpu, gatherRowsWasm], [SCATTER_ROWS, scatterRowsCpu, scatterRowsWasm],
    [CONCAT, concatCpu, concatWasm], [SPLIT, splitCpu, splitWasm], [GATHER_AXIS, gatherAxisCpu, gatherAxisWasm],
    [RELU_GRAD, reluGradCpu, reluGradWasm], [GATHER_CONCAT, gatherConcatCpu, gatherConcatWasm],
  ];
  for (const [kernelName, cpu, wasm] of kernels) {
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: cpu });
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: wasm });
  }
  registered = true;
}

const onHost = () => { const name = tf.getBackend(); return name === 'cpu' || name === 'wasm'; };

/**
 * Rows of x [rows, width] picked by int32 ids [n] (ids already range-checked) -> [n, width]; with
 * `groups`, id i reads row ids[i] + floor(i / group) * stride.
 */
export function gatherRows(x: tf.Tensor2D, ids: tf.Tensor1D, groups: RowGroups = { group: 0, stride: 0 }): tf.Tensor2D {
  if (!onHost()) return tf.gather(x, groups.group > 0 ? groupedIds(ids, groups) : ids, 0);
  registerHostKernels();
  return tf.engine().runKernel(GATHER_ROWS, { x, indices: ids }, { ...groups }) as tf.Tensor2D;
}

/**
 * tf.gather(x, ids, axis) for int32 ids of any shape (already range-checked): out = x.shape[:axis] +
 * ids.shape + x.shape[axis+1:]. On cpu/wasm one pass (tfjs' GatherV2 on an inner axis took 5 ms to
 * pick a column of [256, 500, 2]).
 */
export function gatherAxis(x: tf.Tensor, ids: tf.Tensor, axis: number): tf.Tensor {
  if (!onHost() || ids.dtype !== 'int32') return tf.gather(x, ids, axis);
  registerHostKernels();
  const shape = [...x.shape.slice(0, axis), ...ids.shape, ...x.shape.slice(axis + 1)];
  return tf.engine().runKernel(GATHER_AXIS, { x, indices: tf.reshape(ids, [ids.size]) }, { axis, shape }) as tf.Tensor;
}

/** relu's gradient dy where x > 0, else 0 (relu'(0) = 0; NaN gives 0), in one pass on cpu/wasm. */
export function reluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (!onHost() || dy.dtype !== 'float32' || x.dtype !== 'float32' || !sameShape(dy.shape, x.shape)) return select(tf.greater(x, tf.scalar(0)), dy, tf.zerosLike(dy));
  registerHostKernels();
  return tf.engine().runKernel(RELU_GRAD, { dy, x }, {}) as tf.Tensor;
}

/** The backward of gatherRows: dy [n, width] added into zeros [rows, width] at the rows gatherRows read. */
export function scatterRowsAdd(dy: tf.Tensor2D, ids: tf.Tensor1D, rows: number, groups: RowGroups = { group: 0, stride: 0 }): tf.Tensor2D {
  if (!onHost() || dy.dtype !== 'float32') return tf.unsortedSegmentSum(dy, groups.group > 0 ? groupedIds(ids, groups) : ids, rows);
  registerHostKernels();
  return tf.engine().runKernel(SCATTER_ROWS, { dy, indices: ids }, { rows, ...groups }) as tf.Tensor2D;
}

/**
 * The rows several row gathers pick, side by side: sources[t] [R_t, w_t] read at ids[t] [rows]
 * (with groups[t]) -> [rows, Σ w_t]. What concat(gatherRows(...), ...) along the last axis gives,
 * in one pass on cpu/wasm (no per-part outputs, no concat).
 */
export function gatherConcat(sources: readonly tf.Tensor2D[], ids: readonly tf.Tensor1D[], groups: readonly RowGroups[]): tf.Tensor2D {
  const rows = ids[0]!.size;
  if (!onHost() || sources.some((x) => x.dtype !== 'float32')) return concat(sources.map((x, t) => gatherRows(x, ids[t]!, groups[t])), 1) as tf.Tensor2D;
  registerHostKernels();
  let offset = 0;
  const parts: ConcatPart[] = sources.map((x, t) => { const p = { width: x.shape[1], offset, ...groups[t]! }; offset += x.shape[1]; return p; });
  const named: tf.NamedTensorMap = {};
  sources.forEach((x, t) => { named[`s${t}`] = x; named[`i${t}`] = ids[t]!; });
  return tf.engine().runKernel(GATHER_CONCAT, named, { parts: JSON.stringify(parts), rows, total: offset }) as tf.Tensor2D;
}

/**
 * The backward of one part of gatherConcat: columns [offset, offset + width) of dy [n, total]
 * added into zeros [rows, width] at the rows the part read.
 */
export function scatterColumnsAdd(dy: tf.Tensor2D, ids: tf.Tensor1D, rows: number, offset: number, width: number, groups: RowGroups = { group: 0, stride: 0 }): tf.Tensor2D {
  if (!onHost()) return scatterRowsAdd(tf.slice(dy, [0, offset], [dy.shape[0], width]), ids, rows, groups);
  registerHostKernels();
  return tf.engine().runKernel(SCATTER_ROWS, { dy, indices: ids }, { rows, offset, width, ...groups }) as tf.Tensor2D;
}

/** ids with their group offsets added (the non-host path). */
function groupedIds(ids: tf.Tensor1D, { group, stride }: RowGroups): tf.Tensor1D {
  const lead = ids.size / group;
  const offsets = tf.reshape(tf.mul(tf.range(0, lead, 1, 'int32'), tf.scalar(stride, 'int32')), [lead, 1]);
  return tf.reshape(tf.add(tf.reshape(ids, [lead, group]), offsets), [ids.size]);
}

/** tf.concat along `axis` in one pass on cpu/wasm (tfjs copies run by run through slices). */
export function concat(xs: readonly tf.Tensor[], axis: number): tf.Tensor {
  if (!onHost() || xs.some((x) => x.dtype !== xs[0]!.dtype)) return tf.concat([...xs], axis);
  registerHostKernels();
  const named: tf.NamedTensorMap = {};
  xs.forEach((x, k) => { named[`x${k}`] = x; });
  return tf.engine().runKernel(CONCAT, named, { axis }) as tf.Tensor;
}

/** tf.split along `axis` into parts of `sizes`, in one pass on cpu/wasm. */
export function split(x: tf.Tensor, sizes: readonly number[], axis: number): tf.Tensor[] {
  if (!onHost()) return tf.split(x, [...sizes], axis);
  registerHostKernels();
  return tf.engine().runKernel(SPLIT, { x }, { axis, sizes: [...sizes] }) as unknown as tf.Tensor[];
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
  if (out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array && selectF32(c, a, b, size, out)) return;
  if (selectRows(c, a, b, cShape, aShape, bShape, shape, out)) return;
  if (rank === 0) { out[0] = c[0] ? a[0]! : b[0]!; return; }
  const cs = alignedStrides(cShape, shape), as = alignedStrides(aShape, shape), bs = alignedStrides(bShape, shape);
  const inner = shape[rank - 1]!;
  const ci1 = cs[rank - 1]!, ai1 = as[rank - 1]!, bi1 = bs[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let co = 0, ao = 0, bo = 0;
  for (let p = 0; p < size; p += inner) {
    if (ci1 === 0) {
      if (c[co]) {
        if (ai1 === 1) copyRun(a, ao, out, p, inner); else if (ai1 === 0) out.fill(a[ao]!, p, p + inner); else for (let j = 0; j < inner; j++) out[p + j] = a[ao + j * ai1]!;
      } else if (bi1 === 1) copyRun(b, bo, out, p, inner); else if (bi1 === 0) out.fill(b[bo]!, p, p + inner); else for (let j = 0; j < inner; j++) out[p + j] = b[bo + j * bi1]!;
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
function selectRows(c: Uint8Array, a: Flat, b: Flat, cShape: readonly number[], aShape: readonly number[], bShape: readonly number[], shape: readonly number[], out: Flat): boolean {
  if (!(out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array)) return false;
  const rank = shape.length;
  if (rank < 2 || cShape.length !== rank || cShape[rank - 1] !== 1 || !cShape.slice(0, -1).every((d, i) => d === shape[i])) return false;
  const full = (s: readonly number[]) => s.length === rank && s.every((d, i) => d === shape[i]);
  const isScalar = (x: Flat) => x.length === 1;
  const inner = shape[rank - 1]!;
  if (full(aShape) && isScalar(b)) { selectRowsF32(c, a, b[0]!, true, inner, out); return true; }
  if (full(bShape) && isScalar(a)) { selectRowsF32(c, b, a[0]!, false, inner, out); return true; }
  return false;
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
