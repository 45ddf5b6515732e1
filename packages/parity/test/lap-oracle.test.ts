/**
 * LAP (CSA -> top-K1 -> MSA -> top-K2 -> FSA): the block graph run on ref-cpu against a plain
 * float64 implementation of SPEC.md's formulas (loops below), in both layouts; the 'shared' layout
 * against 'perSample' with the sequence repeated per row; padding (NaN included), short and empty
 * sequences, ties, levels switched off, parameter names and build-time errors.
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  GraphBuilder,
  type HostTensor,
  LAP_DEFAULTS,
  type LapOptions,
  Rng,
  type SeqLayoutKind,
  type Value,
  type Weights,
  csa,
  lap,
  msa,
  seqLayout,
} from '@lctr/spec';
import { gradRef, runRef } from '@lctr/ref-cpu';

const N = 12,
  D = 4,
  C = 3;
const SMALL: Partial<LapOptions> = { k1: 6, k2: 3, attentionDim: 5, heads: 2, headDim: 3, ffnDim: 6, outDim: 4 };

// ---- graphs ----

function schemaOf(kind: SeqLayoutKind, n: number, d: number, c: number, qd = d) {
  return kind === 'perSample'
    ? ({
        items: { dtype: 'float32', shape: ['batch', n, d] },
        context: { dtype: 'float32', shape: ['batch', n, c] },
        mask: { dtype: 'bool', shape: ['batch', n] },
        query: { dtype: 'float32', shape: ['batch', qd] },
      } as const)
    : ({
        items: { dtype: 'float32', shape: [n, d] },
        context: { dtype: 'float32', shape: [n, c] },
        mask: { dtype: 'bool', shape: [1, n] },
        query: { dtype: 'float32', shape: ['cand', qd] },
      } as const);
}

interface Built {
  graph: Graph;
  width: number;
}

function buildLap(kind: SeqLayoutKind, opts: Partial<LapOptions>, n = N, qd = D): Built {
  const b = new GraphBuilder(`lap-${kind}`, schemaOf(kind, n, D, C, qd));
  const r = lap(b, 'lap', seqLayout(b, kind), b.inputs, opts);
  const outs: Record<string, Value> = { out: r.output };
  if (r.k1Picks) outs['k1'] = r.k1Picks;
  if (r.k2Picks) outs['k2'] = r.k2Picks;
  return { graph: b.build(outs), width: r.width };
}

/** Every parameter random (biases too: zero FFN biases would hide a missing mask). */
function randomWeights(g: Graph, seed: number): Weights {
  const rng = new Rng(seed);
  return new Map(
    g.params.map((p) => [
      p.name,
      {
        dtype: 'float32' as const,
        shape: p.shape,
        data: Float32Array.from({ length: p.shape.reduce((a, x) => a * x, 1) }, () => 0.5 * rng.normal()),
      },
    ]),
  );
}

// ---- data: rows of a perSample batch, or one shared sequence with its candidates ----

interface Seq {
  items: number[][];
  context: number[][];
  mask: boolean[];
}
interface Row extends Seq {
  query: number[];
}

const f32 = (x: number) => Math.fround(x);

function randomSeq(rng: Rng, valid: readonly boolean[], pad = NaN): Seq {
  const vec = (w: number, ok: boolean) => Array.from({ length: w }, () => (ok ? f32(rng.normal()) : pad));
  return { items: valid.map((v) => vec(D, v)), context: valid.map((v) => vec(C, v)), mask: [...valid] };
}
const randomQuery = (rng: Rng) => Array.from({ length: D }, () => f32(rng.normal()));
const maskOf = (s: string) => [...s].map((ch) => ch === '1');

/** Rows that cover the cases: full, fewer valid than K2, none, between K2 and K1, scattered. */
const MASKS = ['111111111111', '010000001000', '000000000000', '110100100000', '101101011010'].map(maskOf);

