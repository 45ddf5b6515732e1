/**
 * KEEP values against plain float64 loops: the task loss (mean BCE + α · pairwise logistic over
 * same-user opposite-label pairs, conversion/cart on clicked samples only) on a hand case and on the
 * extractor's own outputs; the knowledge columns (K_u, K_i are the embedding rows, K^t the layer whose
 * 2-way head gives each task's probability); the decomposed tables reproducing the two-tower model and
 * the served assembly; and the plug-in's warm start: a downstream model trained without the plug-in,
 * loaded into the plug-in variant, predicts identically at step 0 (ref-cpu and tfjs), then keeps
 * training with tfjs Adam, moves the plug-in parameters and uses the knowledge.
 */
import { describe, expect, it } from 'vitest';
import { runRef } from '@lctr/ref-cpu';
import { Adam, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import {
  type Float,
  GraphBuilder,
  type HostTensor,
  type Int,
  type Weights,
  buildAvgPoolTrain,
  buildDinTrain,
  buildKeep,
  buildKeepItemTable,
  buildKeepKnowledge,
  buildKeepServedKnowledge,
  buildKeepTrain,
  buildKeepTwoTower,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  initWeights,
  keepKnowledgeLayout,
  keepTaskLoss,
  pairwiseLogisticLoss,
  weightsFor,
} from '@lctr/spec';
import {
  KEEP_DEGENERATE_TEST_CONFIG,
  KEEP_TEST_CONFIG,
  KEEP_TWO_TOWER_TEST_CONFIG,
  gen,
  keepGens,
  nestKeepLabels,
  randomFeeds,
} from '@lctr/spec/testing';

type Feeds = Record<string, HostTensor>;
const arr = (t: { data: ArrayLike<number | bigint> }) => Array.from(t.data, Number);
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** Plain-loop KEEP task loss: Σ w BCE / Σ w (0 if none) + α · mean over (i pos, j neg, same user, both w > 0) of softplus(-(s_i - s_j)). */
function taskLossOracle(s: number[], y: number[], u: number[], alpha: number, w?: number[]): { loss: number; pairs: number } {
  const wt = w ?? s.map(() => 1);
  let bce = 0,
    sw = 0;
  for (let i = 0; i < s.length; i++) {
    bce += wt[i]! * (softplus(s[i]!) - y[i]! * s[i]!);
    sw += wt[i]!;
  }
  let pair = 0,
    pairs = 0;
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) {
      if (u[i] !== u[j] || !(y[i]! > 0.5) || y[j]! > 0.5 || !(wt[i]! > 0) || !(wt[j]! > 0)) continue;
      pair += Math.log(1 + Math.exp(-(s[i]! - s[j]!)));
      pairs++;
    }
  }
  return { loss: (sw > 0 ? bce / sw : 0) + alpha * (pairs > 0 ? pair / pairs : 0), pairs };
}
const logitOf = (p: number) => Math.log(p / (1 - p));

