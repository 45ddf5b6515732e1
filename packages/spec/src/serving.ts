/**
 * The serving contract of a graph, in one place for the exporter, the server and the tests: its
 * layout, its request schema (which JSON fields a request carries, their dtypes and shapes, the id
 * range of every integer feature that indexes an embedding table) and the checks of a request.
 *
 * Three layouts:
 * - request (per-request models, lifelong): user-side inputs lead with 1 and come once in `user`
 *   without that 1; candidate inputs lead with 'cand' and come in each `candidates[i]` without it.
 * - candidateSet (IFA): every input leads with 1; those with 'cand' next are candidate features
 *   (each `candidates[i]` carries one without the [1, cand]), the others user-side (in `user`,
 *   without the 1). The request JSON is the same as the request layout's. A candidate mask (a bool
 *   per candidate named `candMask`) is filled by the server: every listed candidate is valid.
 * - batch (demo, avgpool, din): every input leads with 'batch'; each `samples[i]` carries every
 *   feature without that dim.
 * The layout is what the graph's meta records (the lifelong models' `layout`, IFA's `graph`), and
 * only for a graph whose meta says nothing (demo, avgpool, din, hand-built graphs) read from the
 * input shapes; requestSchemaOf then holds every input to it.
 *
 * Two request forms, checked by the same readers (same element, id-range and padding rules, same
 * messages `<field>: expected <expected>, got <actual>`):
 * - the JSON object of POST /score (parseScoreRequest);
 * - whole tensors, flat row-major, as the Open Inference Protocol (KServe v2, Triton) sends them,
 *   with the shapes Triton's config.pbtxt declares (parseTensorRequest, tensorShapeOf).
 *
 * Id ranges: indexUses gives the inputs whose values index a table (all of them, or one column of
 * the last axis, as profile and context columns are picked), the same ranges checkFeeds enforces;
 * ONNX Runtime's CPU provider raises on such an id and CUDA reads garbage, so every id is checked
 * here, with the request's field names, before a run. Ids at padded positions (where the
 * feature's mask, paddingMaskOf, is false) may hold anything: the model reads row 0 there.
 */
import { type DType, type HostTensor, sizeOf } from './dtype.ts';
import { type Dim, formatShape } from './dims.ts';
import { type Graph, valueInfo } from './graph.ts';
import { indexUses } from './feeds.ts';

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

export type ServingLayout = 'request' | 'candidateSet' | 'batch';
export type FeatureSide = 'user' | 'candidate' | 'sample';

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
  readonly side: FeatureSide;
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
  readonly layout: ServingLayout;
  /** every graph input, in graph order */
  readonly features: readonly FeatureSpec[];
  /** the graph output the scores are read from, and its value id */
  readonly output: string;
}

/** The layouts graph meta records: the lifelong models' SeqLayout kind of their serving / training graph. */
const META_LAYOUTS: Readonly<Record<string, ServingLayout>> = { shared: 'request', perSample: 'batch' };

/**
 * The serving layout of `g`: from its meta when it records one (lifelong `layout: 'shared'` ->
 * request, `'perSample'` -> batch; IFA `graph: 'serve'` -> candidateSet), else from the shapes:
 * 'request' when an input leads with 'cand', 'candidateSet' when every input leads with 1, else 'batch'.
 */
export function servingLayoutOf(g: Graph): ServingLayout {
  const layout = g.meta['layout'];
  if (typeof layout === 'string' && Object.hasOwn(META_LAYOUTS, layout)) return META_LAYOUTS[layout]!;
  if (g.meta['model'] === 'ifa' && g.meta['graph'] === 'serve') return 'candidateSet';
  if (g.inputs.some((i) => i.shape[0] === 'cand')) return 'request';
  return g.inputs.length > 0 && g.inputs.every((i) => i.shape[0] === 1) ? 'candidateSet' : 'batch';
}

