/**
 * Checkpoints: <outDir>/checkpoints/step-<N>/ holds
 *   weights.safetensors    the parameters (float32), keyed by parameter path
 *   optimizer.safetensors  Adam's m/<path> and v/<path>; step and beta powers in the metadata
 *   graph.json             the training graph (spec JSON)
 *   state.json             step, epoch, config, source size, wall time, and the sha256 of each
 *                          other file, whole (written last, so it covers what was written)
 * and <outDir>/checkpoints/latest names the newest complete one ("step-<N>").
 *
 * Writing: every file is written atomically (spec's atomicWriteFile: temp file, fsync, rename)
 * into a temporary directory `.step-<N>.tmp-<pid>`, which is fsynced and renamed to `step-<N>`;
 * only then is `latest` replaced (atomically). A process killed at any moment leaves `latest`
 * naming a complete checkpoint (or no `latest` at all); leftovers are a temp directory or an
 * unreferenced step directory, both ignored by readers and removed by the next writer.
 *
 * Integrity (version 2): state.json carries the sha256 of every other file, whole, header
 * included: a checksum of the tensor data alone let a changed header (two tensors' offsets
 * swapped, one shifted) load the wrong bytes. Each safetensors file also carries `sha256` of its
 * tensor data in `__metadata__` (so a lone copied file still checks its data). Reading validates
 * every header (spec's readSafetensorsHeader), then that it has the layout this writer gives
 * (tensors in name order, back to back: a same-size swap is refused with the tensor's name),
 * then the checksums. Version-1 checkpoints (data checksums only) still load with the same
 * header and layout checks; what they cannot detect is a changed metadata value or shape, which
 * the cross-checks with state.json and the graph mostly catch.
 *
 * Storage refusals (disk full, read-only, ...) while writing become spec's StorageError
 * (`cannot write checkpoint <dir>: no space left on the device (ENOSPC)`), with this writer's temp
 * files removed and `latest` untouched.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type Weights,
  SafetensorsError,
  asStorageError,
  atomicWriteFile,
  checkWeights,
  decodeSafetensors,
  encodeSafetensors,
  formatShape,
  graphFromJSON,
  graphToJSON,
  readSafetensorsHeader,
  serializeGraph,
} from '@lctr/spec';
import type { AdamState } from '@lctr/backend-tfjs';
import type { TrainConfig } from './config.ts';

export const CHECKPOINT_FORMAT = 'lctr-checkpoint';
/** 2: state.json checksums every file whole; 1 (still read): the safetensors data sections only */
export const CHECKPOINT_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];
export const CHECKPOINT_FILES = ['weights.safetensors', 'optimizer.safetensors', 'graph.json', 'state.json'] as const;

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface CheckpointState {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** CHECKPOINT_VERSION when written by this trainer; 1 for older checkpoints */
  readonly version: 1 | 2;
  /** optimizer steps taken */
  readonly step: number;
  /** step / steps per epoch (fractional) */
  readonly epoch: number;
  /** samples trained on so far */
  readonly samples: number;
  /** seconds spent in training runs up to this checkpoint, over all resumes */
  readonly wallSeconds: number;
  /** the tfjs backend that trained it (a resume on another backend is not bit-identical) */
  readonly backend: string;
  /** number of samples of the training source (the order depends on it) */
  readonly trainSize: number;
  readonly config: TrainConfig;
  /** sha256 (hex) of graph.json */
  readonly graphSha256: string;
  /** sha256 (hex) of weights.safetensors and optimizer.safetensors, whole (version 2 on) */
  readonly weightsSha256?: string;
  readonly optimizerSha256?: string;
  /** when it was written (ISO 8601) */
  readonly time: string;
}

