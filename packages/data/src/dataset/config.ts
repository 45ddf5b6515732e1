/**
 * The dataset config: an event log described in its own terms (files, column names, how the label,
 * the domains, the profile and the context are read, how the test set is cut), checked with the
 * project's one config mechanism (FieldRule tables of @lctr/spec), so the error messages and the
 * published JSON Schema (`packages/data/dataset.schema.json`) come from the same tables.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type FieldRule, checkSection, describeRule, parseJsonText, rulesToJsonSchema, showValue } from '@lctr/spec';

export type FileFormat = 'csv' | 'tsv' | 'atomic' | 'parquet';

/** Where rows come from: files (paths relative to the config file; `*` and `?` allowed in the file name) and how to parse them. */
export interface FilesConfig {
  readonly files: readonly string[];
  /** default from the extension: .parquet, .tsv/.tab (tsv), .inter/.item/.user (RecBole atomic), else csv */
  readonly format?: FileFormat;
  /** column names of files without a header line (their first line is data) */
  readonly header?: readonly string[];
}

/** Exactly one of: `column` alone (0/1), `column` + `atLeast` (rating >= 4), `column` + `oneOf` (behaviour in [buy]), `constant`. */
export interface LabelConfig {
  readonly column?: string;
  readonly atLeast?: number;
  readonly oneOf?: readonly string[];
  readonly constant?: number;
}

export interface EventsConfig extends FilesConfig {
  readonly user: string;
  readonly item: string;
  readonly timestamp: string;
  /** 'number' (stored as is: seconds, or milliseconds if the file holds them) or 'iso' (ISO 8601 -> epoch seconds); default 'number' */
  readonly timestampFormat: 'number' | 'iso';
  /** category column of the events (or `items.category`; neither: category 0) */
  readonly category?: string;
  readonly label: LabelConfig;
}

/** An item side file: one row per item (category, domain, item attributes for context features). */
export interface ItemsConfig extends FilesConfig {
  readonly id: string;
  readonly category?: string;
  /** the category and `domain.itemColumn` cells are lists split on this separator (category: the first element) */
  readonly listSeparator?: string;
}

/**
 * Which events are target-domain events, exactly one form: `column` + `target` (the cell is one of
 * the values), `column` + `targetBelow` (the cell's number is below), `itemColumn` + `target` (the
 * items file's cell, or any element of its list, is one of the values), `categories` (the raw
 * category is one of them).
 */
export interface DomainConfig {
  readonly column?: string;
  readonly itemColumn?: string;
  readonly target?: readonly string[];
  readonly targetBelow?: number;
  readonly categories?: readonly string[];
}

/**
 * A context (per event) or profile (per user) feature, exactly one source: `column` (of the events
 * or profile file), `itemColumn` (context only: the event's item's cell in the items file) or
 * `yearsSince` (context only: the UTC year of the event minus the items file's year cell).
 * `buckets`: numbers, id 1 + boundaries <= value; else categorical by first appearance
 * (`values` seeds it, `closed` refuses others). `missing`: raw cells that mean "unknown" (id 0).
 */
export interface FeatureConfig {
  readonly column?: string;
  readonly itemColumn?: string;
  readonly yearsSince?: string;
  readonly buckets?: readonly number[];
  readonly values?: readonly string[];
  readonly closed?: boolean;
  readonly missing?: readonly string[];
}

export interface ProfileConfig extends FilesConfig {
  readonly user: string;
  /**
   * 'add': read before the events, users numbered in this file's order; 'skip' (default): read after, rows of users without events are
   * dropped
   */
  readonly users: 'add' | 'skip';
  readonly features: Readonly<Record<string, FeatureConfig>>;
}

export interface SequencesConfig {
  readonly target: number;
  readonly source: number;
  readonly lifelong: number;
}

/** Exactly one: the latest `testFraction` of target events (by timestamp), or every target event at or after `testFrom`. */
export interface SplitConfig {
  readonly testFraction?: number;
  readonly testFrom?: number;
}

/**
 * Minimum counts (each optional, an integer >= 1): users with fewer than `userEvents` events are
 * dropped with their events; then items (per domain) seen fewer than `items` times and categories
 * seen fewer than `categories` times share the out-of-vocabulary row 0 of their table.
 */
export interface MinCountsConfig {
  readonly userEvents?: number;
  readonly items?: number;
  readonly categories?: number;
}

/**
 * Negative sampling for implicit-only logs: for each target-domain event with label 1, `perPositive`
 * distinct target items drawn (`draw`: by their count of target events, or uniformly) with a seeded
 * generator, each a label-0 event of the same user at the same timestamp, never an item the user
 * had a target event with at or before that time.
 */
