/**
 * The request schema of a serving graph: which JSON fields a request carries, their dtypes and
 * shapes, and the id range of every integer feature that indexes an embedding table.
 *
 * Three layouts (the exporter's, see heldout.ts' servingLayoutOf):
 * - request (per-request models, lifelong): user-side inputs lead with 1 and come once in `user`
 *   without that 1; candidate inputs lead with 'cand' and come in each `candidates[i]` without it.
 * - candidateSet (IFA): every input leads with 1; those with 'cand' next are candidate features
 *   (each `candidates[i]` carries one without the [1, cand]), the others user-side (in `user`,
 *   without the 1). The request JSON is the same as the request layout's. A candidate mask (a bool
 *   per candidate named `candMask`) is filled by the server: every listed candidate is valid.
 * - batch (demo, avgpool, din): every input leads with 'batch'; each `samples[i]` carries every
 *   feature without that dim.
 *
 * Id ranges: spec's indexUses gives the inputs whose values index a table (all of them, or one
 * column of the last axis, as profile and context columns are picked), the same ranges checkFeeds
 * enforces; ONNX Runtime's CPU provider raises on such an id and CUDA reads garbage, so every id is
 * checked here, with the request's field names, before a run. Ids at padded positions (where the
 * feature's mask, spec's paddingMaskOf, is false) may hold anything: the model reads row 0 there.
 */
import { type DType, type Dim, type Graph, formatShape, indexUses, valueInfo } from '@lctr/spec';

export class SchemaError extends Error {
  constructor(message: string) { super(message); this.name = 'SchemaError'; }
}

export type Layout = 'request' | 'candidateSet' | 'batch';
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
  /** the shape of the value in a request: the graph shape without its leading 1 / 'cand' / 'batch' (candidate-set: [1, 'cand']) */
  readonly shape: readonly Dim[];
  readonly ids: readonly IdRange[];
  /** filled by the server, not read from the request (a candidate-set model's candidate mask: all true) */
  readonly filled?: boolean;
  /** the bool feature marking this id feature's valid positions: ids where it is false are not range-checked */
  readonly mask?: string;
}

export interface RequestSchema {
  readonly layout: Layout;
  /** every graph input, in graph order */
  readonly features: readonly FeatureSpec[];
  /** the graph output the scores are read from, and its value id */
  readonly output: string;
}

/** 'request' when inputs lead with 'cand'; 'candidateSet' when every input leads with 1; else 'batch'. */
export function layoutOf(g: Graph): Layout {
  if (g.inputs.some((i) => i.shape[0] === 'cand')) return 'request';
  return g.inputs.length > 0 && g.inputs.every((i) => i.shape[0] === 1) ? 'candidateSet' : 'batch';
}

/** The name of a candidate-set model's candidate mask, which the server fills. */
export const CANDIDATE_MASK = 'candMask';

/** The request schema of a serving graph; throws SchemaError for a graph this server cannot serve. */
export function requestSchemaOf(g: Graph): RequestSchema {
  const outputs = Object.keys(g.outputs);
  const output = 'prob' in g.outputs ? 'prob' : outputs.length === 1 ? outputs[0]! : undefined;
  if (!output) throw new SchemaError(`graph '${g.name}': expected an output 'prob' (or a single output) to score with, got outputs ${outputs.join(', ')}`);
  const layout = layoutOf(g);
  const outInfo = valueInfo(g, (g.outputs as Record<string, string>)[output]!);
  const want: readonly Dim[] = layout === 'request' ? ['cand'] : layout === 'candidateSet' ? [1, 'cand'] : ['batch'];
  if (outInfo.shape.length !== want.length || !outInfo.shape.every((d, k) => d === want[k]) || outInfo.dtype !== 'float32') {
    throw new SchemaError(`graph '${g.name}': output '${output}' must be float32${formatShape(want)} (one score per ${layout === 'batch' ? 'sample' : 'candidate'}), got ${outInfo.dtype}${formatShape(outInfo.shape)}`);
  }
  const ranges = new Map<string, IdRange[]>();
  const add = (input: string, r: IdRange) => {
    const list = ranges.get(input) ?? [];
    if (!list.some((x) => x.table === r.table && x.rows === r.rows && x.column === r.column)) list.push(r);
    ranges.set(input, list);
  };
  const masks = new Map<string, string>();
  for (const u of indexUses(g)) {
    // a mask the server fills (all true) leaves every position valid
    if (u.mask !== undefined && !(layout === 'candidateSet' && u.mask === CANDIDATE_MASK)) masks.set(u.input, u.mask);
    const table = valueInfo(g, u.table);
    const rows = u.size ?? table.shape[u.axis < 0 ? u.axis + table.shape.length : u.axis];
    if (typeof rows === 'number') add(u.input, { table: u.table, rows, ...(u.column ? { column: u.column.index } : {}) });
  }
  const maskOf = (name: string) => { const mask = masks.get(name); return mask === undefined ? {} : { mask }; };
  const features = g.inputs.map((i): FeatureSpec => {
    const first = i.shape[0];
    let side: Side;
    if (layout === 'batch') {
      if (first !== 'batch') throw new SchemaError(`graph '${g.name}' (batch layout): input '${i.name}' must lead with 'batch', got ${i.dtype}${formatShape(i.shape)}`);
      side = 'sample';
    } else if (layout === 'candidateSet') {
      const candidate = i.shape[1] === 'cand';
      const filled = candidate && i.name === CANDIDATE_MASK && i.dtype === 'bool' && i.shape.length === 2;
      return { name: i.name, dtype: i.dtype, side: candidate ? 'candidate' : 'user', graphShape: i.shape, shape: i.shape.slice(candidate ? 2 : 1), ids: ranges.get(i.name) ?? [], ...(filled ? { filled } : {}), ...maskOf(i.name) };
    } else if (first === 'cand') side = 'candidate';
    else if (first === 1) side = 'user';
    else throw new SchemaError(`graph '${g.name}' (per-request layout): input '${i.name}' must lead with 1 (user side) or 'cand' (candidates), got ${i.dtype}${formatShape(i.shape)}`);
    return { name: i.name, dtype: i.dtype, side, graphShape: i.shape, shape: i.shape.slice(1), ids: ranges.get(i.name) ?? [], ...maskOf(i.name) };
  });
  return { layout, features, output };
}
