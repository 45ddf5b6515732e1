/**
 * Lowerings written for the default-domain opset 17 (ONNX IR 8). Each one matches the op's
 * semantics in packages/spec exactly (ref-cpu is the oracle); where the ONNX operator differs,
 * the comment says how the difference is closed.
 *
 * Opset-17 traps followed here: ReduceSum, Unsqueeze and Slice take axes as an INPUT, ReduceMean
 * and ReduceMax as an ATTRIBUTE; TopK takes K as a 1-D int64 input and returns int64 indices.
 */
import { type DType, type Dim, type Graph, type NodeDecl, type OpName, dimEquals, isStaticDim, productOf, valueTable } from '@lctr/spec';
import { ONNX_DTYPE } from '../proto.ts';
import { type LowerCtx, type Lowering, attr } from './context.ts';

/** The most negative finite float32: a valid -Infinity is clamped to it so it still ranks above padding. */
export { FLOAT32_LOWEST } from '@lctr/spec';
import { FLOAT32_LOWEST } from '@lctr/spec';

const direct =
  (opType: string): Lowering<OpName> =>
  (ctx, _node, inputs) => [ctx.emit1(opType, inputs)];

/** Reshape/expand targets: the IR output shape (symbolic dims, no -1: the builder already solved it). */
const outputShape = (ctx: LowerCtx): readonly Dim[] => ctx.outputInfo[0]!.shape;

/**
 * The k to ask ONNX Runtime's CPU TopK for, to get the top `k` of `n` (then sliced). Its kernel
 * keeps a heap of k when k < n^0.725 (cost about linear in k) and otherwise partitions with
 * nth_element and sorts the k. Just below that switch the heap is the slower one: over 1,000 rows
 * of n = 2,000, k = 200 takes 19.4 ms and k = 248 (the switch) 15.1 ms; at n = 1,000, k = 100
 * takes 10.4 and k = 150 8.2 ms; the two cost the same near k = 0.6 n^0.725 at both n
 * (bench/topk-width.ts). So a k from 0.65 of the switch up asks for the switch's k and
 * slices: the same values and indices, as the output is sorted. Other providers and runtimes get
 * the same (correct) graph.
 */
export function ortTopkWidth(k: number, n: number): number {
  const heapLimit = Math.ceil(n ** 0.725);
  return k < heapLimit && k >= 0.65 * heapLimit && heapLimit <= n ? heapLimit : k;
}

/** Elementwise ops: with scalar other operands, they map a permutation of their input to the same permutation of their output. */
const ELEMENTWISE = new Set<string>([
  'greater',
  'less',
  'equal',
  'cast',
  'logicalNot',
  'neg',
  'abs',
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'where',
]);

/**
 * Whether a top-k's picks may come in any order: its indices only feed scatterAlongAxis along the
 * picked axis, and its values reach nothing but those scatters' updates, through elementwise ops
 * with scalar other operands (each pick's update stays with its index), and neither is a graph
 * output. A scatter of distinct indices is the same for any order of (index, update) pairs: LAP's
 * K1 row in the serving graph (blocks/lap.ts) is such a set.
 */
export function picksAsSet(g: Graph, node: NodeDecl): boolean {
  const [values, indices] = node.outputs.map((o) => o.id) as [string, string];
  if (Object.values<string>(g.outputs).some((id) => id === values || id === indices)) return false;
  const consumers = (id: string) => g.nodes.filter((n) => n.inputs.includes(id));
  const axis = node.outputs[1]!.shape.length - 1;
  const scatters = consumers(indices);
  if (
    scatters.length === 0 ||
    !scatters.every((c) => c.op === 'scatterAlongAxis' && c.inputs[1] === indices && c.inputs[0] !== indices && c.attrs['axis'] === axis)
  )
    return false;
  const table = valueTable(g);
  const scalar = (id: string) => table.get(id)?.shape.length === 0;
  const todo = [values];
  while (todo.length) {
    const id = todo.pop()!;
    for (const c of consumers(id)) {
      if (c.op === 'scatterAlongAxis' && c.inputs[0] === id && c.inputs[1] === indices) continue;
      if (
        !ELEMENTWISE.has(c.op) ||
        !c.inputs.every((i) => i === id || scalar(i)) ||
        Object.values<string>(g.outputs).includes(c.outputs[0]!.id)
      )
        return false;
      todo.push(c.outputs[0]!.id);
    }
  }
  return true;
}

