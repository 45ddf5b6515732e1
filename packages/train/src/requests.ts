/**
 * The request-level model IFA (spec models/ifa.ts) registered for the trainer on the synthetic
 * world's requests (@lctr/data synthetic/requests.ts): sample = one request of C candidates, the
 * eval source scores three targets (click = the headline, impression, ranking) with their Bayes AUCs.
 * Names: 'ifa' (module 'ifa' unless config.model.module says otherwise), 'ifa-avgpool' (module
 * 'avgPool'), 'ifa-full-attention' ('fullAttention'), 'ifa-sim-soft', 'ifa-sim-hard', 'ifa-twin'
 * ('simSoft', 'simHard', 'twin'): presets of config.model.module, so one config without `module`
 * trains each (a preset refuses a config naming another module). Module sections simSoft, simHard,
 * twin are checked key by key (config.model.twin.k, ...).
 *
 * config.model holds the architecture (IfaConfig without the data's sizes and without extra
 * objectives: the synthetic requests label impression and click only); config.data:
 *   world 'small' | 'default', worldSeed, worldUsers (0 = the preset's), sharedCategories,
 *   seed (of the requests; default the config's seed), seqLen (N),
 *   requests { candidates (C), minCandidates, requestsPerUser, evalRequestsPerUser, users, ... }
 *   (every field of RequestConfig; see DEFAULT_REQUEST_CONFIG).
 */