/** The name of a candidate-set model's candidate mask, which the server fills. */
export const CANDIDATE_MASK = 'candMask';

/** The request schema of a serving graph; throws SchemaError for a graph that cannot be served. */
export function requestSchemaOf(g: Graph): RequestSchema {
  const outputs = Object.keys(g.outputs);
  const output = 'prob' in g.outputs ? 'prob' : outputs.length === 1 ? outputs[0]! : undefined;
  if (!output)
    throw new SchemaError(
      `graph '${g.name}': expected an output 'prob' (or a single output) to score with, got outputs ${outputs.join(', ')}`,
    );
  const layout = servingLayoutOf(g);
  const outInfo = valueInfo(g, (g.outputs as Record<string, string>)[output]!);
  const want: readonly Dim[] = layout === 'request' ? ['cand'] : layout === 'candidateSet' ? [1, 'cand'] : ['batch'];
  if (outInfo.shape.length !== want.length || !outInfo.shape.every((d, k) => d === want[k]) || outInfo.dtype !== 'float32') {
    throw new SchemaError(
      `graph '${g.name}': output '${output}' must be float32${formatShape(want)} (one score per ` +
        `${layout === 'batch' ? 'sample' : 'candidate'}), got ${outInfo.dtype}${formatShape(outInfo.shape)}`,
    );
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
  const maskOf = (name: string) => {
    const mask = masks.get(name);
    return mask === undefined ? {} : { mask };
  };
  const features = g.inputs.map((i): FeatureSpec => {
    const first = i.shape[0];
    let side: FeatureSide;
    if (layout === 'batch') {
      if (first !== 'batch')
        throw new SchemaError(
          `graph '${g.name}' (batch layout): input '${i.name}' must lead with 'batch', got ${i.dtype}${formatShape(i.shape)}`,
        );
      side = 'sample';
    } else if (layout === 'candidateSet') {
      const candidate = i.shape[1] === 'cand';
      const filled = candidate && i.name === CANDIDATE_MASK && i.dtype === 'bool' && i.shape.length === 2;
      return {
        name: i.name,
        dtype: i.dtype,
        side: candidate ? 'candidate' : 'user',
        graphShape: i.shape,
        shape: i.shape.slice(candidate ? 2 : 1),
        ids: ranges.get(i.name) ?? [],
        ...(filled ? { filled } : {}),
        ...maskOf(i.name),
      };
    } else if (first === 'cand') side = 'candidate';
    else if (first === 1) side = 'user';
    else
      throw new SchemaError(
        `graph '${g.name}' (per-request layout): input '${i.name}' must lead with 1 (user side) or 'cand' (candidates), got ` +
          `${i.dtype}${formatShape(i.shape)}`,
      );
    return {
      name: i.name,
      dtype: i.dtype,
      side,
      graphShape: i.shape,
      shape: i.shape.slice(1),
      ids: ranges.get(i.name) ?? [],
      ...maskOf(i.name),
    };
  });
  return { layout, features, output };
}

// ---------------------------------------------------------------- the JSON object form (POST /score)

/** A refused request: its message is always `<field>: expected <expected>, got <actual>`. */
export class RequestError extends Error {
  constructor(
    /** JSON path of the offending field ('body', 'user.lifelongSeq[7]', 'candidates', 'method' ...) */
    readonly field: string,
    readonly expected: string,
    readonly actual: string,
    /** HTTP status (400 unless said otherwise) */
    readonly status = 400,
  ) {
    super(`${field}: expected ${expected}, got ${actual}`);
    this.name = 'RequestError';
  }

  toJSON(): { error: string; field: string; expected: string; actual: string } {
    return { error: this.message, field: this.field, expected: this.expected, actual: this.actual };
  }
}

/**
 * An id outside its embedding table at a valid position (the serving form of out-of-vocabulary):
 * a RequestError that also names the graph input, so a server can count them per input.
 */
export class IdOutOfRangeError extends RequestError {
  constructor(
    readonly input: string,
    field: string,
    expected: string,
    actual: string,
  ) {
    super(field, expected, actual);
    this.name = 'IdOutOfRangeError';
  }
}

export interface RequestLimits {
  /** most candidates per request (batch layout: samples per request) */
  readonly maxCandidates: number;
}

export interface ParsedRequest {
  readonly feeds: Record<string, HostTensor>;
  /** candidates (batch layout: samples) scored */
  readonly count: number;
}

/** A short description of a JSON value for `actual`. */
export function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing (missing field)';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return 'an object';
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const hasOwn = (o: object, k: string) => Object.hasOwn(o, k);

interface Binding {
  readonly value: number;
  readonly from: string;
}
type Bindings = Map<string, Binding>;

/** The smallest table each value (or column of the last axis) of a feature indexes. */
interface RangeCheck {
  readonly all?: { rows: number; table: string };
  readonly columns: ReadonlyMap<number, { rows: number; table: string }>;
}

const rangeChecks = new WeakMap<FeatureSpec, RangeCheck>();

function rangeCheckOf(f: FeatureSpec): RangeCheck {
  const cached = rangeChecks.get(f);
  if (cached) return cached;
  let all: { rows: number; table: string } | undefined;
  const columns = new Map<number, { rows: number; table: string }>();
  for (const r of f.ids) {
    if (r.column === undefined) {
      if (!all || r.rows < all.rows) all = { rows: r.rows, table: r.table };
    } else {
      const c = columns.get(r.column);
      if (!c || r.rows < c.rows) columns.set(r.column, { rows: r.rows, table: r.table });
    }
  }
  const check = all ? { all, columns } : { columns };
  rangeChecks.set(f, check);
  return check;
}

/** One feature of one request being read: values in row-major order. */
class FeatureReader {
  readonly values: Array<number | bigint> = [];
  /** ids out of range where the feature has a mask: an error only if the mask holds there (checkPadding) */
  readonly outOfRange: Array<{ readonly at: number; readonly error: RequestError }> = [];
  private readonly range: RangeCheck;

  constructor(
    readonly spec: FeatureSpec,
    private readonly bindings: Bindings,
  ) {
    this.range = rangeCheckOf(spec);
  }

  /** What one element must be (column `col` of the last axis). */
  elementExpected(col: number | undefined): string {
    const { dtype } = this.spec;
    if (dtype === 'float32') return 'a finite number (float32)';
    if (dtype === 'bool') return 'true, false, 0 or 1 (bool)';
    const r = (col !== undefined ? this.range.columns.get(col) : undefined) ?? this.range.all;
    const kind = dtype === 'int32' ? 'an int32' : 'an int64';
    return r ? `${kind} id in 0..${r.rows - 1} (rows of ${r.table})` : `${kind} integer`;
  }

  /** What the array at `dims` (the remaining dims) must be. */
  arrayExpected(dims: readonly Dim[]): string {
    const d = dims[0]!;
    const resolved = dims.map((x) => (typeof x === 'number' ? x : (this.bindings.get(x)?.value ?? x)));
    const type = `${this.spec.dtype}${formatShape(resolved)}`;
    if (typeof d === 'number') return `an array of ${d} (${type})`;
    const b = this.bindings.get(d);
    return b ? `an array of ${b.value} (${type}; '${d}' = ${b.value} from ${b.from})` : `an array of any length (${type})`;
  }

  /** The whole value of this feature, as a request gives it. */
  expected(): string {
    return this.spec.shape.length === 0 ? this.elementExpected(undefined) : this.arrayExpected(this.spec.shape);
  }

  /** the field being read and the indices below it: the path is built only for an error */
  private base = '';
  private readonly at: number[] = [];
  private path(): string {
    let p = this.base;
    for (const i of this.at) p += `[${i}]`;
    return p;
  }

  read(v: unknown, path: string): void {
    this.base = path;
    this.at.length = 0;
    this.readAt(v, 0, undefined);
  }

  /** A whole tensor's values, flat row-major (`path[k]` names element k); `width`: the graph input's last dim (columns). */
  readFlat(data: readonly unknown[], path: string, width: number | undefined): void {
    this.base = path;
    this.at.length = 1;
    for (let k = 0; k < data.length; k++) {
      this.at[0] = k;
      this.element(data[k], width === undefined ? undefined : k % width);
    }
  }

  private readAt(v: unknown, depth: number, col: number | undefined): void {
    const dims = this.spec.shape;
    if (depth === dims.length) {
      this.element(v, col);
      return;
    }
    if (!Array.isArray(v)) throw new RequestError(this.path(), this.arrayExpected(dims.slice(depth)), describeJson(v));
    const d = dims[depth]!;
    if (typeof d === 'number') {
      if (v.length !== d) throw new RequestError(this.path(), this.arrayExpected(dims.slice(depth)), describeJson(v));
    } else {
      const b = this.bindings.get(d);
      if (b === undefined) this.bindings.set(d, { value: v.length, from: this.path() });
      else if (b.value !== v.length) throw new RequestError(this.path(), this.arrayExpected(dims.slice(depth)), describeJson(v));
    }
    const last = depth === dims.length - 1;
    this.at.push(0);
    for (let i = 0; i < v.length; i++) {
      this.at[depth] = i;
      this.readAt(v[i], depth + 1, last ? i : col);
    }
    this.at.pop();
  }

  private bad(v: unknown, col: number | undefined, expected = this.elementExpected(col)): RequestError {
    return new RequestError(this.path(), expected, describeJson(v));
  }

  private idError(v: number, col: number | undefined, expected = this.elementExpected(col)): IdOutOfRangeError {
    return new IdOutOfRangeError(this.spec.name, this.path(), expected, describeJson(v));
  }

  private element(v: unknown, col: number | undefined): void {
    const { dtype } = this.spec;
    switch (dtype) {
      case 'float32':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw this.bad(v, col);
        this.values.push(v);
        return;
      case 'bool':
        if (v === true || v === 1) this.values.push(1);
        else if (v === false || v === 0) this.values.push(0);
        else throw this.bad(v, col);
        return;
      case 'int32':
      case 'int64': {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw this.bad(v, col);
        if (dtype === 'int32' ? v < -2147483648 || v > 2147483647 : !Number.isSafeInteger(v)) throw this.bad(v, col);
        const r = (col !== undefined ? this.range.columns.get(col) : undefined) ?? this.range.all;
        let error: IdOutOfRangeError | undefined;
        if (r && !(v >= 0 && v < r.rows)) error = this.idError(v, col);
        // a column range and a whole-input range can both apply: hold the value to both
        else if (r !== this.range.all && this.range.all && !(v >= 0 && v < this.range.all.rows)) {
          error = this.idError(
            v,
            col,
            `${dtype === 'int32' ? 'an int32' : 'an int64'} id in 0..${this.range.all.rows - 1} (rows of ${this.range.all.table})`,
          );
        }
        if (error && this.spec.mask === undefined) throw error;
        if (error) this.outOfRange.push({ at: this.values.length, error });
        this.values.push(dtype === 'int64' ? BigInt(v) : v);
        return;
      }
    }
  }

  /** The tensor of this feature: `lead` rows of the request shape. */
  tensor(lead: number): HostTensor {
    return this.tensorOf([lead, ...this.spec.shape.map((d) => (typeof d === 'number' ? d : (this.bindings.get(d)?.value ?? 0)))]);
  }

  tensorOf(shape: number[]): HostTensor {
    const { dtype } = this.spec;
    switch (dtype) {
      case 'float32':
        return { dtype, shape, data: Float32Array.from(this.values as number[]) };
      case 'int32':
        return { dtype, shape, data: Int32Array.from(this.values as number[]) };
      case 'int64':
        return { dtype, shape, data: BigInt64Array.from(this.values as bigint[]) };
      case 'bool':
        return { dtype, shape, data: Uint8Array.from(this.values as number[]) };
    }
  }
}

const SIDE_WORDS: Readonly<Record<FeatureSide, string>> = {
  user: 'user-side features',
  candidate: 'candidate features',
  sample: 'features',
};

/** Read the fields of one object (`user`, `candidates[i]`, `samples[i]`) into the readers of `side`. */
function readObject(o: unknown, path: string, side: FeatureSide, readers: readonly FeatureReader[], others: readonly FeatureSpec[]): void {
  const names = readers.map((r) => r.spec.name);
  if (!isObject(o)) throw new RequestError(path, `an object with the ${SIDE_WORDS[side]} ${names.join(', ')}`, describeJson(o));
  for (const k of Object.keys(o)) {
    if (readers.some((r) => r.spec.name === k)) continue;
    const elsewhere = others.find((f) => f.name === k);
    const hint = elsewhere
      ? `; '${k}' is a ${elsewhere.side === 'user' ? 'user-side feature: it goes in user' : 'candidate feature: it goes in each candidates[i]'}`
      : '';
    throw new RequestError(`${path}.${k}`, `one of the ${SIDE_WORDS[side]} ${names.join(', ')}${hint}`, `unknown field '${k}'`);
  }
  for (const r of readers) {
    if (!hasOwn(o, r.spec.name)) throw new RequestError(`${path}.${r.spec.name}`, r.expected(), describeJson(undefined));
  }
  for (const r of readers) r.read(o[r.spec.name], `${path}.${r.spec.name}`);
}

function checkTopLevel(
  body: unknown,
  fields: readonly string[],
  model: string,
  layoutWords: string,
  shape: string,
): asserts body is Record<string, unknown> {
  if (!isObject(body)) throw new RequestError('body', `a JSON object ${shape}`, describeJson(body));
  for (const k of Object.keys(body)) {
    if (!fields.includes(k))
      throw new RequestError(
        k,
        `only the fields ${fields.map((f) => `"${f}"`).join(' and ')} (${layoutWords} model '${model}')`,
        `unknown field '${k}'`,
      );
  }
}

function checkList(v: unknown, field: string, what: string, limits: RequestLimits): unknown[] {
  const expected = `an array of 1..${limits.maxCandidates} ${what} (--max-candidates ${limits.maxCandidates})`;
  if (!Array.isArray(v)) throw new RequestError(field, expected, describeJson(v));
  if (v.length < 1 || v.length > limits.maxCandidates) throw new RequestError(field, expected, describeJson(v));
  return v;
}

/** The first id out of range at a valid position (its mask true there); padded positions may hold anything. */
function checkPadding(readers: readonly FeatureReader[]): void {
  for (const r of readers) {
    if (r.outOfRange.length === 0) continue;
    const mask = readers.find((m) => m.spec.name === r.spec.mask);
    const per = mask && mask.values.length > 0 ? r.values.length / mask.values.length : 0;
    const bad = r.outOfRange.find((x) => !mask || mask.values[Math.floor(x.at / per)] !== 0);
    if (bad) throw bad.error;
  }
}

/** Parse and check a request body (already JSON-decoded) against the schema; throws RequestError. */
export function parseScoreRequest(body: unknown, schema: RequestSchema, limits: RequestLimits, model: string): ParsedRequest {
  const bindings: Bindings = new Map();
  const readers = schema.features.map((f) => new FeatureReader(f, bindings));
  const feeds: Record<string, HostTensor> = {};
  if (schema.layout === 'request' || schema.layout === 'candidateSet') {
    const set = schema.layout === 'candidateSet';
    const user = readers.filter((r) => r.spec.side === 'user');
    const cand = readers.filter((r) => r.spec.side === 'candidate' && !r.spec.filled);
    checkTopLevel(
      body,
      ['user', 'candidates'],
      model,
      set ? 'candidate-set' : 'per-request',
      '{"user": {...}, "candidates": [{...}, ...]}',
    );
    if (!hasOwn(body, 'user'))
      throw new RequestError(
        'user',
        `an object with the user-side features ${user.map((r) => r.spec.name).join(', ')}`,
        describeJson(undefined),
      );
    if (!hasOwn(body, 'candidates'))
      throw new RequestError(
        'candidates',
        `an array of 1..${limits.maxCandidates} candidate objects (--max-candidates ${limits.maxCandidates})`,
        describeJson(undefined),
      );
    readObject(body['user'], 'user', 'user', user, schema.features);
    const list = checkList(body['candidates'], 'candidates', 'candidate objects', limits);
    bindings.set('cand', { value: list.length, from: 'candidates' });
    list.forEach((c, i) => readObject(c, `candidates[${i}]`, 'candidate', cand, schema.features));
    checkPadding(readers);
    for (const r of user) feeds[r.spec.name] = r.tensor(1);
    for (const r of cand) {
      const t = r.tensor(list.length);
      feeds[r.spec.name] = set ? ({ ...t, shape: [1, ...t.shape] } as HostTensor) : t; // [1, cand, ...]
    }
    for (const f of schema.features.filter((x) => x.filled)) {
      feeds[f.name] = { dtype: 'bool', shape: [1, list.length], data: new Uint8Array(list.length).fill(1) };
    }
    return { feeds, count: list.length };
  }
  checkTopLevel(body, ['samples'], model, 'batch-layout', '{"samples": [{...}, ...]}');
  if (!hasOwn(body, 'samples'))
    throw new RequestError(
      'samples',
      `an array of 1..${limits.maxCandidates} sample objects (--max-candidates ${limits.maxCandidates})`,
      describeJson(undefined),
    );
  const list = checkList(body['samples'], 'samples', 'sample objects', limits);
  bindings.set('batch', { value: list.length, from: 'samples' });
  list.forEach((s, i) => readObject(s, `samples[${i}]`, 'sample', readers, schema.features));
  checkPadding(readers);
  for (const r of readers) feeds[r.spec.name] = r.tensor(list.length);
  return { feeds, count: list.length };
}

// ---------------------------------------------------------------- the tensor form (Open Inference Protocol)

/**
 * The shape of feature `f` as a whole tensor in Triton's config.pbtxt terms (the exporter's
 * triton.ts; the v2 protocol's request shape): the graph input's shape, except in the batch layout,
 * where the leading 'batch' is Triton's batch dim and a feature that is nothing but it ([batch]) is
 * declared dims [1] with reshape [], so a client sends it as [batch, 1].
 */
export function tensorShapeOf(f: FeatureSpec, layout: ServingLayout): readonly Dim[] {
  return layout === 'batch' && f.graphShape.length === 1 ? [...f.graphShape, 1] : f.graphShape;
}

/** The shape of graph output `name` as a whole tensor in config.pbtxt terms (see tensorShapeOf). */
export function outputTensorShapeOf(g: Graph, name: string, layout: ServingLayout): readonly Dim[] {
  const shape = valueInfo(g, (g.outputs as Record<string, string>)[name]!).shape;
  return layout === 'batch' && shape.length === 1 ? [...shape, 1] : shape;
}

/** One input of a tensor-form request: a whole tensor, its values flat in row-major order. */
export interface TensorInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: readonly unknown[];
  /**
   * where the input sits in the request, for messages: `inputs.lifelongSeq` gives `inputs.lifelongSeq.shape`, `inputs.lifelongSeq.data[7]`
   */
  readonly field: string;
}

