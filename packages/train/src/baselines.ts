/**
 * AvgPooling and DIN (SPEC Baselines) registered for the trainer on two data sets:
 * - `synthetic`: the planted world of @lctr/data (true click probabilities known, so the eval
 *   source carries them and the trainer reports the Bayes AUC next to the model's);
 * - `file`: any event log a dataset config describes (`config`: its path from the repository root;
 *   packages/data README "Dataset configs"); train/eval are the config's train/test split;
 * - `ml-100k`: the dataset config datasets/ml-100k.json (MovieLens 100K, label = rating >= 4,
 *   Animation/Children's movies the target domain, the last `testFraction` of target events by
 *   timestamp the eval set); it gives the samples the former hand-written reader gave, row for row
 *   (packages/data/test/dataset.test.ts).
 * Vocabulary sizes come from the data, so config.model holds only the architecture.
 */
import {
  type BaselineConfig,
  type DinConfig,
  type FeatureSchema,
  type FieldRule,
  type Graph,
  AVGPOOL_DEFAULTS,
  BASELINE_DATA_KEYS,
  BASELINE_RULES,
  DIN_DEFAULTS,
  DIN_RULES,
  buildAvgPoolTrain,
  buildDinTrain,
  sequenceLength,
  withoutKeys,
} from '@lctr/spec';
import {
  type EventLog,
  type EventLogMeta,
  type SampleSource,
  type WorldConfig,
  SMALL_WORLD_CONFIG,
  createSampleSource,
  generateWorld,
  loadDataset,
  readDatasetConfig,
} from '@lctr/data';
import { resolve } from 'node:path';
import { ConfigError, checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';

export interface DataConfig extends Record<string, unknown> {
  dataset: 'synthetic' | 'ml-100k' | 'file';
  /** synthetic: 'small' (500 users) or 'default' (SPEC sizes, 10,000 users) */
  world: 'small' | 'default';
  worldSeed: number;
  /** synthetic: number of users when it differs from the preset's (0 = the preset's: 500 small, 10,000 default) */
  worldUsers: number;
  /** synthetic: one category id per topic in both domains (else separate id ranges per domain) */
  sharedCategories: boolean;
  /** ml-100k: folder of the atomic files (only the default: the files are named in datasets/ml-100k.json) */
  dir: string;
  /** ml-100k: share of target events (latest by time) held out for eval (overrides the dataset config's split) */
  testFraction: number;
  /** file: the dataset config, relative to the repository root */
  config: string;
}
const ML100K_CONFIG = 'datasets/ml-100k.json';
const DATA_DEFAULTS: DataConfig = {
  dataset: 'synthetic',
  world: 'small',
  worldSeed: 1,
  worldUsers: 0,
  sharedCategories: false,
  dir: '../shared/data/ml-100k',
  testFraction: 0.2,
  config: ML100K_CONFIG,
};

/** config.data of the baselines and the lifelong models (also their published JSON Schema, schemas.ts). */
export const DATA_RULES: { readonly [K in keyof DataConfig]: FieldRule } = {
  dataset: { kind: 'string', oneOf: ['synthetic', 'ml-100k', 'file'] },
  world: { kind: 'string', oneOf: ['small', 'default'] },
  worldSeed: { kind: 'int', min: 0, max: 4294967295 },
  worldUsers: { kind: 'int', min: 0 },
  sharedCategories: { kind: 'bool' },
  dir: { kind: 'text' },
  testFraction: { kind: 'number', gt: 0, lt: 1 },
  config: { kind: 'text' },
};

const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface Prepared {
  log: EventLog;
  train: Int32Array;
  eval: Int32Array;
  trueProbability?: Float32Array;
}
const cache = new Map<string, Promise<Prepared>>();

export function dataConfig(data: Readonly<Record<string, unknown>>, where: string): DataConfig {
  const d = checkSection<DataConfig>(data, DATA_RULES, { ...DATA_DEFAULTS }, 'config.data', where);
  if (d.dataset === 'ml-100k' && resolve(REPO_ROOT, d.dir) !== resolve(REPO_ROOT, DATA_DEFAULTS.dir)) {
    throw new ConfigError([
      `${where}: config.data.dir: expected ${JSON.stringify(DATA_DEFAULTS.dir)} (ml-100k reads the files ${ML100K_CONFIG} names; for ` +
        `other files write a dataset config and use "dataset": "file"), got ${JSON.stringify(d.dir)}`,
    ]);
  }
  return d;
}

/** Load (once per process) the event log and its train/eval sample index. */
export function prepareData(d: DataConfig): Promise<Prepared> {
  const key = JSON.stringify(d);
  let p = cache.get(key);
  if (!p) {
    p = (async (): Promise<Prepared> => {
      if (d.dataset === 'synthetic') {
        const base: Partial<WorldConfig> = d.world === 'small' ? SMALL_WORLD_CONFIG : {};
        const world = generateWorld(
          { ...base, sharedCategories: d.sharedCategories, ...(d.worldUsers > 0 ? { users: d.worldUsers } : {}) },
          d.worldSeed,
        );
        return { log: world.log, train: world.train, eval: world.test, trueProbability: world.trueProbability };
      }
      // a relative path is taken from the repository root, so the CLI works from any directory
      const loaded = readDatasetConfig(resolve(REPO_ROOT, d.dataset === 'ml-100k' ? ML100K_CONFIG : d.config));
      const config = d.dataset === 'ml-100k' ? { ...loaded.config, split: { testFraction: d.testFraction } } : loaded.config;
      const ds = await loadDataset({ ...loaded, config });
      return { log: ds.log, train: ds.train, eval: ds.test };
    })();
    cache.set(key, p);
  }
  return p;
}

/** The timestamp of every sample of a split (a sample is a target event; its source keeps the split's order). */
export function eventTimes(p: Prepared, split: 'train' | 'eval'): Float64Array {
  const positions = split === 'train' ? p.train : p.eval;
  return Float64Array.from(positions, (i) => p.log.timestamp[i]!);
}

/** Vocabulary sizes of a data set, as the baseline configs name them. */
export function sizes(meta: EventLogMeta) {
  return {
    users: 0,
    targetItems: meta.items.target,
    sourceItems: meta.items.source,
    categories: meta.categories,
    profile: meta.profile.map((c) => c.cardinality),
  };
}

/** config.model of AvgPooling: spec's table less what the data sets (DIN adds `attention`: DIN_MODEL_RULES). */
export const ARCH_RULES = withoutKeys(BASELINE_RULES, BASELINE_DATA_KEYS);
export const DIN_MODEL_RULES = withoutKeys(DIN_RULES, BASELINE_DATA_KEYS);

export function schemaOf(g: Graph): FeatureSchema {
  return Object.fromEntries(g.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape }]));
}