import {
  type FeatureSchema,
  type Graph,
  type IfaConfig,
  type IfaConfigInput,
  IFA_DATA_KEYS,
  IFA_DEFAULTS,
  IFA_RULES,
  IFA_SECTION_RULES,
  type IfaModule,
  buildIfaTrain,
  ifaConfig,
  ifaSchema,
  ifaSeqLen,
  withoutKeys,
} from '@lctr/spec';
import {
  DEFAULT_REQUEST_CONFIG,
  type RequestConfig,
  type RequestContext,
  type RequestSet,
  type SampleSource,
  SMALL_WORLD_CONFIG,
  type World,
  type WorldConfig,
  createRequestSource,
  generateRequests,
  generateWorld,
  requestContext,
  requestModelSizes,
} from '@lctr/data';
import { ConfigError, type FieldRule, checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';

type Section = Record<string, unknown>;

export interface RequestDataConfig extends Section {
  world: 'small' | 'default';
  worldSeed: number;
  /** number of users when it differs from the preset's (0 = the preset's: 500 small, 10,000 default) */
  worldUsers: number;
  sharedCategories: boolean;
  /** seed of the requests (default: the config's seed) */
  seed?: number;
  /** N: the lifelong source sequence length the model reads */
  seqLen: number;
  /** RequestConfig fields (C = requests.candidates) */
  requests: Section;
}

export const REQUEST_DATA_DEFAULTS: RequestDataConfig = {
  world: 'small',
  worldSeed: 1,
  worldUsers: 0,
  sharedCategories: false,
  seqLen: 256,
  requests: {},
};

/** config.data (and config.data.requests) of the request models (also their published JSON Schema, schemas.ts). */
export const REQUEST_DATA_RULES: Record<string, FieldRule> = {
  world: { kind: 'string', oneOf: ['small', 'default'] },
  worldSeed: { kind: 'int', min: 0, max: 4294967295 },
  worldUsers: { kind: 'int', min: 0 },
  sharedCategories: { kind: 'bool' },
  seed: { kind: 'int', min: 0, max: 4294967295 },
  seqLen: { kind: 'int', min: 1 },
  requests: { kind: 'object' },
};
export const REQUEST_RULES: { readonly [K in keyof RequestConfig]: FieldRule } = {
  candidates: { kind: 'int', min: 1 },
  minCandidates: { kind: 'int', min: 0 },
  candidateInterestShare: { kind: 'number', min: 0 },
  requestsPerUser: { kind: 'int', min: 1 },
  evalRequestsPerUser: { kind: 'int', min: 1 },
  users: { kind: 'int', min: 0 },
  impressionScale: { kind: 'number', min: 0 },
  impressionBias: { kind: 'number' },
  policyNoise: { kind: 'number', min: 0 },
  clickScale: { kind: 'number', min: 0 },
  clickBias: { kind: 'number' },
  redundancy: { kind: 'number', min: 0 },
  crossWindow: { kind: 'int', min: 1 },
  crossBuckets: { kind: 'int', min: 2 },
};
/** config.model of the request models: spec's tables less what the data sets. */
export const IFA_MODEL_RULES = withoutKeys(IFA_RULES, IFA_DATA_KEYS);

/** config.data of a request model, defaults filled; ConfigErrors name `config.data.key` / `config.data.requests.key`. */
export function requestDataConfig(data: Readonly<Section>, where: string): ResolvedData {
  const d = checkSection<RequestDataConfig>(
    data,
    REQUEST_DATA_RULES as { [K in keyof RequestDataConfig]: FieldRule },
    { ...REQUEST_DATA_DEFAULTS },
    'config.data',
    where,
  );
  const requests = checkSection<RequestConfig & Section>(
    d.requests,
    REQUEST_RULES,
    { ...DEFAULT_REQUEST_CONFIG },
    'config.data.requests',
    where,
  );
  return { ...d, requests };
}

const worlds = new Map<string, World>();
const contexts = new Map<string, RequestContext>();
const sets = new Map<string, RequestSet>();

type ResolvedData = RequestDataConfig & { requests: RequestConfig };

function worldOf(d: RequestDataConfig): World {
  const key = JSON.stringify([d.world, d.worldSeed, d.worldUsers, d.sharedCategories]);
  let w = worlds.get(key);
  if (!w) {
    const base: Partial<WorldConfig> = d.world === 'small' ? SMALL_WORLD_CONFIG : {};
    w = generateWorld({ ...base, sharedCategories: d.sharedCategories, ...(d.worldUsers > 0 ? { users: d.worldUsers } : {}) }, d.worldSeed);
    worlds.set(key, w);
  }
  return w;
}

/** The requests' world and per-user context (once per process and data config); bad request fields are ConfigErrors. */
export function requestContextOf(d: ResolvedData, seed: number, where: string): RequestContext {
  const key = JSON.stringify([d, seed]);
  let c = contexts.get(key);
  if (!c) {
    try {
      c = requestContext(worldOf(d), d.requests, seed);
    } catch (e) {
      throw new ConfigError([`${where}: config.data.requests: ${(e as Error).message}`]);
    }
    contexts.set(key, c);
  }
  return c;
}

/** The request set of a split (generated once per process and data config). */
export function requestSet(d: ResolvedData, seed: number, split: 'train' | 'eval', where: string): RequestSet {
  const key = JSON.stringify([d, seed, split]);
  let s = sets.get(key);
  if (!s) {
    s = generateRequests(requestContextOf(d, seed, where), split);
    sets.set(key, s);
  }
  return s;
}

/** config.model (+ the data's sizes) -> the spec config; ConfigErrors name the key. */
export function ifaTrainConfig(
  module: IfaModule,
  model: Readonly<Section>,
  data: Readonly<Section>,
  where: string,
  seed: number,
): { cfg: IfaConfig; d: ResolvedData } {
  const {
    users: _u,
    targetItems: _t,
    sourceItems: _s,
    categories: _c,
    profile: _p,
    cross: _x,
    context: _q,
    candidates: _n,
    seqLen: _l,
    objectives: _o,
    ...defaults
  } = IFA_DEFAULTS;
  const arch = checkSection<Section>(model, IFA_MODEL_RULES, { ...defaults, module }, 'config.model', where);
  for (const name of Object.keys(IFA_SECTION_RULES) as Array<keyof typeof IFA_SECTION_RULES>) {
    arch[name] = checkSection<Section>(
      (model[name] ?? {}) as Section,
      IFA_SECTION_RULES[name],
      { ...(IFA_DEFAULTS[name] as unknown as Section) },
      `config.model.${name}`,
      where,
    );
  }
  const d = requestDataConfig(data, where);
  const ctx = requestContextOf(d, d.seed ?? seed, where);
  try {
    return { cfg: ifaConfig({ ...arch, ...requestModelSizes(ctx, d.seqLen) } as IfaConfigInput), d };
  } catch (e) {
    throw new ConfigError([`${where}: config.model: ${(e as Error).message}`]);
  }
}

function register(name: string, module: IfaModule, what: string): void {
  const resolve = (model: Readonly<Section>, where: string, data: Readonly<Section>, seed: number) => {
    // a preset fixes its module; 'ifa' takes any from the config
    if (name !== 'ifa' && model['module'] !== undefined && model['module'] !== module) {
      throw new ConfigError([
        `${where}: config.model.module: model '${name}' fixes module ${JSON.stringify(module)}, got ${JSON.stringify(model['module'])} ` +
          `(choose the module in the config with --model ifa)`,
      ]);
    }
    return ifaTrainConfig(module, model, data, where, seed);
  };
  const build = (model: Readonly<Section>, where: string, data: Readonly<Section>, seed: number): Graph => {
    const { cfg } = resolve(model, where, data, seed);
    try {
      return buildIfaTrain(cfg);
    } catch (e) {
      throw new ConfigError([`${where}: config.model: ${(e as Error).message}`]);
    }
  };
  registerTrainModel<FeatureSchema>(name, {
    description: `IFA request model (spec models/ifa.ts), module ${what}, on the synthetic world's requests (targets: click, impression, ranking)`,
    // buildTrain does not see the config's seed; the sizes do not depend on the request seed
    buildTrain: (model, where, data) => build(model, where, data, 1),
    source(req): SampleSource<FeatureSchema> {
      const { cfg, d } = resolve(req.model, req.where, req.data, req.seed);
      const set = requestSet(d, d.seed ?? req.seed, req.split, req.where);
      return createRequestSource(set, { seqLen: ifaSeqLen(cfg), schema: ifaSchema(cfg, 'train') });
    },
  });
}

register('ifa', 'ifa', "'ifa' (linear cross attention, Eq. 2)");
register('ifa-avgpool', 'avgPool', "'avgPool' (masked mean of the sequence)");
register('ifa-full-attention', 'fullAttention', "'fullAttention' (softmax target attention over all N)");
register('ifa-sim-soft', 'simSoft', "'simSoft' (SIM soft: GSU top-K, ESU attention; auxiliary GSU loss)");
register('ifa-sim-hard', 'simHard', "'simHard' (SIM hard: the K most recent events of the candidate's category)");
register('ifa-twin', 'twin', "'twin' (TWIN: one multi-head target attention as GSU and ESU)");
