/**
 * The request schema of a serving graph: which JSON fields a request carries, their dtypes and
 * shapes, and the id range of every integer feature that indexes an embedding table.
 *
 * Two layouts (the exporter's, see heldout.ts' servingLayoutOf):
 * - request (per-request models, lifelong): user-side inputs lead with 1 and come once in `user`
 *   without that 1; candidate inputs lead with 'cand' and come in each `candidates[i]` without it.
 * - batch (demo, avgpool, din): every input leads with 'batch'; each `samples[i]` carries every
 *   feature without that dim.
 *
 * Id ranges: spec's indexUses gives the inputs whose every value indexes a table (checkFeeds holds
 * them to it); on top of that this traces a column pick `gather(input, constant k, last axis)` that
 * then indexes a table (profile columns, lifelong context columns), which checkFeeds does not
 * follow: column k of the input is held to that table's size. ONNX Runtime's CPU provider raises on
 * such an id and CUDA reads garbage, so every id is checked here before a run.
 */
import { type DType, type Dim, type Graph, type NodeDecl, formatShape, indexUses, valueInfo } from '@lctr/spec';

export class SchemaError extends Error {
  constructor(message: string) { super(message); this.name = 'SchemaError'; }
}

export type Layout = 'request' | 'batch';
export type Side = 'user' | 'candidate' | 'sample';

/** Values of a feature (column `column` of its last axis only, when set) index `table` along an axis of `rows` entries. */
export interface IdRange {
  readonly table: string;
  readonly rows: number;
  /** the column of the last axis this range holds for; absent: every value */
  readonly column?: number;
}

export interface FeatureSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly side: Side;
  /** the graph input's shape */
  readonly graphShape: readonly Dim[];
  /** the shape of the value in a request: the graph shape without its leading 1 / 'cand' / 'batch' */
  readonly shape: readonly Dim[];
  readonly ids: readonly IdRange[];
}

export interface RequestSchema {
  readonly layout: Layout;
  /** every graph input, in graph order */
  readonly features: readonly FeatureSpec[];
  /** the graph output the scores are read from, and its value id */
  readonly output: string;
}

const VALUE_PRESERVING = new Set(['reshape', 'transpose', 'expand', 'cast', 'stopGradient']);
/** ops that keep the last axis of their input as the last axis of their output (given equal sizes) */
const LAST_AXIS_PRESERVING = new Set(['reshape', 'expand', 'cast', 'stopGradient']);

function producers(g: Graph): Map<string, NodeDecl> {
  const m = new Map<string, NodeDecl>();
  for (const n of g.nodes) for (const o of n.outputs) m.set(o.id, n);
  return m;
}

const rankOf = (g: Graph, id: string) => valueInfo(g, id).shape.length;
const lastDim = (g: Graph, id: string) => valueInfo(g, id).shape.at(-1);

/** The int constant scalar `id` holds, or undefined. */
function constantScalar(id: string, producer: Map<string, NodeDecl>): number | undefined {
  const p = producer.get(id);
  if (!p || p.op !== 'constant') return undefined;
  const a = p.attrs as { dtype: DType; shape: number[]; values: number[] };
  return a.shape.length === 0 && (a.dtype === 'int32' || a.dtype === 'int64') ? a.values[0] : undefined;
}

/**
 * Column picks: a gather/gatherAlongAxis whose indices come (through value-preserving ops) from
 * `gather(x, constant k, last axis of x)` where x comes from a graph input through ops that keep
 * its last axis: column k of that input indexes the table.
 */
