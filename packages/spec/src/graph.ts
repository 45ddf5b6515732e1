import type { DType, HostTensor } from './dtype.ts';
import type { Dim, Shape } from './dims.ts';
import type { OpName, ValueInfo } from './ops.ts';

/** How a parameter's first values are drawn (deterministic given the graph seed and its name). */
export type Initializer =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'xavierUniform'; readonly gain?: number }
  | { readonly kind: 'normal'; readonly mean?: number; readonly std: number; readonly seed?: number }
  | { readonly kind: 'uniform'; readonly min: number; readonly max: number; readonly seed?: number };

export interface InputDecl {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}
export interface ParamDecl {
  readonly name: string;
  readonly dtype: 'float32';
  readonly shape: readonly number[];
  readonly init: Initializer;
}
export interface ValueDecl extends ValueInfo {
  readonly id: string;
}
export interface NodeDecl {
  readonly id: string;
  readonly op: OpName;
  /** value ids: graph input names, parameter names, or node outputs 'nodeId:k'. */
  readonly inputs: readonly string[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly outputs: readonly ValueDecl[];
}

/** A feature schema: the inputs a model takes, with dtypes and (possibly symbolic) shapes. */
export type FeatureSchema = { readonly [name: string]: { readonly dtype: DType; readonly shape: Shape } };

/** The inputs record that `run` accepts for a schema: one host tensor per feature, of its dtype. */
export type InputsOf<S extends FeatureSchema> = { [K in keyof S]: HostTensor<S[K]['dtype']> };

/** A recorded graph: plain data (JSON-ready); S and O only type the inputs and outputs for callers. */
export interface Graph<S extends FeatureSchema = FeatureSchema, O extends string = string> {
  readonly name: string;
  readonly inputs: readonly InputDecl[];
  readonly params: readonly ParamDecl[];
  readonly nodes: readonly NodeDecl[];
  /** output name -> value id */
  readonly outputs: Readonly<Record<O, string>>;
  /** free-form JSON metadata (model name, config) carried through serialization. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** phantom: never set, only carries the schema and output names in the type. */
  readonly __types?: { schema: S; outputs: O };
}

export type OutputsOf<G> = G extends Graph<FeatureSchema, infer O> ? O : never;
export type SchemaOf<G> = G extends Graph<infer S, string> ? S : never;

/** Weights keyed by parameter path; the same keys in every backend and in the safetensors file. */
export type Weights = ReadonlyMap<string, HostTensor<'float32'>>;

const valueTables = new WeakMap<Graph, Map<string, ValueInfo>>();

/** dtype/shape of every value (inputs, params, node outputs) by id. */
export function valueTable(g: Graph): ReadonlyMap<string, ValueInfo> {
  let t = valueTables.get(g as Graph);
  if (!t) {
    t = new Map();
    for (const i of g.inputs) t.set(i.name, { dtype: i.dtype, shape: i.shape });
    for (const p of g.params) t.set(p.name, { dtype: p.dtype, shape: p.shape });
    for (const n of g.nodes) for (const o of n.outputs) t.set(o.id, { dtype: o.dtype, shape: o.shape });
    valueTables.set(g as Graph, t);
  }
  return t;
}

export function valueInfo(g: Graph, id: string): ValueInfo {
  const v = valueTable(g).get(id);
  if (!v) throw new Error(`graph '${g.name}' has no value '${id}'`);
  return v;
}
