/**
 * Graph IR -> ONNX ModelProto (IR version 8, default-domain opset 17).
 *
 * Names: graph inputs and outputs keep their IR names; parameters become float32 initializers
 * named by their parameter path; every other value keeps its IR id ('node:0'); the ONNX nodes of
 * one IR node are named after it ('lap/topk_7', or 'lap/topk_7/TopK' when it takes several), so
 * an error from a checker or a runtime points back at the IR node.
 */
import type { onnx as O } from 'onnx-proto';
import {
  type DType,
  type Dim,
  type Graph,
  type NodeDecl,
  type OpName,
  type ValueInfo,
  type Weights,
  canonicalDim,
  checkWeights,
  valueInfo,
} from '@lctr/spec';
import type { LowerCtx, OnnxAttr, ResolvedLowerings } from './lower/context.ts';
import { loweringsFor } from './lower/table.ts';
import { convertToFloat16 } from './float16.ts';
import { type Int8Options, type Int8Summary, convertToInt8 } from './int8.ts';
import { DEFAULT_OPSET, IR_VERSION, ONNX_DTYPE, type SupportedOpset, nodesWithin, onnx, rawBytes } from './proto.ts';

export const PRODUCER_NAME = '@lctr/backend-onnx';
export const PRODUCER_VERSION = '0.1.0';

export interface ExportOptions {
  /** Target default-domain opset; only 17 is written (pinned). */
  opset?: SupportedOpset;
  /** Stored as the model's doc_string. */
  docString?: string;
  /**
   * 'float32' (default); 'float16': float tensors inside the graph in half precision (float16.ts);
   * 'int8': the products by wide weights dynamically quantized (int8.ts). The graph's inputs and
   * outputs are unchanged; check either against float32 with its own bar.
   */
  precision?: Precision;
  /** options of the int8 pass (precision 'int8') */
  int8?: Int8Options;
}

export type Precision = 'float32' | 'float16' | 'int8';
export const PRECISIONS: readonly Precision[] = ['float32', 'float16', 'int8'];

/** An error while lowering a graph to ONNX; names the IR node and op. */
export class OnnxExportError extends Error {
  constructor(
    message: string,
    readonly node?: string,
    readonly op?: OpName,
  ) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

const ATTR_TYPE = onnx.AttributeProto.AttributeType;

function attributeProto(name: string, a: OnnxAttr): O.IAttributeProto {
  switch (a.kind) {
    case 'int':
      return { name, type: ATTR_TYPE.INT, i: a.value };
    case 'float':
      return { name, type: ATTR_TYPE.FLOAT, f: a.value };
    case 'ints':
      return { name, type: ATTR_TYPE.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: ATTR_TYPE.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(a.value) };
    case 'graph':
      return { name, type: ATTR_TYPE.GRAPH, g: a.value };
  }
}

function valueInfoProto(name: string, v: ValueInfo): O.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: String(canonicalDim(d)) })) },
      },
    },
  };
}

function tensorProto(name: string, dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>): O.ITensorProto {
  return { name, dataType: ONNX_DTYPE[dtype], dims: [...shape], rawData: rawBytes(dtype, values) };
}

/** A symbolic dim split into its integer coefficient and symbol factors ('4*seq*seq' -> 4, [seq, seq]). */
function factors(d: Dim): { coef: number; symbols: string[] } {
  const parts = String(canonicalDim(d)).split('*');
  let coef = 1;
  const symbols: string[] = [];
  for (const p of parts) {
    if (/^\d+$/.test(p)) coef *= Number(p);
    else symbols.push(p);
  }
  return { coef, symbols };
}

/** Builds one ModelProto; holds the name space, the node list and the shared run-time dim tensors. */
class ModelWriter {
  private readonly used = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly names = new Map<string, string>();
  readonly nodes: O.INodeProto[] = [];
  readonly initializers: O.ITensorProto[] = [];
  private readonly dimTensors = new Map<string, string>();
  private readonly symbolSource = new Map<string, { input: string; axis: number }>();
  /** Output name -> IR value id, for outputs that need an Identity (inputs, params, shared values). */
  private readonly identityOutputs: Array<[string, string]> = [];