export interface Checkpoint {
  readonly dir: string;
  readonly state: CheckpointState;
  readonly graph: Graph;
  readonly weights: Map<string, HostTensor<'float32'>>;
  readonly optimizer: AdamState;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The tensor data section of an encoded safetensors file (after the 8-byte length and the header). */
function dataSection(bytes: Uint8Array): Uint8Array {
  const headLen = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  return bytes.subarray(8 + headLen);
}

/** safetensors bytes whose metadata carries the sha256 of the tensor data. */
export function encodeChecked(tensors: ReadonlyMap<string, HostTensor>, metadata: Record<string, string>): Uint8Array {
  const digest = sha256(dataSection(encodeSafetensors(tensors)));
  return encodeSafetensors(tensors, { ...metadata, sha256: digest });
}

/**
 * Decode, check the layout encodeSafetensors gives (tensors in name order, back to back from
 * byte 0) and verify the data checksum; every error names the file, and a header error the tensor.
 */
export function decodeChecked(bytes: Uint8Array, path: string): { tensors: Map<string, HostTensor>; metadata: Record<string, string> } {
  const corrupt = (msg: string) => new CheckpointError(`corrupt checkpoint file ${path}: ${msg}`);
  let file;
  try {
    const header = readSafetensorsHeader(bytes, path);
    let at = 0;
    for (const e of [...header.entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const size = e.offsets[1] - e.offsets[0];
      if (e.offsets[0] !== at) {
        throw corrupt(
          `tensor '${e.name}' is at data_offsets [${e.offsets.join(', ')}], where this writer puts it at [${at}, ${at + size}] (tensors ` +
            `in name order, back to back): the header was changed`,
        );
      }
      at += size;
    }
    file = decodeSafetensors(bytes, path);
  } catch (e) {
    if (e instanceof SafetensorsError) throw corrupt(e.message.slice(path.length + 2));
    throw e;
  }
  const want = file.metadata.sha256;
  if (typeof want !== 'string') throw corrupt('no sha256 in the safetensors metadata');
  const got = sha256(dataSection(bytes));
  if (got !== want) throw corrupt(`sha256 of the tensor data is ${got}, the header says ${want}`);
  return file;
}

/** fsync a directory so a rename inside it is durable. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export const checkpointsDir = (outDir: string): string => join(outDir, 'checkpoints');
export const stepDirName = (step: number): string => `step-${step}`;

/** Steps of the complete-looking step-<N> directories, ascending (leftover temp directories are not listed). */
export function listCheckpointSteps(outDir: string): number[] {
  const dir = checkpointsDir(outDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The step-<N> name a pointer file (`latest`, `best`) holds, or undefined when there is no such file. */
function latestName(outDir: string, file: 'latest' | 'best' = 'latest'): string | undefined {
  const pointer = join(checkpointsDir(outDir), file);
  if (!existsSync(pointer)) return undefined;
  const text = readFileSync(pointer, 'utf8').trim();
  if (!/^step-\d+$/.test(text)) throw new CheckpointError(`${pointer}: expected 'step-<N>', got ${JSON.stringify(text.slice(0, 60))}`);
  return text;
}

/** The directory `latest` names, or undefined when there is no `latest` (no complete checkpoint yet). */
export function latestCheckpointDir(outDir: string): string | undefined {
  const text = latestName(outDir);
  if (text === undefined) return undefined;
  const dir = join(checkpointsDir(outDir), text);
  if (!existsSync(dir)) throw new CheckpointError(`${join(checkpointsDir(outDir), 'latest')} names ${text}, but ${dir} does not exist`);
  return dir;
}

/**
 * The directory `best` names (the best step by the validation metric, kept through pruning), or
 * undefined when there is no `best` (no validation set) or it names a checkpoint that is gone.
 */
export function bestCheckpointDir(outDir: string): string | undefined {
  const text = latestName(outDir, 'best');
  if (text === undefined) return undefined;
  const dir = join(checkpointsDir(outDir), text);
  return existsSync(dir) ? dir : undefined;
}

/** Point `best` at step-<N> (written atomically like `latest`; a checkpoint it names survives pruning). */
export function pointBestAt(outDir: string, step: number): void {
  const root = checkpointsDir(outDir);
  try {
    atomicWriteFile(join(root, 'best'), `${stepDirName(step)}\n`);
    fsyncDir(root);
  } catch (e) {
    for (const n of readdirSync(root)) if (n.startsWith(`.best.tmp-${process.pid}-`)) rmSync(join(root, n), { force: true });
    throw asStorageError(e, 'update', join(root, 'best')) ?? e;
  }
}

/** A checkpoint a resume passed over, and why (the CheckpointError's message). */
export interface SkippedCheckpoint {
  readonly dir: string;
  readonly reason: string;
}

/**
 * What a resume continues from: the checkpoint `latest` names or, when that one is missing or
 * fails to read and verify, the newest older step-<N> that does (newer unreferenced ones are
 * leftovers of a killed run and never taken). `checkpoint` is undefined when there is no `latest`
 * (nothing to resume); when no checkpoint is intact, a CheckpointError lists each with its reason.
 */
export function newestIntactCheckpoint(outDir: string): { checkpoint?: Checkpoint; skipped: SkippedCheckpoint[] } {
  const name = latestName(outDir);
  if (name === undefined) return { skipped: [] };
  const root = checkpointsDir(outDir);
  const latestStep = Number(name.slice('step-'.length));
  const steps = listCheckpointSteps(outDir)
    .filter((s) => s <= latestStep)
    .reverse();
  const skipped: SkippedCheckpoint[] = [];
  if (steps[0] !== latestStep)
    skipped.push({ dir: join(root, name), reason: `${join(root, name)} does not exist (checkpoints/latest names it)` });
  for (const s of steps) {
    const dir = join(root, stepDirName(s));
    try {
      const checkpoint = readCheckpoint(dir);
      if (checkpoint.state.step !== s) throw new CheckpointError(`${join(dir, 'state.json')} says step ${checkpoint.state.step}`);
      return { checkpoint, skipped };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      skipped.push({ dir, reason: e.message });
    }
  }
  throw new CheckpointError(
    `no intact checkpoint to resume from in ${root}:\n  ${skipped.map((k) => `${basename(k.dir)}: ${k.reason}`).join('\n  ')}`,
  );
}

export interface WriteCheckpointArgs {
  readonly step: number;
  readonly epoch: number;
  readonly samples: number;
  readonly wallSeconds: number;
  readonly trainSize: number;
  readonly backend: string;
  readonly config: TrainConfig;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly optimizer: AdamState;
}

/**
 * Write step-<N> completely, then point `latest` at it, then keep only the newest `keep`
 * checkpoints. Returns the checkpoint directory. A storage refusal (ENOSPC, EROFS, ...) throws
 * spec's StorageError naming step-<N>, after removing this writer's temp directory (and step-<N>
 * itself when `latest` could not be moved to it): `latest` and the checkpoints it names stay as
 * they were.
 */
export function writeCheckpoint(outDir: string, a: WriteCheckpointArgs, keep: number): string {
  const root = checkpointsDir(outDir);
  const name = stepDirName(a.step);
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  const refused = (e: unknown) => asStorageError(e, 'write checkpoint', final) ?? e;
  try {
    mkdirSync(root, { recursive: true });
  } catch (e) {
    throw refused(e);
  }
  const current = latestCheckpointDir(outDir);
  if (current !== undefined && current === final) {
    throw new CheckpointError(`refusing to overwrite ${current}: checkpoints/latest names it`);
  }
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    const weightBytes = encodeChecked(a.weights as ReadonlyMap<string, HostTensor>, {
      format: `${CHECKPOINT_FORMAT}/weights`,
      graph: a.graph.name,
      step: String(a.step),
    });
    atomicWriteFile(join(tmp, 'weights.safetensors'), weightBytes);
    const moments = new Map<string, HostTensor>();
    for (const [k, t] of a.optimizer.m) moments.set(`m/${k}`, t);
    for (const [k, t] of a.optimizer.v) moments.set(`v/${k}`, t);
    const optBytes = encodeChecked(moments, {
      format: `${CHECKPOINT_FORMAT}/adam`,
      step: String(a.optimizer.step),
      beta1Power: String(a.optimizer.beta1Power),
      beta2Power: String(a.optimizer.beta2Power),
    });
    atomicWriteFile(join(tmp, 'optimizer.safetensors'), optBytes);
    const graphText = serializeGraph(a.graph) + '\n';
    atomicWriteFile(join(tmp, 'graph.json'), graphText);
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step: a.step,
      epoch: a.epoch,
      samples: a.samples,
      wallSeconds: a.wallSeconds,
      backend: a.backend,
      trainSize: a.trainSize,
      config: a.config,
      graphSha256: sha256(Buffer.from(graphText, 'utf8')),
      weightsSha256: sha256(weightBytes),
      optimizerSha256: sha256(optBytes),
      time: new Date().toISOString(),
    };
    atomicWriteFile(join(tmp, 'state.json'), JSON.stringify(state, null, 1) + '\n');
    fsyncDir(tmp);
    rmSync(final, { recursive: true, force: true }); // an unreferenced leftover of a killed run
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw refused(e);
  }
  try {
    fsyncDir(root);
    replaceLatest(root, name);
  } catch (e) {
    // latest still names the previous checkpoint (its replacement is atomic): drop the unreferenced one
    rmSync(final, { recursive: true, force: true });
    throw refused(e);
  }
  fsyncDir(root);
  pruneCheckpoints(outDir, keep, a.step);
  return final;
}

/** Replace `latest` atomically; when that fails, `latest` is unchanged and its temp file removed. */
function replaceLatest(root: string, name: string): void {
  try {
    atomicWriteFile(join(root, 'latest'), `${name}\n`);
  } catch (e) {
    for (const n of readdirSync(root)) if (n.startsWith(`.latest.tmp-${process.pid}-`)) rmSync(join(root, n), { force: true });
    throw e;
  }
}

/** Point `latest` at step-<N> (a resume that fell back to an older checkpoint); durable once this returns. */
export function pointLatestAt(outDir: string, step: number): void {
  const root = checkpointsDir(outDir);
  try {
    replaceLatest(root, stepDirName(step));
    fsyncDir(root);
  } catch (e) {
    throw asStorageError(e, 'update', join(root, 'latest')) ?? e;
  }
}

/**
 * Keep the `keep` newest checkpoints up to `latestStep` and the one `best` names; remove older
 * ones, newer unreferenced ones, temp directories and temp files of `latest` and `best`.
 */
export function pruneCheckpoints(outDir: string, keep: number, latestStep: number): void {
  const root = checkpointsDir(outDir);
  if (!existsSync(root)) return;
  const steps = listCheckpointSteps(outDir);
  const kept = new Set(steps.filter((s) => s <= latestStep).slice(-Math.max(1, keep)));
  const best = latestName(outDir, 'best');
  if (best !== undefined && Number(best.slice('step-'.length)) <= latestStep) kept.add(Number(best.slice('step-'.length)));
  for (const s of steps) if (!kept.has(s)) rmSync(join(root, stepDirName(s)), { recursive: true, force: true });
  for (const n of readdirSync(root)) if (/^\.(step-\d+|latest|best)\.tmp-/.test(n)) rmSync(join(root, n), { recursive: true, force: true });
}

function readJsonFile(path: string): unknown {
  if (!existsSync(path)) throw new CheckpointError(`incomplete checkpoint: ${path} is missing`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new CheckpointError(`corrupt checkpoint file ${path}: not valid JSON (${(e as Error).message})`);
  }
}

function readBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new CheckpointError(`incomplete checkpoint: ${path} is missing`);
  return readFileSync(path);
}

/** Read one checkpoint directory and verify every file (checksums, shapes, step agreement). */
export function readCheckpoint(dir: string): Checkpoint {
  const statePath = join(dir, 'state.json');
  const state = readJsonFile(statePath) as CheckpointState;
  if (state === null || typeof state !== 'object' || state.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${statePath}: not an lctr checkpoint state (format ${JSON.stringify((state as { format?: unknown } | null)?.format)})`,
    );
  }
  if (!READABLE_VERSIONS.includes(state.version))
    throw new CheckpointError(
      `${statePath}: checkpoint version ${state.version}; this trainer reads versions ${READABLE_VERSIONS.join(' and ')}`,
    );
  /** version 2: the whole file against state.json, last: the checks before it name the tensor or parameter */
  const checkWhole = (path: string, bytes: Uint8Array, want: string | undefined) => {
    if (state.version < 2) return;
    const got = sha256(bytes);
    if (got !== want)
      throw new CheckpointError(`corrupt checkpoint file ${path}: sha256 is ${got}, ${statePath} says ${want ?? '(no checksum)'}`);
  };
  if (!Number.isInteger(state.step) || state.step < 0)
    throw new CheckpointError(`${statePath}: step must be a non-negative integer, got ${JSON.stringify(state.step)}`);

  const graphPath = join(dir, 'graph.json');
  const graphBytes = readBytes(graphPath);
  const graphSum = sha256(graphBytes);
  if (graphSum !== state.graphSha256)
    throw new CheckpointError(`corrupt checkpoint file ${graphPath}: sha256 is ${graphSum}, ${statePath} says ${state.graphSha256}`);
  const graph = graphFromJSON(Buffer.from(graphBytes).toString('utf8'), graphPath);

  const weightsPath = join(dir, 'weights.safetensors');
  const weightBytes = readBytes(weightsPath);
  const wf = decodeChecked(weightBytes, weightsPath);
  const weights = new Map<string, HostTensor<'float32'>>();
  for (const [k, t] of wf.tensors) {
    if (t.dtype !== 'float32') throw new CheckpointError(`${weightsPath}: tensor '${k}' is ${t.dtype}; weights must be float32`);
    weights.set(k, t as HostTensor<'float32'>);
  }
  try {
    checkWeights(graph, weights);
  } catch (e) {
    throw new CheckpointError(`${weightsPath}: ${(e as Error).message}`);
  }
  if (wf.metadata.step !== String(state.step))
    throw new CheckpointError(`${weightsPath}: written at step ${wf.metadata.step}, ${statePath} says step ${state.step}`);
  checkWhole(weightsPath, weightBytes, state.weightsSha256);

  const optPath = join(dir, 'optimizer.safetensors');
  const optBytes = readBytes(optPath);
  const of = decodeChecked(optBytes, optPath);
  const num = (k: string): number => {
    const s = of.metadata[k];
    const v = s === undefined ? NaN : Number(s);
    if (!Number.isFinite(v)) throw new CheckpointError(`${optPath}: metadata '${k}' must be a number, got ${JSON.stringify(s)}`);
    return v;
  };
  const optStep = num('step');
  if (optStep !== state.step) throw new CheckpointError(`${optPath}: optimizer step ${optStep}, ${statePath} says step ${state.step}`);
  const m = new Map<string, HostTensor<'float32'>>();
  const v = new Map<string, HostTensor<'float32'>>();
  for (const [k, t] of of.tensors) {
    const mm = /^([mv])\/(.+)$/.exec(k);
    if (!mm) throw new CheckpointError(`${optPath}: unexpected tensor '${k}' (expected m/<parameter> and v/<parameter>)`);
    (mm[1] === 'm' ? m : v).set(mm[2]!, t as HostTensor<'float32'>);
  }
  for (const p of graph.params) {
    for (const [which, map] of [
      ['m', m],
      ['v', v],
    ] as const) {
      const t = map.get(p.name);
      if (!t) throw new CheckpointError(`${optPath}: no '${which}/${p.name}' for parameter '${p.name}'`);
      if (t.dtype !== 'float32' || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new CheckpointError(
          `${optPath}: '${which}/${p.name}' must be float32${formatShape(p.shape)}, got ${t.dtype}${formatShape(t.shape)}`,
        );
      }
    }
  }
  const optimizer: AdamState = { step: optStep, beta1Power: num('beta1Power'), beta2Power: num('beta2Power'), m, v };
  checkWhole(optPath, optBytes, state.optimizerSha256);
  return { dir, state, graph, weights, optimizer };
}

/**
 * The checkpoint's graph must be the model's graph: same features (name, dtype, shape), same
 * parameters (path, shape), same nodes. The error names every mismatching feature and parameter.
 */
export function checkSameGraph(ckpt: Graph, model: Graph<FeatureSchema, string>, where: string): void {
  const problems: string[] = [];
  const feats = (g: Graph) => new Map(g.inputs.map((i) => [i.name, `${i.dtype}${formatShape(i.shape)}`]));
  const params = (g: Graph) => new Map(g.params.map((p) => [p.name, formatShape(p.shape)]));
  for (const [what, a, b] of [
    ['feature', feats(ckpt), feats(model)],
    ['parameter', params(ckpt), params(model)],
  ] as const) {
    const onlyCkpt = [...a.keys()].filter((k) => !b.has(k));
    const onlyModel = [...b.keys()].filter((k) => !a.has(k));
    if (onlyModel.length) problems.push(`${what}(s) of the model missing from the checkpoint: ${onlyModel.join(', ')}`);
    if (onlyCkpt.length) problems.push(`${what}(s) in the checkpoint that the model lacks: ${onlyCkpt.join(', ')}`);
    for (const [k, s] of a) {
      const t = b.get(k);
      if (t !== undefined && t !== s) problems.push(`${what} '${k}' is ${s} in the checkpoint, ${t} in the model`);
    }
  }
  if (!problems.length) {
    const na = graphToJSON(ckpt).nodes as unknown[];
    const nb = graphToJSON(model as Graph).nodes as unknown[];
    const i = na.findIndex((n, j) => JSON.stringify(n) !== JSON.stringify(nb[j]));
    if (na.length !== nb.length || i >= 0) {
      const at = i >= 0 ? i : Math.min(na.length, nb.length);
      const id = (n: unknown) => (n as { id?: string } | undefined)?.id ?? '(none)';
      problems.push(
        `same features and parameters, but the computation differs (${na.length} nodes in the checkpoint, ${nb.length} in the model; ` +
          `first difference at node #${at}: '${id(na[at])}' vs '${id(nb[at])}')`,
      );
    }
  }
  if (problems.length) {
    throw new CheckpointError(`checkpoint ${where} was written for a different model than '${model.name}':\n  ${problems.join('\n  ')}`);
  }
}
