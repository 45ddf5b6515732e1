/**
 * What every export shares: the error type, the output-directory guard (an existing directory is
 * replaced only when an earlier export wrote it, else `force`), the temp-dir-then-swap write, and
 * the python ONNX checker (recorded as "not run" where python3-onnx is missing).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OnnxCheckerUnavailableError, checkOnnxModel } from '@lctr/backend-onnx';

export const EXPORT_MARKER = '.lctr-export';

export class ExportError extends Error {
  constructor(message: string) { super(message); this.name = 'ExportError'; }
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws unless `out` is absent, empty, an earlier export, or `force` is set. */
export function prepareTarget(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  const entries = readdirSync(out);
  if (entries.length === 0 || entries.includes(EXPORT_MARKER) || force) return;
  throw new ExportError(`output directory ${out} exists and was not written by the exporter (it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}); pass --force to replace it or choose another --out`);
}

/**
 * Write `files` (and the marker) into a temp directory beside `out`, then swap it in, so a crash
 * never leaves a half-written export. Returns the names written, marker excluded.
 */
export function writeServingDir(out: string, files: Readonly<Record<string, string | Uint8Array>>, marker: Readonly<Record<string, unknown>>): string[] {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
  writeFileSync(join(tmp, EXPORT_MARKER), JSON.stringify(marker) + '\n');
  if (existsSync(out)) {
    const old = join(dirname(out), `.${basename(out)}.old-${process.pid}`);
    renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, out);
  }
  return Object.keys(files);
}

export interface CheckerRecord {
  /** null: the checker could not run (no python3-onnx) */
  readonly ok: boolean | null;
  readonly message: string;
}

/** onnx.checker.check_model(full_check) + strict shape inference; a missing checker is recorded, not thrown. */
export function runOnnxChecker(onnxBytes: Uint8Array, log: (line: string) => void): CheckerRecord {
  let checker: CheckerRecord;
  try {
    checker = checkOnnxModel(onnxBytes);
  } catch (e) {
    if (!(e instanceof OnnxCheckerUnavailableError)) throw e;
    checker = { ok: null, message: e.message };
  }
  log(`onnx checker (full_check, strict shape inference): ${checker.ok === null ? 'not run' : checker.ok ? 'ok' : 'FAILED'}${checker.ok ? '' : ` - ${checker.message}`}`);
  return checker;
}

export const parameterCount = (params: ReadonlyArray<{ readonly shape: readonly number[] }>): number =>
  params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
