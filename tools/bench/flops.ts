/**
 * FLOPs of one forward pass of a graph, op by op, for the serving-floor benchmark (issue 8).
 * Rules (per output element unless said): matmul 2·K per output (a multiply and an add per term);
 * arithmetic, comparisons, selections and unary maths 1 (a transcendental counts 1 like an add: the
 * floor is optimistic); softmax 5, logSoftmax 5, layerNorm 8, l2Normalize 3 per element;
 * reductions and topk 1 per INPUT element; pure data movement (gather, gatherAlongAxis, concat,
 * reshape, transpose, slice, expand, cast, constant, stopGradient) 0.
 */
import { type DimBindings, type Graph, type OpName, resolveShape, valueInfo } from '@lctr/spec';

const MOVE: ReadonlySet<OpName> = new Set<OpName>(['gather', 'gatherAlongAxis', 'concat', 'reshape', 'transpose', 'slice', 'expand', 'cast', 'constant', 'stopGradient']);
const PER_ELEMENT: Partial<Record<OpName, number>> = { softmax: 5, logSoftmax: 5, layerNorm: 8, l2Normalize: 3 };
const PER_INPUT: ReadonlySet<OpName> = new Set<OpName>(['reduceSum', 'reduceMean', 'reduceMax', 'topk']);

export interface FlopCount {
  readonly total: number;
  readonly matmul: number;
  /** FLOPs by op name */
  readonly byOp: Readonly<Record<string, number>>;
  /** the largest matmuls: node id, [batch.., m, k] x [k, n], FLOPs */
  readonly topMatmuls: ReadonlyArray<{ node: string; a: number[]; b: number[]; flops: number }>;
}

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

export function countFlops(g: Graph, bindings: DimBindings): FlopCount {
  const byOp: Record<string, number> = {};
  const mms: Array<{ node: string; a: number[]; b: number[]; flops: number }> = [];
  let total = 0, matmul = 0;
  for (const n of g.nodes) {
    if (MOVE.has(n.op)) continue;
    const out = resolveShape(n.outputs[0]!.shape, bindings);
    let f: number;
    if (n.op === 'matmul') {
      const a = resolveShape(valueInfo(g, n.inputs[0]!).shape, bindings);
      const b = resolveShape(valueInfo(g, n.inputs[1]!).shape, bindings);
      f = 2 * size(out) * a[a.length - 1]!;
      matmul += f;
      mms.push({ node: n.id, a, b, flops: f });
    } else if (PER_INPUT.has(n.op)) {
      f = size(resolveShape(valueInfo(g, n.inputs[0]!).shape, bindings));
    } else {
      f = (PER_ELEMENT[n.op] ?? 1) * size(out);
    }
    byOp[n.op] = (byOp[n.op] ?? 0) + f;
    total += f;
  }
  mms.sort((x, y) => y.flops - x.flops);
  return { total, matmul, byOp, topMatmuls: mms.slice(0, 5) };
}
