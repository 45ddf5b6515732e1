/**
 * Parquet files (as Spark, DuckDB or pyarrow write them) through hyparquet (pure JS) with
 * hyparquet-compressors (gzip, zstd, brotli, lz4; snappy is built into hyparquet). One row group
 * is decoded at a time, so memory follows the row group size, not the file size.
 *
 * Cells: strings (UTF8 / STRING / plain BYTE_ARRAY), numbers (INT32, FLOAT, DOUBLE, DECIMAL),
 * bigints (INT64 without a logical type), booleans, null. Timestamps of every unit and INT96
 * (Spark's default) become epoch seconds (number), DATE becomes epoch seconds at midnight UTC.
 * Nested columns (structs, lists, maps) are not supported.
 */
import { type AsyncBuffer, type FileMetaData, asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { type Cell, type ProgressCallback, ReaderError, type Table, type TableBatch } from './table.ts';

export interface ParquetOptions {
  /** read only these columns (default: every column); other columns do not appear in the header */
  readonly columns?: readonly string[];
}

const parsers = {
  timestampFromMilliseconds: (v: bigint) => Number(v) / 1e3,
  timestampFromMicroseconds: (v: bigint) => Number(v) / 1e6,
  timestampFromNanoseconds: (v: bigint) => Number(v) / 1e9,
  dateFromDays: (days: number) => days * 86400,
};

/** A Parquet file as a streaming Table (one batch per row group). Rows are named 'file.parquet:row N' (N 0-based) in errors. */
export function openParquet(path: string, options: ParquetOptions = {}): Table {
  let file: AsyncBuffer | undefined;
  let metadata: FileMetaData | undefined;
  let header: string[] | undefined;

  return {
    file: path,
    headerWhere: path,
    async open() {
      if (header) return header;
      try {
        file = await asyncBufferFromFile(path);
        metadata = await parquetMetadataAsync(file);
      } catch (e) {
        throw new ReaderError(`${path}: cannot read Parquet metadata: ${(e as Error).message}`);
      }
      // schema[0] is the root; its direct children are the columns, each followed by its own subtree
      const schema = metadata.schema;
      const top: { name: string; nested: boolean }[] = [];
      for (let i = 1; i < schema.length; ) {
        const el = schema[i]!;
        const nested = (el.num_children ?? 0) > 0 || el.repetition_type === 'REPEATED';
        top.push({ name: el.name, nested });
        // skip this element's subtree
        let pending = el.num_children ?? 0;
        i++;
        while (pending > 0) {
          pending += (schema[i]!.num_children ?? 0) - 1;
          i++;
        }
      }
      const all = top.map((t) => t.name);
      if (options.columns) {
        for (const c of options.columns)
          if (!all.includes(c)) throw new ReaderError(`${path}: missing column '${c}' (options.columns); the file has: ${all.join(', ')}`);
      }
      header = options.columns ? [...options.columns] : all;
      for (const t of top) {
        if (t.nested && header.includes(t.name))
          throw new ReaderError(
            `${path}: column '${t.name}' is nested (struct, list or map); only flat columns are supported (leave it out with ` +
              `options.columns)`,
          );
      }
      return header;
    },
    async *batches(onProgress?: ProgressCallback) {
      if (!header || !file || !metadata) throw new ReaderError(`${path}: batches() before open()`);
      const cols = header,
        f = file,
        md = metadata;
      let rowStart = 0,
        bytes = 0;
      for (const rg of md.row_groups) {
        const n = Number(rg.num_rows);
        const rowEnd = rowStart + n;
        const pieces = new Map<string, { start: number; data: ArrayLike<unknown> }[]>();
        try {
          await parquetRead({
            file: f,
            metadata: md,
            columns: cols,
            rowStart,
            rowEnd,
            compressors,
            parsers,
            onChunk: (c) => {
              let list = pieces.get(c.columnName);
              if (!list) pieces.set(c.columnName, (list = []));
              list.push({ start: c.rowStart, data: c.columnData });
            },
          });
        } catch (e) {
          throw new ReaderError(
            `${path}:row ${rowStart}: cannot decode the row group of rows ${rowStart}..${rowEnd - 1}: ${(e as Error).message}`,
          );
        }
        const data = cols.map((name) => assemble(path, name, pieces.get(name) ?? [], rowStart, rowEnd));
        const base = rowStart;
        const batch: TableBatch = {
          length: n,
          cell: (r: number, c: number): Cell => {
            const v = data[c]![r];
            if (typeof v === 'object' && v !== null) {
              throw new ReaderError(
                `${path}:row ${base + r}: column '${cols[c]}' holds a ${v.constructor.name} value; only strings, numbers, booleans and ` +
                  `timestamps are supported`,
              );
            }
            return v as Cell;
          },
          where: (r: number) => `${path}:row ${base + r}`,
        };
        yield batch;
        rowStart = rowEnd;
        bytes += rg.columns.reduce((s, ch) => s + Number(ch.meta_data?.total_compressed_size ?? 0n), 0);
        onProgress?.({ file: path, bytes, totalBytes: f.byteLength, rows: rowStart, lines: rowStart, done: false });
      }
      onProgress?.({ file: path, bytes: f.byteLength, totalBytes: f.byteLength, rows: rowStart, lines: rowStart, done: true });
    },
  };
}

/** one column's values for rows rowStart..rowEnd-1 from the decoded pieces (usually one) */
function assemble(
  path: string,
  name: string,
  pieces: { start: number; data: ArrayLike<unknown> }[],
  rowStart: number,
  rowEnd: number,
): ArrayLike<unknown> {
  if (pieces.length === 1 && pieces[0]!.start === rowStart && pieces[0]!.data.length === rowEnd - rowStart) return pieces[0]!.data;
  const out = new Array<unknown>(rowEnd - rowStart);
  let filled = 0;
  for (const p of pieces) {
    for (let i = 0; i < p.data.length; i++) {
      const r = p.start + i;
      if (r >= rowStart && r < rowEnd) {
        out[r - rowStart] = p.data[i];
        filled++;
      }
    }
  }
  if (filled !== rowEnd - rowStart)
    throw new ReaderError(`${path}:row ${rowStart}: column '${name}' decoded ${filled} of ${rowEnd - rowStart} rows of its row group`);
  return out;
}
