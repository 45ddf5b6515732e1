/**
 * KEEP (spec models/keep.ts; SPEC.md "KEEP") registered for the trainer on the KEEP world of
 * @lctr/data (synthetic/keep.ts): a rich super-domain and a sparse sub-domain (ads) of the same users.
 *
 * Models (GAUC on the eval split is the headline, as for every trainer model):
 * - 'keep': the knowledge extraction model (DIN, three task towers); `prob` = probClick;
 * - 'keep-degenerate': its degeneration (target features replaced by the category), gives K̂_uc;
 * - 'keep-two-tower': the decomposed extractor, gives K̂_u and K̂_i;
 * - 'keep-din': DIN on the sub-domain with the KEEP plug-in; the knowledge input of every sample is
 *   computed from a trained extractor named in config.data.knowledge;
 * - 'keep-din-base': the same DIN without the plug-in (Base), or trained on the super-domain samples
 *   merged into the sub-domain's (config.data.merge: Sample Merging).
 *
 * config.data (every key optional):
 *   preset 'small' | 'default' (the world's sizes: SMALL_KEEP_WORLD_CONFIG or the defaults),
 *   world { any KeepWorldConfig field, seed included },
 *   domain 'super' | 'sub' (extractors: the domain they train and evaluate on; 'sub' = KEEP-C,
 *     co-trained on the downstream's own data), behaviours 'super' | 'sub' (extractors: whose clicks
 *     form the behaviour sequence; a keep-din reading the checkpoint uses the same), days (extractors on the super-domain and Sample
 *     Merging: train on the last `days` training days only; 0 = all),
 *   merge (keep-din-base), knowledge (keep-din, required):
 *     { checkpoint: a checkpoint dir or a training output dir (its latest checkpoint), relative to the
 *       working directory; kind: 'keep' (K(u, i) of a 'keep' checkpoint, 288 with the defaults) or
 *       'served' ([K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc]: checkpoint = a 'keep-two-tower' run,
 *       userCategoryCheckpoint = a 'keep-degenerate' run); parts: the knowledge columns to keep
 *       (kind 'keep': user, item, click, conv, cart; kind 'served': user, item, userItem, userCategory;
 *       default all): the knowledge-type ablation }.
 * config.model: the spec config's architecture fields (vocabularies come from the world); for the
 * DIN models the baseline's (dim, categoryDim, seqLen, sourceSeqLen, sequences, hidden, attention,
 * l2; sequences default ['target'] = the sub-domain click history) and, for keep-din,
 * knowledge { layer, hidden } (its width comes from the data).
 *
 * Knowledge is computed once per source, lazily at the first batch (the CLI builds sources before
 * it starts tfjs), by the extractor's knowledge / table graphs on the same tfjs backend; the
 * checkpoints are read and checked when the source is made (ConfigErrors name the key).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DIN_DEFAULTS,
  type DinConfig,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  KEEP_DATA_KEYS,
  KEEP_DEFAULTS,
  KEEP_RULES,
  KEEP_TWO_TOWER_DEFAULTS,
  KEEP_TWO_TOWER_RULES,
  type KeepConfig,
  type KeepTwoTowerConfig,
  atomicWriteFile,
  buildDinTrain,
  buildKeepItemTable,
  buildKeepKnowledge,
  buildKeepServedKnowledge,
  buildKeepTrain,
  buildKeepTwoTowerTrain,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  encodeSafetensors,
  keepConfig,
  keepKnowledgeLayout,
  keepSchema,
  keepTwoTowerConfig,
  keepTwoTowerSchema,
  weightsFor,
  withoutKeys,
} from '@lctr/spec';
import {
  type KeepWorld,
  type KeepWorldConfig,
  type SampleSource,
  KeepWorldConfigError,
  SMALL_KEEP_WORLD_CONFIG,
  concatKeepSources,
  createKeepSource,
  generateKeepWorld,
  keepClickSequences,
  keepSplit,
  resolveKeepWorldConfig,
} from '@lctr/data';
import { type TfjsModel, compileTfjs } from '@lctr/backend-tfjs';
import { DIN_MODEL_RULES, schemaOf } from './baselines.ts';
import { type Checkpoint, CheckpointError, latestCheckpointDir, readCheckpoint } from './checkpoint.ts';
import { ConfigError, type FieldRule, checkSection } from './config.ts';
import { registerTrainModel } from './models.ts';

type Section = Record<string, unknown>;

export const KEEP_KNOWLEDGE_PARTS = {
  keep: ['user', 'item', 'click', 'conv', 'cart'],
  served: ['user', 'item', 'userItem', 'userCategory'],
} as const;
export type KeepKnowledgeKind = keyof typeof KEEP_KNOWLEDGE_PARTS;

export interface KeepKnowledgeSpec extends Section {
  checkpoint: string;
  kind: KeepKnowledgeKind;
  userCategoryCheckpoint?: string;
  parts?: string[];
}

export interface KeepDataConfig extends Section {
  preset: 'small' | 'default';
  world: Section;
  domain: 'super' | 'sub';
  /** extractors: whose clicks are the behaviour sequence ('sub' for an extractor that sees only the sub-domain) */
  behaviours: 'super' | 'sub';
  days: number;
  merge: boolean;
  knowledge?: Section;
}
export const KEEP_DATA_DEFAULTS: KeepDataConfig = {
  preset: 'small',
  world: {},
  domain: 'super',
  behaviours: 'super',
  days: 0,
  merge: false,
};

