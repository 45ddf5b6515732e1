/**
 * What a lowering sees while it turns one IR node into a Python expression of the generated
 * module: the Python names of its inputs, their IR dtypes and shapes, and ways to spell shapes
 * (symbolic dims become locals read from the inputs) and constants (non-persistent buffers).
 */
import type { DType, Dim, NodeDecl, OpAttrs, OpName, ValueInfo } from '@lctr/spec';

export interface TorchCtx {
  /** IR dtype/shape of the current node's inputs, in order. */
  readonly inputInfo: readonly ValueInfo[];
  /** IR dtype/shape of the current node's outputs, in order. */
  readonly outputInfo: readonly ValueInfo[];
  /** A Python tuple expression for a shape; symbolic dims ('batch', '4*seq') read the run-time sizes. */
  shape(dims: readonly Dim[]): string;
  /** A Python expression for a constant tensor of an IR dtype (registered once as a non-persistent buffer). */
  constant(dtype: DType, shape: readonly number[], values: readonly number[]): string;
}

/**
 * Lower one IR node: a Python expression of its value (one output) or of a tuple of its values
 * (several outputs, in the IR node's output order). `inputs` are Python expressions.
 */
export type TorchLowering<N extends OpName> = (ctx: TorchCtx, node: NodeDecl, inputs: readonly string[], attrs: OpAttrs[N]) => string;

/** Every op of the vocabulary: a missing op does not compile. */
export type TorchLoweringTable = { readonly [N in OpName]: TorchLowering<N> };

/** The torch dtype of an IR dtype; float32 values compute in the module's dtype (float64 or float32). */
export const TORCH_DTYPE: Readonly<Record<DType, string>> = {
  float32: 'DTYPE',
  int32: 'torch.int32',
  int64: 'torch.int64',
  bool: 'torch.bool',
};

/** A JS number as a Python float literal (NaN, +-Infinity and -0 included). */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'math.nan';
  if (v === Infinity) return 'math.inf';
  if (v === -Infinity) return '-math.inf';
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** A JS number as a Python literal of an IR dtype. */
export function pyLiteral(dtype: DType, v: number): string {
  if (dtype === 'float32') return pyFloat(v);
  if (dtype === 'bool') return v ? 'True' : 'False';
  return String(Math.trunc(v));
}
