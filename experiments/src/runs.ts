/**
 * Training runs of an experiment: a variant (a registered trainer model, a config file of
 * packages/train/configs and a patch) becomes a trainer config under the command's common
 * overrides (world, users, steps or epochs, lifelong length) and a seed; each run trains into
 * <command out>/runs/<variant>-seed<k>/ (the trainer's outDir: metrics.jsonl, checkpoints/) next
 * to an experiment.json that records the config, its hash and, once finished, the result.
 *
 * Reuse: a run whose experiment.json has the same config hash (configHash: trainer settings and
 * data) AND the same graph (sha256 of the serialized training graph, whose meta holds the resolved
 * model config: a change of the model config or of the model code retrains) is not trained again:
 *   finished here                -> reused;
 *   finished in a sibling command's runs (<out>/../<any>/runs/<any>/) -> reused from there;
 *   unfinished here (killed)     -> resumed from its last checkpoint, bit for bit;
 *   anything else in the way     -> moved aside to <dir>.old-<hash>-<time>, then trained.
 * The hash leaves out what does not change the result: evalEvery, logEvery, checkpointEvery, keep,
 * evalBatchSize.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type FeatureSchema, type Graph, atomicWriteFile, serializeGraph } from '@lctr/spec';
import type { SampleSource } from '@lctr/data';
import {
  ConfigError,
  type MetricsRecord,
  type TrainConfig,
  getTrainModel,
  latestCheckpointDir,
  parseTrainConfig,
  progressPrinter,
  readCheckpoint,
  train,
} from '@lctr/train';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Variant {
  /** names the run directories (<id>-seed<k>): lowercase letters, digits, '-' and '.' */
  readonly id: string;
  /** how tables and charts name it */
  readonly label: string;
  /** a registered trainer model (lcn, sim-soft, sim-hard, twin, din, ...) */
  readonly model: string;
  /** a file of the configs folder */
  readonly configFile: string;
  /** deep-merged into the config JSON before the common overrides (objects merge key by key, anything else replaces) */
  readonly patch?: JsonObject;
  /**
   * What the built training graph's resolved model config (graph.meta.config) must hold, checked
   * before anything trains: a dotted path ('lap.k1') and the value (undefined = absent). Guards a
   * table against a patch the trainer does not honour.
   */
  readonly expect?: ReadonlyArray<{ readonly path: string; readonly value: Json | undefined; readonly meaning: string }>;
}

