/**
 * The published JSON Schemas of the training configs: equal to the generated ones, every shipped config fits its kind's, "$schema" is
 * ignored.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BASELINE_RULES, CRP_RULES, DIN_RULES, IFA_RULES, KEEP_RULES, LIFELONG_RULES, checkSection, jsonSchemaProblems } from '@lctr/spec';
import { ConfigError, parseTrainConfig } from '../src/config.ts';
import { TRAIN_CONFIG_KINDS, type TrainConfigKind, trainConfigJsonSchema, vscodeJsonSchemas } from '../src/schemas.ts';
import { ARCH_RULES, DIN_MODEL_RULES } from '../src/baselines.ts';
import { LIFELONG_MODEL_RULES } from '../src/lifelong.ts';
import { IFA_MODEL_RULES } from '../src/requests.ts';
import { EXTRACTOR_RULES } from '../src/keep.ts';
import { trainModelNames } from '../src/models.ts';

const ROOT = join(import.meta.dirname, '../../..');
const CONFIGS = join(import.meta.dirname, '../configs');
const SCHEMAS = join(import.meta.dirname, '../schemas');
const KINDS = Object.keys(TRAIN_CONFIG_KINDS) as TrainConfigKind[];
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
/** `*` of a fileMatch pattern (the only wildcard the patterns use) */
const matches = (pattern: string, name: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`).test(name);
const kindOf = (file: string): TrainConfigKind[] => KINDS.filter((k) => TRAIN_CONFIG_KINDS[k].files.some((p) => matches(p, file)));

describe('published training-config schemas', () => {
  it('the committed files are the generated ones, one per kind and nothing else', () => {
    expect(readdirSync(SCHEMAS).sort()).toEqual(KINDS.map((k) => `${k}.schema.json`).sort());
    for (const kind of KINDS) expect(readJson(join(SCHEMAS, `${kind}.schema.json`)), kind).toEqual(trainConfigJsonSchema(kind));
  });

  it('the kinds cover every registered model once', () => {
    const covered = KINDS.flatMap((k) => [...TRAIN_CONFIG_KINDS[k].models]);
    expect([...covered].sort()).toEqual([...trainModelNames()].sort());
  });

  it('every shipped config belongs to exactly one kind and fits its schema', () => {
    const files = readdirSync(CONFIGS).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      expect(kindOf(file), file).toHaveLength(1);
      expect(jsonSchemaProblems(trainConfigJsonSchema(kindOf(file)[0]!), readJson(join(CONFIGS, file))), file).toEqual([]);
    }
  });

  it('an unknown key, a wrong type or an out-of-range value fails the schema, naming the path', () => {
    const lcn = readJson(join(CONFIGS, 'lcn-synthetic.json'));
    const model = lcn.model as Record<string, unknown>;
    const schema = trainConfigJsonSchema('lifelong');
    expect(jsonSchemaProblems(schema, { ...lcn, extra: 1 })).toEqual([
      '$.extra: not allowed (additionalProperties false; expected one of $schema, optimizer, batchSize, epochs, steps, evalEvery, ' +
        'evalBatchSize, logEvery, seed, checkpointEvery, keep, model, data, shards, validation, lrSchedule, logClickLoss, summary)',
    ]);
    expect(jsonSchemaProblems(schema, { ...lcn, model: { ...model, lifelongLenn: 10 } })).toEqual([
      '$.model.lifelongLenn: not allowed (additionalProperties false; expected one of dim, categoryDim, seqLen, sourceSeqLen, sequences, ' +
        'hidden, l2, attention, lifelongLen, contextDim, lap, simSoft, simHard, twin, crp)',
    ]);
    expect(
      jsonSchemaProblems(schema, { ...lcn, model: { ...model, lap: { k3: 1 }, crp: { weights: { pt: -1 } } }, evalEvery: 'epochs' }),
    ).toEqual([
      '$.evalEvery: expected {"type":"integer","minimum":0} or {"enum":["epoch"]}, got "epochs" (a string)',
      '$.model.lap.k3: not allowed (additionalProperties false; expected one of k1, k2, attentionDim, heads, headDim, ffnDim, outDim, ' +
        'csaNormalize, msaNormalize, fsaPool)',
      '$.model.crp.weights.pt: expected >= 0, got -1',
    ]);
    const { optimizer: _o, ...noOptimizer } = lcn;
    expect(jsonSchemaProblems(schema, { ...noOptimizer, batchSize: 0 })).toEqual([
      '$.optimizer: missing (required)',
      '$.batchSize: expected >= 1, got 0',
    ]);
  });

  it('the trainer and the schema reject the same value (one table): keep-din knowledge, ifa requests', () => {
    const keepDin = readJson(join(CONFIGS, 'keep-din.json'));
    const data = keepDin.data as Record<string, unknown>;
    expect(
      jsonSchemaProblems(trainConfigJsonSchema('keep'), {
        ...keepDin,
        data: { ...data, knowledge: { checkpoint: 'x', parts: ['user', 'user'] } },
      }),
    ).toEqual(['$.data.knowledge.parts: expected distinct items, got ["user","user"] (an array)']);
    const ifa = readJson(join(CONFIGS, 'ifa-synthetic.json'));
    expect(
      jsonSchemaProblems(trainConfigJsonSchema('ifa'), { ...ifa, data: { ...(ifa.data as object), requests: { candidates: 0 } } }),
    ).toEqual(['$.data.requests.candidates: expected >= 1, got 0']);
  });
});

describe("one declaration per key: the recipes read spec's model tables", () => {
  it("a model section's rules are the very rule objects of spec's table, less the keys the data sets", () => {
    expect(LIFELONG_MODEL_RULES.lifelongLen).toBe(LIFELONG_RULES.lifelongLen);
    expect(LIFELONG_MODEL_RULES.hidden).toBe(BASELINE_RULES.hidden);
    expect(Object.keys(LIFELONG_MODEL_RULES)).not.toContain('module');
    expect(DIN_MODEL_RULES.attention).toBe(DIN_RULES.attention);
    expect(Object.keys(ARCH_RULES)).toEqual(['dim', 'categoryDim', 'seqLen', 'sourceSeqLen', 'sequences', 'hidden', 'l2']);
    expect(IFA_MODEL_RULES.kernel).toBe(IFA_RULES.kernel);
    expect(EXTRACTOR_RULES.tower).toBe(KEEP_RULES.tower);
    expect(trainConfigJsonSchema('lifelong')).toMatchObject({
      properties: { model: { properties: { crp: { properties: { temperature: { exclusiveMinimum: CRP_RULES.temperature.gt } } } } } },
    });
  });

  it('the trainer accepts what the model accepts: an MLP without hidden layers (hidden: [])', () => {
    // before, the recipes' own table asked for a non-empty array while spec's builders take []
    expect(checkSection({ hidden: [] }, DIN_MODEL_RULES, {}, 'config.model', 'd.json')).toEqual({ hidden: [] });
    expect(() => checkSection({ hidden: [0] }, DIN_MODEL_RULES, {}, 'config.model', 'd.json')).toThrow(
      new ConfigError(['d.json: config.model.hidden: expected an array of integers >= 1, got [0] (an array)']),
    );
  });
});

describe('"$schema" in a training config', () => {
  it('is ignored: every shipped config parses to the same config with it', () => {
    for (const file of readdirSync(CONFIGS).filter((f) => f.endsWith('.json'))) {
      const json = readJson(join(CONFIGS, file));
      const withSchema = { $schema: `../schemas/${kindOf(file)[0]}.schema.json`, ...json };
      const a = parseTrainConfig(json, file),
        b = parseTrainConfig(withSchema, file);
      expect(b, file).toEqual(a);
      // the config hashes (experiments' configHash, checkpoints) are taken over this object
      expect(JSON.stringify(b), file).toBe(JSON.stringify(a));
      expect(b, file).not.toHaveProperty('$schema');
    }
  });

  it('must be a string', () => {
    const json = { ...readJson(join(CONFIGS, 'demo.json')), $schema: 3 };
    expect(() => parseTrainConfig(json, 'demo.json')).toThrow(
      new ConfigError(["demo.json: config.$schema: expected a string (the path or URL of the config's JSON Schema), got 3"]),
    );
  });
});

describe('.vscode/settings.json', () => {
  it("maps the configs to their kind's schema and the dataset configs to the data package's", () => {
    const settings = readJson(join(ROOT, '.vscode/settings.json'));
    expect(settings['json.schemas']).toEqual(vscodeJsonSchemas());
    for (const { url } of vscodeJsonSchemas()) expect(existsSync(join(ROOT, url)), url).toBe(true);
    // the dataset configs it maps fit the data package's schema (the same checker)
    const dataset = readJson(join(ROOT, 'packages/data/dataset.schema.json'));
    for (const f of readdirSync(join(ROOT, 'datasets')).filter((x) => x.endsWith('.json')))
      expect(jsonSchemaProblems(dataset, readJson(join(ROOT, 'datasets', f))), f).toEqual([]);
  });
});