type ModelKind = 'extractor' | 'din' | 'din-base';
const COMMON_DATA_RULES: Record<string, FieldRule> = { preset: { kind: 'string', oneOf: ['small', 'default'] }, world: { kind: 'object' } };
/** config.data per KEEP model kind (also the published JSON Schema, schemas.ts). */
export const KEEP_DATA_RULES: Record<ModelKind, Record<string, FieldRule>> = {
  extractor: {
    ...COMMON_DATA_RULES,
    domain: { kind: 'string', oneOf: ['super', 'sub'] },
    behaviours: { kind: 'string', oneOf: ['super', 'sub'] },
    days: { kind: 'int', min: 0 },
  },
  din: { ...COMMON_DATA_RULES, knowledge: { kind: 'object' } },
  'din-base': { ...COMMON_DATA_RULES, merge: { kind: 'bool' }, days: { kind: 'int', min: 0 } },
};

/** config.data of a KEEP model, defaults filled; ConfigErrors name `config.data.<key>`. */
export function keepDataConfig(data: Readonly<Section>, where: string, kind: ModelKind = 'extractor'): KeepDataConfig {
  return checkSection<KeepDataConfig>(
    data,
    KEEP_DATA_RULES[kind] as { [K in keyof KeepDataConfig]: FieldRule },
    { ...KEEP_DATA_DEFAULTS },
    'config.data',
    where,
  );
}

const worlds = new Map<string, KeepWorld>();

/** The world of a data config (generated once per process); bad world fields are ConfigErrors naming config.data.world. */
export function keepWorldOf(d: KeepDataConfig, where: string): KeepWorld {
  let cfg: KeepWorldConfig;
  try {
    cfg = resolveKeepWorldConfig({ ...(d.preset === 'small' ? SMALL_KEEP_WORLD_CONFIG : {}), ...(d.world as Partial<KeepWorldConfig>) });
  } catch (e) {
    if (e instanceof KeepWorldConfigError) throw new ConfigError([`${where}: config.data.world: ${e.message}`]);
    throw e;
  }
  const key = JSON.stringify(cfg);
  let w = worlds.get(key);
  if (!w) {
    w = generateKeepWorld(cfg);
    worlds.set(key, w);
  }
  return w;
}

const vocab = (w: KeepWorld) => ({ users: w.config.users, items: w.config.items, shops: w.config.shops, categories: w.config.categories });

/** Wrap a spec config error as a ConfigError on config.model. */
function specConfig<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([`${where}: config.model: ${(e as Error).message}`]);
  }
}

// ---------------------------------------------------------------- extractors

/** config.model of the extractors: spec's tables less the world's vocabularies (and `target`, which the model name fixes). */
export const EXTRACTOR_RULES = withoutKeys(KEEP_RULES, [...KEEP_DATA_KEYS, 'target']);
export const TWO_TOWER_RULES = withoutKeys(KEEP_TWO_TOWER_RULES, KEEP_DATA_KEYS);

function stripVocab<T extends Section>(c: T): Section {
  const { users: _u, items: _i, shops: _s, categories: _c, target: _t, ...rest } = c;
  return rest;
}

