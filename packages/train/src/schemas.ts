/**
 * The published JSON Schema of each kind of training config (packages/train/schemas/<kind>.schema.json),
 * generated from the same FieldRule tables that check the configs (config.ts for the top level, the
 * recipes for `model` and `data`, spec's model tables under them), so editors complete and flag
 * the keys the trainer reads. A kind covers several models (the lifelong family, DIN and
 * AvgPooling, ...): its `model` and `data` sections are the union of its models' keys, so the
 * schema lets through a key one model of the kind does not read (AvgPooling's `attention`), and
 * cross-field rules (exactly one of epochs and steps, crp.lambda > 0 needs both sequences) stay
 * with the trainer. A test keeps the committed files equal to these (test/schemas.test.ts).
 *
 * Regenerate after changing a table: `npx tsx packages/train/src/schemas.ts` (writes the files).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type FieldRule,
  EXIT_CODES,
  asStorageError,
  atomicWriteFile,
  CRP_RULES,
  CRP_WEIGHT_RULES,
  IFA_SECTION_RULES,
  LIFELONG_SECTION_RULES,
  rulesToJsonSchema,
} from '@lctr/spec';
import { ADAM_RULES, REQUIRED_TOP, SCHEDULE_RULES, TOP_RULES, VALIDATION_RULES } from './config.ts';
import { DEMO_DATA_RULES, DEMO_MODEL_RULES } from './models.ts';
import { DATA_RULES, DIN_MODEL_RULES } from './baselines.ts';
import { LIFELONG_MODEL_RULES } from './lifelong.ts';
import { IFA_MODEL_RULES, REQUEST_DATA_RULES, REQUEST_RULES } from './requests.ts';
import { EXTRACTOR_RULES, KEEP_DATA_RULES, KEEP_KNOWLEDGE_PARTS, PLUGIN_RULES, TWO_TOWER_RULES, knowledgeRules } from './keep.ts';

type Schema = Record<string, unknown>;

/** Each kind: the models (--model) it covers and the config files (in packages/train/configs) it describes. */
export const TRAIN_CONFIG_KINDS = {
  baseline: { models: ['avgpool', 'din'], files: ['avgpool-*.json', 'din-*.json'] },
  lifelong: { models: ['lcn', 'sim-soft', 'sim-hard', 'twin'], files: ['lcn-*.json', 'sim-soft-*.json', 'sim-hard-*.json', 'twin-*.json'] },
  ifa: { models: ['ifa', 'ifa-avgpool', 'ifa-full-attention', 'ifa-sim-soft', 'ifa-sim-hard', 'ifa-twin'], files: ['ifa-*.json'] },
  keep: { models: ['keep', 'keep-degenerate', 'keep-two-tower', 'keep-din', 'keep-din-base'], files: ['keep-*.json'] },
  demo: { models: ['demo'], files: ['demo.json', 'demo-*.json'] },
} as const;
export type TrainConfigKind = keyof typeof TRAIN_CONFIG_KINDS;

/** The union of rule tables; a key two tables declare differently is an error (the schema could not say which). */
function unionRules(...tables: ReadonlyArray<Readonly<Record<string, FieldRule>>>): Record<string, FieldRule> {
  const out: Record<string, FieldRule> = {};
  for (const t of tables) {
    for (const [k, r] of Object.entries(t)) {
      if (k in out && JSON.stringify(out[k]) !== JSON.stringify(r))
        throw new Error(`unionRules: key '${k}' has two rules, ${JSON.stringify(out[k])} and ${JSON.stringify(r)}`);
      out[k] = r;
    }
  }
  return out;
}

const sections = (tables: Readonly<Record<string, Readonly<Record<string, FieldRule>>>>): Record<string, Schema> =>
  Object.fromEntries(Object.entries(tables).map(([k, t]) => [k, rulesToJsonSchema(t)]));

