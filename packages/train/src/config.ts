/**
 * The training config (JSON): optimizer, batch size, length, eval/checkpoint/log cadence, seed,
 * plus two free-form sections (`model`, `data`) that the model registry checks. Every problem is
 * reported with its path (`config.optimizer.lr`), what was expected and what was found; unknown
 * keys are errors (a misspelt key must not silently fall back to a default).
 */
import type { AdamConfig } from '@lctr/backend-tfjs';
import { ConfigError, type FieldRule, describeRule, fits, showValue, unknownKeys } from '@lctr/spec';

export { ConfigError, type FieldRule, checkSection, parseJsonText, showValue, unknownKeys } from '@lctr/spec';
type Rule = FieldRule;

export interface TrainConfig {
  readonly optimizer: AdamConfig;
  /** samples per training step (the last batch of an epoch may be smaller) */
  readonly batchSize: number;
  /** exactly one of `epochs` and `steps` is set */
  readonly epochs?: number;
  readonly steps?: number;
  /** evaluate every N steps (0: only at the end); always at the end when an eval source is given */
  readonly evalEvery: number;
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
}

const U32_MAX = 4294967295;

const TOP_RULES: Record<string, Rule> = {
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
};
const REQUIRED_TOP = ['optimizer', 'batchSize', 'seed'];

const ADAM_RULES: Record<string, Rule> = {
  lr: { kind: 'number', gt: 0 },
  beta1: { kind: 'number', min: 0, lt: 1 },
  beta2: { kind: 'number', min: 0, lt: 1 },
  epsilon: { kind: 'number', gt: 0 },
};

export const CONFIG_DEFAULTS = {
  evalEvery: 0, evalBatchSize: 1024, logEvery: 50, checkpointEvery: 0, keep: 3,
  beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
} as const;

/**
 * Check a parsed config and fill in defaults. All problems are collected; a ConfigError lists
 * them one per line, e.g. `train.json: config.optimizer.lr: expected a number > 0, got -1`.
 */
export function parseTrainConfig(json: unknown, source = 'config'): TrainConfig {
  const problems: string[] = [];
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ConfigError([`${source}: config: expected an object, got ${showValue(json)}`]);
  const o = json as Record<string, unknown>;
  problems.push(...unknownKeys(o, Object.keys(TOP_RULES), 'config', source));
  for (const [k, rule] of Object.entries(TOP_RULES)) {
    if (!(k in o)) {
      if (REQUIRED_TOP.includes(k)) problems.push(`${source}: config.${k}: missing (expected ${describeRule(rule)})`);
      continue;
    }
    if (!fits(rule, o[k])) problems.push(`${source}: config.${k}: expected ${describeRule(rule)}, got ${showValue(o[k])}`);
  }
  if (('epochs' in o) === ('steps' in o)) {
    problems.push(`${source}: config: give exactly one of 'epochs' and 'steps', got ${'epochs' in o ? 'both' : 'neither'}`);
  }
  let optimizer: AdamConfig | undefined;
  if (fits(TOP_RULES.optimizer!, o.optimizer)) {
    const opt = o.optimizer as Record<string, unknown>;
    problems.push(...unknownKeys(opt, ['name', ...Object.keys(ADAM_RULES)], 'config.optimizer', source));
    if (!('name' in opt)) problems.push(`${source}: config.optimizer.name: missing (expected "adam")`);
    else if (opt.name !== 'adam') problems.push(`${source}: config.optimizer.name: expected "adam" (the only optimizer), got ${showValue(opt.name)}`);
    if (!('lr' in opt)) problems.push(`${source}: config.optimizer.lr: missing (expected ${describeRule(ADAM_RULES.lr!)})`);
    for (const [k, rule] of Object.entries(ADAM_RULES)) {
      if (k in opt && !fits(rule, opt[k])) problems.push(`${source}: config.optimizer.${k}: expected ${describeRule(rule)}, got ${showValue(opt[k])}`);
    }
    optimizer = {
      name: 'adam',
      lr: opt.lr as number,
      beta1: (opt.beta1 as number | undefined) ?? CONFIG_DEFAULTS.beta1,
      beta2: (opt.beta2 as number | undefined) ?? CONFIG_DEFAULTS.beta2,
      epsilon: (opt.epsilon as number | undefined) ?? CONFIG_DEFAULTS.epsilon,
    };
  }
  if (problems.length) throw new ConfigError(problems);
  const num = (k: keyof typeof CONFIG_DEFAULTS & string): number => (o[k] as number | undefined) ?? CONFIG_DEFAULTS[k];
  const cfg: TrainConfig = {
    optimizer: optimizer!,
    batchSize: o.batchSize as number,
    ...('epochs' in o ? { epochs: o.epochs as number } : { steps: o.steps as number }),
    evalEvery: num('evalEvery'),
    evalBatchSize: num('evalBatchSize'),
    logEvery: num('logEvery'),
    seed: o.seed as number,
    checkpointEvery: num('checkpointEvery'),
    keep: num('keep'),
    model: (o.model as Record<string, unknown> | undefined) ?? {},
    data: (o.data as Record<string, unknown> | undefined) ?? {},
    // left out at 1 so configs that never name it keep their hashes (experiment runs are reused by them)
    ...(typeof o.shards === 'number' && o.shards > 1 ? { shards: o.shards } : {}),
  };
  return cfg;
}

/** Total optimizer steps of a run: `steps`, or `epochs` x ceil(size / batchSize). */
export function totalSteps(cfg: TrainConfig, size: number): number {
  return cfg.steps ?? cfg.epochs! * Math.ceil(size / cfg.batchSize);
}

