/**
 * The 'perRequest' SeqLayout (blocks/layout.ts): S requests of C candidates, one sequence per
 * request. SIM soft, SIM hard and TWIN on it (ref-cpu, float64) equal the 'perSample' layout with
 * each request's sequence repeated for its C candidates, forward and parameter gradients, with NaN
 * in the padding, a short sequence (< K valid), a sequence with holes and an all-padding one; both
 * projectBeforePick settings; gradients against central finite differences; the layout methods on
 * hand-made numbers; and the build-time errors.
 */
import { describe, expect, it } from 'vitest';
import { gradRef, runRef } from '@lctr/ref-cpu';
import {
  type FeatureSchema,
  type Graph,
  GraphBuilder,
  type HostTensor,
  Rng,
  type SeqLayoutOptions,
  type Value,
  type Weights,
  candidateRows,
  initWeights,
  requestCandidates,
  seqLayout,
  simHard,
  simSoft,
  twin,
} from '@lctr/spec';

const N = 12,
  D = 4,
  DQ = 3,
  CTX = 2,
  CAND = 3,
  K = 5;
const SOFT = { k: K, gsuDim: 3, attentionDim: 4 };
const HARD = { k: K, attentionDim: 4 };
const TWIN = { k: K, heads: 2, headDim: 3, outDim: 5 };
type Block = 'simSoft' | 'simHard' | 'twin';
const BLOCKS: readonly Block[] = ['simSoft', 'simHard', 'twin'];
const WIDTH: Record<Block, number> = { simSoft: SOFT.attentionDim, simHard: HARD.attentionDim, twin: TWIN.outDim };
type Out = Record<string, { data: Float64Array | Int32Array | Uint8Array; shape: number[] }>;

/**
 * A graph around one block. perRequest: the request-side inputs are [batch, N, ...] and the
 * candidate-side ones [batch, C, ...], reshaped in the graph to the [C*batch, ...] rows (as a
 * request model does). perSample: every input has one row per candidate ('rows').
 */
function build(
  block: Block,
  kind: 'perRequest' | 'perSample',
  layoutOpts: SeqLayoutOptions = { candidates: CAND },
): Graph<FeatureSchema, string> {
  const pr = kind === 'perRequest';
  const S = pr ? 'batch' : 'rows';
  const s: Record<string, FeatureSchema[string]> = {
    items: { dtype: 'float32', shape: [S, N, D] },
    mask: { dtype: 'bool', shape: [S, N] },
    query: { dtype: 'float32', shape: pr ? [S, CAND, DQ] : [S, DQ] },
  };
  if (block === 'simHard') {
    s['itemCategory'] = { dtype: 'int32', shape: [S, N] };
    s['queryCategory'] = { dtype: 'int32', shape: pr ? [S, CAND] : [S] };
  }
  if (block === 'twin') s['context'] = { dtype: 'float32', shape: [S, N, CTX] };
  const b = new GraphBuilder(`${block}-${kind}`, s as FeatureSchema);
  const layout = pr ? seqLayout(b, 'perRequest', layoutOpts) : seqLayout(b, 'perSample');
  const i = b.inputs as Record<string, Value>;
  // perRequest: [batch, C, ...] candidate inputs as the [C*batch, ...] rows
  const rowsOf = <T extends Value>(x: T): T => (pr ? (candidateRows(b, layout, x) as T) : x);
  const query = rowsOf(b.expectDtype(i['query']!, 'float32'));
  const base = { items: b.expectDtype(i['items']!, 'float32'), mask: b.expectDtype(i['mask']!, 'bool'), query };
  if (block === 'simSoft') {
    const o = simSoft(b, 'sim', layout, base, SOFT);
    return b.build({
      output: o.output,
      picks: o.picks,
      valid: o.pickedMask,
      gsuPooled: o.gsuPooled,
      y: b.concat([o.output, o.gsuPooled], 1),
    });
  }
  if (block === 'simHard') {
    const queryCategory = rowsOf(b.expectDtype(i['queryCategory']!, 'int32'));
    const o = simHard(b, 'sim', layout, { ...base, itemCategory: b.expectDtype(i['itemCategory']!, 'int32'), queryCategory }, HARD);
    return b.build({ output: o.output, picks: o.picks, valid: o.pickedMask, y: o.output });
  }
  const o = twin(b, 'twin', layout, { ...base, context: b.expectDtype(i['context']!, 'float32') }, TWIN);
  return b.build({ output: o.output, picks: o.picks, valid: o.pickedMask, y: o.output });
}

