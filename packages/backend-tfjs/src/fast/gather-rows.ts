/**
 * Row gather (also gatherAlongAxis, with per-group row offsets: RowGroups), its backward (a
 * scatter-add of rows) and the backward of one part of a gather-concat (scatterColumnsAdd). tfjs'
 * GatherV2 walks every element through generic index arithmetic (measured on 2 cores, wasm,
 * [256, 200, 32] float32: Gather 54 ms; an elementwise add of the same size 0.4 ms); here one pass
 * in JS copies whole rows straight from the backend's own buffers.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type Flat,
  type RowGroups,
  asCpu,
  asWasm,
  copyRun,
  defineHostKernel,
  gatherConcatLoop,
  newFlat,
  onHost,
  registerHostKernels,
} from './host.ts';

export const GATHER_ROWS = 'LctrGatherRows';
export const SCATTER_ROWS = 'LctrScatterRows';

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
function scatterRows(
  dy: Float32Array,
  ids: Int32Array,
  width: number,
  rows: number,
  out: Float32Array,
  { group, stride }: RowGroups,
  dyStride = width,
  dyOffset = 0,
): void {
  const n = ids.length;
  // the target row of every id (its group offset added), -1 when out of range; and whether any repeats
  const target = new Int32Array(n);
  const hits = new Uint8Array(rows);
  let repeated = false,
    offset = 0,
    left = group > 0 ? group : n;
  for (let i = 0; i < n; i++) {
    const r = ids[i]! + offset;
    if (r >= 0 && r < rows) {
      target[i] = r;
      if (hits[r]) repeated = true;
      else hits[r] = 1;
    } else target[i] = -1;
    if (--left === 0) {
      offset += stride;
      left = group;
    }
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

const groupsOf = (attrs: tf.NamedAttrMap | undefined): RowGroups => ({
  group: Number(attrs?.['group'] ?? 0),
  stride: Number(attrs?.['stride'] ?? 0),
});

const gatherRowsCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const be = asCpu(backend);
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
  const be = asWasm(backend);
  const width = x.shape[1]!;
  const n = indices.shape[0]!;
  const out = be.makeOutput([n, width], x.dtype);
  if (n * width > 0) {
    copyRows(be.typedArrayFromHeap(x), be.typedArrayFromHeap(indices) as Int32Array, width, be.typedArrayFromHeap(out), groupsOf(attrs));
  }
  return out;
};

/** The column window of dy a scatter reads: [offset, offset + width) of rows dy.shape[1] wide (default: all of it). */
const windowOf = (dy: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined) => {
  const width = attrs?.['width'] === undefined ? dy.shape[1]! : Number(attrs['width']);
  return { width, offset: Number(attrs?.['offset'] ?? 0), stride: dy.shape[1]! };
};

const scatterRowsCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, indices } = inputs as { dy: tf.TensorInfo; indices: tf.TensorInfo };
  const be = asCpu(backend);
  const rows = Number(attrs!['rows']),
    win = windowOf(dy, attrs);
  const out = new Float32Array(rows * win.width);
  const dyValues = be.data.get(dy.dataId).values as Float32Array,
    ids = be.data.get(indices.dataId).values as Int32Array;
  scatterRows(dyValues, ids, win.width, rows, out, groupsOf(attrs), win.stride, win.offset);
  return be.makeTensorInfo([rows, win.width], 'float32', out);
};

const scatterRowsWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, indices } = inputs as { dy: tf.TensorInfo; indices: tf.TensorInfo };
  const be = asWasm(backend);
  const rows = Number(attrs!['rows']),
    win = windowOf(dy, attrs);
  const out = be.makeOutput([rows, win.width], 'float32');
  const o = be.typedArrayFromHeap(out) as Float32Array;
  o.fill(0);
  const dyValues = be.typedArrayFromHeap(dy) as Float32Array,
    ids = be.typedArrayFromHeap(indices) as Int32Array;
  scatterRows(dyValues, ids, win.width, rows, o, groupsOf(attrs), win.stride, win.offset);
  return out;
};

defineHostKernel(GATHER_ROWS, gatherRowsCpu, gatherRowsWasm);
defineHostKernel(SCATTER_ROWS, scatterRowsCpu, scatterRowsWasm);

/**
 * Rows of x [rows, width] picked by int32 ids [n] (ids already range-checked) -> [n, width]; with
 * `groups`, id i reads row ids[i] + floor(i / group) * stride.
 */
export function gatherRows(x: tf.Tensor2D, ids: tf.Tensor1D, groups: RowGroups = { group: 0, stride: 0 }): tf.Tensor2D {
  if (!onHost()) return tf.gather(x, groups.group > 0 ? groupedIds(ids, groups) : ids, 0);
  registerHostKernels();
  return tf.engine().runKernel(GATHER_ROWS, { x, indices: ids }, { ...groups }) as tf.Tensor2D;
}

/** The backward of gatherRows: dy [n, width] added into zeros [rows, width] at the rows gatherRows read. */
export function scatterRowsAdd(dy: tf.Tensor2D, ids: tf.Tensor1D, rows: number, groups: RowGroups = { group: 0, stride: 0 }): tf.Tensor2D {
  if (!onHost() || dy.dtype !== 'float32') return tf.unsortedSegmentSum(dy, groups.group > 0 ? groupedIds(ids, groups) : ids, rows);
  registerHostKernels();
  return tf.engine().runKernel(SCATTER_ROWS, { dy, indices: ids }, { rows, ...groups }) as tf.Tensor2D;
}

/**
 * The backward of one part of gatherConcat: columns [offset, offset + width) of dy [n, total]
 * added into zeros [rows, width] at the rows the part read.
 */
export function scatterColumnsAdd(
  dy: tf.Tensor2D,
  ids: tf.Tensor1D,
  rows: number,
  offset: number,
  width: number,
  groups: RowGroups = { group: 0, stride: 0 },
): tf.Tensor2D {
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
