/**
 * The explain variant of LCN's serving graph (spec's buildLifelongExplain, issue 21 item 5): what
 * each pyramid level picked, per candidate, on ref-cpu (float64) and ONNX Runtime (exported by
 * backend-onnx), against an independent float64 brute force of SPEC's rules written here:
 *   CSA  r_p = ⟨e^h_p, e^v⟩, weight = softmax of r over the valid positions, top-K1;
 *   MSA  s_p = (e^v W_Q)·([e^h_p ‖ e^c_p] W_K) / √da, weight = softmax of s over the valid K1
 *        picks, top-K2 among them (positions in the original sequence);
 *   FSA  the K2 picks, weight = mean over heads of softmax_h(q_h·k_{h,p} / √dh) over them;
 *   top-k order: valid first, score descending, then the earlier sequence position; padding picks
 *   have valid false, position -1 and weight 0.
 * Embeddings and MSA's projections are small integers and the lifelong ids repeat (whole items
 * recur), so scores tie exactly in float32 and float64, at K1's and K2's boundaries too (counted,
 * so the test can tell). Positions and validity must be equal; weights within 1e-6.
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  GraphBuilder,
  type HostData,
  type HostTensor,
  type LifelongConfig,
  Rng,
  type Value,
  type Weights,
  buildLifelong,
  buildLifelongExplain,
  initWeights,
  lap,
  seqLayout,
} from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';

type Feeds = Record<string, HostTensor>;
const numbers = (d: HostData): number[] => Array.from(d as ArrayLike<number | bigint>, Number);
const LEVELS = ['csa', 'msa', 'fsa'] as const;
type Level = (typeof LEVELS)[number];
interface Picked {
  positions: number[];
  weights: number[];
  valid: boolean[];
}
const C = 5;

/** LCN's embedding tables and MSA's projections, each with the range of its integers. */
const LCN_INTS: Readonly<Record<string, number>> = {
  'emb/sourceItem': 2,
  'emb/targetItem': 2,
  'emb/category': 1,
  'emb/context0': 1,
  'emb/context1': 1,
  'lap/msa/wq': 1,
  'lap/msa/wk': 1,
};

/** Integers in [-r, r] for the parameters of `ints` (exact ties); the rest as initialised (seeded). */
function integerWeights(g: Graph, seed: number, ints: Readonly<Record<string, number>> = LCN_INTS): Weights {
  const rng = new Rng(seed);
  const w = initWeights(g, seed);
  for (const [name, r] of Object.entries(ints)) {
    const t = w.get(name);
    if (!t) throw new Error(`graph '${g.name}' has no parameter '${name}'`);
    w.set(name, { ...t, data: Float32Array.from(t.data, () => rng.int(2 * r + 1) - r) });
  }
  return w;
}

/** One request: mask pattern and whether ids are drawn from a handful (whole items recur: exact ties). */
function requestFeeds(g: Graph, c: Partial<LifelongConfig>, seed: number, mask: readonly number[], fewIds: boolean): Feeds {
  const f = randomFeeds(g, { cand: C }, seed, lifelongGens(c)) as Feeds;
  const n = c.lifelongLen!;
  const rng = new Rng(seed + 1);
  if (fewIds) {
    const ids = Array.from({ length: n }, () => rng.int(4));
    f['lifelongSeq'] = { dtype: 'int32', shape: [1, n], data: Int32Array.from(ids) };
    f['lifelongSeqCategory'] = { dtype: 'int32', shape: [1, n], data: Int32Array.from(ids, (i) => i % 3) };
    f['lifelongContext'] = { dtype: 'int32', shape: [1, n, 2], data: Int32Array.from(ids.flatMap((i) => [i % 5, i % 3])) };
  }
  f['lifelongMask'] = { dtype: 'bool', shape: [1, n], data: Uint8Array.from(mask) };
  return f;
}

// ---- SPEC's rules, brute force in float64 ----

/** Per candidate: each level's picks, and the raw scores r (CSA) and s (MSA, at the K1 picks) by position. */
interface Brute extends Record<Level, Picked> {
  r: ReadonlyMap<number, number>;
  s: ReadonlyMap<number, number>;
}

