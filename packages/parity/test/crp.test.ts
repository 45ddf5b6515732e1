/**
 * The CRP loss (SPEC.md "CRP loss"): ref-cpu against a plain float64 transcription of the printed
 * formula (and of InfoNCE) on hand-made tables and pairs, masked and empty terms, zero-norm rows,
 * gradients against finite differences of that transcription, then parity across tfjs cpu/wasm
 * and ONNX Runtime, forward and gradients into both item tables.
 */
import { describe, expect, it } from 'vitest';
import {
  CRP_DEFAULTS,
  type CrpOptions,
  GraphBuilder,
  type HostTensor,
  type Weights,
  crpInputsOf,
  crpLoss,
  crpSchema,
  init,
  initWeights,
} from '@lctr/spec';
import { type FeedGen, gen, randomFeeds } from '@lctr/spec/testing';
import { gradRef, runRef } from '@lctr/ref-cpu';
import { checkParity } from '../src/index.ts';

type Pair = readonly [number, number];
type Table = readonly (readonly number[])[];
interface Side {
  pairs: readonly Pair[];
  mask: readonly boolean[];
}
interface Case {
  pt: Side;
  ps: Side;
  pc: Side;
  ptNeg: Side;
  psNeg: Side;
  pcNeg: Side;
}

function crpGraph(m: number, opts: Partial<CrpOptions>, vt: number, vs: number, d: number) {
  const b = new GraphBuilder('crp', crpSchema(m));
  const t = b.scope('emb', () => ({
    target: b.param('targetItem', [vt, d], init.normal(1)),
    source: b.param('sourceItem', [vs, d], init.normal(1)),
  }));
  const { loss, terms } = crpLoss(b, crpInputsOf(b.inputs, t.target, t.source), opts);
  return b.build({ loss, pt: terms.pt, ps: terms.ps, pc: terms.pc });
}

const pairs = (s: Side): HostTensor<'int32'> => ({ dtype: 'int32', shape: [s.pairs.length, 2], data: Int32Array.from(s.pairs.flat()) });
const flags = (s: Side): HostTensor<'bool'> => ({ dtype: 'bool', shape: [s.mask.length], data: Uint8Array.from(s.mask, Number) });
function feeds(c: Case) {
  return {
    crpPt: pairs(c.pt),
    crpPtMask: flags(c.pt),
    crpPs: pairs(c.ps),
    crpPsMask: flags(c.ps),
    crpPc: pairs(c.pc),
    crpPcMask: flags(c.pc),
    crpPtNeg: pairs(c.ptNeg),
    crpPtNegMask: flags(c.ptNeg),
    crpPsNeg: pairs(c.psNeg),
    crpPsNegMask: flags(c.psNeg),
    crpPcNeg: pairs(c.pcNeg),
    crpPcNegMask: flags(c.pcNeg),
  };
}
function weightsOf(target: Table, source: Table, float64 = false): Weights {
  const t = (rows: Table): HostTensor<'float32'> => ({
    dtype: 'float32',
    shape: [rows.length, rows[0]!.length],
    data: float64 ? Float64Array.from(rows.flat()) : Float32Array.from(rows.flat()),
  });
  return new Map([
    ['emb/targetItem', t(target)],
    ['emb/sourceItem', t(source)],
  ]);
}

// ---- the oracle: SPEC's formula, literally, in float64 ----
function cosine(x: readonly number[], y: readonly number[]): number {
  let xy = 0,
    xx = 0,
    yy = 0;
  for (let k = 0; k < x.length; k++) {
    xy += x[k]! * y[k]!;
    xx += x[k]! ** 2;
    yy += y[k]! ** 2;
  }
  return xy / (Math.max(Math.sqrt(xx), 1e-12) * Math.max(Math.sqrt(yy), 1e-12));
}
/**
 * -(1/|valid i|) Σ_i log( exp(s_i/τ) / Σ_valid j exp(s_j/τ) ); InfoNCE adds exp(s_i/τ) to the denominator;
 * meanNegatives divides the denominator by its number of terms; scaleByTemperature multiplies by τ. 0 when nothing is valid.
 */
