/**
 * IFA (blocks/ifa.ts, models/ifa.ts) on ref-cpu against plain float64 loops of SPEC.md's formulas:
 * - fastAttn with each kernel against the quadratic definition D⁻¹ φ(Q) φ(K)ᵀ V (so the linear
 *   reordering is checked too), padded keys holding NaN or 1e30, an all-padding key set (exact 0),
 *   gradients into q, k, v against finite differences of the oracle;
 * - cross and candidate self attention with their projections, padded candidates (NaN features);
 * - the ESMM loss on a hand-computed case (with an extra objective), at extreme logits against an
 *   exact float64 form, gradients against finite differences;
 * - the whole request model (training graph, every module: 'ifa', 'avgPool', 'fullAttention' and
 *   the top-k baselines SIM soft, SIM hard, TWIN in the perRequest layout, SIM soft's auxiliary
 *   GSU loss included) against a loop transcription, and the serving graph (shared layout for the
 *   top-k modules) on one request == that request's row of the training graph (1e-12);
 * - SIM soft's auxiliary loss: the only path into the GSU projections (zero gradients without
 *   it), gradients against finite differences of the ref-cpu loss.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  type Graph,
  GraphBuilder,
  type HostTensor,
  type IfaConfigInput,
  type IfaKernel,
  Rng,
  type Value,
  type Weights,
  buildIfa,
  buildIfaTrain,
  candidateSelfAttention,
  crossAttention,
  esmmLoss,
  fastAttn,
  ifaConfig,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import { IFA_TEST_CONFIG, ifaGens, randomFeeds } from '@lctr/spec/testing';
import { gradRef, runRef } from '@lctr/ref-cpu';

type Mat = number[][];
const KERNELS: readonly IfaKernel[] = ['softplus', 'relu', 'elu1'];
const f32 = (x: number) => Math.fround(x);
const EPS = 1e-6;

// ---- float64 oracles ----

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
function phi(x: number, kernel: IfaKernel): number {
  return kernel === 'softplus' ? softplus(x) : kernel === 'relu' ? Math.max(x, 0) : x > 0 ? x + 1 : Math.exp(x);
}
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const matVec = (x: readonly number[], w: Float32Array | Float64Array, cols: number) =>
  Array.from({ length: cols }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * cols + j]!, 0));

/** The definition, O(Cq Nk): out_c = Σ_n (φ(q_c)·φ(k_n)) v_n / (Σ_n φ(q_c)·φ(k_n) + ε) over valid n. */
function fastAttnOracle(q: Mat, k: Mat, v: Mat, mask: readonly boolean[], kernel: IfaKernel, dv: number, eps = EPS): Mat {
  return q.map((qc) => {
    const pq = qc.map((x) => phi(x, kernel));
    const num = new Array<number>(dv).fill(0);
    let den = 0;
    k.forEach((kn, n) => {
      if (!mask[n]) return;
      const s = dot(
        pq,
        kn.map((x) => phi(x, kernel)),
      );
      den += s;
      v[n]!.forEach((x, j) => {
        num[j]! += s * x;
      });
    });
    return num.map((x) => x / (den + eps));
  });
}

/** BCE(y, σ(a)σ(b)) from the exact float64 forms of log p and log(1 - p) (no cancellation for |a|, |b| <= 100). */
function bceProduct(y: number, a: number, b: number): number {
  const logP = -Math.log1p(Math.exp(-a)) - Math.log1p(Math.exp(-b));
  const log1mP = Math.log(Math.exp(-a) + Math.exp(-b) + Math.exp(-a - b)) - Math.log1p(Math.exp(-a)) - Math.log1p(Math.exp(-b));
  return -y * logP - (1 - y) * log1mP;
}
interface EsmmCase {
  imp: number[];
  clk: number[];
  yImp: number[];
  yClk: number[];
  mask: boolean[];
  extra: Array<{ logit: number[]; label: number[] }>;
}
function esmmOracle(c: EsmmCase): number {
  let total = 0,
    count = 0;
  c.mask.forEach((valid, i) => {
    if (!valid) return;
    count++;
    total += softplus(c.imp[i]!) - c.yImp[i]! * c.imp[i]! + bceProduct(c.yClk[i]!, c.imp[i]!, c.clk[i]!);
    for (const x of c.extra) total += bceProduct(x.label[i]!, c.imp[i]!, x.logit[i]!);
  });
  return count ? total / count : 0;
}

// ---- helpers ----

const tensor = (shape: number[], data: readonly number[]): HostTensor<'float32'> => ({
  dtype: 'float32',
  shape,
  data: Float32Array.from(data),
});
const boolT = (shape: number[], data: readonly boolean[]): HostTensor<'bool'> => ({
  dtype: 'bool',
  shape,
  data: Uint8Array.from(data, Number),
});
const rowsOf = (data: ArrayLike<number>, width: number): Mat =>
  Array.from({ length: data.length / width }, (_, i) => Array.from(data).slice(i * width, (i + 1) * width));
function worstRel(got: readonly number[], want: readonly number[]): number {
  expect(got.length).toBe(want.length);
  return got.reduce((m, g, i) => Math.max(m, Math.abs(g - want[i]!) / Math.max(1, Math.abs(want[i]!))), 0);
}
function randomWeights(g: Graph, seed: number, std = 0.5): Weights {
  const rng = new Rng(seed);
  return new Map(
    g.params.map((p) => [
      p.name,
      {
        dtype: 'float32' as const,
        shape: p.shape,
        data: Float32Array.from({ length: p.shape.reduce((a, x) => a * x, 1) }, () => std * rng.normal()),
      },
    ]),
  );
}
const randMat = (rng: Rng, rows: number, cols: number, valid?: readonly boolean[], pad = NaN): Mat =>
  Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, () => (valid && !valid[r] ? pad : f32(rng.normal()))));
