/**
 * LAP's top-k tie rule at every level (SPEC "Top-k order", decided 2026-12): valid positions
 * first, then score descending, then the earlier position in the ORIGINAL sequence, so K2's ties
 * among the K1 picks go to the earlier position, not to the better K1 rank, and K1's picks are a
 * set. Inputs and weights are small integers (sums exact in float32 and float64 in any order), so
 * ties are exact on every backend. Checked: ref-cpu in both layouts against a brute-force float64
 * implementation of the rule written here; ref-cpu vs tfjs (cpu, wasm) vs ONNX Runtime, whose
 * serving graph selects K1 unsorted (asserted on the exported model).
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  GraphBuilder,
  type HostTensor,
  type LapOptions,
  Rng,
  type SeqLayoutKind,
  type Value,
  type Weights,
  lap,
  seqLayout,
} from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { exportOnnx, onnx } from '@lctr/backend-onnx';
import { checkParity } from '../src/index.ts';

const N = 8,
  D = 2,
  CTX = 1,
  DA = 4;
const OPTS: Partial<LapOptions> = { k1: 4, k2: 2, attentionDim: DA, heads: 1, headDim: 2, ffnDim: 3, outDim: 2 };

interface Seq {
  items: number[][];
  context: number[][];
  mask: boolean[];
}
interface Row extends Seq {
  query: number[];
}

function buildLap(kind: SeqLayoutKind, opts: Partial<LapOptions>, withK1: boolean): Graph {
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
  const b = new GraphBuilder(`lap-ties-${kind}`, schema);
  const r = lap(b, 'lap', seqLayout(b, kind), b.inputs, opts);
  const outs: Record<string, Value> = { out: r.output, k2: r.k2Picks! };
  if (withK1) outs['k1'] = r.k1Picks!;
  return b.build(outs);
}

/** Integer weights: MSA's from `msa` (wq [D, DA], wk [D + CTX, DA]), everything else small random integers. */
function weightsOf(g: Graph, msa: { wq: number[][]; wk: number[][] }, seed: number): Weights {
  const rng = new Rng(seed);
  const given: Record<string, number[][]> = { 'lap/msa/wq': msa.wq, 'lap/msa/wk': msa.wk };
  return new Map(
    g.params.map((p) => {
      const n = p.shape.reduce((a, x) => a * x, 1);
      const data = given[p.name] ? Float32Array.from(given[p.name]!.flat()) : Float32Array.from({ length: n }, () => rng.int(3) - 1);
      expect(data.length, p.name).toBe(n);
      return [p.name, { dtype: 'float32' as const, shape: p.shape, data }];
    }),
  );
}

function perSampleFeeds(rows: readonly Row[]): Record<string, HostTensor> {
  return {
    items: { dtype: 'float32', shape: [rows.length, N, D], data: Float32Array.from(rows.flatMap((r) => r.items.flat())) },
    context: { dtype: 'float32', shape: [rows.length, N, CTX], data: Float32Array.from(rows.flatMap((r) => r.context.flat())) },
    mask: { dtype: 'bool', shape: [rows.length, N], data: Uint8Array.from(rows.flatMap((r) => r.mask.map(Number))) },
    query: { dtype: 'float32', shape: [rows.length, D], data: Float32Array.from(rows.flatMap((r) => r.query)) },
  };
}

function sharedFeeds(seq: Seq, queries: readonly number[][]): Record<string, HostTensor> {
  return {
    items: { dtype: 'float32', shape: [N, D], data: Float32Array.from(seq.items.flat()) },
    context: { dtype: 'float32', shape: [N, CTX], data: Float32Array.from(seq.context.flat()) },
    mask: { dtype: 'bool', shape: [1, N], data: Uint8Array.from(seq.mask.map(Number)) },
    query: { dtype: 'float32', shape: [queries.length, D], data: Float32Array.from(queries.flat()) },
  };
}