/** Ops that only rearrange or subset their input's values: indices in range stay in range through them. */
const KEEPS_RANGE = new Set<string>(['reshape', 'transpose', 'expand', 'slice', 'cast', 'stopGradient']);

/** Indices in range by construction: a constant (checked when the graph was built) or a top-k's indices. */
function inRangeByConstruction(g: Graph, id: string): boolean {
  for (;;) {
    const p = g.nodes.find((n) => n.outputs.some((o) => o.id === id));
    if (!p) return false; // a graph input
    if (p.op === 'constant') return true;
    if (p.op === 'topk') return id === p.outputs[1]!.id;
    if (!KEEPS_RANGE.has(p.op)) return false;
    id = p.inputs[0]!;
  }
}

/**
 * indices where they lie in [0, rows), 0 elsewhere (SPEC: padding reads row 0). ONNX Gather reads
 * a negative index from the end and runtimes differ past the end (CPU raises, CUDA reads whatever
 * is there), while a Triton client reaches the model with no check of ours: so -1 at a padded
 * position, or any hostile id, reads the out-of-vocabulary row 0 instead.
 */
function indicesOrZero(ctx: LowerCtx, indices: string, dtype: DType, rows: Dim): string {
  const zero = ctx.constant(dtype, [], [0]);
  const n = isStaticDim(rows)
    ? ctx.constant(dtype, [], [rows])
    : ctx.emit1('Cast', [ctx.shapeTensor([rows])], { to: attr.int(ONNX_DTYPE[dtype]) });
  const ok = ctx.emit1('And', [ctx.emit1('GreaterOrEqual', [indices, zero]), ctx.emit1('Less', [indices, n])]);
  return ctx.emit1('Where', [ok, indices, zero]);
}

/**
 * The exact top `k` of an unsorted TopK of width k' > k (ortTopkWidth's faster width): `values`
 * [.., k'] (the ranking key: at least FLOAT32_LOWEST at valid positions, -Infinity at padding) and
 * their sequence indices `idx64`, in no order, cut to the top k by value, ties to the lower
 * sequence index (the order of an unsorted output is arbitrary, so its own "lower index" would
 * not do). One more TopK, over a float64 key [.., k']: key = v - index · max(|v|, 2^-126) ·
 * 2^-(25 + ⌈log2 n⌉), v = max(value, 2 · FLOAT32_LOWEST) (padding below every valid key and in
 * index order too). The tie term is under half a float32 step of v, so distinct values keep their
 * order, and two indices' terms differ by at least |v| · 2^-(25 + ⌈log2 n⌉), far above float64's
 * step |v| · 2^-52 (n < 2^27), so equal values rank by the lower index. Over [1000, 248] that is a
 * few small ops; bench/lap-select.ts times the whole form.
 */
function exactTopOfSet(c: LowerCtx, values: string, idx64: string, k: number, n: number, axis: number): [string, string] {
  const f64 = (x: string) => c.emit1('Cast', [x], { to: attr.int(11) }); // ONNX DOUBLE; constants fold at load
  const v = c.emit1('Max', [f64(values), c.emit1('Mul', [f64(c.scalar(FLOAT32_LOWEST)), f64(c.scalar(2))])]);
  const mag = c.emit1('Max', [c.emit1('Abs', [v]), f64(c.scalar(2 ** -126))]);
  const step = f64(c.scalar(2 ** -(25 + Math.ceil(Math.log2(n)))));
  const key = c.emit1('Sub', [v, c.emit1('Mul', [c.emit1('Mul', [f64(idx64), mag]), step])]);
  const [, sel] = c.emit('TopK', [key, c.int64s([k])], { axis: attr.int(axis), largest: attr.int(1), sorted: attr.int(0) }, 2);
  return [
    c.emit1('GatherElements', [values, sel!], { axis: attr.int(axis) }),
    c.emit1('GatherElements', [idx64, sel!], { axis: attr.int(axis) }),
  ];
}

