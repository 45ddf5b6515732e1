/**
 * AvgPooling and DIN (SPEC Baselines) registered for the trainer on two data sets:
 * - `synthetic`: the planted world of @lctr/data (true click probabilities known, so the eval
 *   source carries them and the trainer reports the Bayes AUC next to the model's);
 * - `ml-100k`: MovieLens 100K in RecBole's atomic layout (../shared/data/ml-100k), label =
 *   rating >= 4, Animation/Children's movies the target domain; split by time: the last
 *   `testFraction` of target events (by timestamp) are the eval set.
 * Vocabulary sizes come from the data, so config.model holds only the architecture.
 */
import {
  type BaselineConfig, type DinConfig, type FeatureSchema, type Graph, AVGPOOL_DEFAULTS, DIN_DEFAULTS, buildAvgPoolTrain, buildDinTrain,
  sequenceLength,
} from '@lctr/spec';
import {
  type EventLog, type EventLogMeta, type SampleSource, type WorldConfig, SMALL_WORLD_CONFIG, buildSampleIndex, createSampleSource, generateWorld, readMovieLens,
} from '@lctr/data';
import { resolve } from 'node:path';
import { checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';

export interface DataConfig extends Record<string, unknown> {
  dataset: 'synthetic' | 'ml-100k';
  /** synthetic: 'small' (500 users) or 'default' (SPEC sizes, 10,000 users) */
  world: 'small' | 'default';
  worldSeed: number;
  /** synthetic: number of users when it differs from the preset's (0 = the preset's: 500 small, 10,000 default) */
  worldUsers: number;
  /** synthetic: one category id per topic in both domains (else separate id ranges per domain) */
  sharedCategories: boolean;
  /** ml-100k: folder of the atomic files */
  dir: string;
  /** ml-100k: share of target events (latest by time) held out for eval */
  testFraction: number;
}
const DATA_DEFAULTS: DataConfig = { dataset: 'synthetic', world: 'small', worldSeed: 1, worldUsers: 0, sharedCategories: false, dir: '../shared/data/ml-100k', testFraction: 0.2 };

const REPO_ROOT = resolve(import.meta.dirname, '../../..');

interface Prepared { log: EventLog; train: Int32Array; eval: Int32Array; trueProbability?: Float32Array }
const cache = new Map<string, Promise<Prepared>>();

export function dataConfig(data: Readonly<Record<string, unknown>>, where: string): DataConfig {
  return checkSection<DataConfig>(data, {
    dataset: { kind: 'string', oneOf: ['synthetic', 'ml-100k'] }, world: { kind: 'string', oneOf: ['small', 'default'] },
    worldSeed: { kind: 'int', min: 0, max: 4294967295 }, worldUsers: { kind: 'int', min: 0 }, sharedCategories: { kind: 'bool' }, dir: { kind: 'text' }, testFraction: { kind: 'number', gt: 0, lt: 1 },
  }, { ...DATA_DEFAULTS }, 'config.data', where);
}

/** Load (once per process) the event log and its train/eval sample index. */
export function prepareData(d: DataConfig): Promise<Prepared> {
  const key = JSON.stringify(d);
  let p = cache.get(key);
  if (!p) {
    p = (async (): Promise<Prepared> => {
      if (d.dataset === 'synthetic') {
        const base: Partial<WorldConfig> = d.world === 'small' ? SMALL_WORLD_CONFIG : {};
        const world = generateWorld({ ...base, sharedCategories: d.sharedCategories, ...(d.worldUsers > 0 ? { users: d.worldUsers } : {}) }, d.worldSeed);
        return { log: world.log, train: world.train, eval: world.test, trueProbability: world.trueProbability };
      }
      // a relative folder is taken from the repository root, so the CLI works from any directory
      const { log } = await readMovieLens(resolve(REPO_ROOT, d.dir));
      const times: number[] = [];
      for (let i = 0; i < log.size; i++) if (log.domain[i] === 0) times.push(log.timestamp[i]!);
      times.sort((a, b) => a - b);
      const cut = times[Math.floor(times.length * (1 - d.testFraction))]!;
      return { log, train: buildSampleIndex(log, { to: cut }), eval: buildSampleIndex(log, { from: cut }) };
    })();
    cache.set(key, p);
  }
  return p;
}

/** Vocabulary sizes of a data set, as the baseline configs name them. */
export function sizes(meta: EventLogMeta) {
  return {
    users: 0, targetItems: meta.items.target, sourceItems: meta.items.source, categories: meta.categories,
    profile: meta.profile.map((c) => c.cardinality),
  };
}

export const ARCH_RULES = {
  dim: { kind: 'int', min: 1 }, categoryDim: { kind: 'int', min: 0 }, seqLen: { kind: 'int', min: 1 }, sourceSeqLen: { kind: 'int', min: 0 },
  sequences: { kind: 'strings', oneOf: ['target', 'source'] }, hidden: { kind: 'ints', min: 1 }, l2: { kind: 'number', min: 0 },
} as const;

export function schemaOf(g: Graph): FeatureSchema {
  return Object.fromEntries(g.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape }]));
}

function register(name: 'avgpool' | 'din'): void {
  const defaults = name === 'din' ? DIN_DEFAULTS : AVGPOOL_DEFAULTS;
  const rules = name === 'din' ? { ...ARCH_RULES, attention: { kind: 'ints', min: 1 } as const } : ARCH_RULES;
  const arch = (model: Readonly<Record<string, unknown>>, where: string) => {
    const { users: _u, targetItems: _t, sourceItems: _s, categories: _c, profile: _p, ...archDefaults } = defaults as DinConfig;
    return checkSection<Record<string, unknown>>(model, rules, { ...archDefaults }, 'config.model', where);
  };
  const build = async (model: Readonly<Record<string, unknown>>, where: string, data: Readonly<Record<string, unknown>>): Promise<Graph> => {
    const a = arch(model, where);
    const prepared = await prepareData(dataConfig(data, where));
    const cfg = { ...a, ...sizes(prepared.log.meta) } as unknown as BaselineConfig & DinConfig;
    return name === 'din' ? buildDinTrain(cfg) : buildAvgPoolTrain(cfg);
  };
  registerTrainModel<FeatureSchema>(name, {
    description: name === 'din'
      ? 'DIN (SPEC Baselines): target attention over the short target and source sequences, on the synthetic world or ml-100k'
      : 'AvgPooling (SPEC Baselines): masked mean of the short target and source sequences, on the synthetic world or ml-100k',
    buildTrain: build,
    async source(req): Promise<SampleSource<FeatureSchema>> {
      const d = dataConfig(req.data, req.where);
      const graph = await build(req.model, req.where, req.data);
      const prepared = await prepareData(d);
      const a = arch(req.model, req.where) as unknown as BaselineConfig;
      return createSampleSource(prepared.log, req.split === 'train' ? prepared.train : prepared.eval, schemaOf(graph), {
        targetLength: sequenceLength(a, 'target'), sourceLength: sequenceLength(a, 'source'),
        ...(prepared.trueProbability ? { eventProbability: prepared.trueProbability } : {}),
      });
    },
  });
}

register('avgpool');
register('din');
