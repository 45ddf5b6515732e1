/**
 * float16 export: the bit conversion against hand-worked values, the pass keeping the model's
 * interface, constants keeping their role, and whole models (demo, LCN's per-request serving graph)
 * scoring within float16's tolerance of the float32 export in ONNX Runtime.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, buildDemo, buildLifelong, initWeights, type HostTensor } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG, gen, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import {
  FLOAT16_MAX,
  OnnxSession,
  checkOnnxModels,
  decodeModel,
  exportOnnx,
  float16Bits,
  float16Value,
  toFloat16Constant,
} from '../src/index.ts';

describe('float16 bits', () => {
  it('hand-worked values: exact, rounded to nearest even, overflow, subnormals, specials', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1 / 3, 0x3555],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -26, 0x0001],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [2049, 0x6800],
      [2051, 0x6802],
    ];
    for (const [x, bits] of cases) expect([x, float16Bits(x)]).toEqual([x, bits]);
    expect(float16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(NaN) & 0x3ff).not.toBe(0);
    for (const [x, bits] of cases)
      if (Math.abs(x) <= 65504 && (x === 0 || Math.abs(x) >= 2 ** -24))
        expect(Math.abs(float16Value(bits) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
  });

  it('constants keep their role: beyond ±65504 -> ±65504, a non-zero epsilon -> the smallest subnormal', () => {
    expect(float16Value(toFloat16Constant(-3.4028234663852886e38))).toBe(-FLOAT16_MAX);
    expect(float16Value(toFloat16Constant(1e38))).toBe(FLOAT16_MAX);
    expect(float16Value(toFloat16Constant(1e-12))).toBe(2 ** -24);
    expect(float16Value(toFloat16Constant(-1e-12))).toBe(-(2 ** -24));
    expect(float16Value(toFloat16Constant(-Infinity))).toBe(-Infinity);
    expect(float16Value(toFloat16Constant(0.1))).toBeCloseTo(0.1, 3);
  });
});

/** The same graph exported twice, run in ONNX Runtime: max |Δ| of every float output. */
async function float16VsFloat32(g: Parameters<typeof exportOnnx>[0], feeds: Record<string, HostTensor>, seed = 3) {
  const w = initWeights(g, seed);
  const bytes32 = exportOnnx(g, w);
  const bytes16 = exportOnnx(g, w, { precision: 'float16' });
  const s32 = await OnnxSession.create(bytes32, g, { provider: 'cpu', intraOpNumThreads: 1 });
  const s16 = await OnnxSession.create(bytes16, g, { provider: 'cpu', intraOpNumThreads: 1 });
  try {
    const o32 = (await s32.run(feeds as never)) as Record<string, HostTensor>;
    const o16 = (await s16.run(feeds as never)) as Record<string, HostTensor>;
    let maxAbs = 0,
      spread = 0;
    for (const [k, t] of Object.entries(o32)) {
      const u = o16[k]!;
      expect([k, u.dtype, [...u.shape]]).toEqual([k, t.dtype, [...t.shape]]);
      if (t.dtype !== 'float32') continue;
      const lo = Math.min(...(t.data as Float32Array)),
        hi = Math.max(...(t.data as Float32Array));
      spread = Math.max(spread, hi - lo);
      t.data.forEach((v, i) => {
        maxAbs = Math.max(maxAbs, Math.abs(Number(v) - Number(u.data[i])));
      });
    }
    console.log(
      `float16 vs float32 on ${g.name}: max abs ${maxAbs.toExponential(2)}, spread ${spread.toFixed(3)}, bytes ${bytes16.length} vs ` +
        `${bytes32.length}`,
    );
    return { maxAbs, spread, bytes32, bytes16 };
  } finally {
    await s32.release();
    await s16.release();
  }
}

