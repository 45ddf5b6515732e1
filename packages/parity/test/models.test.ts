/**
 * Baseline models (AvgPooling, DIN) across backends: training graphs forward and gradients of the
 * loss, serving graphs on ONNX Runtime, padding independence, and DIN attention against a
 * hand-written float64 reference.
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  GraphBuilder,
  type HostTensor,
  buildAvgPool,
  buildAvgPoolTrain,
  buildDin,
  buildDinTrain,
  dinAttention,
  initWeights,
} from '@lctr/spec';
import { gen, randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { checkParity } from '../src/index.ts';

const CFG = {
  dim: 4,
  categoryDim: 3,
  seqLen: 6,
  users: 12,
  targetItems: 30,
  sourceItems: 50,
  categories: 7,
  profile: [3, 5],
  hidden: [10, 6],
} as const;
const DIN_CFG = { ...CFG, attention: [8, 4] } as const;
const BATCH = 8;

/**
 * Seeded inputs: prefix masks with row 0 all padding in the target sequence, row 1 all padding in
 * the source sequence, row 2 all padding in both; padded positions hold random (valid) ids, so a
 * leak of padding would change the outputs.
 */
function feeds(g: Graph, seed: number): Record<string, HostTensor> {
  const inputs: Record<string, HostTensor> = randomFeeds(g, { batch: BATCH }, seed, {
    user: gen.ints(CFG.users),
    profile: (rng, s) => Array.from({ length: s[0]! * 2 }, (_, i) => rng.int(CFG.profile[i % 2]!)),
    candidate: gen.ints(CFG.targetItems),
    candidateCategory: gen.ints(CFG.categories),
    targetSeq: gen.ints(CFG.targetItems),
    targetSeqCategory: gen.ints(CFG.categories),
    targetSeqMask: gen.prefixMask(),
    sourceSeq: gen.ints(CFG.sourceItems),
    sourceSeqCategory: gen.ints(CFG.categories),
    sourceSeqMask: gen.prefixMask(),
    label: gen.ints(2),
  });
  const L = CFG.seqLen;
  const t = inputs.targetSeqMask!.data as Uint8Array,
    s = inputs.sourceSeqMask!.data as Uint8Array;
  t.fill(0, 0, L);
  s.fill(0, L, 2 * L);
  t.fill(0, 2 * L, 3 * L);
  s.fill(0, 2 * L, 3 * L);
  t.fill(1, 3 * L, 4 * L);
  s.fill(1, 3 * L, 4 * L); // row 3: full sequences
  return inputs;
}

/** A copy of the inputs with every padded id of both sequences replaced by another valid id. */
function scramblePadding(inputs: Record<string, HostTensor>): Record<string, HostTensor> {
  const out = { ...inputs };
  for (const [seq, vocab] of [
    ['targetSeq', CFG.targetItems],
    ['sourceSeq', CFG.sourceItems],
  ] as const) {
    const mask = inputs[`${seq}Mask`]!.data as Uint8Array;
    for (const [name, v] of [
      [seq, vocab],
      [`${seq}Category`, CFG.categories],
    ] as const) {
      const data = Int32Array.from(inputs[name]!.data as Int32Array, (id, i) => (mask[i] ? id : (id + 1 + (i % 3)) % v));
      out[name] = { ...inputs[name]!, data } as HostTensor;
    }
  }
  return out;
}

describe.each([
  ['avgpool', () => buildAvgPoolTrain(CFG), () => buildAvgPool(CFG)],
  ['din', () => buildDinTrain(DIN_CFG), () => buildDin(DIN_CFG)],
] as const)('%s', (name, train, serve) => {
  it('training graph: forward and gradients of the loss agree on ref-cpu, tfjs cpu/wasm and ONNX Runtime', async () => {
    const g = train();
    const weights = initWeights(g, 17);
    const r = await checkParity({ name: `${name}-train`, graph: g, weights, inputs: feeds(g, 3), gradOutput: 'loss' });
    expect(r.failures).toEqual([]);
    expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * g.params.length);
    expect(r.entries.filter((e) => e.kind === 'output').length).toBe(2 * 3);
  });

  it('serving graph: same prob as the training graph; ONNX Runtime agrees', async () => {
    const t = train(),
      s = serve();
    const weights = initWeights(t, 5);
    const inputs = feeds(t, 9);
    const { label: _label, ...serveInputs } = inputs;
    const viaTrain = runRef(t, weights, inputs).prob!.data;
    const viaServe = runRef(s, weights, serveInputs).prob!.data;
    expect(Array.from(viaServe)).toEqual(Array.from(viaTrain));
    expect(viaServe.every((p) => p > 0 && p < 1)).toBe(true);
    const r = await checkParity(
      { name: `${name}-serve`, graph: s, weights, inputs: serveInputs, gradOutput: null },
      { backends: ['onnx'] },
    );
    expect(r.failures).toEqual([]);
  });

  it('outputs and gradients do not depend on the ids at padded positions', () => {
    const g = train();
    const weights = initWeights(g, 23);
    const inputs = feeds(g, 4);
    const a = runRef(g, weights, inputs),
      b = runRef(g, weights, scramblePadding(inputs));
    expect(Array.from(b.prob!.data)).toEqual(Array.from(a.prob!.data));
    expect(b.loss!.data[0]).toBe(a.loss!.data[0]);
  });
});

