/**
 * What a lowering sees while it turns one IR node into ONNX nodes: a way to emit nodes and
 * constants with names traced back to the IR node, the IR dtypes/shapes of its inputs and
 * outputs, and run-time shape tensors for symbolic dims.
 */
import type { onnx as O } from 'onnx-proto';
import type { DType, Dim, Graph, NodeDecl, OpAttrs, OpName, ValueInfo } from '@lctr/spec';

/** An ONNX attribute value, tagged with its ONNX kind (an int and a float cannot be told apart in JS). */
export type OnnxAttr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'graph'; readonly value: O.IGraphProto };

export const attr = {
  int: (value: number): OnnxAttr => ({ kind: 'int', value }),
  float: (value: number): OnnxAttr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): OnnxAttr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttr => ({ kind: 'floats', value }),
  string: (value: string): OnnxAttr => ({ kind: 'string', value }),
};

export interface LowerCtx {
  /** The default-domain opset the model is written for. */
  readonly opset: number;
  readonly graph: Graph;
  /** IR dtype/shape of the current node's inputs, in order. */
  readonly inputInfo: readonly ValueInfo[];
  /** IR dtype/shape of the current node's outputs, in order. */
  readonly outputInfo: readonly ValueInfo[];
  /**
   * Emit one ONNX node (named after the current IR node) and return its output names
   * (`outputs` of them, 1 by default). Attributes are tagged with their ONNX kind.
   */
  emit(opType: string, inputs: readonly string[], attrs?: Readonly<Record<string, OnnxAttr>>, outputs?: number): string[];
  /** emit() for a node with one output. */
  emit1(opType: string, inputs: readonly string[], attrs?: Readonly<Record<string, OnnxAttr>>): string;
  /** A constant tensor (an initializer) of an IR dtype; values may hold NaN and +-Infinity. */
  constant(dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>): string;
  /** A float32 scalar constant. */
  scalar(value: number): string;
  /** A 1-D int64 constant (axes, starts, K, ...). */
  int64s(values: readonly number[]): string;
  /**
   * A 1-D int64 tensor holding the run-time values of dims; symbolic dims are read once per
   * symbol from the shape of the first graph input that carries it, products are multiplied out.
   */
  shapeTensor(dims: readonly Dim[]): string;
  /**
   * A subgraph for a control-flow attribute (an If branch): `build` emits its nodes through the
   * context it is given (outer values and constants are in scope) and returns the names of its
   * outputs, whose dtypes are `outputs`.
   */
  branch(name: string, outputs: readonly DType[], build: (sub: LowerCtx) => readonly string[]): OnnxAttr;
}

/** Lower one IR node: returns the ONNX names of its outputs, in the IR node's output order. */
export type Lowering<N extends OpName> = (ctx: LowerCtx, node: NodeDecl, inputs: readonly string[], attrs: OpAttrs[N]) => string[];

/**
 * The lowerings of one op by the first opset they are written for (tf2onnx style): the exporter
 * takes the highest version not above the target opset, so a newer opset adds a key, not a branch.
 */
export type VersionedLowering<N extends OpName> = { readonly [sinceOpset: number]: Lowering<N> };

/** Every op of the vocabulary, each with at least one version: a missing op does not compile. */
export type LoweringTable = { readonly [N in OpName]: VersionedLowering<N> };

/** The lowerings picked for one target opset. */
export type ResolvedLowerings = { readonly [N in OpName]: Lowering<N> };