/** The extractor's spec config from config.model and the world's vocabularies. */
export function keepExtractorConfig(target: 'item' | 'category', model: Readonly<Section>, world: KeepWorld, where: string): KeepConfig {
  const arch = checkSection<Section>(model, EXTRACTOR_RULES, stripVocab(KEEP_DEFAULTS as unknown as Section), 'config.model', where);
  return specConfig(where, () => keepConfig({ ...(arch as Partial<KeepConfig>), ...vocab(world), target }));
}
export function keepTwoTowerTrainConfig(model: Readonly<Section>, world: KeepWorld, where: string): KeepTwoTowerConfig {
  const arch = checkSection<Section>(
    model,
    TWO_TOWER_RULES,
    stripVocab(KEEP_TWO_TOWER_DEFAULTS as unknown as Section),
    'config.model',
    where,
  );
  return specConfig(where, () => keepTwoTowerConfig({ ...(arch as Partial<KeepTwoTowerConfig>), ...vocab(world) }));
}

/** The graph with an extra output `prob` = `from` (the trainer scores `prob`). */
function withProb<S extends FeatureSchema>(g: Graph<S, string>, from: string): Graph<S, string> {
  const outputs = g.outputs as Record<string, string>;
  return { ...g, outputs: { ...outputs, prob: outputs[from]! } };
}

function extractorSplit(d: KeepDataConfig, w: KeepWorld, split: 'train' | 'eval'): Int32Array {
  return keepSplit(w, d.domain, split, d.domain === 'super' && split === 'train' ? { days: d.days } : {});
}

function registerExtractor(name: 'keep' | 'keep-degenerate' | 'keep-two-tower'): void {
  const build = (model: Readonly<Section>, where: string, data: Readonly<Section>) => {
    const d = keepDataConfig(data, where);
    const w = keepWorldOf(d, where);
    if (name === 'keep-two-tower') {
      const cfg = keepTwoTowerTrainConfig(model, w, where);
      return {
        d,
        w,
        graph: specConfig(where, () => buildKeepTwoTowerTrain(cfg)) as Graph<FeatureSchema, string>,
        schema: keepTwoTowerSchema(cfg, 'train'),
      };
    }
    const cfg = keepExtractorConfig(name === 'keep' ? 'item' : 'category', model, w, where);
    return {
      d,
      w,
      graph: withProb(specConfig(where, () => buildKeepTrain(cfg)) as Graph<FeatureSchema, string>, 'probClick'),
      schema: keepSchema(cfg, 'train'),
    };
  };
  const what = {
    keep: 'the KEEP extraction model (DIN + click, conversion, cart towers; prob = click)',
    'keep-degenerate': 'the degenerate KEEP extractor (category as the target: gives K̂_uc; prob = click)',
    'keep-two-tower': 'the decomposed KEEP extractor (user and item towers: K̂_u, K̂_i)',
  }[name];
  registerTrainModel<FeatureSchema>(name, {
    description: `${what}, on the KEEP world's super-domain (config.data.domain 'sub': co-trained on the sub-domain)`,
    buildTrain: async (model, where, data) => build(model, where, data).graph,
    source(req): SampleSource<FeatureSchema> {
      const { d, w, schema } = build(req.model, req.where, req.data);
      return createKeepSource(w, extractorSplit(d, w, req.split), schema, {
        name: `${name} ${req.split} source`,
        behaviours: d.behaviours,
      });
    },
  });
}

// ---------------------------------------------------------------- downstream DIN

const KEEP_DIN_DEFAULTS = { ...stripDinVocab(DIN_DEFAULTS), sequences: ['target'] };
function stripDinVocab(c: DinConfig): Section {
  const { users: _u, targetItems: _t, sourceItems: _s, categories: _c, profile: _p, knowledge: _k, ...rest } = c;
  return rest;
}
/** config.model.knowledge of keep-din (its `dim` comes from the data) */
export const PLUGIN_RULES: Record<string, FieldRule> = { layer: { kind: 'int', min: 1 }, hidden: { kind: 'int', min: 1 } };