/** The value at a dotted path of a JSON-like object (undefined when absent). */
export function atPath(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** Throws a ConfigError naming each expectation of `variant` that the built graph does not meet. */
export function checkExpectations(variant: Variant, graph: Graph, where: string): void {
  const config = (graph.meta as { config?: unknown }).config;
  const problems = (variant.expect ?? []).flatMap((e) => {
    const got = atPath(config, e.path);
    return canonicalJson(got) === canonicalJson(e.value)
      ? []
      : [
          `${where}: variant '${variant.id}' needs the model's ${e.path} to be ${e.value === undefined ? 'absent' : JSON.stringify(e.value)} (${e.meaning}), ` +
            `but the trainer built graph '${graph.name}' with ${e.path} = ${got === undefined ? 'absent' : JSON.stringify(got)} ` +
            `(graph.meta.config): the patch ${JSON.stringify(variant.patch ?? {})} is not honoured`,
        ];
  });
  if (problems.length) throw new ConfigError(problems);
}

/** The flags every command shares that change a run's config. */
export interface Overrides {
  readonly world?: 'small' | 'default';
  /** config.data.worldUsers */
  readonly users?: number;
  readonly steps?: number;
  readonly epochs?: number;
  /** config.model.lifelongLen (lifelong models only) */
  readonly lifelongLen?: number;
}

/** Trainer config keys that do not change a run's result (left out of the hash). */
export const CADENCE_KEYS = ['evalEvery', 'logEvery', 'checkpointEvery', 'keep', 'evalBatchSize'] as const;

const isObject = (v: Json | undefined): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `base` with `patch` merged in: objects key by key, anything else replaced. Neither input changes. */
export function deepMerge(base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The config half of the reuse key: the model name and the trainer settings that change the result,
 * less config.model: the graph hash covers the model (every registered model builds its graph from
 * config.model, and the graph's meta holds the resolved model config), so a cosmetic edit of a
 * config file (a section the model does not read, a default spelt out) does not retrain.
 */
export function configHash(model: string, config: TrainConfig): string {
  const kept: Record<string, unknown> = { ...config };
  for (const k of [...CADENCE_KEYS, 'model']) delete kept[k];
  return sha256(canonicalJson({ model, config: kept }));
}

export function graphHash(graph: Graph): string {
  return sha256(serializeGraph(graph));
}

/** The config JSON of a variant for one seed: file, then the variant's patch, then the overrides. */
export function variantConfigJson(
  variant: Variant,
  overrides: Overrides,
  seed: number,
  configsDir: string,
): { json: JsonObject; where: string } {
  const where = join(configsDir, variant.configFile);
  let text: string;
  try {
    text = readFileSync(where, 'utf8');
  } catch (e) {
    throw new ConfigError([
      `${where}: cannot read the config of variant '${variant.id}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    ]);
  }
  let json = JSON.parse(text) as JsonObject;
  if (variant.patch) json = deepMerge(json, variant.patch);
  const data: JsonObject = isObject(json['data']) ? { ...json['data'] } : {};
  const model: JsonObject = isObject(json['model']) ? { ...json['model'] } : {};
  if (overrides.world !== undefined) data['world'] = overrides.world;
  if (overrides.users !== undefined) data['worldUsers'] = overrides.users;
  if (overrides.lifelongLen !== undefined && 'lifelongLen' in model) model['lifelongLen'] = overrides.lifelongLen;
  json = { ...json, data, model, seed };
  if (overrides.steps !== undefined) {
    delete json['epochs'];
    json['steps'] = overrides.steps;
  }
  if (overrides.epochs !== undefined) {
    delete json['steps'];
    json['epochs'] = overrides.epochs;
  }
  return { json, where: `${where} (variant ${variant.id}, seed ${seed})` };
}

/** The final metrics of a run: the trainer's eval record at its last step. */
export type FinalEval = Extract<MetricsRecord, { kind: 'eval' }>;

export interface RunResult {
  readonly step: number;
  readonly totalSteps: number;
  readonly final: FinalEval;
  /** every eval of the run (metrics.jsonl), for curves */
  readonly evals: readonly FinalEval[];
  readonly backend: string;
  readonly trainSize: number;
  readonly batchSize: number;
  /** mean milliseconds per training step in the process that finished it (batch building included, evals excluded) */
  readonly msPerStep: number;
  /** seconds of that process: training steps, evals, everything */
  readonly wallSeconds: number;
  readonly evalSeconds: number;
}

export interface RunRecord {
  readonly format: 'lctr-experiment-run';
  readonly version: 1;
  readonly variant: string;
  readonly label: string;
  readonly model: string;
  readonly seed: number;
  readonly configHash: string;
  readonly graphSha256: string;
  readonly config: TrainConfig;
  readonly finished: boolean;
  readonly createdAt: string;
  readonly finishedAt?: string;
  readonly result?: RunResult;
}

const RECORD_FILE = 'experiment.json';

export function readRunRecord(dir: string): RunRecord | undefined {
  const path = join(dir, RECORD_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    return r.format === 'lctr-experiment-run' ? r : undefined;
  } catch {
    return undefined;
  }
}

function readEvals(dir: string): FinalEval[] {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        const r = JSON.parse(l) as MetricsRecord;
        return r.kind === 'eval' ? [r] : [];
      } catch {
        return [];
      }
    });
}

export type RunStatus = 'trained' | 'resumed' | 'reused' | 'reused-sibling' | 'pending';

export interface RunOutcome {
  readonly variant: Variant;
  readonly seed: number;
  readonly status: RunStatus;
  /** the directory holding the run (a sibling command's for 'reused-sibling') */
  readonly dir: string;
  readonly record?: RunRecord;
}

export interface RunContext {
  /** the command's output folder; runs go to <outDir>/runs */
  readonly outDir: string;
  readonly configsDir: string;
  readonly overrides: Overrides;
  /** new runs (trained or resumed) this process may still start; decremented as they start */
  budget: { remaining: number };
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  /** variant id -> a finished trainer-CLI run to adopt (adoptRun) */
  readonly adopt: ReadonlyMap<string, string>;
}

/** Finished runs of the sibling commands (<outDir>/../<command>/runs/<run>/experiment.json), by configHash + graph. */
function siblingRuns(outDir: string): Map<string, { dir: string; record: RunRecord }> {
  const found = new Map<string, { dir: string; record: RunRecord }>();
  const root = dirname(resolve(outDir));
  if (!existsSync(root)) return found;
  for (const cmd of readdirSync(root, { withFileTypes: true })) {
    if (!cmd.isDirectory()) continue;
    const runs = join(root, cmd.name, 'runs');
    if (!existsSync(runs)) continue;
    for (const run of readdirSync(runs, { withFileTypes: true })) {
      if (!run.isDirectory()) continue;
      const dir = join(runs, run.name);
      const r = readRunRecord(dir);
      if (r?.finished && r.result) found.set(`${r.configHash}/${r.graphSha256}`, { dir, record: r });
    }
  }
  return found;
}

/** The run dir of a variant and seed. */
export const runDir = (outDir: string, variant: Variant, seed: number): string => join(outDir, 'runs', `${variant.id}-seed${seed}`);

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

/** A run ready to check or train: its config, training graph and reuse key. */
export interface RunPlan {
  readonly variant: Variant;
  readonly seed: number;
  readonly config: TrainConfig;
  readonly where: string;
  readonly graph: Graph<FeatureSchema, string>;
  readonly configHash: string;
  readonly graphSha256: string;
}

/**
 * The config and graph of a run, with the variant's expectations checked: cheap (no training), so
 * a command plans every run first and a bad variant fails before hours of training.
 */
export async function planRun(ctx: RunContext, variant: Variant, seed: number): Promise<RunPlan> {
  const { json, where } = variantConfigJson(variant, ctx.overrides, seed, ctx.configsDir);
  const config = parseTrainConfig(json, where);
  let graph: Graph<FeatureSchema, string>;
  try {
    graph = await getTrainModel(variant.model).buildTrain(config.model, where, config.data);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([`${where}: ${(e as Error).message}`]);
  }
  checkExpectations(variant, graph, where);
  return { variant, seed, config, where, graph, configHash: configHash(variant.model, config), graphSha256: graphHash(graph) };
}

/**
 * Make sure the planned run is finished: reuse, resume or train it (see the file comment). With no
 * budget left (or once the signal is aborted) a run that would need training is reported 'pending'.
 */
/**
 * Adopt a finished run of the trainer CLI (`nx run train:train -- --out SRC`) as this plan's
 * run, so a long run made by hand is not trained again: its latest checkpoint must hold exactly
 * the plan's training graph (graph hash) and a config with the plan's config hash, and its
 * metrics.jsonl an eval at the last step. The run is copied (the source stays) and recorded.
 */
export function adoptRun(ctx: RunContext, plan: RunPlan, src: string): RunOutcome {
  const { variant, seed, config, configHash: hash, graphSha256: gsha } = plan;
  const ckDir = latestCheckpointDir(src);
  if (!ckDir) throw new Error(`--adopt ${variant.id}=${src}: ${src} holds no checkpoint (expected a trainer run directory)`);
  const ck = readCheckpoint(ckDir);
  const srcGraph = graphHash(ck.graph);
  if (srcGraph !== gsha)
    throw new Error(
      `--adopt ${variant.id}=${src}: its checkpoint holds another training graph than variant '${variant.id}' builds (graph sha256 ` +
        `${srcGraph.slice(0, 12)} vs ${gsha.slice(0, 12)})`,
    );
  const srcHash = configHash(variant.model, ck.state.config);
  if (srcHash !== hash)
    throw new Error(
      `--adopt ${variant.id}=${src}: it was trained with other settings (config hash ${srcHash.slice(0, 12)} vs ${hash.slice(0, 12)}: ` +
        `optimizer, batch size, epochs/steps, seed or data differ)`,
    );
  const evals = readEvals(src);
  const total = ck.state.step;
  const final = evals.filter((e) => e.step === total).at(-1);
  if (!final) throw new Error(`--adopt ${variant.id}=${src}: no eval record at its last checkpoint's step ${total}`);
  const trainRecords = readFileSync(join(src, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kind":"train"'))
    .map((l) => JSON.parse(l) as { samplesPerSec: number; wallSeconds: number });
  const dir = runDir(ctx.outDir, variant, seed);
  if (existsSync(dir) && readdirSync(dir).length > 0) renameSync(dir, `${dir}.old-${hash.slice(0, 8)}-${stamp()}`);
  mkdirSync(dirname(dir), { recursive: true });
  cpSync(src, dir, { recursive: true });
  const meanRate = trainRecords.reduce((a, r) => a + r.samplesPerSec, 0) / Math.max(trainRecords.length, 1);
  const evalSeconds = evals.reduce((a, e) => a + e.evalSeconds, 0);
  const result: RunResult = {
    step: total,
    totalSteps: total,
    final,
    evals,
    backend: 'wasm',
    trainSize: ck.state.trainSize,
    batchSize: config.batchSize,
    msPerStep: (1000 * config.batchSize) / meanRate,
    wallSeconds: final.wallSeconds,
    evalSeconds,
  };
  const now = new Date().toISOString();
  const record: RunRecord = {
    format: 'lctr-experiment-run',
    version: 1,
    variant: variant.id,
    label: variant.label,
    model: variant.model,
    seed,
    configHash: hash,
    graphSha256: gsha,
    config,
    createdAt: now,
    finished: true,
    finishedAt: now,
    result,
  };
  atomicWriteFile(join(dir, RECORD_FILE), JSON.stringify(record, null, 1) + '\n');
  ctx.log(`${basename(dir)}: adopted the finished trainer run ${src} (step ${total}, auc ${final.auc.toFixed(4)})`);
  return { variant, seed, status: 'reused', dir, record };
}

export async function ensureRun(ctx: RunContext, plan: RunPlan): Promise<RunOutcome> {
  const { variant, seed, config, where, graph, configHash: hash, graphSha256: gsha } = plan;
  const model = getTrainModel(variant.model);
  const dir = runDir(ctx.outDir, variant, seed);
  const name = basename(dir);
  const own = readRunRecord(dir);
  const same = own !== undefined && own.configHash === hash && own.graphSha256 === gsha && own.model === variant.model;
  if (same && own.finished && own.result) return { variant, seed, status: 'reused', dir, record: own };
  const sibling = siblingRuns(ctx.outDir).get(`${hash}/${gsha}`);
  if (sibling && sibling.record.model === variant.model) {
    ctx.log(`${name}: reusing the identical finished run ${sibling.dir}`);
    return { variant, seed, status: 'reused-sibling', dir: sibling.dir, record: sibling.record };
  }
  if (ctx.budget.remaining <= 0 || ctx.signal.aborted) return { variant, seed, status: 'pending', dir };
  ctx.budget.remaining--;

  const resume = same && latestCheckpointDir(dir) !== undefined;
  if (!same && existsSync(dir) && readdirSync(dir).length > 0) {
    const aside = `${dir}.old-${(own?.configHash ?? 'unknown').slice(0, 8)}-${stamp()}`;
    const why = !own
      ? 'it has no experiment.json'
      : own.configHash !== hash
        ? 'its config differs'
        : own.graphSha256 !== gsha
          ? 'the model graph changed (model code or data sizes)'
          : `it was trained as model '${own.model}'`;
    renameSync(dir, aside);
    ctx.log(`${name}: ${why}: moved the old run to ${aside}`);
  } else if (same && !resume && existsSync(dir)) {
    // started but killed before its first checkpoint: start over in a clean directory
    renameSync(dir, `${dir}.old-${hash.slice(0, 8)}-${stamp()}`);
  }
  mkdirSync(dir, { recursive: true });
  const createdAt = resume ? own!.createdAt : new Date().toISOString();
  const base = {
    format: 'lctr-experiment-run',
    version: 1,
    variant: variant.id,
    label: variant.label,
    model: variant.model,
    seed,
    configHash: hash,
    graphSha256: gsha,
    config,
    createdAt,
  } as const;
  atomicWriteFile(join(dir, RECORD_FILE), JSON.stringify({ ...base, finished: false } satisfies RunRecord, null, 1) + '\n');

  const trainSrc: SampleSource<FeatureSchema> = await model.source({
    split: 'train',
    seed: config.seed,
    data: config.data,
    model: config.model,
    where,
  });
  const evalSrc: SampleSource<FeatureSchema> = await model.source({
    split: 'eval',
    seed: config.seed,
    data: config.data,
    model: config.model,
    where,
  });
  ctx.log(
    `${name}: ${resume ? 'resuming' : 'training'} ${variant.model} (${variant.label}), ` +
      `${config.steps !== undefined ? `${config.steps} steps` : `${config.epochs} epochs`} of batch ${config.batchSize} over ` +
      `${trainSrc.size} samples, eval on ${evalSrc.size}`,
  );
  // per-step inputs of the recipe (LCN's λ_CRP warm-up)
  const stepFeeds = model.stepFeeds?.(config.model, where);
  const printer = progressPrinter(process.stderr);
  const t0 = performance.now();
  const res = await train({
    graph,
    train: trainSrc,
    eval: evalSrc,
    config,
    outDir: dir,
    resume,
    ...(stepFeeds ? { stepFeeds } : {}),
    signal: ctx.signal,
    log: (l) => printer.log(`${name}: ${l}`),
    onProgress: (p) => printer.update(p),
  });
  printer.done();
  const wallSeconds = (performance.now() - t0) / 1000;
  if (!res.finished) {
    ctx.log(`${name}: stopped at step ${res.step} of ${res.totalSteps} (checkpoint written; the next run of this command resumes it)`);
    return { variant, seed, status: 'pending', dir };
  }
  const evals = readEvals(dir);
  const final = evals.filter((e) => e.step === res.totalSteps).at(-1);
  if (!final) throw new Error(`${join(dir, 'metrics.jsonl')}: no eval record at the last step ${res.totalSteps}`);
  const evalSeconds = res.evals.reduce((s, e) => s + e.evalSeconds, 0);
  const result: RunResult = {
    step: res.step,
    totalSteps: res.totalSteps,
    final,
    evals,
    backend: tf.getBackend(),
    trainSize: trainSrc.size,
    batchSize: config.batchSize,
    msPerStep: (1000 * config.batchSize) / res.samplesPerSec,
    wallSeconds,
    evalSeconds,
  };
  const record: RunRecord = { ...base, finished: true, finishedAt: new Date().toISOString(), result };
  atomicWriteFile(join(dir, RECORD_FILE), JSON.stringify(record, null, 1) + '\n');
  ctx.log(
    `${name}: done in ${wallSeconds.toFixed(1)} s (${result.msPerStep.toFixed(0)} ms/step, evals ${evalSeconds.toFixed(1)} s): auc ` +
      `${final.auc.toFixed(4)} gauc ${final.gauc.toFixed(4)} logloss ${final.logloss.toFixed(4)}`,
  );
  return { variant, seed, status: resume ? 'resumed' : 'trained', dir, record };
}
