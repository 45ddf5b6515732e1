/**
 * What both stores share: the store interface, version manifests, lookup batches and their checks,
 * the miss counters, and the assembly of K̃(u, i, c, v) rows from table rows.
 */
import { GkcError } from './errors.ts';
import {
  KEY_ARITY,
  KEY_FIELDS,
  type KnowledgeTables,
  type PartName,
  type PartSlot,
  TABLE_NAMES,
  type TableName,
  checkParts,
  layoutOf,
  sortTable,
  tablesOfParts,
  tablesSha256,
  validateTables,
} from './tables.ts';

/** The issue's bound: at most this many versions are kept, the oldest evicted first. */
export const DEFAULT_MAX_VERSIONS = 5;

export interface VersionManifest {
  readonly format: 'gkc-version/1';
  /** The version id the caller chose (letters, digits, '.', '_', '-'; at most 64). */
  readonly version: string;
  /** Registration order within the store; eviction drops the lowest. */
  readonly seq: number;
  readonly parts: readonly PartName[];
  /** Width of the assembled vector. */
  readonly dim: number;
  /** Offsets of the parts in the assembled vector. */
  readonly slots: readonly PartSlot[];
  readonly tables: Readonly<Partial<Record<TableName, { readonly rows: number; readonly dim: number }>>>;
  /** ISO time the version was registered. */
  readonly createdAt: string;
  /** Free text: where the tables came from (file, extractor run). */
  readonly source: string;
  /** tablesSha256 of the sorted tables. */
  readonly sha256: string;
}

export interface LookupBatch {
  readonly users: Int32Array;
  readonly items: Int32Array;
  readonly categories: Int32Array;
  /** One version for the whole batch, or one per row (all of the same dim). */
  readonly version: string | readonly string[];
}

export interface PutOptions {
  /** Where the tables came from; stored in the manifest. */
  readonly source?: string;
  /** Replace an existing version with the same id (it becomes the newest). */
  readonly force?: boolean;
  /**
   * Set the store's bound on versions (kept in the store, so later loads and readers follow it);
   * this load then evicts beyond it. Absent: the store's current bound.
   */
  readonly maxVersions?: number;
  /** Test hook, called after each step of a load (file or key written); a throw or a kill here simulates a crash. */
  readonly onStep?: (step: string) => void | Promise<void>;
}

export interface PutResult {
  readonly manifest: VersionManifest;
  /** Version ids removed by this load because the store holds at most maxVersions (oldest first). */
  readonly evicted: readonly string[];
  /** Whether the load replaced an existing version of the same id (force). */
  readonly replaced: boolean;
  /** Version ids held after the load, oldest first. */
  readonly versions: readonly string[];
}

export interface GkcMetrics {
  /** Single-version lookups answered (a batch naming several versions counts once per version). */
  readonly batches: number;
  /** Quadruples answered. */
  readonly rows: number;
  /** Unknown keys per table (a row missing in the user table counts once under 'user'). */
  readonly misses: Readonly<Record<TableName, number>>;
  /** lookup calls refused because a version was unknown (a caller bug, not a miss). */
  readonly unknownVersions: number;
}

export interface KnowledgeStore {
  readonly kind: 'embedded' | 'redis';
  /** The store's own bound on versions (kept in the store; a load's PutOptions.maxVersions changes it). */
  readonly maxVersions: number;
  /** The versions held, oldest first. */
  versions(): Promise<VersionManifest[]>;
  /** The manifest of one version; throws naming the known versions when unknown. */
  manifest(version: string): Promise<VersionManifest>;
  /** Register a version (validated, sorted, atomically visible) and evict beyond the bound. */
  putVersion(version: string, tables: KnowledgeTables, options?: PutOptions): Promise<PutResult>;
  /**
   * K̃(u, i, c, v) for each row as one row-major Float32Array [n, dim] (written into `out` when
   * given). Unknown keys give zeros for their parts and count in metrics(); an unknown version throws.
   */
  lookup(batch: LookupBatch, out?: Float32Array): Promise<Float32Array>;
  metrics(): GkcMetrics;
  resetMetrics(): void;
  close(): Promise<void>;
}

// ------------------------------------------------------------------ version ids, manifests

const VERSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkVersionId(version: unknown, where = 'version'): string {
  if (typeof version !== 'string' || !VERSION_ID.test(version)) {
    throw new GkcError(
      `${where} must be 1-64 characters of letters, digits, '.', '_', '-' starting with a letter or digit; got ${JSON.stringify(version)}`,
    );
  }
  return version;
}

