/** Files: atomic writes (temp + fsync + rename) and clear errors for missing or foreign files. */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { HostTensor } from './dtype.ts';
import type { Graph, Weights } from './graph.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { graphFromJSON, serializeGraph } from './serialize.ts';

/** Write a file so a reader never sees it half-written: write a temp file beside it, fsync, rename. */
export function atomicWriteFile(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function readOrExplain(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new Error(`${what} file not found: ${path}`);
  return readFileSync(path);
}

export function writeGraphFile(path: string, g: Graph): void {
  atomicWriteFile(path, serializeGraph(g) + '\n');
}

export function readGraphFile(path: string): Graph {
  return graphFromJSON(readOrExplain(path, 'graph').toString('utf8'), path);
}

export function writeWeightsFile(path: string, weights: Weights, metadata: Record<string, string> = {}): void {
  atomicWriteFile(path, encodeSafetensors(weights as ReadonlyMap<string, HostTensor>, metadata));
}

export function readWeightsFile(path: string): { weights: Map<string, HostTensor<'float32'>>; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(readOrExplain(path, 'weights'), path);
  const weights = new Map<string, HostTensor<'float32'>>();
  for (const [k, t] of tensors) {
    if (t.dtype !== 'float32') throw new Error(`${path}: tensor '${k}' is ${t.dtype}; weights must be float32`);
    weights.set(k, t as HostTensor<'float32'>);
  }
  return { weights, metadata };
}

/**
 * Exit codes every command of the project uses. `storage` is its own code so a script can tell
 * "the disk is full / not writable" (retry elsewhere) from a failed computation.
 */
export const EXIT_CODES = { ok: 0, failure: 1, usage: 2, storage: 3 } as const;

/** Error codes of the file system that mean "the storage cannot take this write", not "a bug". */
const STORAGE_CODES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EFBIG: 'file too large for the file system',
  EMFILE: 'too many open files',
};

/**
 * A write the storage refused (disk full, read-only, no permission), as one clear line:
 * `cannot write checkpoint out/run/checkpoints/step-5: no space left on the device (ENOSPC)`.
 * Commands catch it, remove their temp files, leave the previous state intact and exit with
 * EXIT_CODES.storage.
 */
export class StorageError extends Error {
  readonly code: string;
  readonly path: string;
  constructor(action: string, path: string, code: string) {
    super(`cannot ${action} ${path}: ${STORAGE_CODES[code] ?? code} (${code})`);
    this.name = 'StorageError';
    this.code = code;
    this.path = path;
  }
}

/** `e` as a StorageError when it is a storage refusal (ENOSPC, EROFS, ...), else undefined. */
export function asStorageError(e: unknown, action: string, path: string): StorageError | undefined {
  if (e instanceof StorageError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in STORAGE_CODES ? new StorageError(action, path, code) : undefined;
}

/**
 * A path as a command prints it or a result file records it: relative to `from` (the current
 * directory by default) with '/' separators when it lies inside `from`, else absolute. Output that
 * is committed or pasted into the docs then names `out/models/lcn`, not the checkout path of the
 * machine that produced it.
 */
export function displayPath(path: string, from: string = process.cwd()): string {
  const abs = resolve(from, path);
  const rel = relative(resolve(from), abs);
  if (rel === '') return '.';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return abs;
  return rel.split(sep).join('/');
}