describe('dinAttention values', () => {
  const schema = {
    k: { dtype: 'float32', shape: ['batch', 3, 2] },
    m: { dtype: 'bool', shape: ['batch', 3] },
    q: { dtype: 'float32', shape: ['batch', 2] },
  } as const;
  const b = new GraphBuilder('din-att', schema);
  const g = b.build({ y: dinAttention(b, 'att', b.inputs.k, b.inputs.m, b.inputs.q, { hidden: [3] }) });
  const inputs = {
    // row 0: two valid keys; row 1: no valid key, NaN in the padding
    k: { dtype: 'float32', shape: [2, 3, 2], data: Float32Array.from([1, 2, -1, 0.5, 9, 9, NaN, 1, NaN, NaN, 3, 4]) },
    m: { dtype: 'bool', shape: [2, 3], data: Uint8Array.from([1, 1, 0, 0, 0, 0]) },
    q: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([0.5, -1, 2, 2]) },
  } satisfies Record<string, HostTensor>;
  const t = (data: readonly number[], shape: number[]): HostTensor<'float32'> => ({
    dtype: 'float32',
    shape,
    data: Float32Array.from(data),
  });

  it('weights are raw MLP outputs, not softmax-normalised: a constant a = 2 gives twice the sum of the valid keys', () => {
    const w = new Map([
      ['att/l0/w', t(Array(24).fill(0), [8, 3])],
      ['att/l0/b', t([1, 1, 1], [3])],
      ['att/l1/w', t([0.5, 0.25, 0.25], [3, 1])],
      ['att/l1/b', t([1], [1])], // a = relu(1)·(.5 + .25 + .25) + 1 = 2
    ]);
    const y = runRef(g, w, inputs).y.data;
    expect(Array.from(y)).toEqual([2 * (1 - 1), 2 * (2 + 0.5), 0, 0]);
  });

  it('matches a float64 reference of Σ_j a([e_j, e_v, e_j - e_v, e_j ⊙ e_v]) e_j over valid j', () => {
    const w = initWeights(g, 8);
    const [W0, b0, W1, b1] = ['att/l0/w', 'att/l0/b', 'att/l1/w', 'att/l1/b'].map((n) => w.get(n)!.data);
    const want: number[] = [];
    for (let r = 0; r < 2; r++) {
      const out = [0, 0];
      const q = [inputs.q.data[2 * r]!, inputs.q.data[2 * r + 1]!];
      for (let j = 0; j < 3; j++) {
        if (!inputs.m.data[3 * r + j]) continue;
        const e = [inputs.k.data[6 * r + 2 * j]!, inputs.k.data[6 * r + 2 * j + 1]!];
        const f = [...e, ...q, e[0]! - q[0]!, e[1]! - q[1]!, e[0]! * q[0]!, e[1]! * q[1]!];
        let a = b1![0]!;
        for (let h = 0; h < 3; h++) {
          let z = b0![h]!;
          for (let i = 0; i < 8; i++) z += f[i]! * W0![i * 3 + h]!;
          a += Math.max(z, 0) * W1![h]!;
        }
        out[0] += a * e[0]!;
        out[1] += a * e[1]!;
      }
      want.push(...out);
    }
    const y = runRef(g, w, inputs).y.data;
    expect(y[2]).toBe(0);
    expect(y[3]).toBe(0);
    want.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 12));
    expect(Math.abs(want[0]!) + Math.abs(want[1]!)).toBeGreaterThan(1e-3); // the reference is not trivially zero
  });
});

describe('mini-batch-aware L2 (config l2)', () => {
  it('adds l2 x mean over the batch of the squared norms of the item embeddings used (valid positions only), on every backend', async () => {
    const plain = buildDinTrain({ ...DIN_CFG, l2: 0 });
    const reg = buildDinTrain({ ...DIN_CFG, l2: 0.5 });
    expect(reg.params.map((p) => p.name)).toEqual(plain.params.map((p) => p.name));
    const weights = initWeights(reg, 5);
    const inputs = feeds(reg, 9);
    const lossOf = (g: Graph) => runRef(g, weights, inputs as never).loss.data[0]!;
    // the hand-computed penalty: [item ‖ category] rows of the candidate and of every valid sequence position
    const row = (table: string, id: number) =>
      Array.from(weights.get(table)!.data.slice(id * weights.get(table)!.shape[1]!, (id + 1) * weights.get(table)!.shape[1]!));
    const sq = (v: number[]) => v.reduce((s, x) => s + x * x, 0);
    const ids = (name: string) => inputs[name]!.data as Int32Array;
    let total = 0;
    for (let r = 0; r < BATCH; r++) {
      total += sq(row('emb/targetItem', ids('candidate')[r]!)) + sq(row('emb/category', ids('candidateCategory')[r]!));
      for (const [seq, table] of [
        ['targetSeq', 'emb/targetItem'],
        ['sourceSeq', 'emb/sourceItem'],
      ] as const) {
        for (let j = 0; j < CFG.seqLen; j++) {
          if (!(inputs[`${seq}Mask`]!.data as Uint8Array)[r * CFG.seqLen + j]) continue;
          total += sq(row(table, ids(seq)[r * CFG.seqLen + j]!)) + sq(row('emb/category', ids(`${seq}Category`)[r * CFG.seqLen + j]!));
        }
      }
    }
    expect(lossOf(reg) - lossOf(plain)).toBeCloseTo((0.5 * total) / BATCH, 12);
    const r = await checkParity({ name: 'din-l2', graph: reg, weights, inputs, gradOutput: 'loss' });
    expect(r.failures).toEqual([]);
  });
});