function register(name: 'avgpool' | 'din'): void {
  const defaults = name === 'din' ? DIN_DEFAULTS : AVGPOOL_DEFAULTS;
  const rules = name === 'din' ? DIN_MODEL_RULES : ARCH_RULES;
  const arch = (model: Readonly<Record<string, unknown>>, where: string) => {
    const { users: _u, targetItems: _t, sourceItems: _s, categories: _c, profile: _p, ...archDefaults } = defaults as DinConfig;
    return checkSection<Record<string, unknown>>(model, rules, { ...archDefaults }, 'config.model', where);
  };
  const build = async (
    model: Readonly<Record<string, unknown>>,
    where: string,
    data: Readonly<Record<string, unknown>>,
  ): Promise<Graph> => {
    const a = arch(model, where);
    const prepared = await prepareData(dataConfig(data, where));
    const cfg = { ...a, ...sizes(prepared.log.meta) } as unknown as BaselineConfig & DinConfig;
    return name === 'din' ? buildDinTrain(cfg) : buildAvgPoolTrain(cfg);
  };
  registerTrainModel<FeatureSchema>(name, {
    description:
      name === 'din'
        ? 'DIN (SPEC Baselines): target attention over the short target and source sequences, on the synthetic world or ml-100k'
        : 'AvgPooling (SPEC Baselines): masked mean of the short target and source sequences, on the synthetic world or ml-100k',
    buildTrain: build,
    async source(req): Promise<SampleSource<FeatureSchema>> {
      const d = dataConfig(req.data, req.where);
      const graph = await build(req.model, req.where, req.data);
      const prepared = await prepareData(d);
      const a = arch(req.model, req.where) as unknown as BaselineConfig;
      return createSampleSource(prepared.log, req.split === 'train' ? prepared.train : prepared.eval, schemaOf(graph), {
        targetLength: sequenceLength(a, 'target'),
        sourceLength: sequenceLength(a, 'source'),
        ...(prepared.trueProbability ? { eventProbability: prepared.trueProbability } : {}),
      });
    },
    sampleTimes: async (req) => eventTimes(await prepareData(dataConfig(req.data, req.where)), req.split),
  });
}

register('avgpool');
register('din');