function modelAndData(kind: TrainConfigKind): { model: Schema; data: Schema } {
  switch (kind) {
    case 'baseline':
      return {
        model: rulesToJsonSchema(DIN_MODEL_RULES, { descriptions: { attention: 'din only' } }),
        data: rulesToJsonSchema(DATA_RULES),
      };
    case 'lifelong':
      return {
        model: rulesToJsonSchema(LIFELONG_MODEL_RULES, {
          nested: {
            ...sections(LIFELONG_SECTION_RULES),
            crp: rulesToJsonSchema(CRP_RULES, { nested: { weights: rulesToJsonSchema(CRP_WEIGHT_RULES) } }),
          },
        }),
        data: rulesToJsonSchema(DATA_RULES),
      };
    case 'ifa':
      return {
        model: rulesToJsonSchema(IFA_MODEL_RULES, { nested: sections(IFA_SECTION_RULES) }),
        data: rulesToJsonSchema(REQUEST_DATA_RULES, { nested: { requests: rulesToJsonSchema(REQUEST_RULES) } }),
      };
    case 'keep': {
      const parts: FieldRule = { kind: 'strings', oneOf: [...new Set([...KEEP_KNOWLEDGE_PARTS.keep, ...KEEP_KNOWLEDGE_PARTS.served])] };
      const knowledge = rulesToJsonSchema(
        { ...knowledgeRules('served'), parts },
        {
          required: ['checkpoint'],
          descriptions: {
            parts: `kind "keep": ${KEEP_KNOWLEDGE_PARTS.keep.join(', ')}; kind "served": ${KEEP_KNOWLEDGE_PARTS.served.join(', ')}`,
            userCategoryCheckpoint: 'kind "served" only',
          },
        },
      );
      return {
        model: rulesToJsonSchema(unionRules(EXTRACTOR_RULES, TWO_TOWER_RULES, DIN_MODEL_RULES, { knowledge: { kind: 'object' } }), {
          nested: { knowledge: { ...rulesToJsonSchema(PLUGIN_RULES), description: 'keep-din only' } },
        }),
        data: rulesToJsonSchema(unionRules(KEEP_DATA_RULES.extractor, KEEP_DATA_RULES.din, KEEP_DATA_RULES['din-base']), {
          // the world's fields are checked by @lctr/data (resolveKeepWorldConfig), not by a rule table
          nested: {
            knowledge,
            world: { type: 'object', description: 'KeepWorldConfig fields (@lctr/data synthetic/keep.ts), seed included' },
          },
        }),
      };
    }
    case 'demo':
      return { model: rulesToJsonSchema(DEMO_MODEL_RULES), data: rulesToJsonSchema(DEMO_DATA_RULES) };
  }
}

/** The JSON Schema (draft 2020-12) of one kind of training config. */
export function trainConfigJsonSchema(kind: TrainConfigKind): Schema {
  const { model, data } = modelAndData(kind);
  const top = rulesToJsonSchema(TOP_RULES, {
    required: REQUIRED_TOP,
    nested: {
      optimizer: rulesToJsonSchema({ name: { kind: 'string', oneOf: ['adam'] }, ...ADAM_RULES }, { required: ['name', 'lr'] }),
      evalEvery: { anyOf: [{ type: 'integer', minimum: 0 }, { enum: ['epoch'] }] },
      model,
      data,
      validation: rulesToJsonSchema(VALIDATION_RULES, { required: ['fraction'] }),
      lrSchedule: rulesToJsonSchema(SCHEDULE_RULES),
    },
  });
  const properties = {
    $schema: { type: 'string', minLength: 1, description: 'this schema (ignored by the trainer)' },
    ...(top.properties as Schema),
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `lctr training config: ${kind} (--model ${TRAIN_CONFIG_KINDS[kind].models.join(' | ')})`,
    ...top,
    properties,
  };
}

/** `.vscode/settings.json`'s `json.schemas`: the training configs by file name, and the dataset configs. */
export function vscodeJsonSchemas(): Array<{ fileMatch: string[]; url: string }> {
  return [
    ...(Object.keys(TRAIN_CONFIG_KINDS) as TrainConfigKind[]).map((kind) => ({
      fileMatch: TRAIN_CONFIG_KINDS[kind].files.map((f) => `/packages/train/configs/${f}`),
      url: `./packages/train/schemas/${kind}.schema.json`,
    })),
    { fileMatch: ['/datasets/*.json'], url: './packages/data/dataset.schema.json' },
  ];
}

/** Write every kind's schema to `dir` (default packages/train/schemas). */
export function writeTrainConfigSchemas(dir = resolve(import.meta.dirname, '../schemas')): string[] {
  mkdirSync(dir, { recursive: true });
  return (Object.keys(TRAIN_CONFIG_KINDS) as TrainConfigKind[]).map((kind) => {
    const path = join(dir, `${kind}.schema.json`);
    atomicWriteFile(path, `${JSON.stringify(trainConfigJsonSchema(kind), null, 2)}\n`);
    return path;
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    for (const p of writeTrainConfigSchemas()) console.log(`wrote ${p}`);
  } catch (e) {
    const storage = asStorageError(e, 'write', resolve(import.meta.dirname, '../schemas'));
    if (!storage) throw e;
    console.error(`schemas: ${storage.message}`);
    process.exitCode = EXIT_CODES.storage;
  }
}