function perSampleFeeds(rows: readonly Row[]): Record<string, HostTensor> {
  const r = rows.length;
  return {
    items: { dtype: 'float32', shape: [r, N, D], data: Float32Array.from(rows.flatMap((x) => x.items.flat())) },
    context: { dtype: 'float32', shape: [r, N, C], data: Float32Array.from(rows.flatMap((x) => x.context.flat())) },
    mask: { dtype: 'bool', shape: [r, N], data: Uint8Array.from(rows.flatMap((x) => x.mask.map(Number))) },
    query: { dtype: 'float32', shape: [r, D], data: Float32Array.from(rows.flatMap((x) => x.query)) },
  };
}

function sharedFeeds(seq: Seq, queries: readonly number[][]): Record<string, HostTensor> {
  return {
    items: { dtype: 'float32', shape: [N, D], data: Float32Array.from(seq.items.flat()) },
    context: { dtype: 'float32', shape: [N, C], data: Float32Array.from(seq.context.flat()) },
    mask: { dtype: 'bool', shape: [1, N], data: Uint8Array.from(seq.mask.map(Number)) },
    query: { dtype: 'float32', shape: [queries.length, D], data: Float32Array.from(queries.flat()) },
  };
}

const rowsOf = (data: ArrayLike<number>, width: number) =>
  Array.from({ length: data.length / width }, (_, i) => Array.from(data).slice(i * width, (i + 1) * width));

// ---- the oracle: SPEC.md's LAP in plain float64 loops ----