  constructor(
    readonly graph: Graph,
    readonly opset: number,
  ) {
    const inputNames = new Set(graph.inputs.map((i) => i.name));
    for (const i of graph.inputs) {
      this.reserve(i.name);
      this.names.set(i.name, i.name);
      i.shape.forEach((d, axis) => {
        if (typeof d === 'string' && !this.symbolSource.has(d)) this.symbolSource.set(d, { input: i.name, axis });
      });
    }
    const producedBy = new Map<string, NodeDecl>();
    for (const n of graph.nodes) for (const o of n.outputs) producedBy.set(o.id, n);
    const claimed = new Map<string, string>(); // value id -> output name naming it directly
    for (const [out, id] of Object.entries(graph.outputs) as Array<[string, string]>) {
      if (inputNames.has(out)) {
        if (id !== out)
          throw new OnnxExportError(
            `graph '${graph.name}': output '${out}' has the name of a graph input but is value '${id}'; ONNX names must be unique`,
          );
        continue; // the input itself is the output
      }
      this.reserve(out);
      if (producedBy.has(id) && !claimed.has(id)) claimed.set(id, out);
      else this.identityOutputs.push([out, id]);
    }
    for (const p of graph.params) this.names.set(p.name, this.fresh(p.name));
    for (const n of graph.nodes) for (const o of n.outputs) this.names.set(o.id, claimed.get(o.id) ?? this.fresh(o.id));
  }

  private reserve(name: string): void {
    if (this.used.has(name))
      throw new OnnxExportError(`graph '${this.graph.name}': the name '${name}' is used twice among inputs and outputs`);
    this.used.add(name);
  }