function bruteForce(c: Partial<LifelongConfig>, w: Weights, f: Feeds): Brute[] {
  const lap = c.lap!;
  const [k1, k2, da, heads, dh] = [lap.k1!, lap.k2!, lap.attentionDim, lap.heads, lap.headDim];
  const row = (name: string, i: number) => {
    const t = w.get(name)!,
      width = t.shape[1]!;
    return Array.from(t.data.slice(i * width, (i + 1) * width));
  };
  const times = (x: readonly number[], name: string, from = 0, to?: number) => {
    const m = w.get(name)!,
      cols = m.shape[1]!;
    return Array.from({ length: (to ?? cols) - from }, (_, j) => x.reduce((s, xi, i) => s + xi * m.data[i * cols + from + j]!, 0));
  };
  const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const softmax = (x: readonly number[]) => {
    const m = Math.max(...x),
      e = x.map((v) => Math.exp(v - m)),
      s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  const ids = (name: string) => Array.from(f[name]!.data, Number);
  const [seq, cat, ctx, mask] = [ids('lifelongSeq'), ids('lifelongSeqCategory'), ids('lifelongContext'), ids('lifelongMask')];
  const eh = seq.map((id, p) => [...row('emb/sourceItem', id), ...row('emb/category', cat[p]!)]);
  const x = eh.map((e, p) => [...e, ...row('emb/context0', ctx[2 * p]!), ...row('emb/context1', ctx[2 * p + 1]!)]);
  const valid = seq.map((_, p) => p).filter((p) => mask[p]);
  const padding = seq.map((_, p) => p).filter((p) => !mask[p]);
  /** valid positions by score descending, then position; then padding in position order (never picked as valid) */
  const ranked = (score: ReadonlyMap<number, number>, among: readonly number[], k: number) =>
    [...[...among].sort((a, b) => score.get(b)! - score.get(a)! || a - b), ...padding.map(() => -1)].slice(0, k);
  const level = (picks: readonly number[], weight: ReadonlyMap<number, number>): Picked => ({
    positions: [...picks],
    weights: picks.map((p) => (p < 0 ? 0 : weight.get(p)!)),
    valid: picks.map((p) => p >= 0),
  });
  const cands = ids('candidate'),
    candCats = ids('candidateCategory');
  return cands.map((cand, ci) => {
    const ev = [...row('emb/targetItem', cand), ...row('emb/category', candCats[ci]!)];
    const r = new Map(valid.map((p) => [p, dot(eh[p]!, ev)]));
    const csaW = new Map(valid.map((p, i) => [p, softmax(valid.map((q) => r.get(q)!))[i]!]));
    const p1 = ranked(r, valid, k1);
    const q = times(ev, 'lap/msa/wq');
    const onK1 = p1.filter((p) => p >= 0);
    const s = new Map(onK1.map((p) => [p, dot(q, times(x[p]!, 'lap/msa/wk')) / Math.sqrt(da)]));
    const msaW = new Map(onK1.map((p, i) => [p, softmax(onK1.map((o) => s.get(o)!))[i]!]));
    const p2 = ranked(s, onK1, k2);
    const onK2 = p2.filter((p) => p >= 0);
    const fsaW = new Map(onK2.map((p) => [p, 0]));
    for (let h = 0; h < heads; h++) {
      const qh = times(ev, 'lap/fsa/wq', h * dh, (h + 1) * dh);
      const a = softmax(onK2.map((p) => dot(qh, times(x[p]!, 'lap/fsa/wk', h * dh, (h + 1) * dh)) / Math.sqrt(dh)));
      onK2.forEach((p, i) => fsaW.set(p, fsaW.get(p)! + a[i]! / heads));
    }
    return { csa: level(p1, csaW), msa: level(p2, msaW), fsa: level(p2, fsaW), r, s };
  });
}

/** Rows of one run's outputs, per candidate and level. */
function picksOf(out: Readonly<Record<string, { data: HostData }>>, level: Level, k: number): Picked[] {
  const rows = (name: string) => Array.from({ length: C }, (_, i) => numbers(out[`${level}${name}`]!.data).slice(i * k, (i + 1) * k));
  const [pos, wt, ok] = [rows('Positions'), rows('Weights'), rows('Valid')];
  return pos.map((positions, i) => ({ positions, weights: wt[i]!, valid: ok[i]!.map(Boolean) }));
}

function expectClose(got: readonly Picked[], want: readonly Picked[], tol: number, what: string): void {
  expect(
    got.map((g) => g.positions),
    `${what}: positions`,
  ).toEqual(want.map((g) => g.positions));
  expect(
    got.map((g) => g.valid),
    `${what}: valid`,
  ).toEqual(want.map((g) => g.valid));
  got.forEach((g, i) =>
    g.weights.forEach((x, j) => {
      if (!(Math.abs(x - want[i]!.weights[j]!) <= tol))
        expect.fail(`${what}: weight of candidate ${i} pick ${j}: expected ${want[i]!.weights[j]} (±${tol}), got ${x}`);
    }),
  );
}

const MASKS: ReadonlyArray<[string, number[]]> = [
  ['full', new Array<number>(12).fill(1)],
  ['holes', [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0]],
  ['4 valid (< K1, > K2)', [0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0]],
  ['2 valid (< K2)', [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0]],
  ['all padding', new Array<number>(12).fill(0)],
];

describe('explain graph: ref-cpu and ONNX Runtime pick what SPEC says, ties included', () => {
  const cfg = LIFELONG_TEST_CONFIG;
  const k = { csa: cfg.lap!.k1!, msa: cfg.lap!.k2!, fsa: cfg.lap!.k2! };

  it('every level, every mask pattern, tie-heavy and plain requests', async () => {
    const explain = buildLifelongExplain(cfg);
    const scoring = buildLifelong(cfg);
    const weights = integerWeights(explain, 21);
    const session = await OnnxSession.create(exportOnnx(explain, weights), explain, { provider: 'cpu' });
    const scoringSession = await OnnxSession.create(exportOnnx(scoring, weights), scoring, { provider: 'cpu' });
    const ties = { csa: 0, msa: 0 };
    let seed = 100;
    try {
      for (const fewIds of [true, false]) {
        for (const [maskName, mask] of MASKS) {
          for (let rep = 0; rep < 4; rep++) {
            const what = `${fewIds ? 'repeated ids' : 'random ids'}, ${maskName}, request ${rep}`;
            const feeds = requestFeeds(explain, cfg, seed++, mask, fewIds);
            const want = bruteForce(cfg, weights, feeds);
            const ref = runRef(explain, weights, feeds);
            const ort = await session.run(feeds);
            for (const level of LEVELS) {
              const w = want.map((x) => x[level]);
              expectClose(picksOf(ref, level, k[level]), w, 1e-9, `${what}, ref-cpu ${level}`);
              expectClose(picksOf(ort, level, k[level]), w, 1e-6, `${what}, ONNX Runtime ${level}`);
            }
            // prob: the explain graph scores as the scoring graph does
            expect(numbers(ref['prob'].data), what).toEqual(numbers(runRef(scoring, weights, feeds)['prob'].data));
            const p = numbers((await scoringSession.run(feeds))['prob'].data),
              q = numbers(ort['prob'].data);
            p.forEach((x, i) => expect(Math.abs(x - q[i]!), `${what}: ONNX prob ${i}`).toBeLessThanOrEqual(1e-7));
            // ties at the boundary: the last pick's score equals the first valid non-pick's
            ties.csa += want.filter((x) => tieAtBoundary(x.csa, x.r)).length;
            ties.msa += want.filter((x) => tieAtBoundary(x.msa, x.s)).length;
          }
        }
      }
    } finally {
      await session.release();
      await scoringSession.release();
    }
    expect(ties.csa, "candidate rows with a CSA tie at K1's boundary").toBeGreaterThan(10);
    expect(ties.msa, "candidate rows with an MSA tie at K2's boundary").toBeGreaterThan(10);
  }, 60_000);
});

/** Whether a valid position the level did not pick scores the same as its last valid pick (a tie across the boundary). */
function tieAtBoundary(picked: Picked, scores: ReadonlyMap<number, number>): boolean {
  const picks = picked.positions.filter((p) => p >= 0);
  const last = picks.at(-1);
  return last !== undefined && [...scores.keys()].some((p) => !picks.includes(p) && scores.get(p) === scores.get(last));
}

describe('lap().explain() in the training layout reads the same picks and weights as the serving layout', () => {
  // MSA's weights come from a [R, K1] row aligned with the picks there (weightsAt matches positions), from a [C, N] row in serving
  const N = 8,
    D = 2,
    CTX = 1;
  function explainGraph(kind: 'perSample' | 'shared'): Graph {
    const schema =
      kind === 'perSample'
        ? ({
            items: { dtype: 'float32', shape: ['batch', N, D] },
            context: { dtype: 'float32', shape: ['batch', N, CTX] },
            mask: { dtype: 'bool', shape: ['batch', N] },
            query: { dtype: 'float32', shape: ['batch', D] },
          } as const)
        : ({
            items: { dtype: 'float32', shape: [N, D] },
            context: { dtype: 'float32', shape: [N, CTX] },
            mask: { dtype: 'bool', shape: [1, N] },
            query: { dtype: 'float32', shape: ['cand', D] },
          } as const);
    const b = new GraphBuilder(`lap-explain-${kind}`, schema);
    const e = lap(b, 'lap', seqLayout(b, kind), b.inputs, {
      k1: 4,
      k2: 2,
      attentionDim: 4,
      heads: 2,
      headDim: 2,
      ffnDim: 3,
      outDim: 2,
    }).explain();
    const outs: Record<string, Value> = {};
    for (const level of LEVELS) for (const [o, v] of Object.entries(e[level]!)) outs[`${level}${o[0]!.toUpperCase()}${o.slice(1)}`] = v;
    return b.build(outs);
  }

  it('every level, a full row, one with holes and one with fewer valid positions than K2', () => {
    const shared = explainGraph('shared'),
      perSample = explainGraph('perSample');
    const w = integerWeights(shared, 5, { 'lap/msa/wq': 1, 'lap/msa/wk': 1 });
    const rng = new Rng(9);
    const queries = Array.from({ length: 3 }, () => [rng.int(5) - 2, rng.int(5) - 2]);
    for (const mask of [
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1, 0, 1, 1, 0, 1, 0, 1],
      [0, 0, 1, 0, 0, 0, 0, 0],
    ]) {
      const items = Array.from({ length: N * D }, () => rng.int(5) - 2),
        context = Array.from({ length: N * CTX }, () => rng.int(3));
      const one = runRef(shared, w, {
        items: { dtype: 'float32', shape: [N, D], data: Float32Array.from(items) },
        context: { dtype: 'float32', shape: [N, CTX], data: Float32Array.from(context) },
        mask: { dtype: 'bool', shape: [1, N], data: Uint8Array.from(mask) },
        query: { dtype: 'float32', shape: [3, D], data: Float32Array.from(queries.flat()) },
      });
      const rows = (x: readonly number[]) => Float32Array.from([...x, ...x, ...x]);
      const each = runRef(perSample, w, {
        items: { dtype: 'float32', shape: [3, N, D], data: rows(items) },
        context: { dtype: 'float32', shape: [3, N, CTX], data: rows(context) },
        mask: { dtype: 'bool', shape: [3, N], data: Uint8Array.from([...mask, ...mask, ...mask]) },
        query: { dtype: 'float32', shape: [3, D], data: Float32Array.from(queries.flat()) },
      });
      for (const name of Object.keys(shared.outputs)) {
        const [a, b] = [numbers(one[name]!.data), numbers(each[name]!.data)];
        if (name.endsWith('Weights'))
          a.forEach((x, i) => expect(Math.abs(x - b[i]!), `${name} ${i} (mask ${mask.join('')})`).toBeLessThanOrEqual(1e-12));
        else expect(b, `${name} (mask ${mask.join('')})`).toEqual(a);
      }
      expect(numbers(one['msaValid']!.data).some(Boolean)).toBe(mask.some(Boolean));
    }
  });
});
