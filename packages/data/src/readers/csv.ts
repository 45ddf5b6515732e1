/**
 * Streaming CSV / TSV: a small RFC 4180 state machine fed chunk by chunk from fs.createReadStream.
 * Quoted fields may hold delimiters, doubled quotes and line breaks; a record may span chunks.
 * Deviations from RFC 4180, all lenient: LF or CRLF (or lone CR) line ends, blank lines are skipped,
 * a quote inside an unquoted field is literal, a UTF-8 byte-order mark is dropped. Invalid UTF-8 is
 * an error naming the line (never replaced by U+FFFD).
 */
import { createReadStream, statSync } from 'node:fs';
import { type Cell, type ProgressCallback, ReaderError, type Table, type TableBatch } from './table.ts';

export interface CsvRecord {
  readonly fields: string[];
  /** physical line (1-based) where the record starts */
  readonly line: number;
}

/** Parsed records, flat (no object per record): record k holds fields[ends[k - 1] ?? 0 .. ends[k]) and starts on line lines[k]. */
export interface CsvRecords {
  readonly fields: string[];
  readonly ends: number[];
  readonly lines: number[];
}

export const emptyRecords = (): CsvRecords => ({ fields: [], ends: [], lines: [] });

/** the records of a CsvRecords as objects (tests, small files) */
export function csvRecords(r: CsvRecords): CsvRecord[] {
  return r.ends.map((end, k) => ({ fields: r.fields.slice(k ? r.ends[k - 1]! : 0, end), line: r.lines[k]! }));
}

/**
 * Incremental tokenizer: feed text as it arrives; complete records come out, an incomplete last
 * record waits for more text (or `final`).
 */
export class CsvParser {
  private buf = '';
  private line = 1;
  private readonly d: number;
  private readonly q: number;

  /** `file` names errors; `quote` null disables quoting (every character is literal). */
  constructor(
    readonly file: string,
    delimiter = ',',
    quote: string | null = '"',
  ) {
    if (delimiter.length !== 1 || delimiter === '\n' || delimiter === '\r')
      throw new ReaderError(`${file}: the delimiter must be one character other than a line break, got ${JSON.stringify(delimiter)}`);
    if (quote !== null && (quote.length !== 1 || quote === delimiter))
      throw new ReaderError(`${file}: the quote must be one character other than the delimiter, got ${JSON.stringify(quote)}`);
    this.d = delimiter.charCodeAt(0);
    this.q = quote === null ? -1 : quote.charCodeAt(0);
  }

  /** physical lines consumed so far (the line the next record starts on, minus one) */
  get linesConsumed(): number {
    return this.line - 1;
  }