// ---- SPEC's rule, brute force in float64 ----

/** K1 (as a set, ascending) and K2 (in rank order) of one row by SPEC's rule. */
function specPicks(w: Weights, row: Row, k1: number, k2: number): { k1: number[]; k2: number[] } {
  const mat = (name: string) => w.get(name)!;
  const times = (x: readonly number[], name: string) => {
    const m = mat(name),
      cols = m.shape[1]!;
    return Array.from({ length: cols }, (_, j) => x.reduce((s, xi, i) => s + xi * m.data[i * cols + j]!, 0));
  };
  const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const positions = row.mask.map((_, p) => p);
  const valid = positions.filter((p) => row.mask[p]),
    padding = positions.filter((p) => !row.mask[p]);
  const r = positions.map((p) => dot(row.items[p]!, row.query));
  const q = times(row.query, 'lap/msa/wq');
  const s = positions.map((p) => dot(q, times([...row.items[p]!, ...row.context[p]!], 'lap/msa/wk')) / Math.sqrt(DA));
  const best = (score: readonly number[], among: readonly number[]) => [...among].sort((a, b) => score[b]! - score[a]! || a - b);
  const picks1 = [...best(r, valid), ...padding].slice(0, k1);
  const picks2 = [
    ...best(
      s,
      picks1.filter((p) => row.mask[p]),
    ),
    ...padding,
  ].slice(0, k2);
  return { k1: [...picks1].sort((a, b) => a - b), k2: picks2 };
}

/** Picks [R, k] of a ref-cpu run as rows; K1 as a set (its order is not part of the rule). */
function picksOf(t: HostTensor, k: number, asSet = false): number[][] {
  const rows = Array.from({ length: t.data.length / k }, (_, i) => Array.from(t.data.slice(i * k, (i + 1) * k), Number));
  return asSet ? rows.map((r) => r.sort((a, b) => a - b)) : rows;
}

// ---- cases ----

