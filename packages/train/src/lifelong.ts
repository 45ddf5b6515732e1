/**
 * The lifelong-sequence models (LCN and its Table 5 baselines SIM soft, SIM hard, TWIN; spec
 * models/lifelong.ts) registered for the trainer on the data sets of baselines.ts. config.model
 * holds the architecture: the base's keys (dim, categoryDim, seqLen, sourceSeqLen, sequences,
 * hidden, attention, l2), `lifelongLen`, `contextDim`, and one section per module (`lap`,
 * `simSoft`, `simHard`, `twin`) and `crp`; vocabularies and context cardinalities come from the
 * data. LAP levels switch off with k1 = 0 / k2 = 0 (Table 3); CRP with crp.lambda = 0.
 */
import {
  type FeatureSchema, type Graph, type LifelongConfig, LIFELONG_DEFAULTS, LIFELONG_PRESETS, buildLifelongTrain, hasCrp, lifelongConfig, lifelongSchema, sequenceLength, withoutCrpFeatures,
} from '@lctr/spec';
import { type SampleSource, createSampleSource, withCrpPairs } from '@lctr/data';
import { ConfigError, type FieldRule, checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';
import { ARCH_RULES, dataConfig, prepareData, sizes } from './baselines.ts';

type Preset = keyof typeof LIFELONG_PRESETS;
type Section = Record<string, unknown>;

const TOP_RULES: Record<string, FieldRule> = {
  ...ARCH_RULES, attention: { kind: 'ints', min: 1 }, lifelongLen: { kind: 'int', min: 1 }, contextDim: { kind: 'int', min: 1 },
  lap: { kind: 'object' }, simSoft: { kind: 'object' }, simHard: { kind: 'object' }, twin: { kind: 'object' }, crp: { kind: 'object' },
};
const SECTION_RULES: Record<'lap' | 'simSoft' | 'simHard' | 'twin' | 'crp', Record<string, FieldRule>> = {
  lap: {
    k1: { kind: 'int', min: 0 }, k2: { kind: 'int', min: 0 }, attentionDim: { kind: 'int', min: 1 }, heads: { kind: 'int', min: 1 },
    headDim: { kind: 'int', min: 1 }, ffnDim: { kind: 'int', min: 1 }, outDim: { kind: 'int', min: 1 },
    csaNormalize: { kind: 'string', oneOf: ['softmax', 'none'] }, msaNormalize: { kind: 'string', oneOf: ['softmax', 'none'] },
    fsaPool: { kind: 'string', oneOf: ['mean', 'sumThenFfn'] },
  },
  simSoft: { k: { kind: 'int', min: 1 }, gsuDim: { kind: 'int', min: 1 }, attentionDim: { kind: 'int', min: 1 }, auxWeight: { kind: 'number', min: 0 } },
  simHard: { k: { kind: 'int', min: 1 }, attentionDim: { kind: 'int', min: 1 } },
  twin: { k: { kind: 'int', min: 1 }, heads: { kind: 'int', min: 1 }, headDim: { kind: 'int', min: 1 }, outDim: { kind: 'int', min: 1 } },
  crp: {
    lambda: { kind: 'number', min: 0 }, negatives: { kind: 'int', min: 1 }, temperature: { kind: 'number', gt: 0 },
    infoNce: { kind: 'bool' }, weights: { kind: 'object' },
  },
};
const WEIGHT_RULES: Record<string, FieldRule> = { pt: { kind: 'number', min: 0 }, ps: { kind: 'number', min: 0 }, pc: { kind: 'number', min: 0 } };

/** config.model of a preset -> the spec config (without the data's sizes); ConfigErrors name the key. */
export function lifelongArch(preset: Preset, model: Readonly<Section>, where: string): Partial<LifelongConfig> {
  const base = { ...LIFELONG_DEFAULTS, ...LIFELONG_PRESETS[preset] };
  const { users: _u, targetItems: _t, sourceItems: _s, categories: _c, profile: _p, context: _x, ...defaults } = base;
  const top = checkSection<Section>(model, TOP_RULES, { ...defaults }, 'config.model', where);
  const out: Section = { ...top };
  for (const name of Object.keys(SECTION_RULES) as Array<keyof typeof SECTION_RULES>) {
    const given = (model[name] ?? {}) as Section;
    const sec = checkSection<Section>(given, SECTION_RULES[name], { ...(base[name] as unknown as Section) }, `config.model.${name}`, where);
    if (name === 'crp') sec['weights'] = checkSection<Section>((given['weights'] ?? {}) as Section, WEIGHT_RULES, { ...base.crp.weights }, 'config.model.crp.weights', where);
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
    description: `${preset} (spec models/lifelong.ts): DIN base + ${LIFELONG_PRESETS[preset].module} over the lifelong source sequence${preset === 'lcn' ? ' + CRP' : ''}, on the synthetic world or ml-100k`,
    buildTrain: build,
    async source(req): Promise<SampleSource<FeatureSchema>> {
      const { cfg, prepared } = await resolve(req.model, req.where, req.data);
      const schema = withoutCrpFeatures(lifelongSchema(cfg, 'train'));
      const inner = createSampleSource(prepared.log, req.split === 'train' ? prepared.train : prepared.eval, schema, {
        targetLength: sequenceLength(cfg, 'target'), sourceLength: sequenceLength(cfg, 'source'), lifelongLength: cfg.lifelongLen,
        ...(prepared.trueProbability ? { eventProbability: prepared.trueProbability } : {}),
      });
      // eval batches need the pair inputs too (the training graph reads them); they do not change `prob`
      return hasCrp(cfg) ? withCrpPairs(inner, { negatives: cfg.crp.negatives, seed: req.seed }) : inner;
    },
  });
}

for (const preset of Object.keys(LIFELONG_PRESETS) as Preset[]) register(preset);