describe('float16 export', () => {
  it('keeps the interface: float32 inputs and outputs, float16 initializers and value_info inside', () => {
    const b = new GraphBuilder('f16', { x: { dtype: 'float32', shape: ['batch', 3] }, ids: { dtype: 'int32', shape: ['batch'] } });
    const w = b.param('w', [3, 2], { kind: 'normal', std: 1 });
    const emb = b.param('emb', [5, 2], { kind: 'normal', std: 1 });
    const y = b.add(b.matmul(b.inputs.x, w), b.gather(emb, b.inputs.ids));
    const g = b.build({ y, count: b.cast(b.greater(y, b.scalar(0)), 'float32') });
    const m = decodeModel(exportOnnx(g, initWeights(g, 1), { precision: 'float16' }));
    const elem = (v: { type?: { tensorType?: { elemType?: number | null } | null } | null }) => v.type!.tensorType!.elemType;
    expect(m.graph!.input!.map((i) => [i.name, elem(i)])).toEqual([
      ['x', 1],
      ['ids', 6],
    ]);
    expect(m.graph!.output!.map((o) => [o.name, elem(o)])).toEqual([
      ['y', 1],
      ['count', 1],
    ]);
    expect(m.graph!.initializer!.filter((t) => t.name === 'w' || t.name === 'emb').map((t) => t.dataType)).toEqual([10, 10]);
    expect(m.graph!.valueInfo!.every((v) => elem(v) !== 1)).toBe(true);
    expect(m.metadataProps!.find((p) => p.key === 'lctr.precision')!.value).toBe('float16');
    const casts = m.graph!.node!.filter((n) => n.opType === 'Cast').map((n) => [n.input![0], n.output![0], Number(n.attribute![0]!.i)]);
    expect(casts).toContainEqual(['x', 'x/float16', 10]);
    expect(casts).toContainEqual(['y/float16', 'y', 1]);
    expect(() => exportOnnx(g, initWeights(g, 1), { precision: 'bfloat16' as never })).toThrow(
      'precision: expected one of float32, float16, int8, got "bfloat16"',
    );
  });

  it("a scatter with reduction 'add' runs in float32 between casts (ONNX Runtime's CPU has no float16 kernel for it)", async () => {
    const b = new GraphBuilder('f16_scatter', { u: { dtype: 'float32', shape: ['batch', 2] }, i: { dtype: 'int32', shape: ['batch', 2] } });
    const g = b.build({ y: b.scatterAlongAxis(b.inputs.u, b.inputs.i, 3) });
    const m = decodeModel(exportOnnx(g, initWeights(g, 1), { precision: 'float16' }));
    const ops = m.graph!.node!.map((n) => n.opType);
    const at = ops.indexOf('ScatterElements');
    expect(ops.slice(at - 2, at + 2)).toEqual(['Cast', 'Cast', 'ScatterElements', 'Cast']);
    const s = await OnnxSession.create(exportOnnx(g, initWeights(g, 1), { precision: 'float16' }), g, { provider: 'cpu' });
    try {
      const out = await s.run({
        u: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1.5, 2, -3, 0.25]) },
        i: { dtype: 'int32', shape: [2, 2], data: Int32Array.from([2, 2, 0, 1]) },
      });
      expect(Array.from(out.y.data as Float32Array)).toEqual([0, 0, 3.5, -3, 0.25, 0]);
    } finally {
      await s.release();
    }
  });

  it('demo model: float16 within 2e-3 of float32 in ONNX Runtime (probabilities)', async () => {
    const g = buildDemo();
    const feeds = randomFeeds(g, { batch: 16, seq: 40 }, 5, {
      user: gen.ints(200),
      history: gen.ints(1000),
      candidate: gen.ints(1000),
      historyMask: gen.prefixMask(),
    });
    const r = await float16VsFloat32(g, feeds as Record<string, HostTensor>);
    expect(r.spread).toBeGreaterThan(1e-3);
    expect(r.maxAbs).toBeGreaterThan(0); // it really ran in half precision
    expect(r.maxAbs).toBeLessThan(2e-3);
    expect(r.bytes16.length).toBeLessThan(0.6 * r.bytes32.length);
  });

  it("LCN's per-request serving graph (masked top-k, NaN-free padding): float16 within 2e-3 of float32", async () => {
    const g = buildLifelong(LIFELONG_TEST_CONFIG);
    const feeds = randomFeeds(g, { cand: 24 }, 8, lifelongGens()) as Record<string, HostTensor>;
    const r = await float16VsFloat32(g, feeds);
    expect(r.maxAbs).toBeGreaterThan(0);
    expect(r.maxAbs).toBeLessThan(2e-3);
    expect(checkOnnxModels([r.bytes16]).map((c) => (c.ok ? 'ok' : c.message))).toEqual(['ok']);
  });
});
