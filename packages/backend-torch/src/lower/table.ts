/**
 * The lowering table: one Python expression per op of the vocabulary, typed over every OpName so
 * an op added to the spec without a lowering here does not compile. Where torch's own op or its
 * autograd rule differs from the spec, the expression calls a helper of the prelude (src/prelude.ts)
 * that states the difference; everything else is the obvious torch call.
 */
import type { OpName } from '@lctr/spec';
import { TORCH_DTYPE, type TorchLowering, type TorchLoweringTable, pyFloat } from './context.ts';

const call =
  (fn: string) =>
  (_: unknown, __: unknown, [x]: readonly string[]) =>
    `${fn}(${x})`;
const infix =
  (op: string) =>
  (_: unknown, __: unknown, [a, b]: readonly string[]) =>
    `${a} ${op} ${b}`;
const tuple = (xs: readonly number[]) => `(${xs.join(', ')}${xs.length === 1 ? ',' : ''})`;

export const LOWERINGS: TorchLoweringTable = {
  matmul: (_, __, [a, b]) => `torch.matmul(${a}, ${b})`,
  add: infix('+'),
  sub: infix('-'),
  mul: infix('*'),
  div: infix('/'),
  pow: (_, __, [a, b]) => `_pow(${a}, ${b})`,
  maximum: (_, __, [a, b]) => `_maximum(${a}, ${b})`,
  minimum: (_, __, [a, b]) => `_minimum(${a}, ${b})`,
  neg: (_, __, [x]) => `-${x}`,
  abs: call('torch.abs'),
  exp: call('torch.exp'),
  log: call('torch.log'),
  sqrt: call('torch.sqrt'),
  relu: call('torch.relu'),
  sigmoid: call('torch.sigmoid'),
  tanh: call('torch.tanh'),
  softplus: call('_softplus'),
  elu: (_, __, [x], { alpha }) => `F.elu(${x}, alpha=${pyFloat(alpha)})`,
  softmax: (_, __, [x], { axis }) => `torch.softmax(${x}, dim=${axis})`,
  logSoftmax: (_, __, [x], { axis }) => `torch.log_softmax(${x}, dim=${axis})`,
  reduceSum: (_, __, [x], { axes, keepDims }) => `torch.sum(${x}, dim=${tuple(axes)}, keepdim=${keepDims ? 'True' : 'False'})`,
  // torch.mean of an empty axis is NaN, as the spec's 0 / 0
  reduceMean: (_, __, [x], { axes, keepDims }) => `torch.mean(${x}, dim=${tuple(axes)}, keepdim=${keepDims ? 'True' : 'False'})`,
  reduceMax: (_, __, [x], { axes, keepDims }) => `_reduce_max(${x}, ${tuple(axes)}, ${keepDims ? 'True' : 'False'})`,
  concat: (_, __, xs, { axis }) => `torch.cat([${xs.join(', ')}], dim=${axis})`,
  // the IR output shape (no -1 left), so a run-time 0 stays a 0
  reshape: (ctx, _, [x]) => `${x}.reshape(${ctx.shape(ctx.outputInfo[0]!.shape)})`,
  transpose: (_, __, [x], { perm }) => `${x}.permute${tuple(perm)}`,
  slice: (ctx, _, [x], { starts, ends, axes }) => {
    const parts = ctx.inputInfo[0]!.shape.map((__, i) => {
      const k = axes.indexOf(i);
      return k < 0 ? ':' : `${starts[k]}:${ends[k]}`;
    });
    while (parts.length > 0 && parts[parts.length - 1] === ':') parts.pop();
    return `${x}[${parts.join(', ')}]`;
  },
  // numpy broadcasting both ways (like ONNX Expand): the IR output shape is the broadcast already
  expand: (ctx, _, [x]) => `torch.broadcast_to(${x}, ${ctx.shape(ctx.outputInfo[0]!.shape)})`,
  gather: (_, node, [table, ids], { axis }) => `_lookup(${table}, ${ids}, ${axis}, ${JSON.stringify(node.id)})`,
  gatherAlongAxis: (_, __, [x, ids], { axis }) => `_gather_along(${x}, ${ids}, ${axis})`,
  scatterAlongAxis: (_, __, [u, ids], { axis, size }) => `_scatter_along(${u}, ${ids}, ${axis}, ${size})`,
  topk: (_, __, [x, mask], { k }) => `_topk(${x}, ${mask ?? 'None'}, ${k})`,
  where: (_, __, [c, a, b]) => `torch.where(${c}, ${a}, ${b})`,
  equal: infix('=='),
  greater: infix('>'),
  less: infix('<'),
  logicalAnd: (_, __, [a, b]) => `torch.logical_and(${a}, ${b})`,
  logicalOr: (_, __, [a, b]) => `torch.logical_or(${a}, ${b})`,
  logicalNot: call('torch.logical_not'),
  cast: (ctx, _, [x], { to }) => {
    const from = ctx.inputInfo[0]!.dtype;
    if (to === 'bool') return `${x} != 0`; // NaN != 0 is true, as in the spec
    if (to === 'float32') return `${x}.to(DTYPE)`;
    return from === 'float32' ? `_float_to_int(${x}, ${TORCH_DTYPE[to]})` : `${x}.to(${TORCH_DTYPE[to]})`;
  },
  layerNorm: (_, __, [x, gamma, beta], { epsilon }) => `F.layer_norm(${x}, ${x}.shape[-1:], ${gamma}, ${beta}, eps=${pyFloat(epsilon)})`,
  // x / max(||x||, eps); vector_norm's gradient is 0 at a zero row (sqrt's would be 0 / 0)
  l2Normalize: (_, __, [x], { axis, epsilon }) => `F.normalize(${x}, p=2.0, dim=${axis}, eps=${pyFloat(epsilon)})`,
  constant: (ctx, _, __, { dtype, shape, values }) => ctx.constant(dtype, shape, values),
  stopGradient: (_, __, [x]) => `${x}.detach()`,
};

/** One op's lowering, typed by its name. */
export function loweringOf<N extends OpName>(op: N): TorchLowering<N> {
  return LOWERINGS[op] as TorchLowering<N>;
}
