/**
 * What every export shares: the layout (a Triton model repository: `<out>/<name>/` is one model),
 * the output-directory guard (an existing model directory is replaced only when an earlier export
 * wrote it, else `force`), the all-or-nothing write (staging.ts: staged, gated, swapped in; files
 * the exporter did not write are kept), and the python ONNX checker (recorded as "not run" where
 * python3-onnx is missing).
 *
 *   <out>/                     the model repository (`tritonserver --model-repository <out>`); other models may sit beside
 *     <name>/                  one model: the unit the exporter writes and swaps (marker .lctr-export)
 *       config.pbtxt           Triton model configuration (triton.ts)
 *       1/model.onnx           version 1: the ONNX model (opset 17, IR 8)
 *       weights.safetensors    serving weights; graph.json the serving graph's spec JSON; report.json
 *       .lctr-export           marker and manifest: the files the exporter wrote, with sha256
 *
 * Triton reads config.pbtxt and the numeric version directories and ignores the other files.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OnnxCheckerUnavailableError, checkOnnxModel } from '@lctr/backend-onnx';
import { type Weights, sizeOf } from '@lctr/spec';
import { ExportError } from './errors.ts';
import { EXPORT_MARKER, StagedModelDir, checkModelDir, inspectModelDir, recoverInterrupted } from './staging.ts';
import { TRITON_VERSION, checkModelName } from './triton.ts';

export { ExportError } from './errors.ts';
export { EXPORT_MARKER } from './staging.ts';
/** Where the ONNX model sits inside a model directory. */
export const ONNX_FILE = `${TRITON_VERSION}/model.onnx`;
/** Default --out: a Triton model repository. */
export const DEFAULT_REPOSITORY = 'out/models';

/** The files an export writes into a model directory, in the order they are listed (the marker aside). */
export const SERVING_FILES = ['config.pbtxt', ONNX_FILE, 'weights.safetensors', 'graph.json', 'report.json'] as const;
export type ServingFile = (typeof SERVING_FILES)[number];

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
 * earlier flat layout; leftovers of a killed export of it are undone (staging.ts); the model
 * directory is absent, empty, or an earlier export with nothing in the way, or `force` is set.
 */
