/**
 * The row-source abstraction every reader is built on: a Table has a header (column names) and
 * yields its rows in batches, streaming (a CSV file chunk by chunk, a Parquet file row group by row
 * group). A Row is a cursor over one row with typed, error-reporting accessors.
 */

/** One cell as a source delivers it: CSV cells are strings, Parquet cells are typed. null/undefined/'' are "missing". */
export type Cell = string | number | bigint | boolean | null | undefined;

/** Progress of a long read, reported after each chunk (CSV, about every `chunkBytes`) or row group (Parquet) and once at the end. */
export interface ReadProgress {
  readonly file: string;
  /** bytes consumed so far (CSV: raw file bytes; Parquet: file bytes of the row groups read) */
  readonly bytes: number;
  /** size of the file in bytes */
  readonly totalBytes: number;
  /** data rows read so far (header excluded) */
  readonly rows: number;
  /** CSV: physical lines consumed so far (header and quoted line breaks included); Parquet: equals rows */
  readonly lines: number;
  readonly done: boolean;
}
export type ProgressCallback = (p: ReadProgress) => void;

/** A run of consecutive rows. */
export interface TableBatch {
  readonly length: number;
  /** cell of row r (0..length-1) in column c (index into the header) */
  cell(r: number, c: number): Cell;
  /** where row r comes from, for errors: 'file.csv:17' (physical line) or 'file.parquet:row 16' (0-based row) */
  where(r: number): string;
}

export interface Table {
  /** the path as given, used in every error message */
  readonly file: string;
  /** read the header (first call opens the file); column names */
  open(): Promise<readonly string[]>;
  /** 'file.csv:1' or 'file.parquet' (where header errors point) */
  readonly headerWhere: string;
  /** the rows after the header, streaming; call once, after open() */
  batches(onProgress?: ProgressCallback): AsyncIterable<TableBatch>;
}

/** Any error a reader raises: the message starts with 'file:line: ' (or 'file: ' for whole-file problems). */
export class ReaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReaderError';
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export const isMissing = (v: Cell): boolean => v === null || v === undefined || v === '';

/**
 * Strict number parsing: decimal or exponent notation only (no hex, no blanks, no 'Infinity'); undefined when missing. `what` names the
 * cell in errors ("column 'rating'").
 */
export function parseNumber(v: Cell, where: string, what: string): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ReaderError(`${where}: bad number in ${what}: ${v}`);
    return v;
  }
  if (typeof v === 'bigint') {
    if (v > MAX_EXACT || v < -MAX_EXACT) throw beyondExact(where, what, String(v));
    return Number(v);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && NUMBER.test(v)) {
    const x = Number(v);
    // never store a different value than the file holds: 1e999 is not a number, and an integer past 2^53 would be rounded
    if (!Number.isFinite(x)) throw new ReaderError(`${where}: bad number in ${what}: '${v}' (out of the float64 range)`);
    if (!Number.isSafeInteger(x) && INTEGER.test(v)) throw beyondExact(where, what, v);
    return x;
  }
  throw new ReaderError(`${where}: bad number in ${what}: '${String(v)}'`);
}

const INTEGER = /^[+-]?\d+$/;
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
const beyondExact = (where: string, what: string, text: string): ReaderError =>
  new ReaderError(
    `${where}: integer ${text} in ${what} is beyond 2^53 - 1 (${Number.MAX_SAFE_INTEGER}) and cannot be stored exactly; store it as a ` +
      `string id or scale it down`,
  );

/** A cell as an id / vocabulary key: strings as they are, numbers and bigints in decimal ('' when missing). */
export function cellText(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  throw new ReaderError(`unsupported cell value of type ${typeof v}`);
}

/**
 * A cursor over the rows of a table; rules receive it. Valid only during the call that receives it.
 * Accessors throw ReaderError naming file, line and column.
 */
export class Row {
  /** @internal */ batch: TableBatch | undefined;
  /** @internal */ r = 0;
  private readonly index: Map<string, number>;

  constructor(
    readonly file: string,
    readonly header: readonly string[],
    private readonly headerWhere = file,
  ) {
    this.index = new Map(header.map((h, i) => [h, i]));
  }

  /** 'file.csv:17' for the current row ('file.csv:1', the header, before the first row) */
  get where(): string {
    return this.batch ? this.batch.where(this.r) : this.headerWhere;
  }

  /** index of a column, or a ReaderError that lists the header */
  column(name: string, usedFor?: string): number {
    const k = this.index.get(name);
    if (k === undefined) throw missingColumn(this.where, name, this.header, usedFor);
    return k;
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** the cell by column index (fast path) */
  at(k: number): Cell {
    return this.batch!.cell(this.r, k);
  }

  get(name: string): Cell {
    return this.at(this.column(name));
  }

  /** the cell as text ('' when missing) */
  text(name: string): string {
    return cellText(this.get(name));
  }

  /** the cell as a number; a missing cell is an error unless `fallback` is given */
  number(name: string, fallback?: number): number {
    const v = parseNumber(this.get(name), this.where, `column '${name}'`);
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    throw new ReaderError(`${this.where}: missing value in column '${name}'`);
  }

  /** throw a ReaderError located at this row */
  fail(message: string): never {
    throw new ReaderError(`${this.where}: ${message}`);
  }
}

export function missingColumn(where: string, name: string, header: readonly string[], usedFor?: string): ReaderError {
  return new ReaderError(`${where}: missing column '${name}'${usedFor ? ` (${usedFor})` : ''}; the header has: ${header.join(', ')}`);
}

/** Open a table and check that its header has every named column (the error names the first missing one and lists the header). */
export async function requireColumns(table: Table, columns: readonly string[], usedFor?: string): Promise<readonly string[]> {
  const header = await table.open();
  for (const c of columns) if (!header.includes(c)) throw missingColumn(table.headerWhere, c, header, usedFor);
  return header;
}

/** Open a table and call `fn` for each row, streaming. Returns the number of rows. */
export async function forEachRow(table: Table, fn: (row: Row) => void, onProgress?: ProgressCallback): Promise<number> {
  const header = await table.open();
  const row = new Row(table.file, header, table.headerWhere);
  let n = 0;
  for await (const batch of table.batches(onProgress)) {
    row.batch = batch;
    for (let r = 0; r < batch.length; r++) {
      row.r = r;
      fn(row);
    }
    n += batch.length;
  }
  return n;
}