describe('KEEP task loss: hand case', () => {
  // 8 samples of users 0, 1, 2; conversion nested in clicks
  const s = [2, -1, 0.5, 0, 1, 3, -0.5, 0.25];
  const user = [0, 0, 0, 1, 1, 2, 0, 2];
  const click = [1, 0, 0, 1, 0, 1, 1, 0];
  const conv = [1, 0, 0, 0, 0, 0, 0, 0];
  const b = new GraphBuilder('keep-loss', {
    s: { dtype: 'float32', shape: ['batch'] },
    user: { dtype: 'int32', shape: ['batch'] },
    click: { dtype: 'float32', shape: ['batch'] },
    conv: { dtype: 'float32', shape: ['batch'] },
  });
  const [sv, uv, cv, vv] = (['s', 'user', 'click', 'conv'] as const).map((n) => b.value(n));
  const f = (v: unknown) => v as Float;
  const g = b.build({
    clickLoss: keepTaskLoss(b, f(sv), f(cv), uv as Int, 0.25),
    convLoss: keepTaskLoss(b, f(sv), f(vv), uv as Int, 0.25, f(cv)),
    clickPairs: pairwiseLogisticLoss(b, f(sv), f(cv), uv as Int),
    convPairs: pairwiseLogisticLoss(b, f(sv), f(vv), uv as Int, f(cv)),
    noClicks: keepTaskLoss(b, f(sv), f(vv), uv as Int, 0.25, b.mul(f(cv), b.scalar(0))),
  });
  const feeds = (sData: number[] = s): Feeds => ({
    s: { dtype: 'float32', shape: [8], data: Float32Array.from(sData) },
    user: { dtype: 'int32', shape: [8], data: Int32Array.from(user) },
    click: { dtype: 'float32', shape: [8], data: Float32Array.from(click) },
    conv: { dtype: 'float32', shape: [8], data: Float32Array.from(conv) },
  });
  const out = runRef(g, new Map(), feeds() as never);

  it('click: BCE over all 8 impressions + 0.25 × mean of the 6 same-user (clicked, unclicked) pairs', () => {
    // pairs (i clicked, j not, same user): user 0: (0,1) (0,2) (6,1) (6,2); user 1: (3,4); user 2: (5,7)
    const pairs = [
      [0, 1],
      [0, 2],
      [6, 1],
      [6, 2],
      [3, 4],
      [5, 7],
    ];
    const pairMean = pairs.reduce((a, [i, j]) => a + Math.log(1 + Math.exp(-(s[i]! - s[j]!))), 0) / pairs.length;
    const bce = s.reduce((a, x, i) => a + Math.log(1 + Math.exp(x)) - click[i]! * x, 0) / 8;
    expect(arr(out.clickPairs)[0]).toBeCloseTo(pairMean, 12);
    expect(arr(out.clickLoss)[0]).toBeCloseTo(bce + 0.25 * pairMean, 12);
    const o = taskLossOracle(s, click, user, 0.25);
    expect(o.pairs).toBe(6);
    expect(arr(out.clickLoss)[0]).toBeCloseTo(o.loss, 12);
  });

  it('conversion: only the 4 clicked samples count, for the BCE mean and for the pairs', () => {
    // clicked: 0 (user 0, converted), 3 (user 1), 5 (user 2), 6 (user 0): the only pair is (0, 6);
    // samples 1 and 2 (user 0, not clicked) would make pairs with 0 if unclicked samples leaked in
    const pairMean = Math.log(1 + Math.exp(-(s[0]! - s[6]!)));
    const bce = [0, 3, 5, 6].reduce((a, i) => a + Math.log(1 + Math.exp(s[i]!)) - conv[i]! * s[i]!, 0) / 4;
    expect(arr(out.convPairs)[0]).toBeCloseTo(pairMean, 12);
    expect(arr(out.convLoss)[0]).toBeCloseTo(bce + 0.25 * pairMean, 12);
    expect(arr(out.convLoss)[0]).toBeCloseTo(taskLossOracle(s, conv, user, 0.25, click).loss, 12);
    // no clicked sample in the batch: the conversion loss is 0, not NaN
    expect(arr(out.noClicks)[0]).toBe(0);
  });

  it("the unclicked samples' logits do not move the conversion loss; a batch without opposite pairs has pair term 0", () => {
    const moved = [...s];
    moved[1] = 40;
    moved[2] = -40;
    moved[4] = 7;
    expect(arr(runRef(g, new Map(), feeds(moved) as never).convLoss)[0]).toBe(arr(out.convLoss)[0]);
    expect(arr(runRef(g, new Map(), feeds(moved) as never).clickLoss)[0]).not.toBe(arr(out.clickLoss)[0]);
  });
});

