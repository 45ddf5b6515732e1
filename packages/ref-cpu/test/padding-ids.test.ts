/**
 * Ids at padded positions (SPEC): ref-cpu computes on spec's prepareFeeds, so -1, a stale id or
 * 2^31 - 1 at a padded position gives exactly what 0 there gives (outputs and gradients), while an
 * id out of range at a valid position is still the spec's InputError naming input, position and
 * table size.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  type Graph,
  InputError,
  buildDinTrain,
  buildLifelong,
  buildLifelongTrain,
  indexUses,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, paddedFeeds, withPaddingIds } from '@lctr/spec/testing';
import { evaluateRef, gradRef, runRef } from '../src/index.ts';

const cfg = { ...LIFELONG_TEST_CONFIG, module: 'lap' as const };
const { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention } = cfg;
const dinCfg = { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention };

const STALE = 1_000_000;
const FILLS: Array<[string, (i: number) => number]> = [
  ['-1', () => -1],
  ['a stale id', (i) => STALE + i],
  ['2^31 - 1', () => 2147483647],
  ['-2^31', () => -2147483648],
];

const feedsFor = (g: Graph<FeatureSchema, string>, dims: Record<string, number>) => paddedFeeds(g, dims, 11, lifelongGens());

const CASES: Array<[string, () => Graph<FeatureSchema, string>, Record<string, number>, string | undefined]> = [
  ['LCN serving graph', () => buildLifelong(cfg), { cand: 3 }, undefined],
  ['LCN training graph (CRP in)', () => buildLifelongTrain(cfg), { batch: 3 }, 'loss'],
  ['DIN training graph', () => buildDinTrain(dinCfg), { batch: 3 }, 'loss'],
];

describe('ref-cpu: ids at padded positions read as 0', () => {
  for (const [name, build, dims, loss] of CASES) {
    it(`${name}: outputs (and gradients) with -1, a stale id, +-2^31 at padding are those with 0`, () => {
      const g = build();
      const weights = initWeights(g, 3);
      const zero = feedsFor(g, dims);
      const want = runRef(g, weights, zero);
      const wantGrads = loss ? gradRef(g, weights, zero, loss).paramGrads : undefined;
      for (const [, fill] of FILLS) {
        const { feeds, written } = withPaddingIds(g, zero, fill);
        expect(written).toBeGreaterThan(0);
        const got = runRef(g, weights, feeds);
        for (const out of Object.keys(want))
          expect(Array.from(got[out as keyof typeof got]!.data)).toEqual(Array.from(want[out as keyof typeof want]!.data));
        if (loss) {
          const grads = gradRef(g, weights, feeds, loss).paramGrads;
          for (const [p, gw] of wantGrads!) expect(Array.from(grads.get(p)!), p).toEqual(Array.from(gw));
        }
      }
    });
  }

  it("the values it computes on hold 0 at padding; the caller's inputs are not written to", () => {
    const g = buildLifelong(cfg);
    const weights = weightsFor(g, initWeights(buildLifelongTrain(cfg), 3));
    const { feeds } = withPaddingIds(g, feedsFor(g, { cand: 2 }), () => -1);
    const ev = evaluateRef(g, weights, feeds);
    const mask = feeds['lifelongMask']!.data as Uint8Array;
    const seen = Array.from(ev.values.get('lifelongSeq')!.data);
    mask.forEach((m, i) => expect(seen[i]).toBe(m ? (feeds['lifelongSeq']!.data as Int32Array)[i] : 0));
    expect(Array.from(feeds['lifelongSeq']!.data as Int32Array).filter((v) => v === -1).length).toBe(mask.filter((m) => !m).length);
  });

  it("an id out of range at a valid position is the spec's InputError with input, position and table size", () => {
    const g = buildLifelong(cfg);
    const weights = weightsFor(g, initWeights(buildLifelongTrain(cfg), 3));
    const feeds = feedsFor(g, { cand: 2 });
    const seq = feeds['lifelongSeq']!.data as Int32Array;
    const valid = Array.from(feeds['lifelongMask']!.data as Uint8Array).indexOf(1);
    seq[valid] = -1;
    const node = indexUses(g).find((u) => u.input === 'lifelongSeq')!.node;
    expect(() => runRef(g, weights, feeds)).toThrow(InputError);
    expect(() => runRef(g, weights, feeds)).toThrow(
      `input 'lifelongSeq' holds index -1 at flat position ${valid} (valid in 'lifelongMask'), out of range for gather '${node}' on ` +
        `'emb/sourceItem' with 40 entries along axis 0 (valid 0..39)`,
    );
  });
});
