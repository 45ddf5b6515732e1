/**
 * All-or-nothing writes of one model directory `<repository>/<name>` (issue 17):
 *
 * - stage: every file of the export is written (and fsynced) into a temp sibling
 *   `.<name>.tmp-<pid>`; the ONNX checker and parity run on what was staged. A failed gate, an
 *   error, or a full disk (StorageError) removes the temp directory: `<name>` is left as it was.
 * - commit: what `<name>` holds that the exporter did not write (not in the manifest of its
 *   marker `.lctr-export`: a user's notes.txt, a `2/` version folder) is kept: hard-linked into the
 *   staged directory (no copy of a large model). A foreign path where the export writes, or an
 *   exporter file changed since it was written, is in the way: refused, naming it, unless `force`.
 *   Then the marker with the manifest (path, bytes, sha256 of each file written) is written and
 *   the directories swap: `<name>` -> `.<name>.old-<pid>`, staged -> `<name>`, backup removed; if
 *   the second rename fails the first is undone.
 * - recover: an export killed mid-way (SIGKILL) leaves `.<name>.tmp-<pid>` beside an intact
 *   `<name>`, removed by the next export; killed between the two renames (a window of two system
 *   calls) it leaves `.<name>.old-<pid>` and no `<name>`: the next export renames it back before
 *   it starts. Leftovers of a live process are not touched.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { asStorageError } from '@lctr/spec';
import { ExportError } from './errors.ts';
import { TRITON_VERSION } from './triton.ts';

/** Marker of a model directory the exporter wrote; its JSON holds the manifest (`files`). */
export const EXPORT_MARKER = '.lctr-export';

export interface FileRecord {
  readonly bytes: number;
  readonly sha256: string;
}

/** The marker's JSON: who wrote the directory, what, and each file the exporter wrote (paths '/'-separated). */
export interface ExportManifest {
  readonly producer: 'lctr-exporter';
  readonly files: Readonly<Record<string, FileRecord>>;
  readonly [detail: string]: unknown;
}

export const fileRecord = (b: Uint8Array | string): FileRecord => ({
  bytes: typeof b === 'string' ? Buffer.byteLength(b) : b.length,
  sha256: createHash('sha256').update(b).digest('hex'),
});

/** What the storage error of a failed write says: `cannot write model directory <dir>: ...`. */
const STORAGE_ACTION = 'write model directory';

const tmpSibling = (dir: string, pid: number) => join(dirname(dir), `.${basename(dir)}.tmp-${pid}`);
const oldSibling = (dir: string, pid: number) => join(dirname(dir), `.${basename(dir)}.old-${pid}`);

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Undo what an export of `dir` killed by a dead process left: a backup without `dir` is renamed
 * back (the kill fell between the swap's two renames), any other backup or temp directory is
 * removed. Returns one line per action.
 */
export function recoverInterrupted(dir: string): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const name = basename(dir).replace(/[.]/g, '\\.');
  const re = new RegExp(`^\\.${name}\\.(old|tmp)-([0-9]+)$`);
  const done: string[] = [];
  // backups first: a restored backup must win over removing temp directories
  const leftovers = readdirSync(parent)
    .map((e) => re.exec(e))
    .filter((m): m is RegExpExecArray => m !== null && !isAlive(Number(m[2])))
    .sort((a, b) => (a[1] === b[1] ? 0 : a[1] === 'old' ? -1 : 1));
  for (const m of leftovers) {
    const path = join(parent, m[0]);
    if (m[1] === 'old' && !existsSync(dir)) {
      renameSync(path, dir);
      done.push(`restored ${dir} from ${m[0]}, the backup of an export killed while swapping it in (process ${m[2]})`);
    } else {
      rmSync(path, { recursive: true, force: true });
      done.push(`removed ${m[0]}, left by an interrupted export (process ${m[2]})`);
    }
  }
  return done;
}

export interface InTheWay {
  /** '/'-separated, relative to the model directory; a directory ends with '/' */
  readonly path: string;
  readonly why: 'not written by the exporter' | 'changed since the exporter wrote it';
}