// ---- fixtures: S = 4 requests of C = 3 candidates ----
// request 0: all valid; 1: 3 valid (< K); 2: holes and trailing padding; 3: all padding
const MASK = [
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
];
// request 0: 7 items of category 1; request 1: category 2 only at padding; request 2: category 2 only at padding
const CATEGORY = [
  [1, 0, 1, 1, 2, 1, 0, 1, 1, 0, 1, 2],
  [0, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2],
  [1, 0, 2, 1, 0, 0, 2, 1, 0, 1, 2, 2],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
];
// per request, C candidate categories: a match-rich one, a 1-match one, a no-match one (2 in requests 1, 2)
const CAND_CATEGORY = [
  [1, 2, 0],
  [0, 1, 2],
  [1, 0, 2],
  [1, 0, 2],
];
const S = MASK.length,
  ROWS = S * CAND;

function normals(seed: number, n: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.fround(rng.normal()));
}
const f32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const i32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const bool = (shape: number[], v: number[]): HostTensor => ({ dtype: 'bool', shape, data: Uint8Array.from(v) });
/** each request's row repeated for its C candidates */
const repeat = <T>(perRequest: T[][]): T[] => perRequest.flatMap((row) => Array.from({ length: CAND }, () => row).flat());

/** perRequest feeds and the equivalent perSample feeds (sequence repeated per candidate); `pad` fills padding */
function feeds(block: Block, pad = NaN, seed = 1): { perRequest: Record<string, HostTensor>; perSample: Record<string, HostTensor> } {
  const items = MASK.map((row, s) => row.flatMap((m, n) => normals(seed + 100 * s + n, D).map((v) => (m ? v : pad))));
  const context = MASK.map((row, s) => row.flatMap((m, n) => normals(seed + 5000 + 100 * s + n, CTX).map((v) => (m ? v : pad))));
  const query = normals(seed + 9000, ROWS * DQ);
  const perRequest: Record<string, HostTensor> = {
    items: f32([S, N, D], items.flat()),
    mask: bool([S, N], MASK.flat()),
    query: f32([S, CAND, DQ], query),
  };
  const perSample: Record<string, HostTensor> = {
    items: f32([ROWS, N, D], repeat(items)),
    mask: bool([ROWS, N], repeat(MASK)),
    query: f32([ROWS, DQ], query),
  };
  if (block === 'simHard') {
    perRequest['itemCategory'] = i32([S, N], CATEGORY.flat());
    perRequest['queryCategory'] = i32([S, CAND], CAND_CATEGORY.flat());
    perSample['itemCategory'] = i32([ROWS, N], repeat(CATEGORY));
    perSample['queryCategory'] = i32([ROWS], CAND_CATEGORY.flat());
  }
  if (block === 'twin') {
    perRequest['context'] = f32([S, N, CTX], context.flat());
    perSample['context'] = f32([ROWS, N, CTX], repeat(context));
  }
  return { perRequest, perSample };
}

const run = (g: Graph<FeatureSchema, string>, w: Weights, f: Record<string, HostTensor>) => runRef(g, w, f as never) as unknown as Out;
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
/** float64 copies of the weights (ref-cpu reads them as given), for finite differences */
function float64(w: Weights): Map<string, HostTensor> {
  return new Map([...w].map(([name, t]) => [name, { ...t, data: Float64Array.from(t.data as Float32Array) } as unknown as HostTensor]));
}

