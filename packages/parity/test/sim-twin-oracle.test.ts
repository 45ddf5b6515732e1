/**
 * SIM soft, SIM hard and TWIN (blocks/sim.ts, blocks/twin.ts): ref-cpu against plain float64 loops
 * of the formulas on small inputs with padding (NaN in it), the shared layout against perSample
 * with the sequence repeated per row, the edge cases (short sequence, all padding, no item of the
 * candidate's category), parameter names and the build-time errors.
 */
import { describe, expect, it } from 'vitest';
import { gradRef, runRef } from '@lctr/ref-cpu';
import {
  type FeatureSchema,
  type Graph,
  GraphBuilder,
  type HostTensor,
  Rng,
  type SeqLayoutKind,
  type SimHardOptions,
  type SimSoftOptions,
  type TwinOptions,
  type Value,
  type Weights,
  initWeights,
  seqLayout,
  simHard,
  simSoft,
  twin,
} from '@lctr/spec';

const N = 12,
  D = 4,
  DQ = 3,
  C = 2,
  K = 5;
const SOFT = { k: K, gsuDim: 3, attentionDim: 4 };
const HARD = { k: K, attentionDim: 4 };
const TWIN = { k: K, heads: 2, headDim: 3, outDim: 5 };
type Block = 'simSoft' | 'simHard' | 'twin';
const BLOCKS: readonly Block[] = ['simSoft', 'simHard', 'twin'];

function schema(block: Block, kind: SeqLayoutKind): FeatureSchema {
  const ps = kind === 'perSample';
  const s: Record<string, FeatureSchema[string]> = {
    items: { dtype: 'float32', shape: ps ? ['rows', N, D] : [N, D] },
    mask: { dtype: 'bool', shape: ps ? ['rows', N] : [1, N] },
    query: { dtype: 'float32', shape: ['rows', DQ] },
  };
  if (block === 'simHard') {
    s['itemCategory'] = { dtype: 'int32', shape: ps ? ['rows', N] : [N] };
    s['queryCategory'] = { dtype: 'int32', shape: ['rows'] };
  }
  if (block === 'twin') s['context'] = { dtype: 'float32', shape: ps ? ['rows', N, C] : [N, C] };
  return s;
}

/** A graph around one block: outputs `output`, `picks`, `valid` (and `gsuPooled` for SIM soft). */
function build(
  block: Block,
  kind: SeqLayoutKind,
  override: Partial<Record<string, FeatureSchema[string]>> = {},
  opts: Partial<SimSoftOptions & SimHardOptions & TwinOptions> = {},
): Graph<FeatureSchema, string> {
  const b = new GraphBuilder(`${block}-${kind}`, { ...schema(block, kind), ...override } as FeatureSchema);
  const layout = seqLayout(b, kind);
  const i = b.inputs as Record<string, Value>;
  const base = {
    items: b.expectDtype(i['items']!, 'float32'),
    mask: b.expectDtype(i['mask']!, 'bool'),
    query: b.expectDtype(i['query']!, 'float32'),
  };
  if (block === 'simSoft') {
    const o = simSoft(b, 'sim', layout, base, { ...SOFT, ...opts });
    expect(o.width).toBe(o.output.shape[1]);
    return b.build({ output: o.output, picks: o.picks, valid: o.pickedMask, gsuPooled: o.gsuPooled });
  }
  if (block === 'simHard') {
    const o = simHard(
      b,
      'sim',
      layout,
      { ...base, itemCategory: b.expectDtype(i['itemCategory']!, 'int32'), queryCategory: b.expectDtype(i['queryCategory']!, 'int32') },
      { ...HARD, ...opts },
    );
    return b.build({ output: o.output, picks: o.picks, valid: o.pickedMask });
  }
  const o = twin(b, 'twin', layout, { ...base, context: b.expectDtype(i['context']!, 'float32') }, { ...TWIN, ...opts });
  return b.build({ output: o.output, picks: o.picks, valid: o.pickedMask });
}

