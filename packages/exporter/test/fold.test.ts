/**
 * Constant folding of parameter-only subgraphs: what folds and what does not, the folded graph
 * computing the same outputs (ref-cpu, and ONNX Runtime on the folded export), names and errors.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, buildLifelong, initWeights, type HostTensor } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { foldParameters, foldedParamName } from '../src/index.ts';

function maxAbs(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(Number(a[i]) - Number(b[i])));
  return m;
}

/** x [batch, 3] through (w1 + w2)ᵀ-ish parameter arithmetic, a broadcast and an int constant. */
function smallGraph() {
  const b = new GraphBuilder('fold-small', { x: { dtype: 'float32', shape: ['batch', 3] }, ids: { dtype: 'int32', shape: ['batch'] } });
  const w = b.param('w', [6, 2], { kind: 'normal', std: 1 });
  const bias = b.param('bias', [2], { kind: 'normal', std: 1 });
  const table = b.param('table', [4, 2], { kind: 'normal', std: 1 });
  const top = b.slice(w, [0], [3], [0]); // [3, 2]
  const bottom = b.slice(w, [3], [6], [0]);
  const summed = b.add(top, bottom); // folds: [3, 2] from [6, 2]
  const scaled = b.mul(summed, b.scalar(0.5)); // folds (scalar constant input)
  const wide = b.expand(b.reshape(bias, [1, 2]), [8, 2]); // reshape folds, the broadcast grows: not folded
  const shift = b.add(b.cast(b.inputs.ids, 'float32'), b.scalar(1)); // reads an input: stays
  const y = b.add(b.matmul(b.inputs.x, scaled), b.reshape(shift, ['batch', 1]));
  const rows = b.gather(table, b.inputs.ids);
  return b.build({ y, rows, wideSum: b.reduceSum(wide, [0]) });
}

describe('foldParameters', () => {
  it(
    'folds slices, add and scalar arithmetic of parameters; keeps broadcasts and input-dependent nodes; drops parameters only folded ' +
      'nodes read',
    () => {
      const g = smallGraph();
      const w = initWeights(g, 3);
      const f = foldParameters(g, w);
      const ops = (ids: readonly string[]) => ids.map((id) => g.nodes.find((n) => n.id === id)!.op);
      expect(ops(f.foldedNodes)).toEqual(['slice', 'slice', 'add', 'mul', 'reshape']);
      expect(f.droppedParameters).toEqual(['w', 'bias']); // bias only fed the folded reshape
      expect(f.graph.params.map((p) => p.name)).toEqual(['table', 'folded/' + f.foldedNodes[3], 'folded/' + f.foldedNodes[4]]);
      expect(f.graph.nodes.some((n) => n.op === 'expand')).toBe(true);
      expect(f.graph.inputs).toEqual(g.inputs);
      expect(f.graph.meta['folded']).toEqual({ nodes: 5, parameters: 2 });
      // the folded weight is (w[0:3] + w[3:6]) * 0.5, rounded to float32
      const wv = w.get('w')!.data;
      const folded = f.weights.get('folded/' + f.foldedNodes[3])!;
      expect(folded.shape).toEqual([3, 2]);
      expect(Array.from(folded.data)).toEqual(Array.from({ length: 6 }, (_, i) => Math.fround((Number(wv[i]) + Number(wv[i + 6])) * 0.5)));

      const feeds = {
        x: { dtype: 'float32', shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i)) },
        ids: { dtype: 'int32', shape: [5], data: Int32Array.of(0, 3, 1, 2, 3) },
      } as const;
      const a = runRef(g, w, feeds as never),
        c = runRef(f.graph, f.weights, feeds as never);
      for (const k of ['y', 'rows', 'wideSum'] as const) expect(maxAbs(a[k].data, c[k].data)).toBeLessThan(1e-6);
    },
  );

  it("LCN's serving graph: ref-cpu and ONNX Runtime on the folded graph match the unfolded reference", async () => {
    const g = buildLifelong(LIFELONG_TEST_CONFIG);
    const w = initWeights(g, 11);
    const f = foldParameters(g, w);
    expect(f.foldedNodes.length).toBe(20); // per DIN attention: 4 slices, add, sub, 2 reshapes; FSA's [w1; b1]: reshape, concat; the MLP's user and candidate rows: 2 slices
    expect(f.graph.nodes.length).toBe(g.nodes.length - 20);
    const feeds = randomFeeds(g, { cand: 20 }, 4, lifelongGens()) as Record<string, HostTensor>;
    const ref = runRef(g, w, feeds as never).prob.data;
    expect(maxAbs(ref, runRef(f.graph, f.weights, feeds as never).prob.data)).toBeLessThan(1e-7);
    const s = await OnnxSession.create(exportOnnx(f.graph, f.weights), g, { provider: 'cpu', intraOpNumThreads: 1 });
    try {
      expect(maxAbs(ref, (await s.run(feeds as never)).prob.data)).toBeLessThan(1e-6);
    } finally {
      await s.release();
    }
  });

  it('a graph with nothing to fold comes back as it is; names and clashes', () => {
    const b = new GraphBuilder('nothing', { x: { dtype: 'float32', shape: ['batch', 2] } });
    const w = b.param('w', [2, 2], { kind: 'normal', std: 1 });
    const g = b.build({ y: b.matmul(b.inputs.x, w) });
    const f = foldParameters(g, initWeights(g, 1));
    expect(f.graph).toBe(g);
    expect(f.foldedNodes).toEqual([]);
    expect(foldedParamName('din/att/add_25:0')).toBe('folded/din/att/add_25');
    expect(foldedParamName('split_3:1')).toBe('folded/split_3:1');

    const c = new GraphBuilder('clash', { x: { dtype: 'float32', shape: ['batch', 2] } });
    const p = c.param('p', [2, 2], { kind: 'normal', std: 1 });
    const t = c.transpose(p, [1, 0]);
    const cg = c.build({ y: c.matmul(c.inputs.x, t) });
    const id = cg.nodes.find((n) => n.op === 'transpose')!.outputs[0]!.id;
    const clash = {
      ...cg,
      params: [...cg.params, { name: foldedParamName(id), dtype: 'float32' as const, shape: [1], init: { kind: 'zeros' as const } }],
    };
    const cw = new Map(initWeights(cg, 1));
    cw.set(foldedParamName(id), { dtype: 'float32', shape: [1], data: Float32Array.of(0) });
    expect(() => foldParameters(clash, cw)).toThrow(
      `foldParameters: graph 'clash' already has a parameter or input named '${foldedParamName(id)}'`,
    );
  });
});