describe("'perRequest' equals 'perSample' with each request's sequence repeated for its C candidates", () => {
  for (const block of BLOCKS) {
    for (const projectBeforePick of [true, false]) {
      it(`${block}, projectBeforePick ${projectBeforePick}: outputs, picks and parameter gradients (1e-12)`, () => {
        const gr = build(block, 'perRequest', { candidates: CAND, projectBeforePick }),
          gs = build(block, 'perSample');
        const shapes = (g: Graph<FeatureSchema, string>) => g.params.map((p) => `${p.name} [${p.shape.join(', ')}]`);
        expect(shapes(gr)).toEqual(shapes(gs));
        const w = initWeights(gs, 5);
        const f = feeds(block);
        const a = run(gr, w, f.perRequest),
          b = run(gs, w, f.perSample);
        expect(Object.keys(a)).toEqual(Object.keys(b));
        for (const name of Object.keys(a)) {
          expect(a[name]!.shape).toEqual(b[name]!.shape);
          expect(maxAbs(a[name]!.data, b[name]!.data)).toBeLessThan(1e-12);
        }
        expect(a['output']!.shape).toEqual([ROWS, WIDTH[block]]);
        expect(a['output']!.data.every(Number.isFinite)).toBe(true);
        expect(a['output']!.data.some((v) => Math.abs(v) > 1e-3)).toBe(true);
        // the all-padding request: its C rows are zeros with no valid pick
        const w0 = WIDTH[block];
        expect(Array.from(a['output']!.data.slice(3 * CAND * w0))).toEqual(new Array(CAND * w0).fill(0));
        expect(Array.from(a['valid']!.data.slice(3 * CAND * K))).toEqual(new Array(CAND * K).fill(0));
        // the short request (3 valid < K): every candidate has 3 valid picks first (SIM hard: its matches)
        const validOf = (row: number) => Array.from(a['valid']!.data.slice(row * K, (row + 1) * K));
        if (block !== 'simHard') for (let c = 0; c < CAND; c++) expect(validOf(CAND + c)).toEqual([1, 1, 1, 0, 0]);
        else {
          expect(validOf(CAND)).toEqual([1, 1, 0, 0, 0]); // category 0: positions 2, 0
          expect(Array.from(a['picks']!.data.slice(CAND * K, CAND * K + 2))).toEqual([2, 0]);
          expect(validOf(CAND + 2)).toEqual([0, 0, 0, 0, 0]); // category 2 only at padding: zeros
          expect(Array.from(a['output']!.data.slice((CAND + 2) * w0, (CAND + 3) * w0))).toEqual(new Array(w0).fill(0));
          expect(Array.from(a['picks']!.data.slice(0, K))).toEqual([10, 8, 7, 5, 3]); // request 0, category 1: 5 most recent
        }
        // candidates of one request differ (the query differs), so rows are not copies
        expect(maxAbs(a['output']!.data.slice(0, w0), a['output']!.data.slice(w0, 2 * w0))).toBeGreaterThan(1e-3);

        const rng = new Rng(77);
        const cot = Float64Array.from({ length: ROWS * (block === 'simSoft' ? SOFT.attentionDim + D : w0) }, () => rng.normal());
        const ga = gradRef(gr, w, f.perRequest as never, 'y', cot).paramGrads;
        const gb = gradRef(gs, w, f.perSample as never, 'y', cot).paramGrads;
        expect([...ga.keys()]).toEqual([...gb.keys()]);
        for (const [name, v] of ga) {
          expect(v.every(Number.isFinite)).toBe(true);
          expect(v.some((x) => x !== 0)).toBe(true);
          const scale = Math.max(1, ...Array.from(gb.get(name)!, Math.abs));
          expect(maxAbs(v, gb.get(name)!) / scale).toBeLessThan(1e-12);
        }
      });
    }
  }

  it('what padding holds (NaN, 1e30, 0) changes nothing, forward or gradients', () => {
    for (const block of BLOCKS) {
      const g = build(block, 'perRequest');
      const w = initWeights(g, 5);
      const results = [NaN, 1e30, 0].map((pad) => {
        const f = feeds(block, pad).perRequest;
        return { out: run(g, w, f), grads: gradRef(g, w, f as never, 'y').paramGrads };
      });
      for (const r of results.slice(1)) {
        for (const name of Object.keys(r.out)) expect(Array.from(r.out[name]!.data)).toEqual(Array.from(results[0]!.out[name]!.data));
        for (const [name, v] of r.grads) expect(Array.from(v)).toEqual(Array.from(results[0]!.grads.get(name)!));
      }
    }
  });
});