function dinConfig(model: Readonly<Section>, w: KeepWorld, where: string, knowledgeDim: number | undefined): DinConfig {
  const rules = knowledgeDim === undefined ? DIN_MODEL_RULES : { ...DIN_MODEL_RULES, knowledge: { kind: 'object' } as FieldRule };
  const arch = checkSection<Section>(model, rules, { ...KEEP_DIN_DEFAULTS }, 'config.model', where);
  const sizes = { users: 0, targetItems: w.config.items, sourceItems: w.config.items, categories: w.config.categories, profile: [] };
  if (knowledgeDim !== undefined) {
    const k = checkSection<Section>(
      (model['knowledge'] ?? {}) as Section,
      PLUGIN_RULES,
      { layer: 1, hidden: 128 },
      'config.model.knowledge',
      where,
    );
    arch['knowledge'] = { ...k, dim: knowledgeDim };
  }
  return { ...arch, ...sizes } as unknown as DinConfig;
}

/** The rules of config.data.knowledge for a knowledge kind (an unknown kind: those of 'keep', so the kind's own error shows). */
export function knowledgeRules(kind: KeepKnowledgeKind): Record<string, FieldRule> {
  return {
    checkpoint: { kind: 'text' },
    kind: { kind: 'string', oneOf: ['keep', 'served'] },
    parts: { kind: 'strings', oneOf: (KEEP_KNOWLEDGE_PARTS[kind] ?? KEEP_KNOWLEDGE_PARTS.keep) as unknown as string[] },
    ...(kind === 'served' ? { userCategoryCheckpoint: { kind: 'text' } as FieldRule } : {}),
  };
}

/** config.data.knowledge of keep-din, checked: ConfigErrors name `config.data.knowledge.<key>`. */
export function keepKnowledgeSpec(d: KeepDataConfig, where: string): KeepKnowledgeSpec {
  if (d.knowledge === undefined) {
    throw new ConfigError([
      `${where}: config.data.knowledge: missing (expected an object { checkpoint, kind }: keep-din reads its knowledge from a trained ` +
        `extractor)`,
    ]);
  }
  const k = d.knowledge;
  const kind = (typeof k['kind'] === 'string' ? k['kind'] : 'keep') as KeepKnowledgeKind;
  const s = checkSection<KeepKnowledgeSpec>(
    k,
    knowledgeRules(kind) as { [K in keyof KeepKnowledgeSpec]: FieldRule },
    { kind: 'keep' } as KeepKnowledgeSpec,
    'config.data.knowledge',
    where,
  );
  const missing = ['checkpoint', ...(s.kind === 'served' ? ['userCategoryCheckpoint'] : [])].filter((f) => !(f in k));
  if (missing.length) {
    throw new ConfigError(
      missing.map(
        (f) =>
          `${where}: config.data.knowledge.${f}: missing (expected a string: a checkpoint directory or a training output ` +
          `directory${f === 'userCategoryCheckpoint' ? " of 'keep-degenerate'" : s.kind === 'served' ? " of 'keep-two-tower'" : " of 'keep'"})`,
      ),
    );
  }
  return s;
}

/** A checkpoint directory, or the latest checkpoint of a training output directory. */
export function resolveCheckpointDir(path: string): string | undefined {
  const p = resolve(path);
  if (existsSync(join(p, 'state.json'))) return p;
  try {
    return latestCheckpointDir(p);
  } catch {
    return undefined;
  }
}

export function loadKeepCheckpoint(path: string, field: string, where: string): Checkpoint {
  const dir = resolveCheckpointDir(path);
  if (!dir)
    throw new ConfigError([
      `${where}: ${field}: no checkpoint at ${JSON.stringify(path)} (expected a checkpoint directory or a training output directory with ` +
        `checkpoints/latest)`,
    ]);
  try {
    return readCheckpoint(dir);
  } catch (e) {
    if (e instanceof CheckpointError) throw new ConfigError([`${where}: ${field}: ${e.message}`]);
    throw e;
  }
}

