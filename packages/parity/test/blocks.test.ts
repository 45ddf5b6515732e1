/** Block and model parity: the shared blocks and the demo model, forward and gradients, with padding. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, buildDemoTrain, initWeights, maskedMean, maskedSoftmax } from '@lctr/spec';
import { gen, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { checkParity } from '../src/index.ts';

function softmaxGraph() {
  const b = new GraphBuilder('masked-softmax', {
    s: { dtype: 'float32', shape: ['batch', 'seq'] },
    m: { dtype: 'bool', shape: ['batch', 'seq'] },
  } as const);
  const w = b.param('w', [1, 1]);
  const scores = b.mul(b.inputs.s, w);
  return b.build({ y: b.mul(maskedSoftmax(b, scores, b.inputs.m), b.scalar(3)) });
}

describe('block parity', () => {
  it('maskedSoftmax: padded weights are 0, all-padding rows are 0, NaN in padding does not leak', async () => {
    const g = softmaxGraph();
    const weights = initWeights(g, 3);
    const inputs = {
      s: { dtype: 'float32' as const, shape: [3, 4], data: Float32Array.from([1, 2, NaN, 3, NaN, NaN, NaN, NaN, -500, -501, 7, NaN]) },
      m: { dtype: 'bool' as const, shape: [3, 4], data: Uint8Array.from([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0]) },
    };
    const y = runRef(g, weights, inputs).y.data;
    expect(y[2]).toBe(0);
    expect(Array.from(y.slice(4, 8))).toEqual([0, 0, 0, 0]);
    expect(y[11]).toBe(0);
    expect(y.every((v) => Number.isFinite(v))).toBe(true);
    const r = await checkParity({ name: 'maskedSoftmax', graph: g, weights, inputs });
    expect(r.failures).toEqual([]);
  });

  it('maskedMean over a sequence with padding and an empty row', async () => {
    const b = new GraphBuilder('masked-mean', {
      x: { dtype: 'float32', shape: ['batch', 'seq', 3] },
      m: { dtype: 'bool', shape: ['batch', 'seq'] },
    } as const);
    const g = b.build({ y: maskedMean(b, b.mul(b.inputs.x, b.param('w', [3])), b.inputs.m) });
    const inputs = randomFeeds(g, { batch: 4, seq: 6 }, 11, { m: gen.prefixMask() });
    (inputs.m!.data as Uint8Array).fill(0, 0, 6); // first row: no valid position
    const weights = initWeights(g, 1);
    expect(Array.from(runRef(g, weights, inputs).y.data.slice(0, 3))).toEqual([0, 0, 0]);
    const r = await checkParity({ name: 'maskedMean', graph: g, weights, inputs });
    expect(r.failures).toEqual([]);
  });

  it('demo model (training graph): forward and gradients of the loss', async () => {
    const g = buildDemoTrain({ items: 300, users: 50, dim: 8, topK: 4, hidden: [16, 8] });
    const weights = initWeights(g, 7);
    const inputs = randomFeeds(g, { batch: 6, seq: 12 }, 5, {
      user: gen.ints(50),
      history: gen.ints(300),
      candidate: gen.ints(300),
      historyMask: gen.prefixMask(),
      label: gen.ints(2),
    });
    const r = await checkParity({ name: 'demo-train', graph: g, weights, inputs, gradOutput: 'loss' });
    expect(r.failures).toEqual([]);
    expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * g.params.length);
  });
});