// ---- fixtures: R = 4 rows of one perSample batch ----
// row 0: all valid; row 1: 3 valid (fewer than K); row 2: none valid; row 3: holes (6 valid)
const MASK = [
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  [1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1],
];
// row 0: 7 items of category 1 (the K = 5 most recent are picked); row 1: 2 matching valid items
// (padding holds the candidate's category: never picked); row 3: no valid item of category 2
const CATEGORY = [
  [1, 0, 1, 1, 2, 1, 0, 1, 1, 0, 1, 2],
  [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  [0, 2, 1, 2, 2, 0, 1, 2, 2, 0, 2, 1],
];
const QUERY_CATEGORY = [1, 0, 1, 2];
const R = MASK.length;

function normals(seed: number, n: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.fround(rng.normal()));
}
const f32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const i32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const bool = (shape: number[], v: number[]): HostTensor => ({ dtype: 'bool', shape, data: Uint8Array.from(v) });

/** Per-row sequence data: items [R][N][D], context [R][N][C]; `pad` fills padded positions. */
function sequenceData(mask: number[][], pad: number, seed: number) {
  const items = mask.map((row, r) => row.map((m, n) => normals(seed + 100 * r + n, D).map((v) => (m ? v : pad))));
  const context = mask.map((row, r) => row.map((m, n) => normals(seed + 5000 + 100 * r + n, C).map((v) => (m ? v : pad))));
  return { items, context };
}
const queries = (rows: number, seed: number) => Array.from({ length: rows }, (_, r) => normals(seed + 9000 + r, DQ));

function perSampleFeeds(block: Block, pad = NaN): Record<string, HostTensor> {
  const { items, context } = sequenceData(MASK, pad, 1);
  const feeds: Record<string, HostTensor> = {
    items: f32([R, N, D], items.flat(2)),
    mask: bool([R, N], MASK.flat()),
    query: f32([R, DQ], queries(R, 1).flat()),
  };
  if (block === 'simHard') {
    feeds['itemCategory'] = i32([R, N], CATEGORY.flat());
    feeds['queryCategory'] = i32([R], QUERY_CATEGORY);
  }
  if (block === 'twin') feeds['context'] = f32([R, N, C], context.flat(2));
  return feeds;
}

// ---- float64 oracles: plain loops of the formulas ----
type Mat = number[][];
function mat(w: Weights, name: string): Mat {
  const t = w.get(name)!;
  const [rows, cols] = t.shape as [number, number];
  return Array.from({ length: rows }, (_, i) => Array.from(t.data.slice(i * cols, (i + 1) * cols)));
}
const vecMat = (x: number[], m: Mat) => m[0]!.map((_, j) => x.reduce((s, xi, i) => s + xi * m[i]![j]!, 0));
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
function softmaxOver(logits: number[], valid: boolean[]): number[] {
  const mx = Math.max(...logits.filter((_, i) => valid[i]));
  const e = logits.map((l, i) => (valid[i] ? Math.exp(l - mx) : 0));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((v) => (s > 0 ? v / s : 0));
}
/** Top-k as SPEC fixes it: valid first, then score descending, then the lower index. */
function topk(score: number[], valid: boolean[], k: number): { idx: number[]; ok: boolean[] } {
  const order = score
    .map((_, i) => i)
    .sort((a, b) => Number(valid[b]) - Number(valid[a]) || (valid[a] && valid[b] ? score[b]! - score[a]! : 0) || a - b);
  const idx = order.slice(0, k);
  return { idx, ok: idx.map((i) => valid[i]!) };
}
interface OracleOut {
  output: number[];
  picks: number[];
  valid: boolean[];
  gsuPooled?: number[];
}

