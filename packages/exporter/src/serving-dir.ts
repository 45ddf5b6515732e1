/**
 * What every export shares: the layout (a Triton model repository: `<out>/<name>/` is one model),
 * the output-directory guard (an existing model directory is replaced only when an earlier export
 * wrote it, else `force`), the temp-dir-then-swap write, and the python ONNX checker (recorded as
 * "not run" where python3-onnx is missing).
 *
 *   <out>/                     the model repository (`tritonserver --model-repository <out>`); other models may sit beside
 *     <name>/                  one model: the unit the exporter writes and swaps (marker .lctr-export)
 *       config.pbtxt           Triton model configuration (triton.ts)
 *       1/model.onnx           version 1: the ONNX model (opset 17, IR 8)
 *       weights.safetensors    serving weights; graph.json the serving graph's spec JSON; report.json
 *
 * Triton reads config.pbtxt and the numeric version directories and ignores the other files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { OnnxCheckerUnavailableError, checkOnnxModel } from '@lctr/backend-onnx';
import { ExportError } from './errors.ts';
import { TRITON_VERSION, checkModelName } from './triton.ts';

export { ExportError } from './errors.ts';

export const EXPORT_MARKER = '.lctr-export';
/** Where the ONNX model sits inside a model directory. */
export const ONNX_FILE = `${TRITON_VERSION}/model.onnx`;
/** Default --out: a Triton model repository. */
export const DEFAULT_REPOSITORY = 'out/models';

/** The files of a model directory, in the order they are listed. */
export type ServingFile = 'config.pbtxt' | typeof ONNX_FILE | 'weights.safetensors' | 'graph.json' | 'report.json';

export interface ServingTarget {
  /** the model repository (--out) */
  readonly repository: string;
  /** the Triton model name: the model directory's name */
  readonly name: string;
  /** <repository>/<name> */
  readonly dir: string;
}

/**
 * Resolve and guard `<out>/<name>`: a valid model name; `out` is not a serving directory of the
 * earlier flat layout; the model directory is absent, empty, an earlier export, or `force` is set.
 */
export function servingTarget(out: string, name: string, force: boolean): ServingTarget {
  checkModelName(name, '--name (the Triton model name)');
  const repository = resolve(out);
  if (existsSync(join(repository, EXPORT_MARKER))) {
    throw new ExportError(`--out ${repository}: expected a Triton model repository (one directory per model), got a serving directory of the earlier flat layout (it holds ${EXPORT_MARKER}); remove it or choose another --out`);
  }
  const dir = join(repository, name);
  prepareTarget(dir, force);
  return { repository, name, dir };
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
 * Write `files` (paths relative to `out`, '/'-separated) and the marker into a temp directory
 * beside `out`, then swap it in, so a crash never leaves a half-written export. Returns the paths
 * written, marker excluded.
 */
export function writeServingDir(out: string, files: Readonly<Record<string, string | Uint8Array>>, marker: Readonly<Record<string, unknown>>): string[] {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  for (const [name, data] of Object.entries(files)) {
    const path = join(tmp, ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  }
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