function oracleTerm(
  t1: Table,
  t2: Table,
  pos: Side,
  neg: Side,
  tau: number,
  infoNce: boolean,
  meanNegatives = false,
  scaleByTemperature = false,
): number {
  const sim = ([a, b]: Pair) => cosine(t1[a]!, t2[b]!) / tau;
  const negs = neg.pairs.filter((_, j) => neg.mask[j]).map(sim);
  const poss = pos.pairs.filter((_, i) => pos.mask[i]).map(sim);
  if (negs.length === 0 || poss.length === 0) return 0;
  let sum = 0;
  for (const z of poss) {
    let den = 0;
    for (const n of negs) den += Math.exp(n);
    if (infoNce) den += Math.exp(z);
    if (meanNegatives) den /= negs.length + (infoNce ? 1 : 0);
    sum += -Math.log(Math.exp(z) / den);
  }
  return ((scaleByTemperature ? tau : 1) * sum) / poss.length;
}
function oracle(T: Table, S: Table, c: Case, o: Partial<CrpOptions> = {}) {
  const tau = o.temperature ?? 0.1,
    nce = o.infoNce ?? false,
    w = { pt: 1, ps: 1, pc: 1, ...o.weights };
  const term = (t1: Table, t2: Table, pos: Side, neg: Side) =>
    oracleTerm(
      t1,
      t2,
      pos,
      neg,
      tau,
      nce,
      o.meanNegatives ?? CRP_DEFAULTS.meanNegatives,
      o.scaleByTemperature ?? CRP_DEFAULTS.scaleByTemperature,
    );
  const pt = term(T, T, c.pt, c.ptNeg),
    ps = term(S, S, c.ps, c.psNeg),
    pc = term(T, S, c.pc, c.pcNeg);
  return { loss: w.pt * pt + w.ps * ps + w.pc * pc, pt, ps, pc };
}

// ---- hand-made tables (float32-exact values) and pairs; d = 3 ----
const TARGET: Table = [
  [1, 0, 0],
  [0.5, 0.5, 0],
  [0, 1, 0.25],
  [-1, 0.5, 2],
  [3, -2, 1],
]; // row 4: only in masked pairs
const SOURCE: Table = [
  [0, 0, 1],
  [1, 1, 1],
  [-0.5, 2, 0],
  [2, 0, -1],
  [0.25, -1, 0.5],
  [1, -1, 0],
];
const side = (p: readonly Pair[], m: readonly boolean[]): Side => ({ pairs: p, mask: m });
// masked rows hold garbage ids (out of range too): they must never be looked up
const HAND: Case = {
  pt: side(
    [
      [0, 1],
      [2, 3],
      [4, 999],
      [1, 3],
    ],
    [true, true, false, true],
  ),
  ps: side(
    [
      [0, 1],
      [2, 3],
      [4, 5],
      [-7, 4],
    ],
    [true, true, true, false],
  ),
  pc: side(
    [
      [0, 5],
      [3, 2],
      [2, 2],
      [4, 4],
    ],
    [true, true, true, false],
  ),
  ptNeg: side(
    [
      [0, 2],
      [1, 3],
      [4, 4],
      [3, 0],
      [0, 0],
    ],
    [true, true, false, true, true],
  ),
  psNeg: side(
    [
      [0, 5],
      [1, 2],
      [3, 4],
      [2, 1000],
      [5, 0],
    ],
    [true, true, true, false, true],
  ),
  pcNeg: side(
    [
      [1, 0],
      [4, 3],
      [0, 4],
      [2, 1],
      [3, 3],
    ],
    [true, false, true, true, true],
  ),
};
const M = 5;
const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));