describe('KEEP extractor against plain loops', () => {
  const train = buildKeepTrain(KEEP_TEST_CONFIG);
  const weights = initWeights(train, 21);
  const B = 16;
  const feeds = nestKeepLabels(randomFeeds(train, { batch: B }, 4, keepGens()) as Feeds);
  const out = runRef(train, weights, feeds as never);

  it("each task loss equals the oracle on the model's own logits (click: all samples; conv, cart: clicked only)", () => {
    const user = arr(feeds.user!),
      click = arr(feeds.clickLabel!);
    let total = 0;
    for (const [t, label] of [
      ['Click', 'clickLabel'],
      ['Conv', 'convLabel'],
      ['Cart', 'cartLabel'],
    ] as const) {
      const s = arr(out[`prob${t}`]).map(logitOf);
      const o = taskLossOracle(s, arr(feeds[label]!), user, 0.25, t === 'Click' ? undefined : click);
      expect(o.pairs, `${t} pairs in the batch`).toBeGreaterThan(0);
      expect(arr(out[`loss${t}`])[0]).toBeCloseTo(o.loss, 9);
      total += arr(out[`loss${t}`])[0]!;
    }
    expect(arr(out.loss)[0]).toBeCloseTo(total, 12);
  });

  it('knowledge: K_u and K_i are the embedding rows, K^t the layer whose 2-way head gives p_t', () => {
    const kg = buildKeepKnowledge(KEEP_TEST_CONFIG);
    const { label: _l, ...serveFeeds } = feeds;
    const kn = runRef(kg, weightsFor(kg, weights), Object.fromEntries(kg.inputs.map((i) => [i.name, feeds[i.name]!])) as never).knowledge;
    const probs = runRef(
      buildKeep(KEEP_TEST_CONFIG),
      weights,
      Object.fromEntries(buildKeep(KEEP_TEST_CONFIG).inputs.map((i) => [i.name, serveFeeds[i.name]!])) as never,
    );
    const layout = keepKnowledgeLayout(KEEP_TEST_CONFIG);
    const width = layout[layout.length - 1]!.offset + layout[layout.length - 1]!.dim;
    expect(kn.shape).toEqual([B, width]);
    const K = arr(kn);
    const w = (n: string) => arr(weights.get(n)!);
    const row = (table: string, id: number, dim: number) => w(table).slice(id * dim, (id + 1) * dim);
    const f = KEEP_TEST_CONFIG.featureDim!,
      ud = KEEP_TEST_CONFIG.userDim!;
    for (let r = 0; r < B; r++) {
      const k = K.slice(r * width, (r + 1) * width);
      expect(k.slice(0, ud)).toEqual(row('emb/user', arr(feeds.user!)[r]!, ud));
      const item = [
        ...row('emb/item', arr(feeds.item!)[r]!, f),
        ...row('emb/shop', arr(feeds.shop!)[r]!, f),
        ...row('emb/category', arr(feeds.category!)[r]!, f),
      ];
      expect(k.slice(ud, ud + 3 * f)).toEqual(item);
      for (const [t, p] of [
        ['click', 'probClick'],
        ['conv', 'probConv'],
        ['cart', 'probCart'],
      ] as const) {
        const part = layout.find((x) => x.name === t)!;
        const kt = k.slice(part.offset, part.offset + part.dim);
        expect(Math.min(...kt)).toBeGreaterThanOrEqual(0); // after the ReLU
        const W = w(`tower/${t}/l4/w`),
          bias = w(`tower/${t}/l4/b`);
        const z = [0, 1].map((c) => kt.reduce((a, x, i) => a + x * W[i * 2 + c]!, bias[c]!));
        expect(arr(probs[p])[r]).toBeCloseTo(1 / (1 + Math.exp(-(z[1]! - z[0]!))), 12);
      }
    }
  });

  it('outputs do not depend on the ids at padded behaviour positions (knowledge and losses bit-identical)', () => {
    const mask = feeds.behaviourMask!.data as Uint8Array;
    expect(mask.some((m) => !m)).toBe(true);
    const scrambled: Feeds = { ...feeds };
    for (const [n, vocab] of [
      ['behaviourItem', KEEP_TEST_CONFIG.items!],
      ['behaviourShop', KEEP_TEST_CONFIG.shops!],
      ['behaviourCategory', KEEP_TEST_CONFIG.categories!],
    ] as const) {
      scrambled[n] = {
        ...feeds[n]!,
        data: Int32Array.from(feeds[n]!.data as Int32Array, (id, i) => (mask[i] ? id : (id + 1 + (i % 3)) % vocab)),
      } as HostTensor;
    }
    const again = runRef(train, weights, scrambled as never);
    for (const k of Object.keys(out) as Array<keyof typeof out>) expect(arr(again[k]), k).toEqual(arr(out[k]));
  });

  it('degeneration: K̂_uc is the click layer of the category-target extractor and does not read item ids', () => {
    const dg = buildKeepTrain(KEEP_DEGENERATE_TEST_CONFIG);
    const dw = initWeights(dg, 8);
    const df = randomFeeds(dg, { batch: 6 }, 2, keepGens()) as Feeds;
    const uc = buildKeepUserCategoryTable(KEEP_DEGENERATE_TEST_CONFIG);
    const kuc = arr(
      runRef(uc, weightsFor(uc, dw), Object.fromEntries(uc.inputs.map((i) => [i.name, df[i.name]!])) as never).userCategoryKnowledge,
    );
    const p = arr(runRef(dg, dw, df as never).probClick);
    const W = arr(dw.get('tower/click/l4/w')!),
      bias = arr(dw.get('tower/click/l4/b')!);
    const d = kuc.length / 6;
    for (let r = 0; r < 6; r++) {
      const k = kuc.slice(r * d, (r + 1) * d);
      const z = [0, 1].map((c) => k.reduce((a, x, i) => a + x * W[i * 2 + c]!, bias[c]!));
      expect(p[r]).toBeCloseTo(1 / (1 + Math.exp(-(z[1]! - z[0]!))), 12);
    }
  });
});

