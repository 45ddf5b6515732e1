/**
 * int8 export: per-column weight quantization against hand-worked values, a tiny MatMul model run
 * in ONNX Runtime against the integer product worked by hand, the ONNX checker on quantized models,
 * the refusal of a graph with no product worth quantizing, and LCN's serving graph close to float32.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, buildLifelong, initWeights, type HostTensor, type Weights } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import {
  INT8_MIN_DIM,
  OnnxSession,
  checkOnnxModels,
  convertToInt8,
  decodeModel,
  exportOnnx,
  quantizeColumns,
  roundHalfEven,
  toModelProto,
} from '../src/index.ts';

describe('int8 weights, per output column', () => {
  it('round half to even, as ONNX QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 31.75, -31.75, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 32, -32, 2]);
  });

  it('symmetric: scale = max |column| / 127, values in [-127, 127], a zero column gets scale 1', () => {
    // W [2, 3] = [[1, -0.5, 0], [0.25, 2, 0]]
    const { q, scale, maxError } = quantizeColumns(Float32Array.from([1, -0.5, 0, 0.25, 2, 0]), 2, 3);
    expect(Array.from(scale)).toEqual([Math.fround(1 / 127), Math.fround(2 / 127), 1]);
    // 0.25 * 127 = 31.75 -> 32; -0.5 / (2 / 127) = -31.75 -> -32
    expect(Array.from(q)).toEqual([127, -32, 0, 32, 127, 0]);
    expect(maxError).toBeCloseTo((0.25 * 2) / 127, 6); // column 1: |-0.5 + 32 * 2/127|
    expect(() => quantizeColumns(new Float32Array(5), 2, 3)).toThrow('quantizeColumns: expected 2 x 3 = 6 values, got 5');
  });
});

/** y = x @ w, x [batch, k]: the tiny product model. */
function matmulGraph(k: number, n: number) {
  const b = new GraphBuilder('int8_matmul', { x: { dtype: 'float32', shape: ['batch', k] } });
  const w = b.param('w', [k, n], { kind: 'normal', std: 1 });
  return b.build({ y: b.matmul(b.inputs.x, w) });
}