export interface NegativesConfig {
  readonly perPositive: number;
  readonly draw: 'popularity' | 'uniform';
  readonly seed: number;
}

/** Timestamps (in the log's units, after `timestampFormat`) must lie in [from, to); a row outside is a bad row. */
export interface TimeRangeConfig {
  readonly from?: number;
  readonly to?: number;
}

export interface DatasetConfig {
  readonly name: string;
  readonly events: EventsConfig;
  readonly items?: ItemsConfig;
  readonly domain: DomainConfig;
  readonly profile?: ProfileConfig;
  readonly context: Readonly<Record<string, FeatureConfig>>;
  readonly sequences: SequencesConfig;
  readonly split: SplitConfig;
  /**
   * rows with a bad cell skipped and counted (inspect reports them) instead of failing; default 0 (the first bad row fails with file:line)
   */
  readonly maxBadRows: number;
  readonly timeRange?: TimeRangeConfig;
  readonly minCounts?: MinCountsConfig;
  readonly negatives?: NegativesConfig;
}

const FORMATS = ['csv', 'tsv', 'atomic', 'parquet'] as const;
const FILES_RULES = { files: { kind: 'texts' }, format: { kind: 'string', oneOf: FORMATS }, header: { kind: 'texts' } } as const;

export const DATASET_RULES = {
  top: {
    $schema: { kind: 'text' },
    name: { kind: 'text' },
    events: { kind: 'object' },
    items: { kind: 'object' },
    domain: { kind: 'object' },
    profile: { kind: 'object' },
    context: { kind: 'object' },
    sequences: { kind: 'object' },
    split: { kind: 'object' },
    maxBadRows: { kind: 'int', min: 0 },
    timeRange: { kind: 'object' },
    minCounts: { kind: 'object' },
    negatives: { kind: 'object' },
  },
  events: {
    ...FILES_RULES,
    user: { kind: 'text' },
    item: { kind: 'text' },
    timestamp: { kind: 'text' },
    timestampFormat: { kind: 'string', oneOf: ['number', 'iso'] },
    category: { kind: 'text' },
    label: { kind: 'object' },
  },
  label: { column: { kind: 'text' }, atLeast: { kind: 'number' }, oneOf: { kind: 'texts' }, constant: { kind: 'int', min: 0, max: 1 } },
  items: { ...FILES_RULES, id: { kind: 'text' }, category: { kind: 'text' }, listSeparator: { kind: 'text' } },
  domain: {
    column: { kind: 'text' },
    itemColumn: { kind: 'text' },
    target: { kind: 'texts' },
    targetBelow: { kind: 'number' },
    categories: { kind: 'texts' },
  },
  feature: {
    column: { kind: 'text' },
    itemColumn: { kind: 'text' },
    yearsSince: { kind: 'text' },
    buckets: { kind: 'ascending' },
    values: { kind: 'texts' },
    closed: { kind: 'bool' },
    missing: { kind: 'texts' },
  },
  profile: { ...FILES_RULES, user: { kind: 'text' }, users: { kind: 'string', oneOf: ['add', 'skip'] }, features: { kind: 'object' } },
  sequences: { target: { kind: 'int', min: 1 }, source: { kind: 'int', min: 0 }, lifelong: { kind: 'int', min: 0 } },
  split: { testFraction: { kind: 'number', gt: 0, lt: 1 }, testFrom: { kind: 'number' } },
  timeRange: { from: { kind: 'number' }, to: { kind: 'number' } },
  minCounts: { userEvents: { kind: 'int', min: 1 }, items: { kind: 'int', min: 1 }, categories: { kind: 'int', min: 1 } },
  negatives: {
    perPositive: { kind: 'int', min: 1 },
    draw: { kind: 'string', oneOf: ['popularity', 'uniform'] },
    seed: { kind: 'int', min: 0 },
  },
} as const satisfies Record<string, Record<string, FieldRule>>;

type Rules = Readonly<Record<string, FieldRule>>;
type Obj = Readonly<Record<string, unknown>>;

/** checkSection plus required keys (`path.key: missing (expected ...)`), in the message format of every config. */
function section<T>(
  obj: Obj,
  rules: Rules,
  required: readonly string[],
  path: string,
  source: string,
  defaults: Record<string, unknown> = {},
): T {
  const missing = required.filter((k) => !(k in obj)).map((k) => `${source}: ${path}.${k}: missing (expected ${describeRule(rules[k]!)})`);
  let checked: Record<string, unknown> = {};
  try {
    checked = checkSection<Record<string, unknown>>(obj, rules, defaults, path, source);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError([...e.problems, ...missing]);
    throw e;
  }
  if (missing.length) throw new ConfigError(missing);
  return checked as T;
}