function columnRanges(g: Graph): Array<IdRange & { readonly input: string; readonly column: number }> {
  const producer = producers(g);
  const inputs = new Set(g.inputs.map((i) => i.name));
  const out: Array<IdRange & { input: string; column: number }> = [];
  for (const n of g.nodes) {
    if (n.op !== 'gather' && n.op !== 'gatherAlongAxis') continue;
    let id = n.inputs[1]!;
    let pick: NodeDecl | undefined;
    for (;;) {
      const p = producer.get(id);
      if (!p) break;
      if (VALUE_PRESERVING.has(p.op) && !(p.op === 'cast' && valueInfo(g, p.inputs[0]!).dtype === 'float32')) { id = p.inputs[0]!; continue; }
      if (p.op === 'gather') pick = p;
      break;
    }
    if (!pick) continue;
    const x = pick.inputs[0]!;
    const k = constantScalar(pick.inputs[1]!, producer);
    const rank = rankOf(g, x);
    const axis = pick.attrs['axis'] as number;
    if (k === undefined || (axis < 0 ? axis + rank : axis) !== rank - 1) continue;
    const width = lastDim(g, x);
    if (typeof width !== 'number') continue;
    let src = x;
    while (!inputs.has(src)) {
      const p = producer.get(src);
      if (!p || !LAST_AXIS_PRESERVING.has(p.op) || lastDim(g, p.inputs[0]!) !== width) break;
      if (p.op === 'cast' && valueInfo(g, p.inputs[0]!).dtype === 'float32') break;
      src = p.inputs[0]!;
    }
    if (!inputs.has(src)) continue;
    const table = valueInfo(g, n.inputs[0]!);
    const tAxis = n.attrs['axis'] as number;
    const rows = table.shape[tAxis < 0 ? tAxis + table.shape.length : tAxis];
    if (typeof rows !== 'number') continue;
    out.push({ input: src, column: k < 0 ? k + width : k, table: n.inputs[0]!, rows });
  }
  return out;
}

/** 'request' when the serving graph has candidates on a 'cand' dim; else 'batch'. */
export function layoutOf(g: Graph): Layout {
  return g.inputs.some((i) => i.shape[0] === 'cand') ? 'request' : 'batch';
}

/** The request schema of a serving graph; throws SchemaError for a graph this server cannot serve. */
export function requestSchemaOf(g: Graph): RequestSchema {
  const outputs = Object.keys(g.outputs);
  const output = 'prob' in g.outputs ? 'prob' : outputs.length === 1 ? outputs[0]! : undefined;
  if (!output) throw new SchemaError(`graph '${g.name}': expected an output 'prob' (or a single output) to score with, got outputs ${outputs.join(', ')}`);
  const layout = layoutOf(g);
  const outInfo = valueInfo(g, (g.outputs as Record<string, string>)[output]!);
  const lead = layout === 'request' ? 'cand' : 'batch';
  if (outInfo.shape.length !== 1 || outInfo.shape[0] !== lead || outInfo.dtype !== 'float32') {
    throw new SchemaError(`graph '${g.name}': output '${output}' must be float32[${lead}] (one score per ${layout === 'request' ? 'candidate' : 'sample'}), got ${outInfo.dtype}${formatShape(outInfo.shape)}`);
  }
  const ranges = new Map<string, IdRange[]>();
  const add = (input: string, r: IdRange) => {
    const list = ranges.get(input) ?? [];
    if (!list.some((x) => x.table === r.table && x.rows === r.rows && x.column === r.column)) list.push(r);
    ranges.set(input, list);
  };
  for (const u of indexUses(g)) {
    const table = valueInfo(g, u.table);
    const rows = table.shape[u.axis < 0 ? u.axis + table.shape.length : u.axis];
    if (typeof rows === 'number') add(u.input, { table: u.table, rows });
  }
  for (const c of columnRanges(g)) add(c.input, { table: c.table, rows: c.rows, column: c.column });
  const features = g.inputs.map((i): FeatureSpec => {
    const first = i.shape[0];
    let side: Side;
    if (layout === 'batch') {
      if (first !== 'batch') throw new SchemaError(`graph '${g.name}' (batch layout): input '${i.name}' must lead with 'batch', got ${i.dtype}${formatShape(i.shape)}`);
      side = 'sample';
    } else if (first === 'cand') side = 'candidate';
    else if (first === 1) side = 'user';
    else throw new SchemaError(`graph '${g.name}' (per-request layout): input '${i.name}' must lead with 1 (user side) or 'cand' (candidates), got ${i.dtype}${formatShape(i.shape)}`);
    return { name: i.name, dtype: i.dtype, side, graphShape: i.shape, shape: i.shape.slice(1), ids: ranges.get(i.name) ?? [] };
  });
  return { layout, features, output };
}
