/**
 * The training loop: Adam on a graph's scalar `loss` output, batches in a seeded per-epoch order,
 * evaluation (AUC, GAUC, logloss of the `prob` output) every `evalEvery` steps and at the end, a
 * metrics file (JSON lines), progress callbacks, and checkpoints that a resumed run continues
 * from bit for bit. A source with evaluation targets (several scored slots per sample, e.g. the C
 * candidates of a request) is evaluated per target instead: the first target's numbers fill the
 * usual fields, the others go under `objectives`.
 *
 * With config.validation the periodic evaluations score the validation source (lines of kind
 * `validation`), the best step by its metric keeps its checkpoint (`checkpoints/best`), patience
 * stops the run early, and the `eval` source is the test set: scored once, at the end, on the
 * best step's weights (a `test` line), so no number is chosen on it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { EvalTarget, SampleSource } from '@lctr/data';
import { auc, gauc, logloss } from '@lctr/metrics';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  atomicWriteFile,
  formatShape,
  initWeights,
  valueInfo,
  displayPath,
} from '@lctr/spec';
import { Adam, type AdamState, DataParallel, type TfjsModel, compileTfjs } from '@lctr/backend-tfjs';
import { type TrainConfig, type ValidationMetric, totalSteps } from './config.ts';
import {
  type Checkpoint,
  CheckpointError,
  bestCheckpointDir,
  checkSameGraph,
  latestCheckpointDir,
  newestIntactCheckpoint,
  pointBestAt,
  pointLatestAt,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint.ts';
import { learningRateAt } from './schedule.ts';
import { type ModelSummary, formatSummary, modelSummary } from './summary.ts';
import { BatchOrder } from './order.ts';
import type { TrainProgress } from './progress.ts';
import type { StepFeeds } from './models.ts';

export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainError';
  }
}

export interface TrainOptions<S extends FeatureSchema> {
  /** the training graph: a float32 scalar output `loss` and a float32 [batch] output `prob` */
  readonly graph: Graph<S, string>;
  readonly train: SampleSource<S>;
  /** evaluated every config.evalEvery steps and at the end; with `validation`: the test set, scored once at the end */
  readonly eval?: SampleSource<S>;
  /** required with config.validation: scored every config.evalEvery steps and at the end, it chooses the best step */
  readonly validation?: SampleSource<S>;
  readonly config: TrainConfig;
  /** metrics.jsonl and checkpoints/ go here */
  readonly outDir: string;
  /** continue from <outDir>/checkpoints/latest (from step 0 when there is none yet) */
  readonly resume?: boolean;
  /** stop once this many steps are done (with a checkpoint), as if interrupted */
  readonly stopAt?: number;
  /** stop at the next step boundary (with a checkpoint) once aborted */
  readonly signal?: AbortSignal;
  /** human-readable lines (start, resume, evals, checkpoints); default: none */
  readonly log?: (line: string) => void;
  /** called after every step */
  readonly onProgress?: (p: TrainProgress) => void;
  /**
   * graph inputs the trainer feeds per step (float32 scalars, e.g. LCN's crpLambdaScale warm-up;
   * TrainModel.stepFeeds gives them for a config): merged into every training batch (the values of
   * that step) and into the evaluations' batches (the values at the number of steps done; `prob`
   * must not read them). The sources must not hold these features.
   */
  readonly stepFeeds?: StepFeeds;
}

/** The metrics of one scored objective. */
export interface ObjectiveMetrics {
  /** scored samples (for a target: its valid slots) */
  readonly samples: number;
  readonly positives: number;
  readonly auc: number;
  readonly gauc: number;
  /** users with both labels (the ones GAUC averages over) */
  readonly gaucUsers: number;
  readonly logloss: number;
  /** AUC of the source's true click probabilities, when it has them */
  readonly bayesAuc?: number;
}

export interface EvalMetrics extends ObjectiveMetrics {
  /** a source with targets: the headline target's name (its numbers are the fields above) */
  readonly target?: string;
  /** a source with targets: the other targets' metrics, by name */
  readonly objectives?: Readonly<Record<string, ObjectiveMetrics>>;
}

type EvalLine<K extends 'eval' | 'validation'> = {
  readonly kind: K;
  readonly step: number;
  readonly epoch: number;
  readonly evalSeconds: number;
  readonly wallSeconds: number;
  readonly time: string;
} & EvalMetrics;

