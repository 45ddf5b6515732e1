/**
 * FLOPs of one forward pass of a graph, op by op: the serving-floor benchmark (bench/serve-floor.ts,
 * issue 8) and the trainer's model summary (FLOPs per sample) count with it.
 * Rules (per output element unless said): matmul 2·K per output (a multiply and an add per term);
 * arithmetic, comparisons, selections and unary maths 1 (a transcendental counts 1 like an add: the
 * floor is optimistic); softmax 5, logSoftmax 5, layerNorm 8, l2Normalize 3 per element;
 * reductions and topk 1 per INPUT element; pure data movement (gather, gatherAlongAxis, concat,
 * reshape, transpose, slice, expand, cast, constant, stopGradient) 0.
 * `useful` counts what the model needs rather than what the graph computes: a matmul whose output
 * is read only by gatherAlongAxis picks of k of its n last-axis columns (MSA's dense scoring of all
 * N positions, of which it reads K1) counts k/n of its FLOPs. The serving floor uses `useful`, so
 * a dense formulation that computes outputs nobody reads cannot lower the ratio by raising the
 * floor.
 */
import { type DimBindings, resolveShape } from './dims.ts';
import { type Graph, valueInfo } from './graph.ts';
import type { OpName } from './ops.ts';

const MOVE: ReadonlySet<OpName> = new Set<OpName>([
  'gather',
  'gatherAlongAxis',
  'scatterAlongAxis',
  'concat',
  'reshape',
  'transpose',
  'slice',
  'expand',
  'cast',
  'constant',
  'stopGradient',
]);
const PER_ELEMENT: Partial<Record<OpName, number>> = { softmax: 5, logSoftmax: 5, layerNorm: 8, l2Normalize: 3 };
const PER_INPUT: ReadonlySet<OpName> = new Set<OpName>(['reduceSum', 'reduceMean', 'reduceMax', 'topk']);

export interface FlopCount {
  /** FLOPs the graph computes */
  readonly total: number;
  /** FLOPs of outputs the graph reads (see the file comment) */
  readonly useful: number;
  readonly matmul: number;
  /** FLOPs by op name */
  readonly byOp: Readonly<Record<string, number>>;
  /** the largest matmuls: node id, [batch.., m, k] x [k, n], FLOPs */
  readonly topMatmuls: ReadonlyArray<MatmulShape>;
  /** every matmul, in graph order */
  readonly matmuls: ReadonlyArray<MatmulShape>;
}

export interface MatmulShape {
  readonly node: string;
  readonly a: number[];
  readonly b: number[];
  readonly flops: number;
  /** b depends on parameters only (a runtime folds it to a constant and may pre-pack it) */
  readonly constantB: boolean;
}

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

export interface CountFlopsOptions {
  /** count only the nodes these outputs depend on (default: every node), e.g. ['prob'] for a training graph's forward pass */
  readonly outputs?: readonly string[];
}

/** The nodes `outputs` depend on (by node id). */
function neededNodes(g: Graph, outputs: readonly string[]): Set<string> {
  const outs = g.outputs as Readonly<Record<string, string>>;
  const missing = outputs.filter((o) => outs[o] === undefined);
  if (missing.length)
    throw new Error(`countFlops: graph '${g.name}' has no output(s) ${missing.join(', ')} (outputs: ${Object.keys(outs).join(', ')})`);
  const producer = new Map<string, (typeof g.nodes)[number]>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o.id, n);
  const needed = new Set<string>();
  const stack = outputs.map((o) => outs[o]!);
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n || needed.has(n.id)) continue;
    needed.add(n.id);
    stack.push(...n.inputs);
  }
  return needed;
}

export function countFlops(g: Graph, bindings: DimBindings, opts: CountFlopsOptions = {}): FlopCount {
  if (opts.outputs) {
    const needed = neededNodes(g, opts.outputs);
    const outs = g.outputs as Readonly<Record<string, string>>;
    g = {
      ...g,
      nodes: g.nodes.filter((n) => needed.has(n.id)),
      outputs: Object.fromEntries(opts.outputs.map((o) => [o, outs[o]!])),
    } as Graph;
  }
  const byOp: Record<string, number> = {};
  const mms: MatmulShape[] = [];
  const constant = new Set<string>(g.params.map((p) => p.name));
  for (const n of g.nodes) {
    if (n.inputs.every((i) => constant.has(i))) for (const o of n.outputs) constant.add(o.id);
  }
  const consumers = new Map<string, Array<(typeof g.nodes)[number]>>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const readOutputs = new Set<string>(Object.values(g.outputs) as string[]);
  const producer = new Map<string, (typeof g.nodes)[number]>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o.id, n);
  let total = 0,
    matmul = 0,
    unread = 0;
  for (const n of g.nodes) {
    if (MOVE.has(n.op)) continue;
    const out = resolveShape(n.outputs[0]!.shape, bindings);
    let f: number;
    if (n.op === 'matmul') {
      const a = resolveShape(valueInfo(g, n.inputs[0]!).shape, bindings);
      const b = resolveShape(valueInfo(g, n.inputs[1]!).shape, bindings);
      f = 2 * size(out) * a[a.length - 1]!;
      matmul += f;
      mms.push({ node: n.id, a, b, flops: f, constantB: constant.has(n.inputs[1]!) });
      // a left operand scattered from k of its n contracted entries: (n - k) / n are structural zeros
      const from = producer.get(n.inputs[0]!);
      if (from?.op === 'scatterAlongAxis' && (from.attrs as { axis: number }).axis === a.length - 1) {
        const u = resolveShape(valueInfo(g, from.inputs[0]!).shape, bindings);
        const k = u[u.length - 1]!,
          size = a[a.length - 1]!;
        if (k < size) unread += (f * (size - k)) / size;
      }
      // read only through picks of k of the n last-axis columns: (n - k) / n of it is unread
      const y = n.outputs[0]!.id,
        readers = consumers.get(y) ?? [],
        cols = out[out.length - 1]!;
      if (
        !readOutputs.has(y) &&
        readers.length > 0 &&
        readers.every((r) => r.op === 'gatherAlongAxis' && r.inputs[0] === y && (r.attrs as { axis: number }).axis === out.length - 1)
      ) {
        const picked = Math.max(
          ...readers.map((r) => {
            const s = resolveShape(r.outputs[0]!.shape, bindings);
            return s[s.length - 1]!;
          }),
        );
        if (picked < cols) unread += (f * (cols - picked)) / cols;
      }
    } else if (PER_INPUT.has(n.op)) {
      f = size(resolveShape(valueInfo(g, n.inputs[0]!).shape, bindings));
    } else {
      f = (PER_ELEMENT[n.op] ?? 1) * size(out);
    }
    byOp[n.op] = (byOp[n.op] ?? 0) + f;
    total += f;
  }
  return { total, useful: total - unread, matmul, byOp, topMatmuls: [...mms].sort((x, y) => y.flops - x.flops).slice(0, 5), matmuls: mms };
}