/** Validate and sort tables and build the manifest of a version about to be registered. */
export function prepareVersion(
  version: string,
  tables: KnowledgeTables,
  seq: number,
  source: string,
): { sorted: KnowledgeTables; manifest: VersionManifest } {
  checkVersionId(version);
  const where = `knowledge version '${version}'`;
  validateTables(tables, where);
  const parts = [...tables.parts];
  const sortedParts: Partial<Record<TableName, ReturnType<typeof sortTable>>> = {};
  const dims: Partial<Record<TableName, number>> = {};
  const shapes: Partial<Record<TableName, { rows: number; dim: number }>> = {};
  for (const name of tablesOfParts(parts)) {
    sortedParts[name] = sortTable(name, tables[name]!, where);
    dims[name] = tables[name]!.dim;
    shapes[name] = { rows: tables[name]!.rows, dim: tables[name]!.dim };
  }
  const sorted: KnowledgeTables = { parts, ...sortedParts };
  const { slots, dim } = layoutOf(parts, dims, where);
  const manifest: VersionManifest = {
    format: 'gkc-version/1',
    version,
    seq,
    parts,
    dim,
    slots,
    tables: shapes,
    createdAt: new Date().toISOString(),
    source,
    sha256: tablesSha256(sorted),
  };
  return { sorted, manifest };
}

/** Parse a stored manifest (JSON), checking the fields lookups rely on. */
export function parseManifest(text: string, where: string): VersionManifest {
  let m: VersionManifest;
  try {
    m = JSON.parse(text) as VersionManifest;
  } catch (e) {
    throw new GkcError(`${where}: manifest is not JSON (${(e as Error).message})`);
  }
  if (m === null || typeof m !== 'object' || m.format !== 'gkc-version/1') throw new GkcError(`${where}: not a gkc-version/1 manifest`);
  checkVersionId(m.version, `${where}: version`);
  const parts = checkParts(m.parts, where);
  const dims: Partial<Record<TableName, number>> = {};
  for (const t of tablesOfParts(parts)) {
    const s = m.tables?.[t];
    if (!s || !Number.isInteger(s.rows) || !Number.isInteger(s.dim))
      throw new GkcError(`${where}: manifest lacks the shape of table '${t}'`);
    dims[t] = s.dim;
  }
  const { dim } = layoutOf(parts, dims, where);
  if (m.dim !== dim) throw new GkcError(`${where}: manifest dim ${m.dim} disagrees with its parts (${dim})`);
  return m;
}

export function unknownVersionError(version: string, known: readonly string[]): GkcError {
  return new GkcError(`unknown knowledge version '${version}'; known versions (oldest first): ${known.length ? known.join(', ') : 'none'}`);
}

// ------------------------------------------------------------------ batches

/** Check a lookup batch; returns n. Caller bugs (wrong types, lengths) throw, naming the field. */
export function checkBatch(batch: LookupBatch): number {
  if (batch === null || typeof batch !== 'object')
    throw new GkcError(`lookup: batch must be { users, items, categories, version }; got ${batch === null ? 'null' : typeof batch}`);
  const n = batch.users instanceof Int32Array ? batch.users.length : -1;
  for (const field of ['users', 'items', 'categories'] as const) {
    const a = batch[field];
    if (!(a instanceof Int32Array))
      throw new GkcError(
        `lookup: batch.${field} must be an Int32Array; got ` +
          `${a === undefined ? 'undefined' : a === null ? 'null' : ((a as object).constructor?.name ?? typeof a)}`,
      );
    if (a.length !== n) throw new GkcError(`lookup: batch.${field} has ${a.length} entries; batch.users has ${n}`);
  }
  const v = batch.version;
  if (typeof v !== 'string') {
    if (!Array.isArray(v))
      throw new GkcError(
        `lookup: batch.version must be a version id or an array of ${n} ids; got ${v === undefined ? 'undefined' : typeof v}`,
      );
    if (v.length !== n) throw new GkcError(`lookup: batch.version has ${v.length} entries; batch.users has ${n}`);
  }
  return n;
}

export function checkOut(out: Float32Array | undefined, n: number, dim: number): Float32Array {
  if (out === undefined) return new Float32Array(n * dim);
  if (!(out instanceof Float32Array) || out.length !== n * dim) {
    throw new GkcError(
      `lookup: out must be a Float32Array of ${n} x ${dim} = ${n * dim}; got ` +
        `${out instanceof Float32Array ? `length ${out.length}` : typeof out}`,
    );
  }
  return out;
}

/** The rows of a batch grouped by the version they name, each group a single-version sub-batch. */
export interface VersionGroup {
  readonly version: string;
  readonly rows: Int32Array;
  readonly batch: LookupBatch;
}

export function groupByVersion(batch: LookupBatch & { version: readonly string[] }, n: number): VersionGroup[] {
  const groups = new Map<string, number[]>();
  for (let r = 0; r < n; r++) {
    const v = batch.version[r]!;
    if (typeof v !== 'string') throw new GkcError(`lookup: batch.version[${r}] must be a version id; got ${typeof v}`);
    let g = groups.get(v);
    if (!g) groups.set(v, (g = []));
    g.push(r);
  }
  return [...groups].map(([version, list]) => {
    const k = list.length,
      rows = Int32Array.from(list);
    const users = new Int32Array(k),
      items = new Int32Array(k),
      categories = new Int32Array(k);
    for (let j = 0; j < k; j++) {
      const r = rows[j]!;
      users[j] = batch.users[r]!;
      items[j] = batch.items[r]!;
      categories[j] = batch.categories[r]!;
    }
    return { version, rows, batch: { users, items, categories, version } };
  });
}