export interface ModelDirContents {
  readonly exists: boolean;
  /** holds the marker: an earlier export wrote it */
  readonly marked: boolean;
  /** top-level entries */
  readonly entries: readonly string[];
  /** what the exporter did not write (a file, or a whole directory holding nothing of the exporter's) */
  readonly foreign: readonly string[];
  /** foreign paths where this export writes, and exporter files changed since they were written */
  readonly inTheWay: readonly InTheWay[];
}

function readManifest(dir: string, writes: readonly string[]): ReadonlyMap<string, FileRecord | undefined> {
  let parsed: { files?: Record<string, FileRecord> } = {};
  try {
    parsed = JSON.parse(readFileSync(join(dir, EXPORT_MARKER), 'utf8')) as typeof parsed;
  } catch {
    /* an empty or unreadable marker: an export before the manifest */
  }
  // a marker without a manifest (exports before it) wrote exactly the files exports write now
  return parsed.files !== undefined && typeof parsed.files === 'object'
    ? new Map(Object.entries(parsed.files))
    : new Map(writes.map((w) => [w, undefined]));
}

const isDir = (p: string) => lstatSync(p).isDirectory();
const shown = (dir: string, rel: string) => (isDir(join(dir, ...rel.split('/'))) ? `${rel}/` : rel);

/** What `dir` holds, against the files (`writes`, '/'-separated) an export is about to write. */
export function inspectModelDir(dir: string, writes: readonly string[]): ModelDirContents {
  if (!existsSync(dir)) return { exists: false, marked: false, entries: [], foreign: [], inTheWay: [] };
  const entries = readdirSync(dir).sort();
  if (!entries.includes(EXPORT_MARKER)) return { exists: true, marked: false, entries, foreign: entries, inTheWay: [] };
  const manifest = readManifest(dir, writes);
  const ours = new Set([...manifest.keys(), EXPORT_MARKER]);
  const foreign: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(rel === '' ? dir : join(dir, ...rel.split('/'))).sort()) {
      const r = rel === '' ? e : `${rel}/${e}`;
      if (ours.has(r)) continue;
      if (isDir(join(dir, ...r.split('/'))) && [...ours].some((o) => o.startsWith(`${r}/`))) walk(r);
      else foreign.push(r);
    }
  };
  walk('');
  const inTheWay: InTheWay[] = [];
  for (const f of foreign) {
    if (writes.some((w) => w === f || w.startsWith(`${f}/`) || f.startsWith(`${w}/`)))
      inTheWay.push({ path: shown(dir, f), why: 'not written by the exporter' });
  }
  for (const [rel, rec] of manifest) {
    const path = join(dir, ...rel.split('/'));
    if (rec === undefined || !existsSync(path) || isDir(path)) continue;
    if (fileRecord(readFileSync(path)).sha256 !== rec.sha256) inTheWay.push({ path: rel, why: 'changed since the exporter wrote it' });
  }
  return { exists: true, marked: true, entries, foreign, inTheWay };
}

/**
 * Throws unless `dir` is absent, empty, an earlier export whose files are as written and where
 * no foreign file sits in the way, or `force` is set.
 */
export function checkModelDir(contents: ModelDirContents, dir: string, force: boolean): void {
  if (force || !contents.exists) return;
  if (!contents.marked && contents.entries.length > 0) {
    const e = contents.entries;
    throw new ExportError(
      `output directory ${dir} exists and was not written by the exporter (it holds ` +
        `${e.slice(0, 5).join(', ')}${e.length > 5 ? ', ...' : ''}); pass --force to replace it or choose another --out`,
    );
  }
  if (contents.inTheWay.length > 0) {
    throw new ExportError(
      `model directory ${dir} holds files in the way of the export: ${contents.inTheWay.map((w) => `${w.path} (${w.why})`).join(', ')}; ` +
        `move them away, or pass --force to replace them (other files the exporter did not write are kept)`,
    );
  }
}

