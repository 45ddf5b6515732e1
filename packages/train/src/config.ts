/**
 * The training config (JSON): optimizer, batch size, length, eval/checkpoint/log cadence, seed,
 * plus two free-form sections (`model`, `data`) that the model registry checks. Every problem is
 * reported with its path (`config.optimizer.lr`), what was expected and what was found; unknown
 * keys are errors (a misspelt key must not silently fall back to a default).
 */
import type { AdamConfig } from '@lctr/backend-tfjs';
import { ConfigError, type FieldRule, checkSection, describeRule, fits, showValue, unknownKeys } from '@lctr/spec';
import { LR_SCHEDULE_DEFAULTS, type LrSchedule } from './schedule.ts';

export { ConfigError, type FieldRule, checkSection, parseJsonText, showValue, unknownKeys } from '@lctr/spec';
type Rule = FieldRule;

export interface TrainConfig {
  readonly optimizer: AdamConfig;
  /** samples per training step (the last batch of an epoch may be smaller) */
  readonly batchSize: number;
  /** exactly one of `epochs` and `steps` is set */
  readonly epochs?: number;
  readonly steps?: number;
  /** evaluate every N steps (0: only at the end) or at every epoch's end; always at the end when an eval source is given */
  readonly evalEvery: number | 'epoch';
  /** samples per forward batch during evaluation (default 1024) */
  readonly evalBatchSize: number;
  /** a `train` line in metrics.jsonl every N steps (default 50) */
  readonly logEvery: number;
  /** seeds the initial weights and the per-epoch sample order; an integer in [0, 2^32) */
  readonly seed: number;
  /** checkpoint every N steps (0: only at the end); always at the end */
  readonly checkpointEvery: number;
  /** checkpoints kept on disk (the newest; default 3) */
  readonly keep: number;
  /** model hyper-parameters, checked by the model registry (default {}) */
  readonly model: Readonly<Record<string, unknown>>;
  /** data options, checked by the model registry (default {}) */
  readonly data: Readonly<Record<string, unknown>>;
  /**
   * data-parallel shards per step over worker threads (parallel.ts; absent = 1, one thread). The
   * same trajectory as one thread up to float32 summation order for mean-over-samples losses.
   */
  readonly shards?: number;
  /** a validation split carved from the training samples by time; it chooses the best step and stops early (absent: none) */
  readonly validation?: ValidationConfig;
  /** a learning-rate schedule over optimizer.lr (absent: the constant lr) */
  readonly lrSchedule?: LrSchedule;
  /** train lines also carry clickLoss (mean BCE of `prob`) and auxLoss = loss - clickLoss (one more forward pass per step) */
  readonly logClickLoss?: true;
  /** a `summary` line at start: parameters per top-level scope, FLOPs per sample */
  readonly summary?: true;
}

/** Metrics a validation set can rank steps by; logloss is minimised, the others maximised. */
export const VALIDATION_METRICS = ['auc', 'gauc', 'logloss'] as const;
export type ValidationMetric = (typeof VALIDATION_METRICS)[number];

export interface ValidationConfig {
  /** the latest share of the training samples by time, held out of training, in (0, 1) */
  readonly fraction: number;
  /** what chooses the best step (default 'auc') */
  readonly metric: ValidationMetric;
  /** stop after this many validation evaluations in a row without a better value (absent: never stop early) */
  readonly patience?: number;
}

const U32_MAX = 4294967295;

export const TOP_RULES: Record<string, Rule> = {
  optimizer: { kind: 'object' },
  batchSize: { kind: 'int', min: 1 },
  epochs: { kind: 'int', min: 1 },
  steps: { kind: 'int', min: 1 },
  evalEvery: { kind: 'int', min: 0 },
  evalBatchSize: { kind: 'int', min: 1 },
  logEvery: { kind: 'int', min: 1 },
  seed: { kind: 'int', min: 0, max: U32_MAX },
  checkpointEvery: { kind: 'int', min: 0 },
  keep: { kind: 'int', min: 1 },
  model: { kind: 'object' },
  data: { kind: 'object' },
  shards: { kind: 'int', min: 1, max: 64 },
  validation: { kind: 'object' },
  lrSchedule: { kind: 'object' },
  logClickLoss: { kind: 'bool' },
  summary: { kind: 'bool' },
};
export const VALIDATION_RULES: Record<keyof ValidationConfig, Rule> = {
  fraction: { kind: 'number', gt: 0, lt: 1 },
  metric: { kind: 'string', oneOf: VALIDATION_METRICS },
  patience: { kind: 'int', min: 1 },
};
export const SCHEDULE_RULES: Record<keyof LrSchedule, Rule> = {
  warmupSteps: { kind: 'int', min: 0 },
  decay: { kind: 'string', oneOf: ['none', 'cosine', 'step'] },
  minLr: { kind: 'number', min: 0 },
  stepEvery: { kind: 'int', min: 1 },
  gamma: { kind: 'number', gt: 0, lt: 1 },
};
/** the top-level "$schema" (ignored; not in TOP_RULES, so it is not listed among the keys a config sets) */
export const SCHEMA_RULE: Rule = { kind: 'text' };
export const REQUIRED_TOP = ['optimizer', 'batchSize', 'seed'];