describe('int8 export', () => {
  it('a [2, 2] x [2, 2] product in ONNX Runtime equals the integer product worked by hand', async () => {
    const g = matmulGraph(2, 2);
    const weights: Weights = new Map([['w', { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, -0.5, 0.25, 2]) }]]);
    const bytes = exportOnnx(g, weights, { precision: 'int8', int8: { minDim: 1 } });
    const m = decodeModel(bytes);
    expect(m.graph!.node!.map((n) => n.opType)).toEqual(['DynamicQuantizeLinear', 'Mul', 'MatMulInteger', 'Cast', 'Mul']);
    expect(m.graph!.initializer!.map((t) => [t.name, t.dataType, t.dims!.map(Number)])).toEqual([
      ['w/int8', 3, [2, 2]],
      ['w/scale', 1, [2]],
      ['w/zero_point', 3, [2]],
    ]);
    expect(m.metadataProps!.find((p) => p.key === 'lctr.precision')!.value).toBe('int8');
    // x = [[1, 2], [-1, 0.6]]: DynamicQuantizeLinear over [min(x, 0), max(x, 0)] = [-1, 2]: scale 3/255 = 1/85,
    // zero point 85, x_q - 85 = [[85, 170], [-85, 51]]. W_q = [[127, -32], [32, 127]], scales [1/127, 2/127].
    // int32: [[85*127 + 170*32, 85*-32 + 170*127], [-85*127 + 51*32, -85*-32 + 51*127]] = [[16235, 18870], [-9163, 9197]]
    const want = [16235 / (85 * 127), (18870 * 2) / (85 * 127), -9163 / (85 * 127), (9197 * 2) / (85 * 127)];
    const s = await OnnxSession.create(bytes, g, { provider: 'cpu', intraOpNumThreads: 1 });
    try {
      const out = await s.run({ x: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, -1, 0.6]) } });
      const got = Array.from(out.y.data as Float32Array);
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
      // and not the float product [[1.5, 3.5], [-0.85, 1.7]]: it really ran in int8
      expect(Math.abs(got[0]! - 1.5)).toBeGreaterThan(3e-3);
    } finally {
      await s.release();
    }
  });

  it('the ONNX checker passes; narrow weights and products of two activations stay float32; outputs near float32', async () => {
    const b = new GraphBuilder('int8_mixed', {
      x: { dtype: 'float32', shape: ['batch', 40] },
      seq: { dtype: 'float32', shape: [40, 'seq'] },
    });
    const wide = b.param('wide', [40, 48], { kind: 'normal', std: 0.1 });
    const narrow = b.param('narrow', [48, 1], { kind: 'normal', std: 0.1 });
    const h = b.matmul(b.inputs.x, wide);
    const g = b.build({ logit: b.matmul(h, narrow), scores: b.matmul(b.inputs.x, b.inputs.seq) });
    const proto = toModelProto(g, initWeights(g, 1));
    const summary = convertToInt8(proto);
    expect(summary.products.map((p) => [p.weight, p.shape])).toEqual([['wide', [40, 48]]]);
    expect(summary.floatMatmuls).toBe(2);
    expect([summary.weightBytesBefore, summary.weightBytesAfter]).toEqual([40 * 48 * 4, 40 * 48 + 48 * 5]);
    expect(proto.graph!.initializer!.map((t) => t.name).sort()).toEqual(['narrow', 'wide/int8', 'wide/scale', 'wide/zero_point']);
    const bytes = exportOnnx(g, initWeights(g, 1), { precision: 'int8' });
    expect(checkOnnxModels([bytes]).map((c) => (c.ok ? 'ok' : c.message))).toEqual(['ok']);
    const x: HostTensor<'float32'> = {
      dtype: 'float32',
      shape: [4, 40],
      data: Float32Array.from({ length: 160 }, (_, i) => Math.sin(i * 0.7)),
    };
    const seq: HostTensor<'float32'> = {
      dtype: 'float32',
      shape: [40, 3],
      data: Float32Array.from({ length: 120 }, (_, i) => Math.cos(i)),
    };
    const s32 = await OnnxSession.create(exportOnnx(g, initWeights(g, 1)), g, { provider: 'cpu', intraOpNumThreads: 1 });
    const s8 = await OnnxSession.create(bytes, g, { provider: 'cpu', intraOpNumThreads: 1 });
    try {
      const [o32, o8] = [await s32.run({ x, seq }), await s8.run({ x, seq })];
      expect(Array.from(o8.scores.data as Float32Array)).toEqual(Array.from(o32.scores.data as Float32Array)); // float32 product
      const l32 = o32.logit.data as Float32Array,
        l8 = o8.logit.data as Float32Array;
      const diff = Math.max(...l32.map((v, i) => Math.abs(v - l8[i]!)));
      const spread = Math.max(...l32) - Math.min(...l32);
      expect(diff).toBeGreaterThan(0);
      expect(diff).toBeLessThan(0.02 * spread);
    } finally {
      await s32.release();
      await s8.release();
    }
  });

  it('refuses a graph with no product worth quantizing, naming what it has', () => {
    const g = matmulGraph(8, 4);
    expect(() => exportOnnx(g, initWeights(g, 1), { precision: 'int8' })).toThrow(
      `--precision int8: graph 'int8_matmul' has no product worth quantizing: expected a MatMul of an activation by a float32 weight [k, ` +
        `n] with k, n >= ${INT8_MIN_DIM}, got 1 MatMul node, the widest weight [8, 4] (matmul_0)`,
    );
  });

  it("LCN's per-request serving graph: int8 close to float32, the checker passes", async () => {
    const g = buildLifelong(LIFELONG_TEST_CONFIG);
    const w = initWeights(g, 3);
    const bytes32 = exportOnnx(g, w);
    const bytes8 = exportOnnx(g, w, { precision: 'int8', int8: { minDim: 4 } });
    const proto = toModelProto(g, w);
    expect(convertToInt8(proto, { minDim: 4 }).products.length).toBeGreaterThan(3);
    expect(checkOnnxModels([bytes8]).map((c) => (c.ok ? 'ok' : c.message))).toEqual(['ok']);
    const feeds = randomFeeds(g, { cand: 24 }, 8, lifelongGens()) as Record<string, HostTensor>;
    const s32 = await OnnxSession.create(bytes32, g, { provider: 'cpu', intraOpNumThreads: 1 });
    const s8 = await OnnxSession.create(bytes8, g, { provider: 'cpu', intraOpNumThreads: 1 });
    try {
      const p32 = (await s32.run(feeds as never)).prob.data as Float32Array;
      const p8 = (await s8.run(feeds as never)).prob.data as Float32Array;
      let maxAbs = 0;
      p32.forEach((v, i) => {
        maxAbs = Math.max(maxAbs, Math.abs(v - p8[i]!));
      });
      expect(p8.length).toBe(24);
      expect(maxAbs).toBeLessThan(2e-2);
    } finally {
      await s32.release();
      await s8.release();
    }
  });
});