function oracleLap(w: Weights, row: Row, opts: Partial<LapOptions>): { out: number[]; k1?: number[]; k2?: number[] } {
  const o = { ...LAP_DEFAULTS, ...opts };
  const W = (name: string) => {
    const t = w.get(`lap/${name}`)!;
    return { data: t.data as Float32Array, rows: t.shape[0]!, cols: t.shape[t.shape.length - 1]! };
  };
  const vecMat = (x: readonly number[], name: string) => {
    const m = W(name);
    return Array.from({ length: m.cols }, (_, j) => x.reduce((s, xi, i) => s + xi * m.data[i * m.cols + j]!, 0));
  };
  const bias = (name: string) => Array.from(w.get(`lap/${name}`)!.data as Float32Array);
  const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const softmax = (s: readonly number[], valid: readonly boolean[]) => {
    const m = Math.max(...s.filter((_, i) => valid[i]));
    const e = s.map((x, i) => (valid[i] ? Math.exp(x - m) : 0));
    const z = e.reduce((a, x) => a + x, 0);
    return e.map((x) => (z > 0 ? x / z : 0));
  };
  const weigh = (s: readonly number[], valid: readonly boolean[], how: string) =>
    how === 'softmax' ? softmax(s, valid) : s.map((x, i) => (valid[i] ? x : 0));
  /** valid first, then score descending, then the lower index */
  const topk = (s: readonly number[], valid: readonly boolean[], k: number) =>
    s
      .map((_, i) => i)
      .sort((i, j) => Number(valid[j]) - Number(valid[i]) || (valid[i] ? s[j]! - s[i]! : 0) || i - j)
      .slice(0, k);

  const n = row.mask.length;
  const items = row.items.map((x, i) => (row.mask[i] ? x : x.map(() => 0)));
  const ctx = row.context.map((x, i) => (row.mask[i] ? x : x.map(() => 0)));
  const q = row.query;
  const r = items.map((e) => dot(e, q));
  const wc = weigh(r, row.mask, o.csaNormalize);
  const out = Array.from({ length: D }, (_, j) => items.reduce((s, e, i) => s + wc[i]! * e[j]!, 0));
  const res: { out: number[]; k1?: number[]; k2?: number[] } = { out };
  const xs = (i: number) => [...items[i]!, ...ctx[i]!];
  let p2: number[] | undefined;
  if (o.k1 !== undefined) {
    const p1 = topk(r, row.mask, o.k1);
    const v1 = p1.map((i) => row.mask[i]!);
    const Q = vecMat(q, 'msa/wq');
    const s = p1.map((i) => dot(Q, vecMat(xs(i), 'msa/wk')) / Math.sqrt(o.attentionDim));
    const a = weigh(s, v1, o.msaNormalize);
    const V = p1.map((i) => vecMat(xs(i), 'msa/wv'));
    out.push(...Array.from({ length: o.attentionDim }, (_, j) => V.reduce((acc, v, k) => acc + a[k]! * v[j]!, 0)));
    res.k1 = p1;
    // SPEC: K2's ties among the K1 picks go to the earlier sequence position, not the better K1 rank
    if (o.k2 !== undefined) {
      p2 = p1
        .map((p, k) => ({ p, k }))
        .sort((x, y) => Number(v1[y.k]) - Number(v1[x.k]) || (v1[x.k] ? s[y.k]! - s[x.k]! : 0) || x.p - y.p)
        .slice(0, o.k2)
        .map((x) => x.p);
    }
  } else if (o.k2 !== undefined) {
    p2 = topk(r, row.mask, o.k2);
  }
  if (p2) {
    const { heads: l, headDim: dh } = o;
    const v2 = p2.map((i) => row.mask[i]!);
    const Q = vecMat(q, 'fsa/wq');
    const K = p2.map((i) => vecMat(xs(i), 'fsa/wk')),
      V = p2.map((i) => vecMat(xs(i), 'fsa/wv'));
    const H = p2.map(() => new Array<number>(l * dh).fill(0));
    for (let h = 0; h < l; h++) {
      const cols = (x: readonly number[]) => x.slice(h * dh, (h + 1) * dh);
      const a = softmax(
        K.map((k) => dot(cols(Q), cols(k)) / Math.sqrt(dh)),
        v2,
      );
      p2.forEach((_, k) => {
        for (let t = 0; t < dh; t++) H[k]![h * dh + t] = a[k]! * V[k]![h * dh + t]!;
      });
    }
    const ffn = (x: readonly number[]) => {
      const h1 = vecMat(x, 'fsa/ffn/l0/w').map((v, j) => Math.max(v + bias('fsa/ffn/l0/b')[j]!, 0));
      return vecMat(h1, 'fsa/ffn/l1/w').map((v, j) => v + bias('fsa/ffn/l1/b')[j]!);
    };
    const nValid = v2.filter(Boolean).length;
    let fsaOut: number[];
    if (nValid === 0) fsaOut = new Array<number>(o.outDim).fill(0);
    else if (o.fsaPool === 'mean') {
      const Hp = H.map(ffn);
      fsaOut = Array.from({ length: o.outDim }, (_, j) => Hp.reduce((s, x, k) => s + (v2[k] ? x[j]! : 0), 0) / nValid);
    } else {
      fsaOut = ffn(Array.from({ length: l * dh }, (_, j) => H.reduce((s, x) => s + x[j]!, 0)));
    }
    out.push(...fsaOut);
    res.k2 = p2;
  }
  expect(n).toBe(N);
  return res;
}