/** One line of metrics.jsonl. */
export type MetricsRecord =
  | {
      readonly kind: 'start';
      readonly step: number;
      readonly totalSteps: number;
      readonly resumed: boolean;
      readonly backend: string;
      readonly trainSize: number;
      readonly evalSize: number;
      readonly validationSize?: number;
      readonly wallSeconds: number;
      readonly time: string;
    }
  | ({ readonly kind: 'summary'; readonly step: number } & ModelSummary)
  | {
      readonly kind: 'train';
      readonly step: number;
      readonly epoch: number;
      readonly loss: number;
      /** config.logClickLoss: mean BCE of `prob` (clipped like logloss) and loss - clickLoss, averaged like loss */
      readonly clickLoss?: number;
      readonly auxLoss?: number;
      /** config.lrSchedule: the rate of this line's last step */
      readonly lr?: number;
      readonly samplesPerSec: number;
      readonly wallSeconds: number;
      readonly time: string;
    }
  | EvalLine<'eval'>
  /** config.validation: the periodic evaluations score the validation set */
  | EvalLine<'validation'>
  /** the test set on the best validation step's weights (`bestStep`), once, at the end; `step` is where training ended */
  | ({
      readonly kind: 'test';
      readonly step: number;
      readonly bestStep: number;
      readonly epoch: number;
      readonly evalSeconds: number;
      readonly wallSeconds: number;
      readonly time: string;
    } & EvalMetrics);

export type EvalRecord = Extract<MetricsRecord, { kind: 'eval' | 'validation' }>;
export type TestRecord = Extract<MetricsRecord, { kind: 'test' }>;

export interface TrainResult {
  /** steps done (over all resumes) */
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  /** step === totalSteps */
  readonly finished: boolean;
  /** the step this process resumed from (undefined for a fresh run) */
  readonly resumedFrom?: number;
  /** final parameters and optimizer state (host copies) */
  readonly weights: Map<string, HostTensor<'float32'>>;
  readonly optimizer: AdamState;
  /** evaluations done by this process (kind `validation` with config.validation) */
  readonly evals: ReadonlyArray<EvalRecord>;
  /** config.validation: the best step so far by the validation metric (its checkpoint is checkpoints/best) */
  readonly bestStep?: number;
  /** config.validation.patience ran out: the run ended before totalSteps */
  readonly stoppedEarly?: boolean;
  /** config.validation with an eval source, once the run is done: the test line (by this process, or found from an earlier one) */
  readonly test?: TestRecord;
  /** the last checkpoint written (or resumed from) */
  readonly checkpoint?: string;
  /** training samples per second in this process (eval and checkpoint time excluded); NaN if no step ran */
  readonly samplesPerSec: number;
}

const METRICS_FILE = 'metrics.jsonl';

/**
 * Predict `prob` for every sample of `source` in batches of `batchSize` (model.run), then AUC, GAUC
 * and logloss. A source with `targets` is scored per target (evaluateTargets).
 */
export function evaluate<S extends FeatureSchema>(model: TfjsModel<S, string>, source: SampleSource<S>, batchSize: number): EvalMetrics {
  if (source.targets !== undefined) return evaluateTargets(model, source, batchSize);
  const n = source.size;
  const probs = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const idx = new Int32Array(end - start);
    for (let i = 0; i < idx.length; i++) idx[i] = start + i;
    const p = model.run(source.batch(idx)).prob;
    if (!p || p.data.length !== idx.length) {
      throw new TrainError(
        `evaluate: output 'prob' must hold one value per sample (${idx.length}), got ` +
          `${p ? `${p.dtype}${formatShape(p.shape)}` : 'nothing'}`,
      );
    }
    probs.set(p.data as Float32Array, start);
  }
  let positives = 0;
  for (let i = 0; i < n; i++) positives += source.labels[i]!;
  const g = gauc(source.labels, probs, source.groups);
  return {
    samples: n,
    positives,
    auc: auc(source.labels, probs),
    gauc: g.gauc,
    gaucUsers: g.users,
    logloss: logloss(source.labels, probs),
    ...(source.trueProbability ? { bayesAuc: auc(source.labels, source.trueProbability) } : {}),
  };
}