export const ADAM_RULES: Record<string, Rule> = {
  lr: { kind: 'number', gt: 0 },
  beta1: { kind: 'number', min: 0, lt: 1 },
  beta2: { kind: 'number', min: 0, lt: 1 },
  epsilon: { kind: 'number', gt: 0 },
};

export const CONFIG_DEFAULTS = {
  evalEvery: 0,
  evalBatchSize: 1024,
  logEvery: 50,
  checkpointEvery: 0,
  keep: 3,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
} as const;

/**
 * Check a parsed config and fill in defaults. All problems are collected; a ConfigError lists
 * them one per line, e.g. `train.json: config.optimizer.lr: expected a number > 0, got -1`.
 */
export function parseTrainConfig(json: unknown, source = 'config'): TrainConfig {
  const problems: string[] = [];
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ConfigError([`${source}: config: expected an object, got ${showValue(json)}`]);
  // "$schema" names the config's JSON Schema for editors (packages/train/schemas): left out here, so it changes neither the config nor any
  // hash of it
  const { $schema, ...o } = json as Record<string, unknown>;
  if ($schema !== undefined && !fits(SCHEMA_RULE, $schema))
    problems.push(
      `${source}: config.$schema: expected ${describeRule(SCHEMA_RULE)} (the path or URL of the config's JSON Schema), got ` +
        `${showValue($schema)}`,
    );
  problems.push(...unknownKeys(o, Object.keys(TOP_RULES), 'config', source));
  for (const [k, rule] of Object.entries(TOP_RULES)) {
    if (!(k in o)) {
      if (REQUIRED_TOP.includes(k)) problems.push(`${source}: config.${k}: missing (expected ${describeRule(rule)})`);
      continue;
    }
    if (k === 'evalEvery' && o[k] === 'epoch') continue;
    if (!fits(rule, o[k]))
      problems.push(
        `${source}: config.${k}: expected ${describeRule(rule)}${k === 'evalEvery' ? ' or "epoch"' : ''}, got ${showValue(o[k])}`,
      );
  }
  if ('epochs' in o === 'steps' in o) {
    problems.push(`${source}: config: give exactly one of 'epochs' and 'steps', got ${'epochs' in o ? 'both' : 'neither'}`);
  }
  let optimizer: AdamConfig | undefined;
  if (fits(TOP_RULES.optimizer!, o.optimizer)) {
    const opt = o.optimizer as Record<string, unknown>;
    problems.push(...unknownKeys(opt, ['name', ...Object.keys(ADAM_RULES)], 'config.optimizer', source));
    if (!('name' in opt)) problems.push(`${source}: config.optimizer.name: missing (expected "adam")`);
    else if (opt.name !== 'adam')
      problems.push(`${source}: config.optimizer.name: expected "adam" (the only optimizer), got ${showValue(opt.name)}`);
    if (!('lr' in opt)) problems.push(`${source}: config.optimizer.lr: missing (expected ${describeRule(ADAM_RULES.lr!)})`);
    for (const [k, rule] of Object.entries(ADAM_RULES)) {
      if (k in opt && !fits(rule, opt[k]))
        problems.push(`${source}: config.optimizer.${k}: expected ${describeRule(rule)}, got ${showValue(opt[k])}`);
    }
    optimizer = {
      name: 'adam',
      lr: opt.lr as number,
      beta1: (opt.beta1 as number | undefined) ?? CONFIG_DEFAULTS.beta1,
      beta2: (opt.beta2 as number | undefined) ?? CONFIG_DEFAULTS.beta2,
      epsilon: (opt.epsilon as number | undefined) ?? CONFIG_DEFAULTS.epsilon,
    };
  }
  const validation = fits(TOP_RULES.validation!, o.validation)
    ? validationSection(o.validation as Record<string, unknown>, source, problems)
    : undefined;
  const lrSchedule = fits(TOP_RULES.lrSchedule!, o.lrSchedule)
    ? scheduleSection(o.lrSchedule as Record<string, unknown>, optimizer, source, problems)
    : undefined;
  if (problems.length) throw new ConfigError(problems);
  const num = (k: keyof typeof CONFIG_DEFAULTS & string): number => (o[k] as number | undefined) ?? CONFIG_DEFAULTS[k];
  const cfg: TrainConfig = {
    optimizer: optimizer!,
    batchSize: o.batchSize as number,
    ...('epochs' in o ? { epochs: o.epochs as number } : { steps: o.steps as number }),
    evalEvery: o.evalEvery === 'epoch' ? 'epoch' : num('evalEvery'),
    evalBatchSize: num('evalBatchSize'),
    logEvery: num('logEvery'),
    seed: o.seed as number,
    checkpointEvery: num('checkpointEvery'),
    keep: num('keep'),
    model: (o.model as Record<string, unknown> | undefined) ?? {},
    data: (o.data as Record<string, unknown> | undefined) ?? {},
    // left out at 1 so configs that never name it keep their hashes (experiment runs are reused by them)
    ...(typeof o.shards === 'number' && o.shards > 1 ? { shards: o.shards } : {}),
    // the keys below are left out when absent (or false) for the same reason
    ...(validation ? { validation } : {}),
    ...(lrSchedule ? { lrSchedule } : {}),
    ...(o.logClickLoss === true ? { logClickLoss: true as const } : {}),
    ...(o.summary === true ? { summary: true as const } : {}),
  };
  return cfg;
}