/** exactly one of `keys` is present (`path: give exactly one of ..., got ...`) */
function exactlyOne(obj: Obj, keys: readonly string[], path: string, source: string): string {
  const given = keys.filter((k) => k in obj);
  if (given.length !== 1) {
    throw new ConfigError([
      `${source}: ${path}: give exactly one of ${keys.map((k) => `'${k}'`).join(', ')}, got ` +
        `${given.length ? given.map((k) => `'${k}'`).join(', ') : 'none'}`,
    ]);
  }
  return given[0]!;
}

function forbid(obj: Obj, key: string, path: string, source: string, why: string): void {
  if (key in obj) throw new ConfigError([`${source}: ${path}.${key}: not allowed ${why}, got ${showValue(obj[key])}`]);
}

function features(obj: Obj, path: string, source: string, kind: 'context' | 'profile', hasItems: boolean): Record<string, FeatureConfig> {
  const out: Record<string, FeatureConfig> = {};
  for (const [name, f] of Object.entries(obj)) {
    const p = `${path}.${name}`;
    if (f === null || typeof f !== 'object' || Array.isArray(f))
      throw new ConfigError([`${source}: ${p}: expected an object, got ${showValue(f)}`]);
    const fc = section<FeatureConfig>(f as Obj, DATASET_RULES.feature, [], p, source);
    const from = exactlyOne(fc as Obj, kind === 'context' ? ['column', 'itemColumn', 'yearsSince'] : ['column'], p, source);
    if (from !== 'column' && !hasItems)
      throw new ConfigError([`${source}: ${p}.${from}: reads the items file, but the config has no 'items' section`]);
    if (fc.buckets) {
      forbid(fc as Obj, 'values', p, source, "with 'buckets' (a bucketed feature is numeric)");
      forbid(fc as Obj, 'closed', p, source, "with 'buckets' (a bucketed feature is numeric)");
    }
    if (from === 'yearsSince' && !fc.buckets)
      throw new ConfigError([
        `${source}: ${p}.buckets: missing (expected ${describeRule(DATASET_RULES.feature.buckets)}; 'yearsSince' is numeric)`,
      ]);
    out[name] = fc;
  }
  return out;
}

/**
 * Check a parsed dataset config and fill in defaults; every problem is a ConfigError naming the key path, the expected and the actual
 * value.
 */