const maskOf = (s: string) => [...s].map((ch) => ch === '1');

// ---- fastAttn ----

const R = 4,
  CQ = 3,
  NK = 7,
  D = 4,
  DV = 2;
/** full, partial with holes, none valid, one valid */
const KEY_MASKS = ['1111111', '1011010', '0000000', '0001000'].map(maskOf);

function fastAttnGraph(kernel: IfaKernel) {
  const b = new GraphBuilder(`fa-${kernel}`, {
    q: { dtype: 'float32', shape: ['r', CQ, D] },
    k: { dtype: 'float32', shape: ['r', 'n', D] },
    v: { dtype: 'float32', shape: ['r', 'n', DV] },
    mask: { dtype: 'bool', shape: ['r', 'n'] },
  });
  const { q, k, v, mask } = b.inputs;
  return b.build({ out: fastAttn(b, 'fa', q, k, v, mask, { kernel }) });
}
interface FaRows {
  q: Mat[];
  k: Mat[];
  v: Mat[];
  mask: boolean[][];
}
function faRows(seed: number, pad: number, scale = 1): FaRows {
  const rng = new Rng(seed);
  const s = (m: Mat) => m.map((r) => r.map((x) => f32(x * scale)));
  return {
    q: KEY_MASKS.map(() => s(randMat(rng, CQ, D))),
    k: KEY_MASKS.map((m) => s(randMat(rng, NK, D, m, pad))),
    v: KEY_MASKS.map((m) => randMat(rng, NK, DV, m, pad)),
    mask: KEY_MASKS.map((m) => [...m]),
  };
}
const faFeeds = (x: FaRows) => ({
  q: tensor([R, CQ, D], x.q.flat(2)),
  k: tensor([R, NK, D], x.k.flat(2)),
  v: tensor([R, NK, DV], x.v.flat(2)),
  mask: boolT([R, NK], x.mask.flat()),
});