/** The extractor config a checkpoint was trained with, checked against the expected model and the world's vocabularies. */
function checkpointConfig<T extends Section>(
  ck: Checkpoint,
  want: { model: string; target?: 'item' | 'category'; trainer: string },
  w: KeepWorld,
  field: string,
  where: string,
): T {
  const meta = ck.graph.meta as { model?: unknown; config?: Section };
  const cfg = meta.config ?? {};
  const got = meta.model === 'keep' ? (cfg['target'] === 'category' ? 'keep-degenerate' : 'keep') : String(meta.model);
  if (got !== want.trainer)
    throw new ConfigError([`${where}: ${field}: ${ck.dir} holds a '${got}' model, expected a '${want.trainer}' checkpoint`]);
  const v = vocab(w);
  const diff = (Object.keys(v) as Array<keyof typeof v>).filter((k) => cfg[k] !== v[k]);
  if (diff.length) {
    throw new ConfigError([
      `${where}: ${field}: ${ck.dir} was trained on other vocabularies ` +
        `(${diff.map((k) => `${k} ${String(cfg[k])}, this world ${v[k]}`).join('; ')}): train the extractor on the same world`,
    ]);
  }
  return cfg as T;
}

/** Whose clicks an extractor checkpoint was trained with as behaviours (its config.data.behaviours; default 'super'). */
export function checkpointBehaviours(ck: Checkpoint): 'super' | 'sub' {
  return (ck.state.config.data as Section)['behaviours'] === 'sub' ? 'sub' : 'super';
}

/** What a keep-din source needs to compute its knowledge: its width, and a function of the samples' events. */
export interface KeepKnowledgePlan {
  readonly dim: number;
  /** knowledge rows [events.length, dim] of these impressions (needs an initialised tfjs backend) */
  rows(world: KeepWorld, events: Int32Array): Float32Array;
}

/** Run `output` of a model over a KEEP source in batches: [size, width] rows. */
function runRows(model: TfjsModel, src: SampleSource, output: string, width: number, batchSize = 1024): Float32Array {
  const out = new Float32Array(src.size * width);
  for (let s = 0; s < src.size; s += batchSize) {
    const n = Math.min(batchSize, src.size - s);
    const res = model.run(src.batch(Int32Array.from({ length: n }, (_, i) => s + i)))[output]!;
    if (res.data.length !== n * width)
      throw new Error(`keep knowledge: output '${output}' gave ${res.data.length} values for ${n} rows of width ${width}`);
    out.set(res.data as Float32Array, s * width);
  }
  return out;
}

function selectColumns(rows: Float32Array, width: number, ranges: ReadonlyArray<readonly [number, number]>): Float32Array {
  const dim = ranges.reduce((s, [, d]) => s + d, 0);
  if (ranges.length === 1 && ranges[0]![0] === 0 && dim === width) return rows;
  const n = rows.length / width,
    out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let o = r * dim;
    for (const [off, d] of ranges) {
      out.set(rows.subarray(r * width + off, r * width + off + d), o);
      o += d;
    }
  }
  return out;
}

function withModel<T>(g: Graph, ck: Checkpoint, f: (m: TfjsModel) => T): T {
  const m = compileTfjs(g, { weights: weightsFor(g, ck.weights) });
  try {
    return f(m);
  } finally {
    m.dispose();
  }
}