const shapeText = (s: readonly Dim[]) => formatShape(s);

/**
 * Check a tensor-form request against the schema and build the feeds: every graph input once (a
 * candidate-set model's candMask included: the client sends it, as Triton requires), shapes as
 * tensorShapeOf declares them with symbolic dims bound consistently across inputs, the candidate
 * (sample) count within limits, then each value by the same rules as parseScoreRequest. Names,
 * datatypes and the wire format are the caller's (the server's v2 route) to check first.
 */
export function parseTensorRequest(inputs: readonly TensorInput[], schema: RequestSchema, limits: RequestLimits): ParsedRequest {
  const byName = new Map(inputs.map((t) => [t.name, t]));
  for (const t of inputs) {
    if (!schema.features.some((f) => f.name === t.name)) {
      throw new RequestError(t.field, `one of the inputs ${schema.features.map((f) => f.name).join(', ')}`, `unknown input '${t.name}'`);
    }
  }
  const bindings: Bindings = new Map();
  const lead = schema.layout === 'batch' ? 'batch' : 'cand';
  const readers: FeatureReader[] = [];
  const shapes: number[][] = [];
  for (const f of schema.features) {
    const t = byName.get(f.name);
    const want = tensorShapeOf(f, schema.layout);
    if (!t)
      throw new RequestError(
        `inputs.${f.name}`,
        `an input '${f.name}' of shape ${shapeText(want)} (${f.dtype})`,
        'nothing (missing input)',
      );
    const expected = () => {
      const resolved = want.map((d) => (typeof d === 'number' ? d : (bindings.get(d)?.value ?? d)));
      const bound = want
        .filter((d): d is string => typeof d === 'string' && bindings.has(d))
        .map((d) => `'${d}' = ${bindings.get(d)!.value} from ${bindings.get(d)!.from}`);
      return `shape ${shapeText(resolved)} (${f.dtype}${shapeText(want)}${bound.length ? `; ${bound.join(', ')}` : ''})`;
    };
    const actual = shapeText(t.shape);
    if (t.shape.length !== want.length) throw new RequestError(`${t.field}.shape`, expected(), actual);
    want.forEach((d, k) => {
      const n = t.shape[k]!;
      if (typeof d === 'number') {
        if (n !== d) throw new RequestError(`${t.field}.shape`, expected(), actual);
        return;
      }
      const b = bindings.get(d);
      if (b !== undefined) {
        if (b.value !== n) throw new RequestError(`${t.field}.shape`, expected(), actual);
        return;
      }
      if (d === lead && (n < 1 || n > limits.maxCandidates)) {
        const what = lead === 'batch' ? 'samples' : 'candidates';
        throw new RequestError(
          `${t.field}.shape`,
          `1..${limits.maxCandidates} ${what} on '${d}' (--max-candidates ${limits.maxCandidates}) at axis ${k}`,
          `${n} (shape ${actual})`,
        );
      }
      bindings.set(d, { value: n, from: `${t.field}.shape` });
    });
    const size = sizeOf(t.shape);
    if (t.data.length !== size) {
      throw new RequestError(`${t.field}.data`, `${size} values (${f.dtype}${actual}, row-major)`, describeJson(t.data));
    }
    const r = new FeatureReader(f, bindings);
    // columns as parseScoreRequest counts them: the last axis of the value without its leading dim(s)
    r.readFlat(t.data, `${t.field}.data`, f.shape.length > 0 ? t.shape[t.shape.length - 1] : undefined);
    readers.push(r);
    shapes.push(t.shape.slice(0, f.graphShape.length)); // [batch, 1] -> [batch]
  }
  checkPadding(readers);
  const feeds: Record<string, HostTensor> = {};
  readers.forEach((r, k) => {
    feeds[r.spec.name] = r.tensorOf(shapes[k]!);
  });
  return { feeds, count: bindings.get(lead)?.value ?? 1 };
}
