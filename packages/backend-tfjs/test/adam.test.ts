/** Our Adam: hand-computed steps, agreement with tf.train.adam, exact state round trip; cpu and wasm. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@lctr/spec';
import { Adam, type AdamConfig } from '../src/index.ts';
import { BACKENDS, useBackend } from './helpers.ts';
const bits = (a: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(a).buffer));

const cfg: AdamConfig = { name: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

// distinct tf.Variable names across tests (tfjs refuses a name twice)
let variableSerial = 0;
function params(values: Record<string, number[]>): Map<string, tf.Variable> {
  return new Map(Object.entries(values).map(([k, v], i) => [k, tf.variable(tf.tensor1d(v), true, `adamtest-${variableSerial++}-${i}`)]));
}
const step = (adam: Adam, ps: Map<string, tf.Variable>, grads: Record<string, number[]>) =>
  tf.tidy(() => adam.applyGradients(Object.entries(grads).map(([k, g]) => ({ name: ps.get(k)!.name, tensor: tf.tensor1d(g) }))));
const values = (v: tf.Variable) => Array.from(v.dataSync());

describe.each(BACKENDS)('Adam on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('takes the hand-computed first two steps', () => {
    const ps = params({ w: [1, -2] });
    const adam = new Adam(ps, cfg);
    // step 1: m = 0.1 g, v = 0.001 g^2, m-hat = g, v-hat = g^2: w moves by lr * g / (|g| + eps), about 0.1 against the sign
    step(adam, ps, { w: [0.5, -4] });
    const w1 = [1 - 0.1 * (0.5 / (0.5 + 1e-8)), -2 + 0.1 * (4 / (4 + 1e-8))]; // [0.9, -1.9]
    values(ps.get('w')!).forEach((v, i) => expect(v).toBeCloseTo(w1[i]!, 6));
    // step 2 with g = [1, 0]: m = [0.145, -0.36], v = [0.00124975, 0.015984], bias corrections 0.19 and 0.001999
    step(adam, ps, { w: [1, 0] });
    const m = [0.145, -0.36],
      v = [0.00124975, 0.015984];
    const w2 = w1.map((w, i) => w - (0.1 * (m[i]! / 0.19)) / (Math.sqrt(v[i]! / 0.001999) + 1e-8)); // [0.8034817, -1.8329940]
    values(ps.get('w')!).forEach((x, i) => expect(x).toBeCloseTo(w2[i]!, 6));
    expect(w2[0]).toBeCloseTo(0.8034817, 6);
    const s = adam.getState();
    expect(s.step).toBe(2);
    expect(s.beta1Power).toBe(0.9 * 0.9);
    expect(s.beta2Power).toBe(0.999 * 0.999);
    Array.from(s.m.get('w')!.data).forEach((x, i) => expect(x).toBeCloseTo(m[i]!, 7));
    Array.from(s.v.get('w')!.data).forEach((x, i) => expect(x).toBeCloseTo(v[i]!, 8));
    adam.dispose();
    ps.forEach((p) => p.dispose());
  });

  it('agrees with float64 Adam within 1e-6 and with tf.train.adam within 1e-5 (tfjs keeps beta^t in float32)', () => {
    const rng = new Rng(3);
    const init = Array.from({ length: 6 }, () => rng.normal());
    const ours = params({ w: init }),
      theirs = params({ w: init });
    const adam = new Adam(ours, cfg),
      ref = tf.train.adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.epsilon);
    for (let k = 0; k < 8; k++) {
      const g = Array.from({ length: 6 }, () => rng.normal());
      step(adam, ours, { w: g });
      tf.tidy(() => ref.applyGradients([{ name: theirs.get('w')!.name, tensor: tf.tensor1d(g) }]));
    }
    // float64 Adam with the same gradients
    const rng2 = new Rng(3);
    const w = Array.from({ length: 6 }, () => rng2.normal()),
      m = new Array(6).fill(0),
      v = new Array(6).fill(0);
    for (let t = 1; t <= 8; t++) {
      const g = Array.from({ length: 6 }, () => rng2.normal());
      for (let i = 0; i < 6; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i]!;
        v[i] = 0.999 * v[i] + 0.001 * g[i]! ** 2;
        w[i] = w[i]! - (0.1 * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
      }
    }
    const a = values(ours.get('w')!),
      b = values(theirs.get('w')!);
    const worst = (xs: number[]) => Math.max(...xs.map((x, i) => Math.abs(x - w[i]!)));
    // ours: float32 rounding only; tf.train.adam also carries beta2^t in float32, whose error 1 - beta2^t magnifies
    expect(worst(a)).toBeLessThan(1e-6);
    expect(worst(b)).toBeLessThan(1e-5);
    a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(1e-5));
    adam.dispose();
    ref.dispose();
    [...ours.values(), ...theirs.values()].forEach((p) => p.dispose());
  });

  it('restores its state exactly: 3 steps + restore into a fresh optimizer + 3 steps == 6 steps, bit for bit', () => {
    const rng = new Rng(11);
    const w0 = { a: Array.from({ length: 5 }, () => rng.normal()), b: [0.25, -0.5] };
    const grads = Array.from({ length: 6 }, () => ({ a: Array.from({ length: 5 }, () => rng.normal()), b: [rng.normal(), rng.normal()] }));
    const straightP = params(w0);
    const straight = new Adam(straightP, cfg);
    grads.forEach((g) => step(straight, straightP, g));

    const firstP = params(w0);
    const first = new Adam(firstP, cfg);
    grads.slice(0, 3).forEach((g) => step(first, firstP, g));
    const saved = first.getState();
    const savedW = Object.fromEntries([...firstP].map(([k, v]) => [k, values(v)]));
    first.dispose();
    const againP = params(savedW);
    const again = new Adam(againP, cfg);
    again.setState(saved);
    grads.slice(3).forEach((g) => step(again, againP, g));

    for (const k of ['a', 'b']) expect(bits(values(againP.get(k)!))).toEqual(bits(values(straightP.get(k)!)));
    const s1 = straight.getState(),
      s2 = again.getState();
    expect([s2.step, s2.beta1Power, s2.beta2Power]).toEqual([s1.step, s1.beta1Power, s1.beta2Power]);
    for (const k of ['a', 'b']) {
      expect(bits(s2.m.get(k)!.data)).toEqual(bits(s1.m.get(k)!.data));
      expect(bits(s2.v.get(k)!.data)).toEqual(bits(s1.v.get(k)!.data));
    }
    expect(() => again.setState({ ...saved, m: new Map([['a', saved.m.get('a')!]]) }, 'opt.safetensors')).toThrow(
      "opt.safetensors: no 'm' moment for parameter(s) b",
    );
    expect(() => again.setState({ ...saved, v: new Map([...saved.v, ['c', saved.v.get('b')!]]) }, 'opt.safetensors')).toThrow(
      "opt.safetensors: 'v' moment(s) for unknown parameter(s) c",
    );
    expect(() =>
      again.setState(
        {
          ...saved,
          m: new Map([
            ['a', saved.m.get('b')!],
            ['b', saved.m.get('b')!],
          ]),
        },
        'opt.safetensors',
      ),
    ).toThrow("opt.safetensors: 'm' moment of 'a' must be float32[5], got float32[2]");
    straight.dispose();
    again.dispose();
    [...straightP.values(), ...firstP.values(), ...againP.values()].forEach((p) => p.dispose());
  });
});
