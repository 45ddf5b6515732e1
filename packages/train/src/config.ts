/**
 * The training config (JSON): optimizer, batch size, length, eval/checkpoint/log cadence, seed,
 * plus two free-form sections (`model`, `data`) that the model registry checks. Every problem is
 * reported with its path (`config.optimizer.lr`), what was expected and what was found; unknown
 * keys are errors (a misspelt key must not silently fall back to a default).
 */
import type { AdamConfig } from '@lctr/backend-tfjs';

export class ConfigError extends Error {
  /** one line per problem, each starting with the source and the key path */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

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

/** What a field accepts, as the error messages phrase it. */
export type FieldRule =
  | { readonly kind: 'int'; readonly min: number; readonly max?: number }
  | { readonly kind: 'number'; readonly gt?: number; readonly min?: number; readonly lt?: number }
  | { readonly kind: 'object' }
  /** a non-empty array of integers >= min */
  | { readonly kind: 'ints'; readonly min: number }
  /** one of the listed strings */
  | { readonly kind: 'string'; readonly oneOf: readonly string[] }
  /** a non-empty array of distinct listed strings */
  | { readonly kind: 'strings'; readonly oneOf: readonly string[] }
  /** any string (a path, a name) */
  | { readonly kind: 'text' }
  | { readonly kind: 'bool' };
type Rule = FieldRule;

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

/** A value as error messages show it: JSON, cut to 60 characters, with its JSON type when that is the problem. */
export function showValue(v: unknown): string {
  const kind = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? 'a string' : typeof v === 'boolean' ? 'a boolean' : typeof v;
  const text = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return kind === 'number' || kind === 'undefined' || kind === 'null' ? cut : `${cut} (${kind})`;
}

function describeRule(r: Rule): string {
  if (r.kind === 'object') return 'an object';
  if (r.kind === 'string') return `one of ${r.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
  if (r.kind === 'strings') return `a non-empty array of distinct values from ${r.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
  if (r.kind === 'text') return 'a string';
  if (r.kind === 'bool') return 'true or false';
  if (r.kind === 'ints') return `a non-empty array of integers >= ${r.min}`;
  if (r.kind === 'int') return r.max !== undefined ? `an integer in [${r.min}, ${r.max}]` : `an integer >= ${r.min}`;
  const parts: string[] = [];
  if (r.gt !== undefined) parts.push(`> ${r.gt}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.lt !== undefined) parts.push(`< ${r.lt}`);
  return `a number ${parts.join(' and ')}`.trimEnd();
}

function fits(r: Rule, v: unknown): boolean {
  if (r.kind === 'object') return v !== null && typeof v === 'object' && !Array.isArray(v);
  if (r.kind === 'string') return typeof v === 'string' && r.oneOf.includes(v);
  if (r.kind === 'strings') return Array.isArray(v) && v.length > 0 && new Set(v).size === v.length && v.every((x) => typeof x === 'string' && r.oneOf.includes(x));
  if (r.kind === 'text') return typeof v === 'string' && v.length > 0;
  if (r.kind === 'bool') return typeof v === 'boolean';
  if (r.kind === 'ints') return Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && (x as number) >= r.min);
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (r.kind === 'int') return Number.isInteger(v) && v >= r.min && (r.max === undefined || v <= r.max);
  return (r.gt === undefined || v > r.gt) && (r.min === undefined || v >= r.min) && (r.lt === undefined || v < r.lt);
}

/** Keys of `obj` that `known` lacks, as problems ("unknown key, expected one of ..."). */
export function unknownKeys(obj: Readonly<Record<string, unknown>>, known: readonly string[], path: string, source: string): string[] {
  return Object.keys(obj).filter((k) => !known.includes(k)).map((k) => `${source}: ${path}.${k}: unknown key (expected one of ${known.join(', ')})`);
}

/** JSON text to a value; a syntax error names the file, line and column. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos).split('\n');
      where = `:${before.length}:${before[before.length - 1]!.length + 1}`;
    }
    throw new ConfigError([`${source}${where}: not valid JSON (${msg})`]);
  }
}

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

/**
 * Check a free-form config section (`config.model`, `config.data`) against field rules and fill
 * in defaults: unknown keys and bad values are ConfigErrors naming `path.key`.
 */
export function checkSection<T extends Record<string, unknown>>(
  obj: Readonly<Record<string, unknown>>, rules: { readonly [K in keyof T]: FieldRule }, defaults: T, path: string, source = 'config',
): T {
  const problems = unknownKeys(obj, Object.keys(rules), path, source);
  for (const [k, rule] of Object.entries(rules) as Array<[string, FieldRule]>) {
    if (k in obj && !fits(rule, obj[k])) problems.push(`${source}: ${path}.${k}: expected ${describeRule(rule)}, got ${showValue(obj[k])}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { ...defaults, ...obj } as T;
}