describe('perRequest gradients against central finite differences (float64 weights)', () => {
  for (const block of BLOCKS) {
    it(block, () => {
      const g = build(block, 'perRequest');
      const w = float64(initWeights(g, 5));
      const f = feeds(block).perRequest;
      const width = block === 'simSoft' ? SOFT.attentionDim + D : WIDTH[block];
      const rng = new Rng(3);
      const cot = Float64Array.from({ length: ROWS * width }, () => rng.normal());
      const grads = gradRef(g, w as Weights, f as never, 'y', cot).paramGrads;
      const objective = (ww: Map<string, HostTensor>) => {
        const y = run(g, ww as Weights, f)['y']!.data;
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i]! * cot[i]!;
        return sum;
      };
      const h = 1e-6;
      let checked = 0;
      for (const p of g.params) {
        const base = w.get(p.name)!.data as unknown as Float64Array;
        for (let j = 0; j < base.length; j++) {
          const at = (delta: number) => {
            const data = Float64Array.from(base);
            data[j]! += delta;
            return objective(new Map([...w, [p.name, { ...w.get(p.name)!, data } as unknown as HostTensor]]));
          };
          const fd = (at(h) - at(-h)) / (2 * h);
          expect(Math.abs(grads.get(p.name)![j]! - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
          checked++;
        }
      }
      expect(checked).toBe(g.params.reduce((s, p) => s + p.shape.reduce((a: number, b) => a * Number(b), 1), 0));
    });
  }
});

describe('perRequest layout methods on hand-made numbers (S = 2 requests, C = 2 candidates, N = 3)', () => {
  // sequences: request 0 rows e0 = [1, 0], e1 = [0, 1], e2 = [1, 1]; request 1: [2, 0], [0, 3], [1, -1]
  const SEQ = [
    [1, 0],
    [0, 1],
    [1, 1],
    [2, 0],
    [0, 3],
    [1, -1],
  ];
  // candidate rows, request-major: (req 0, cand 0), (req 0, cand 1), (req 1, cand 0), (req 1, cand 1)
  const Q = [
    [1, 2],
    [3, -1],
    [0, 1],
    [1, 1],
  ];
  const W = [
    [1, 0, 0],
    [0, 0.5, 0.5],
    [0.2, 0.3, 0.5],
    [0, 0, 1],
  ];
  const IDX = [
    [2, 0],
    [1, 1],
    [0, 2],
    [2, 1],
  ];
  function graph() {
    const b = new GraphBuilder('methods', {
      seq: { dtype: 'float32', shape: ['batch', 3, 2] },
      mask: { dtype: 'bool', shape: ['batch', 3] },
      seqInt: { dtype: 'int32', shape: ['batch', 3] },
      q: { dtype: 'float32', shape: ['batch', 2, 2] },
      w: { dtype: 'float32', shape: ['batch', 2, 3] },
      idx: { dtype: 'int32', shape: ['batch', 2, 2] },
    });
    const L = seqLayout(b, 'perRequest', { candidates: 2 });
    const i = b.inputs;
    const q = b.reshape(i.q, ['2*batch', 2]),
      w = b.reshape(i.w, ['2*batch', 3]),
      idx = b.reshape(i.idx, ['2*batch', 2]);
    return b.build({
      scores: L.scores(q, i.seq),
      pool: L.pool(w, i.seq),
      pick: L.pick(i.seq, idx),
      pickInt: L.pickInt(i.seqInt, idx),
      rowMask: L.perRow(i.mask),
      perRowFloat: L.perRow(i.seq),
    });
  }
  it('scores, pool, pick, pickInt, perRow', () => {
    const g = graph();
    const out = runRef(g, new Map(), {
      seq: f32([2, 3, 2], SEQ.flat()),
      mask: bool([2, 3], [1, 0, 1, 0, 1, 1]),
      seqInt: i32([2, 3], [10, 11, 12, 20, 21, 22]),
      q: f32([2, 2, 2], Q.flat()),
      w: f32([2, 2, 3], W.flat()),
      idx: i32([2, 2, 2], IDX.flat()),
    } as never) as unknown as Out;
    const dot = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]!;
    const req = (row: number) => Math.floor(row / 2);
    expect(out['scores']!.shape).toEqual([4, 3]);
    expect(Array.from(out['scores']!.data)).toEqual(Q.flatMap((q, r) => [0, 1, 2].map((n) => dot(q, SEQ[3 * req(r) + n]!))));
    expect(Array.from(out['scores']!.data.slice(0, 3))).toEqual([1, 2, 3]); // by hand: [1,2]·e0, ·e1, ·e2
    expect(out['pool']!.shape).toEqual([4, 2]);
    const pool = W.flatMap((w, r) => [0, 1].map((t) => w.reduce((s, wn, n) => s + Math.fround(wn) * SEQ[3 * req(r) + n]![t]!, 0)));
    expect(maxAbs(out['pool']!.data, pool)).toBeLessThan(1e-12);
    expect(Array.from(out['pool']!.data.slice(4, 6)).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0.9, 0.4]); // 0.2·[2,0] + 0.3·[0,3] + 0.5·[1,-1] (float32 weights)
    expect(out['pick']!.shape).toEqual([4, 2, 2]);
    expect(Array.from(out['pick']!.data)).toEqual(IDX.flatMap((ks, r) => ks.flatMap((n) => SEQ[3 * req(r) + n]!)));
    expect(Array.from(out['pickInt']!.data)).toEqual([12, 10, 11, 11, 20, 22, 22, 21]);
    expect(out['rowMask']!.shape).toEqual([4, 3]);
    expect(Array.from(out['rowMask']!.data)).toEqual([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1]);
    expect(out['perRowFloat']!.shape).toEqual([4, 3, 2]);
    expect(Array.from(out['perRowFloat']!.data)).toEqual([...SEQ.slice(0, 3), ...SEQ.slice(0, 3), ...SEQ.slice(3), ...SEQ.slice(3)].flat());
  });

  it('candidateRows and requestCandidates: [S, C, ...] to the request-major rows [S·C, ...] and back', () => {
    const b = new GraphBuilder('rows', { x: { dtype: 'int32', shape: ['batch', 2, 3] }, y: { dtype: 'int32', shape: ['batch', 3] } });
    const L = seqLayout(b, 'perRequest', { candidates: 2 });
    const rows = candidateRows(b, L, b.inputs.x);
    expect(rows.shape).toEqual(['2*batch', 3]);
    const back = requestCandidates(b, L, rows);
    expect(back.shape).toEqual(['batch', 2, 3]);
    const g = b.build({ rows, back });
    const x = Array.from({ length: 12 }, (_, j) => j);
    const out = runRef(g, new Map(), { x: i32([2, 2, 3], x), y: i32([2, 3], [0, 0, 0, 0, 0, 0]) } as never) as unknown as Out;
    expect(Array.from(out['rows']!.data)).toEqual(x); // row s·C + c = candidate c of request s
    expect(out['back']!.shape).toEqual([2, 2, 3]);
    expect(() => candidateRows(b, L, b.inputs.y)).toThrow(
      'candidateRows: x must be [S, 2, ...] (C = 2 candidates per request), got [batch, 3]',
    );
    expect(() => requestCandidates(b, L, b.inputs.y)).toThrow(
      'requestCandidates: y must be [S·C, ...] (C = 2 candidates per request), got [batch, 3]',
    );
    expect(() => candidateRows(b, seqLayout(b, 'perSample'), b.inputs.x)).toThrow(
      'candidateRows: the layout must be perRequest, got perSample',
    );
  });

  it('kind, candidates, projectBeforePick and sequenceLead; the other layouts keep perRow the identity', () => {
    const b = new GraphBuilder('l', { m: { dtype: 'bool', shape: ['batch', 4] } });
    const pr = seqLayout(b, 'perRequest', { candidates: 3 });
    expect([pr.kind, pr.candidates, pr.projectBeforePick]).toEqual(['perRequest', 3, false]);
    expect(seqLayout(b, 'perRequest', { candidates: 3, projectBeforePick: true }).projectBeforePick).toBe(true);
    expect(pr.sequenceLead('3*batch')).toEqual(['batch']);
    expect(pr.sequenceLead(12)).toEqual([4]);
    expect(pr.sequenceLead('batch')).toBeUndefined();
    expect(seqLayout(b, 'perSample').sequenceLead('batch')).toEqual(['batch']);
    expect(seqLayout(b, 'shared').sequenceLead('cand')).toEqual([]);
    const m = b.inputs.m;
    expect(seqLayout(b, 'perSample').perRow(m)).toBe(m);
    expect(seqLayout(b, 'shared').perRow(m)).toBe(m);
    expect(pr.perRow(m).shape).toEqual(['3*batch', 4]);
  });
});