  /** Parse `text` (appended to what is pending); append complete records to `out`. */
  feed(text: string, final: boolean, out: CsvRecords): void {
    const fields = out.fields,
      ends = out.ends,
      lines = out.lines;
    const s = this.buf.length ? this.buf + text : text;
    const n = s.length,
      D = this.d,
      Q = this.q;
    let pos = 0,
      line = this.line;
    let recStart = 0,
      recLine = line,
      complete = false;
    records: for (;;) {
      if (pos >= n) {
        complete = true;
        break;
      }
      recStart = pos;
      recLine = line;
      const f0 = fields.length;
      const c0 = s.charCodeAt(pos);
      if (c0 === 10) {
        pos++;
        line++;
        continue;
      } // blank line
      if (c0 === 13) {
        if (pos + 1 < n) {
          pos += s.charCodeAt(pos + 1) === 10 ? 2 : 1;
          line++;
          continue;
        }
        if (final) {
          pos++;
          line++;
          continue;
        }
        break;
      }
      for (;;) {
        let end: number; // position after the field
        if (Q >= 0 && s.charCodeAt(pos) === Q) {
          let val = '',
            p = pos + 1;
          for (;;) {
            const qi = s.indexOf(String.fromCharCode(Q), p);
            if (qi < 0) {
              if (final)
                throw new ReaderError(
                  `${this.file}:${recLine}: unterminated quoted field in column ${fields.length - f0 + 1} (the file ends inside quotes)`,
                );
              break records;
            }
            val += s.slice(p, qi);
            if (qi + 1 >= n && !final) break records; // "" split across chunks?
            if (s.charCodeAt(qi + 1) === Q) {
              val += s[qi];
              p = qi + 2;
              continue;
            }
            p = qi + 1;
            break;
          }
          for (let i = pos; i < p; i++) if (s.charCodeAt(i) === 10) line++;
          fields.push(val);
          end = p;
          if (end < n) {
            const c = s.charCodeAt(end);
            if (c !== D && c !== 10 && c !== 13) {
              throw new ReaderError(
                `${this.file}:${line}: unexpected character ${JSON.stringify(s[end])} after the closing quote of column ` +
                  `${fields.length - f0}; a quoted field must end at a delimiter or line end`,
              );
            }
          }
        } else {
          let j = pos;
          while (j < n) {
            const c = s.charCodeAt(j);
            if (c === D || c === 10 || c === 13) break;
            j++;
          }
          if (j >= n && !final) break records;
          fields.push(s.slice(pos, j));
          end = j;
        }
        if (end >= n) {
          if (!final) break records;
          pos = end;
          ends.push(fields.length);
          lines.push(recLine);
          break;
        }
        const c = s.charCodeAt(end);
        if (c === D) {
          pos = end + 1;
          if (pos >= n) {
            if (!final) break records;
            fields.push('');
            ends.push(fields.length);
            lines.push(recLine);
            break;
          }
          continue;
        }
        // line end
        if (c === 13) {
          if (end + 1 >= n && !final) break records; // CR LF split across chunks
          pos = end + (s.charCodeAt(end + 1) === 10 ? 2 : 1);
        } else pos = end + 1;
        line++;
        ends.push(fields.length);
        lines.push(recLine);
        break;
      }
    }
    // complete: everything parsed; otherwise the record from recStart waits for more text
    if (!complete) fields.length = ends.length ? ends[ends.length - 1]! : 0; // take back the fields of the cut record
    this.buf = complete ? '' : s.slice(recStart);
    this.line = complete ? line : recLine;
  }
}

export interface CsvOptions {
  /** field delimiter; default '\t' for .tsv/.tab and RecBole atomic files (.inter/.item/.user), else ',' */
  delimiter?: string;
  /** quote character (default '"'); null: no quoting, every character is literal (RecBole atomic files) */
  quote?: string | null;
  /** strip RecBole type suffixes from header names ('user_id:token' -> 'user_id'); default false */
  atomicHeader?: boolean;
  /** bytes per read (default 1 MiB); progress is reported once per chunk */
  chunkBytes?: number;
  /** the column names of a file without a header line (the Taobao UserBehavior layout); its first line is then data */
  header?: readonly string[];
}

const TSV_EXT = /\.(tsv|tab|inter|item|user)$/i;