/** The metrics of `scores` against `labels` at the slots where `valid` is 1. */
function objectiveMetrics(t: EvalTarget, scores: Float32Array): ObjectiveMetrics {
  let m = 0;
  for (let i = 0; i < t.valid.length; i++) m += t.valid[i] ? 1 : 0;
  const labels = new Uint8Array(m),
    s = new Float32Array(m),
    groups = new Int32Array(m),
    truth = t.trueProbability ? new Float32Array(m) : undefined;
  let positives = 0;
  for (let i = 0, j = 0; i < t.valid.length; i++) {
    if (!t.valid[i]) continue;
    labels[j] = t.labels[i]!;
    s[j] = scores[i]!;
    groups[j] = t.groups[i]!;
    if (truth) truth[j] = t.trueProbability![i]!;
    positives += labels[j]!;
    j++;
  }
  const g = gauc(labels, s, groups);
  return {
    samples: m,
    positives,
    auc: auc(labels, s),
    gauc: g.gauc,
    gaucUsers: g.users,
    logloss: logloss(labels, s),
    ...(truth ? { bayesAuc: auc(labels, truth) } : {}),
  };
}

/**
 * Evaluate a multi-slot source: run the model in batches, collect every target's output
 * ([batch, slots] each), then per target AUC, GAUC (by its groups) and logloss over its valid
 * slots. The first target is the headline (the usual fields); the others go under `objectives`.
 */
export function evaluateTargets<S extends FeatureSchema>(
  model: TfjsModel<S, string>,
  source: SampleSource<S>,
  batchSize: number,
): EvalMetrics {
  checkTargets(source, 'eval');
  const n = source.size,
    C = source.slots!,
    targets = source.targets!;
  const outputs = [...new Set(targets.map((t) => t.output))];
  const scores = new Map(outputs.map((o) => [o, new Float32Array(n * C)]));
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize),
      B = end - start;
    const idx = new Int32Array(B);
    for (let i = 0; i < B; i++) idx[i] = start + i;
    const res = model.run(source.batch(idx)) as Record<string, HostTensor | undefined>;
    for (const o of outputs) {
      const p = res[o];
      const users = targets
        .filter((t) => t.output === o)
        .map((t) => `'${t.name}'`)
        .join(', ');
      if (!p || p.dtype !== 'float32' || p.shape.length !== 2 || p.shape[0] !== B || p.shape[1] !== C || p.data.length !== B * C) {
        throw new TrainError(
          `evaluate: output '${o}' (target ${users}) must be float32 [${B}, ${C}] (one value per sample and slot), got ` +
            `${p ? `${p.dtype} ${formatShape(p.shape)}` : 'nothing'}`,
        );
      }
      scores.get(o)!.set(p.data as Float32Array, start * C);
    }
  }
  const per = targets.map((t) => [t.name, objectiveMetrics(t, scores.get(t.output)!)] as const);
  const [headName, head] = per[0]!;
  return { ...head, target: headName, objectives: Object.fromEntries(per.slice(1)) };
}

/** A source's targets: at least one, distinct names, `slots` a positive integer, every array size * slots long. */
function checkTargets(src: SampleSource, what: string): void {
  const targets = src.targets!,
    C = src.slots;
  if (!Array.isArray(targets) || targets.length === 0)
    throw new TrainError(
      `${what} source: targets must be a non-empty array when present, got ${Array.isArray(targets) ? 'an empty array' : typeof targets}`,
    );
  if (!Number.isInteger(C) || C! < 1)
    throw new TrainError(`${what} source: slots must be a positive integer with targets, got ${String(C)}`);
  const want = src.size * C!;
  const names = new Set<string>();
  for (const t of targets) {
    if (names.has(t.name)) throw new TrainError(`${what} source: target '${t.name}' is listed twice`);
    names.add(t.name);
    for (const f of ['labels', 'valid', 'groups', 'trueProbability'] as const) {
      const a = t[f];
      if (a === undefined && f === 'trueProbability') continue;
      if (!a || a.length !== want)
        throw new TrainError(
          `${what} source: target '${t.name}': ${f} must hold one entry per sample and slot (${src.size} x ${C} = ${want}), got ` +
            `${a ? a.length : 'nothing'}`,
        );
    }
  }
}

/**
 * The step feeds' names (those of step 0 of `total`): each a graph input, float32 with shape [] (a scalar), and
 * in no source's schema (two providers of one input would be ambiguous).
 */
function stepFeedNames(
  graph: Graph,
  feeds: StepFeeds,
  total: number,
  sources: ReadonlyArray<readonly [string, SampleSource | undefined]>,
): string[] {
  const names = Object.keys(feeds(0, total));
  for (const name of names) {
    const decl = graph.inputs.find((i) => i.name === name);
    if (!decl)
      throw new TrainError(
        `stepFeeds: graph '${graph.name}' has no input '${name}' (inputs: ${graph.inputs.map((i) => i.name).join(', ')})`,
      );
    if (decl.dtype !== 'float32' || decl.shape.length !== 0)
      throw new TrainError(
        `stepFeeds: input '${name}' of graph '${graph.name}' must be a float32 scalar [] to be fed per step, got ` +
          `${decl.dtype}${formatShape(decl.shape)}`,
      );
    for (const [what, src] of sources) {
      if (src && name in (src.schema as FeatureSchema))
        throw new TrainError(
          `stepFeeds: the ${what} source also has feature '${name}'; an input fed per step must come from stepFeeds only`,
        );
    }
  }
  return names;
}