/** Read and check the checkpoint(s) of a knowledge spec (eagerly: ConfigErrors at once). */
export function keepKnowledgePlan(spec: KeepKnowledgeSpec, w: KeepWorld, where: string): KeepKnowledgePlan {
  const field = 'config.data.knowledge.checkpoint';
  const ck = loadKeepCheckpoint(spec.checkpoint, field, where);
  if (spec.kind === 'keep') {
    const cfg = keepConfig(checkpointConfig<Partial<KeepConfig>>(ck, { model: 'keep', trainer: 'keep' }, w, field, where));
    const layout = keepKnowledgeLayout(cfg);
    const width = layout[layout.length - 1]!.offset + layout[layout.length - 1]!.dim;
    const parts = spec.parts ?? [...KEEP_KNOWLEDGE_PARTS.keep];
    const ranges = layout.filter((p) => parts.includes(p.name)).map((p) => [p.offset, p.dim] as const);
    return {
      dim: ranges.reduce((s, [, d]) => s + d, 0),
      rows(world, events) {
        const g = buildKeepKnowledge(cfg);
        const src = createKeepSource(world, events, keepSchema(cfg, 'serve'), { behaviours: checkpointBehaviours(ck) });
        const full = withModel(g, ck, (m) => runRows(m, src, 'knowledge', width));
        return selectColumns(full, width, ranges);
      },
    };
  }
  const ucField = 'config.data.knowledge.userCategoryCheckpoint';
  const tt = keepTwoTowerConfig(
    checkpointConfig<Partial<KeepTwoTowerConfig>>(ck, { model: 'keep-two-tower', trainer: 'keep-two-tower' }, w, field, where),
  );
  const uck = loadKeepCheckpoint(spec.userCategoryCheckpoint!, ucField, where);
  const deg = keepConfig(checkpointConfig<Partial<KeepConfig>>(uck, { model: 'keep', trainer: 'keep-degenerate' }, w, ucField, where));
  const d = tt.userTower[tt.userTower.length - 1]!,
    duc = deg.tower[deg.tower.length - 2]!;
  const width = 3 * d + duc;
  const offsets = { user: [0, d], item: [d, d], userItem: [2 * d, d], userCategory: [3 * d, duc] } as const;
  const parts = spec.parts ?? [...KEEP_KNOWLEDGE_PARTS.served];
  const ranges = KEEP_KNOWLEDGE_PARTS.served.filter((p) => parts.includes(p)).map((p) => offsets[p]);
  return {
    dim: ranges.reduce((s, [, x]) => s + x, 0),
    rows(world, events) {
      const ug = buildKeepUserTable(tt),
        ig = buildKeepItemTable(tt),
        cg = buildKeepUserCategoryTable(deg);
      const uk = withModel(ug, ck, (m) =>
        runRows(m, createKeepSource(world, events, schemaOf(ug), { behaviours: checkpointBehaviours(ck) }), 'userKnowledge', d),
      );
      const ik = withModel(ig, ck, (m) => runRows(m, createKeepSource(world, events, schemaOf(ig)), 'itemKnowledge', d));
      const ck2 = withModel(cg, uck, (m) =>
        runRows(m, createKeepSource(world, events, schemaOf(cg), { behaviours: checkpointBehaviours(uck) }), 'userCategoryKnowledge', duc),
      );
      const full = assembleServed(uk, ik, ck2, events.length, d, duc);
      return selectColumns(full, width, ranges);
    },
  };
}

/** [K̂_u ‖ K̂_i ‖ K̂_u ⊙ K̂_i ‖ K̂_uc] rows by the served-knowledge graph (no parameters). */
export function assembleServed(
  userK: Float32Array,
  itemK: Float32Array,
  userCategoryK: Float32Array,
  n: number,
  dim: number,
  userCategoryDim: number,
): Float32Array {
  const g = buildKeepServedKnowledge({ dim, userCategoryDim });
  const m = compileTfjs(g, { weights: new Map() });
  try {
    const out = new Float32Array(n * (3 * dim + userCategoryDim));
    const step = 4096;
    for (let s = 0; s < n; s += step) {
      const B = Math.min(step, n - s);
      const res = m.run({
        userKnowledge: { dtype: 'float32', shape: [B, dim], data: userK.subarray(s * dim, (s + B) * dim) },
        itemKnowledge: { dtype: 'float32', shape: [B, dim], data: itemK.subarray(s * dim, (s + B) * dim) },
        userCategoryKnowledge: {
          dtype: 'float32',
          shape: [B, userCategoryDim],
          data: userCategoryK.subarray(s * userCategoryDim, (s + B) * userCategoryDim),
        },
      } as never) as Record<string, HostTensor>;
      out.set(res['knowledge']!.data as Float32Array, s * (3 * dim + userCategoryDim));
    }
    return out;
  } finally {
    m.dispose();
  }
}