/** ESU: single-head softmax attention over the picks. */
function esuOracle(w: Weights, prefix: string, items: Mat, q: number[], picks: number[], ok: boolean[], da: number): number[] {
  const qq = vecMat(q, mat(w, `${prefix}/esu/wq`));
  const wk = mat(w, `${prefix}/esu/wk`),
    wv = mat(w, `${prefix}/esu/wv`);
  const logits = picks.map((p, j) => (ok[j] ? dot(qq, vecMat(items[p]!, wk)) / Math.sqrt(da) : 0));
  const a = softmaxOver(logits, ok);
  const out = new Array<number>(da).fill(0);
  picks.forEach((p, j) => {
    if (ok[j])
      vecMat(items[p]!, wv).forEach((v, t) => {
        out[t]! += a[j]! * v;
      });
  });
  return out;
}

function simSoftOracle(w: Weights, items: Mat, mask: boolean[], q: number[]): OracleOut {
  const qg = vecMat(q, mat(w, 'sim/gsu/wq'));
  const r = items.map((e, n) => (mask[n] ? dot(qg, vecMat(e, mat(w, 'sim/gsu/wk'))) : 0));
  const { idx, ok } = topk(r, mask, SOFT.k);
  const a = softmaxOver(
    r.map((v) => v / Math.sqrt(SOFT.gsuDim)),
    mask,
  );
  const pooled = new Array<number>(D).fill(0);
  items.forEach((e, n) => {
    if (mask[n])
      e.forEach((v, t) => {
        pooled[t]! += a[n]! * v;
      });
  });
  return { output: esuOracle(w, 'sim', items, q, idx, ok, SOFT.attentionDim), picks: idx, valid: ok, gsuPooled: pooled };
}

function simHardOracle(w: Weights, items: Mat, mask: boolean[], q: number[], cat: number[], qc: number): OracleOut {
  const match = mask.map((m, n) => m && cat[n] === qc);
  const { idx, ok } = topk(
    match.map((_, n) => n),
    match,
    HARD.k,
  ); // most recent = highest position
  return { output: esuOracle(w, 'sim', items, q, idx, ok, HARD.attentionDim), picks: idx, valid: ok };
}

function twinOracle(w: Weights, items: Mat, ctx: Mat, mask: boolean[], q: number[]): OracleOut {
  const { heads: H, headDim: dh } = TWIN;
  const qq = vecMat(q, mat(w, 'twin/wq'));
  const head = (x: number[], h: number) => x.slice(h * dh, (h + 1) * dh);
  const keys = items.map((e) => vecMat(e, mat(w, 'twin/wk')));
  const bias = ctx.map((c) => vecMat(c, mat(w, 'twin/wc')));
  const logit = (n: number, h: number) => dot(head(qq, h), head(keys[n]!, h)) / Math.sqrt(dh) + bias[n]![h]!;
  const gsu = items.map((_, n) => (mask[n] ? Array.from({ length: H }, (__, h) => logit(n, h)).reduce((s, v) => s + v, 0) : 0));
  const { idx, ok } = topk(gsu, mask, TWIN.k);
  const concat: number[] = [];
  for (let h = 0; h < H; h++) {
    const a = softmaxOver(
      idx.map((p, j) => (ok[j] ? logit(p, h) : 0)),
      ok,
    );
    const o = new Array<number>(dh).fill(0);
    idx.forEach((p, j) => {
      if (ok[j])
        head(vecMat(items[p]!, mat(w, 'twin/wv')), h).forEach((v, t) => {
          o[t]! += a[j]! * v;
        });
    });
    concat.push(...o);
  }
  return { output: vecMat(concat, mat(w, 'twin/wo')), picks: idx, valid: ok };
}

function oracle(block: Block, w: Weights, r: number): OracleOut {
  const { items, context } = sequenceData(MASK, 0, 1);
  const mask = MASK[r]!.map((m) => m === 1);
  const q = queries(R, 1)[r]!;
  if (block === 'simSoft') return simSoftOracle(w, items[r]!, mask, q);
  if (block === 'simHard') return simHardOracle(w, items[r]!, mask, q, CATEGORY[r]!, QUERY_CATEGORY[r]!);
  return twinOracle(w, items[r]!, context[r]!, mask, q);
}

