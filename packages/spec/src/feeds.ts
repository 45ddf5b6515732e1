/**
 * Run-time checks every backend makes before it computes: the inputs record against the graph's
 * feature schema (names, dtypes, shapes, consistent symbolic dims), integer indices that feed a
 * gather against the table size (at valid positions only, where the id input has a padding mask),
 * and top-k's k against the run-time sequence length; then `prepareFeeds`, the feeds every backend
 * computes on: ids at padded positions replaced by 0 (SPEC, "Conventions every backend follows").
 */
import { type HostTensor, elementAt, isDType, sizeOf } from './dtype.ts';
import { type DimBindings, dimEquals, formatShape, resolveDim, symbolsOf } from './dims.ts';
import type { Graph, NodeDecl } from './graph.ts';
import { valueInfo } from './graph.ts';

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * Ops that carry every value of an input on to a consumer (only rearranged or repeated). slice is
 * not one: it keeps some columns only, so the bound of its consumer says nothing about the others
 * (indices computed in the graph are range-checked by each backend's kernel instead).
 */
const VALUE_PRESERVING = new Set(['reshape', 'transpose', 'expand', 'cast', 'stopGradient']);

export interface IndexUse {
  input: string;
  node: string;
  op: string;
  table: string;
  axis: number;
  /** a scatter's output size along `axis` (then `table` is its updates; the range is [0, size)) */
  size?: number;
  /** set when only one column of the input is used: its last-axis coordinate `index` of `width` (a gather with a constant index) */
  column?: { index: number; width: number };
  /**
   * the bool input marking the input's valid positions (paddingMaskOf): padded positions are not
   * checked and are set to 0 (prepareFeeds). Only on a gather (an embedding lookup), whose ONNX
   * lowering also reads row 0 for any id; other ops' indices are checked everywhere.
   */
  mask?: string;
}

/**
 * The bool input that marks the valid positions of id input `input`, or undefined (then every
 * position is valid). The graph does not record the pairing (a field in the graph JSON would change
 * the hash of every training graph), so it is derived here, in one place, from the schema naming
 * convention every model follows: the id input's name with trailing camelCase words dropped, one
 * at a time, then 'Mask', whose shape is the leading dims of the id input's shape:
 * lifelongSeqCategory -> lifelongSeqCategoryMask, lifelongSeqMask, lifelongMask; seqContext ->
 * seqMask; candCategory -> candMask; targetSeq -> targetSeqMask; behaviourItem -> behaviourMask.
 */
export function paddingMaskOf(g: Graph, input: string): string | undefined {
  const ids = g.inputs.find((i) => i.name === input);
  if (!ids) return undefined;
  const words = input.split(/(?=[A-Z])/);
  for (let n = words.length; n >= 1; n--) {
    const m = g.inputs.find((i) => i.name === `${words.slice(0, n).join('')}Mask`);
    if (
      m &&
      m.dtype === 'bool' &&
      m.shape.length >= 1 &&
      m.shape.length <= ids.shape.length &&
      m.shape.every((d, k) => dimEquals(d, ids.shape[k]!))
    )
      return m.name;
  }
  return undefined;
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
  const masks = new Map(g.inputs.map((i) => [i.name, paddingMaskOf(g, i.name)]));
  for (const n of g.nodes) {
    if (n.op !== 'gather' && n.op !== 'gatherAlongAxis' && n.op !== 'scatterAlongAxis') continue;
    const size = n.op === 'scatterAlongAxis' ? { size: n.attrs['size'] as number } : {};
    let id = n.inputs[1]!;
    let column: IndexUse['column'];
    for (;;) {
      if (inputNames.has(id)) {
        const mask = n.op === 'gather' ? masks.get(id) : undefined;
        uses.push({
          input: id,
          node: n.id,
          op: n.op,
          table: n.inputs[0]!,
          axis: n.attrs['axis'] as number,
          ...size,
          ...(column ? { column } : {}),
          ...(mask ? { mask } : {}),
        });
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
  if (feeds === null || typeof feeds !== 'object')
    throw new InputError(`inputs of graph '${g.name}' must be an object of tensors, got ${String(feeds)}`);
  const names = new Set(g.inputs.map((i) => i.name));
  const missing = g.inputs.filter((i) => feeds[i.name] === undefined).map((i) => i.name);
  if (missing.length)
    throw new InputError(`graph '${g.name}' is missing input(s): ${missing.join(', ')} (expected ${[...names].join(', ')})`);
  const extra = Object.keys(feeds).filter((k) => !names.has(k));
  if (extra.length) throw new InputError(`graph '${g.name}' got unknown input(s): ${extra.join(', ')} (expected ${[...names].join(', ')})`);
  const bindings: Record<string, number> = {};
  const boundBy: Record<string, string> = {};
  for (const decl of g.inputs) {
    const t = feeds[decl.name]!;
    const want = `${decl.dtype}${formatShape(decl.shape)}`;
    if (!isDType(t.dtype)) throw new InputError(`input '${decl.name}': unknown dtype '${String(t.dtype)}', expected ${want}`);
    if (t.dtype !== decl.dtype)
      throw new InputError(`input '${decl.name}': expected dtype ${decl.dtype} (${want}), got ${t.dtype}${formatShape(t.shape)}`);
    if (t.shape.length !== decl.shape.length)
      throw new InputError(`input '${decl.name}': expected rank ${decl.shape.length} (${want}), got shape ${formatShape(t.shape)}`);
    decl.shape.forEach((d, i) => {
      const got = t.shape[i]!;
      if (!Number.isInteger(got) || got < 0)
        throw new InputError(`input '${decl.name}': dim ${i} is ${got}, expected a non-negative integer`);
      if (typeof d === 'number') {
        if (got !== d)
          throw new InputError(
            `input '${decl.name}': expected shape ${want}, got ${formatShape(t.shape)} (dim ${i} is ${got}, expected ${d})`,
          );
      } else {
        const prev = bindings[d];
        if (prev === undefined) {
          bindings[d] = got;
          boundBy[d] = `${decl.name} dim ${i}`;
        } else if (prev !== got) {
          throw new InputError(`input '${decl.name}': dim ${i} ('${d}') is ${got}, but '${d}' is ${prev} from ${boundBy[d]}`);
        }
      }
    });
    const n = sizeOf(t.shape);
    const expectedArray = { float32: 'Float32Array or Float64Array', int32: 'Int32Array', int64: 'BigInt64Array', bool: 'Uint8Array' }[
      decl.dtype
    ];
    const okArray =
      decl.dtype === 'float32'
        ? t.data instanceof Float32Array || t.data instanceof Float64Array
        : decl.dtype === 'int32'
          ? t.data instanceof Int32Array
          : decl.dtype === 'int64'
            ? t.data instanceof BigInt64Array
            : t.data instanceof Uint8Array;
    if (!okArray)
      throw new InputError(
        `input '${decl.name}': ${decl.dtype} data must be a ${expectedArray}, got ` +
          `${(t.data as object)?.constructor?.name ?? typeof t.data}`,
      );
    if (t.data.length !== n)
      throw new InputError(`input '${decl.name}': shape ${formatShape(t.shape)} needs ${n} values, got ${t.data.length}`);
  }
  for (const use of indexUses(g)) {
    const rows = use.size ?? resolveDim(valueInfo(g, use.table).shape[use.axis]!, bindings);
    const t = feeds[use.input]!;
    const valid = validAt(t, use.mask === undefined ? undefined : feeds[use.mask]!);
    const [start, step] = use.column ? [use.column.index, use.column.width] : [0, 1];
    for (let i = start; i < t.data.length; i += step) {
      const v = elementAt(t, i);
      if (!(v >= 0 && v < rows) && valid(i)) {
        const notes = [
          ...(use.column ? [`column ${use.column.index} of the last axis`] : []),
          ...(use.mask ? [`valid in '${use.mask}'`] : []),
        ];
        const where = `flat position ${i}${notes.length ? ` (${notes.join(', ')})` : ''}`;
        const target = use.size === undefined ? `on '${use.table}' with ${rows} entries` : `of '${use.table}' into ${rows} entries`;
        throw new InputError(
          `input '${use.input}' holds index ${v} at ${where}, out of range for ${use.op} '${use.node}' ${target} along axis ${use.axis} ` +
            `(valid 0..${rows - 1})`,
        );
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
    if (k > len)
      throw new InputError(`topk '${n.id}' takes k = ${k} along '${last}', which is ${len} in these inputs (k must be <= ${len})`);
  }
  return bindings;
}

/** Whether flat position i of `ids` is valid under `mask` (whose shape is the leading dims of the ids' shape). */
function validAt(ids: HostTensor, mask: HostTensor | undefined): (i: number) => boolean {
  if (!mask) return () => true;
  const per = mask.data.length === 0 ? 1 : ids.data.length / mask.data.length; // ids per mask flag
  const flags = mask.data as Uint8Array;
  return (i) => flags[Math.floor(i / per)] !== 0;
}

/**
 * checkFeeds, then the feeds to compute on: every id input with a padding mask (paddingMaskOf) has
 * its padded positions replaced by 0, so padding (-1, a stale id, anything) never reaches a lookup,
 * while an id out of range at a valid position was an error above. ref-cpu's run and tfjs' toFeeds
 * both call this, so the backends agree by construction; an input that needs no change is passed
 * on as it is (not copied), the caller's tensors are never written to.
 */
export function prepareFeeds(
  g: Graph,
  feeds: Readonly<Record<string, HostTensor | undefined>>,
): { bindings: DimBindings; feeds: Record<string, HostTensor> } {
  const bindings = checkFeeds(g, feeds);
  const out: Record<string, HostTensor> = {};
  for (const decl of g.inputs) out[decl.name] = feeds[decl.name]!;
  const masked = new Map<string, string>();
  for (const use of indexUses(g)) if (use.mask !== undefined) masked.set(use.input, use.mask);
  for (const [input, mask] of masked) {
    const t = out[input]!;
    const valid = validAt(t, out[mask]!);
    let data: HostTensor['data'] | undefined;
    for (let i = 0; i < t.data.length; i++) {
      if (valid(i) || elementAt(t, i) === 0) continue;
      data ??= t.data.slice();
      if (data instanceof BigInt64Array) data[i] = 0n;
      else data[i] = 0;
    }
    if (data) out[input] = { ...t, data } as HostTensor;
  }
  return { bindings, feeds: out };
}