function expectClose(got: readonly number[], want: readonly number[], tol: number): void {
  expect(got.length).toBe(want.length);
  const worst = got.reduce((m, g, i) => Math.max(m, Math.abs(g - want[i]!) / Math.max(1, Math.abs(want[i]!))), 0);
  expect(worst).toBeLessThan(tol);
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

const VARIANTS: ReadonlyArray<[string, Partial<LapOptions>]> = [
  ['defaults (softmax, softmax, mean)', SMALL],
  ['normalize none, sumThenFfn', { ...SMALL, csaNormalize: 'none', msaNormalize: 'none', fsaPool: 'sumThenFfn' }],
  ['MSA off (FSA from CSA top-K2)', { ...SMALL, k1: undefined }],
  ['FSA off', { ...SMALL, k2: undefined }],
  ['both off (CSA only)', { ...SMALL, k1: undefined, k2: undefined }],
  ['K2 = K1 = N', { ...SMALL, k1: N, k2: N }],
];

// ---- tests ----

describe('LAP against a float64 oracle', () => {
  const rng = new Rng(41);
  const rows: Row[] = MASKS.map((m) => ({ ...randomSeq(rng, m), query: randomQuery(rng) }));

  for (const [label, opts] of VARIANTS) {
    it(`perSample, ${label}`, () => {
      const { graph, width } = buildLap('perSample', opts);
      const w = randomWeights(graph, 7);
      const got = runRef(graph, w, perSampleFeeds(rows));
      const outRows = rowsOf(got['out']!.data, width);
      rows.forEach((row, i) => {
        const want = oracleLap(w, row, opts);
        expectClose(outRows[i]!, want.out, 1e-9);
        if (want.k1) expect(Array.from(got['k1']!.data.slice(i * opts.k1!, (i + 1) * opts.k1!))).toEqual(want.k1);
        if (want.k2) expect(Array.from(got['k2']!.data.slice(i * opts.k2!, (i + 1) * opts.k2!))).toEqual(want.k2);
      });
      expect(Object.keys(got).sort()).toEqual(['out', ...(opts.k1 ? ['k1'] : []), ...(opts.k2 ? ['k2'] : [])].sort());
    });
  }

  it('shared: one sequence with padding (NaN), several candidates', () => {
    for (const [, opts] of VARIANTS) {
      const seq = randomSeq(rng, MASKS[3]!);
      const queries = [randomQuery(rng), randomQuery(rng), randomQuery(rng)];
      const { graph, width } = buildLap('shared', opts);
      const w = randomWeights(graph, 8);
      const got = runRef(graph, w, sharedFeeds(seq, queries));
      rowsOf(got['out']!.data, width).forEach((out, i) => expectClose(out, oracleLap(w, { ...seq, query: queries[i]! }, opts).out, 1e-9));
    }
  });
});

describe('LAP layouts', () => {
  it("'shared' gives exactly what 'perSample' gives with the sequence repeated per row", () => {
    const rng = new Rng(5);
    for (const mask of [MASKS[4]!, MASKS[1]!, MASKS[2]!]) {
      for (const [, opts] of VARIANTS) {
        const seq = randomSeq(rng, mask);
        const queries = [randomQuery(rng), randomQuery(rng), randomQuery(rng), randomQuery(rng)];
        const shared = buildLap('shared', opts),
          perSample = buildLap('perSample', opts);
        expect(shared.graph.params).toEqual(perSample.graph.params);
        const w = randomWeights(shared.graph, 3);
        const s = runRef(shared.graph, w, sharedFeeds(seq, queries));
        const p = runRef(perSample.graph, w, perSampleFeeds(queries.map((query) => ({ ...seq, query }))));
        expectClose(Array.from(s['out']!.data), Array.from(p['out']!.data), 1e-12);
        for (const k of ['k1', 'k2']) if (k in s) expect(Array.from(s[k]!.data)).toEqual(Array.from(p[k]!.data));
      }
    }
  });
});

describe('LAP edge cases', () => {
  const rng = new Rng(9);

  it('an all-padding row gives zeros at every level, whatever the options', () => {
    for (const [, opts] of VARIANTS) {
      const { graph, width } = buildLap('perSample', opts);
      const w = randomWeights(graph, 2);
      const rows = [MASKS[2]!, MASKS[0]!].map((m) => ({ ...randomSeq(rng, m), query: randomQuery(rng) }));
      const out = rowsOf(runRef(graph, w, perSampleFeeds(rows))['out']!.data, width);
      expect(out[0]).toEqual(new Array<number>(width).fill(0));
      expect(out[1]!.some((x) => x !== 0)).toBe(true);
    }
  });

  it('what padding holds (NaN, huge, garbage) changes nothing: outputs and gradients', () => {
    for (const kind of ['perSample', 'shared'] as const) {
      for (const [, opts] of VARIANTS.slice(0, 3)) {
        const { graph } = buildLap(kind, opts);
        const w = randomWeights(graph, 4);
        const feedsWith = (pad: number) => {
          const r = new Rng(77);
          const seq = randomSeq(r, MASKS[4]!, pad);
          const queries = [randomQuery(r), randomQuery(r)];
          return kind === 'shared' ? sharedFeeds(seq, queries) : perSampleFeeds(queries.map((query) => ({ ...seq, query })));
        };
        const withNaN = runRef(graph, w, feedsWith(NaN)),
          withBig = runRef(graph, w, feedsWith(1e30)),
          withZero = runRef(graph, w, feedsWith(0));
        expect(Array.from(withNaN['out']!.data).every(Number.isFinite)).toBe(true);
        expect(Array.from(withNaN['out']!.data)).toEqual(Array.from(withBig['out']!.data));
        expect(Array.from(withNaN['out']!.data)).toEqual(Array.from(withZero['out']!.data));
        const g = gradRef(graph, w, feedsWith(NaN), 'out');
        for (const [name, grad] of g.paramGrads) expect(grad.every(Number.isFinite), name).toBe(true);
        const itemsGrad = g.inputGrads.get('items')!;
        expect(itemsGrad.every(Number.isFinite)).toBe(true);
        // padded positions get no gradient
        const perRow = N * D;
        MASKS[4]!.forEach((valid, i) => {
          if (!valid)
            for (let r = 0; r < itemsGrad.length / perRow; r++)
              for (let j = 0; j < D; j++) expect(itemsGrad[r * perRow + i * D + j]).toBe(0);
        });
      }
    }
  });

  it('a sequence shorter than K1 and K2: valid picks first, padding picks in index order, no NaN', () => {
    const { graph, width } = buildLap('perSample', SMALL);
    const w = randomWeights(graph, 6);
    const row = { ...randomSeq(rng, MASKS[1]!), query: randomQuery(rng) }; // valid positions 1 and 8
    const got = runRef(graph, w, perSampleFeeds([row]));
    const k1 = Array.from(got['k1']!.data),
      k2 = Array.from(got['k2']!.data);
    expect([...k1.slice(0, 2)].sort((a, b) => a - b)).toEqual([1, 8]);
    expect(k1.slice(2)).toEqual([0, 2, 3, 4]);
    expect([...k2.slice(0, 2)].sort((a, b) => a - b)).toEqual([1, 8]);
    expect(k2[2]).toBe(0); // the first padding position
    expect(Array.from(got['out']!.data).every(Number.isFinite)).toBe(true);
    expectClose(Array.from(got['out']!.data), oracleLap(w, row, SMALL).out, 1e-9);
    expect(got['out']!.data.length).toBe(width);
  });

  it('ties are broken by the lower index at both levels', () => {
    const { graph } = buildLap('perSample', SMALL);
    const w = randomWeights(graph, 1);
    const mask = maskOf('011011101111');
    const same = { items: mask.map(() => [0.5, -1, 2, 0.25]), context: mask.map(() => [1, 0, -1]), mask };
    const got = runRef(graph, w, perSampleFeeds([{ ...same, query: [1, 2, 3, 4] }]));
    expect(Array.from(got['k1']!.data)).toEqual([1, 2, 4, 5, 6, 8]);
    expect(Array.from(got['k2']!.data)).toEqual([1, 2, 4]);
  });

  it('switching levels off narrows the output', () => {
    const widths = VARIANTS.slice(0, 5).map(([, o]) => buildLap('shared', o).width);
    expect(widths).toEqual([D + 5 + 4, D + 5 + 4, D + 4, D + 5, D]);
    const { graph } = buildLap('perSample', { ...SMALL, k1: undefined, k2: undefined });
    expect(graph.params).toEqual([]);
    expect(Object.keys(graph.outputs)).toEqual(['out']);
  });

  it('parameter names and shapes; MSA and FSA weights are separate', () => {
    const { graph } = buildLap('perSample', SMALL);
    expect(graph.params.map((p) => `${p.name} [${p.shape.join(', ')}]`)).toEqual([
      'lap/msa/wq [4, 5]',
      'lap/msa/wk [7, 5]',
      'lap/msa/wv [7, 5]',
      'lap/fsa/wq [4, 6]',
      'lap/fsa/wk [7, 6]',
      'lap/fsa/wv [7, 6]',
      'lap/fsa/ffn/l0/w [6, 6]',
      'lap/fsa/ffn/l0/b [6]',
      'lap/fsa/ffn/l1/w [6, 4]',
      'lap/fsa/ffn/l1/b [4]',
    ]);
    expect(LAP_DEFAULTS).toEqual({
      attentionDim: 64,
      heads: 4,
      headDim: 16,
      ffnDim: 128,
      outDim: 64,
      csaNormalize: 'softmax',
      msaNormalize: 'softmax',
      fsaPool: 'mean',
    });
    expect(buildLap('perSample', { k1: 6, k2: 3 }).width).toBe(D + 64 + 64);
  });
});

describe('LAP build-time errors', () => {
  const cases: ReadonlyArray<[Partial<LapOptions>, string]> = [
    [{ ...SMALL, k1: 13 }, "lap 'lap': k1 must be <= the sequence length 12, got 13"],
    [{ ...SMALL, k1: 6, k2: 7 }, "lap 'lap': k2 must be <= k1 (6), got 7"],
    [{ ...SMALL, k1: undefined, k2: 20 }, "lap 'lap': k2 must be <= the sequence length 12, got 20"],
    [{ ...SMALL, k1: 0 }, "lap 'lap': k1 must be a positive integer, got 0"],
    [{ ...SMALL, k2: 2.5 }, "lap 'lap': k2 must be a positive integer, got 2.5"],
    [{ ...SMALL, attentionDim: 0 }, "lap 'lap': attentionDim must be a positive integer, got 0"],
    [{ ...SMALL, heads: -1 }, "lap 'lap': heads must be a positive integer, got -1"],
    [{ ...SMALL, fsaPool: 'max' as never }, `lap 'lap': fsaPool must be one of 'mean', 'sumThenFfn', got "max"`],
    [{ ...SMALL, csaNormalize: 'sum' as never }, `lap 'lap': csaNormalize must be one of 'softmax', 'none', got "sum"`],
  ];
  for (const [opts, message] of cases) {
    it(message, () => {
      expect(errorOf(() => buildLap('perSample', opts))).toBe(message);
      expect(errorOf(() => buildLap('shared', opts))).toBe(message);
    });
  }

  it('the query width must equal the item width', () => {
    expect(errorOf(() => buildLap('perSample', SMALL, N, 3))).toBe(
      "lap 'lap': the query width must equal the item width 4 (CSA is a dot product), got 3",
    );
  });

  it('shapes that do not fit the layout', () => {
    const b = new GraphBuilder('bad', schemaOf('perSample', N, D, C));
    const { items, context, mask, query } = b.inputs;
    expect(errorOf(() => lap(b, 'lap', seqLayout(b, 'shared'), { items, context, mask, query }))).toBe(
      "lap 'lap': items must be [N, d] in the 'shared' layout, got [batch, 12, 4]",
    );
    const s = new GraphBuilder('bad', schemaOf('shared', N, D, C));
    expect(errorOf(() => lap(s, 'lap', seqLayout(s, 'shared'), { ...s.inputs, mask: s.constant([1, 1], [2, 1], 'bool') }))).toBe(
      "lap 'lap': mask must be [1, 12] in the 'shared' layout, got [2, 1]",
    );
    expect(errorOf(() => lap(s, 'lap2', seqLayout(s, 'shared'), { ...s.inputs, context: s.constant(0, [1, 1]) }))).toBe(
      "lap 'lap2': context must be [12, c] like items [12, 4] in the 'shared' layout, got [1, 1]",
    );
    // the levels check their own inputs and name themselves
    const layout = seqLayout(s, 'shared');
    const coarse = csa(s, 'c', layout, s.inputs);
    const picks = { indices: s.topk(coarse.scores, 2, s.inputs.mask).indices, valid: s.constant([1, 1], [1, 2], 'bool') };
    expect(errorOf(() => msa(s, 'm', layout, { ...s.inputs, picks }))).toBe(
      "msa 'm': picks.valid must be [cand, 2] like picks.indices, got [1, 2]",
    );
  });
});