/** MSA reads only the context (wk's item rows are 0) and the query's first entry: s_p = q0 · c_p / 2. */
const CONTEXT_ONLY = {
  wq: [
    [1, 0, 0, 0],
    [0, 0, 0, 0],
  ],
  wk: [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [1, 0, 0, 0],
  ],
};
const ZERO_MSA = {
  wq: [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
  wk: [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
};

/**
 * CSA scores (query [1, 0]) 1 5 2 8 7 3 0 6: K1 = {3, 4, 7, 1} in rank order 3, 4, 7, 1. MSA
 * scores (contexts 0 4 0 9 1 0 0 4): position 3 first, then 7 and 1 tie at K2's boundary; 1 is
 * the earlier position, 7 the better K1 rank.
 */
const BOUNDARY_TIE: Seq = {
  items: [1, 5, 2, 8, 7, 3, 0, 6].map((x) => [x, 1]),
  context: [0, 4, 0, 9, 1, 0, 0, 4].map((c) => [c]),
  mask: new Array<boolean>(N).fill(true),
};
const QUERY = [1, 0];
/** Every CSA score ties (query [1, 0]): K1 = the first 4 positions; MSA and the pool see which. */
const CSA_TIE: Seq = {
  items: Array.from({ length: N }, (_, p) => [2, (p * 5) % 3]),
  context: Array.from({ length: N }, (_, p) => [(p * 3) % 4]),
  mask: new Array<boolean>(N).fill(true),
};

function randomRow(rng: Rng): Row {
  const int = (lo: number, hi: number) => lo + rng.int(hi - lo + 1);
  return {
    items: Array.from({ length: N }, () => [int(-2, 2), int(-2, 2)]),
    context: Array.from({ length: N }, () => [int(0, 2)]),
    mask: Array.from({ length: N }, () => rng.next() < 0.7),
    query: [int(-1, 1), int(-1, 1)],
  };
}

function unsortedTopks(graph: Graph, weights: Weights): { sorted: number; unsorted: number } {
  const model = onnx.ModelProto.decode(exportOnnx(graph, weights));
  const count = { sorted: 0, unsorted: 0 };
  type GraphProto = NonNullable<typeof model.graph>;
  const visit = (g: GraphProto | null | undefined) => {
    for (const n of g?.node ?? []) {
      if (n.opType === 'TopK') count[Number(n.attribute?.find((a) => a.name === 'sorted')?.i ?? 1) === 0 ? 'unsorted' : 'sorted']++;
      for (const a of n.attribute ?? []) visit(a.g);
    }
  };
  visit(model.graph);
  return count;
}

describe('LAP ties at K2 boundary: the earlier sequence position wins (ref-cpu vs the rule)', () => {
  it('a tie between the earlier position (worse K1 rank) and a later one (better K1 rank)', () => {
    for (const kind of ['perSample', 'shared'] as const) {
      const graph = buildLap(kind, OPTS, true);
      const w = weightsOf(graph, CONTEXT_ONLY, 1);
      const feeds = kind === 'perSample' ? perSampleFeeds([{ ...BOUNDARY_TIE, query: QUERY }]) : sharedFeeds(BOUNDARY_TIE, [QUERY]);
      const got = runRef(graph, w, feeds);
      expect(Array.from(got['k1']!.data), kind).toEqual([3, 4, 7, 1]);
      expect(Array.from(got['k2']!.data), kind).toEqual([3, 1]);
      expect(specPicks(w, { ...BOUNDARY_TIE, query: QUERY }, 4, 2)).toEqual({ k1: [1, 3, 4, 7], k2: [3, 1] });
    }
  });

  it('degenerate MSA (all weights 0, every score ties): K2 = the earliest valid K1 picks', () => {
    const mask = [true, true, false, true, true, true, false, true];
    const seq = { ...BOUNDARY_TIE, mask };
    for (const kind of ['perSample', 'shared'] as const) {
      const graph = buildLap(kind, OPTS, true);
      const w = weightsOf(graph, ZERO_MSA, 2);
      const got = runRef(graph, w, kind === 'perSample' ? perSampleFeeds([{ ...seq, query: QUERY }]) : sharedFeeds(seq, [QUERY]));
      expect(Array.from(got['k1']!.data), kind).toEqual([3, 4, 7, 1]);
      expect(Array.from(got['k2']!.data), kind).toEqual([1, 3]);
    }
  });

  it('fewer valid positions than K2: the valid ones by the rule, then padding in position order', () => {
    const seq = { ...BOUNDARY_TIE, mask: [false, false, false, false, false, true, false, false] };
    for (const kind of ['perSample', 'shared'] as const) {
      const graph = buildLap(kind, OPTS, true);
      const w = weightsOf(graph, CONTEXT_ONLY, 3);
      const got = runRef(graph, w, kind === 'perSample' ? perSampleFeeds([{ ...seq, query: QUERY }]) : sharedFeeds(seq, [QUERY]));
      expect(Array.from(got['k1']!.data), kind).toEqual([5, 0, 1, 2]);
      expect(Array.from(got['k2']!.data), kind).toEqual([5, 0]);
    }
  });

  it('tie-heavy random rows (integer data and weights): both layouts follow the rule at both levels', () => {
    const rng = new Rng(2026);
    const rows = Array.from({ length: 60 }, () => randomRow(rng));
    for (const [k1, k2] of [
      [4, 2],
      [5, 5],
      [8, 3],
    ] as const) {
      const opts = { ...OPTS, k1, k2 };
      const perSample = buildLap('perSample', opts, true);
      const w = weightsOf(
        perSample,
        {
          wq: [
            [1, -1, 0, 1],
            [0, 1, 1, -1],
          ],
          wk: [
            [1, 0, -1, 0],
            [0, 1, 0, 1],
            [1, 1, 0, -1],
          ],
        },
        k1,
      );
      const got = runRef(perSample, w, perSampleFeeds(rows));
      const want = rows.map((row) => specPicks(w, row, k1, k2));
      expect(picksOf(got['k1']!, k1, true)).toEqual(want.map((x) => x.k1));
      expect(picksOf(got['k2']!, k2)).toEqual(want.map((x) => x.k2));
      const shared = buildLap('shared', opts, true);
      for (const seq of rows.slice(0, 12)) {
        const queries = rows.slice(12, 17).map((r) => r.query);
        const s = runRef(shared, w, sharedFeeds(seq, queries));
        const wantShared = queries.map((query) => specPicks(w, { ...seq, query }, k1, k2));
        expect(picksOf(s['k1']!, k1, true)).toEqual(wantShared.map((x) => x.k1));
        expect(picksOf(s['k2']!, k2)).toEqual(wantShared.map((x) => x.k2));
      }
    }
  });

  it('the rule picks differently from "better K1 rank" on these rows (so the tests can tell)', () => {
    const rng = new Rng(2026);
    const rows = Array.from({ length: 60 }, () => randomRow(rng));
    const graph = buildLap('perSample', OPTS, true);
    const w = weightsOf(
      graph,
      {
        wq: [
          [1, -1, 0, 1],
          [0, 1, 1, -1],
        ],
        wk: [
          [1, 0, -1, 0],
          [0, 1, 0, 1],
          [1, 1, 0, -1],
        ],
      },
      4,
    );
    const got = runRef(graph, w, perSampleFeeds(rows));
    const byK1Rank = picksOf(got['k1']!, 4).map((k1, i) => {
      const row = rows[i]!;
      const s = specScores(w, row);
      return k1
        .map((p, rank) => ({ p, rank }))
        .sort((a, b) => Number(row.mask[b.p]) - Number(row.mask[a.p]) || (row.mask[a.p] ? s[b.p]! - s[a.p]! : 0) || a.rank - b.rank)
        .slice(0, 2)
        .map((x) => x.p);
    });
    const differ = picksOf(got['k2']!, 2).filter((k2, i) => JSON.stringify(k2) !== JSON.stringify(byK1Rank[i])).length;
    expect(differ).toBeGreaterThan(3);
  });
});

function specScores(w: Weights, row: Row): number[] {
  const m = (name: string) => w.get(name)!;
  const times = (x: readonly number[], name: string) => {
    const t = m(name),
      cols = t.shape[1]!;
    return Array.from({ length: cols }, (_, j) => x.reduce((s, xi, i) => s + xi * t.data[i * cols + j]!, 0));
  };
  const q = times(row.query, 'lap/msa/wq');
  return row.items.map((e, p) => times([...e, ...row.context[p]!], 'lap/msa/wk').reduce((s, k, j) => s + k * q[j]!, 0));
}

describe('LAP ties: every backend agrees (ref-cpu vs tfjs cpu/wasm vs ONNX Runtime)', () => {
  const rng = new Rng(7);
  const rows: Row[] = [{ ...BOUNDARY_TIE, query: QUERY }, ...Array.from({ length: 11 }, () => randomRow(rng))];
  const cases: ReadonlyArray<[string, SeqLayoutKind, { wq: number[][]; wk: number[][] }, Seq]> = [
    ['perSample, boundary tie and tie-heavy rows', 'perSample', CONTEXT_ONLY, BOUNDARY_TIE],
    ['perSample, degenerate MSA', 'perSample', ZERO_MSA, BOUNDARY_TIE],
    ['shared, boundary tie', 'shared', CONTEXT_ONLY, BOUNDARY_TIE],
    ['shared, degenerate MSA', 'shared', ZERO_MSA, BOUNDARY_TIE],
    // K1 exported as a set of an unsorted TopK of width 5, cut to 4 by value then position
    ['shared, every CSA score ties (K1 = the first 4 positions)', 'shared', CONTEXT_ONLY, CSA_TIE],
  ];
  for (const [name, kind, msa, seq] of cases) {
    it(`${name}: forward (K2 picks exact) and gradients`, async () => {
      const graph = buildLap(kind, OPTS, false);
      const weights = weightsOf(graph, msa, 5);
      const inputs = kind === 'perSample' ? perSampleFeeds(rows) : sharedFeeds(seq, [QUERY, ...rows.map((r) => r.query)]);
      const r = await checkParity({ name: `lap ties ${name}`, graph, weights, inputs, gradOutput: 'out' });
      expect(r.failures).toEqual([]);
      expect(r.entries.filter((e) => e.kind === 'output' && e.name === 'k2').length).toBe(3);
      // the serving layout's K1 only feeds a scatter: exported unsorted; the training layout's is gathered in order
      expect(unsortedTopks(graph, weights).unsorted, 'unsorted TopKs').toBe(kind === 'shared' ? 4 : 0);
    });
  }

  it('with K1 a graph output, its order is kept: the serving graph sorts it', () => {
    const graph = buildLap('shared', OPTS, true);
    expect(unsortedTopks(graph, weightsOf(graph, CONTEXT_ONLY, 1))).toEqual({ sorted: 4, unsorted: 0 });
  });
});

describe('a top-k as a set on ONNX Runtime (picks that only feed a scatter)', () => {
  /** [R, n] scores and mask → a [R, n] row: 2 at the valid picks, 1 at the padding picks, 0 elsewhere */
  function setGraph(n: number, k: number): Graph {
    const b = new GraphBuilder('topk-set', { x: { dtype: 'float32', shape: ['batch', n] }, mask: { dtype: 'bool', shape: ['batch', n] } });
    const t = b.topk(b.inputs.x, k, b.inputs.mask);
    const mark = b.add(b.cast(b.greater(t.values, b.scalar(-Infinity)), 'float32'), b.scalar(1));
    return b.build({ row: b.scatterAlongAxis(mark, t.indices, n, 1) });
  }

  it('k 200 of 2,000 (asked as an unsorted 248, cut to 200): exactly the set of the rule, ties to the lower index', async () => {
    const rows = 24,
      n = 2000,
      rng = new Rng(11);
    const x = Float32Array.from({ length: rows * n }, () => rng.int(6)); // 6 values: ties everywhere, also at the boundary
    const mask = Uint8Array.from({ length: rows * n }, (_, i) => Number(Math.floor(i / n) === 3 ? i % n < 150 : rng.next() < 0.8));
    x[5 * n + 7] = Infinity; // one row set takes the exact (non-finite) branch too
    const graph = setGraph(n, 200);
    expect(unsortedTopks(graph, new Map()).unsorted).toBe(4);
    const inputs = {
      x: { dtype: 'float32' as const, shape: [rows, n], data: x },
      mask: { dtype: 'bool' as const, shape: [rows, n], data: mask },
    };
    const r = await checkParity({ name: 'topk set', graph, weights: new Map(), inputs, gradOutput: null }, { backends: ['onnx'] });
    expect(r.failures).toEqual([]);
    // the rule, brute force: valid first, value descending, lower index; padding after in index order
    const got = runRef(graph, new Map(), inputs)['row']!.data;
    for (let i = 0; i < rows; i++) {
      const order = Array.from({ length: n }, (_, p) => p).sort(
        (a, b) => mask[i * n + b]! - mask[i * n + a]! || (mask[i * n + a] ? x[i * n + b]! - x[i * n + a]! : 0) || a - b,
      );
      const want = new Array<number>(n).fill(0);
      for (const p of order.slice(0, 200)) want[p] = mask[i * n + p] ? 2 : 1;
      expect(Array.from(got.slice(i * n, (i + 1) * n)), `row ${i}`).toEqual(want);
    }
  });
});
