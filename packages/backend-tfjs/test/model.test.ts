/** compileTfjs as a whole: weights, leaks, errors, the kernel table; cpu and wasm. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, OPS, OP_NAMES, type OpDef, Rng, init, initWeights } from '@lctr/spec';
import { KERNELS, compileTfjs } from '../src/index.ts';
import { BACKENDS, bool, f32, i32, i64, nums, useBackend } from './helpers.ts';

const schema = {
  ids: { dtype: 'int32', shape: ['batch', 'seq'] },
  x: { dtype: 'float32', shape: ['batch', 4] },
  m: { dtype: 'bool', shape: ['batch', 'seq'] },
  y: { dtype: 'float32', shape: ['batch'] },
} as const;

/** A small model with every kind of path: embedding gather, masked top-k, dense layers, a scalar loss. */
function model() {
  const b = new GraphBuilder('m', schema);
  const emb = b.param('emb', [5, 4], init.normal(0.5));
  const w = b.param('dense/w', [8, 1]);
  const bias = b.param('dense/b', [1], init.zeros());
  const e = b.gather(emb, b.inputs.ids); // [batch, seq, 4]
  const score = b.reduceSum(b.mul(e, b.reshape(b.inputs.x, ['batch', 1, 4])), 2); // [batch, seq]
  const top = b.topk(score, 2, b.inputs.m);
  const picked = b.reduceMean(b.gatherAlongAxis(e, top.indices, 1), 1); // [batch, 4]
  const h = b.concat([picked, b.inputs.x], 1); // [batch, 8]
  const logit = b.reshape(b.add(b.matmul(h, w), bias), ['batch']);
  const p = b.sigmoid(logit);
  const eps = b.scalar(1e-7);
  const ll = b.add(
    b.mul(b.inputs.y, b.log(b.add(p, eps))),
    b.mul(b.sub(b.scalar(1), b.inputs.y), b.log(b.add(b.sub(b.scalar(1), p), eps))),
  );
  const loss = b.neg(b.reduceMean(ll, 0));
  return b.build({ loss, logit, top: top.indices, extra: b.tanh(b.reduceSum(emb, 1)) });
}

function batch(seed: number, B = 3, L = 6) {
  const rng = new Rng(seed);
  return {
    ids: i32(
      [B, L],
      Array.from({ length: B * L }, () => rng.int(5)),
    ),
    x: f32(
      [B, 4],
      Array.from({ length: B * 4 }, () => rng.normal()),
    ),
    m: bool(
      [B, L],
      Array.from({ length: B * L }, (_, i) => (i % L < 4 ? 1 : 0)),
    ),
    y: f32(
      [B],
      Array.from({ length: B }, (_, i) => i % 2),
    ),
  };
}

describe('the kernel table', () => {
  it('has a forward for every op, and a backward for every op with a differentiable input', () => {
    const missing = OP_NAMES.filter((op) => typeof KERNELS[op]?.forward !== 'function');
    expect(missing).toEqual([]);
    const needBackward = OP_NAMES.filter((op) => (OPS[op] as OpDef).inputs.some((s) => s.grad));
    expect(needBackward.filter((op) => typeof KERNELS[op].backward !== 'function')).toEqual([]);
    expect(Object.keys(KERNELS).sort()).toEqual([...OP_NAMES].sort());
  });
});

