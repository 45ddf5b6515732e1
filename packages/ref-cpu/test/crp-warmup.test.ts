/**
 * λ_CRP's warm-up on the oracle: LCN's training loss with crpLambdaScale = s is BCE + s · λ · L_CRP.
 * A hand-made case: the item tables' rows 1..4 are the unit vectors e1..e4, every positive pair
 * names one item twice (cosine 1), every negative two different items (cosine 0). With τ 0.1 and
 * log-mean-exp (the default) each term is log(mean(e^0, ...)) - 1/τ = -10 exactly, so
 * L_CRP = -30 and, at λ 0.1, loss(s) = BCE - 3 s; BCE is the mean binary cross-entropy of `prob`.
 */
import { describe, expect, it } from 'vitest';
import { CRP_LAMBDA_SCALE, type HostTensor, buildLifelongTrain, initWeights } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, paddedFeeds } from '@lctr/spec/testing';
import { runRef } from '../src/index.ts';

const M = LIFELONG_TEST_CONFIG.crp!.negatives; // 5
const cfg = {
  ...LIFELONG_TEST_CONFIG,
  module: 'lap' as const,
  l2: 0,
  crp: { ...LIFELONG_TEST_CONFIG.crp!, lambda: 0.1, temperature: 0.1, warmupSteps: 10 },
};
const B = 3;

function handFeeds(g: ReturnType<typeof buildLifelongTrain>, scale: number): Record<string, HostTensor> {
  const feeds = { ...paddedFeeds(g, { batch: B }, 7, lifelongGens(cfg)) };
  const pairs = (rows: number[][]): HostTensor<'int32'> => ({
    dtype: 'int32',
    shape: [rows.length, 2],
    data: Int32Array.from(rows.flat()),
  });
  const flags = (n: number): HostTensor<'bool'> => ({ dtype: 'bool', shape: [n], data: new Uint8Array(n).fill(1) });
  const pos = pairs([
    [1, 1],
    [2, 2],
    [3, 3],
  ]); // cosine 1
  const neg = pairs([
    [1, 2],
    [2, 3],
    [3, 4],
    [4, 1],
    [1, 3],
  ]); // cosine 0
  for (const t of ['Pt', 'Ps', 'Pc'] as const) {
    Object.assign(feeds, { [`crp${t}`]: pos, [`crp${t}Mask`]: flags(B), [`crp${t}Neg`]: neg, [`crp${t}NegMask`]: flags(M) });
  }
  if (g.inputs.some((i) => i.name === CRP_LAMBDA_SCALE))
    feeds[CRP_LAMBDA_SCALE] = { dtype: 'float32', shape: [], data: Float32Array.of(scale) };
  return feeds;
}

function handWeights(g: ReturnType<typeof buildLifelongTrain>) {
  const w = initWeights(g, 3);
  for (const name of ['emb/targetItem', 'emb/sourceItem']) {
    const t = w.get(name)!,
      d = t.shape[1]!;
    const data = Float32Array.from(t.data);
    for (let r = 1; r <= 4; r++) for (let k = 0; k < d; k++) data[r * d + k] = k === r - 1 ? 1 : 0;
    w.set(name, { ...t, data });
  }
  return w;
}

/** mean BCE of the graph's own `prob` against the labels, in float64 */
function bce(prob: ArrayLike<number>, label: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < prob.length; i++) s -= label[i]! ? Math.log(prob[i]!) : Math.log(1 - prob[i]!);
  return s / prob.length;
}

describe('ref-cpu: LCN loss with the warm-up scale s', () => {
  const g = buildLifelongTrain(cfg);
  const w = handWeights(g);

  it('loss(s) = BCE + s · λ · L_CRP with L_CRP = -30 by hand, at s = 0, 0.25, 0.5, 1', () => {
    for (const s of [0, 0.25, 0.5, 1]) {
      const feeds = handFeeds(g, s);
      const out = runRef(g, w, feeds as never);
      const click = bce(out.prob.data as ArrayLike<number>, feeds['label']!.data as Float32Array);
      expect(Number(out.loss.data[0]), `s = ${s}`).toBeCloseTo(click + s * 0.1 * -30, 12);
    }
  });

  it('s = 1 is the graph without a warm-up; s = 0 is the graph without CRP (same weights and feeds)', () => {
    const plain = buildLifelongTrain({ ...cfg, crp: { ...cfg.crp, warmupSteps: 0 } });
    const none = buildLifelongTrain({ ...cfg, crp: { ...cfg.crp, lambda: 0 } });
    // the same feeds for all three (drawn for the warm-up graph), less what a graph does not take
    const at = (graph: typeof g, s: number) => {
      const all = handFeeds(g, s);
      const feeds = Object.fromEntries(graph.inputs.map((i) => [i.name, all[i.name]!]));
      return Number(runRef(graph, w, feeds as never).loss.data[0]);
    };
    expect(at(g, 1)).toBe(at(plain, 1));
    expect(at(g, 0)).toBe(at(none, 0));
  });
});