/** A CSV/TSV file as a streaming Table. Header names are trimmed; duplicates are an error. */
export function openCsv(path: string, options: CsvOptions = {}): Table {
  const delimiter = options.delimiter ?? (TSV_EXT.test(path) ? '\t' : ',');
  const parser = new CsvParser(path, delimiter, options.quote === undefined ? '"' : options.quote);
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  let header: string[] | undefined;
  let pending = emptyRecords();
  let skip = 0; // records of `pending` already taken (the header)
  let source: AsyncIterator<Buffer> | undefined;
  let bytes = 0,
    totalBytes = 0,
    ended = false;
  // fatal: a byte sequence that is not UTF-8 must fail, not turn silently into U+FFFD
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let newlines = 0; // '\n' bytes in the chunks decoded so far (line numbers of encoding errors)
  let first = true;
  const decode = (chunk: Uint8Array | undefined): string => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      const at = chunk ? firstInvalidUtf8(chunk) : 0;
      const c = chunk ?? new Uint8Array(0);
      let line = newlines + 1;
      for (let i = 0; i < at; i++) if (c[i] === 10) line++;
      const what =
        at < c.length
          ? `byte 0x${c[at]!.toString(16).padStart(2, '0')} at file offset ${bytes - c.length + at}`
          : 'the file ends inside a multi-byte character';
      throw new ReaderError(`${path}:${line}: invalid UTF-8 (${what}); the file must be UTF-8 encoded`);
    }
  };

  /** read one more chunk into `pending`; false at end of file */
  const pull = async (): Promise<boolean> => {
    if (ended) return false;
    if (!source) {
      try {
        totalBytes = statSync(path).size;
      } catch (e) {
        throw new ReaderError(`${path}: cannot open: ${(e as Error).message}`);
      }
      source = createReadStream(path, { highWaterMark: chunkBytes })[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    }
    const next = await source.next();
    let text: string;
    if (next.done) {
      ended = true;
      text = decode(undefined);
    } else {
      bytes += next.value.length;
      text = decode(next.value);
      for (let i = next.value.indexOf(10); i >= 0; i = next.value.indexOf(10, i + 1)) newlines++;
    }
    if (first && text.length) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    parser.feed(text, ended, pending);
    return true;
  };

  const table: Table = {
    file: path,
    headerWhere: `${path}:1`,
    async open() {
      if (header) return header;
      if (options.header) {
        header = options.header.map((h) => h.trim());
        const seen = new Set<string>();
        for (const name of header) {
          if (seen.has(name)) throw new ReaderError(`${path}: duplicate column '${name}' in the given header`);
          seen.add(name);
        }
        return header;
      }
      while (pending.ends.length === 0 && (await pull())) {
        /* until the header record is complete */
      }
      if (pending.ends.length === 0) throw new ReaderError(`${path}: empty file (no header line)`);
      const h = pending.fields.slice(0, pending.ends[0]);
      skip = 1;
      header = h.map((f) => {
        const t = f.trim();
        return options.atomicHeader ? t.replace(/:[A-Za-z_]+$/, '') : t;
      });
      const seen = new Set<string>();
      for (const name of header) {
        if (seen.has(name)) throw new ReaderError(`${path}:${pending.lines[0]}: duplicate column '${name}' in the header`);
        seen.add(name);
      }
      return header;
    },
    async *batches(onProgress?: ProgressCallback) {
      if (!header) throw new ReaderError(`${path}: batches() before open()`);
      const width = header.length;
      let rows = 0;
      for (;;) {
        if (pending.ends.length > skip) {
          const recs = pending,
            first = skip;
          pending = emptyRecords();
          skip = 0;
          const ends = recs.ends;
          for (let k = first; k < ends.length; k++) {
            const n = ends[k]! - (k ? ends[k - 1]! : 0);
            if (n !== width) throw new ReaderError(`${path}:${recs.lines[k]}: expected ${width} fields as in the header, got ${n}`);
          }
          rows += ends.length - first;
          yield csvBatch(path, recs, first, width);
        }
        onProgress?.({ file: path, bytes, totalBytes, rows, lines: parser.linesConsumed, done: ended });
        if (ended) return;
        await pull();
      }
    },
  };
  return table;
}

/** records first.. of `recs`, all `width` fields wide */
function csvBatch(path: string, recs: CsvRecords, first: number, width: number): TableBatch {
  const fields = recs.fields,
    lines = recs.lines,
    base = first ? recs.ends[first - 1]! : 0;
  return {
    length: recs.ends.length - first,
    cell: (r: number, c: number): Cell => fields[base + r * width + c],
    where: (r: number) => `${path}:${lines[first + r]}`,
  };
}

/**
 * Index of the first byte of `b` that does not continue valid UTF-8 (b.length if none). Up to three
 * continuation bytes at the start are taken to complete a character begun in the previous chunk.
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < 3 && i < n && (b[i]! & 0xc0) === 0x80) i++;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number,
      lo = 0x80,
      hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return allContinuations(b, i + 1, n, lo, hi) ? n : i; // cut by the chunk's end
    const b1 = b[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= need; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return n;
}

/** a character cut by the chunk's end: every byte present is a valid continuation */
function allContinuations(b: Uint8Array, from: number, n: number, lo: number, hi: number): boolean {
  for (let k = from; k < n; k++) {
    const x = b[k]!;
    if (k === from ? x < lo || x > hi : (x & 0xc0) !== 0x80) return false;
  }
  return true;
}