const rowsOf = (data: Float64Array, width: number) =>
  Array.from({ length: data.length / width }, (_, r) => Array.from(data.slice(r * width, (r + 1) * width)));
const WIDTH: Record<Block, number> = { simSoft: SOFT.attentionDim, simHard: HARD.attentionDim, twin: TWIN.outDim };

describe('SIM soft, SIM hard, TWIN against float64 loops (perSample, NaN in padding)', () => {
  for (const block of BLOCKS) {
    it(block, () => {
      const g = build(block, 'perSample');
      const w = initWeights(g, 3);
      const out = runRef(g, w, perSampleFeeds(block) as never) as Record<string, { data: Float64Array }>;
      const got = rowsOf(out['output']!.data, WIDTH[block]);
      const picks = rowsOf(out['picks']!.data, K),
        valid = rowsOf(out['valid']!.data, K);
      for (let r = 0; r < R; r++) {
        const want = oracle(block, w, r);
        expect(picks[r]).toEqual(want.picks);
        expect(valid[r]!.map((v) => v === 1)).toEqual(want.valid);
        got[r]!.forEach((v, t) => expect(Math.abs(v - want.output[t]!)).toBeLessThan(1e-9));
        if (want.gsuPooled)
          rowsOf(out['gsuPooled']!.data, D)[r]!.forEach((v, t) => expect(Math.abs(v - want.gsuPooled![t]!)).toBeLessThan(1e-9));
      }
      expect(out['output']!.data.every(Number.isFinite)).toBe(true);
    });
  }

  it('the oracles see real signal: outputs are not all zero and rows differ', () => {
    for (const block of BLOCKS) {
      const g = build(block, 'perSample');
      const out = rowsOf(
        (runRef(g, initWeights(g, 3), perSampleFeeds(block) as never) as Record<string, { data: Float64Array }>)['output']!.data,
        WIDTH[block],
      );
      expect(out[0]!.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      expect(out[0]).not.toEqual(out[1]);
    }
  });
});

describe('edge cases', () => {
  const run = (block: Block, pad = NaN) => {
    const g = build(block, 'perSample');
    return runRef(g, initWeights(g, 3), perSampleFeeds(block, pad) as never) as Record<string, { data: Float64Array }>;
  };

  it('fewer valid (matching) items than K: the valid ones come first, the rest are padding picks in index order', () => {
    expect(Array.from(run('simSoft')['valid']!.data.slice(K, 2 * K))).toEqual([1, 1, 1, 0, 0]);
    expect(Array.from(run('simSoft')['picks']!.data.slice(K + 3, 2 * K))).toEqual([3, 4]);
    expect(Array.from(run('twin')['valid']!.data.slice(K, 2 * K))).toEqual([1, 1, 1, 0, 0]);
    // SIM hard, row 1: items 0 and 2 match (most recent first), padding of the same category is not picked
    const hard = run('simHard');
    expect(Array.from(hard['picks']!.data.slice(K, 2 * K))).toEqual([2, 0, 1, 3, 4]);
    expect(Array.from(hard['valid']!.data.slice(K, 2 * K))).toEqual([1, 1, 0, 0, 0]);
    // row 0: the 5 most recent of the 7 items of category 1
    expect(Array.from(hard['picks']!.data.slice(0, K))).toEqual([10, 8, 7, 5, 3]);
  });

  it('an all-padding row gives zeros; SIM hard with no item of the candidate category gives zeros', () => {
    for (const block of BLOCKS) {
      const out = run(block);
      const w = WIDTH[block];
      expect(Array.from(out['output']!.data.slice(2 * w, 3 * w))).toEqual(new Array(w).fill(0));
      expect(Array.from(out['valid']!.data.slice(2 * K, 3 * K))).toEqual([0, 0, 0, 0, 0]);
      expect(Array.from(out['picks']!.data.slice(2 * K, 3 * K))).toEqual([0, 1, 2, 3, 4]);
    }
    expect(Array.from(run('simSoft')['gsuPooled']!.data.slice(2 * D, 3 * D))).toEqual([0, 0, 0, 0]);
    const hard = run('simHard');
    expect(Array.from(hard['output']!.data.slice(3 * HARD.attentionDim))).toEqual([0, 0, 0, 0]);
    expect(Array.from(hard['valid']!.data.slice(3 * K))).toEqual([0, 0, 0, 0, 0]);
  });

  it('what padding holds (NaN, huge, zero) changes nothing, forward or gradients', () => {
    for (const block of BLOCKS) {
      const nan = run(block, NaN),
        huge = run(block, 1e30),
        zero = run(block, 0);
      for (const name of Object.keys(nan)) {
        expect(Array.from(nan[name]!.data)).toEqual(Array.from(zero[name]!.data));
        expect(Array.from(huge[name]!.data)).toEqual(Array.from(zero[name]!.data));
      }
      const g = build(block, 'perSample');
      const grads = gradRef(g, initWeights(g, 3), perSampleFeeds(block, NaN) as never, 'output').paramGrads;
      expect(grads.size).toBe(g.params.length);
      for (const [, v] of grads) expect(v.every(Number.isFinite)).toBe(true);
      // every parameter takes part (SIM soft's GSU only through gsuPooled: checked below)
      for (const [name, v] of grads) if (!name.startsWith('sim/gsu/')) expect(v.some((x) => x !== 0)).toBe(true);
    }
    const g = build('simSoft', 'perSample');
    const gsu = gradRef(g, initWeights(g, 3), perSampleFeeds('simSoft') as never, 'gsuPooled').paramGrads;
    expect(gsu.get('sim/gsu/wk')!.some((x) => x !== 0)).toBe(true);
    expect(gsu.get('sim/gsu/wq')!.some((x) => x !== 0)).toBe(true);
  });
});

describe("'shared' layout equals 'perSample' with the sequence repeated per row", () => {
  // one request: a sequence with holes and trailing padding, 3 candidates (the last with no item of its category)
  const seqMask = [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0];
  const seqCategory = [1, 0, 2, 1, 0, 0, 2, 1, 0, 1, 2, 2]; // category 2 only at padding
  const candCategory = [1, 0, 2];
  const rows = candCategory.length;

  for (const block of BLOCKS) {
    it(block, () => {
      const { items, context } = sequenceData([seqMask], NaN, 7);
      const q = queries(rows, 7).flat();
      const shared: Record<string, HostTensor> = {
        items: f32([N, D], items[0]!.flat()),
        mask: bool([1, N], seqMask),
        query: f32([rows, DQ], q),
      };
      const repeat = <T>(x: T[]) => Array.from({ length: rows }, () => x).flat();
      const perSample: Record<string, HostTensor> = {
        items: f32([rows, N, D], repeat(items[0]!.flat())),
        mask: bool([rows, N], repeat(seqMask)),
        query: f32([rows, DQ], q),
      };
      if (block === 'simHard') {
        shared['itemCategory'] = i32([N], seqCategory);
        shared['queryCategory'] = i32([rows], candCategory);
        perSample['itemCategory'] = i32([rows, N], repeat(seqCategory));
        perSample['queryCategory'] = i32([rows], candCategory);
      }
      if (block === 'twin') {
        shared['context'] = f32([N, C], context[0]!.flat());
        perSample['context'] = f32([rows, N, C], repeat(context[0]!.flat()));
      }
      const gs = build(block, 'shared'),
        gp = build(block, 'perSample');
      expect(gs.params.map((p) => `${p.name} [${p.shape.join(', ')}]`)).toEqual(gp.params.map((p) => `${p.name} [${p.shape.join(', ')}]`));
      const w = initWeights(gp, 5);
      const a = runRef(gs, w, shared as never) as Record<string, { data: Float64Array }>;
      const b = runRef(gp, w, perSample as never) as Record<string, { data: Float64Array }>;
      for (const name of Object.keys(a)) {
        expect(a[name]!.data.length).toBe(b[name]!.data.length);
        a[name]!.data.forEach((v, i) => expect(Math.abs(v - b[name]!.data[i]!)).toBeLessThan(1e-12));
      }
      expect(a['output']!.data.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      if (block === 'simHard') expect(Array.from(a['output']!.data.slice(2 * HARD.attentionDim))).toEqual([0, 0, 0, 0]);
    });
  }
});

describe('SIM soft concatGsu', () => {
  it('output = [ESU ‖ gsuPooled], width attentionDim + d, same parameters', () => {
    const plain = build('simSoft', 'perSample'),
      cat = build('simSoft', 'perSample', {}, { concatGsu: true });
    expect(cat.params).toEqual(plain.params);
    const w = initWeights(plain, 3),
      f = perSampleFeeds('simSoft') as never;
    const a = runRef(plain, w, f) as Record<string, { data: Float64Array }>,
      c = runRef(cat, w, f) as Record<string, { data: Float64Array }>;
    const wa = SOFT.attentionDim,
      esu = rowsOf(a['output']!.data, wa),
      pooled = rowsOf(a['gsuPooled']!.data, D);
    expect(rowsOf(c['output']!.data, wa + D)).toEqual(esu.map((row, r) => [...row, ...pooled[r]!]));
  });
});

describe('parameter names and shapes', () => {
  const shapes = (block: Block, kind: SeqLayoutKind) => build(block, kind).params.map((p) => `${p.name} [${p.shape.join(', ')}]`);
  it('SIM soft: separate GSU projections for items and candidate, ESU q/k/v', () => {
    expect(shapes('simSoft', 'perSample')).toEqual([
      'sim/gsu/wq [3, 3]',
      'sim/gsu/wk [4, 3]',
      'sim/esu/wq [3, 4]',
      'sim/esu/wk [4, 4]',
      'sim/esu/wv [4, 4]',
    ]);
  });
  it('SIM hard: ESU only', () => {
    expect(shapes('simHard', 'shared')).toEqual(['sim/esu/wq [3, 4]', 'sim/esu/wk [4, 4]', 'sim/esu/wv [4, 4]']);
  });
  it('TWIN: one q/k/cross-feature bias set shared by GSU and ESU, values, output', () => {
    expect(shapes('twin', 'perSample')).toEqual(['twin/wq [3, 6]', 'twin/wk [4, 6]', 'twin/wc [2, 2]', 'twin/wv [4, 6]', 'twin/wo [6, 5]']);
    const b = new GraphBuilder('t', schema('twin', 'shared'));
    const i = b.inputs as Record<string, Value>;
    const o = twin(
      b,
      'twin',
      seqLayout(b, 'shared'),
      {
        items: b.expectDtype(i['items']!, 'float32'),
        mask: b.expectDtype(i['mask']!, 'bool'),
        query: b.expectDtype(i['query']!, 'float32'),
        context: b.expectDtype(i['context']!, 'float32'),
      },
      { k: 3, heads: 2, headDim: 4 },
    );
    expect(o.width).toBe(8);
    expect(o.output.shape).toEqual(['rows', 8]);
    expect(o.picks.shape).toEqual(['rows', 3]);
  });
});

describe('build-time errors name the option, the expected and the actual value', () => {
  it('k out of range, sizes not positive integers', () => {
    expect(() => build('simSoft', 'perSample', {}, { k: 13 })).toThrow("simSoft 'sim': k must be <= the sequence length 12, got 13");
    expect(() => build('simSoft', 'shared', {}, { k: 0 })).toThrow("simSoft 'sim': k must be a positive integer, got 0");
    expect(() => build('simSoft', 'perSample', {}, { gsuDim: 0 })).toThrow("simSoft 'sim': gsuDim must be a positive integer, got 0");
    expect(() => build('simSoft', 'perSample', {}, { attentionDim: 2.5 })).toThrow(
      "simSoft 'sim': attentionDim must be a positive integer, got 2.5",
    );
    expect(() => build('simHard', 'shared', {}, { k: 20 })).toThrow("simHard 'sim': k must be <= the sequence length 12, got 20");
    expect(() => build('simHard', 'perSample', {}, { k: -1 })).toThrow("simHard 'sim': k must be a positive integer, got -1");
    expect(() => build('simHard', 'perSample', {}, { attentionDim: 0 })).toThrow(
      "simHard 'sim': attentionDim must be a positive integer, got 0",
    );
    expect(() => build('twin', 'perSample', {}, { k: 300 })).toThrow("twin 'twin': k must be <= the sequence length 12, got 300");
    expect(() => build('twin', 'shared', {}, { k: 1.5 })).toThrow("twin 'twin': k must be a positive integer, got 1.5");
    expect(() => build('twin', 'perSample', {}, { heads: 0 })).toThrow("twin 'twin': heads must be a positive integer, got 0");
    expect(() => build('twin', 'perSample', {}, { headDim: 0 })).toThrow("twin 'twin': headDim must be a positive integer, got 0");
    expect(() => build('twin', 'perSample', {}, { outDim: 0 })).toThrow("twin 'twin': outDim must be a positive integer, got 0");
    // k = N is fine
    expect(() => build('twin', 'shared', {}, { k: N })).not.toThrow();
  });

  it('shapes that do not fit the layout', () => {
    expect(() => build('simSoft', 'perSample', { items: { dtype: 'float32', shape: [N, D] } })).toThrow(
      "simSoft 'sim': items must be [R, N, d] in the perSample layout, got [12, 4]",
    );
    expect(() => build('simSoft', 'shared', { items: { dtype: 'float32', shape: ['rows', N, D] } })).toThrow(
      "simSoft 'sim': items must be [N, d] in the shared layout, got [rows, 12, 4]",
    );
    expect(() => build('simSoft', 'perSample', { items: { dtype: 'float32', shape: ['rows', 'seq', D] } })).toThrow(
      "simSoft 'sim': items must be [R, N, d] with a static N and d, got [rows, seq, 4]",
    );
    expect(() => build('simSoft', 'perSample', { items: { dtype: 'float32', shape: ['other', N, D] } })).toThrow(
      "simSoft 'sim': items must be [rows, 12, 4] (R from the query [rows, 3]), got [other, 12, 4]",
    );
    expect(() => build('simHard', 'perSample', { mask: { dtype: 'bool', shape: ['rows', 11] } })).toThrow(
      "simHard 'sim': mask must be [rows, 12] in the perSample layout, got [rows, 11]",
    );
    expect(() => build('twin', 'shared', { mask: { dtype: 'bool', shape: [N] } })).toThrow(
      "twin 'twin': mask must be [1, 12] in the shared layout, got [12]",
    );
    expect(() => build('twin', 'shared', { query: { dtype: 'float32', shape: ['rows', 'dq'] } })).toThrow(
      "twin 'twin': query must be [R, dq] with a static dq, got [rows, dq]",
    );
    expect(() => build('simHard', 'shared', { itemCategory: { dtype: 'int32', shape: ['rows', N] } })).toThrow(
      "simHard 'sim': itemCategory must be [12] in the shared layout, got [rows, 12]",
    );
    expect(() => build('simHard', 'perSample', { queryCategory: { dtype: 'int32', shape: ['rows', 1] } })).toThrow(
      "simHard 'sim': queryCategory must be [rows] (one per query row), got [rows, 1]",
    );
    expect(() => build('twin', 'perSample', { context: { dtype: 'float32', shape: ['rows', N - 1, C] } })).toThrow(
      "twin 'twin': context must be [rows, 12, c] with a static c in the perSample layout, got [rows, 11, 2]",
    );
    expect(() => build('twin', 'shared', { context: { dtype: 'float32', shape: ['rows', N, C] } })).toThrow(
      "twin 'twin': context must be [12, c] with a static c in the shared layout, got [rows, 12, 2]",
    );
  });
});