export const opset17: { readonly [N in OpName]: Lowering<N> } = {
  matmul: direct('MatMul'),
  add: direct('Add'),
  sub: direct('Sub'),
  mul: direct('Mul'),
  div: direct('Div'),
  pow: direct('Pow'),
  maximum: direct('Max'),
  minimum: direct('Min'),
  neg: direct('Neg'),
  abs: direct('Abs'),
  exp: direct('Exp'),
  log: direct('Log'),
  sqrt: direct('Sqrt'),
  relu: direct('Relu'),
  sigmoid: direct('Sigmoid'),
  tanh: direct('Tanh'),
  // ONNX Softplus is log(exp(x) + 1), which runtimes may evaluate naively (inf for large x):
  // compose the spec's stable form max(x, 0) + log(1 + exp(-|x|)).
  softplus: (ctx, _n, [x]) => {
    const pos = ctx.emit1('Relu', [x!]);
    const negAbs = ctx.emit1('Neg', [ctx.emit1('Abs', [x!])]);
    const log1p = ctx.emit1('Log', [ctx.emit1('Add', [ctx.scalar(1), ctx.emit1('Exp', [negAbs])])]);
    return [ctx.emit1('Add', [pos, log1p])];
  },
  elu: (ctx, _n, [x], a) => [ctx.emit1('Elu', [x!], { alpha: attr.float(a.alpha) })],
  softmax: (ctx, _n, [x], a) => [ctx.emit1('Softmax', [x!], { axis: attr.int(a.axis) })],
  logSoftmax: (ctx, _n, [x], a) => [ctx.emit1('LogSoftmax', [x!], { axis: attr.int(a.axis) })],
  reduceSum: (ctx, _n, [x], a) => [ctx.emit1('ReduceSum', [x!, ctx.int64s(a.axes)], { keepdims: attr.int(a.keepDims ? 1 : 0) })],
  // ReduceMean over an empty axis gives 0 in ONNX Runtime; the spec divides by the run-time count
  // (0 / 0 = NaN). Axes that can be empty (symbolic or 0) are lowered as sum / count.
  reduceMean: (ctx, _n, [x], a) => {
    const reduced = a.axes.map((ax) => ctx.inputInfo[0]!.shape[ax]!);
    if (reduced.every((d) => isStaticDim(d) && d > 0)) {
      return [ctx.emit1('ReduceMean', [x!], { axes: attr.ints(a.axes), keepdims: attr.int(a.keepDims ? 1 : 0) })];
    }
    const sum = ctx.emit1('ReduceSum', [x!, ctx.int64s(a.axes)], { keepdims: attr.int(a.keepDims ? 1 : 0) });
    const count = ctx.emit1('Cast', [ctx.shapeTensor([productOf(reduced)])], { to: attr.int(ONNX_DTYPE.float32) });
    return [ctx.emit1('Div', [sum, ctx.emit1('Reshape', [count, ctx.int64s([])])])];
  },
  reduceMax: (ctx, _n, [x], a) => [ctx.emit1('ReduceMax', [x!], { axes: attr.ints(a.axes), keepdims: attr.int(a.keepDims ? 1 : 0) })],
  concat: (ctx, _n, xs, a) => [ctx.emit1('Concat', xs, { axis: attr.int(a.axis) })],
  // allowzero = 1: a 0 in the target is a real 0 (symbolic dims may be 0 at run time), never "copy".
  reshape: (ctx, _n, [x]) => [ctx.emit1('Reshape', [x!, ctx.shapeTensor(outputShape(ctx))], { allowzero: attr.int(1) })],
  transpose: (ctx, _n, [x], a) => [ctx.emit1('Transpose', [x!], { perm: attr.ints(a.perm) })],
  // starts/ends are already normalised and clamped by the spec, axes non-negative.
  slice: (ctx, _n, [x], a) => [ctx.emit1('Slice', [x!, ctx.int64s(a.starts), ctx.int64s(a.ends), ctx.int64s(a.axes)])],
  expand: (ctx, _n, [x]) => [ctx.emit1('Expand', [x!, ctx.shapeTensor(outputShape(ctx))])],
  // Indices from the request or computed from it (a pick of ids) are guarded (indicesOrZero):
  // 4 elementwise ops over the ids, not over the gathered rows.
  gather: (ctx, node, [table, indices], a) => {
    const idx = inRangeByConstruction(ctx.graph, node.inputs[1]!)
      ? indices!
      : indicesOrZero(ctx, indices!, ctx.inputInfo[1]!.dtype, ctx.inputInfo[0]!.shape[a.axis]!);
    return [ctx.emit1('Gather', [table!, idx], { axis: attr.int(a.axis) })];
  },
  // tf.gather with batchDims = axis: GatherND over int64 indices [...lead, k, 1] with batch_dims = axis;
  // with no dims after the axis it is GatherElements, which ONNX Runtime runs about 10x faster
  // (0.18 vs 1.8 ms picking [1000, 200] of [1000, 2000]).
  gatherAlongAxis: (ctx, _n, [x, indices], a) => {
    const idx64 = ctx.inputInfo[1]!.dtype === 'int64' ? indices! : ctx.emit1('Cast', [indices!], { to: attr.int(ONNX_DTYPE.int64) });
    if (ctx.inputInfo[0]!.shape.length === a.axis + 1) return [ctx.emit1('GatherElements', [x!, idx64], { axis: attr.int(a.axis) })];
    const idx = ctx.emit1('Unsqueeze', [idx64, ctx.int64s([-1])]);
    return [ctx.emit1('GatherND', [x!, idx], { batch_dims: attr.int(a.axis) })];
  },
  // Zeros of the output's shape (Expand of a 0) and one ScatterElements with reduction 'add'
  // (opset 16+); its indices have the updates' shape, so indices with trailing dims after the axis
  // are broadcast over them first. Indices straight from a top-k along the same axis never repeat
  // within a row, so plain assignment gives the same sums (and ONNX Runtime runs it a little faster).
  scatterAlongAxis: (ctx, node, [updates, indices], a) => {
    const from = ctx.graph.nodes.find((p) => p.outputs.some((o) => o.id === node.inputs[1]));
    const distinct = from?.op === 'topk' && from.outputs[1]!.id === node.inputs[1] && a.axis === ctx.inputInfo[1]!.shape.length - 1;
    const zeros = ctx.emit1('Expand', [ctx.scalar(0), ctx.shapeTensor(outputShape(ctx))]);
    let idx64 = ctx.inputInfo[1]!.dtype === 'int64' ? indices! : ctx.emit1('Cast', [indices!], { to: attr.int(ONNX_DTYPE.int64) });
    const uShape = ctx.inputInfo[0]!.shape;
    if (uShape.length > a.axis + 1) {
      const trailing = Array.from({ length: uShape.length - a.axis - 1 }, (_, i) => a.axis + 1 + i);
      idx64 = ctx.emit1('Expand', [ctx.emit1('Unsqueeze', [idx64, ctx.int64s(trailing)]), ctx.shapeTensor(uShape)]);
    }
    return [
      ctx.emit1('ScatterElements', [zeros, idx64, updates!], { axis: attr.int(a.axis), reduction: attr.string(distinct ? 'none' : 'add') }),
    ];
  },
  // The spec's ranking key, then a plain sorted TopK (ONNX Runtime breaks ties by the lower index):
  // key = mask ? max(x, FLOAT32_LOWEST) : -Infinity (a NaN at a valid position counts as
  // FLOAT32_LOWEST), values = the key, indices cast to int32. When every x is finite (the sum of
  // x is finite), the key is x itself at valid positions, so an If takes that branch and skips
  // three passes over x, two of them Where, which ONNX Runtime's CPU runs several times slower
  // than an Add (4-5 ms vs 0.6 over [1000, 2000]); a mask that broadcasts becomes a 0 / -Infinity
  // bias row added to x. Any NaN or infinity takes the exact branch. Picks that only feed a scatter
  // (picksAsSet: LAP's K1 in the serving graph) come unsorted: ONNX Runtime's unsorted TopK is
  // its partition without the sort of the k (10.4-10.8 vs 15.2 ms at k 248 of [1000, 2000], issue
  // 8's budget), its set the same as the sorted one's (its comparator breaks ties by the lower index).
  topk: (ctx, node, [x, mask], a) => {
    const shape = ctx.inputInfo[0]!.shape;
    const maskShape = mask === undefined ? undefined : ctx.inputInfo[1]!.shape;
    const fullMask = maskShape !== undefined && maskShape.length === shape.length && maskShape.every((d, i) => dimEquals(d, shape[i]!));
    const finiteKey = (c: LowerCtx): string => {
      if (mask === undefined) return c.emit1('Identity', [x!]);
      if (fullMask) return c.emit1('Where', [mask, x!, c.scalar(-Infinity)]);
      return c.emit1('Add', [x!, c.emit1('Where', [mask, c.scalar(0), c.scalar(-Infinity)])]);
    };
    const exactKey = (c: LowerCtx): string => {
      const lowest = c.scalar(FLOAT32_LOWEST);
      const key = c.emit1('Where', [c.emit1('IsNaN', [x!]), lowest, c.emit1('Max', [x!, lowest])]);
      return mask === undefined ? key : c.emit1('Where', [mask, key, c.scalar(-Infinity)]);
    };
    const n = shape[shape.length - 1]!;
    const k = isStaticDim(n) ? ortTopkWidth(a.k, n) : a.k;
    const asSet = picksAsSet(ctx.graph, node);
    // the top-k of a key, inside each branch, so the If passes on [.., k] results, not the key
    const topk = (c: LowerCtx, key: string): string[] => {
      let [values, idx64] = c.emit(
        'TopK',
        [key, c.int64s([k])],
        { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(asSet ? 0 : 1) },
        2,
      );
      if (asSet && k > a.k) {
        [values, idx64] = exactTopOfSet(c, values!, idx64!, a.k, n as number, shape.length - 1);
      } else if (k > a.k) {
        // the first a.k of a sorted top-k' (descending, ties by the lower index) are the top-a.k
        const [starts, ends, axes] = [c.int64s([0]), c.int64s([a.k]), c.int64s([shape.length - 1])];
        values = c.emit1('Slice', [values!, starts, ends, axes]);
        idx64 = c.emit1('Slice', [idx64!, starts, ends, axes]);
      }
      return [values!, c.emit1('Cast', [idx64!], { to: attr.int(ONNX_DTYPE.int32) })];
    };
    const sum = ctx.emit1('ReduceSum', [x!], { keepdims: attr.int(0) }); // all axes
    const finite = ctx.emit1('Equal', [ctx.emit1('Sub', [sum, sum]), ctx.scalar(0)]); // inf - inf, NaN - NaN are NaN
    return ctx.emit(
      'If',
      [finite],
      {
        then_branch: ctx.branch('finite', ['float32', 'int32'], (c) => topk(c, finiteKey(c))),
        else_branch: ctx.branch('nonFinite', ['float32', 'int32'], (c) => topk(c, exactKey(c))),
      },
      2,
    );
  },
  // ONNX Runtime's CPU Where has no bool kernel: for bool, (cond and a) or (not cond and b).
  where: (ctx, _n, [cond, a, b]) => {
    if (ctx.outputInfo[0]!.dtype !== 'bool') return [ctx.emit1('Where', [cond!, a!, b!])];
    const pickA = ctx.emit1('And', [cond!, a!]);
    const pickB = ctx.emit1('And', [ctx.emit1('Not', [cond!]), b!]);
    return [ctx.emit1('Or', [pickA, pickB])];
  },
  equal: direct('Equal'),
  greater: direct('Greater'),
  less: direct('Less'),
  logicalAnd: direct('And'),
  logicalOr: direct('Or'),
  logicalNot: direct('Not'),
  // ONNX Cast: float -> int truncates toward zero, anything -> bool is x != 0, bool -> float is 0/1.
  cast: (ctx, _n, [x], a) => [ctx.emit1('Cast', [x!], { to: attr.int(ONNX_DTYPE[a.to]) })],
  layerNorm: (ctx, _n, [x, gamma, beta], a) => [
    ctx.emit1('LayerNormalization', [x!, gamma!, beta!], { axis: attr.int(-1), epsilon: attr.float(a.epsilon) }),
  ],
  l2Normalize: (ctx, _n, [x], a) => {
    const sumSq = ctx.emit1('ReduceSum', [ctx.emit1('Mul', [x!, x!]), ctx.int64s([a.axis])], { keepdims: attr.int(1) });
    const norm = ctx.emit1('Max', [ctx.emit1('Sqrt', [sumSq]), ctx.scalar(a.epsilon)]);
    return [ctx.emit1('Div', [x!, norm])];
  },
  constant: (ctx, _n, _in, a) => [ctx.constant(a.dtype, a.shape, a.values)],
  stopGradient: direct('Identity'),
};
