/**
 * Ids at padded positions (SPEC): toFeeds goes through spec's prepareFeeds, so run, gradients and
 * trainStep see 0 wherever padding holds -1, a stale id or 2^31 - 1, on cpu and wasm; an id out of
 * range at a valid position is still the spec's InputError. (ref-cpu against tfjs on such feeds:
 * packages/parity/test/padding-ids.test.ts.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, beforeAll } from 'vitest';
import {
  type FeatureSchema,
  type Graph,
  InputError,
  buildDinTrain,
  buildLifelong,
  buildLifelongTrain,
  indexUses,
  initWeights,
} from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, paddedFeeds, withPaddingIds } from '@lctr/spec/testing';
import { compileTfjs } from '../src/index.ts';
import { BACKENDS, nums, useBackend } from './helpers.ts';

const cfg = { ...LIFELONG_TEST_CONFIG, module: 'lap' as const };
const { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention } = cfg;
const dinCfg = { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention };
const FILLS: Array<(i: number) => number> = [() => -1, (i) => 1_000_000 + i, () => 2147483647];

const CASES: Array<[string, () => Graph<FeatureSchema, string>, Record<string, number>, string | undefined]> = [
  ['LCN serving graph', () => buildLifelong(cfg), { cand: 3 }, undefined],
  ['LCN training graph', () => buildLifelongTrain(cfg), { batch: 3 }, 'loss'],
  ['DIN training graph', () => buildDinTrain(dinCfg), { batch: 3 }, 'loss'],
];

for (const backend of BACKENDS) {
  describe(`tfjs-${backend}: ids at padded positions read as 0`, () => {
    beforeAll(() => useBackend(backend));

    for (const [name, build, dims, loss] of CASES) {
      it(`${name}: run${loss ? ', gradients and trainStep' : ''} with -1, a stale id, 2^31 - 1 at padding give what 0 gives`, () => {
        const g = build();
        const m = compileTfjs(g, { weights: initWeights(g, 3) });
        try {
          const zero = paddedFeeds(g, dims, 11, lifelongGens());
          const want = m.run(zero as never);
          const wantGrads = loss ? m.gradients(zero as never, loss).grads : undefined;
          for (const fill of FILLS) {
            const { feeds, written } = withPaddingIds(g, zero, fill);
            expect(written).toBeGreaterThan(0);
            const got = m.run(feeds as never);
            for (const out of Object.keys(want)) expect(nums(got[out]!)).toEqual(nums(want[out]!));
            if (loss) {
              const { grads } = m.gradients(feeds as never, loss);
              for (const [p, gw] of wantGrads!) expect(nums(grads.get(p)!), p).toEqual(nums(gw));
            }
          }
          if (loss) {
            const l = m.trainStep(withPaddingIds(g, zero, () => -1).feeds as never, loss, tf.train.sgd(0.1));
            expect(l).toBeCloseTo(nums(want[loss]!)[0]!, 5); // the loss before the step
          }
        } finally {
          m.dispose();
        }
      });
    }

    it('toFeeds hands the graph 0 at padding and the valid ids as given', () => {
      const g = buildLifelong(cfg);
      const m = compileTfjs(g, { seed: 1 });
      try {
        const { feeds } = withPaddingIds(g, paddedFeeds(g, { cand: 2 }, 5, lifelongGens()), () => -1);
        const given = Array.from(feeds['lifelongSeq']!.data as Int32Array);
        const mask = feeds['lifelongMask']!.data as Uint8Array;
        tf.tidy(() => {
          const seen = Array.from(m.toFeeds(feeds as never).feeds['lifelongSeq']!.dataSync());
          expect(seen).toEqual(given.map((v, i) => (mask[i] ? v : 0)));
        });
        expect(given.filter((v) => v === -1).length).toBe(mask.filter((x) => !x).length);
      } finally {
        m.dispose();
      }
    });

    it("an id out of range at a valid position is the spec's InputError, and nothing is left behind", () => {
      const g = buildLifelong(cfg);
      const m = compileTfjs(g, { seed: 1 });
      try {
        const feeds = paddedFeeds(g, { cand: 2 }, 5, lifelongGens());
        (feeds['lifelongSeq']!.data as Int32Array)[1] = 40;
        const node = indexUses(g).find((u) => u.input === 'lifelongSeq')!.node;
        const before = tf.memory().numTensors;
        expect(() => m.run(feeds as never)).toThrow(InputError);
        expect(() => m.run(feeds as never)).toThrow(
          `input 'lifelongSeq' holds index 40 at flat position 1 (valid in 'lifelongMask'), out of range for gather '${node}' on ` +
            `'emb/sourceItem' with 40 entries along axis 0 (valid 0..39)`,
        );
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        m.dispose();
      }
    });
  });
}
