import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrainConfig } from '@lctr/train';
import { atPath, canonicalJson, configHash, deepMerge, variantConfigJson } from './runs.ts';

const CONFIGS = resolve(import.meta.dirname, '../../packages/train/configs');

describe('config plumbing', () => {
  it('deep-merges objects key by key and replaces anything else', () => {
    const base = { model: { crp: { lambda: 0.1, weights: { pt: 1, pc: 1 } }, hidden: [64, 32] }, seed: 1 };
    expect(deepMerge(base, { model: { crp: { weights: { pc: 0 } }, hidden: [8] } })).toEqual({
      model: { crp: { lambda: 0.1, weights: { pt: 1, pc: 0 } }, hidden: [8] },
      seed: 1,
    });
    expect(base.model.crp.weights.pc).toBe(1);
  });
  it('writes canonical JSON whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
  });
  it('reads dotted paths', () => {
    expect(atPath({ lap: { k1: 200 } }, 'lap.k1')).toBe(200);
    expect(atPath({ lap: {} }, 'lap.k1')).toBeUndefined();
  });
  it('hashes what changes a result: not the cadence, not config.model (the graph hash covers it), but the seed', () => {
    const base = { optimizer: { name: 'adam', lr: 0.003 }, batchSize: 256, steps: 10, seed: 1, model: { dim: 16 } };
    const h = configHash('lcn', parseTrainConfig(base));
    expect(
      configHash('lcn', parseTrainConfig({ ...base, evalEvery: 5, logEvery: 1, keep: 1, checkpointEvery: 2, evalBatchSize: 64 })),
    ).toBe(h);
    expect(configHash('lcn', parseTrainConfig({ ...base, model: { dim: 8 } }))).toBe(h);
    expect(configHash('lcn', parseTrainConfig({ ...base, seed: 2 }))).not.toBe(h);
    expect(configHash('twin', parseTrainConfig(base))).not.toBe(h);
  });
  it('applies a variant patch, then the common overrides and the seed', () => {
    const { json } = variantConfigJson(
      { id: 'v', label: 'v', model: 'lcn', configFile: 'lcn-synthetic.json', patch: { model: { lap: { k1: 100 } } } },
      { world: 'small', users: 300, steps: 7, lifelongLen: 400 },
      3,
      CONFIGS,
    );
    expect(json['seed']).toBe(3);
    expect(json['steps']).toBe(7);
    expect('epochs' in json).toBe(false);
    expect(atPath(json, 'data.world')).toBe('small');
    expect(atPath(json, 'data.worldUsers')).toBe(300);
    expect(atPath(json, 'model.lifelongLen')).toBe(400);
    expect(atPath(json, 'model.lap.k1')).toBe(100);
    expect(atPath(json, 'model.lap.k2')).toBe(50);
  });
  it('leaves lifelongLen out of a model that has none', () => {
    const { json } = variantConfigJson(
      { id: 'din', label: 'DIN', model: 'din', configFile: 'din-synthetic.json' },
      { lifelongLen: 400, epochs: 1 },
      1,
      CONFIGS,
    );
    expect(atPath(json, 'model.lifelongLen')).toBeUndefined();
    expect(json['epochs']).toBe(1);
  });
});