/** Write a file and fsync it, so the renamed directory never holds a file the disk has not got. */
function writeDurably(path: string, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Hard-link a file or a tree (directories recreated, symlinks copied as links); a copy where links are not supported. */
function linkTree(from: string, to: string): void {
  const st = lstatSync(from);
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else if (st.isDirectory()) {
    mkdirSync(to);
    for (const e of readdirSync(from)) linkTree(join(from, e), join(to, e));
  } else {
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
  }
}

export interface Committed {
  /** the files written, in the order staged */
  readonly files: string[];
  /** what the directory held that the exporter did not write, kept (directories end with '/') */
  readonly kept: string[];
  /** notes worth a line (a kept version directory Triton would serve instead) */
  readonly notes: string[];
}

/** A model directory being written: see the file header. Create it with `stageModelDir`. */
export class StagedModelDir {
  readonly dir: string;
  readonly tmp: string;
  private readonly written = new Map<string, FileRecord>();
  private done = false;

  constructor(dir: string) {
    this.dir = dir;
    this.tmp = tmpSibling(dir, process.pid);
    this.storage(() => {
      mkdirSync(dirname(dir), { recursive: true });
      rmSync(this.tmp, { recursive: true, force: true });
      mkdirSync(this.tmp);
    });
  }

  /** Run `fn`; a storage refusal becomes one StorageError naming the model directory, after the temp directory is removed. */
  private storage<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const s = asStorageError(e, STORAGE_ACTION, this.dir);
      if (s === undefined) throw e;
      this.discard();
      throw s;
    }
  }

  /** Stage `files` (paths '/'-separated). */
  write(files: Readonly<Record<string, string | Uint8Array>>): void {
    this.storage(() => {
      for (const [rel, data] of Object.entries(files)) {
        const path = join(this.tmp, ...rel.split('/'));
        mkdirSync(dirname(path), { recursive: true });
        writeDurably(path, data);
        this.written.set(rel, fileRecord(data));
      }
    });
  }

  /** A staged file as the disk holds it (what the checker and parity run on). */
  read(rel: string): Buffer {
    return this.storage(() => readFileSync(join(this.tmp, ...rel.split('/'))));
  }

  /**
   * Stage `last` (report.json), keep the foreign files of the directory, write the marker with the
   * manifest and swap the directory in. Throws (and leaves the directory as it was) when a file is
   * in the way and `force` is not set.
   */
  commit(last: Readonly<Record<string, string | Uint8Array>>, details: Readonly<Record<string, unknown>>, force: boolean): Committed {
    this.write(last);
    const files = [...this.written.keys()];
    const contents = inspectModelDir(this.dir, files);
    checkModelDir(contents, this.dir, force);
    const inTheWay = new Set(contents.inTheWay.map((w) => w.path.replace(/\/$/, '')));
    // a directory the exporter did not write is replaced whole (with force); an export's foreign files are kept
    const keep = contents.marked ? contents.foreign.filter((f) => !inTheWay.has(f)) : [];
    const kept = keep.map((f) => shown(this.dir, f));
    const notes = keep
      .filter((f) => /^[0-9]+$/.test(f) && Number(f) > TRITON_VERSION && existsSync(join(this.dir, f, 'model.onnx')))
      .map(
        (f) =>
          `kept ${f}/ (not written by the exporter): Triton's default version policy serves the highest version, ${f}, not the ` +
          `${TRITON_VERSION} just exported`,
      );
    this.storage(() => {
      for (const f of keep) {
        const to = join(this.tmp, ...f.split('/'));
        mkdirSync(dirname(to), { recursive: true });
        linkTree(join(this.dir, ...f.split('/')), to);
      }
      const manifest: ExportManifest = { ...details, producer: 'lctr-exporter', files: Object.fromEntries(this.written) };
      writeDurably(join(this.tmp, EXPORT_MARKER), JSON.stringify(manifest, null, 1) + '\n');
      if (existsSync(this.dir)) {
        const old = oldSibling(this.dir, process.pid);
        renameSync(this.dir, old);
        try {
          renameSync(this.tmp, this.dir);
        } catch (e) {
          renameSync(old, this.dir);
          throw e;
        }
        this.done = true;
        // the export is in place; a backup that cannot be removed now is removed by the next export
        try {
          rmSync(old, { recursive: true, force: true });
        } catch {
          /* recoverInterrupted */
        }
      } else {
        renameSync(this.tmp, this.dir);
        this.done = true;
      }
    });
    return { files, kept, notes };
  }

  /** Remove the staged files (after a failed gate or an error); a no-op after commit. */
  discard(): void {
    if (this.done) return;
    this.done = true;
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