/** config.validation: the rules, `fraction` required; problems are added to `problems`. */
function validationSection(v: Record<string, unknown>, source: string, problems: string[]): ValidationConfig | undefined {
  const n = problems.length;
  try {
    checkSection(v, VALIDATION_RULES, {}, 'config.validation', source);
  } catch (e) {
    problems.push(...(e as ConfigError).problems);
  }
  if (!('fraction' in v))
    problems.push(`${source}: config.validation.fraction: missing (expected ${describeRule(VALIDATION_RULES.fraction)})`);
  if (problems.length > n) return undefined;
  return {
    fraction: v.fraction as number,
    metric: (v.metric as ValidationMetric | undefined) ?? 'auc',
    ...(v.patience !== undefined ? { patience: v.patience as number } : {}),
  };
}

/** config.lrSchedule: the rules, plus the keys each decay needs and takes. */
function scheduleSection(
  v: Record<string, unknown>,
  optimizer: AdamConfig | undefined,
  source: string,
  problems: string[],
): LrSchedule | undefined {
  const n = problems.length;
  try {
    checkSection(v, SCHEDULE_RULES, {}, 'config.lrSchedule', source);
  } catch (e) {
    problems.push(...(e as ConfigError).problems);
  }
  if (problems.length > n) return undefined;
  const s = { ...LR_SCHEDULE_DEFAULTS, ...v } as LrSchedule;
  const only = (key: 'minLr' | 'stepEvery' | 'gamma', decay: LrSchedule['decay']) => {
    if (key in v && s.decay !== decay)
      problems.push(
        `${source}: config.lrSchedule.${key}: only used with decay ${JSON.stringify(decay)}, got decay ${JSON.stringify(s.decay)}`,
      );
  };
  only('minLr', 'cosine');
  only('stepEvery', 'step');
  only('gamma', 'step');
  if (s.decay === 'step' && !('stepEvery' in v))
    problems.push(`${source}: config.lrSchedule.stepEvery: missing (expected ${describeRule(SCHEDULE_RULES.stepEvery)} with decay "step")`);
  if (s.decay === 'cosine' && optimizer && fits(ADAM_RULES.lr!, optimizer.lr) && !(s.minLr < optimizer.lr)) {
    problems.push(`${source}: config.lrSchedule.minLr: expected a number below config.optimizer.lr (${optimizer.lr}), got ${s.minLr}`);
  }
  if (s.decay === 'none' && s.warmupSteps === 0)
    problems.push(
      `${source}: config.lrSchedule: a schedule without warm-up or decay is the constant rate; give warmupSteps > 0 or decay "cosine" or ` +
        `"step", got ${showValue(v)}`,
    );
  return problems.length > n ? undefined : s;
}

/** Total optimizer steps of a run: `steps`, or `epochs` x ceil(size / batchSize). */
export function totalSteps(cfg: TrainConfig, size: number): number {
  return cfg.steps ?? cfg.epochs! * Math.ceil(size / cfg.batchSize);
}