describe.each(BACKENDS)('compileTfjs on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('keeps one variable per parameter, seeded by spec initWeights, with unique tfjs names', () => {
    const g = model();
    const a = compileTfjs(g, { seed: 9 });
    const b = compileTfjs(g, { seed: 9 }); // same parameter paths: tfjs variable names must not clash
    expect([...a.variables.keys()]).toEqual(['emb', 'dense/w', 'dense/b']);
    expect(a.variables.get('emb')!.name).not.toBe(b.variables.get('emb')!.name);
    expect(a.variables.get('dense/w')!.trainable).toBe(true);
    const want = initWeights(g, 9);
    for (const [k, v] of a.getWeights()) {
      expect(v.shape).toEqual(want.get(k)!.shape);
      expect(Array.from(v.data)).toEqual(Array.from(want.get(k)!.data));
    }
    a.initWeights(10);
    expect(Array.from(a.getWeights().get('emb')!.data)).toEqual(Array.from(initWeights(g, 10).get('emb')!.data));
    const w = a.getWeights();
    w.set('dense/b', f32([1], [0.25]));
    b.setWeights(w);
    expect(nums(b.getWeights().get('dense/b')!)).toEqual([0.25]);
    const c = compileTfjs(g, { weights: a.getWeights() });
    expect(nums(a.run(batch(1)).top)).toEqual(nums(c.run(batch(1)).top));
    expect(nums(a.run(batch(1)).loss)).toEqual(nums(c.run(batch(1)).loss));
    a.dispose();
    c.dispose();
    b.dispose();
  });

  it('run leaves no tensors behind over 20 calls, with varying symbolic dims', () => {
    const m = compileTfjs(model(), { seed: 1 });
    const base = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let i = 0; i < 20; i++) {
      const r = m.run(batch(i, 2 + (i % 3), 5 + (i % 4)));
      expect(r.loss.shape).toEqual([]);
      expect(tf.memory().numTensors).toBe(base);
    }
    expect(tf.memory().numBytes).toBe(bytes);
    m.dispose();
  });

  it('trainStep: the tensor count is flat from the second Adam step on, and the loss falls', () => {
    const m = compileTfjs(model(), { seed: 1 });
    const opt = tf.train.adam(0.05);
    const inputs = batch(3);
    const first = m.trainStep(inputs, 'loss', opt);
    const afterFirst = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 20; i++) {
      last = m.trainStep(inputs, 'loss', opt);
      expect(tf.memory().numTensors).toBe(afterFirst);
    }
    expect(last).toBeLessThan(first);
    const base = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) m.gradients(inputs, 'loss');
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
    opt.dispose();
  });

  it("forward works inside a caller's tf.variableGrads and matches gradients()", () => {
    const m = compileTfjs(model(), { seed: 4 });
    const inputs = batch(5);
    const want = m.gradients(inputs, 'loss');
    const base = tf.memory().numTensors;
    const { feeds, bindings } = m.toFeeds(inputs);
    const vars = [...m.variables.values()];
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward(feeds, bindings);
      return out.loss as tf.Scalar; // 'extra' is computed but off the path: its saved tensors wait for releaseSaved
    }, vars);
    expect(value.dataSync()[0]).toBeCloseTo(nums(want.value)[0]!, 6);
    for (const [name, v] of m.variables) {
      const got = Array.from(grads[v.name]!.dataSync());
      const exp = nums(want.grads.get(name)!);
      got.forEach((g, i) => expect(g).toBeCloseTo(exp[i]!, 6));
    }
    tf.dispose([value, ...Object.values(grads), ...Object.values(feeds)]);
    m.releaseSaved();
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
  });

  it('an empty batch runs and differentiates (zeros), and outputs may be a parameter or an input itself', () => {
    const b = new GraphBuilder('e', {
      ids: { dtype: 'int32', shape: ['batch', 'seq'] },
      m: { dtype: 'bool', shape: ['batch', 'seq'] },
    } as const);
    const t = b.param('t', [5, 3], init.normal(1));
    const e = b.gather(t, b.inputs.ids);
    const top = b.topk(b.reduceSum(e, 2), 2, b.inputs.m);
    const p = b.gatherAlongAxis(e, top.indices, 1);
    const m = compileTfjs(b.build({ p, t, ids: b.inputs.ids, s: b.reduceSum(p, [0, 1, 2]) }));
    const empty = { ids: i32([0, 4], []), m: bool([0, 4], []) };
    const before = tf.memory().numTensors;
    const r = m.run(empty);
    expect(r.p.shape).toEqual([0, 2, 3]);
    expect(nums(r.s)).toEqual([0]);
    expect(r.ids.shape).toEqual([0, 4]);
    expect(nums(m.gradients(empty, 's').grads.get('t')!)).toEqual(new Array(15).fill(0));
    const one = { ids: i32([1, 4], [0, 1, 2, 3]), m: bool([1, 4], [1, 1, 1, 1]) };
    expect(
      nums(
        m
          .gradients(
            one,
            't',
            f32(
              [5, 3],
              Array.from({ length: 15 }, (_, i) => i),
            ),
          )
          .grads.get('t')!,
      ),
    ).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(nums(m.run(one).ids)).toEqual([0, 1, 2, 3]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it(
    "add hands one gradient to both inputs; a later contribution to one does not free the other's (tfjs disposes as it " + 'accumulates)',
    () => {
      // node order a, c, v, u: backprop reaches u = a + c first (a and c get add's dy), then v (c
      // accumulates its contribution), then a's slice reads its gradient. dp = [x ; x + 2]
      const b = new GraphBuilder('shared_dy', { x: { dtype: 'float32', shape: [2, 3] } } as const);
      const p = b.param('p', [4, 3]);
      const a = b.slice(p, [0], [2], [0]);
      const c = b.slice(p, [2], [4], [0]);
      const v = b.mul(c, b.scalar(2));
      const u = b.add(a, c);
      const y = b.add(b.reduceSum(b.mul(u, b.inputs.x), [0, 1]), b.reduceSum(v, [0, 1]));
      const m = compileTfjs(b.build({ y }));
      const x = [1, -2, 3, 0.5, 4, -1];
      const before = tf.memory().numTensors;
      expect(nums(m.gradients({ x: f32([2, 3], x) }, 'y').grads.get('p')!)).toEqual([...x, ...x.map((e) => e + 2)]);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    },
  );
  it('int64 inputs are narrowed to int32 and come back as BigInt64Array; values that do not fit are an error', () => {
    const b = new GraphBuilder('i64', { ids: { dtype: 'int64', shape: ['n'] } } as const);
    const t = b.param('t', [3, 2], init.constant(1));
    const g = b.build({ y: b.gather(t, b.inputs.ids), next: b.add(b.inputs.ids, b.constant(1, [], 'int64')) });
    const m = compileTfjs(g);
    const r = m.run({ ids: i64([2], [2, 0]) });
    expect(r.next.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(r.next.data as BigInt64Array)).toEqual([3n, 1n]);
    m.dispose();
    const big = new GraphBuilder('big', { x: { dtype: 'int64', shape: [1] } } as const);
    const g2 = big.build({ y: big.add(big.inputs.x, big.inputs.x) });
    const m2 = compileTfjs(g2);
    const before = tf.memory().numTensors;
    expect(() => m2.run({ x: { dtype: 'int64', shape: [1], data: BigInt64Array.of(3000000000n) } })).toThrow(
      "input 'x': int64 value 3000000000 at flat position 0 does not fit in int32, which tfjs uses for int64 (tfjs has no int64; valid " +
        '-2147483648..2147483647)',
    );
    expect(tf.memory().numTensors).toBe(before);
    m2.dispose();
    const c = new GraphBuilder('c', {});
    expect(() => compileTfjs(c.build({ y: c.constant([1, 2 ** 40], [2], 'int64') }))).toThrow(
      "constant 'constant_0': int64 value 1099511627776 at flat position 1 does not fit in int32, which tfjs uses for int64 (tfjs has no " +
        'int64)',
    );
  });

  describe("bad input surfaces the spec's messages, never a tfjs crash", () => {
    const g = model();
    const good = batch(2);
    type M = ReturnType<typeof compileTfjs<typeof schema, 'loss' | 'logit' | 'top' | 'extra'>>;
    const expectClean = (f: (m: M) => unknown, message: string) => {
      const m = compileTfjs(g);
      const before = tf.memory().numTensors;
      expect(() => f(m)).toThrow(message);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    };
    it('missing input', () => {
      const { ids: _ids, ...rest } = good;
      expectClean((m: M) => m.run(rest as never), "graph 'm' is missing input(s): ids (expected ids, x, m, y)");
      expectClean((m: M) => m.gradients(rest as never, 'loss'), "graph 'm' is missing input(s): ids (expected ids, x, m, y)");
      const sgd = tf.train.sgd(0.1);
      expectClean((m: M) => m.trainStep(rest as never, 'loss', sgd), "graph 'm' is missing input(s): ids (expected ids, x, m, y)");
      sgd.dispose();
    });
    it('wrong dtype and shape', () => {
      expectClean(
        (m: M) => m.run({ ...good, x: i32([3, 4], new Array(12).fill(0)) } as never),
        "input 'x': expected dtype float32 (float32[batch, 4]), got int32[3, 4]",
      );
      expectClean(
        (m: M) => m.run({ ...good, x: f32([2, 4], new Array(8).fill(0)) }),
        "input 'x': dim 0 ('batch') is 2, but 'batch' is 3 from ids dim 0",
      );
    });
    it('gather index out of range', () => {
      const ids = i32([3, 6], new Array(18).fill(0));
      ids.data[7] = 5;
      expectClean(
        (m: M) => m.run({ ...good, ids }),
        "input 'ids' holds index 5 at flat position 7, out of range for gather 'gather_0' on 'emb' with 5 entries along axis 0 (valid " +
          '0..4)',
      );
    });
    it('a computed index out of range is caught before tfjs sees it', () => {
      const b = new GraphBuilder('calc', { a: { dtype: 'int32', shape: [2] }, c: { dtype: 'int32', shape: [2] } } as const);
      const t = b.param('t', [4, 2]);
      const m = compileTfjs(b.build({ y: b.gather(t, b.add(b.inputs.a, b.inputs.c)) }));
      expect(nums(m.run({ a: i32([2], [1, 2]), c: i32([2], [2, 1]) }).y)).toHaveLength(4);
      const before = tf.memory().numTensors;
      expect(() => m.run({ a: i32([2], [1, 2]), c: i32([2], [2, 2]) })).toThrow(
        "node 'gather_1' (gather): index 4 at flat position 1 is out of range for 4 entries along axis 0 of 't' (valid 0..3)",
      );
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });
    it('a computed scatter index out of range is caught before tfjs sees it', () => {
      const b = new GraphBuilder('scatter', { u: { dtype: 'float32', shape: [1, 2] }, i: { dtype: 'int32', shape: [1, 2] } } as const);
      const m = compileTfjs(b.build({ y: b.scatterAlongAxis(b.inputs.u, b.add(b.inputs.i, b.constant(1, [], 'int32')), 3) }));
      expect(nums(m.run({ u: f32([1, 2], [1, 2]), i: i32([1, 2], [1, 1]) }).y)).toEqual([0, 0, 3]);
      const before = tf.memory().numTensors;
      expect(() => m.run({ u: f32([1, 2], [1, 2]), i: i32([1, 2], [0, 2]) })).toThrow(
        "node 'scatterAlongAxis_2' (scatterAlongAxis): index 3 at flat position 1 is out of range for 3 entries along axis 1 of the " +
          'scattered output (valid 0..2)',
      );
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });
    it('bad outputs, cotangents and losses', () => {
      expectClean(
        (m: M) => m.gradients(good, 'nope' as never),
        "gradients: graph 'm' has no output 'nope' (outputs: loss, logit, top, extra)",
      );
      expectClean((m: M) => m.gradients(good, 'top'), "gradients: output 'top' is int32; only float32 outputs have gradients");
      expectClean(
        (m: M) => m.gradients(good, 'logit', f32([2], [1, 1])),
        "gradients: cotangent for output 'logit' must be float32[3], got float32[2] with 2 values",
      );
      const sgd = tf.train.sgd(0.1);
      expectClean(
        (m: M) => m.trainStep(good, 'logit', sgd),
        "trainStep: loss output 'logit' must be a float32 scalar (one element), got float32[3]",
      );
      sgd.dispose();
    });
    it('bad weights and a disposed model', () => {
      expectClean(
        (m: M) => m.setWeights(new Map([...m.getWeights(), ['dense/w', f32([8], new Array(8).fill(0))]])),
        "weight 'dense/w': expected shape [8, 1], got [8]",
      );
      expectClean((m: M) => m.setWeights(new Map([...m.getWeights()].slice(1))), "weights for graph 'm' miss 1 parameter(s): emb");
      const m = compileTfjs(g);
      m.dispose();
      expect(() => m.run(good)).toThrow("tfjs model of graph 'm' was disposed");
    });
  });
});
