/**
 * Run-time checks every backend makes before it computes: the inputs record against the graph's
 * feature schema (names, dtypes, shapes, consistent symbolic dims), integer indices that feed a
 * gather against the table size, and top-k's k against the run-time sequence length.
 */
import { type HostTensor, elementAt, isDType, sizeOf } from './dtype.ts';
import { type DimBindings, formatShape, resolveDim, symbolsOf } from './dims.ts';
import type { Graph, NodeDecl } from './graph.ts';
import { valueInfo } from './graph.ts';

export class InputError extends Error {
  constructor(message: string) { super(message); this.name = 'InputError'; }
}

/**
 * Ops that carry every value of an input on to a consumer (only rearranged or repeated). slice is
 * not one: it keeps some columns only, so the bound of its consumer says nothing about the others
 * (indices computed in the graph are range-checked by each backend's kernel instead).
 */
const VALUE_PRESERVING = new Set(['reshape', 'transpose', 'expand', 'cast', 'stopGradient']);

export interface IndexUse {
  input: string; node: string; op: string; table: string; axis: number;
  /** a scatter's output size along `axis` (then `table` is its updates; the range is [0, size)) */
  size?: number;
  /** set when only one column of the input is used: its last-axis coordinate `index` of `width` (a gather with a constant index) */
  column?: { index: number; width: number };
}

/** The scalar value of a constant node's output, when id is one. */
function scalarConstant(g: Graph, producer: ReadonlyMap<string, NodeDecl>, id: string): number | undefined {
  const p = producer.get(id);
  if (!p || p.op !== 'constant' || (p.attrs['shape'] as number[]).length !== 0) return undefined;
  return (p.attrs['values'] as number[])[0];
}

/**
 * Graph inputs whose values end up as gather indices: directly, through reshape-like ops, or one
 * column of them (a gather of the last axis by a constant index, the way a model picks a
 * profile or context column, then reshapes that keep the last axis).
 */
export function indexUses(g: Graph): IndexUse[] {
  const producer = new Map<string, NodeDecl>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o.id, n);
  const inputNames = new Set(g.inputs.map((i) => i.name));
  const uses: IndexUse[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'gather' && n.op !== 'gatherAlongAxis' && n.op !== 'scatterAlongAxis') continue;
    const size = n.op === 'scatterAlongAxis' ? { size: n.attrs['size'] as number } : {};
    let id = n.inputs[1]!;
    let column: IndexUse['column'];
    for (;;) {
      if (inputNames.has(id)) {
        uses.push({ input: id, node: n.id, op: n.op, table: n.inputs[0]!, axis: n.attrs['axis'] as number, ...size, ...(column ? { column } : {}) });
        break;
      }
      const p = producer.get(id);
      if (!p) break;
      if (p.op === 'gather' && !column) {
        const from = valueInfo(g, p.inputs[0]!);
        const k = scalarConstant(g, producer, p.inputs[1]!);
        const width = from.shape[from.shape.length - 1];
        if (k === undefined || p.attrs['axis'] !== from.shape.length - 1 || typeof width !== 'number') break;
        column = { index: k < 0 ? k + width : k, width };
        id = p.inputs[0]!;
        continue;
      }
      if (!VALUE_PRESERVING.has(p.op)) break;
      // a float cast to int truncates, so only int-to-int casts keep the values
      if (p.op === 'cast' && valueInfo(g, p.inputs[0]!).dtype === 'float32') break;
      if (column) {
        // past a column pick only reshapes that keep the last axis (and int casts) keep the column's meaning
        const src = valueInfo(g, p.inputs[0]!).shape;
        if (p.op === 'reshape' ? src[src.length - 1] !== column.width : p.op !== 'cast') break;
      }
      id = p.inputs[0]!;
    }
  }
  return uses;
}

