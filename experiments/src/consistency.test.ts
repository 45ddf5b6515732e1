import { describe, expect, it } from 'vitest';
import { type HostTensor, Rng, initWeights, lifelongConfig } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { buildFsaProbe, buildPicksProbe, rowShares } from './consistency.ts';

const N = 12,
  R = 3;
const cfg = lifelongConfig({
  dim: 4,
  categoryDim: 2,
  targetItems: 10,
  sourceItems: 20,
  categories: 3,
  profile: [],
  lifelongLen: N,
  context: [3, 2],
  contextDim: 2,
  lap: {
    k1: 6,
    k2: 3,
    heads: 2,
    headDim: 2,
    attentionDim: 4,
    ffnDim: 4,
    outDim: 4,
    csaNormalize: 'softmax',
    msaNormalize: 'softmax',
    fsaPool: 'mean',
  },
});

function batch(): Record<string, HostTensor> {
  const rng = new Rng(7);
  const valid = [N, 9, 5];
  const seq = new Int32Array(R * N),
    cat = new Int32Array(R * N),
    mask = new Uint8Array(R * N),
    ctx = new Int32Array(R * N * 2);
  for (let r = 0; r < R; r++)
    for (let k = 0; k < N; k++) {
      const i = r * N + k;
      seq[i] = rng.int(20);
      cat[i] = rng.int(3);
      mask[i] = k < valid[r]! ? 1 : 0;
      ctx[2 * i] = rng.int(3);
      ctx[2 * i + 1] = rng.int(2);
    }
  return {
    candidate: { dtype: 'int32', shape: [R], data: Int32Array.from([1, 4, 9]) },
    candidateCategory: { dtype: 'int32', shape: [R], data: Int32Array.from([0, 2, 1]) },
    lifelongSeq: { dtype: 'int32', shape: [R, N], data: seq },
    lifelongSeqCategory: { dtype: 'int32', shape: [R, N], data: cat },
    lifelongMask: { dtype: 'bool', shape: [R, N], data: mask },
    lifelongContext: { dtype: 'int32', shape: [R, N, 2], data: ctx },
  };
}

describe('consistency probes', () => {
  const inputs = batch();
  const fsaGraph = buildFsaProbe(cfg, { top: 4, k2: 3, score: 'softmax' });
  const weights = initWeights(fsaGraph, 3);

  it("FSA's top over the whole sequence is the head-averaged softmax attention, ranked in plain JS", () => {
    const out = runRef(fsaGraph, weights, inputs);
    const at = (name: string, i: number) => Number(inputs[name]!.data[i]!);
    const w = (n: string) => weights.get(n)!.data as Float32Array;
    const row = (t: Float32Array, i: number, width: number) => Array.from(t.subarray(i * width, (i + 1) * width));
    const mat = (x: number[], m: Float32Array, cols: number) =>
      Array.from({ length: cols }, (_, j) => x.reduce((s, v, i) => s + v * m[i * cols + j]!, 0));
    const dh = 2,
      l = 2;
    for (let r = 0; r < R; r++) {
      const cand = at('candidate', r),
        candCat = at('candidateCategory', r);
      const q = mat([...row(w('emb/targetItem'), cand, 4), ...row(w('emb/category'), candCat, 2)], w('lap/fsa/wq'), l * dh);
      const valid = Array.from({ length: N }, (_, k) => inputs['lifelongMask']!.data[r * N + k] === 1);
      const logits = Array.from({ length: N }, (_, k) => {
        const i = r * N + k;
        const x = [
          ...row(w('emb/sourceItem'), at('lifelongSeq', i), 4),
          ...row(w('emb/category'), at('lifelongSeqCategory', i), 2),
          ...row(w('emb/context0'), at('lifelongContext', 2 * i), 2),
          ...row(w('emb/context1'), at('lifelongContext', 2 * i + 1), 2),
        ];
        const key = mat(x, w('lap/fsa/wk'), l * dh);
        return Array.from({ length: l }, (_, h) => (q[h * dh]! * key[h * dh]! + q[h * dh + 1]! * key[h * dh + 1]!) / Math.sqrt(dh));
      });
      const score = new Array<number>(N).fill(0);
      for (let h = 0; h < l; h++) {
        const mx = Math.max(...logits.filter((_, k) => valid[k]).map((s) => s[h]!));
        const e = logits.map((s, k) => (valid[k] ? Math.exp(s[h]! - mx) : 0));
        const z = e.reduce((a, b) => a + b, 0);
        e.forEach((v, k) => {
          score[k] += v / z / l;
        });
      }
      const want = [...score.keys()]
        .filter((k) => valid[k])
        .sort((a, b) => score[b]! - score[a]! || a - b)
        .slice(0, 4);
      expect(Array.from(out.fsaTop.data.subarray(r * 4, r * 4 + 4))).toEqual(want);
    }
  });

  it('the K2 picks are among the K1 picks, the valid ones first; K1 = N picks every valid position', () => {
    for (const k1 of [3, 6, N]) {
      const g = buildPicksProbe(cfg, k1, 3);
      const out = runRef(g, initWeights(g, 3), inputs);
      for (let r = 0; r < R; r++) {
        const p1 = Array.from(out.k1Picks.data.subarray(r * k1, (r + 1) * k1)),
          v1 = Array.from(out.k1Valid.data.subarray(r * k1, (r + 1) * k1));
        const p2 = Array.from(out.k2Picks.data.subarray(r * 3, r * 3 + 3)),
          v2 = Array.from(out.k2Valid.data.subarray(r * 3, r * 3 + 3));
        p2.forEach((p, j) => {
          if (v2[j]) expect(p1.filter((_, i) => v1[i])).toContain(p);
        });
        if (k1 === N) expect(v1.filter(Boolean).length).toBe([N, 9, 5][r]);
      }
    }
  });

  it('rowShares splits rows and skips a row without valid real picks', () => {
    expect(rowShares(2, [1, 2, 3, 4], [1, 1, 0, 0], [2, 9, 4, 5], [1, 1, 1, 1])).toEqual([0.5, NaN]);
    expect(() => rowShares(3, [1, 2], [1, 1], [1], [1])).toThrow(/do not split into 3 rows/);
  });
});