export function servingTarget(out: string, name: string, force: boolean, log: (line: string) => void = () => {}): ServingTarget {
  checkModelName(name, '--name (the Triton model name)');
  const repository = resolve(out);
  if (existsSync(join(repository, EXPORT_MARKER))) {
    throw new ExportError(
      `--out ${repository}: expected a Triton model repository (one directory per model), got a serving directory of the earlier flat ` +
        `layout (it holds ${EXPORT_MARKER}); remove it or choose another --out`,
    );
  }
  const dir = join(repository, name);
  for (const line of recoverInterrupted(dir)) log(line);
  prepareTarget(dir, force);
  return { repository, name, dir };
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws unless `out` is absent, empty, or an earlier export with nothing in the way of a new one, or `force` is set. */
export function prepareTarget(out: string, force: boolean): void {
  checkModelDir(inspectModelDir(out, SERVING_FILES), out, force);
}

/**
 * Stage the files of an export of `target` (staging.ts): written into `.<name>.tmp-<pid>` beside
 * the model directory, checked there, then committed (report.json, the marker with the manifest,
 * the swap) or discarded, leaving the directory as it was.
 */
export function stageServingDir(
  target: ServingTarget,
  files: Readonly<Record<Exclude<ServingFile, 'report.json'>, string | Uint8Array>>,
): StagedModelDir {
  const staged = new StagedModelDir(target.dir);
  try {
    staged.write(files);
  } catch (e) {
    staged.discard();
    throw e;
  }
  return staged;
}

/** The first non-finite entry (NaN, ±Infinity) of one weight, and how many it holds. */
export interface NonFiniteWeight {
  /** the parameter path */
  readonly name: string;
  readonly shape: readonly number[];
  /** flat index of the first non-finite entry, and that entry's position in `shape` */
  readonly index: number;
  readonly position: readonly number[];
  readonly value: number;
  /** non-finite entries of this weight in all */
  readonly count: number;
}

/**
 * Every weight holding a non-finite value, in the order given. Part of the gate: parity cannot
 * catch an infinite weight that saturates every probability identically in every backend.
 */
export function nonFiniteWeights(weights: Weights): NonFiniteWeight[] {
  const out: NonFiniteWeight[] = [];
  for (const [name, t] of weights) {
    let first = -1,
      count = 0;
    for (let i = 0; i < t.data.length; i++) {
      if (Number.isFinite(t.data[i]!)) continue;
      if (first < 0) first = i;
      count++;
    }
    if (first < 0) continue;
    const position: number[] = [];
    for (let axis = t.shape.length - 1, rest = first; axis >= 0; axis--) {
      position.unshift(rest % t.shape[axis]!);
      rest = Math.floor(rest / t.shape[axis]!);
    }
    out.push({ name, shape: [...t.shape], index: first, position, value: t.data[first]!, count });
  }
  return out;
}

/** One line per bad weight: the parameter, what was expected, the first bad index and value. */
export function formatNonFinite(w: NonFiniteWeight): string {
  return (
    `weight '${w.name}' [${w.shape.join(', ')}]: expected every value finite, got ${w.value} at index ${w.index} ` +
    `(position [${w.position.join(', ')}]); ${w.count} of ${sizeOf(w.shape)} values non-finite`
  );
}

/** Why an export is not swapped in (a non-finite weight, a failed parity check or ONNX checker), or undefined when it passes. */
export function rejectionOf(parityOk: boolean, checkerOk: boolean | null, nonFinite: readonly NonFiniteWeight[] = []): string | undefined {
  const why = [
    nonFinite.length === 0 ? '' : nonFinite.length === 1 ? 'a weight is not finite' : `${nonFinite.length} weights are not finite`,
    parityOk ? '' : 'parity failed',
    checkerOk === false ? 'the ONNX checker failed' : '',
  ].filter((w) => w !== '');
  return why.length === 0 ? undefined : why.join(' and ');
}

/** What the gate of every export checks. */
export interface ExportGate {
  readonly parityOk: boolean;
  readonly checkerOk: boolean | null;
  /** weights with a non-finite value (nonFiniteWeights): any fails the gate */
  readonly nonFinite: readonly NonFiniteWeight[];
}

export interface ExportOutcome {
  /** false: the gate failed and the model directory was left as it was */
  readonly written: boolean;
  /** the files written (none when not written) */
  readonly files: string[];
  /** what the directory held that the exporter did not write, kept (directories end with '/') */
  readonly kept: string[];
}

/**
 * The gate of every export: commit `staged` (report.json last) when every weight is finite, parity
 * passed and the checker did not fail, else discard it and leave the model directory as it was.
 * Logs what it did.
 */
export function settleExport(
  staged: StagedModelDir,
  gate: ExportGate,
  report: string,
  details: Readonly<Record<string, unknown>>,
  force: boolean,
  log: (line: string) => void,
): ExportOutcome {
  const rejected = rejectionOf(gate.parityOk, gate.checkerOk, gate.nonFinite);
  if (rejected !== undefined) {
    staged.discard();
    log(`not exported: ${rejected}; ${staged.dir} ${existsSync(staged.dir) ? 'left as it was' : 'not created'}`);
    return { written: false, files: [], kept: [] };
  }
  const c = staged.commit({ 'report.json': report }, details, force);
  if (c.kept.length > 0) log(`kept what the exporter did not write in ${staged.dir}: ${c.kept.join(', ')}`);
  for (const n of c.notes) log(n);
  return { written: true, files: c.files, kept: c.kept };
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
  log(
    `onnx checker (full_check, strict shape inference): ` +
      `${checker.ok === null ? 'not run' : checker.ok ? 'ok' : 'FAILED'}${checker.ok ? '' : ` - ${checker.message}`}`,
  );
  return checker;
}

export const parameterCount = (params: ReadonlyArray<{ readonly shape: readonly number[] }>): number =>
  params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
