/** topk (masks, ties, fewer valid than k), gather and gatherAlongAxis in ONNX Runtime. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Rng } from '@lctr/spec';
import { FLOAT32_LOWEST, decodeModel, ortTopkWidth } from '../src/index.ts';
import { bool, exportForTest, expectTensor, f32, i32, i64, itPassesChecker, openSession, runOnce, values } from './helpers.ts';

const LOWEST = FLOAT32_LOWEST;

/** The spec's top-k on one row: valid first, then key descending, then the lower index. */
function refTopkRow(x: number[], mask: number[] | undefined, k: number): { values: number[]; indices: number[] } {
  const key = x.map((v, i) => (mask && !mask[i] ? -Infinity : Math.max(v, LOWEST)));
  const order = x
    .map((_, i) => i)
    .sort((a, b) => {
      const va = mask ? mask[a]! : 1,
        vb = mask ? mask[b]! : 1;
      if (va !== vb) return vb - va;
      if (key[a] !== key[b]) return key[b]! - key[a]!;
      return a - b;
    });
  const idx = order.slice(0, k);
  return { values: idx.map((i) => key[i]!), indices: idx };
}

function topkGraph(name: string, k: number, masked: boolean) {
  const b = new GraphBuilder(name, { x: { dtype: 'float32', shape: ['batch', 'n'] }, mask: { dtype: 'bool', shape: ['batch', 'n'] } });
  const { values: v, indices } = b.topk(b.inputs.x, k, masked ? b.inputs.mask : undefined);
  return b.build({ values: v, indices });
}