/** The feeds of `step` checked against `names`: the same names every step, each a float32 scalar with a finite value. */
function feedsAt(feeds: StepFeeds, names: readonly string[], step: number, total: number): Record<string, HostTensor<'float32'>> {
  const out = feeds(step, total);
  const got = Object.keys(out);
  if (got.length !== names.length || got.some((n) => !names.includes(n))) {
    throw new TrainError(
      `stepFeeds at step ${step}: expected the inputs ${names.join(', ')} (as at step 0), got ${got.join(', ') || 'none'}`,
    );
  }
  for (const name of names) {
    const t = out[name]!;
    if (t.dtype !== 'float32' || t.shape.length !== 0 || t.data.length !== 1 || !Number.isFinite(t.data[0])) {
      throw new TrainError(
        `stepFeeds at step ${step}: '${name}' must be one finite float32 value with shape [], got ${t.dtype}${formatShape(t.shape)} ` +
          `holding ${Array.from(t.data).join(', ')}`,
      );
    }
  }
  return { ...out };
}

/** `src` whose batches also carry the feeds of the current step (`current()`); `src` itself without feeds. */
function withStepFeeds<S extends FeatureSchema>(
  src: SampleSource<S>,
  current: (() => Record<string, HostTensor<'float32'>>) | undefined,
): SampleSource<S> {
  if (!current) return src;
  return { ...src, batch: (indices: Int32Array) => ({ ...src.batch(indices), ...current() }) as ReturnType<SampleSource<S>['batch']> };
}

function checkSource<S extends FeatureSchema>(
  graph: Graph<S, string>,
  src: SampleSource<S>,
  what: string,
  fed: readonly string[] = [],
): void {
  const schema = src.schema as FeatureSchema;
  const missing = graph.inputs.filter((i) => !(i.name in schema) && !fed.includes(i.name)).map((i) => i.name);
  if (missing.length)
    throw new TrainError(
      `${what} source has no feature(s) ${missing.join(', ')} that graph '${graph.name}' takes (it has ${Object.keys(schema).join(', ')})`,
    );
  for (const i of graph.inputs) {
    if (fed.includes(i.name)) continue;
    if (schema[i.name]!.dtype !== i.dtype)
      throw new TrainError(`${what} source: feature '${i.name}' is ${schema[i.name]!.dtype}, graph '${graph.name}' takes ${i.dtype}`);
  }
  if (!Number.isInteger(src.size) || src.size < 1)
    throw new TrainError(`${what} source must hold at least one sample, got size ${src.size}`);
  if (src.labels.length !== src.size)
    throw new TrainError(`${what} source: labels has ${src.labels.length} entries for ${src.size} samples`);
  if (src.groups.length !== src.size)
    throw new TrainError(`${what} source: groups has ${src.groups.length} entries for ${src.size} samples`);
  if (src.targets !== undefined) {
    checkTargets(src, what);
    for (const t of src.targets) {
      const id = (graph.outputs as Record<string, string>)[t.output];
      if (id === undefined)
        throw new TrainError(
          `${what} source: target '${t.name}' scores output '${t.output}', which graph '${graph.name}' lacks (outputs: ` +
            `${Object.keys(graph.outputs).join(', ')})`,
        );
      const info = valueInfo(graph as Graph, id);
      const slotDim = info.shape[1];
      if (info.dtype !== 'float32' || info.shape.length !== 2 || (typeof slotDim === 'number' && slotDim !== src.slots)) {
        throw new TrainError(
          `${what} source: target '${t.name}' needs output '${t.output}' float32 [batch, ${src.slots}] (one value per slot), graph ` +
            `'${graph.name}' gives ${info.dtype} ${formatShape(info.shape)}`,
        );
      }
    }
  }
}

/**
 * Mean BCE of the `prob` output on one training batch (the metrics' logloss: probabilities clipped
 * to [1e-7, 1 - 1e-7]). The graph's `loss` is the click BCE plus any auxiliary terms (CRP, SIM's
 * GSU loss); computing the click part here from `prob` keeps the training graph, and its hash, as is.
 */
