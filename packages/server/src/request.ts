/**
 * A score request's JSON body -> the graph's input tensors, checked field by field BEFORE anything
 * runs: unknown and missing fields, JSON types, array lengths (static dims, and symbolic dims bound
 * consistently across the request), element types and int32 range, ids against their embedding
 * table (schema.ts; at valid positions only, where the feature has a mask), the candidate (sample)
 * count. Every failure is a RequestError naming the field
 * (a JSON path such as `user.lifelongSeq[7]`), what was expected and what came; its message is
 * always `<field>: expected <expected>, got <actual>`.
 *
 *   request and candidate-set layouts: { "user": { <user-side feature>: value, ... }, "candidates": [ { <candidate feature>: value, ... }, ... ] }
 *   batch layout:   { "samples": [ { <feature>: value, ... }, ... ] }
 *
 * A value is the graph input without its leading dim (1, 'cand' or 'batch'): a number (or boolean)
 * for a scalar feature, a JSON array for [N], nested arrays for [N, M].
 */
import { type Dim, type HostTensor, formatShape } from '@lctr/spec';
import type { FeatureSpec, RequestSchema, Side } from './schema.ts';

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
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

interface Binding { readonly value: number; readonly from: string }
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
    if (r.column === undefined) { if (!all || r.rows < all.rows) all = { rows: r.rows, table: r.table }; } else {
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

  constructor(readonly spec: FeatureSpec, private readonly bindings: Bindings) {
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
    const resolved = dims.map((x) => (typeof x === 'number' ? x : this.bindings.get(x)?.value ?? x));
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

  private readAt(v: unknown, depth: number, col: number | undefined): void {
    const dims = this.spec.shape;
    if (depth === dims.length) { this.element(v, col); return; }
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
        let error: RequestError | undefined;
        if (r && !(v >= 0 && v < r.rows)) error = this.bad(v, col);
        // a column range and a whole-input range can both apply: hold the value to both
        else if (r !== this.range.all && this.range.all && !(v >= 0 && v < this.range.all.rows)) {
          error = this.bad(v, col, `${dtype === 'int32' ? 'an int32' : 'an int64'} id in 0..${this.range.all.rows - 1} (rows of ${this.range.all.table})`);
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
    const shape = [lead, ...this.spec.shape.map((d) => (typeof d === 'number' ? d : this.bindings.get(d)?.value ?? 0))];
    const { dtype } = this.spec;
    switch (dtype) {
      case 'float32': return { dtype, shape, data: Float32Array.from(this.values as number[]) };
      case 'int32': return { dtype, shape, data: Int32Array.from(this.values as number[]) };
      case 'int64': return { dtype, shape, data: BigInt64Array.from(this.values as bigint[]) };
      case 'bool': return { dtype, shape, data: Uint8Array.from(this.values as number[]) };
    }
  }
}

const SIDE_WORDS: Readonly<Record<Side, string>> = { user: 'user-side features', candidate: 'candidate features', sample: 'features' };

/** Read the fields of one object (`user`, `candidates[i]`, `samples[i]`) into the readers of `side`. */
function readObject(o: unknown, path: string, side: Side, readers: readonly FeatureReader[], others: readonly FeatureSpec[]): void {
  const names = readers.map((r) => r.spec.name);
  if (!isObject(o)) throw new RequestError(path, `an object with the ${SIDE_WORDS[side]} ${names.join(', ')}`, describeJson(o));
  for (const k of Object.keys(o)) {
    if (readers.some((r) => r.spec.name === k)) continue;
    const elsewhere = others.find((f) => f.name === k);
    const hint = elsewhere ? `; '${k}' is a ${elsewhere.side === 'user' ? 'user-side feature: it goes in user' : 'candidate feature: it goes in each candidates[i]'}` : '';
    throw new RequestError(`${path}.${k}`, `one of the ${SIDE_WORDS[side]} ${names.join(', ')}${hint}`, `unknown field '${k}'`);
  }
  for (const r of readers) {
    if (!hasOwn(o, r.spec.name)) throw new RequestError(`${path}.${r.spec.name}`, r.expected(), describeJson(undefined));
  }
  for (const r of readers) r.read(o[r.spec.name], `${path}.${r.spec.name}`);
}

function checkTopLevel(body: unknown, fields: readonly string[], model: string, layoutWords: string, shape: string): asserts body is Record<string, unknown> {
  if (!isObject(body)) throw new RequestError('body', `a JSON object ${shape}`, describeJson(body));
  for (const k of Object.keys(body)) {
    if (!fields.includes(k)) throw new RequestError(k, `only the fields ${fields.map((f) => `"${f}"`).join(' and ')} (${layoutWords} model '${model}')`, `unknown field '${k}'`);
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
    checkTopLevel(body, ['user', 'candidates'], model, set ? 'candidate-set' : 'per-request', '{"user": {...}, "candidates": [{...}, ...]}');
    if (!hasOwn(body, 'user')) throw new RequestError('user', `an object with the user-side features ${user.map((r) => r.spec.name).join(', ')}`, describeJson(undefined));
    if (!hasOwn(body, 'candidates')) throw new RequestError('candidates', `an array of 1..${limits.maxCandidates} candidate objects (--max-candidates ${limits.maxCandidates})`, describeJson(undefined));
    readObject(body['user'], 'user', 'user', user, schema.features);
    const list = checkList(body['candidates'], 'candidates', 'candidate objects', limits);
    bindings.set('cand', { value: list.length, from: 'candidates' });
    list.forEach((c, i) => readObject(c, `candidates[${i}]`, 'candidate', cand, schema.features));
    checkPadding(readers);
    for (const r of user) feeds[r.spec.name] = r.tensor(1);
    for (const r of cand) {
      const t = r.tensor(list.length);
      feeds[r.spec.name] = set ? { ...t, shape: [1, ...t.shape] } as HostTensor : t;   // [1, cand, ...]
    }
    for (const f of schema.features.filter((x) => x.filled)) {
      feeds[f.name] = { dtype: 'bool', shape: [1, list.length], data: new Uint8Array(list.length).fill(1) };
    }
    return { feeds, count: list.length };
  }
  checkTopLevel(body, ['samples'], model, 'batch-layout', '{"samples": [{...}, ...]}');
  if (!hasOwn(body, 'samples')) throw new RequestError('samples', `an array of 1..${limits.maxCandidates} sample objects (--max-candidates ${limits.maxCandidates})`, describeJson(undefined));
  const list = checkList(body['samples'], 'samples', 'sample objects', limits);
  bindings.set('batch', { value: list.length, from: 'samples' });
  list.forEach((s, i) => readObject(s, `samples[${i}]`, 'sample', readers, schema.features));
  checkPadding(readers);
  for (const r of readers) feeds[r.spec.name] = r.tensor(list.length);
  return { feeds, count: list.length };
}
