/**
 * The graph builder: records nodes, checking each op's attributes, dtypes and shapes at the
 * moment it is added. Value handles carry their dtype in the type, so an int tensor passed where
 * a float is expected fails to compile; untyped paths (JSON loading) are checked at run time.
 */
import type { DType, IntDType, NumericDType } from './dtype.ts';
import { type Dim, type Shape, canonicalDim, formatShape, isSymbolName, symbolsOf } from './dims.ts';
import { OPS, type OpAttrs, type OpDef, type OpName, ShapeRuleError, type ValueInfo, checkAttrValue, isOpName } from './ops.ts';
import type { FeatureSchema, Graph, Initializer, InputDecl, NodeDecl, ParamDecl } from './graph.ts';

/** A value in a graph under construction; D is its dtype, known to the type checker. */
export interface Value<D extends DType = DType> {
  readonly id: string;
  readonly dtype: D;
  readonly shape: Shape;
}
export type Float = Value<'float32'>;
export type Int = Value<IntDType>;
export type Bool = Value<'bool'>;

/** An error while building or loading a graph; names the node, the op and the shapes involved. */
export class GraphError extends Error {
  constructor(
    message: string,
    readonly node?: string,
    readonly op?: string,
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

export const init = {
  zeros: (): Initializer => ({ kind: 'zeros' }),
  ones: (): Initializer => ({ kind: 'ones' }),
  constant: (value: number): Initializer => ({ kind: 'constant', value }),
  xavierUniform: (gain = 1): Initializer => (gain === 1 ? { kind: 'xavierUniform' } : { kind: 'xavierUniform', gain }),
  normal: (std: number, mean = 0, seed?: number): Initializer => ({ kind: 'normal', mean, std, ...(seed === undefined ? {} : { seed }) }),
  uniform: (min: number, max: number, seed?: number): Initializer => ({
    kind: 'uniform',
    min,
    max,
    ...(seed === undefined ? {} : { seed }),
  }),
};

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*(\/[A-Za-z_][A-Za-z0-9_.-]*)*$/;
type Attrs<N extends OpName> = Partial<OpAttrs[N]>;

function describe(v: ValueInfo, name?: string): string {
  return `${name ? `${name}: ` : ''}${v.dtype}${formatShape(v.shape)}`;
}

export class GraphBuilder<S extends FeatureSchema = FeatureSchema> {
  /** Handles for the schema's inputs, typed by the schema. */
  readonly inputs: { readonly [K in keyof S]: Value<S[K]['dtype']> };
  private readonly inputDecls: InputDecl[] = [];
  private readonly paramDecls: ParamDecl[] = [];
  private readonly nodes: NodeDecl[] = [];
  private readonly values = new Map<string, Value>();
  private readonly scopes: string[] = [];
  private counter = 0;
  /** symbolic names the inputs bind at run time; shape attributes may use only these */
  private readonly inputSymbols = new Set<string>();

  constructor(
    readonly name: string,
    schema: S,
  ) {
    const inputs: Record<string, Value> = {};
    for (const [key, decl] of Object.entries(schema)) {
      if (!NAME.test(key) || key.includes('/'))
        throw new GraphError(`input name '${key}' is not valid: use letters, digits, '_', '.', '-'`);
      const shape = decl.shape.map((d, i) => {
        if (typeof d === 'string' && !isSymbolName(d))
          throw new GraphError(`input '${key}' dim ${i} is '${d}': input dims must be integers or plain symbolic names`);
        try {
          return canonicalDim(d);
        } catch (e) {
          throw new GraphError(`input '${key}': ${(e as Error).message}`);
        }
      });
      const v: Value = Object.freeze({ id: key, dtype: decl.dtype, shape: Object.freeze(shape) });
      this.inputDecls.push({ name: key, dtype: decl.dtype, shape });
      for (const d of shape) if (typeof d === 'string') this.inputSymbols.add(d);
      this.values.set(key, v);
      inputs[key] = v;
    }
    this.inputs = inputs as GraphBuilder<S>['inputs'];
  }

  /** Run fn with names prefixed by `name/` (parameters and node ids), e.g. scope('lap', () => scope('msa', ...)). */
  scope<T>(name: string, fn: () => T): T {
    if (!NAME.test(name) || name.includes('/')) throw new GraphError(`scope name '${name}' is not valid`);
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private scoped(name: string): string {
    return [...this.scopes, name].join('/');
  }

  /** Declare a float32 parameter under the current scope. Shapes of parameters are static. */
  param(name: string, shape: readonly number[], initializer: Initializer = init.xavierUniform()): Float {
    const full = this.scoped(name);
    if (!NAME.test(full)) throw new GraphError(`parameter name '${full}' is not valid`);
    if (this.values.has(full)) throw new GraphError(`name '${full}' is already used in graph '${this.name}'`);
    if (!shape.every((d) => Number.isInteger(d) && d > 0))
      throw new GraphError(`parameter '${full}' needs a static positive shape, got ${formatShape(shape)}`);
    const v: Float = Object.freeze({ id: full, dtype: 'float32', shape: Object.freeze([...shape]) });
    this.paramDecls.push({ name: full, dtype: 'float32', shape: [...shape], init: initializer });
    this.values.set(full, v);
    return v;
  }

  /** Whether a value (input, parameter or node output) with this id exists. */
  has(id: string): boolean {
    return this.values.has(id);
  }

  /** Look a value up by id (for code that builds from data, e.g. JSON). */
  value(id: string): Value {
    const v = this.values.get(id);
    if (!v) throw new GraphError(`graph '${this.name}' has no value '${id}'`);
    return v;
  }

  /**
   * Add a node by op name, untyped: checks op, arity, attributes, dtypes and shapes and throws a
   * GraphError naming the node, the op and the shapes on any mismatch.
   */
  node(op: string, inputs: readonly Value[], attrs: Readonly<Record<string, unknown>> = {}, id?: string): Value[] {
    const nodeId = id ?? this.scoped(`${op}_${this.counter++}`);
    if (!isOpName(op)) {
      throw new GraphError(`node '${nodeId}': unknown op '${op}'; known ops: ${Object.keys(OPS).join(', ')}`, nodeId, op);
    }
    const def = OPS[op] as OpDef;
    const at = (msg: string) =>
      new GraphError(
        `node '${nodeId}' (${op})` +
          `${inputs.length ? ` with inputs ${inputs.map((v, i) => describe(v, def.inputs[Math.min(i, def.inputs.length - 1)]?.name)).join(', ')}` : ''}: ${msg}`,
        nodeId,
        op,
      );
    if (this.nodes.some((n) => n.id === nodeId) || this.values.has(nodeId)) throw at(`node id '${nodeId}' is already used`);
    for (const v of inputs) {
      if (this.values.get(v.id) !== v) throw at(`input value '${v.id}' does not belong to graph '${this.name}'`);
    }
    const required = def.inputs.filter((s) => !s.optional).length;
    const variadic = op === 'concat';
    if (variadic ? inputs.length < 1 : inputs.length < required || inputs.length > def.inputs.length) {
      const want = variadic ? 'at least 1' : required === def.inputs.length ? `${required}` : `${required} to ${def.inputs.length}`;
      throw at(
        `expects ${want} input${want === '1' ? '' : 's'} (${def.inputs.map((s) => s.name + (s.optional ? '?' : '')).join(', ')}), got ` +
          `${inputs.length}`,
      );
    }
    const full: Record<string, unknown> = {};
    for (const key of Object.keys(attrs)) {
      if (!(key in def.attrs)) throw at(`unknown attribute '${key}'; ${op} takes ${Object.keys(def.attrs).join(', ') || 'no attributes'}`);
    }
    for (const [key, adef] of Object.entries(def.attrs) as Array<
      [string, { kind: Parameters<typeof checkAttrValue>[0]; default?: unknown }]
    >) {
      const v = attrs[key] ?? adef.default;
      if (v === undefined) throw at(`attribute '${key}' is required`);
      const err = checkAttrValue(adef.kind, v);
      if (err) throw at(`attribute '${key}': ${err}`);
      full[key] = v;
    }
    if (op === 'reshape' || op === 'expand') {
      const unbound = (full['shape'] as Dim[]).flatMap(symbolsOf).filter((n) => !this.inputSymbols.has(n));
      if (unbound.length)
        throw at(
          `symbolic dim(s) ${unbound.map((n) => `'${n}'`).join(', ')} in the target shape are not dims of any graph input, so nothing ` +
            `gives them a value at run time (inputs bind: ${[...this.inputSymbols].join(', ') || 'none'})`,
        );
    }
    let outs: ValueInfo[];
    let normalized: Record<string, unknown>;
    try {
      normalized = def.normalize ? (def.normalize(inputs, full as never) as Record<string, unknown>) : full;
      outs = def.infer(inputs, normalized as never);
    } catch (e) {
      if (e instanceof ShapeRuleError) throw at(e.message);
      throw e;
    }
    const outputs = outs.map((o, k) => ({ id: `${nodeId}:${k}`, dtype: o.dtype, shape: o.shape.map(canonicalDim) }));
    this.nodes.push({ id: nodeId, op, inputs: inputs.map((v) => v.id), attrs: normalized, outputs });
    return outputs.map((o) => {
      const v: Value = Object.freeze({ id: o.id, dtype: o.dtype, shape: Object.freeze(o.shape) });
      this.values.set(o.id, v);
      return v;
    });
  }

  private one<N extends OpName, D extends DType>(op: N, inputs: readonly Value[], attrs: Attrs<N> = {}): Value<D> {
    return this.node(op, inputs, attrs as Record<string, unknown>)[0] as Value<D>;
  }

  // ---- typed op methods: one per op of the vocabulary ----
  matmul(a: Float, b: Float): Float {
    return this.one('matmul', [a, b]);
  }
  add<D extends NumericDType>(a: Value<D>, b: Value<D>): Value<D> {
    return this.one('add', [a, b]);
  }
  sub<D extends NumericDType>(a: Value<D>, b: Value<D>): Value<D> {
    return this.one('sub', [a, b]);
  }
  mul<D extends NumericDType>(a: Value<D>, b: Value<D>): Value<D> {
    return this.one('mul', [a, b]);
  }
  div(a: Float, b: Float): Float {
    return this.one('div', [a, b]);
  }
  pow(a: Float, b: Float): Float {
    return this.one('pow', [a, b]);
  }
  maximum<D extends NumericDType>(a: Value<D>, b: Value<D>): Value<D> {
    return this.one('maximum', [a, b]);
  }
  minimum<D extends NumericDType>(a: Value<D>, b: Value<D>): Value<D> {
    return this.one('minimum', [a, b]);
  }
  neg<D extends NumericDType>(x: Value<D>): Value<D> {
    return this.one('neg', [x]);
  }
  abs(x: Float): Float {
    return this.one('abs', [x]);
  }
  exp(x: Float): Float {
    return this.one('exp', [x]);
  }
  log(x: Float): Float {
    return this.one('log', [x]);
  }
  sqrt(x: Float): Float {
    return this.one('sqrt', [x]);
  }
  relu(x: Float): Float {
    return this.one('relu', [x]);
  }
  sigmoid(x: Float): Float {
    return this.one('sigmoid', [x]);
  }
  tanh(x: Float): Float {
    return this.one('tanh', [x]);
  }
  softplus(x: Float): Float {
    return this.one('softplus', [x]);
  }
  elu(x: Float, alpha = 1): Float {
    return this.one('elu', [x], { alpha });
  }
  softmax(x: Float, axis = -1): Float {
    return this.one('softmax', [x], { axis });
  }
  logSoftmax(x: Float, axis = -1): Float {
    return this.one('logSoftmax', [x], { axis });
  }
  reduceSum(x: Float, axes: number | readonly number[], keepDims = false): Float {
    return this.one('reduceSum', [x], { axes: ([] as number[]).concat(axes), keepDims });
  }
  reduceMean(x: Float, axes: number | readonly number[], keepDims = false): Float {
    return this.one('reduceMean', [x], { axes: ([] as number[]).concat(axes), keepDims });
  }
  reduceMax(x: Float, axes: number | readonly number[], keepDims = false): Float {
    return this.one('reduceMax', [x], { axes: ([] as number[]).concat(axes), keepDims });
  }
  concat<D extends DType>(xs: readonly Value<D>[], axis = -1): Value<D> {
    return this.one('concat', xs, { axis });
  }
  reshape<D extends DType>(x: Value<D>, shape: readonly Dim[]): Value<D> {
    return this.one('reshape', [x], { shape: [...shape] });
  }
  transpose<D extends DType>(x: Value<D>, perm: readonly number[]): Value<D> {
    return this.one('transpose', [x], { perm: [...perm] });
  }
  slice<D extends DType>(x: Value<D>, starts: readonly number[], ends: readonly number[], axes: readonly number[]): Value<D> {
    return this.one('slice', [x], { starts: [...starts], ends: [...ends], axes: [...axes] });
  }
  expand<D extends DType>(x: Value<D>, shape: readonly Dim[]): Value<D> {
    return this.one('expand', [x], { shape: [...shape] });
  }
  gather<D extends DType>(table: Value<D>, indices: Int, axis = 0): Value<D> {
    return this.one('gather', [table, indices], { axis });
  }
  gatherAlongAxis<D extends DType>(x: Value<D>, indices: Int, axis = 1): Value<D> {
    return this.one('gatherAlongAxis', [x, indices], { axis });
  }
  /** gatherAlongAxis' adjoint: updates added into zeros of `size` along axis at indices (repeats sum). */
  scatterAlongAxis(updates: Float, indices: Int, size: number, axis = 1): Float {
    return this.one('scatterAlongAxis', [updates, indices], { axis, size });
  }
  /** k largest along the last axis; masked positions come after every valid one. No gradient. */
  topk(x: Float, k: number, mask?: Bool): { values: Float; indices: Value<'int32'> } {
    const [values, indices] = this.node('topk', mask ? [x, mask] : [x], { k });
    return { values: values as Float, indices: indices as Value<'int32'> };
  }
  where<D extends DType>(cond: Bool, a: Value<D>, b: Value<D>): Value<D> {
    return this.one('where', [cond, a, b]);
  }
  equal<D extends NumericDType>(a: Value<D>, b: Value<D>): Bool {
    return this.one('equal', [a, b]);
  }
  greater<D extends NumericDType>(a: Value<D>, b: Value<D>): Bool {
    return this.one('greater', [a, b]);
  }
  less<D extends NumericDType>(a: Value<D>, b: Value<D>): Bool {
    return this.one('less', [a, b]);
  }
  logicalAnd(a: Bool, b: Bool): Bool {
    return this.one('logicalAnd', [a, b]);
  }
  logicalOr(a: Bool, b: Bool): Bool {
    return this.one('logicalOr', [a, b]);
  }
  logicalNot(x: Bool): Bool {
    return this.one('logicalNot', [x]);
  }
  cast<T extends DType>(x: Value, to: T): Value<T> {
    return this.one('cast', [x], { to });
  }
  layerNorm(x: Float, gamma: Float, beta: Float, epsilon = 1e-5): Float {
    return this.one('layerNorm', [x, gamma, beta], { epsilon });
  }
  l2Normalize(x: Float, axis = -1, epsilon = 1e-12): Float {
    return this.one('l2Normalize', [x], { axis, epsilon });
  }
  constant<T extends DType = 'float32'>(
    values: number | readonly number[],
    shape: readonly number[] = [],
    dtype: T = 'float32' as T,
  ): Value<T> {
    const vals = typeof values === 'number' ? [values] : [...values];
    return this.one('constant', [], { dtype, shape: [...shape], values: vals });
  }
  /** A float32 scalar constant, the common case in blocks (scales, epsilons). */
  scalar(v: number): Float {
    return this.constant(v);
  }
  stopGradient<D extends DType>(x: Value<D>): Value<D> {
    return this.one('stopGradient', [x]);
  }

  /** Check a value's dtype at run time and narrow its type (for values from untyped code). */
  expectDtype<T extends DType>(v: Value, dtype: T): Value<T> {
    if (v.dtype !== dtype) throw new GraphError(`value '${v.id}' is ${v.dtype}${formatShape(v.shape)}, expected ${dtype}`);
    return v as Value<T>;
  }

  /** Finish: name the outputs. The builder can keep going and build again (e.g. train and serve graphs). */
  build<O extends string>(outputs: { readonly [K in O]: Value }, meta: Record<string, unknown> = {}): Graph<S, O> {
    const outs: Record<string, string> = {};
    for (const [name, v] of Object.entries(outputs) as Array<[string, Value]>) {
      if (this.values.get(v.id) !== v) throw new GraphError(`output '${name}' is not a value of graph '${this.name}'`);
      // one name space in ONNX: an output may reuse an input's or a parameter's name only for that same value
      if (this.values.has(name) && this.values.get(name) !== v)
        throw new GraphError(
          `output name '${name}' is already the name of an input or parameter of graph '${this.name}' but would hold value '${v.id}'`,
        );
      outs[name] = v.id;
    }
    if (Object.keys(outs).length === 0) throw new GraphError(`graph '${this.name}' needs at least one output`);
    return pruneGraph({
      name: this.name,
      inputs: this.inputDecls.map((i) => ({ ...i, shape: [...i.shape] })),
      params: this.paramDecls.map((p) => ({ ...p, shape: [...p.shape] })),
      nodes: [...this.nodes],
      outputs: outs as Record<O, string>,
      meta: JSON.parse(JSON.stringify(meta)) as Record<string, unknown>,
    });
  }
}

/** Drop nodes and parameters the outputs do not depend on (inputs of the schema are kept). */
export function pruneGraph<G extends Graph>(g: G): G {
  const live = new Set<string>(Object.values(g.outputs) as string[]);
  const keep: NodeDecl[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => live.has(o.id))) {
      keep.push(n);
      for (const id of n.inputs) live.add(id);
    }
  }
  keep.reverse();
  return { ...g, nodes: keep, params: g.params.filter((p) => live.has(p.name)) };
}
