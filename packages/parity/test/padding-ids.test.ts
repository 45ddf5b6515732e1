/**
 * Ids at padded positions (SPEC, issue 17 item 9): with -1, a stale id or 2^31 - 1 wherever a mask
 * says padding, ref-cpu, tfjs (cpu, wasm; outputs and gradients) and the exported ONNX model agree,
 * and score exactly what they score with 0 there.
 */
import { describe, expect, it } from 'vitest';
import { type FeatureSchema, type Graph, buildDinTrain, buildLifelong, buildLifelongTrain, initWeights } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, paddedFeeds, withPaddingIds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { checkParity, formatParityLine } from '../src/index.ts';

const cfg = { ...LIFELONG_TEST_CONFIG, module: 'lap' as const };
const { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention } = cfg;
const dinCfg = { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention };

const CASES: Array<[string, () => Graph<FeatureSchema, string>, Record<string, number>]> = [
  ['lcn serving', () => buildLifelong(cfg), { cand: 4 }],
  ['lcn training', () => buildLifelongTrain(cfg), { batch: 4 }],
  ['din training', () => buildDinTrain(dinCfg), { batch: 4 }],
];
const FILLS: Array<[string, (i: number) => number]> = [
  ['-1', () => -1],
  ['stale', (i) => 1_000_000 + i],
  ['2^31-1', () => 2147483647],
];

describe('ids at padded positions: every backend reads row 0', () => {
  for (const [name, build, dims] of CASES) {
    it(`${name}: ref-cpu, tfjs and ONNX agree with -1, a stale id, 2^31 - 1 at padding, and match 0 there`, async () => {
      const g = build();
      const weights = initWeights(g, 4);
      const zero = paddedFeeds(g, dims, 21, lifelongGens());
      const want = runRef(g, weights, zero);
      for (const [fillName, fill] of FILLS) {
        const { feeds, written } = withPaddingIds(g, zero, fill);
        expect(written).toBeGreaterThan(0);
        const got = runRef(g, weights, feeds);
        for (const out of Object.keys(want))
          expect(Array.from(got[out as keyof typeof got]!.data)).toEqual(Array.from(want[out as keyof typeof want]!.data));
        const r = await checkParity({ name: `${name} (${fillName} at padding)`, graph: g, weights, inputs: feeds });
        expect(r.failures, formatParityLine(r)).toEqual([]);
      }
    });
  }
});