export function parseDatasetConfig(json: unknown, source = 'dataset'): DatasetConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ConfigError([`${source}: config: expected an object, got ${showValue(json)}`]);
  const R = DATASET_RULES;
  const top = section<Record<string, unknown>>(json as Obj, R.top, ['name', 'events', 'domain', 'split'], 'config', source);
  const events = section<EventsConfig>(
    top.events as Obj,
    R.events,
    ['files', 'user', 'item', 'timestamp', 'label'],
    'config.events',
    source,
    { timestampFormat: 'number' },
  );
  const label = section<LabelConfig>(events.label as unknown as Obj, R.label, [], 'config.events.label', source);
  const form = exactlyOne(label as Obj, ['column', 'constant'], 'config.events.label', source);
  if (form === 'constant') {
    forbid(label as Obj, 'atLeast', 'config.events.label', source, "with 'constant'");
    forbid(label as Obj, 'oneOf', 'config.events.label', source, "with 'constant'");
  }
  if ('atLeast' in label && 'oneOf' in label) forbid(label as Obj, 'oneOf', 'config.events.label', source, "with 'atLeast'");
  const items =
    top.items === undefined ? undefined : section<ItemsConfig>(top.items as Obj, R.items, ['files', 'id'], 'config.items', source);
  const domain = section<DomainConfig>(top.domain as Obj, R.domain, [], 'config.domain', source);
  const by = exactlyOne(domain as Obj, ['column', 'itemColumn', 'categories'], 'config.domain', source);
  if (by === 'column') exactlyOne(domain as Obj, ['target', 'targetBelow'], 'config.domain', source);
  if (by === 'itemColumn') {
    if (!items) throw new ConfigError([`${source}: config.domain.itemColumn: reads the items file, but the config has no 'items' section`]);
    if (!domain.target) throw new ConfigError([`${source}: config.domain.target: missing (expected ${describeRule(R.domain.target)})`]);
    forbid(domain as Obj, 'targetBelow', 'config.domain', source, "with 'itemColumn'");
  }
  if (by === 'categories') {
    forbid(domain as Obj, 'target', 'config.domain', source, "with 'categories'");
    forbid(domain as Obj, 'targetBelow', 'config.domain', source, "with 'categories'");
  }
  let profile: ProfileConfig | undefined;
  if (top.profile !== undefined) {
    profile = section<ProfileConfig>(top.profile as Obj, R.profile, ['files', 'user', 'features'], 'config.profile', source, {
      users: 'skip',
    });
    profile = { ...profile, features: features(profile.features, 'config.profile.features', source, 'profile', false) };
  }
  const context = features((top.context ?? {}) as Obj, 'config.context', source, 'context', items !== undefined);
  const sequences = section<SequencesConfig>((top.sequences ?? {}) as Obj, R.sequences, [], 'config.sequences', source, {
    target: 50,
    source: 50,
    lifelong: 2000,
  });
  const split = section<SplitConfig>(top.split as Obj, R.split, [], 'config.split', source);
  exactlyOne(split as Obj, ['testFraction', 'testFrom'], 'config.split', source);
  let timeRange: TimeRangeConfig | undefined;
  if (top.timeRange !== undefined) {
    timeRange = section<TimeRangeConfig>(top.timeRange as Obj, R.timeRange, [], 'config.timeRange', source);
    if (timeRange.from === undefined && timeRange.to === undefined)
      throw new ConfigError([`${source}: config.timeRange: give 'from', 'to' or both, got none`]);
    if (timeRange.from !== undefined && timeRange.to !== undefined && !(timeRange.from < timeRange.to)) {
      throw new ConfigError([`${source}: config.timeRange.to: expected a number > from (${timeRange.from}), got ${timeRange.to}`]);
    }
  }
  let minCounts: MinCountsConfig | undefined;
  if (top.minCounts !== undefined) {
    minCounts = section<MinCountsConfig>(top.minCounts as Obj, R.minCounts, [], 'config.minCounts', source);
    if (Object.keys(minCounts).length === 0)
      throw new ConfigError([`${source}: config.minCounts: give at least one of 'userEvents', 'items', 'categories', got none`]);
  }
  const negatives =
    top.negatives === undefined
      ? undefined
      : section<NegativesConfig>(top.negatives as Obj, R.negatives, ['perPositive', 'seed'], 'config.negatives', source, {
          draw: 'popularity',
        });
  return {
    name: top.name as string,
    events: { ...events, label },
    ...(items ? { items } : {}),
    domain,
    ...(profile ? { profile } : {}),
    context,
    sequences,
    split,
    maxBadRows: (top.maxBadRows as number | undefined) ?? 0,
    ...(timeRange ? { timeRange } : {}),
    ...(minCounts ? { minCounts } : {}),
    ...(negatives ? { negatives } : {}),
  };
}

/** A dataset config file: the checked config, its directory (relative file names start there) and its text (part of the compile key). */
export interface LoadedDatasetConfig {
  readonly config: DatasetConfig;
  readonly path: string;
  readonly dir: string;
}

export function readDatasetConfig(path: string): LoadedDatasetConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`${path}: cannot read the dataset config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return { config: parseDatasetConfig(parseJsonText(text, path), path), path, dir: dirname(resolve(path)) };
}

/**
 * The JSON Schema of dataset configs (draft 2020-12), from the same rule tables as the checks; editors complete and check configs with it.
 */
export function datasetJsonSchema(): Record<string, unknown> {
  const R = DATASET_RULES;
  const feature = rulesToJsonSchema(R.feature);
  const featureMap = { type: 'object', additionalProperties: feature };
  const events = rulesToJsonSchema(R.events, {
    required: ['files', 'user', 'item', 'timestamp', 'label'],
    nested: { label: rulesToJsonSchema(R.label) },
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'lctr dataset config',
    ...rulesToJsonSchema(R.top, {
      required: ['name', 'events', 'domain', 'split'],
      nested: {
        events,
        items: rulesToJsonSchema(R.items, { required: ['files', 'id'] }),
        domain: rulesToJsonSchema(R.domain),
        profile: rulesToJsonSchema(R.profile, { required: ['files', 'user', 'features'], nested: { features: featureMap } }),
        context: featureMap,
        sequences: rulesToJsonSchema(R.sequences),
        split: rulesToJsonSchema(R.split),
        timeRange: rulesToJsonSchema(R.timeRange),
        minCounts: rulesToJsonSchema(R.minCounts),
        negatives: rulesToJsonSchema(R.negatives, { required: ['perPositive', 'seed'] }),
      },
    }),
  };
}