describe('KEEP decomposition against plain loops', () => {
  it('the cached rows reproduce the two-tower model: σ(⟨K̂_u, K̂_i⟩ + b); the served vector is [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc]', () => {
    const cfg = KEEP_TWO_TOWER_TEST_CONFIG;
    const tt = buildKeepTwoTower(cfg);
    const w = initWeights(tt, 3);
    const B = 5;
    const feeds = randomFeeds(tt, { batch: B }, 6, keepGens(cfg)) as Feeds;
    const pick = (g: { inputs: ReadonlyArray<{ name: string }> }) =>
      Object.fromEntries(g.inputs.map((i) => [i.name, feeds[i.name]!])) as never;
    const ut = buildKeepUserTable(cfg),
      it_ = buildKeepItemTable(cfg);
    const ku = arr(runRef(ut, weightsFor(ut, w), pick(ut)).userKnowledge),
      ki = arr(runRef(it_, weightsFor(it_, w), pick(it_)).itemKnowledge);
    const p = arr(runRef(tt, w, feeds as never).prob);
    const d = 3,
      bias = arr(w.get('bias')!)[0]!;
    for (let r = 0; r < B; r++) {
      const dot = Array.from({ length: d }, (_, i) => ku[r * d + i]! * ki[r * d + i]!).reduce((a, x) => a + x, bias);
      expect(p[r]).toBeCloseTo(1 / (1 + Math.exp(-dot)), 12);
    }
    const served = buildKeepServedKnowledge({ dim: d, userCategoryDim: 2 });
    const kuc = [0.5, -1, 2, 0, -0.25, 4, 1, 1, 3, -2];
    const f32 = (v: number[], cols: number): HostTensor => ({ dtype: 'float32', shape: [B, cols], data: Float32Array.from(v) });
    const k = arr(
      runRef(served, new Map(), { userKnowledge: f32(ku, d), itemKnowledge: f32(ki, d), userCategoryKnowledge: f32(kuc, 2) } as never)
        .knowledge,
    );
    for (let r = 0; r < B; r++) {
      const u = ku.slice(r * d, (r + 1) * d).map(Math.fround),
        i = ki.slice(r * d, (r + 1) * d).map(Math.fround);
      const want = [...u, ...i, ...u.map((x, j) => x * i[j]!), ...kuc.slice(r * 2, r * 2 + 2)];
      k.slice(r * 11, (r + 1) * 11).forEach((x, j) => expect(x).toBeCloseTo(want[j]!, 12));
    }
  });
});

// ---------------------------------------------------------------- the plug-in's warm start

const BASE = {
  dim: 4,
  categoryDim: 2,
  seqLen: 5,
  users: 12,
  targetItems: 30,
  sourceItems: 40,
  categories: 6,
  profile: [3, 2],
  hidden: [10, 6],
};
const KDIM = 18;
function downstreamGens(): Record<string, ReturnType<typeof gen.ints>> {
  return {
    user: gen.ints(BASE.users),
    profile: gen.ints(2),
    candidate: gen.ints(BASE.targetItems),
    candidateCategory: gen.ints(BASE.categories),
    targetSeq: gen.ints(BASE.targetItems),
    targetSeqCategory: gen.ints(BASE.categories),
    targetSeqMask: gen.prefixMask(),
    sourceSeq: gen.ints(BASE.sourceItems),
    sourceSeqCategory: gen.ints(BASE.categories),
    sourceSeqMask: gen.prefixMask(),
    knowledge: gen.normal(),
    label: gen.ints(2),
  };
}
/** A batch whose label is carried by the knowledge (label = [k_0 + k_1 > 0]), which the base model cannot see. */
function batch(g: { inputs: ReadonlyArray<{ name: string }> }, n: number, seed: number, withKnowledge: boolean): Feeds {
  const plugged = {
    ...g,
    inputs: [...g.inputs.filter((i) => i.name !== 'knowledge'), { name: 'knowledge', dtype: 'float32', shape: ['batch', KDIM] }],
  };
  const f = randomFeeds(plugged as never, { batch: n }, seed, downstreamGens()) as Feeds;
  const k = f.knowledge!.data as Float32Array,
    label = f.label!.data as Float32Array;
  for (let r = 0; r < n; r++) label[r] = k[r * KDIM]! + k[r * KDIM + 1]! > 0 ? 1 : 0;
  if (!withKnowledge) delete f.knowledge;
  return f;
}

