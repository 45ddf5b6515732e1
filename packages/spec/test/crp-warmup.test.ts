/**
 * λ_CRP's warm-up (issue 19): the schedule (linear, 0 at step 0, 1 from step W on), the training
 * graph's scalar input crpLambdaScale (only with W > 0 and CRP on; never in the serving graph), and
 * graphs of configs without a warm-up staying byte-identical (so their hashes do not move).
 */
import { describe, expect, it } from 'vitest';
import {
  CRP_LAMBDA_SCALE,
  buildLifelong,
  buildLifelongTrain,
  crpLambdaScaleAt,
  crpLambdaScaleFeeds,
  crpWarmupSteps,
  lifelongConfig,
  lifelongSchema,
  serializeGraph,
  withoutCrpFeatures,
} from '../src/index.ts';
import { LIFELONG_TEST_CONFIG } from '../src/testing/index.ts';

const cfg = (warmupSteps?: number, lambda = 0.1) => ({
  ...LIFELONG_TEST_CONFIG,
  crp: { ...LIFELONG_TEST_CONFIG.crp!, lambda, ...(warmupSteps === undefined ? {} : { warmupSteps }) },
});

describe('crpLambdaScaleAt: linear warm-up', () => {
  it('0 at step 0, step / W during the ramp, 1 from step W on; W = 0 is 1 everywhere', () => {
    expect([0, 1, 5, 9, 10, 11, 1000].map((s) => crpLambdaScaleAt(10, s))).toEqual([0, 0.1, 0.5, 0.9, 1, 1, 1]);
    expect([0, 1, 20, 21, 22].map((s) => crpLambdaScaleAt(21, s))).toEqual([0, 1 / 21, 20 / 21, 1, 1]);
    expect([0, 3].map((s) => crpLambdaScaleAt(0, s))).toEqual([1, 1]);
  });

  it('names the bad argument', () => {
    expect(() => crpLambdaScaleAt(-1, 0)).toThrow('crp: warmupSteps must be an integer >= 0, got -1');
    expect(() => crpLambdaScaleAt(2.5, 0)).toThrow('crp: warmupSteps must be an integer >= 0, got 2.5');
    expect(() => crpLambdaScaleAt(10, -1)).toThrow('crp: the step must be an integer >= 0, got -1');
  });

  it('crpLambdaScaleFeeds: a float32 scalar per step, none for W = 0', () => {
    expect(crpLambdaScaleFeeds(0)).toBeUndefined();
    const f = crpLambdaScaleFeeds(4)!;
    expect(f(1)).toEqual({ [CRP_LAMBDA_SCALE]: { dtype: 'float32', shape: [], data: Float32Array.of(0.25) } });
    expect(f(7)[CRP_LAMBDA_SCALE].data[0]).toBe(1);
  });
});

describe('the training graph with a warm-up', () => {
  it('takes crpLambdaScale float32 [] only with W > 0 and CRP on; the serving graph never does', () => {
    expect(buildLifelongTrain(cfg(8)).inputs.find((i) => i.name === CRP_LAMBDA_SCALE)).toEqual({
      name: CRP_LAMBDA_SCALE,
      dtype: 'float32',
      shape: [],
    });
    expect(lifelongSchema(cfg(8), 'train')[CRP_LAMBDA_SCALE]).toEqual({ dtype: 'float32', shape: [] });
    for (const c of [cfg(), cfg(0), cfg(8, 0)]) expect(buildLifelongTrain(c).inputs.map((i) => i.name)).not.toContain(CRP_LAMBDA_SCALE);
    expect(buildLifelong(cfg(8)).inputs.map((i) => i.name)).not.toContain(CRP_LAMBDA_SCALE);
    expect(crpWarmupSteps(lifelongConfig(cfg(8)))).toBe(8);
    expect(crpWarmupSteps(lifelongConfig(cfg(8, 0)))).toBe(0);
    // the data's sources never hold it: the trainer feeds it
    expect(Object.keys(withoutCrpFeatures(lifelongSchema(cfg(8), 'train')))).not.toContain(CRP_LAMBDA_SCALE);
  });

  it('W absent and W = 0 build byte-identical graphs (the graph hash of every existing config stays); W > 0 is recorded in meta', () => {
    expect(serializeGraph(buildLifelongTrain(cfg(0)))).toBe(serializeGraph(buildLifelongTrain(cfg())));
    expect(serializeGraph(buildLifelong(cfg(0)))).toBe(serializeGraph(buildLifelong(cfg())));
    expect(serializeGraph(buildLifelongTrain(cfg(0)))).not.toContain('warmupSteps');
    const meta = buildLifelongTrain(cfg(8)).meta as { config: { crp: { warmupSteps?: number } } };
    expect(meta.config.crp.warmupSteps).toBe(8);
  });

  it('a bad warmupSteps is named', () => {
    expect(() => lifelongConfig(cfg(-2))).toThrow(/crp\.warmupSteps/);
    expect(() => lifelongConfig(cfg(1.5))).toThrow(/crp\.warmupSteps/);
  });
});
