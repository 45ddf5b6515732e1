/**
 * The lifelong-sequence models (LCN and its Table 5 baselines SIM soft, SIM hard, TWIN; spec
 * models/lifelong.ts) registered for the trainer on the data sets of baselines.ts. config.model
 * holds the architecture: the base's keys (dim, categoryDim, seqLen, sourceSeqLen, sequences,
 * hidden, attention, l2), `lifelongLen`, `contextDim`, and one section per module (`lap`,
 * `simSoft`, `simHard`, `twin`) and `crp`; vocabularies and context cardinalities come from the
 * data. LAP levels switch off with k1 = 0 / k2 = 0 (Table 3); CRP with crp.lambda = 0.
 */
import {
  type FeatureSchema,
  type Graph,
  type LifelongConfig,
  CRP_WEIGHT_RULES,
  LIFELONG_DATA_KEYS,
  LIFELONG_DEFAULTS,
  LIFELONG_PRESETS,
  LIFELONG_RULES,
  LIFELONG_SECTION_RULES,
  buildLifelongTrain,
  crpLambdaScaleFeeds,
  hasCrp,
  lifelongConfig,
  lifelongSchema,
  sequenceLength,
  withoutCrpFeatures,
  withoutKeys,
} from '@lctr/spec';
import { type SampleSource, createSampleSource, withCrpPairs } from '@lctr/data';
import { ConfigError, checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';
import { dataConfig, eventTimes, prepareData, sizes } from './baselines.ts';

type Preset = keyof typeof LIFELONG_PRESETS;
type Section = Record<string, unknown>;

/** config.model of the lifelong models: spec's tables less what the data sets and `module` (the preset's). */
export const LIFELONG_MODEL_RULES = withoutKeys(LIFELONG_RULES, [...LIFELONG_DATA_KEYS, 'module']);

/** config.model of a preset -> the spec config (without the data's sizes); ConfigErrors name the key. */
export function lifelongArch(preset: Preset, model: Readonly<Section>, where: string): Partial<LifelongConfig> {
  const base = { ...LIFELONG_DEFAULTS, ...LIFELONG_PRESETS[preset] };
  const { users: _u, targetItems: _t, sourceItems: _s, categories: _c, profile: _p, context: _x, ...defaults } = base;
  const top = checkSection<Section>(model, LIFELONG_MODEL_RULES, { ...defaults }, 'config.model', where);
  const out: Section = { ...top };
  for (const name of Object.keys(LIFELONG_SECTION_RULES) as Array<keyof typeof LIFELONG_SECTION_RULES>) {
    const given = (model[name] ?? {}) as Section;
    const sec = checkSection<Section>(
      given,
      LIFELONG_SECTION_RULES[name],
      { ...(base[name] as unknown as Section) },
      `config.model.${name}`,
      where,
    );
    if (name === 'crp')
      sec['weights'] = checkSection<Section>(
        (given['weights'] ?? {}) as Section,
        CRP_WEIGHT_RULES,
        { ...base.crp.weights },
        'config.model.crp.weights',
        where,
      );
    out[name] = sec;
  }
  return out as Partial<LifelongConfig>;
}

function register(preset: Preset): void {
  const resolve = async (model: Readonly<Section>, where: string, data: Readonly<Section>) => {
    const arch = lifelongArch(preset, model, where);
    const prepared = await prepareData(dataConfig(data, where));
    const meta = prepared.log.meta;
    let cfg: LifelongConfig;
    try {
      cfg = lifelongConfig({ ...arch, ...sizes(meta), context: meta.context.map((c) => c.cardinality) });
    } catch (e) {
      throw new ConfigError([`${where}: config.model: ${(e as Error).message}`]);
    }
    return { cfg, prepared };
  };
  const build = async (model: Readonly<Section>, where: string, data: Readonly<Section>): Promise<Graph> => {
    const { cfg } = await resolve(model, where, data);
    try {
      return buildLifelongTrain(cfg);
    } catch (e) {
      throw new ConfigError([`${where}: config.model: ${(e as Error).message}`]);
    }
  };
  registerTrainModel<FeatureSchema>(preset, {
    description:
      `${preset} (spec models/lifelong.ts): DIN base + ${LIFELONG_PRESETS[preset].module} over the lifelong source sequence` +
      `${preset === 'lcn' ? ' + CRP' : ''}, on the synthetic world or ml-100k`,
    buildTrain: build,
    async source(req): Promise<SampleSource<FeatureSchema>> {
      const { cfg, prepared } = await resolve(req.model, req.where, req.data);
      const schema = withoutCrpFeatures(lifelongSchema(cfg, 'train'));
      const inner = createSampleSource(prepared.log, req.split === 'train' ? prepared.train : prepared.eval, schema, {
        targetLength: sequenceLength(cfg, 'target'),
        sourceLength: sequenceLength(cfg, 'source'),
        lifelongLength: cfg.lifelongLen,
        ...(prepared.trueProbability ? { eventProbability: prepared.trueProbability } : {}),
      });
      // eval batches need the pair inputs too (the training graph reads them); they do not change `prob`
      return hasCrp(cfg) ? withCrpPairs(inner, { negatives: cfg.crp.negatives, seed: req.seed }) : inner;
    },
    sampleTimes: async (req) => eventTimes(await prepareData(dataConfig(req.data, req.where)), req.split),
    // λ_CRP's warm-up (crp.warmupSteps > 0 with CRP on): the graph's crpLambdaScale, fed per step
    stepFeeds(model, where) {
      const crp = lifelongArch(preset, model, where).crp!;
      const feeds = crp.lambda > 0 ? crpLambdaScaleFeeds(crp.warmupSteps ?? 0) : undefined;
      return feeds && ((step: number) => feeds(step));
    },
  });
}

for (const preset of Object.keys(LIFELONG_PRESETS) as Preset[]) register(preset);