function registerDin(name: 'keep-din' | 'keep-din-base'): void {
  const kind: ModelKind = name === 'keep-din' ? 'din' : 'din-base';
  const resolveAll = (model: Readonly<Section>, where: string, data: Readonly<Section>) => {
    const d = keepDataConfig(data, where, kind);
    const w = keepWorldOf(d, where);
    const plan = kind === 'din' ? keepKnowledgePlan(keepKnowledgeSpec(d, where), w, where) : undefined;
    const cfg = dinConfig(model, w, where, plan?.dim);
    const graph = specConfig(where, () => buildDinTrain(cfg)) as Graph<FeatureSchema, string>;
    return { d, w, plan, graph };
  };
  registerTrainModel<FeatureSchema>(name, {
    description:
      name === 'keep-din'
        ? "DIN on the KEEP world's sub-domain with the KEEP plug-in; knowledge from the extractor checkpoint(s) in config.data.knowledge"
        : "DIN on the KEEP world's sub-domain without knowledge (Base; config.data.merge: Sample Merging with the super-domain)",
    buildTrain: async (model, where, data) => resolveAll(model, where, data).graph,
    source(req): SampleSource<FeatureSchema> {
      const { d, w, plan, graph } = resolveAll(req.model, req.where, req.data);
      const schema = schemaOf(graph);
      const events = keepSplit(w, 'sub', req.split);
      const label = `${name} ${req.split} source`;
      if (plan) {
        let table: Float32Array | undefined;
        const of = (positions: Int32Array): Float32Array => {
          table ??= plan.rows(w, events);
          const out = new Float32Array(positions.length * plan.dim);
          positions.forEach((p, r) => out.set(table!.subarray(p * plan.dim, (p + 1) * plan.dim), r * plan.dim));
          return out;
        };
        return createKeepSource(w, events, schema, { name: label, knowledge: { dim: plan.dim, of } });
      }
      const sub = createKeepSource(w, events, schema, { name: label });
      if (req.split === 'eval' || !d.merge) return sub;
      return concatKeepSources(
        sub,
        createKeepSource(w, keepSplit(w, 'super', 'train', { days: d.days }), schema, { name: `${label} (merged super-domain)` }),
      );
    },
  });
}

registerExtractor('keep');
registerExtractor('keep-degenerate');
registerExtractor('keep-two-tower');
registerDin('keep-din');
registerDin('keep-din-base');

// ---------------------------------------------------------------- knowledge tables (for the General Knowledge Center)

export const KEEP_TABLES_FORMAT = 'lctr-keep-knowledge';

export interface KeepKnowledgeTables {
  /** user ids [nu] and K̂_u rows [nu, du] */
  readonly user: { readonly keys: Int32Array; readonly values: Float32Array; readonly dim: number };
  /** item ids [ni] and K̂_i rows [ni, di] */
  readonly item: { readonly keys: Int32Array; readonly values: Float32Array; readonly dim: number };
  /** (user, category) pairs [nuc, 2] and K̂_uc rows [nuc, duc] */
  readonly userCategory: { readonly keys: Int32Array; readonly values: Float32Array; readonly dim: number };
}

/**
 * Run the table graphs of a trained two-tower checkpoint (K̂_u, K̂_i) and a degenerate checkpoint
 * (K̂_uc) over every user, item and (user, category) pair seen in the world's impressions (both
 * domains), keys ascending. User-side rows read each user's last L clicks before `time` (default: after
 * the last event, i.e. every click) of the domain the checkpoint's behaviours came from (super by default). Needs an initialised tfjs
 * backend.
 */