describe('perRequest build-time errors name the input, the expected and the actual shape', () => {
  const schema = (over: Record<string, FeatureSchema[string]> = {}): FeatureSchema => ({
    items: { dtype: 'float32', shape: ['batch', N, D] },
    mask: { dtype: 'bool', shape: ['batch', N] },
    query: { dtype: 'float32', shape: ['batch', CAND, DQ] },
    itemCategory: { dtype: 'int32', shape: ['batch', N] },
    queryCategory: { dtype: 'int32', shape: ['batch', CAND] },
    context: { dtype: 'float32', shape: ['batch', N, CTX] },
    ...over,
  });
  function attempt(block: Block, over: Record<string, FeatureSchema[string]> = {}, rows: string = `${CAND}*batch`): void {
    const b = new GraphBuilder('e', schema(over));
    const L = seqLayout(b, 'perRequest', { candidates: CAND });
    const i = b.inputs as Record<string, Value>;
    const query = b.reshape(b.expectDtype(i['query']!, 'float32'), [rows, -1]);
    const base = { items: b.expectDtype(i['items']!, 'float32'), mask: b.expectDtype(i['mask']!, 'bool'), query };
    if (block === 'simSoft') simSoft(b, 'sim', L, base, SOFT);
    else if (block === 'simHard')
      simHard(
        b,
        'sim',
        L,
        {
          ...base,
          itemCategory: b.expectDtype(i['itemCategory']!, 'int32'),
          queryCategory: b.reshape(b.expectDtype(i['queryCategory']!, 'int32'), [rows]),
        },
        HARD,
      );
    else twin(b, 'twin', L, { ...base, context: b.expectDtype(i['context']!, 'float32') }, TWIN);
  }
  it('layout options', () => {
    const b = new GraphBuilder('o', { x: { dtype: 'float32', shape: [1] } });
    expect(() => seqLayout(b, 'perRequest')).toThrow(
      'seqLayout perRequest: options.candidates (C, the candidates per request) must be a positive integer, got undefined',
    );
    expect(() => seqLayout(b, 'perRequest', { candidates: 0 })).toThrow(
      'seqLayout perRequest: options.candidates (C, the candidates per request) must be a positive integer, got 0',
    );
    expect(() => seqLayout(b, 'perRequest', { candidates: 2.5 })).toThrow('got 2.5');
    expect(() => seqLayout(b, 'perSample', { candidates: 3 })).toThrow(
      'seqLayout perSample: option candidates is for the perRequest layout only, got 3',
    );
    expect(() => seqLayout(b, 'shared', { projectBeforePick: true })).toThrow(
      'seqLayout shared: option projectBeforePick is for the perRequest layout only, got true',
    );
    expect(() => seqLayout(b, 'bogus' as never)).toThrow(`seqLayout: kind must be one of 'perSample', 'shared', 'perRequest', got "bogus"`);
  });
  it('block inputs', () => {
    // rows not a multiple of C (a query that was never reshaped from [S, C, dq])
    expect(() => attempt('simSoft', { query: { dtype: 'float32', shape: ['batch', DQ] } }, 'batch')).toThrow(
      "simSoft 'sim': query must be [S·C, dq] in the perRequest layout (C = 3 candidates per request), got [batch, 3]: batch is not a " +
        'multiple of 3',
    );
    expect(() => attempt('simSoft', { items: { dtype: 'float32', shape: [N, D] } })).toThrow(
      "simSoft 'sim': items must be [S, N, d] in the perRequest layout, got [12, 4]",
    );
    expect(() => attempt('twin', { items: { dtype: 'float32', shape: ['other', N, D] } })).toThrow(
      "twin 'twin': items must be [batch, 12, 4] (S from the query [3*batch, 3] over C = 3 candidates per request), got [other, 12, 4]",
    );
    expect(() => attempt('simHard', { mask: { dtype: 'bool', shape: ['batch', N - 1] } })).toThrow(
      "simHard 'sim': mask must be [batch, 12] in the perRequest layout, got [batch, 11]",
    );
    expect(() => attempt('simHard', { itemCategory: { dtype: 'int32', shape: ['batch', CAND, N] } })).toThrow(
      "simHard 'sim': itemCategory must be [batch, 12] in the perRequest layout, got [batch, 3, 12]",
    );
    expect(() => attempt('twin', { context: { dtype: 'float32', shape: ['batch', N - 1, CTX] } })).toThrow(
      "twin 'twin': context must be [batch, 12, c] with a static c in the perRequest layout, got [batch, 11, 2]",
    );
    expect(() => attempt('simSoft', { items: { dtype: 'float32', shape: ['batch', 'seq', D] } })).toThrow(
      "simSoft 'sim': items must be [S, N, d] with a static N and d, got [batch, seq, 4]",
    );
  });
  it('layout methods', () => {
    const b = new GraphBuilder('m', {
      seq: { dtype: 'float32', shape: ['batch', N, D] },
      q: { dtype: 'float32', shape: ['batch', 2, D] },
      idx: { dtype: 'int32', shape: ['batch', 2, K] },
    });
    const L = seqLayout(b, 'perRequest', { candidates: CAND });
    const q = b.reshape(b.inputs.q, ['2*batch', D]);
    expect(() => L.scores(q, b.inputs.seq)).toThrow(
      'seqLayout perRequest scores: q [2*batch, 4] must have S·C = 3*batch rows (keys [batch, 12, 4] holds S = batch requests, C = 3), ' +
        'got 2*batch',
    );
    expect(() => L.scores(b.inputs.q, b.inputs.seq)).toThrow(
      'seqLayout perRequest scores: q must be [S·C, d] and keys [S, N, d], got [batch, 2, 4] and [batch, 12, 4]',
    );
    expect(() => L.pick(b.inputs.seq, b.reshape(b.inputs.idx, ['2*batch', K]))).toThrow(
      'seqLayout perRequest pick: idx [2*batch, 5] must have S·C = 3*batch rows (values [batch, 12, 4] holds S = batch requests, C = 3), ' +
        'got 2*batch',
    );
    expect(() => L.perRow(b.reshape(b.inputs.seq, [-1]))).toThrow('seqLayout perRequest perRow: x must be [S, N, ...], got [48*batch]');
  });
});
