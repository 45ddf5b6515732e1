/** Symbolic dims: dim_param on the ONNX inputs, reshape/expand targets computed at run time. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, initWeights } from '@lctr/spec';
import { decodeModel, exportOnnx } from '../src/index.ts';
import { expectTensor, f32, itPassesChecker, openSession } from './helpers.ts';

/** x [batch, seq, 4] -> several reshapes/expands whose targets hold symbols and products of symbols. */
function symbolicGraph() {
  const b = new GraphBuilder('symbolic', { x: { dtype: 'float32', shape: ['batch', 'seq', 4] }, bias: { dtype: 'float32', shape: [4] } });
  const { x, bias } = b.inputs;
  const flat = b.reshape(x, ['batch', -1]); // [batch, 4*seq]
  const rows = b.reshape(x, [-1, 4]); // [batch*seq, 4]
  const doubled = b.concat([x, x], 1); // [batch, 2*seq, 4]
  const split = b.reshape(doubled, ['batch', '2*seq', 2, 2]);
  const wide = b.expand(b.reshape(bias, [1, 1, 4]), ['batch', 'seq', 4]);
  const mean = b.reduceMean(x, 1); // divides by the run-time seq
  return b.build({ flat, rows, split, wide, mean });
}

const xValues = (batch: number, seq: number) => Array.from({ length: batch * seq * 4 }, (_, i) => i);

describe('symbolic dims', () => {
  it('graph inputs carry dim_param names; intermediate and output shapes keep products as dim_param', () => {
    const g = symbolicGraph();
    const m = decodeModel(exportOnnx(g, initWeights(g, 1)));
    const dims = (v: {
      type?: { tensorType?: { shape?: { dim?: Array<{ dimValue?: unknown; dimParam?: string | null }> | null } | null } | null } | null;
    }) => v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    const x = m.graph!.input!.find((i) => i.name === 'x')!;
    expect(dims(x)).toEqual(['batch', 'seq', 4]);
    const outs = Object.fromEntries(m.graph!.output!.map((o) => [o.name, dims(o)]));
    expect(outs).toEqual({
      flat: ['batch', '4*seq'],
      rows: ['batch*seq', 4],
      split: ['batch', '2*seq', 2, 2],
      wide: ['batch', 'seq', 4],
      mean: ['batch', 4],
    });
    // one Shape node per symbol, read from the first input carrying it
    const shapes = m.graph!.node!.filter((n) => n.opType === 'Shape');
    expect(shapes.map((n) => [n.name, n.input![0]])).toEqual([
      ['dim/batch', 'x'],
      ['dim/seq', 'x'],
    ]);
  });
  it('the same session runs batch 2 / seq 3 and batch 5 / seq 1', async () => {
    const s = await openSession(symbolicGraph());
    try {
      for (const [batch, seq] of [
        [2, 3],
        [5, 1],
      ] as const) {
        const xv = xValues(batch, seq);
        const out = await s.run({ x: f32([batch, seq, 4], xv), bias: f32([4], [1, 2, 3, 4]) });
        expectTensor(out.flat, 'float32', [batch, 4 * seq], xv);
        expectTensor(out.rows, 'float32', [batch * seq, 4], xv);
        const doubled: number[] = [];
        for (let i = 0; i < batch; i++) {
          const row = xv.slice(i * seq * 4, (i + 1) * seq * 4);
          doubled.push(...row, ...row);
        }
        expectTensor(out.split, 'float32', [batch, 2 * seq, 2, 2], doubled);
        expectTensor(out.wide, 'float32', [batch, seq, 4], Array.from({ length: batch * seq }, () => [1, 2, 3, 4]).flat());
        const mean: number[] = [];
        for (let i = 0; i < batch; i++)
          for (let c = 0; c < 4; c++) {
            let sum = 0;
            for (let t = 0; t < seq; t++) sum += xv[(i * seq + t) * 4 + c]!;
            mean.push(sum / seq);
          }
        expectTensor(out.mean, 'float32', [batch, 4], mean);
      }
    } finally {
      await s.release();
    }
  });
  it('a batch of 0 runs (reshape targets use allowzero, so a run-time 0 is a real 0)', async () => {
    const s = await openSession(symbolicGraph());
    try {
      const out = await s.run({ x: f32([0, 3, 4], []), bias: f32([4], [1, 2, 3, 4]) });
      expect(out.flat.shape).toEqual([0, 12]);
      expect(out.rows.shape).toEqual([0, 4]);
      expect(out.wide.shape).toEqual([0, 3, 4]);
    } finally {
      await s.release();
    }
  });
  it('a symbol that first appears on a second input is read from that input', async () => {
    const b = new GraphBuilder('symbol_second', { a: { dtype: 'float32', shape: [2] }, seq: { dtype: 'float32', shape: ['n', 2] } });
    const g = b.build({ y: b.expand(b.reshape(b.inputs.a, [1, 2]), ['n', 2]) });
    const m = decodeModel(exportOnnx(g, initWeights(g, 1)));
    expect(m.graph!.node!.filter((n) => n.opType === 'Shape').map((n) => n.input![0])).toEqual(['seq']);
    const s = await openSession(g);
    try {
      const out = await s.run({ a: f32([2], [7, 8]), seq: f32([3, 2], [0, 0, 0, 0, 0, 0]) });
      expectTensor(out.y, 'float32', [3, 2], [7, 8, 7, 8, 7, 8]);
    } finally {
      await s.release();
    }
  });
});

itPassesChecker();
