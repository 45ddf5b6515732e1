/**
 * A compile-time fusion (model.ts runs it on every compiled graph): a concat along the last axis
 * whose every input is a row gather read by nothing else (gather on axis 0 of a 2-D table: an
 * embedding lookup; gatherAlongAxis of x [lead.., n, w]: top-k picks) becomes one node that
 * gathers straight into the concatenated rows, and whose backward scatters each part's columns
 * back into its source. The item ‖ category lookups and the picked item ‖ context rows of LCN are
 * such concats: on cpu/wasm this saves the concat forward and its split backward, a full pass
 * each over [batch, N, d]. The same values exactly (copies and the same scatter-adds); on other
 * backends the kernel runs the gathers and the concat as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Graph, type NodeDecl, type OpName, type ValueInfo, sizeOf as prod, valueInfo } from '@lctr/spec';
import { type RowGroups, gatherConcat, scatterColumnsAdd } from './fast/index.ts';
import { type CompiledNode, type KernelContext, type TfjsKernel, checkIndexRange } from './kernels.ts';

interface Part {
  /** 'gather': a table [rows, w] at ids of any shape; 'along': x [lead.., n, w] at idx [lead.., k] along `axis` */
  readonly kind: 'gather' | 'along';
  readonly axis: number;
  /** the part's own node, for its index checks and their messages */
  readonly node: NodeDecl;
  readonly checkIndices: boolean;
}

/** The part's source as rows [R, w], its ids as [rows] and its row groups. */
function partRows(
  part: Part,
  x: tf.Tensor,
  idx: tf.Tensor,
  rows: number,
  ctx: KernelContext,
): { source: tf.Tensor2D; ids: tf.Tensor1D; groups: RowGroups; sourceRows: number; width: number } {
  const partCtx: KernelContext = { ...ctx, node: part.node, checkIndices: part.checkIndices };
  if (part.kind === 'gather') {
    const [r, w] = x.shape as [number, number];
    checkIndexRange(idx, r, partCtx, `axis 0 of '${part.node.inputs[0]}'`);
    return { source: x as tf.Tensor2D, ids: tf.reshape(idx, [rows]), groups: { group: 0, stride: 0 }, sourceRows: r, width: w };
  }
  const lead = prod(x.shape.slice(0, part.axis)),
    n = x.shape[part.axis]!,
    w = x.shape[part.axis + 1]!,
    k = idx.shape[part.axis]!;
  checkIndexRange(idx, n, partCtx, `axis ${part.axis} of '${part.node.inputs[0]}'`);
  return {
    source: tf.reshape(x, [lead * n, w]),
    ids: tf.reshape(idx, [lead * k]),
    groups: lead === 1 ? { group: 0, stride: 0 } : { group: k, stride: n },
    sourceRows: lead * n,
    width: w,
  };
}

function gatherConcatKernel(parts: readonly Part[]): TfjsKernel<'concat'> {
  const layout = (xs: readonly tf.Tensor[], ctx: KernelContext) => {
    const out = ctx.outShape();
    const rows = prod(out.slice(0, -1));
    return { out, rows, total: out[out.length - 1]!, parts: parts.map((p, t) => partRows(p, xs[2 * t]!, xs[2 * t + 1]!, rows, ctx)) };
  };
  return {
    forward: (xs, _attrs, ctx) => {
      const l = layout(xs, ctx);
      return [
        tf.reshape(
          gatherConcat(
            l.parts.map((p) => p.source),
            l.parts.map((p) => p.ids),
            l.parts.map((p) => p.groups),
          ),
          l.out,
        ),
      ];
    },
    backward: (dy, xs, _y, _attrs, ctx) => {
      const l = layout(xs, ctx);
      const dy2 = tf.reshape(dy, [l.rows, l.total]) as tf.Tensor2D;
      let offset = 0;
      const grads: Array<tf.Tensor | null> = [];
      l.parts.forEach((p, t) => {
        grads.push(
          ctx.gradIdx.includes(2 * t)
            ? tf.reshape(scatterColumnsAdd(dy2, p.ids, p.sourceRows, offset, p.width, p.groups), xs[2 * t]!.shape)
            : null,
          null,
        );
        offset += p.width;
      });
      return grads;
    },
  };
}

/** The part a concat input is, when its producer is a fusable row gather; undefined otherwise. */
function partOf(graph: Graph, producer: CompiledNode | undefined, uses: number): Part | undefined {
  if (!producer || uses !== 1) return undefined;
  const { node } = producer;
  const x: ValueInfo = valueInfo(graph, node.inputs[0]!);
  if (x.dtype !== 'float32') return undefined;
  const axis = (node.attrs as { axis: number }).axis;
  if (node.op === 'gather' && axis === 0 && x.shape.length === 2)
    return { kind: 'gather', axis, node, checkIndices: producer.checkIndices };
  if (node.op === 'gatherAlongAxis' && x.shape.length === axis + 2)
    return { kind: 'along', axis, node, checkIndices: producer.checkIndices };
  return undefined;
}

/** `nodes` with every fusable concat of row gathers replaced by one gather-concat node (its parts removed). */
export function fuseGatherConcat(graph: Graph, nodes: readonly CompiledNode[]): CompiledNode[] {
  const uses = new Map<string, number>();
  for (const cn of nodes) for (const id of cn.node.inputs) uses.set(id, (uses.get(id) ?? 0) + 1);
  for (const id of Object.values(graph.outputs) as string[]) uses.set(id, (uses.get(id) ?? 0) + 1);
  const producer = new Map<string, CompiledNode>();
  for (const cn of nodes) for (const o of cn.node.outputs) producer.set(o.id, cn);

  const replaced = new Map<CompiledNode, CompiledNode>();
  const removed = new Set<CompiledNode>();
  for (const cn of nodes) {
    const { node } = cn;
    const out = node.outputs[0]!;
    if (
      node.op !== 'concat' ||
      node.inputs.length < 2 ||
      out.dtype !== 'float32' ||
      (node.attrs as { axis: number }).axis !== out.shape.length - 1
    )
      continue;
    const producers = node.inputs.map((id) => producer.get(id));
    const parts = producers.map((p, i) => partOf(graph, p, uses.get(node.inputs[i]!) ?? 0));
    if (parts.some((p) => p === undefined) || new Set(producers).size !== producers.length) continue;
    const inputs = producers.flatMap((p) => [p!.node.inputs[0]!, p!.node.inputs[1]!]);
    const fused: CompiledNode = {
      node: { ...node, inputs },
      kernel: gatherConcatKernel(parts as Part[]) as unknown as TfjsKernel<OpName>,
      attrs: cn.attrs,
      inputInfo: inputs.map((id) => valueInfo(graph, id)),
      outputInfo: cn.outputInfo,
      checkIndices: false,
      // a part's source carries gradient when its gather's table / x did
      gradIdx: producers.flatMap((p, t) => (p!.gradIdx.includes(0) ? [2 * t] : [])),
    };
    replaced.set(cn, fused);
    for (const p of producers) removed.add(p!);
  }
  return nodes.filter((cn) => !removed.has(cn)).map((cn) => replaced.get(cn) ?? cn);
}
