import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  Rng,
  checkWeights,
  decodeSafetensors,
  encodeSafetensors,
  fans,
  hashSeed,
  init,
  initWeights,
  readGraphFile,
  readWeightsFile,
  serializeGraph,
  writeGraphFile,
  writeWeightsFile,
  type HostTensor,
} from '../src/index.ts';

function graph() {
  const b = new GraphBuilder('w', { x: { dtype: 'float32', shape: ['batch', 16] } } as const);
  const w1 = b.scope('l1', () => b.param('w', [16, 32]));
  const b1 = b.scope('l1', () => b.param('b', [32], init.zeros()));
  const e = b.param('emb', [50, 8], init.normal(0.01, 0, 3));
  const u = b.param('u', [8], init.uniform(-2, -1));
  const y = b.add(b.reduceSum(b.add(b.matmul(b.inputs.x, w1), b1), [1], true), b.reduceSum(b.mul(e, u), [0, 1], true));
  return b.build({ y });
}

describe('initial weights', () => {
  it('are deterministic by seed and independent of parameter order', () => {
    const g = graph();
    const a = initWeights(g, 42),
      b = initWeights(g, 42),
      c = initWeights(g, 43);
    expect(a.get('l1/w')!.data).toEqual(b.get('l1/w')!.data);
    expect(a.get('l1/w')!.data).not.toEqual(c.get('l1/w')!.data);
    const reordered = { ...g, params: [...g.params].reverse() };
    expect(initWeights(reordered, 42).get('emb')!.data).toEqual(a.get('emb')!.data);
  });
  it('follow each initializer', () => {
    const w = initWeights(graph(), 1);
    const limit = Math.sqrt(6 / (16 + 32));
    const xw = Array.from(w.get('l1/w')!.data);
    expect(Math.max(...xw.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...xw.map(Math.abs))).toBeGreaterThan(0.9 * limit);
    expect(Array.from(w.get('l1/b')!.data).every((v) => v === 0)).toBe(true);
    const e = Array.from(w.get('emb')!.data);
    const mean = e.reduce((s, v) => s + v, 0) / e.length;
    const std = Math.sqrt(e.reduce((s, v) => s + (v - mean) ** 2, 0) / e.length);
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(std).toBeGreaterThan(0.008);
    expect(std).toBeLessThan(0.012);
    expect(Array.from(w.get('u')!.data).every((v) => v >= -2 && v < -1)).toBe(true);
    expect(fans([16, 32])).toEqual([16, 32]);
    expect(fans([3, 4, 5])).toEqual([12, 15]);
  });
  it('Rng repeats and has the right moments', () => {
    const r1 = new Rng(hashSeed(1, 'a')),
      r2 = new Rng(hashSeed(1, 'a'));
    const xs = Array.from({ length: 20000 }, () => r1.normal());
    expect(Array.from({ length: 20000 }, () => r2.normal())).toEqual(xs);
    const m = xs.reduce((s, v) => s + v, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
    const r = new Rng(9);
    const ints = Array.from({ length: 1000 }, () => r.int(7));
    expect(Math.min(...ints)).toBe(0);
    expect(Math.max(...ints)).toBe(6);
  });
});

describe('checkWeights', () => {
  const g = graph();
  it('lists every missing name, then names wrong shapes and extras', () => {
    const w = initWeights(g, 1);
    w.delete('l1/b');
    w.delete('u');
    expect(() => checkWeights(g, w)).toThrow("weights for graph 'w' miss 2 parameter(s): l1/b, u");
    const w2 = initWeights(g, 1);
    w2.set('emb', { dtype: 'float32', shape: [8, 50], data: new Float32Array(400) });
    expect(() => checkWeights(g, w2)).toThrow("weight 'emb': expected shape [50, 8], got [8, 50]");
    const w3 = initWeights(g, 1);
    w3.set('l1/extra', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    expect(() => checkWeights(g, w3)).toThrow("weights hold 1 name(s) that graph 'w' has no parameter for: l1/extra");
    expect(() => checkWeights(g, w3, { allowExtra: true })).not.toThrow();
  });
});

describe('safetensors and files', () => {
  it('round-trips all dtypes with metadata and an 8-byte aligned header', () => {
    const tensors = new Map<string, HostTensor>([
      ['b/f', { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1.5, -2, Infinity, NaN]) }],
      ['a/i', { dtype: 'int32', shape: [3], data: Int32Array.from([1, -2, 2147483647]) }],
      ['c/l', { dtype: 'int64', shape: [2], data: BigInt64Array.from([-5n, 1n << 40n]) }],
      ['d/m', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ]);
    const bytes = encodeSafetensors(tensors, { format: 'pt', step: '3' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString());
    expect(header['a/i']).toEqual({ dtype: 'I32', shape: [3], data_offsets: [0, 12] });
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'pt', step: '3' });
    for (const [k, t] of tensors) expect(back.tensors.get(k)).toEqual(t);
    expect(encodeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
  });
  it('names what is wrong with a bad file', () => {
    expect(() => decodeSafetensors(new Uint8Array(3), 'w.safetensors')).toThrow('w.safetensors: too short (3 bytes) to hold a header');
    const head = Buffer.from('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}');
    const buf = new Uint8Array(8 + head.length + 8);
    new DataView(buf.buffer).setBigUint64(0, BigInt(head.length), true);
    buf.set(head, 8);
    expect(() => decodeSafetensors(buf, 'w.safetensors')).toThrow(
      "w.safetensors: tensor 'a' F32[4] needs 16 bytes, but its data_offsets [0, 8] span 8",
    );
    new DataView(buf.buffer).setBigUint64(0, 1000n, true);
    expect(() => decodeSafetensors(buf, 'w.safetensors')).toThrow('w.safetensors: header length 1000 runs past the end of the file');
  });
  it('writes graph and weights files atomically and explains a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lctr-'));
    const g = graph();
    writeGraphFile(join(dir, 'g.json'), g);
    expect(serializeGraph(readGraphFile(join(dir, 'g.json')))).toBe(serializeGraph(g));
    const w = initWeights(g, 5);
    writeWeightsFile(join(dir, 'w.safetensors'), w, { seed: '5' });
    const back = readWeightsFile(join(dir, 'w.safetensors'));
    expect(back.metadata).toEqual({ seed: '5' });
    checkWeights(g, back.weights);
    expect(back.weights.get('l1/w')!.data).toEqual(w.get('l1/w')!.data);
    expect(readdirSync(dir).sort()).toEqual(['g.json', 'w.safetensors']);
    expect(() => readWeightsFile(join(dir, 'nope.safetensors'))).toThrow(`weights file not found: ${join(dir, 'nope.safetensors')}`);
    writeFileSync(join(dir, 'bad.json'), '{"format":"lctr-graph","version":9}');
    expect(() => readGraphFile(join(dir, 'bad.json'))).toThrow(`${join(dir, 'bad.json')}: graph format version 9 is not supported`);
  });
});