  /** A name not used yet, `base` itself when free. */
  fresh(base: string): string {
    let name = base;
    for (let k = 2; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  nameOf(id: string): string {
    const n = this.names.get(id);
    if (n === undefined) throw new OnnxExportError(`graph '${this.graph.name}' has no value '${id}'`);
    return n;
  }

  private freshNodeName(base: string): string {
    let name = base;
    for (let k = 2; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    this.nodeNames.add(name);
    return name;
  }

  addInitializer(name: string, dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>): void {
    this.initializers.push(tensorProto(name, dtype, shape, values));
  }

  /** The run-time value of one dim as a 1-D int64 tensor of length 1 (shared by all nodes). */
  dimTensor(d: Dim): string {
    const key = String(canonicalDim(d));
    const cached = this.dimTensors.get(key);
    if (cached) return cached;
    let name: string;
    if (typeof d === 'number') {
      name = this.fresh(`dim/${key}`);
      this.addInitializer(name, 'int64', [1], [d]);
    } else {
      const { coef, symbols } = factors(d);
      if (symbols.length === 1 && coef === 1) {
        const src = this.symbolSource.get(key);
        if (!src)
          throw new OnnxExportError(
            `graph '${this.graph.name}': symbolic dim '${key}' is not a dim of any graph input, so its run-time value is unknown`,
          );
        // Shape with start/end (opset 15+) reads one dim as a 1-D int64 tensor of length 1.
        name = this.fresh(`dim/${key}`);
        this.nodes.push({
          name: this.freshNodeName(`dim/${key}`),
          opType: 'Shape',
          input: [src.input],
          output: [name],
          attribute: [
            attributeProto('start', { kind: 'int', value: src.axis }),
            attributeProto('end', { kind: 'int', value: src.axis + 1 }),
          ],
        });
      } else {
        let acc = this.dimTensor(symbols[0]!);
        const rest: Dim[] = [...symbols.slice(1), ...(coef === 1 ? [] : [coef])];
        let sofar: Dim = symbols[0]!;
        for (const f of rest) {
          sofar = canonicalDim(`${sofar}*${f}`);
          const out = this.fresh(`dim/${sofar}`);
          this.nodes.push({ name: this.freshNodeName(`dim/${sofar}`), opType: 'Mul', input: [acc, this.dimTensor(f)], output: [out] });
          acc = out;
        }
        name = acc;
      }
    }
    this.dimTensors.set(key, name);
    return name;
  }

  /** Lower one IR node with its lowering; appends its ONNX nodes. */
  lowerNode(node: NodeDecl, lowerings: ResolvedLowerings): void {
    const own: O.INodeProto[] = [];
    const ownValues = new Set<string>();
    const ownInitializers = new Map<string, O.ITensorProto>();
    let constCount = 0;
    const inputInfo = node.inputs.map((id) => valueInfo(this.graph, id));
    const constant = (dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>): string => {
      const name = this.fresh(`${node.id}/const${constCount++ === 0 ? '' : `_${constCount}`}`);
      const t = tensorProto(name, dtype, shape, values);
      this.initializers.push(t);
      ownInitializers.set(name, t);
      return name;
    };
    // A context emitting into `into`: the node's own list, or a branch's (subgraph nodes get their
    // final names at once; initializers always go to the main graph, which branches see).
    const context = (into: O.INodeProto[], branchName?: string): LowerCtx => {
      const emit = (opType: string, inputs: readonly string[], attrs: Readonly<Record<string, OnnxAttr>> = {}, outputs = 1): string[] => {
        const base = `${branchName ?? node.id}/${opType}`;
        const outs = Array.from({ length: outputs }, (_, k) => this.fresh(outputs === 1 ? base : `${base}:${k}`));
        if (!branchName) for (const o of outs) ownValues.add(o);
        into.push({
          name: branchName ? this.freshNodeName(base) : base,
          opType,
          input: [...inputs],
          output: outs,
          attribute: Object.entries(attrs).map(([k, a]) => attributeProto(k, a)),
        });
        return outs;
      };
      const ctx: LowerCtx = {
        opset: this.opset,
        graph: this.graph,
        inputInfo,
        outputInfo: node.outputs,
        emit,
        emit1: (opType, inputs, attrs) => emit(opType, inputs, attrs, 1)[0]!,
        constant,
        scalar: (v) => constant('float32', [], [v]),
        int64s: (vs) => constant('int64', [vs.length], vs),
        shapeTensor: (dims) => {
          const pieces: string[] = [];
          let run: number[] = [];
          const flush = () => {
            if (run.length) pieces.push(constant('int64', [run.length], run));
            run = [];
          };
          for (const d of dims) {
            if (typeof d === 'number') run.push(d);
            else {
              flush();
              pieces.push(this.dimTensor(d));
            }
          }
          flush();
          if (pieces.length === 0) return constant('int64', [0], []);
          return pieces.length === 1 ? pieces[0]! : emit('Concat', pieces, { axis: { kind: 'int', value: 0 } })[0]!;
        },
        branch: (name, outputs, build) => {
          const sub: O.INodeProto[] = [];
          const full = `${branchName ?? node.id}/${name}`;
          const outs = build(context(sub, full));
          if (outs.length !== outputs.length)
            throw new OnnxExportError(
              `node '${node.id}' (${node.op}): branch '${name}' returned ${outs.length} outputs for ${outputs.length} dtypes`,
              node.id,
              node.op,
            );
          const output = outs.map((o, k) => ({ name: o, type: { tensorType: { elemType: ONNX_DTYPE[outputs[k]!] } } }));
          return { kind: 'graph', value: { name: full, node: sub, output } };
        },
      };
      return ctx;
    };
    const ctx = context(own);

    const lower = lowerings[node.op] as (c: LowerCtx, n: NodeDecl, i: readonly string[], a: unknown) => string[];
    let results: string[];
    try {
      results = lower(
        ctx,
        node,
        node.inputs.map((id) => this.nameOf(id)),
        node.attrs,
      );
    } catch (e) {
      if (e instanceof OnnxExportError) throw e;
      throw new OnnxExportError(
        `node '${node.id}' (${node.op}): lowering to ONNX opset ${this.opset} failed: ${(e as Error).message}`,
        node.id,
        node.op,
      );
    }
    if (results.length !== node.outputs.length) {
      throw new OnnxExportError(
        `node '${node.id}' (${node.op}): the lowering returned ${results.length} outputs, the IR node has ${node.outputs.length}`,
        node.id,
        node.op,
      );
    }
    const outputNames = new Set(Object.keys(this.graph.outputs));
    node.outputs.forEach((o, k) => {
      const want = this.nameOf(o.id);
      const got = results[k]!;
      const once = results.indexOf(got) === k && results.lastIndexOf(got) === k;
      const init = ownInitializers.get(got);
      if (once && ownValues.has(got)) {
        // Rename the value this lowering produced to the IR value's name (branches read it too).
        for (const n of nodesWithin(own)) {
          n.input = n.input!.map((x) => (x === got ? want : x));
          n.output = n.output!.map((x) => (x === got ? want : x));
        }
      } else if (once && init && !outputNames.has(want)) {
        for (const n of nodesWithin(own)) n.input = n.input!.map((x) => (x === got ? want : x));
        init.name = want;
      } else {
        own.push({ name: `${node.id}/Identity`, opType: 'Identity', input: [got], output: [want] });
      }
    });
    // One ONNX node: it takes the IR node's id; several: 'id/OpType' (numbered on repeats).
    if (own.length === 1) own[0]!.name = this.freshNodeName(node.id);
    else for (const n of own) n.name = this.freshNodeName(n.name!);
    this.nodes.push(...own);
  }

  /** Identity nodes for outputs that are inputs, parameters or values already named by another output. */
  finishOutputs(): void {
    for (const [out, id] of this.identityOutputs) {
      this.nodes.push({ name: this.freshNodeName(`output/${out}`), opType: 'Identity', input: [this.nameOf(id)], output: [out] });
    }
  }
}

/** Lower a graph with its weights to an ONNX ModelProto (checks the weights against the graph first). */
export function toModelProto(graph: Graph, weights: Weights, opts: ExportOptions = {}): O.ModelProto {
  return lowerModel(graph, weights, opts).model;
}

/** toModelProto, with what the precision pass did (int8: the products quantized). */
export function lowerModel(graph: Graph, weights: Weights, opts: ExportOptions = {}): { model: O.ModelProto; int8?: Int8Summary } {
  checkWeights(graph, weights);
  const precision = opts.precision ?? 'float32';
  if (!PRECISIONS.includes(precision))
    throw new OnnxExportError(`precision: expected one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(precision)}`);
  const opset = opts.opset ?? DEFAULT_OPSET;
  const lowerings = loweringsFor(opset);
  const w = new ModelWriter(graph, opset);
  for (const p of graph.params) w.addInitializer(w.nameOf(p.name), 'float32', p.shape, weights.get(p.name)!.data);
  for (const node of graph.nodes) w.lowerNode(node, lowerings);
  w.finishOutputs();

  // value_info for every IR value inside the graph (symbolic dims as dim_param, '4*seq' included).
  const skip = new Set<string>([...Object.keys(graph.outputs), ...w.initializers.map((t) => t.name!)]);
  const valueInfos: O.IValueInfoProto[] = [];
  for (const n of graph.nodes) {
    for (const o of n.outputs) if (!skip.has(w.nameOf(o.id))) valueInfos.push(valueInfoProto(w.nameOf(o.id), o));
  }
  const graphProto: O.IGraphProto = {
    name: graph.name,
    input: graph.inputs.map((i) => valueInfoProto(i.name, i)),
    output: (Object.entries(graph.outputs) as Array<[string, string]>).map(([name, id]) => valueInfoProto(name, valueInfo(graph, id))),
    initializer: w.initializers,
    node: w.nodes,
    valueInfo: valueInfos,
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    docString: opts.docString ?? '',
    graph: graphProto,
    metadataProps: [
      { key: 'lctr.graph', value: graph.name },
      { key: 'lctr.meta', value: JSON.stringify(graph.meta) },
      ...(precision !== 'float32' ? [{ key: 'lctr.precision', value: precision }] : []),
    ],
  });
  if (precision === 'float16') convertToFloat16(model);
  return precision === 'int8' ? { model, int8: convertToInt8(model, opts.int8) } : { model };
}

/** Lower a graph with its weights to serialized ONNX bytes (a .onnx file's content). */
export function exportOnnx(graph: Graph, weights: Weights, opts: ExportOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(graph, weights, opts)).finish();
}

/** Decode ONNX bytes (for inspection and tests). */
export function decodeModel(bytes: Uint8Array): O.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