describe.each([
  ['din', (k?: object) => buildDinTrain({ ...BASE, attention: [6], ...(k ? { knowledge: k } : {}) })],
  ['avgpool', (k?: object) => buildAvgPoolTrain({ ...BASE, ...(k ? { knowledge: k } : {}) })],
] as const)('KEEP plug-in warm start: %s', (name, build) => {
  it(
    'trained without the plug-in, loaded into the plug-in variant: identical predictions at step 0 (ref-cpu, tfjs), then training moves ' +
      'the plug-in and uses the knowledge',
    async () => {
      await initTfjs({ backend: 'cpu', log: () => {} });
      const base = build(),
        plugged = build({ dim: KDIM });
      const adamCfg = { name: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;
      // 1. train the downstream model without the plug-in (tfjs Adam, 10 steps)
      const bm = compileTfjs(base, { seed: 1 });
      const bOpt = new Adam(bm.variables, adamCfg);
      for (let step = 0; step < 10; step++) bm.trainStep(batch(base, 32, 100 + step, false) as never, 'loss', bOpt);
      const trained: Weights = bm.getWeights();
      bOpt.dispose();
      bm.dispose();
      // 2. load into the plug-in variant: every base weight by name, the plug-in freshly initialised
      const fresh = initWeights(plugged, 2);
      const warm = new Map([...fresh].map(([k, v]) => [k, trained.get(k) ?? v]));
      expect([...warm.keys()].filter((k) => !trained.has(k))).toEqual(['plugin/l0/w', 'plugin/l0/b', 'plugin/l1/w', 'plugin/l1/b']);
      expect(arr(warm.get('plugin/l1/w')!).every((x) => x === 0)).toBe(true);
      expect(arr(warm.get('plugin/l0/w')!).some((x) => x !== 0)).toBe(true);
      const test = batch(plugged, 64, 7, true);
      const { knowledge: _k, ...testBase } = test;
      // step 0: ref-cpu and tfjs give exactly the base model's predictions, whatever the knowledge holds
      const refBase = arr(runRef(base, trained, testBase as never).prob),
        refPlug = arr(runRef(plugged, warm, test as never).prob);
      expect(refPlug).toEqual(refBase);
      const pm = compileTfjs(plugged, { weights: warm });
      const tfBase = compileTfjs(base, { weights: trained });
      const tfBaseProb = arr(tfBase.run(testBase as never).prob);
      expect(arr(pm.run(test as never).prob)).toEqual(tfBaseProb);
      refBase.forEach((p, i) => expect(tfBaseProb[i]).toBeCloseTo(p, 5));
      // 3. keep training both from the same weights on the same batches (incremental training)
      const loss0 = arr(pm.run(test as never).loss)[0]!;
      const pOpt = new Adam(pm.variables, adamCfg),
        b2Opt = new Adam(tfBase.variables, adamCfg);
      for (let step = 0; step < 40; step++) {
        const f = batch(plugged, 32, 1000 + step, true);
        pm.trainStep(f as never, 'loss', pOpt);
        const { knowledge: _kk, ...fb } = f;
        tfBase.trainStep(fb as never, 'loss', b2Opt);
      }
      const after = pm.getWeights();
      const moved = (n: string) => arr(after.get(n)!).reduce((a, x, i) => Math.max(a, Math.abs(x - arr(warm.get(n)!)[i]!)), 0);
      for (const n of ['plugin/l0/w', 'plugin/l0/b', 'plugin/l1/w', 'plugin/l1/b']) expect(moved(n), n).toBeGreaterThan(1e-3);
      const lossPlug = arr(pm.run(test as never).loss)[0]!,
        lossBase = arr(tfBase.run(testBase as never).loss)[0]!;
      // held-out loss: the plug-in variant learns the knowledge-borne label, the base model cannot
      expect(lossPlug).toBeLessThan(loss0 - 0.1);
      expect(lossPlug).toBeLessThan(lossBase - 0.1);
      console.log(
        `${name} warm start: held-out loss step 0 ${loss0.toFixed(4)} -> plug-in ${lossPlug.toFixed(4)}, base ${lossBase.toFixed(4)} after ` +
          `40 steps`,
      );
      // the knowledge is an input: the downstream graph has no extractor parameter to send gradient to
      expect(plugged.params.some((p) => p.name.startsWith('tower/') || p.name.startsWith('att/'))).toBe(false);
      expect(plugged.inputs.find((i) => i.name === 'knowledge')!.dtype).toBe('float32');
      pOpt.dispose();
      b2Opt.dispose();
      pm.dispose();
      tfBase.dispose();
    },
  );
});
