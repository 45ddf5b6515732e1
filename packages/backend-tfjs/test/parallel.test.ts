/**
 * Data-parallel steps over worker threads: a step over 2 (and 3) shards equals trainStep on the
 * whole batch for a mean-over-samples loss (float32 summation order aside), for several steps
 * (the workers get the updated weights each time); shard bounds; errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, type HostTensor, bceWithLogits, buildDinTrain, initWeights, mlp } from '@lctr/spec';
import { gen, randomFeeds, DIN_TEST_CONFIG, dinGens } from '@lctr/spec/testing';
import { Adam, DataParallel, compileTfjs, initTfjs, shardBounds, shardInputs } from '../src/index.ts';

const cfg = DIN_TEST_CONFIG;
const graph = buildDinTrain(cfg);
const gens = dinGens();
const adam = { name: 'adam' as const, lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const batches = [1, 2, 3].map((s) => randomFeeds(graph, { batch: 13 }, s, gens));

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
});

describe('data-parallel training steps', () => {
  it('shard bounds: near-equal contiguous shards, larger first, none empty', () => {
    expect(shardBounds(13, 2)).toEqual([
      [0, 7],
      [7, 13],
    ]);
    expect(shardBounds(13, 3)).toEqual([
      [0, 5],
      [5, 9],
      [9, 13],
    ]);
    expect(shardBounds(2, 3)).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });

  it.each([2, 3])(
    '%i shards: three steps equal trainStep on the whole batch (weights and losses)',
    async (shards) => {
      const w0 = initWeights(graph, 5);
      const single = compileTfjs(graph, { weights: w0 });
      const opt = new Adam(single.variables, adam);
      const dp = await DataParallel.create(graph, w0, adam, { shards, backend: 'cpu' });
      try {
        for (const b of batches) {
          const want = single.trainStep(b, 'loss', opt);
          const got = await dp.step(b);
          expect(Math.abs(got - want)).toBeLessThan(1e-6);
        }
        const a = single.getWeights(),
          c = dp.model.getWeights();
        let worst = 0;
        for (const [name, t] of a) {
          const u = c.get(name)!.data as Float32Array;
          (t.data as Float32Array).forEach((v, i) => {
            worst = Math.max(worst, Math.abs(v - u[i]!) / Math.max(1e-3, Math.abs(v)));
          });
        }
        expect(worst).toBeLessThan(1e-4);
        expect(dp.optimizer.steps).toBe(3);
      } finally {
        await dp.dispose();
        single.dispose();
        opt.dispose();
      }
    },
    60_000,
  );

  it("a scalar input fed per step (LCN warm-up's crpLambdaScale) goes whole to every shard", async () => {
    // loss = scale x mean BCE: the shards must all see the step's scale for the step to equal trainStep
    const sb = new GraphBuilder('scaled', {
      x: { dtype: 'float32', shape: ['batch', 3] },
      label: { dtype: 'float32', shape: ['batch'] },
      scale: { dtype: 'float32', shape: [] },
    });
    const logit = sb.reshape(mlp(sb, 'mlp', sb.inputs.x, [4, 1]), ['batch']);
    const scaled = sb.build({ prob: sb.sigmoid(logit), loss: sb.mul(sb.inputs.scale, bceWithLogits(sb, logit, sb.inputs.label)) });
    const feeds = (seed: number, s: number) => ({
      ...randomFeeds(scaled, { batch: 9 }, seed, { label: gen.ints(2) }),
      scale: { dtype: 'float32' as const, shape: [], data: Float32Array.of(s) },
    });
    expect(shardInputs(scaled, feeds(1, 0.5), 5, 9)['scale']).toEqual({ dtype: 'float32', shape: [], data: Float32Array.of(0.5) });
    const w0 = initWeights(scaled, 2);
    const single = compileTfjs(scaled, { weights: w0 });
    const opt = new Adam(single.variables, adam);
    const dp = await DataParallel.create(scaled, w0, adam, { shards: 2, backend: 'cpu' });
    try {
      for (const [seed, s] of [
        [1, 0],
        [2, 0.25],
        [3, 1],
      ] as const) {
        const want = single.trainStep(feeds(seed, s), 'loss', opt);
        const got = await dp.step(feeds(seed, s));
        expect(Math.abs(got - want), `scale ${s}`).toBeLessThan(1e-6);
        if (s === 0) expect(got).toBe(0);
      }
      const a = single.getWeights(),
        c = dp.model.getWeights();
      for (const [name, t] of a)
        (t.data as Float32Array).forEach((v, i) => expect(Math.abs(v - (c.get(name)!.data as Float32Array)[i]!), name).toBeLessThan(1e-5));
    } finally {
      await dp.dispose();
      single.dispose();
      opt.dispose();
    }
  }, 60_000);

  it('refuses a bad shard count', async () => {
    await expect(DataParallel.create(graph, initWeights(graph, 1), adam, { shards: 0, backend: 'cpu' })).rejects.toThrow(
      'DataParallel: shards must be an integer >= 1, got 0',
    );
  });
});