describe('fastAttn against the quadratic definition (float64)', () => {
  for (const kernel of KERNELS) {
    it(`${kernel}: every row, NaN at padded keys, an all-padding row gives exactly 0`, () => {
      const g = fastAttnGraph(kernel);
      const x = faRows(3, NaN);
      const out = runRef(g, new Map(), faFeeds(x))['out']!;
      expect(out.shape).toEqual([R, CQ, DV]);
      const got = rowsOf(out.data, CQ * DV);
      let worst = 0;
      for (let r = 0; r < R; r++)
        worst = Math.max(worst, worstRel(got[r]!, fastAttnOracle(x.q[r]!, x.k[r]!, x.v[r]!, x.mask[r]!, kernel, DV).flat()));
      expect(worst).toBeLessThan(1e-12);
      expect(got[2]).toEqual(new Array<number>(CQ * DV).fill(0));
      expect(got[0]!.every((v) => v !== 0)).toBe(true);
    });
  }

  it('what padded keys hold (NaN, 1e30, 0) changes neither outputs nor gradients; padded keys and values get zero gradient', () => {
    for (const kernel of KERNELS) {
      const g = fastAttnGraph(kernel);
      const cot = Float64Array.from({ length: R * CQ * DV }, (_, i) => Math.sin(i + 1));
      const results = [NaN, 1e30, 0].map((pad) => gradRef(g, new Map(), faFeeds(faRows(5, pad)), 'out', cot));
      for (const res of results.slice(1)) {
        expect(Array.from(res.outputs['out']!.data)).toEqual(Array.from(results[0]!.outputs['out']!.data));
        for (const name of ['q', 'k', 'v'])
          expect(Array.from(res.inputGrads.get(name)!)).toEqual(Array.from(results[0]!.inputGrads.get(name)!));
      }
      const gk = results[0]!.inputGrads.get('k')!,
        gv = results[0]!.inputGrads.get('v')!;
      expect(Array.from(gk).every(Number.isFinite) && Array.from(gv).every(Number.isFinite)).toBe(true);
      KEY_MASKS.forEach((m, r) =>
        m.forEach((valid, n) => {
          if (valid) return;
          for (let j = 0; j < D; j++) expect(gk[(r * NK + n) * D + j]).toBe(0);
          for (let j = 0; j < DV; j++) expect(gv[(r * NK + n) * DV + j]).toBe(0);
        }),
      );
      // an all-padding row passes no gradient to its queries either
      expect(Array.from(results[0]!.inputGrads.get('q')!.slice(2 * CQ * D, 3 * CQ * D))).toEqual(new Array<number>(CQ * D).fill(0));
    }
  });

  it('gradients into q, k and v match central finite differences of the oracle (every kernel)', () => {
    for (const kernel of KERNELS) {
      const g = fastAttnGraph(kernel);
      const x = faRows(8, 0);
      // keep relu away from its kink at 0 so finite differences are defined
      if (kernel === 'relu')
        for (const m of [...x.q, ...x.k])
          for (const row of m)
            row.forEach((v, j) => {
              if (Math.abs(v) < 0.05) row[j] = f32(0.3);
            });
      const cot = Float64Array.from({ length: R * CQ * DV }, (_, i) => Math.cos(i));
      const grads = gradRef(g, new Map(), faFeeds(x), 'out', cot).inputGrads;
      const loss = (y: FaRows) =>
        y.q.reduce(
          (s, _, r) =>
            s +
            fastAttnOracle(y.q[r]!, y.k[r]!, y.v[r]!, y.mask[r]!, kernel, DV)
              .flat()
              .reduce((t, o, i) => t + o * cot[r * CQ * DV + i]!, 0),
          0,
        );
      const h = 1e-6;
      let worst = 0;
      for (const name of ['q', 'k', 'v'] as const) {
        const got = grads.get(name)!;
        const width = name === 'v' ? DV : D,
          len = name === 'q' ? CQ : NK;
        for (let r = 0; r < R; r++)
          for (let i = 0; i < len; i++)
            for (let j = 0; j < width; j++) {
              if (name !== 'q' && !x.mask[r]![i]) continue;
              const bump = (delta: number) => {
                const y = structuredClone(x);
                y[name][r]![i]![j]! += delta;
                return loss(y);
              };
              const fd = (bump(h) - bump(-h)) / (2 * h);
              worst = Math.max(worst, Math.abs(got[(r * len + i) * width + j]! - fd) / Math.max(1, Math.abs(fd)));
            }
      }
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('ε: keys whose φ is 0 everywhere (relu, negative keys) give 0, not NaN', () => {
    const g = fastAttnGraph('relu');
    const x = faRows(2, NaN);
    x.k = x.k.map((m) => m.map((row) => row.map((v) => (Number.isNaN(v) ? v : -Math.abs(v) - 0.1))));
    const out = runRef(g, new Map(), faFeeds(x))['out']!;
    expect(Array.from(out.data)).toEqual(new Array<number>(R * CQ * DV).fill(0));
  });
});

// ---- cross and candidate self attention ----

describe('cross attention and candidate self attention (float64 oracles)', () => {
  const C = 4,
    N = 6,
    DC = 3,
    DS = 5,
    A = 2;
  const CAND_MASKS = ['1111', '1100', '0000'].map(maskOf);
  const SEQ_MASKS = ['111111', '010110', '000000'].map(maskOf);
  function graph(kernel: IfaKernel) {
    const b = new GraphBuilder('att', {
      cand: { dtype: 'float32', shape: ['r', 'c', DC] },
      candMask: { dtype: 'bool', shape: ['r', 'c'] },
      seq: { dtype: 'float32', shape: ['r', 'n', DS] },
      seqMask: { dtype: 'bool', shape: ['r', 'n'] },
    });
    const { cand, candMask, seq, seqMask } = b.inputs;
    const opts = { attnDim: A, valueDim: 3, kernel };
    return b.build({
      cross: crossAttention(b, 'cross', cand, seq, seqMask, opts, candMask),
      self: candidateSelfAttention(b, 'self', cand, candMask, opts),
    });
  }
  for (const kernel of KERNELS) {
    it(`${kernel}: projections, padded candidates (NaN) output 0 and are not keys, empty sequences give 0`, () => {
      const g = graph(kernel);
      expect(g.params.map((p) => `${p.name} [${p.shape.join(', ')}]`)).toEqual([
        'cross/w_q [3, 2]',
        'cross/w_k [5, 2]',
        'cross/w_v [5, 3]',
        'self/w_q [3, 2]',
        'self/w_k [3, 2]',
        'self/w_v [3, 3]',
      ]);
      const w = randomWeights(g, 4);
      const W = (n: string) => w.get(n)!.data as Float32Array;
      const rng = new Rng(6);
      const cands = CAND_MASKS.map((m) => randMat(rng, C, DC, m));
      const seqs = SEQ_MASKS.map((m) => randMat(rng, N, DS, m));
      const out = runRef(g, w, {
        cand: tensor([3, C, DC], cands.flat(2)),
        candMask: boolT([3, C], CAND_MASKS.flat()),
        seq: tensor([3, N, DS], seqs.flat(2)),
        seqMask: boolT([3, N], SEQ_MASKS.flat()),
      });
      const cross = rowsOf(out['cross']!.data, C * 3),
        self = rowsOf(out['self']!.data, C * 3);
      let worst = 0;
      for (let r = 0; r < 3; r++) {
        const cm = CAND_MASKS[r]!,
          sm = SEQ_MASKS[r]!;
        const c0 = cands[r]!.map((row, i) => (cm[i] ? row : row.map(() => 0)));
        const s0 = seqs[r]!.map((row, i) => (sm[i] ? row : row.map(() => 0)));
        const proj = (m: Mat, name: string, cols: number) => m.map((row) => matVec(row, W(name), cols));
        const zeroPadded = (m: Mat) => m.map((row, i) => (cm[i] ? row : row.map(() => 0)));
        const wantCross = zeroPadded(
          fastAttnOracle(proj(c0, 'cross/w_q', A), proj(s0, 'cross/w_k', A), proj(s0, 'cross/w_v', 3), sm, kernel, 3),
        );
        const wantSelf = zeroPadded(
          fastAttnOracle(proj(c0, 'self/w_q', A), proj(c0, 'self/w_k', A), proj(c0, 'self/w_v', 3), cm, kernel, 3),
        );
        worst = Math.max(worst, worstRel(cross[r]!, wantCross.flat()), worstRel(self[r]!, wantSelf.flat()));
      }
      expect(worst).toBeLessThan(1e-12);
      expect(cross[1]!.slice(6)).toEqual([0, 0, 0, 0, 0, 0]); // candidates 2, 3 padded
      expect(self[1]!.slice(6)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(cross[2]).toEqual(new Array<number>(12).fill(0)); // nothing valid
      expect(self[2]).toEqual(new Array<number>(12).fill(0));
      expect(self[1]!.slice(0, 6).every(Number.isFinite)).toBe(true);
      // φ > 0 everywhere for softplus and elu + 1, so valid rows are never 0 (relu may give exact 0 rows)
      if (kernel !== 'relu') expect(self[1]!.slice(0, 6).every((v) => v !== 0)).toBe(true);
    });
  }
});

// ---- ESMM ----

function esmmGraph(extras: number) {
  const s: Record<string, FeatureSchema[string]> = {
    imp: { dtype: 'float32', shape: ['r', 'c'] },
    clk: { dtype: 'float32', shape: ['r', 'c'] },
    yImp: { dtype: 'float32', shape: ['r', 'c'] },
    yClk: { dtype: 'float32', shape: ['r', 'c'] },
    mask: { dtype: 'bool', shape: ['r', 'c'] },
  };
  for (let i = 0; i < extras; i++) {
    s[`x${i}`] = { dtype: 'float32', shape: ['r', 'c'] };
    s[`y${i}`] = { dtype: 'float32', shape: ['r', 'c'] };
  }
  const b = new GraphBuilder('esmm', s);
  const v = b.inputs as Record<string, Value>;
  const f = (n: string) => b.expectDtype(v[n]!, 'float32');
  const extra = Array.from({ length: extras }, (_, i) => ({ logit: f(`x${i}`), label: f(`y${i}`) }));
  return b.build({
    loss: esmmLoss(b, f('imp'), f('clk'), { impression: f('yImp'), click: f('yClk') }, b.expectDtype(v['mask']!, 'bool'), extra),
  });
}
function esmmFeeds(c: EsmmCase, rows: number) {
  const cols = c.mask.length / rows;
  const t = (x: readonly number[]) => tensor([rows, cols], x);
  const out: Record<string, HostTensor> = {
    imp: t(c.imp),
    clk: t(c.clk),
    yImp: t(c.yImp),
    yClk: t(c.yClk),
    mask: boolT([rows, cols], c.mask),
  };
  c.extra.forEach((x, i) => {
    out[`x${i}`] = t(x.logit);
    out[`y${i}`] = t(x.label);
  });
  return out;
}

describe('ESMM loss', () => {
  it('hand-computed: logits 0 (all probabilities 1/2), labels (1,1), (1,0), (0,0), one padded candidate holding NaN', () => {
    const c: EsmmCase = {
      imp: [0, 0, 0, NaN],
      clk: [0, 0, 0, NaN],
      yImp: [1, 1, 0, NaN],
      yClk: [1, 0, 0, NaN],
      mask: [true, true, true, false],
      extra: [],
    };
    // BCE(y_imp, 1/2) = log 2 each; BCE(1, 1/4) = 2 log 2; BCE(0, 1/4) = -log(3/4)
    const want = (3 * Math.LN2 + 2 * Math.LN2 - 2 * Math.log(0.75)) / 3;
    expect(runRef(esmmGraph(0), new Map(), esmmFeeds(c, 2))['loss']!.data[0]).toBeCloseTo(want, 14);
    // an extra objective with logit 0, labels 1, 0, 0 adds (2 log 2 - 2 log(3/4)) / 3
    const withExtra = { ...c, extra: [{ logit: [0, 0, 0, NaN], label: [1, 0, 0, NaN] }] };
    expect(runRef(esmmGraph(1), new Map(), esmmFeeds(withExtra, 2))['loss']!.data[0]).toBeCloseTo(
      want + (2 * Math.LN2 - 2 * Math.log(0.75)) / 3,
      14,
    );
    expect(want).toBeCloseTo(1.347033, 6);
  });

  it('no valid candidate: loss 0 and zero gradients', () => {
    const c: EsmmCase = { imp: [NaN, 1], clk: [2, NaN], yImp: [1, 0], yClk: [1, 0], mask: [false, false], extra: [] };
    const r = gradRef(esmmGraph(0), new Map(), esmmFeeds(c, 1), 'loss');
    expect(r.outputs['loss']!.data[0]).toBe(0);
    expect(Array.from(r.inputGrads.get('imp')!)).toEqual([0, 0]);
  });

  it(
    'extreme logits (up to ±80): finite, and equal to the exact float64 form within 1e-12 relative; gradients match finite ' +
      'differences',
    () => {
      const L = [-80, -30, -5, 0, 3, 30, 80];
      const cells: Array<[number, number]> = L.flatMap((a) => L.map((b): [number, number] => [a, b]));
      const n = cells.length;
      const rng = new Rng(12);
      const c: EsmmCase = {
        imp: cells.map(([a]) => a),
        clk: cells.map(([, b]) => b),
        yImp: cells.map(() => 1),
        yClk: cells.map(() => rng.int(2)),
        mask: cells.map(() => true),
        extra: [{ logit: cells.map(([, b]) => -b), label: cells.map(() => rng.int(2)) }],
      };
      const g = esmmGraph(1);
      const res = gradRef(g, new Map(), esmmFeeds(c, 1), 'loss');
      const got = res.outputs['loss']!.data[0]!;
      expect(Number.isFinite(got)).toBe(true);
      expect(Math.abs(got - esmmOracle(c)) / esmmOracle(c)).toBeLessThan(1e-12);
      for (const name of ['imp', 'clk', 'x0']) expect(Array.from(res.inputGrads.get(name)!).every(Number.isFinite)).toBe(true);
      // per-cell gradients against finite differences of the exact form
      const h = 1e-5;
      let worst = 0;
      for (const [name, key] of [
        ['imp', 'imp'],
        ['clk', 'clk'],
      ] as const) {
        for (let i = 0; i < n; i++) {
          const bump = (d: number) => {
            const y = structuredClone(c);
            y[key][i]! += d;
            return esmmOracle(y);
          };
          const fd = (bump(h) - bump(-h)) / (2 * h);
          worst = Math.max(worst, Math.abs(res.inputGrads.get(name)![i]! - fd));
        }
      }
      expect(worst).toBeLessThan(1e-8);
    },
  );
});

// ---- the whole request model ----

const T = IFA_TEST_CONFIG;
const MODULES = ['ifa', 'avgPool', 'fullAttention', 'simSoft', 'simHard', 'twin'] as const;
const CAND_ROWS = ['11111', '11100', '00000', '10000'].map(maskOf);
const SEQ_ROWS = ['111111111111', '111111100000', '111000000000', '000000000000'].map(maskOf);

interface Outs {
  pImpression: number[];
  pClick: number[];
  prob: number[];
  loss: number;
  extra: number[][];
  aux: number;
}

// ---- SIM soft / SIM hard / TWIN for one candidate row (as in sim-twin-oracle.test.ts) ----

const vecMat = (x: readonly number[], w: Weights, name: string) => matVec(x, w.get(name)!.data as Float32Array, w.get(name)!.shape[1]!);
function softmaxOver(logits: readonly number[], valid: readonly boolean[]): number[] {
  const mx = Math.max(...logits.filter((_, i) => valid[i]));
  const e = logits.map((l, i) => (valid[i] ? Math.exp(l - mx) : 0));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((v) => (s > 0 ? v / s : 0));
}
/** Top-k as SPEC fixes it: valid first, then score descending, then the lower index. */
function topkOf(score: readonly number[], valid: readonly boolean[], k: number): { idx: number[]; ok: boolean[] } {
  const order = score
    .map((_, i) => i)
    .sort((a, b) => Number(valid[b]) - Number(valid[a]) || (valid[a] && valid[b] ? score[b]! - score[a]! : 0) || a - b);
  const idx = order.slice(0, k);
  return { idx, ok: idx.map((i) => valid[i]!) };
}
/** ESU: single-head softmax attention of query q over the picked rows of S0 (padding zeroed). */
function esuOracle(w: Weights, prefix: string, S0: Mat, q: number[], picks: number[], ok: boolean[], da: number): number[] {
  const qq = vecMat(q, w, `${prefix}/esu/wq`);
  const a = softmaxOver(
    picks.map((p, j) => (ok[j] ? dot(qq, vecMat(S0[p]!, w, `${prefix}/esu/wk`)) / Math.sqrt(da) : 0)),
    ok,
  );
  const out = new Array<number>(da).fill(0);
  picks.forEach((p, j) => {
    if (ok[j])
      vecMat(S0[p]!, w, `${prefix}/esu/wv`).forEach((v, t) => {
        out[t]! += a[j]! * v;
      });
  });
  return out;
}
/** The module output A for candidate query q (and SIM soft's GSU-pooled vector u). */
function topkModuleOracle(
  c: ReturnType<typeof ifaConfig>,
  w: Weights,
  S0: Mat,
  sm: boolean[],
  q: number[],
  seqCat: number[],
  candCat: number,
): { A: number[]; pooled?: number[] } {
  if (c.module === 'simSoft') {
    const qg = vecMat(q, w, 'simSoft/gsu/wq');
    const r = S0.map((e, n) => (sm[n] ? dot(qg, vecMat(e, w, 'simSoft/gsu/wk')) : 0));
    const { idx, ok } = topkOf(r, sm, c.simSoft.k);
    const a = softmaxOver(
      r.map((v) => v / Math.sqrt(c.simSoft.gsuDim)),
      sm,
    );
    const pooled = new Array<number>(S0[0]!.length).fill(0);
    S0.forEach((e, n) => {
      if (sm[n])
        e.forEach((v, t) => {
          pooled[t]! += a[n]! * v;
        });
    });
    return { A: esuOracle(w, 'simSoft', S0, q, idx, ok, c.simSoft.attentionDim), pooled };
  }
  if (c.module === 'simHard') {
    const match = sm.map((m, n) => m && seqCat[n] === candCat);
    const { idx, ok } = topkOf(
      match.map((_, n) => n),
      match,
      c.simHard.k,
    ); // most recent = highest position
    return { A: esuOracle(w, 'simHard', S0, q, idx, ok, c.simHard.attentionDim) };
  }
  const { heads: H, headDim: dh, k } = c.twin;
  const qq = vecMat(q, w, 'twin/wq');
  const head = (x: number[], h: number) => x.slice(h * dh, (h + 1) * dh);
  const keys = S0.map((e) => vecMat(e, w, 'twin/wk'));
  const bias = S0.map((e) => vecMat(e.slice(c.dim + c.categoryDim), w, 'twin/wc')); // the context embeddings: S's last columns
  const logit = (n: number, h: number) => dot(head(qq, h), head(keys[n]!, h)) / Math.sqrt(dh) + bias[n]![h]!;
  const gsu = S0.map((_, n) => (sm[n] ? Array.from({ length: H }, (__, h) => logit(n, h)).reduce((s, v) => s + v, 0) : 0));
  const { idx, ok } = topkOf(gsu, sm, k);
  const concat: number[] = [];
  for (let h = 0; h < H; h++) {
    const a = softmaxOver(
      idx.map((p, j) => (ok[j] ? logit(p, h) : 0)),
      ok,
    );
    const o = new Array<number>(dh).fill(0);
    idx.forEach((p, j) => {
      if (ok[j])
        head(vecMat(S0[p]!, w, 'twin/wv'), h).forEach((v, t) => {
          o[t]! += a[j]! * v;
        });
    });
    concat.push(...o);
  }
  return { A: vecMat(concat, w, 'twin/wo') };
}

/** The model of models/ifa.ts transcribed into loops, per request. */
function modelOracle(cfg: IfaConfigInput, w: Weights, f: Record<string, HostTensor>, rows: number): Outs {
  const c = ifaConfig(cfg);
  const C = c.candidates,
    N = c.seqLen;
  const W = (n: string) => w.get(n)!;
  const emb = (n: string, id: number) => {
    const t = W(n);
    const d = t.shape[1]!;
    return Array.from(t.data.slice(id * d, (id + 1) * d));
  };
  const at = (n: string, i: number) => Number(f[n]!.data[i]);
  const proj = (m: Mat, n: string) => m.map((row) => matVec(row, W(n).data as Float32Array, W(n).shape[1]!));
  const mlpOf = (prefix: string, h: number[]) => {
    let x = h;
    c.towers.forEach((_, l) => {
      x = matVec(x, W(`${prefix}/l${l}/w`).data as Float32Array, W(`${prefix}/l${l}/b`).shape[0]!).map((v, j) =>
        Math.max(v + W(`${prefix}/l${l}/b`).data[j]!, 0),
      );
    });
    const l = c.towers.length;
    return matVec(x, W(`${prefix}/l${l}/w`).data as Float32Array, 1)[0]! + W(`${prefix}/l${l}/b`).data[0]!;
  };
  const tower = (name: string, h: number[]) => mlpOf(`towers/${name}`, h);
  const outs: Outs = { pImpression: [], pClick: [], prob: [], loss: 0, extra: c.objectives.map(() => []), aux: 0 };
  let auxTotal = 0,
    auxCount = 0;
  const esmm: EsmmCase = { imp: [], clk: [], yImp: [], yClk: [], mask: [], extra: c.objectives.map(() => ({ logit: [], label: [] })) };
  for (let r = 0; r < rows; r++) {
    const u = [
      ...emb('emb/user', at('user', r)),
      ...c.profile.flatMap((_, k) => emb(`emb/profile${k}`, at('profile', r * c.profile.length + k))),
    ];
    const cm = Array.from({ length: C }, (_, i) => at('candMask', r * C + i) === 1);
    const sm = Array.from({ length: N }, (_, n) => at('seqMask', r * N + n) === 1);
    const Cf = Array.from({ length: C }, (_, i) => [
      ...emb('emb/targetItem', at('cand', r * C + i)),
      ...emb('emb/category', at('candCategory', r * C + i)),
    ]);
    const X = Array.from({ length: C }, (_, i) =>
      c.cross.flatMap((_, k) => emb(`emb/cross${k}`, at('candCross', (r * C + i) * c.cross.length + k))),
    );
    const S = Array.from({ length: N }, (_, n) => [
      ...emb('emb/sourceItem', at('seq', r * N + n)),
      ...emb('emb/category', at('seqCategory', r * N + n)),
      ...c.context.flatMap((_, k) => emb(`emb/context${k}`, at('seqContext', (r * N + n) * c.context.length + k))),
    ]);
    const S0 = S.map((row, n) => (sm[n] ? row : row.map(() => 0)));
    const C0 = Cf.map((row, i) => (cm[i] ? row : row.map(() => 0)));
    let A: Mat;
    const seqCat = Array.from({ length: N }, (_, n) => at('seqCategory', r * N + n));
    if (c.module === 'simSoft' || c.module === 'simHard' || c.module === 'twin') {
      // every candidate row, padded ones included (their outputs are zeroed after the towers)
      const per = Cf.map((q, i) => topkModuleOracle(c, w, S0, sm, q, seqCat, at('candCategory', r * C + i)));
      A = per.map((x) => x.A);
      if (c.module === 'simSoft' && c.simSoft.auxWeight > 0) {
        per.forEach((x, i) => {
          if (!cm[i] || at('impression', r * C + i) !== 1) return;
          const g = mlpOf('simSoft/aux', [...x.pooled!, ...Cf[i]!]);
          auxTotal += softplus(g) - at('click', r * C + i) * g;
          auxCount++;
        });
      }
    } else if (c.module === 'ifa') {
      A = fastAttnOracle(proj(C0, 'ifa/cross/w_q'), proj(S0, 'ifa/cross/w_k'), proj(S0, 'ifa/cross/w_v'), sm, c.kernel, c.attnDim).map(
        (row, i) => (cm[i] ? row : row.map(() => 0)),
      );
    } else if (c.module === 'avgPool') {
      const nValid = sm.filter(Boolean).length;
      const mean = S0[0]!.map((_, j) => (nValid ? S0.reduce((s, row) => s + row[j]!, 0) / nValid : 0));
      A = Cf.map(() => mean);
    } else {
      const q = proj(Cf, 'fullAttention/w_q'),
        k = proj(S0, 'fullAttention/w_k'),
        v = proj(S0, 'fullAttention/w_v');
      A = q.map((qc) => {
        const s = k.map((kn) => dot(qc, kn) / Math.sqrt(c.attnDim));
        const m = Math.max(...s.filter((_, n) => sm[n]));
        const e = s.map((x, n) => (sm[n] ? Math.exp(x - m) : 0));
        const z = e.reduce((a, x) => a + x, 0);
        return v[0]!.map((_, j) => (z > 0 ? e.reduce((acc, en, n) => acc + (en / z) * v[n]![j]!, 0) : 0));
      });
    }
    const Rl = c.relationAware
      ? fastAttnOracle(proj(C0, 'ifa/self/w_q'), proj(C0, 'ifa/self/w_k'), proj(C0, 'ifa/self/w_v'), cm, c.kernel, c.attnDim).map(
          (row, i) => (cm[i] ? row : row.map(() => 0)),
        )
      : Cf.map(() => []);
    for (let i = 0; i < C; i++) {
      const h0 = [...u, ...Cf[i]!, ...X[i]!, ...A[i]!, ...Rl[i]!];
      const a = tower('impression', h0),
        b = tower('click', h0);
      const pi = cm[i] ? sigmoid(a) : 0,
        pc = cm[i] ? sigmoid(b) : 0;
      outs.pImpression.push(pi);
      outs.pClick.push(pc);
      outs.prob.push(pi * pc);
      esmm.imp.push(a);
      esmm.clk.push(b);
      esmm.mask.push(cm[i]!);
      esmm.yImp.push(at('impression', r * C + i));
      esmm.yClk.push(at('click', r * C + i));
      c.objectives.forEach((o, k) => {
        const x = tower(o, h0);
        outs.extra[k]!.push(cm[i] ? sigmoid(x) : 0);
        esmm.extra[k]!.logit.push(x);
        esmm.extra[k]!.label.push(at(o, r * C + i));
      });
    }
  }
  outs.aux = auxCount ? auxTotal / auxCount : 0;
  outs.loss = esmmOracle(esmm) + (c.module === 'simSoft' ? c.simSoft.auxWeight * outs.aux : 0);
  return outs;
}

function modelFeeds(g: Graph, cfg: IfaConfigInput, rows: number, seed: number): Record<string, HostTensor> {
  const f = randomFeeds(g, { batch: rows }, seed, ifaGens(cfg)) as Record<string, HostTensor>;
  (f['candMask']!.data as Uint8Array).set(CAND_ROWS.slice(0, rows).flat().map(Number));
  (f['seqMask']!.data as Uint8Array).set(SEQ_ROWS.slice(0, rows).flat().map(Number));
  return f;
}

describe('the IFA request model against a loop transcription (training graph)', () => {
  const variants: Array<[string, IfaConfigInput]> = [
    ...MODULES.map((module): [string, IfaConfigInput] => [module, { ...T, module }]),
    ['ifa, elu1, no self attention, extra objective', { ...T, kernel: 'elu1', relationAware: false, objectives: ['like'] }],
    ['ifa, relu, no profile/cross/context columns', { ...T, kernel: 'relu', profile: [], cross: [], context: [] }],
    [
      'simSoft, K = N = 12, no auxiliary loss, extra objective',
      { ...T, module: 'simSoft', simSoft: { ...T.simSoft, k: 12, auxWeight: 0 }, objectives: ['like'] },
    ],
    [
      'simHard, K = 1, no context columns, no self attention',
      { ...T, module: 'simHard', simHard: { ...T.simHard, k: 1 }, context: [], relationAware: false },
    ],
    ['twin, one head, outDim default, one context column', { ...T, module: 'twin', twin: { k: 6, heads: 1, headDim: 3 }, context: [4] }],
  ];
  for (const [label, cfg] of variants) {
    it(label, () => {
      const g = buildIfaTrain(cfg);
      const w = randomWeights(g, 21);
      const f = modelFeeds(g, cfg, 4, 9);
      const got = runRef(g, w, f);
      const want = modelOracle(cfg, w, f, 4);
      expect(worstRel(Array.from(got['pImpression']!.data), want.pImpression)).toBeLessThan(1e-12);
      expect(worstRel(Array.from(got['pClick']!.data), want.pClick)).toBeLessThan(1e-12);
      expect(worstRel(Array.from(got['prob']!.data), want.prob)).toBeLessThan(1e-12);
      expect(Math.abs(got['loss']!.data[0]! - want.loss)).toBeLessThan(1e-12);
      (cfg.objectives ?? []).forEach((_, k) => expect(worstRel(Array.from(got['pLike']!.data), want.extra[k]!)).toBeLessThan(1e-12));
      // SIM soft's auxiliary loss is really in the total (impressed valid candidates exist in these feeds)
      if (cfg.module === 'simSoft' && ifaConfig(cfg).simSoft.auxWeight > 0) expect(want.aux).toBeGreaterThan(0.1);
      // padded candidates output 0; request 2 has none valid
      expect(Array.from(got['prob']!.data.slice(10, 15))).toEqual([0, 0, 0, 0, 0]);
      expect(Array.from(got['pImpression']!.data.slice(8, 10))).toEqual([0, 0]);
      expect(Array.from(got['pImpression']!.data.slice(5, 8)).every((p) => p > 0)).toBe(true);
    });
  }
});

describe("SIM soft's auxiliary GSU loss", () => {
  const cfg: IfaConfigInput = { ...T, module: 'simSoft' };
  const GSU = ['simSoft/gsu/wq', 'simSoft/gsu/wk'];
  it('is the only path into the GSU projections: zero gradients without it (top-k passes none)', () => {
    const g0 = buildIfaTrain({ ...cfg, simSoft: { ...T.simSoft, auxWeight: 0 } });
    const w = randomWeights(g0, 21);
    const grads = gradRef(g0, w, modelFeeds(g0, cfg, 4, 9), 'loss').paramGrads;
    for (const name of GSU)
      expect(
        Array.from(grads.get(name)!).every((x) => x === 0),
        name,
      ).toBe(true);
    expect(Array.from(grads.get('simSoft/esu/wk')!).some((x) => x !== 0)).toBe(true);
  });

  it(
    'with it, the gradients of the loss into the GSU projections and the auxiliary head match central finite differences of the ' +
      'oracle',
    () => {
      const g = buildIfaTrain(cfg);
      const w = randomWeights(g, 21);
      const f = modelFeeds(g, cfg, 4, 9);
      const grads = gradRef(g, w, f, 'loss').paramGrads;
      const w64: Weights = new Map([...w].map(([n, t]) => [n, { ...t, data: Float64Array.from(t.data as Float32Array) } as never]));
      const h = 1e-6;
      let worst = 0,
        checked = 0,
        largest = 0;
      for (const name of [...GSU, 'simSoft/aux/l0/w', 'simSoft/aux/l1/b']) {
        const data = w64.get(name)!.data as unknown as Float64Array;
        for (let i = 0; i < data.length; i += name === 'simSoft/aux/l0/w' ? 7 : 1) {
          const x = data[i]!;
          data[i] = x + h;
          const up = modelOracle(cfg, w64, f, 4).loss;
          data[i] = x - h;
          const down = modelOracle(cfg, w64, f, 4).loss;
          data[i] = x;
          const fd = (up - down) / (2 * h),
            got = grads.get(name)![i]!;
          worst = Math.max(worst, Math.abs(got - fd));
          largest = Math.max(largest, Math.abs(got));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(50);
      expect(largest).toBeGreaterThan(1e-3);
      expect(worst).toBeLessThan(1e-8);
    },
  );
});

describe('serving graph == training graph row of the same request (ref-cpu, 1e-12)', () => {
  const one = (t: HostTensor, r: number, rows: number): HostTensor => {
    const per = t.data.length / rows;
    return { ...t, shape: [1, ...t.shape.slice(1)], data: t.data.slice(r * per, (r + 1) * per) } as HostTensor;
  };
  for (const module of MODULES) {
    for (const relationAware of [true, false]) {
      it(`${module}${relationAware ? '' : ', no self attention'}: every request of a 4-request batch, served alone`, () => {
        const cfg = { ...T, module, relationAware, objectives: ['like'] };
        const train = buildIfaTrain(cfg),
          serve = buildIfa(cfg);
        const w = initWeights(train, 13);
        const f = modelFeeds(train, cfg, 4, 17);
        const trained = runRef(train, w, f);
        for (let r = 0; r < 4; r++) {
          const sf: Record<string, HostTensor> = {};
          for (const inp of serve.inputs) sf[inp.name] = one(f[inp.name]!, r, 4);
          const served = runRef(serve, weightsFor(serve, w), sf);
          for (const name of ['pImpression', 'pClick', 'prob', 'pLike']) {
            expect(served[name]!.shape).toEqual([1, 5]);
            const want = Array.from(trained[name]!.data.slice(r * 5, (r + 1) * 5));
            expect(worstRel(Array.from(served[name]!.data), want)).toBeLessThan(1e-12);
          }
        }
      });
    }
  }

  for (const module of ['ifa', 'simSoft', 'simHard', 'twin'] as const) {
    it(`${module}: outputs of valid candidates do not depend on what padded candidates and events hold`, () => {
      const cfg = { ...T, module };
      const serve = buildIfa(cfg);
      const n = module === 'ifa' ? 9 : 12; // the top-k modules serve the static N = 12
      const w = initWeights(serve, 3);
      const base = randomFeeds(serve, { cand: 6, seq: n }, 4, ifaGens(cfg)) as Record<string, HostTensor>;
      (base['candMask']!.data as Uint8Array).set([1, 1, 1, 1, 0, 0]);
      (base['seqMask']!.data as Uint8Array).set(Array.from({ length: n }, (_, i) => Number(i < 5)));
      const other = structuredClone(base);
      for (const [name, from] of [
        ['cand', 4],
        ['candCategory', 4],
        ['seq', 5],
        ['seqCategory', 5],
        ['seqContext', 10],
      ] as const) {
        const d = other[name]!.data as Int32Array;
        for (let i = from; i < d.length; i++) d[i] = (d[i]! + 1) % 3;
      }
      const a = runRef(serve, w, base),
        b = runRef(serve, w, other);
      expect(Array.from(a['prob']!.data)).toEqual(Array.from(b['prob']!.data));
      expect(Array.from(a['prob']!.data.slice(4))).toEqual([0, 0]);
    });
  }
});