function clickLoss<S extends FeatureSchema>(
  model: TfjsModel<S, string>,
  batch: ReturnType<SampleSource<S>['batch']>,
  labels: Uint8Array,
  indices: Int32Array,
): number {
  const p = model.run(batch).prob;
  if (!p || p.data.length !== indices.length) {
    throw new TrainError(
      `config.logClickLoss needs output 'prob' with one value per sample (${indices.length}), got ` +
        `${p ? `${p.dtype}${formatShape(p.shape)}` : 'nothing'}`,
    );
  }
  const y = new Uint8Array(indices.length);
  for (let i = 0; i < y.length; i++) y[i] = labels[indices[i]!]!;
  return logloss(y, p.data as Float32Array);
}

function checkGraph(graph: Graph): void {
  for (const name of ['loss', 'prob']) {
    const id = (graph.outputs as Record<string, string>)[name];
    if (id === undefined)
      throw new TrainError(
        `graph '${graph.name}' has no output '${name}' (outputs: ${Object.keys(graph.outputs).join(', ')}); the trainer needs a scalar ` +
          `'loss' and a 'prob' per sample`,
      );
    const info = valueInfo(graph, id);
    if (info.dtype !== 'float32')
      throw new TrainError(`graph '${graph.name}': output '${name}' must be float32, got ${info.dtype}${formatShape(info.shape)}`);
  }
}

/** Training settings that fix the trajectory: a resumed run must use the same ones. */
function checkResumableConfig(saved: TrainConfig, now: TrainConfig, where: string): void {
  const diffs: string[] = [];
  const keys = ['optimizer', 'batchSize', 'seed', 'data', 'shards', 'validation', 'lrSchedule'] as const;
  for (const k of keys) {
    const a = JSON.stringify(saved[k]),
      b = JSON.stringify(now[k]);
    if (a !== b) diffs.push(`${k}: ${a} in the checkpoint, ${b} now`);
  }
  if (diffs.length)
    throw new CheckpointError(
      `cannot resume from ${where}: the config changed in settings that fix the training trajectory:\n  ${diffs.join('\n  ')}`,
    );
}

/** Keep only complete JSON lines of steps <= `step` (a killed run may have logged past its last checkpoint). */
function trimMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: empty, or a line cut by a kill
  const kept = lines.filter((l) => {
    try {
      const r = JSON.parse(l) as { step?: unknown };
      return typeof r.step === 'number' && r.step <= step;
    } catch {
      return false;
    }
  });
  atomicWriteFile(path, kept.map((l) => l + '\n').join(''));
}

/** Whether validation value `v` beats `best` (undefined: nothing yet); an undefined metric (NaN, null) never does. */
export function isBetter(metric: ValidationMetric, v: number | null | undefined, best: number | undefined): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (best === undefined) return true;
  return metric === 'logloss' ? v < best : v > best;
}

