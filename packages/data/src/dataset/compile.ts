/**
 * The compiled form training reads: one raw little-endian binary file per column (read back with one
 * readFileSync each into a typed array over the file's bytes; Node has no mmap, so this is the
 * "memory-mapped" layout: no parsing, no per-event objects, peak memory = the columns themselves),
 * plus dataset.json (meta, split, report) and vocabulary.json. The folder is named by the content
 * key: a hash of the checked config and of every input file's bytes, so a second compile of the
 * same config and files reuses it, and a change to either makes a new one.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { asStorageError } from '@lctr/spec';
import type { EventLog, EventLogMeta } from '../event-log.ts';
import type { Vocabulary } from '../readers/vocab.ts';
import type { LoadedDatasetConfig } from './config.ts';
import { type DatasetReport, inspectDataset } from './inspect.ts';
import { type Dataset, type LoadOptions, expandFiles, loadDataset } from './load.ts';

export const COMPILED_FORMAT = 'lctr-dataset';
/** 2: the report carries `folded` and `negatives` (minimum counts, negative sampling) */
export const COMPILED_VERSION = 2;

type Column = Int32Array | Uint8Array | Float64Array;

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return h.digest('hex');
}

/** The content key: sha256 of the format version, the checked config (JSON) and each input file's sha256, in read order. */
export async function datasetKey(loaded: LoadedDatasetConfig): Promise<string> {
  const c = loaded.config,
    src = loaded.path;
  const files = [
    ...(c.items ? expandFiles(c.items.files, loaded.dir, 'config.items.files', src) : []),
    ...(c.profile ? expandFiles(c.profile.files, loaded.dir, 'config.profile.files', src) : []),
    ...expandFiles(c.events.files, loaded.dir, 'config.events.files', src),
  ];
  const h = createHash('sha256');
  h.update(`${COMPILED_FORMAT}/${COMPILED_VERSION}\n${JSON.stringify(c)}\n`);
  for (const f of files) h.update(`${await hashFile(f)}\n`);
  return h.digest('hex');
}

interface CompiledJson {
  readonly format: typeof COMPILED_FORMAT;
  readonly version: number;
  readonly key: string;
  readonly name: string;
  readonly meta: EventLogMeta;
  readonly size: number;
  readonly splitTime: number;
  readonly files: readonly string[];
  readonly report: DatasetReport;
}

const columnsOf = (d: Dataset): Array<[string, Column]> => [
  ['user', d.log.user],
  ['item', d.log.item],
  ['category', d.log.category],
  ['domain', d.log.domain],
  ['timestamp', d.log.timestamp],
  ['label', d.log.label],
  ['userStart', d.log.userStart],
  ['train', d.train],
  ['test', d.test],
  ...d.log.context.map((c, k): [string, Column] => [`context.${k}`, c]),
  ...d.log.profile.map((c, k): [string, Column] => [`profile.${k}`, c]),
];

export interface CompileResult {
  readonly dir: string;
  readonly key: string;
  readonly reused: boolean;
  readonly report: DatasetReport;
}

/**
 * Compile into `<outDir>/<name>-<key 16 hex>` unless that folder already holds a complete compile
 * (dataset.json is written last). Written into a temp folder and renamed, so a failed or refused
 * write (disk full: a StorageError) leaves no partial folder and any previous compile intact.
 */
export async function compileDataset(loaded: LoadedDatasetConfig, outDir: string, options: LoadOptions = {}): Promise<CompileResult> {
  if (endianness() !== 'LE') throw new Error('the compiled dataset layout is little-endian; this machine is big-endian');
  const key = await datasetKey(loaded);
  const dir = join(outDir, `${loaded.config.name}-${key.slice(0, 16)}`);
  if (existsSync(join(dir, 'dataset.json'))) {
    const json = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8')) as CompiledJson;
    if (json.key === key) return { dir, key, reused: true, report: json.report };
  }
  const d = await loadDataset(loaded, options);
  const report = inspectDataset(d, loaded.config);
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, 'columns'), { recursive: true });
    for (const [name, col] of columnsOf(d))
      writeFileSync(join(tmp, 'columns', `${name}.bin`), new Uint8Array(col.buffer, col.byteOffset, col.byteLength));
    writeFileSync(join(tmp, 'vocabulary.json'), JSON.stringify(d.vocabulary));
    const json: CompiledJson = {
      format: COMPILED_FORMAT,
      version: COMPILED_VERSION,
      key,
      name: d.name,
      meta: d.log.meta,
      size: d.log.size,
      splitTime: d.splitTime,
      files: d.files,
      report,
    };
    writeFileSync(join(tmp, 'dataset.json'), `${JSON.stringify(json, null, 1)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw asStorageError(e, 'write the compiled dataset', dir) ?? e;
  }
  return { dir, key, reused: false, report };
}

function readColumn<T extends Column>(
  dir: string,
  name: string,
  Type: { new (b: ArrayBuffer, off: number, len: number): T; new (n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const path = join(dir, 'columns', `${name}.bin`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the compiled column: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const n = buf.byteLength / Type.BYTES_PER_ELEMENT;
  if (!Number.isInteger(n))
    throw new Error(`${path}: ${buf.byteLength} bytes is not a whole number of ${Type.BYTES_PER_ELEMENT}-byte values`);
  // a view over the file's bytes when aligned (large reads are their own allocation), else one copy
  if (buf.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(buf.buffer as ArrayBuffer, buf.byteOffset, n);
  const out = new Type(n);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** A compiled dataset folder back into a Dataset (the same arrays loadDataset gave, bit for bit). */
export function readCompiledDataset(dir: string): Dataset & { readonly key: string; readonly report: DatasetReport } {
  const path = join(dir, 'dataset.json');
  if (!existsSync(path)) throw new Error(`${dir}: not a compiled dataset (no dataset.json)`);
  const j = JSON.parse(readFileSync(path, 'utf8')) as CompiledJson;
  if (j.format !== COMPILED_FORMAT || j.version !== COMPILED_VERSION)
    throw new Error(
      `${path}: expected format ${COMPILED_FORMAT} version ${COMPILED_VERSION}, got ${String(j.format)} version ${String(j.version)}`,
    );
  const i32 = (n: string) => readColumn(dir, n, Int32Array);
  const log: EventLog = {
    meta: j.meta,
    size: j.size,
    user: i32('user'),
    item: i32('item'),
    category: i32('category'),
    domain: readColumn(dir, 'domain', Uint8Array),
    timestamp: readColumn(dir, 'timestamp', Float64Array),
    label: readColumn(dir, 'label', Uint8Array),
    userStart: i32('userStart'),
    context: j.meta.context.map((_, k) => i32(`context.${k}`)),
    profile: j.meta.profile.map((_, k) => i32(`profile.${k}`)),
  };
  for (const [name, col] of [
    ['user', log.user],
    ['timestamp', log.timestamp],
    ['label', log.label],
  ] as const) {
    if (col.length !== j.size) throw new Error(`${dir}: column '${name}' has ${col.length} values, dataset.json says ${j.size}`);
  }
  const vocabulary = JSON.parse(readFileSync(join(dir, 'vocabulary.json'), 'utf8')) as Vocabulary;
  return {
    name: j.name,
    log,
    vocabulary,
    train: i32('train'),
    test: i32('test'),
    splitTime: j.splitTime,
    refused: j.report.refused,
    folded: j.report.folded,
    negatives: j.report.negatives,
    files: j.files,
    key: j.key,
    report: j.report,
  };
}
