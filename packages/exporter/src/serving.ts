/**
 * Serving graphs of trained models: a training checkpoint's graph.json carries `meta.model` (the
 * spec model) and `meta.config` (its full config); this table rebuilds the SERVING graph from
 * them, and names the trainer model (packages/backend-tfjs registry) whose eval split holds the
 * held-out data for the parity check.
 */
import {
  type DemoConfig,
  type DinConfig,
  type FeatureSchema,
  type Graph,
  type IfaConfigInput,
  type LifelongConfig,
  type AvgPoolConfig,
  buildAvgPool,
  buildDemo,
  buildDin,
  buildIfa,
  buildLifelong,
} from '@lctr/spec';
import { ExportError } from './serving-dir.ts';

type Config = Readonly<Record<string, unknown>>;

export interface ServingModel {
  readonly description: string;
  /** the serving graph (output `prob`) from the training graph's meta.config */
  build(config: Config): Graph<FeatureSchema, 'prob'>;
  /** the trainer model that trains this config, or undefined when no trainer preset matches */
  trainModel(config: Config): string | undefined;
}

/** lifelong module -> the trainer preset that selects it (backend-tfjs train/lifelong.ts) */
const LIFELONG_TRAINERS: Readonly<Record<string, string>> = { lap: 'lcn', simSoft: 'sim-soft', simHard: 'sim-hard', twin: 'twin' };
/** IFA module -> the trainer preset that selects it (backend-tfjs train/requests.ts) */
const IFA_TRAINERS: Readonly<Record<string, string>> = {
  ifa: 'ifa',
  avgPool: 'ifa-avgpool',
  fullAttention: 'ifa-full-attention',
  simSoft: 'ifa-sim-soft',
  simHard: 'ifa-sim-hard',
  twin: 'ifa-twin',
};

export const SERVING_MODELS: Readonly<Record<string, ServingModel>> = {
  demo: {
    description: "spec's demo model; batch layout",
    build: (c) => buildDemo(c as Partial<DemoConfig>) as unknown as Graph<FeatureSchema, 'prob'>,
    trainModel: () => 'demo',
  },
  avgpool: {
    description: 'AvgPooling baseline; batch layout',
    build: (c) => buildAvgPool(c as Partial<AvgPoolConfig>),
    trainModel: () => 'avgpool',
  },
  din: {
    description: 'DIN baseline; batch layout',
    build: (c) => buildDin(c as Partial<DinConfig>),
    trainModel: () => 'din',
  },
  lifelong: {
    description: "LCN / SIM soft / SIM hard / TWIN; per-request layout (user side leading 1, candidates on 'cand')",
    build: (c) => buildLifelong(c as Partial<LifelongConfig>),
    trainModel: (c) => (typeof c['module'] === 'string' ? LIFELONG_TRAINERS[c['module']] : undefined),
  },
  ifa: {
    description:
      "IFA request models; one candidate set per call (every input leads with 1, candidates on 'cand', the sequence on 'seq' where the " +
      'module allows)',
    // outputs pImpression, pClick and prob; the parity check and the server read 'prob'
    build: (c) => buildIfa(c as IfaConfigInput) as Graph<FeatureSchema, 'prob'>,
    trainModel: (c) => (typeof c['module'] === 'string' ? IFA_TRAINERS[c['module']] : undefined),
  },
};

export interface ServingSpec {
  /** meta.model of the training graph */
  readonly model: string;
  readonly entry: ServingModel;
  readonly config: Config;
}

/** The serving table entry for a training graph; `where` names graph.json in errors. */
export function servingSpecOf(train: Graph, where: string): ServingSpec {
  const model = train.meta['model'];
  const known = Object.keys(SERVING_MODELS).join(', ');
  if (typeof model !== 'string') {
    throw new ExportError(`${where}: meta.model must name the model (one of ${known}), got ${JSON.stringify(model) ?? 'nothing'}`);
  }
  const entry = Object.hasOwn(SERVING_MODELS, model) ? SERVING_MODELS[model] : undefined;
  if (!entry) throw new ExportError(`${where}: unknown model '${model}' in meta.model; the exporter knows ${known}`);
  const config = train.meta['config'];
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ExportError(`${where}: meta.config must be the '${model}' config object, got ${JSON.stringify(config) ?? 'nothing'}`);
  }
  return { model, entry, config: config as Config };
}

/** Build the serving graph; a config the builder rejects is an ExportError naming graph.json. */
export function buildServingGraph(spec: ServingSpec, where: string): Graph<FeatureSchema, 'prob'> {
  try {
    return spec.entry.build(spec.config);
  } catch (e) {
    throw new ExportError(`${where}: meta.config does not build a '${spec.model}' serving graph: ${(e as Error).message}`);
  }
}
