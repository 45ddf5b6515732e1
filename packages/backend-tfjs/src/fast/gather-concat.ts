/**
 * A gather of several sources side by side (fuse.ts' fused node): what
 * concat(gatherRows(...), ...) along the last axis gives, in one pass on cpu/wasm, with no
 * per-part outputs and no concat. Its backward is scatterColumnsAdd (gather-rows.ts) per part.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ConcatPart, type RowGroups, asCpu, asWasm, defineHostKernel, gatherConcatLoop, onHost, registerHostKernels } from './host.ts';
import { concat } from './concat.ts';
import { gatherRows } from './gather-rows.ts';

export const GATHER_CONCAT = 'LctrGatherConcat';

const partsOf = (attrs: tf.NamedAttrMap | undefined): ConcatPart[] => JSON.parse(String(attrs!['parts'])) as ConcatPart[];

const gatherConcatCpu: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asCpu(backend);
  const parts = partsOf(attrs),
    rows = Number(attrs!['rows']),
    total = Number(attrs!['total']);
  const out = new Float32Array(rows * total);
  const sources = parts.map((_, t) => be.data.get(inputs[`s${t}`]!.dataId).values as Float32Array);
  const ids = parts.map((_, t) => be.data.get(inputs[`i${t}`]!.dataId).values as Int32Array);
  gatherConcatLoop(sources, ids, parts, rows, total, out);
  return be.makeTensorInfo([rows, total], 'float32', out);
};

const gatherConcatWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const be = asWasm(backend);
  const parts = partsOf(attrs),
    rows = Number(attrs!['rows']),
    total = Number(attrs!['total']);
  const out = be.makeOutput([rows, total], 'float32');
  if (rows * total > 0) {
    const sources = parts.map((_, t) => be.typedArrayFromHeap(inputs[`s${t}`]!) as Float32Array);
    const ids = parts.map((_, t) => be.typedArrayFromHeap(inputs[`i${t}`]!) as Int32Array);
    gatherConcatLoop(sources, ids, parts, rows, total, be.typedArrayFromHeap(out) as Float32Array);
  }
  return out;
};

defineHostKernel(GATHER_CONCAT, gatherConcatCpu, gatherConcatWasm);

/**
 * The rows several row gathers pick, side by side: sources[t] [R_t, w_t] read at ids[t] [rows]
 * (with groups[t]) -> [rows, Σ w_t]. What concat(gatherRows(...), ...) along the last axis gives,
 * in one pass on cpu/wasm (no per-part outputs, no concat).
 */
export function gatherConcat(sources: readonly tf.Tensor2D[], ids: readonly tf.Tensor1D[], groups: readonly RowGroups[]): tf.Tensor2D {
  const rows = ids[0]!.size;
  if (!onHost() || sources.some((x) => x.dtype !== 'float32')) {
    return concat(
      sources.map((x, t) => gatherRows(x, ids[t]!, groups[t])),
      1,
    ) as tf.Tensor2D;
  }
  registerHostKernels();
  let offset = 0;
  const parts: ConcatPart[] = sources.map((x, t) => {
    const p = { width: x.shape[1], offset, ...groups[t]! };
    offset += x.shape[1];
    return p;
  });
  const named: tf.NamedTensorMap = {};
  sources.forEach((x, t) => {
    named[`s${t}`] = x;
    named[`i${t}`] = ids[t]!;
  });
  return tf.engine().runKernel(GATHER_CONCAT, named, { parts: JSON.stringify(parts), rows, total: offset }) as tf.Tensor2D;
}