/** The validation and test lines metrics.jsonl already holds (a resume re-derives best, patience and whether the test ran from them). */
function priorLines(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as MetricsRecord)
    .filter((r) => r.kind === 'validation' || r.kind === 'test');
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function train<S extends FeatureSchema>(opts: TrainOptions<S>): Promise<TrainResult> {
  const { graph, config, outDir } = opts;
  const log = opts.log ?? (() => {});
  checkGraph(graph as Graph);
  const fed = opts.stepFeeds
    ? stepFeedNames(graph as Graph, opts.stepFeeds, totalSteps(config, opts.train.size), [
        ['training', opts.train],
        [config.validation ? 'test' : 'eval', opts.eval],
        ['validation', opts.validation],
      ] as ReadonlyArray<readonly [string, SampleSource | undefined]>)
    : [];
  checkSource(graph, opts.train, 'training', fed);
  if (opts.eval) checkSource(graph, opts.eval, config.validation ? 'test' : 'eval', fed);
  if (config.validation && !opts.validation)
    throw new TrainError('config.validation is set, but no validation source was given (train({ validation }))');
  if (!config.validation && opts.validation)
    throw new TrainError(
      'a validation source was given, but config.validation is not set (it names the metric that chooses the best step)',
    );
  if (opts.validation) checkSource(graph, opts.validation, 'validation', fed);
  const total = totalSteps(config, opts.train.size);
  const order = new BatchOrder(config.seed, opts.train.size, config.batchSize);
  const evalEvery = config.evalEvery === 'epoch' ? order.perEpoch : config.evalEvery;
  const metricsPath = join(outDir, METRICS_FILE);

  let ckpt: Checkpoint | undefined;
  let fellBack = false;
  if (opts.resume) {
    // a corrupt latest is passed over for the newest intact older checkpoint, saying why
    const found = newestIntactCheckpoint(outDir);
    for (const s of found.skipped) log(`skipped checkpoint ${displayPath(s.dir)}: ${s.reason}`);
    fellBack = found.skipped.length > 0;
    if (found.checkpoint) {
      ckpt = found.checkpoint;
      const dir = ckpt.dir;
      checkSameGraph(ckpt.graph, graph, dir);
      checkResumableConfig(ckpt.state.config, config, dir);
      if (ckpt.state.trainSize !== opts.train.size) {
        throw new CheckpointError(
          `cannot resume from ${dir}: the training source held ${ckpt.state.trainSize} samples, now ${opts.train.size} (the sample order ` +
            `depends on it)`,
        );
      }
      // a cosine schedule decays over the run's length: another length would change the rates already used
      if (config.lrSchedule?.decay === 'cosine' && totalSteps(ckpt.state.config, ckpt.state.trainSize) !== total) {
        throw new CheckpointError(
          `cannot resume from ${dir}: config.lrSchedule decays over the run's ${totalSteps(ckpt.state.config, ckpt.state.trainSize)} ` +
            `steps, this config has ${total} (keep epochs/steps with a cosine schedule)`,
        );
      }
      if (ckpt.state.step > total)
        throw new TrainError(`cannot resume from ${dir}: it is at step ${ckpt.state.step}, past this config's ${total} steps`);
    } else {
      log(`no checkpoint in ${join(outDir, 'checkpoints')} yet: starting at step 0`);
    }
  } else if (latestCheckpointDir(outDir) !== undefined || existsSync(metricsPath)) {
    throw new TrainError(
      `${outDir} already holds a training run (${existsSync(metricsPath) ? METRICS_FILE : 'checkpoints/latest'}); resume it (--resume) ` +
        `or choose another output directory`,
    );
  }

  mkdirSync(outDir, { recursive: true });
  const startStep = ckpt?.state.step ?? 0;
  if (opts.resume) {
    trimMetrics(metricsPath, startStep);
    // after a fallback, latest names the checkpoint resumed from; the skipped newer ones go with the leftovers
    if (fellBack && ckpt) pointLatestAt(outDir, startStep);
    pruneCheckpoints(outDir, Infinity, startStep); // drops unreferenced leftovers of a killed run
  }

  // more than one shard: the data-parallel step owns the model and the optimizer (worker threads)
  const parallel =
    (config.shards ?? 1) > 1
      ? await DataParallel.create(graph, initWeights(graph as Graph, config.seed), config.optimizer, {
          shards: config.shards!,
          backend: tf.getBackend(),
        })
      : undefined;
  const model = parallel?.model ?? compileTfjs(graph, { seed: config.seed });
  const adam = parallel?.optimizer ?? new Adam(model.variables, config.optimizer);
  if (parallel)
    log(
      `data-parallel: ${config.shards} shards per step (this thread and ${config.shards! - 1} worker ` +
        `thread${config.shards! > 2 ? 's' : ''})`,
    );
  try {
    if (ckpt) {
      model.setWeights(ckpt.weights);
      adam.setState(ckpt.optimizer, join(ckpt.dir, 'optimizer.safetensors'));
      log(`resumed from ${ckpt.dir} (step ${startStep} of ${total})`);
      if (ckpt.state.backend !== tf.getBackend()) {
        log(
          `warning: ${ckpt.dir} was trained on tfjs backend '${ckpt.state.backend}', this run uses '${tf.getBackend()}': the ` +
            `continuation is not bit-identical to an uninterrupted run`,
        );
      }
    }
    const wallBase = ckpt?.state.wallSeconds ?? 0;
    const t0 = performance.now();
    const wall = () => wallBase + (performance.now() - t0) / 1000;
    const record = (r: MetricsRecord) => appendFileSync(metricsPath, JSON.stringify(r) + '\n');
    const epochAt = (s: number) => s / order.perEpoch;
    record({
      kind: 'start',
      step: startStep,
      totalSteps: total,
      resumed: ckpt !== undefined,
      backend: tf.getBackend(),
      trainSize: opts.train.size,
      evalSize: opts.eval?.size ?? 0,
      ...(opts.validation ? { validationSize: opts.validation.size } : {}),
      wallSeconds: wall(),
      time: new Date().toISOString(),
    });
    if (config.summary) {
      const summary = modelSummary(graph as Graph);
      record({ kind: 'summary', step: startStep, ...summary });
      log(formatSummary(summary));
    }
    // best, patience and the test line of earlier processes, from the (trimmed) metrics file
    const metric = config.validation?.metric ?? 'auc';
    let best: number | undefined,
      bestStep: number | undefined,
      sinceBest = 0;
    let test: TestRecord | undefined;
    for (const r of priorLines(metricsPath)) {
      if (r.kind === 'test') test = r;
      else if (r.kind === 'validation') {
        if (isBetter(metric, r[metric], best)) {
          best = r[metric];
          bestStep = r.step;
          sinceBest = 0;
        } else sinceBest++;
      }
    }
    const patience = config.validation?.patience;
    let stoppedEarly = patience !== undefined && bestStep !== undefined && sinceBest >= patience;

    let step = startStep;
    // evaluations read the feeds at the number of steps done (no effect on `prob`, but the graph takes them)
    const evalFeeds = opts.stepFeeds ? () => feedsAt(opts.stepFeeds!, fed, step, total) : undefined;
    const evalSource = <T extends SampleSource<S> | undefined>(src: T): T => (src ? withStepFeeds(src, evalFeeds) : src) as T;
    let samples = ckpt?.state.samples ?? 0;
    let trainMs = 0,
      trainSamples = 0,
      trainSteps = 0;
    let winLoss = 0,
      winSteps = 0,
      winSamples = 0,
      winMs = 0,
      winClick = 0;
    let lastLoss = NaN;
    let lastCheckpoint = ckpt?.dir;
    let lastCheckpointStep = startStep;
    const evals: EvalRecord[] = [];
    const describe = (m: EvalMetrics, secs: number) => {
      const others = Object.entries(m.objectives ?? {})
        .map(([k, o]) => `; ${k} auc ${o.auc.toFixed(4)}${o.bayesAuc !== undefined ? ` (Bayes ${o.bayesAuc.toFixed(4)})` : ''}`)
        .join('');
      return (
        `${m.target !== undefined ? `${m.target} ` : ''}auc ${m.auc.toFixed(4)} gauc ${m.gauc.toFixed(4)} logloss ` +
        `${m.logloss.toFixed(4)}${m.bayesAuc !== undefined ? ` (Bayes auc ${m.bayesAuc.toFixed(4)})` : ''} on ${m.samples} samples` +
        `${others} in ${secs.toFixed(1)} s`
      );
    };

    /** Evaluate the periodic source (validation when configured, else eval); true when it is a new best validation value. */
    const doEval = (): boolean => {
      const src = evalSource(opts.validation ?? opts.eval);
      if (!src) return false;
      const kind = opts.validation ? ('validation' as const) : ('eval' as const);
      const e0 = performance.now();
      const m = evaluate(model, src, config.evalBatchSize);
      const r: EvalRecord = {
        kind,
        step,
        epoch: epochAt(step),
        ...m,
        evalSeconds: (performance.now() - e0) / 1000,
        wallSeconds: wall(),
        time: new Date().toISOString(),
      };
      record(r);
      evals.push(r);
      log(`${kind} at step ${step}: ${describe(m, r.evalSeconds)}`);
      if (!opts.validation) return false;
      if (isBetter(metric, m[metric], best)) {
        best = m[metric];
        bestStep = step;
        sinceBest = 0;
        return true;
      }
      sinceBest++;
      if (patience !== undefined && sinceBest >= patience) {
        stoppedEarly = true;
        log(
          `early stop at step ${step}: validation ${metric} has not beaten ${best?.toFixed(4) ?? 'nothing'} (step ${bestStep ?? '-'}) ` +
            `for ${sinceBest} evaluations (patience ${patience})`,
        );
      }
      return false;
    };
    /** The test set on the best step's weights, once; the model keeps them afterwards (the caller took the final ones). */
    const doTest = () => {
      if (!opts.eval || !opts.validation || test) return;
      const dir = bestCheckpointDir(outDir);
      if (dir === undefined || bestStep === undefined)
        throw new TrainError(
          `cannot score the test set: no best checkpoint in ${join(outDir, 'checkpoints')} (no validation step had a defined ${metric})`,
        );
      model.setWeights(readCheckpoint(dir).weights);
      const e0 = performance.now();
      const m = evaluate(model, evalSource(opts.eval), config.evalBatchSize);
      test = {
        kind: 'test',
        step,
        bestStep,
        epoch: epochAt(bestStep),
        ...m,
        evalSeconds: (performance.now() - e0) / 1000,
        wallSeconds: wall(),
        time: new Date().toISOString(),
      };
      record(test);
      log(`test on the weights of step ${bestStep} (best validation ${metric}): ${describe(m, test.evalSeconds)}`);
    };
    const doCheckpoint = () => {
      const c0 = performance.now();
      lastCheckpoint = writeCheckpoint(
        outDir,
        {
          step,
          epoch: epochAt(step),
          samples,
          wallSeconds: wall(),
          backend: tf.getBackend(),
          trainSize: opts.train.size,
          config,
          graph: graph as Graph,
          weights: model.getWeights(),
          optimizer: adam.getState(),
        },
        config.keep,
      );
      lastCheckpointStep = step;
      log(`checkpoint ${displayPath(lastCheckpoint)} (${Math.round(performance.now() - c0)} ms)`);
    };

    const stopAt = Math.min(total, opts.stopAt ?? total);
    let lr = config.optimizer.lr;
    while (step < stopAt && !opts.signal?.aborted && !stoppedEarly) {
      const s0 = performance.now();
      const { indices } = order.at(step);
      // a pure function of the step: a resumed run sets the same rate
      if (config.lrSchedule) adam.setLearningRate((lr = learningRateAt(config.lrSchedule, config.optimizer.lr, step, total)));
      // per-step inputs: a pure function of the step, like the rate (a resumed run feeds the same values)
      const batch = opts.stepFeeds
        ? ({ ...opts.train.batch(indices), ...feedsAt(opts.stepFeeds, fed, step, total) } as ReturnType<SampleSource<S>['batch']>)
        : opts.train.batch(indices);
      // the click loss on the weights the step's loss is computed with (before the update)
      if (config.logClickLoss) winClick += clickLoss(model, batch, opts.train.labels, indices);
      const loss = parallel ? await parallel.step(batch) : model.trainStep(batch, 'loss', adam);
      const ms = performance.now() - s0;
      if (!Number.isFinite(loss)) {
        throw new TrainError(
          `the loss is ${loss} at step ${step + 1} (epoch ${epochAt(step).toFixed(3)}); last checkpoint: ${lastCheckpoint ?? 'none'}`,
        );
      }
      step++;
      samples += indices.length;
      trainMs += ms;
      trainSamples += indices.length;
      trainSteps++;
      winLoss += loss;
      winSteps++;
      winSamples += indices.length;
      winMs += ms;
      lastLoss = winLoss / winSteps;
      if (step % config.logEvery === 0) {
        record({
          kind: 'train',
          step,
          epoch: epochAt(step),
          loss: winLoss / winSteps,
          ...(config.logClickLoss ? { clickLoss: winClick / winSteps, auxLoss: (winLoss - winClick) / winSteps } : {}),
          ...(config.lrSchedule ? { lr } : {}),
          samplesPerSec: (1000 * winSamples) / winMs,
          wallSeconds: wall(),
          time: new Date().toISOString(),
        });
        winLoss = 0;
        winSteps = 0;
        winSamples = 0;
        winMs = 0;
        winClick = 0;
      }
      opts.onProgress?.({
        step,
        totalSteps: total,
        epoch: epochAt(step),
        loss: lastLoss,
        samplesPerSec: (1000 * trainSamples) / trainMs,
        etaSeconds: ((total - step) * trainMs) / trainSteps / 1000,
      });
      // the final eval comes before the final checkpoint: a run resumed at its last step has nothing left to do
      const improved = (evalEvery > 0 && step % evalEvery === 0) || step === total ? doEval() : false;
      if ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || step === stopAt || improved || stoppedEarly)
        doCheckpoint();
      if (improved) {
        // after the checkpoint exists; then pruning may drop the previous best
        pointBestAt(outDir, step);
        pruneCheckpoints(outDir, config.keep, step);
      }
      await yieldToEventLoop();
    }
    if (step !== lastCheckpointStep) doCheckpoint(); // stopped by the signal
    const weights = model.getWeights(),
      optimizer = adam.getState();
    const done = step === total || stoppedEarly;
    if (done) doTest();
    return {
      step,
      totalSteps: total,
      epoch: epochAt(step),
      finished: done,
      ...(ckpt ? { resumedFrom: startStep } : {}),
      weights,
      optimizer,
      evals,
      ...(bestStep !== undefined ? { bestStep } : {}),
      ...(stoppedEarly ? { stoppedEarly } : {}),
      ...(test && done ? { test } : {}),
      ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}),
      samplesPerSec: trainSteps ? (1000 * trainSamples) / trainMs : NaN,
    };
  } finally {
    if (parallel) await parallel.dispose();
    else {
      adam.dispose();
      model.dispose();
    }
  }
}