export function keepKnowledgeTables(
  world: KeepWorld,
  twoTower: Checkpoint,
  degenerate: Checkpoint,
  opts: { time?: number; where?: string } = {},
): KeepKnowledgeTables {
  const where = opts.where ?? 'export-tables';
  const tt = keepTwoTowerConfig(
    checkpointConfig<Partial<KeepTwoTowerConfig>>(
      twoTower,
      { model: 'keep-two-tower', trainer: 'keep-two-tower' },
      world,
      'two-tower checkpoint',
      where,
    ),
  );
  const deg = keepConfig(
    checkpointConfig<Partial<KeepConfig>>(degenerate, { model: 'keep', trainer: 'keep-degenerate' }, world, 'degenerate checkpoint', where),
  );
  const time = opts.time ?? Infinity;
  const e = world.events;
  const users = new Set<number>(),
    items = new Set<number>(),
    pairs = new Set<number>();
  const C = world.config.categories;
  for (let i = 0; i < world.size; i++) {
    users.add(e.user[i]!);
    items.add(e.item[i]!);
    pairs.add(e.user[i]! * C + world.itemCategory[e.item[i]!]!);
  }
  const sorted = (s: Set<number>) => Int32Array.from([...s].sort((a, b) => a - b));
  const userKeys = sorted(users),
    itemKeys = sorted(items),
    pairCodes = sorted(pairs);
  const d = tt.userTower[tt.userTower.length - 1]!,
    di = tt.itemTower[tt.itemTower.length - 1]!,
    duc = deg.tower[deg.tower.length - 2]!;

  const behaviours = (u: Int32Array, L: number, ck: Checkpoint) => {
    const s = keepClickSequences(world, checkpointBehaviours(ck), u, new Float64Array(u.length).fill(time), L);
    const B = u.length;
    return {
      behaviourItem: { dtype: 'int32', shape: [B, L], data: s.item },
      behaviourShop: { dtype: 'int32', shape: [B, L], data: s.shop },
      behaviourCategory: { dtype: 'int32', shape: [B, L], data: s.category },
      behaviourMask: { dtype: 'bool', shape: [B, L], data: s.mask },
    } as const;
  };
  const runBatched = (
    g: Graph,
    ck: Checkpoint,
    n: number,
    width: number,
    output: string,
    feeds: (s: number, e: number) => Record<string, HostTensor>,
  ) =>
    withModel(g, ck, (m) => {
      const out = new Float32Array(n * width);
      for (let s = 0; s < n; s += 1024) {
        const end = Math.min(n, s + 1024);
        out.set(m.run(feeds(s, end) as never)[output]!.data as Float32Array, s * width);
      }
      return out;
    });
  const i32 = (a: Int32Array): HostTensor => ({ dtype: 'int32', shape: [a.length], data: a });

  const userValues = runBatched(buildKeepUserTable(tt), twoTower, userKeys.length, d, 'userKnowledge', (s, end) => {
    const u = userKeys.slice(s, end);
    return { user: i32(u), ...behaviours(u, tt.seqLen, twoTower) } as Record<string, HostTensor>;
  });
  const itemValues = runBatched(buildKeepItemTable(tt), twoTower, itemKeys.length, di, 'itemKnowledge', (s, end) => {
    const it = itemKeys.slice(s, end);
    return { item: i32(it), shop: i32(it.map((x) => world.itemShop[x]!)), category: i32(it.map((x) => world.itemCategory[x]!)) };
  });
  const ucKeys = new Int32Array(pairCodes.length * 2);
  pairCodes.forEach((code, r) => {
    ucKeys[2 * r] = Math.floor(code / C);
    ucKeys[2 * r + 1] = code % C;
  });
  const ucValues = runBatched(buildKeepUserCategoryTable(deg), degenerate, pairCodes.length, duc, 'userCategoryKnowledge', (s, end) => {
    const u = pairCodes.slice(s, end).map((c) => Math.floor(c / C)),
      c = pairCodes.slice(s, end).map((x) => x % C);
    const b = behaviours(u, deg.seqLen, degenerate);
    return { user: i32(u), category: i32(c), behaviourCategory: b.behaviourCategory, behaviourMask: b.behaviourMask } as Record<
      string,
      HostTensor
    >;
  });
  return {
    user: { keys: userKeys, values: userValues, dim: d },
    item: { keys: itemKeys, values: itemValues, dim: di },
    userCategory: { keys: ucKeys, values: ucValues, dim: duc },
  };
}

/**
 * The knowledge-table file (safetensors): user.keys int32 [nu], user.values float32 [nu, du], item.*, userCategory.keys int32 [nuc, 2],
 * userCategory.values.
 */
export function encodeKnowledgeTables(t: KeepKnowledgeTables, metadata: Record<string, string> = {}): Uint8Array {
  const m = new Map<string, HostTensor>([
    ['user.keys', { dtype: 'int32', shape: [t.user.keys.length], data: t.user.keys }],
    ['user.values', { dtype: 'float32', shape: [t.user.keys.length, t.user.dim], data: t.user.values }],
    ['item.keys', { dtype: 'int32', shape: [t.item.keys.length], data: t.item.keys }],
    ['item.values', { dtype: 'float32', shape: [t.item.keys.length, t.item.dim], data: t.item.values }],
    ['userCategory.keys', { dtype: 'int32', shape: [t.userCategory.keys.length / 2, 2], data: t.userCategory.keys }],
    ['userCategory.values', { dtype: 'float32', shape: [t.userCategory.keys.length / 2, t.userCategory.dim], data: t.userCategory.values }],
  ]);
  return encodeSafetensors(m, { format: KEEP_TABLES_FORMAT, ...metadata });
}

/** Write the knowledge-table file atomically. */
export function writeKnowledgeTables(path: string, t: KeepKnowledgeTables, metadata: Record<string, string> = {}): void {
  atomicWriteFile(path, encodeKnowledgeTables(t, metadata));
}