/** Check the inputs record and return the run-time value of every symbolic dim. */
export function checkFeeds(g: Graph, feeds: Readonly<Record<string, HostTensor | undefined>>): DimBindings {
  if (feeds === null || typeof feeds !== 'object') throw new InputError(`inputs of graph '${g.name}' must be an object of tensors, got ${String(feeds)}`);
  const names = new Set(g.inputs.map((i) => i.name));
  const missing = g.inputs.filter((i) => feeds[i.name] === undefined).map((i) => i.name);
  if (missing.length) throw new InputError(`graph '${g.name}' is missing input(s): ${missing.join(', ')} (expected ${[...names].join(', ')})`);
  const extra = Object.keys(feeds).filter((k) => !names.has(k));
  if (extra.length) throw new InputError(`graph '${g.name}' got unknown input(s): ${extra.join(', ')} (expected ${[...names].join(', ')})`);
  const bindings: Record<string, number> = {};
  const boundBy: Record<string, string> = {};
  for (const decl of g.inputs) {
    const t = feeds[decl.name]!;
    const want = `${decl.dtype}${formatShape(decl.shape)}`;
    if (!isDType(t.dtype)) throw new InputError(`input '${decl.name}': unknown dtype '${String(t.dtype)}', expected ${want}`);
    if (t.dtype !== decl.dtype) throw new InputError(`input '${decl.name}': expected dtype ${decl.dtype} (${want}), got ${t.dtype}${formatShape(t.shape)}`);
    if (t.shape.length !== decl.shape.length) throw new InputError(`input '${decl.name}': expected rank ${decl.shape.length} (${want}), got shape ${formatShape(t.shape)}`);
    decl.shape.forEach((d, i) => {
      const got = t.shape[i]!;
      if (!Number.isInteger(got) || got < 0) throw new InputError(`input '${decl.name}': dim ${i} is ${got}, expected a non-negative integer`);
      if (typeof d === 'number') {
        if (got !== d) throw new InputError(`input '${decl.name}': expected shape ${want}, got ${formatShape(t.shape)} (dim ${i} is ${got}, expected ${d})`);
      } else {
        const prev = bindings[d];
        if (prev === undefined) { bindings[d] = got; boundBy[d] = `${decl.name} dim ${i}`; }
        else if (prev !== got) {
          throw new InputError(`input '${decl.name}': dim ${i} ('${d}') is ${got}, but '${d}' is ${prev} from ${boundBy[d]}`);
        }
      }
    });
    const n = sizeOf(t.shape);
    const expectedArray = { float32: 'Float32Array or Float64Array', int32: 'Int32Array', int64: 'BigInt64Array', bool: 'Uint8Array' }[decl.dtype];
    const okArray = decl.dtype === 'float32' ? t.data instanceof Float32Array || t.data instanceof Float64Array
      : decl.dtype === 'int32' ? t.data instanceof Int32Array : decl.dtype === 'int64' ? t.data instanceof BigInt64Array : t.data instanceof Uint8Array;
    if (!okArray) throw new InputError(`input '${decl.name}': ${decl.dtype} data must be a ${expectedArray}, got ${(t.data as object)?.constructor?.name ?? typeof t.data}`);
    if (t.data.length !== n) throw new InputError(`input '${decl.name}': shape ${formatShape(t.shape)} needs ${n} values, got ${t.data.length}`);
  }
  for (const use of indexUses(g)) {
    const rows = use.size ?? resolveDim(valueInfo(g, use.table).shape[use.axis]!, bindings);
    const t = feeds[use.input]!;
    const [start, step] = use.column ? [use.column.index, use.column.width] : [0, 1];
    for (let i = start; i < t.data.length; i += step) {
      const v = elementAt(t, i);
      if (!(v >= 0 && v < rows)) {
        const where = use.column ? `flat position ${i} (column ${use.column.index} of the last axis)` : `flat position ${i}`;
        const target = use.size === undefined ? `on '${use.table}' with ${rows} entries` : `of '${use.table}' into ${rows} entries`;
        throw new InputError(`input '${use.input}' holds index ${v} at ${where}, out of range for ${use.op} '${use.node}' ${target} along axis ${use.axis} (valid 0..${rows - 1})`);
      }
    }
  }
  for (const n of g.nodes) {
    if (n.op !== 'topk') continue;
    const x = valueInfo(g, n.inputs[0]!);
    const last = x.shape[x.shape.length - 1]!;
    if (symbolsOf(last).length === 0) continue;
    const len = resolveDim(last, bindings);
    const k = n.attrs['k'] as number;
    if (k > len) throw new InputError(`topk '${n.id}' takes k = ${k} along '${last}', which is ${len} in these inputs (k must be <= ${len})`);
  }
  return bindings;
}