/** The one width the groups' versions assemble to; throws when they differ. */
export function commonDim(manifests: readonly VersionManifest[]): number {
  let dim = -1,
    first = '';
  for (const m of manifests) {
    if (dim < 0) {
      dim = m.dim;
      first = m.version;
    } else if (m.dim !== dim) {
      throw new GkcError(
        `lookup: the rows of one batch must assemble to one width; version '${first}' gives ${dim}, version '${m.version}' gives ${m.dim}`,
      );
    }
  }
  return Math.max(dim, 0);
}

/** Copy a group's assembled rows back to their places in the batch result. */
export function scatterRows(part: Float32Array, rows: Int32Array, dim: number, out: Float32Array): void {
  for (let j = 0; j < rows.length; j++) out.set(part.subarray(j * dim, (j + 1) * dim), rows[j]! * dim);
}

// ------------------------------------------------------------------ metrics

export class MissCounter {
  batches = 0;
  rows = 0;
  unknownVersions = 0;
  readonly misses: Record<TableName, number> = { user: 0, item: 0, userCategory: 0, userItem: 0 };
  snapshot(): GkcMetrics {
    return { batches: this.batches, rows: this.rows, misses: { ...this.misses }, unknownVersions: this.unknownVersions };
  }
  reset(): void {
    this.batches = 0;
    this.rows = 0;
    this.unknownVersions = 0;
    for (const t of TABLE_NAMES) this.misses[t] = 0;
  }
}

// ------------------------------------------------------------------ assembly

/** Key columns of `table` for row r of the batch. */
export function keyOf(batch: LookupBatch, table: TableName, r: number): [number, number] {
  const f = KEY_FIELDS[table];
  return [batch[f[0]!][r]!, KEY_ARITY[table] === 2 ? batch[f[1]!][r]! : 0];
}

/**
 * Write the assembled rows: rowOf[table][r] is the row index of the batch's key in that table's
 * values (-1: unknown key, its parts stay zero). No per-row objects.
 */
export function assembleFromIndex(
  manifest: VersionManifest,
  values: Partial<Record<TableName, Float32Array>>,
  rowOf: Partial<Record<TableName, Int32Array>>,
  n: number,
  out: Float32Array,
): void {
  const dim = manifest.dim;
  for (const slot of manifest.slots) {
    const { offset, dim: d } = slot;
    if (slot.part === 'user*item') {
      const U = values.user!,
        I = values.item!,
        ru = rowOf.user!,
        ri = rowOf.item!;
      for (let r = 0; r < n; r++) {
        const iu = ru[r]!,
          ii = ri[r]!,
          o = r * dim + offset;
        if (iu < 0 || ii < 0) {
          for (let j = 0; j < d; j++) out[o + j] = 0;
          continue;
        }
        const bu = iu * d,
          bi = ii * d;
        for (let j = 0; j < d; j++) out[o + j] = U[bu + j]! * I[bi + j]!;
      }
    } else {
      const V = values[slot.part]!,
        rows = rowOf[slot.part]!;
      for (let r = 0; r < n; r++) {
        const i = rows[r]!,
          o = r * dim + offset;
        if (i < 0) {
          for (let j = 0; j < d; j++) out[o + j] = 0;
          continue;
        }
        const b = i * d; // a plain loop: out.set(V.subarray(..)) allocates a view per row
        for (let j = 0; j < d; j++) out[o + j] = V[b + j]!;
      }
    }
  }
}

/** The same from per-row Float32Array views (null: unknown key), as a remote store returns them. */
export function assembleFromRows(
  manifest: VersionManifest,
  rowsOf: Partial<Record<TableName, readonly (Float32Array | null)[]>>,
  n: number,
  out: Float32Array,
): void {
  const dim = manifest.dim;
  for (const slot of manifest.slots) {
    const { offset, dim: d } = slot;
    if (slot.part === 'user*item') {
      const us = rowsOf.user!,
        is = rowsOf.item!;
      for (let r = 0; r < n; r++) {
        const u = us[r],
          i = is[r],
          o = r * dim + offset;
        if (!u || !i) {
          out.fill(0, o, o + d);
          continue;
        }
        for (let j = 0; j < d; j++) out[o + j] = u[j]! * i[j]!;
      }
    } else {
      const rows = rowsOf[slot.part]!;
      for (let r = 0; r < n; r++) {
        const v = rows[r],
          o = r * dim + offset;
        if (!v) out.fill(0, o, o + d);
        else out.set(v, o);
      }
    }
  }
}