function runHand(c: Case, opts: Partial<CrpOptions>, target: Table = TARGET, source: Table = SOURCE) {
  const g = crpGraph(M, opts, target.length, source.length, 3);
  const out = runRef(g, weightsOf(target, source), feeds(c));
  return {
    g,
    got: { loss: out.loss.data[0]!, pt: out.pt.data[0]!, ps: out.ps.data[0]!, pc: out.pc.data[0]! },
    want: oracle(target, source, c, opts),
  };
}

describe('crpLoss against the float64 formula', () => {
  for (const infoNce of [false, true]) {
    it(`${infoNce ? 'InfoNCE' : 'printed denominator'}: loss and terms, masked pairs with garbage ids ignored`, () => {
      const { got, want } = runHand(HAND, { infoNce, meanNegatives: false, scaleByTemperature: false });
      for (const k of ['loss', 'pt', 'ps', 'pc'] as const) close(got[k], want[k]);
      expect(want.pt).not.toBe(0);
      // InfoNCE: the positive is in its own denominator, so each -log(...) is > 0 (a printed term may be negative)
      if (infoNce) for (const k of ['pt', 'ps', 'pc'] as const) expect(want[k]).toBeGreaterThan(0);
    });
  }

  for (const infoNce of [false, true]) {
    for (const [meanNegatives, scaleByTemperature] of [
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(
        `${infoNce ? 'InfoNCE' : 'printed'} with meanNegatives ${meanNegatives}, scaleByTemperature ${scaleByTemperature}: loss and ` +
          `terms`,
        () => {
          const opts = { infoNce, meanNegatives, scaleByTemperature, temperature: 0.25 };
          const { got, want } = runHand(HAND, opts);
          for (const k of ['loss', 'pt', 'ps', 'pc'] as const) close(got[k], want[k]);
          // the plain form of the same case, shifted by log(count) and/or scaled by τ, term by term
          const plain = oracle(TARGET, SOURCE, HAND, { infoNce, temperature: 0.25, meanNegatives: false, scaleByTemperature: false });
          const valid = { pt: 4, ps: 4, pc: 4 }; // valid negatives per type in HAND
          for (const k of ['pt', 'ps', 'pc'] as const) {
            const shift = meanNegatives ? Math.log(valid[k] + (infoNce ? 1 : 0)) : 0;
            close(got[k], (scaleByTemperature ? 0.25 : 1) * (plain[k] - shift));
          }
        },
      );
    }
  }

  it('hand-computed: one positive, two negatives, τ = 0.5, every denominator form', () => {
    // target rows a = (1, 0), b = (0, 1), c = (1, 1); positive (a, c): cos 1/√2, so z = √2;
    // negatives (a, b): cos 0 and (b, c): cos 1/√2, so n = (0, √2). PS and PC have no valid positive (0).
    const T2: Table = [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      S2: Table = [[1, 0]];
    const one = (p: Pair, ok: boolean): Side => side([p], [ok]);
    const c: Case = {
      pt: one([0, 2], true),
      ps: one([0, 0], false),
      pc: one([0, 0], false),
      ptNeg: side(
        [
          [0, 1],
          [1, 2],
        ],
        [true, true],
      ),
      psNeg: side(
        [
          [0, 0],
          [0, 0],
        ],
        [true, true],
      ),
      pcNeg: side(
        [
          [0, 0],
          [0, 0],
        ],
        [true, true],
      ),
    };
    const run = (o: Partial<CrpOptions>) => {
      const g = crpGraph(2, { temperature: 0.5, meanNegatives: false, scaleByTemperature: false, ...o }, 3, 1, 2);
      const out = runRef(g, weightsOf(T2, S2), feeds(c));
      expect(out.ps.data[0]).toBe(0);
      expect(out.pc.data[0]).toBe(0);
      return out.pt.data[0]!;
    };
    const z = Math.SQRT2,
      ez = Math.exp(z);
    // printed: log(e^0 + e^√2) - √2 = 0.2176217...; log-mean-exp: minus log 2 = -0.4755254...; x τ: -0.2377627...
    close(run({}), Math.log(1 + ez) - z);
    close(run({}), 0.21762172158174353);
    close(run({ meanNegatives: true }), -0.47552545897820175);
    close(run({ meanNegatives: true, scaleByTemperature: true }), -0.23776272948910088);
    close(run({ meanNegatives: true }), run({ ...CRP_DEFAULTS, temperature: 0.5 })); // the default form: log-mean-exp, not τ-scaled
    // InfoNCE: log(e^√2 + 1 + e^√2) - √2 = 0.8078663...; log-mean-exp over 3 terms: -0.2907460...; x τ: -0.1453730...
    close(run({ infoNce: true }), 0.807866298068906);
    close(run({ infoNce: true, meanNegatives: true }), -0.2907459905992038);
    close(run({ infoNce: true, meanNegatives: true, scaleByTemperature: true }), -0.1453729952996019);
  });

  it('temperature and term weights', () => {
    const opts = { temperature: 0.5, weights: { pt: 2, ps: 0.5, pc: 0 } };
    const { got, want } = runHand(HAND, opts);
    for (const k of ['loss', 'pt', 'ps', 'pc'] as const) close(got[k], want[k]);
    close(got.loss, 2 * want.pt + 0.5 * want.ps);
  });

  it('a term with no valid positive, or no valid negative, is exactly 0 (both denominators)', () => {
    const c: Case = {
      ...HAND,
      ps: { ...HAND.ps, mask: [false, false, false, false] },
      pcNeg: { ...HAND.pcNeg, mask: [false, false, false, false, false] },
    };
    for (const infoNce of [false, true]) {
      const { g, got, want } = runHand(c, { infoNce });
      expect(got.ps).toBe(0);
      expect(got.pc).toBe(0);
      close(got.pt, want.pt);
      close(got.loss, want.pt);
      const grads = gradRef(g, weightsOf(TARGET, SOURCE), feeds(c), 'loss').paramGrads;
      for (const gr of grads.values()) expect(gr.every(Number.isFinite)).toBe(true);
    }
  });

  it('zero-norm rows: cosine 0, no NaN forward or backward', () => {
    const target = [[0, 0, 0], ...TARGET.slice(1)],
      source = [[0, 0, 0], ...SOURCE.slice(1)];
    for (const infoNce of [false, true]) {
      const { g, got, want } = runHand(HAND, { infoNce }, target, source);
      for (const k of ['loss', 'pt', 'ps', 'pc'] as const) close(got[k], want[k]);
      const grads = gradRef(g, weightsOf(target, source), feeds(HAND), 'loss').paramGrads;
      for (const gr of grads.values()) expect(gr.every(Number.isFinite)).toBe(true);
    }
  });

  it('gradients into both tables match finite differences of the formula; rows only masked pairs name get none', () => {
    for (const [infoNce, meanNegatives, scaleByTemperature] of [
      [false, false, false],
      [true, false, false],
      [false, true, true],
      [true, true, true],
    ] as const) {
      const opts = { infoNce, meanNegatives, scaleByTemperature, temperature: 0.3, weights: { pt: 1, ps: 0.7, pc: 1.3 } };
      const g = crpGraph(M, opts, TARGET.length, SOURCE.length, 3);
      const grads = gradRef(g, weightsOf(TARGET, SOURCE, true), feeds(HAND), 'loss').paramGrads;
      const h = 1e-6;
      for (const [name, table] of [
        ['emb/targetItem', TARGET],
        ['emb/sourceItem', SOURCE],
      ] as const) {
        const got = grads.get(name)!;
        table.forEach((row, r) =>
          row.forEach((_, k) => {
            const bump = (delta: number) => table.map((rr, i) => rr.map((v, j) => (i === r && j === k ? v + delta : v)));
            const with_ = (delta: number) =>
              oracle(name === 'emb/targetItem' ? bump(delta) : TARGET, name === 'emb/sourceItem' ? bump(delta) : SOURCE, HAND, opts).loss;
            const fd = (with_(h) - with_(-h)) / (2 * h);
            expect(Math.abs(got[r * 3 + k]! - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
          }),
        );
      }
      // target row 4 appears only in masked pairs (pt row 2, ptNeg row 2, pcNeg row 1 first id, pc row 3): no gradient
      expect(Array.from(grads.get('emb/targetItem')!.slice(12, 15))).toEqual([0, 0, 0]);
      expect(Array.from(grads.get('emb/targetItem')!.slice(0, 3)).some((v) => v !== 0)).toBe(true);
    }
  });
});

describe('crpLoss parity: ref-cpu vs tfjs cpu/wasm vs ONNX Runtime, forward and gradients into both tables', () => {
  const vt = 7,
    vs = 9,
    d = 4,
    m = 6;
  // pair ids: first column below bound1, second below bound2 (PC: a target id, then a source id)
  const ids =
    (bound1: number, bound2: number): FeedGen =>
    (rng, s) =>
      Array.from({ length: s[0]! * 2 }, (_, i) => rng.int(i % 2 === 0 ? bound1 : bound2));
  for (const [infoNce, meanNegatives, scaleByTemperature] of [
    [false, false, false],
    [true, false, false],
    [true, true, true],
  ] as const) {
    it(
      `random case, masks with gaps, ` + `${infoNce ? 'InfoNCE' : 'printed'}${meanNegatives ? ', meanNegatives, scaleByTemperature' : ''}`,
      async () => {
        const g = crpGraph(m, { infoNce, meanNegatives, scaleByTemperature }, vt, vs, d);
        const inputs = randomFeeds(g, { batch: 5 }, infoNce ? 21 : 20, {
          crpPt: ids(vt, vt),
          crpPs: ids(vs, vs),
          crpPc: ids(vt, vs),
          crpPtNeg: ids(vt, vt),
          crpPsNeg: ids(vs, vs),
          crpPcNeg: ids(vt, vs),
          crpPtMask: gen.mask(0.7),
          crpPsMask: gen.mask(0.7),
          crpPcMask: gen.mask(0.7),
          crpPtNegMask: gen.mask(0.7),
          crpPsNegMask: gen.mask(0.7),
          crpPcNegMask: gen.values([0, 0, 0, 0, 0, 0]), // one empty term
        });
        (inputs.crpPtMask.data as Uint8Array)[0] = 1; // at least one valid positive per live term
        (inputs.crpPsMask.data as Uint8Array)[0] = 1;
        (inputs.crpPtNegMask.data as Uint8Array)[0] = 1;
        (inputs.crpPsNegMask.data as Uint8Array)[0] = 1;
        const masked = inputs.crpPt.data as Int32Array;
        for (let i = 0; i < 5; i++)
          if (!inputs.crpPtMask.data[i]) {
            masked[2 * i] = 1000;
            masked[2 * i + 1] = -1;
          } // garbage behind the mask
        const weights = initWeights(g, 3); // N(0, 1) rows: unit-scale embeddings keep the cosines well spread
        const ref = runRef(g, weights, inputs);
        expect(ref.pc.data[0]).toBe(0);
        expect(Number.isFinite(ref.loss.data[0]!) && ref.loss.data[0] !== 0).toBe(true);
        const r = await checkParity({
          name: `crp-${infoNce ? 'infonce' : 'printed'}${meanNegatives ? '-lme-tau' : ''}`,
          graph: g,
          weights,
          inputs,
          gradOutput: 'loss',
        });
        expect(r.failures).toEqual([]);
        expect(
          r.entries
            .filter((e) => e.kind === 'grad')
            .map((e) => e.name)
            .sort(),
        ).toEqual(['emb/sourceItem', 'emb/sourceItem', 'emb/targetItem', 'emb/targetItem']);
      },
    );
  }
});