describe('topk', () => {
  it('no mask: ties go to the lower index, values are x', async () => {
    const g = topkGraph('topk_ties', 3, false);
    const out = await runOnce(g, { x: f32([2, 5], [3, 1, 3, 2, 3, 0, 0, 0, 0, 0]), mask: bool([2, 5], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) });
    expectTensor(out.indices, 'int32', [2, 3], [0, 2, 4, 0, 1, 2]);
    expectTensor(out.values, 'float32', [2, 3], [3, 3, 3, 0, 0, 0]);
  });
  it('a valid -Infinity is clamped to the lowest float32 and still ranks above padding (NaN padding is ignored)', async () => {
    const g = topkGraph('topk_inf', 4, true);
    const out = await runOnce(g, { x: f32([1, 4], [-Infinity, 5, NaN, 1]), mask: bool([1, 4], [1, 1, 0, 1]) });
    expectTensor(out.indices, 'int32', [1, 4], [1, 3, 0, 2]);
    expectTensor(out.values, 'float32', [1, 4], [5, 1, LOWEST, -Infinity], 0, 0);
  });
  it('fewer valid than k: valid by score (ties by index), then padding in index order with -Infinity', async () => {
    const g = topkGraph('topk_few', 4, true);
    const out = await runOnce(g, { x: f32([2, 5], [9, 2, 8, 7, 2, 1, 1, 1, 1, 1]), mask: bool([2, 5], [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]) });
    expectTensor(out.indices, 'int32', [2, 4], [1, 4, 0, 2, 0, 1, 2, 3]);
    expectTensor(out.values, 'float32', [2, 4], [2, 2, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
  });
  it('a mask broadcast over the batch', async () => {
    const b = new GraphBuilder('topk_bmask', { x: { dtype: 'float32', shape: ['batch', 4] }, mask: { dtype: 'bool', shape: [4] } });
    const r = b.topk(b.inputs.x, 2, b.inputs.mask);
    const out = await runOnce(b.build({ values: r.values, indices: r.indices }), {
      x: f32([2, 4], [4, 3, 2, 1, 1, 2, 3, 4]),
      mask: bool([4], [0, 1, 1, 0]),
    });
    expectTensor(out.indices, 'int32', [2, 2], [1, 2, 2, 1]);
    expectTensor(out.values, 'float32', [2, 2], [3, 2, 3, 2]);
  });
  it('k along a symbolic axis; the same session runs n = 3 and n = 6', async () => {
    const s = await openSession(topkGraph('topk_sym', 3, true));
    try {
      const a = await s.run({ x: f32([1, 3], [1, 2, 3]), mask: bool([1, 3], [1, 1, 1]) });
      expectTensor(a.indices, 'int32', [1, 3], [2, 1, 0]);
      const c = await s.run({
        x: f32([2, 6], [0, 5, 5, 1, 5, 9, 1, 2, 3, 4, 5, 6]),
        mask: bool([2, 6], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]),
      });
      expectTensor(c.indices, 'int32', [2, 3], [1, 2, 4, 5, 0, 1]);
      expectTensor(c.values, 'float32', [2, 3], [5, 5, 5, 6, -Infinity, -Infinity]);
    } finally {
      await s.release();
    }
  });
  it('matches the spec order on random rows full of ties, for short and long rows and small and large k', async () => {
    const rng = new Rng(20240611);
    for (const [n, k] of [
      [7, 3],
      [64, 64],
      [300, 5],
      [300, 200],
      [2000, 50],
    ] as const) {
      const g = topkGraph(`topk_random_${n}_${k}`, k, true);
      const s = await openSession(g);
      try {
        const batch = 3;
        // values from a tiny set so ties are everywhere; some rows mostly padding.
        const x = Array.from({ length: batch * n }, () => [-1, 0, 0.5, 2, -Infinity][rng.int(5)]!);
        const mask = Array.from({ length: batch * n }, (_, i) => (rng.next() < [0.9, 0.5, 0.02][Math.floor(i / n)]! ? 1 : 0));
        const out = await s.run({ x: f32([batch, n], x), mask: bool([batch, n], mask) });
        const gotIdx = values(out.indices),
          gotVal = values(out.values);
        for (let r = 0; r < batch; r++) {
          const want = refTopkRow(x.slice(r * n, (r + 1) * n), mask.slice(r * n, (r + 1) * n), k);
          expect(gotIdx.slice(r * k, (r + 1) * k)).toEqual(want.indices);
          expect(gotVal.slice(r * k, (r + 1) * k)).toEqual(want.values);
        }
      } finally {
        await s.release();
      }
    }
  });
});

describe('topk: an all-finite input takes the fast key (x itself, a broadcast mask as a 0 / -Infinity bias)', () => {
  function broadcastMaskGraph(name: string, n: number, k: number) {
    const b = new GraphBuilder(name, { x: { dtype: 'float32', shape: ['cand', n] }, mask: { dtype: 'bool', shape: [1, n] } });
    const t = b.topk(b.inputs.x, k, b.inputs.mask);
    return b.build({ values: t.values, indices: t.indices });
  }
  it(
    'the exported top-k is an If on "the sum of x is finite": the finite branch ranks x plus a bias, the other the exact NaN-safe ' + 'key',
    () => {
      const model = decodeModel(exportForTest(broadcastMaskGraph('topk_if_structure', 6, 2)));
      const ifs = model.graph!.node!.filter((n) => n.opType === 'If');
      expect(ifs.length).toBe(1);
      const branch = (name: string) => ifs[0]!.attribute!.find((a) => a.name === name)!.g!.node!.map((n) => n.opType);
      expect(branch('then_branch')).toEqual(['Where', 'Add', 'TopK', 'Cast']); // Where over the [1, n] mask only
      expect(branch('else_branch')).toEqual(['IsNaN', 'Max', 'Where', 'Where', 'TopK', 'Cast']);
    },
  );
  it(
    'finite rows full of ties with a [1, n] mask match the spec order; a NaN, +Infinity or -Infinity anywhere (padding included) takes ' +
      'the exact key',
    async () => {
      const rng = new Rng(20261127);
      const n = 40,
        k = 9,
        rows = 4;
      const s = await openSession(broadcastMaskGraph('topk_if_values', n, k));
      try {
        const mask = Array.from({ length: n }, () => (rng.next() < 0.7 ? 1 : 0));
        const finite = Array.from({ length: rows * n }, () => [-1, 0, 0.5, 2, rng.next()][rng.int(5)]!);
        const pad = mask.indexOf(0),
          valid = mask.indexOf(1);
        const cases: Array<[string, number[]]> = [
          ['finite', finite],
          ['+Infinity at padding', finite.map((v, i) => (i === pad ? Infinity : v))],
          ['NaN at padding', finite.map((v, i) => (i % n === pad ? NaN : v))],
          ['NaN at a valid position', finite.map((v, i) => (i === n + valid ? NaN : v))],
          [
            '+Infinity and -Infinity at valid positions',
            finite.map((v, i) => (i === valid ? Infinity : i === 2 * n + valid ? -Infinity : v)),
          ],
        ];
        for (const [label, x] of cases) {
          const out = await s.run({ x: f32([rows, n], x), mask: bool([1, n], mask) });
          const gotIdx = values(out.indices),
            gotVal = values(out.values);
          for (let r = 0; r < rows; r++) {
            // NaN at a valid position ranks as the lowest float32 (the spec's key)
            const row = x.slice(r * n, (r + 1) * n).map((v, i) => (Number.isNaN(v) && mask[i] ? LOWEST : v));
            const want = refTopkRow(row, mask, k);
            expect({ label, r, idx: gotIdx.slice(r * k, (r + 1) * k) }).toEqual({ label, r, idx: want.indices });
            expect({ label, r, val: gotVal.slice(r * k, (r + 1) * k) }).toEqual({ label, r, val: want.values.map((v) => Math.fround(v)) });
          }
        }
      } finally {
        await s.release();
      }
    },
  );
});

describe('topk over a static axis asks ONNX Runtime for a wider k when that is faster', () => {
  it('ortTopkWidth: k from 0.65 of the heap limit ceil(n^0.725) up goes to it; others stay', () => {
    expect(ortTopkWidth(200, 2000)).toBe(248);
    expect(ortTopkWidth(120, 1000)).toBe(150);
    expect(ortTopkWidth(50, 2000)).toBe(50);
    expect(ortTopkWidth(162, 2000)).toBe(248);
    expect(ortTopkWidth(161, 2000)).toBe(161);
    expect(ortTopkWidth(248, 2000)).toBe(248);
    expect(ortTopkWidth(500, 2000)).toBe(500);
    expect(ortTopkWidth(3, 4)).toBe(3);
  });
  it('the widened top-k sliced to k matches the spec order on rows full of ties and padding', async () => {
    const rng = new Rng(20261126);
    for (const [n, k] of [
      [2000, 200],
      [1000, 120],
    ] as const) {
      const batch = 3;
      const b = new GraphBuilder(`topk_wide_${n}_${k}`, {
        x: { dtype: 'float32', shape: [batch, n] },
        mask: { dtype: 'bool', shape: [batch, n] },
      });
      const t = b.topk(b.inputs.x, k, b.inputs.mask);
      const g = b.build({ values: t.values, indices: t.indices });
      const x = Array.from({ length: batch * n }, () => [-1, 0, 0.5, 2, -Infinity, rng.next()][rng.int(6)]!);
      const mask = Array.from({ length: batch * n }, (_, i) => (rng.next() < [0.95, 0.5, 0.05][Math.floor(i / n)]! ? 1 : 0));
      const out = await runOnce(g, { x: f32([batch, n], x), mask: bool([batch, n], mask) });
      expect(out.indices.shape).toEqual([batch, k]);
      const gotIdx = values(out.indices),
        gotVal = values(out.values);
      for (let r = 0; r < batch; r++) {
        const want = refTopkRow(x.slice(r * n, (r + 1) * n), mask.slice(r * n, (r + 1) * n), k);
        expect(gotIdx.slice(r * k, (r + 1) * k)).toEqual(want.indices);
        expect(gotVal.slice(r * k, (r + 1) * k)).toEqual(want.values.map((v) => Math.fround(v)));
      }
    }
  });
});

describe('gather', () => {
  it('embedding rows by int32 ids of shape [batch, 3] from a parameter table', async () => {
    const b = new GraphBuilder('gather_emb', { ids: { dtype: 'int32', shape: ['batch', 3] } });
    const table = b.param('emb', [4, 2]);
    const g = b.build({ y: b.gather(table, b.inputs.ids) });
    const w = new Map([['emb', f32([4, 2], [0, 1, 10, 11, 20, 21, 30, 31])]]);
    const { y } = await runOnce(g, { ids: i32([2, 3], [3, 0, 1, 2, 2, 0]) }, w);
    expectTensor(y, 'float32', [2, 3, 2], [30, 31, 0, 1, 10, 11, 20, 21, 20, 21, 0, 1]);
  });
  it('int64 indices along axis 1: out = table.shape[:1] + indices.shape + table.shape[2:]', async () => {
    const b = new GraphBuilder('gather_axis1', { t: { dtype: 'float32', shape: [2, 3, 2] }, i: { dtype: 'int64', shape: [2, 2] } });
    const { y } = await runOnce(b.build({ y: b.gather(b.inputs.t, b.inputs.i, 1) }), {
      t: f32([2, 3, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      i: i64([2, 2], [2, 0, 1, 1]),
    });
    expectTensor(y, 'float32', [2, 2, 2, 2], [4, 5, 0, 1, 2, 3, 2, 3, 10, 11, 6, 7, 8, 9, 8, 9]);
  });
});

describe('scatterAlongAxis', () => {
  it('rows into zeros along axis 1, repeats summed (int32 indices); trailing features (int64 indices)', async () => {
    const b = new GraphBuilder('scatter_rows', {
      u: { dtype: 'float32', shape: ['batch', 3] },
      i: { dtype: 'int32', shape: ['batch', 3] },
    });
    const { y } = await runOnce(b.build({ y: b.scatterAlongAxis(b.inputs.u, b.inputs.i, 4, 1) }), {
      u: f32([2, 3], [1, 2, 3, 10, 20, 30]),
      i: i32([2, 3], [3, 0, 3, 1, 2, 0]),
    });
    expectTensor(y, 'float32', [2, 4], [2, 0, 0, 4, 30, 10, 20, 0]);
    const t = new GraphBuilder('scatter_trailing', { u: { dtype: 'float32', shape: [2, 2, 2] }, i: { dtype: 'int64', shape: [2, 2] } });
    const out = await runOnce(t.build({ y: t.scatterAlongAxis(t.inputs.u, t.inputs.i, 3, 1) }), {
      u: f32([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]),
      i: i64([2, 2], [2, 2, 0, 1]),
    });
    expectTensor(out.y, 'float32', [2, 3, 2], [0, 0, 0, 0, 4, 6, 5, 6, 7, 8, 0, 0]);
  });
});

describe('scatterAlongAxis of top-k indices', () => {
  it("assigns (reduction 'none': the picks of a row never repeat) and gives the same values; other indices add", async () => {
    const b = new GraphBuilder('scatter_topk', {
      x: { dtype: 'float32', shape: ['batch', 5] },
      i: { dtype: 'int32', shape: ['batch', 2] },
    });
    const top = b.topk(b.inputs.x, 2);
    const g = b.build({
      fromTopk: b.scatterAlongAxis(top.values, top.indices, 5),
      fromInput: b.scatterAlongAxis(top.values, b.inputs.i, 5),
    });
    const reductions = decodeModel(exportForTest(g))
      .graph!.node!.filter((n) => n.opType === 'ScatterElements')
      .map((n) => new TextDecoder().decode(n.attribute!.find((a) => a.name === 'reduction')!.s!));
    expect(reductions).toEqual(['none', 'add']);
    const out = await runOnce(g, { x: f32([2, 5], [1, 5, 3, 5, 0, -1, -2, 4, 0, 0]), i: i32([2, 2], [4, 4, 0, 1]) });
    expectTensor(out.fromTopk, 'float32', [2, 5], [0, 5, 0, 5, 0, 0, 0, 4, 0, 0]);
    expectTensor(out.fromInput, 'float32', [2, 5], [0, 0, 0, 0, 10, 4, 0, 0, 0, 0]);
  });
});

describe('gatherAlongAxis', () => {
  it('axis 1: rows of x [batch, n, d] picked per batch row by int32 indices [batch, k]', async () => {
    const b = new GraphBuilder('along1', { x: { dtype: 'float32', shape: ['batch', 3, 2] }, i: { dtype: 'int32', shape: ['batch', 2] } });
    const { y } = await runOnce(b.build({ y: b.gatherAlongAxis(b.inputs.x, b.inputs.i, 1) }), {
      x: f32([2, 3, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      i: i32([2, 2], [2, 0, 1, 1]),
    });
    expectTensor(y, 'float32', [2, 2, 2], [4, 5, 0, 1, 8, 9, 8, 9]);
  });
  it('axis 2 with int64 indices [a, b, k] over x [a, b, n, 1]', async () => {
    const b = new GraphBuilder('along2', { x: { dtype: 'float32', shape: [2, 2, 3, 1] }, i: { dtype: 'int64', shape: [2, 2, 1] } });
    const { y } = await runOnce(b.build({ y: b.gatherAlongAxis(b.inputs.x, b.inputs.i, 2) }), {
      x: f32([2, 2, 3, 1], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      i: i64([2, 2, 1], [2, 0, 1, 1]),
    });
    expectTensor(y, 'float32', [2, 2, 1, 1], [2, 3, 7, 10]);
  });
  it('axis 1 with nothing after it (GatherElements): [batch, n] picked by int32 [batch, k], static and symbolic', async () => {
    for (const n of [5, 'n'] as const) {
      const b = new GraphBuilder('along_last', {
        x: { dtype: 'float32', shape: ['batch', n] },
        i: { dtype: 'int32', shape: ['batch', 3] },
      });
      const { y } = await runOnce(b.build({ y: b.gatherAlongAxis(b.inputs.x, b.inputs.i, 1) }), {
        x: f32([2, 5], [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]),
        i: i32([2, 3], [4, 0, 4, 1, 2, 3]),
      });
      expectTensor(y, 'float32', [2, 3], [4, 0, 4, 11, 12, 13]);
    }
  });
  it('axis 0 is a plain gather of rows', async () => {
    const b = new GraphBuilder('along0', { x: { dtype: 'float32', shape: [4, 2] }, i: { dtype: 'int32', shape: [3] } });
    const { y } = await runOnce(b.build({ y: b.gatherAlongAxis(b.inputs.x, b.inputs.i, 0) }), {
      x: f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]),
      i: i32([3], [3, 3, 0]),
    });
    expectTensor(y, 'float32', [3, 2], [6, 7, 6, 7, 0, 1]);
  });
  it('top-k rows of a masked sequence: topk indices feed gatherAlongAxis and a where on the gathered mask', async () => {
    const b = new GraphBuilder('topk_rows', {
      seq: { dtype: 'float32', shape: ['batch', 'n', 2] },
      q: { dtype: 'float32', shape: ['batch', 2, 1] },
      mask: { dtype: 'bool', shape: ['batch', 'n'] },
    });
    const { seq, q, mask } = b.inputs;
    const scores = b.reshape(b.matmul(seq, q), ['batch', 'n']);
    const top = b.topk(scores, 2, mask);
    const rows = b.gatherAlongAxis(seq, top.indices, 1);
    const keep = b.gatherAlongAxis(mask, top.indices, 1);
    const g = b.build({ rows, keep, idx: top.indices });
    const out = await runOnce(g, {
      seq: f32([1, 4, 2], [1, 0, 0, 1, 3, 3, -1, -1]),
      q: f32([1, 2, 1], [1, 1]),
      mask: bool([1, 4], [1, 0, 0, 1]),
    });
    // scores [1, 1, 6, -2]; valid {0, 3} -> 0 (1), 3 (-2)
    expectTensor(out.idx, 'int32', [1, 2], [0, 3]);
    expectTensor(out.rows, 'float32', [1, 2, 2], [1, 0, -1, -1]);
    expectTensor(out.keep, 'bool', [1, 2], [1, 1]);
  });
});

itPassesChecker();
