/** Host conversions, and the size the oracle must handle without materialising more than its values. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Rng, initWeights } from '@lctr/spec';
import { fromHost, gradRef, runRef, toHost } from '../src/index.ts';
import { bool, f32, i32, i64 } from './helpers.ts';

describe('host conversions', () => {
  it('toHost gives each dtype its storage; float32 keeps float64 precision', () => {
    const f = toHost({ dtype: 'float32', shape: [2], data: Float64Array.from([0.1, 1e-300]) });
    expect(f.data).toBeInstanceOf(Float64Array);
    expect(Array.from(f.data as Float64Array)).toEqual([0.1, 1e-300]);
    const i = toHost({ dtype: 'int32', shape: [2], data: Float64Array.from([-3, 7]) });
    expect(i.data).toEqual(Int32Array.from([-3, 7]));
    const l = toHost({ dtype: 'int64', shape: [2], data: Float64Array.from([-3, 2 ** 40]) });
    expect(l.data).toEqual(BigInt64Array.from([-3n, 2n ** 40n]));
    const b = toHost({ dtype: 'bool', shape: [1, 2], data: Float64Array.from([1, 0]) });
    expect(b.data).toEqual(Uint8Array.from([1, 0]));
    expect(b.shape).toEqual([1, 2]);
  });

  it('fromHost reads every storage as float64 numbers (bool as 0/1)', () => {
    expect(fromHost(f32([2], [0.5, -1]))).toEqual({ dtype: 'float32', shape: [2], data: Float64Array.from([0.5, -1]) });
    expect(fromHost({ dtype: 'float32', shape: [1], data: Float32Array.from([0.1]) }).data[0]).toBe(Math.fround(0.1));
    expect(fromHost(i32([2], [-3, 7])).data).toEqual(Float64Array.from([-3, 7]));
    expect(fromHost(i64([2], [-3, 2 ** 40])).data).toEqual(Float64Array.from([-3, 2 ** 40]));
    expect(fromHost({ dtype: 'bool', shape: [3], data: Uint8Array.from([0, 1, 2]) }).data).toEqual(Float64Array.from([0, 1, 1]));
  });

  it('fromHost rejects int64 values float64 cannot hold exactly', () => {
    expect(() => fromHost({ dtype: 'int64', shape: [2], data: BigInt64Array.from([0n, 2n ** 53n]) })).toThrow(
      'fromHost: int64 value 9007199254740992 at flat position 1 is beyond ±(2^53 - 1), which float64 cannot hold exactly',
    );
    expect(fromHost({ dtype: 'int64', shape: [1], data: BigInt64Array.from([-(2n ** 53n) + 1n]) }).data[0]).toBe(-(2 ** 53) + 1);
  });

  it('round-trips every dtype', () => {
    for (const t of [f32([2, 1], [1.25, -3]), i32([3], [1, -2, 3]), i64([1], [-9]), bool([2], [1, 0])]) {
      expect(toHost(fromHost(t))).toEqual(t);
    }
  });

  it('runRef outputs are fresh arrays (an identity op does not alias its input)', () => {
    const b = new GraphBuilder('t', { x: { dtype: 'float32', shape: [2] } });
    const g = b.build({ y: b.reshape(b.inputs.x, [2, 1]) });
    const x = f32([2], [1, 2]);
    const y = runRef(g, new Map(), { x }).y;
    y.data[0] = 99;
    expect(x.data[0]).toBe(1);
  });
});

describe('size', () => {
  /**
   * Float64 elements allocated while `f` runs. The ref-cpu kernels build every value in a fresh
   * Float64Array, so this counts the elements each op materialises: an op that blows up (a gather
   * gradient through a one-hot [8000, 20000] product, a broadcast that expands the table) shows
   * here as a count, where the former time bounds (1 s forward, 2 s backward) failed on a loaded
   * machine and passed a slow kernel on a fast one (issue 17, item 14). Timings belong in bench/.
   */
  function float64Allocated<T>(f: () => T): { result: T; elements: number } {
    const Real = globalThis.Float64Array;
    let elements = 0;
    class Counting extends Real {
      constructor(...args: ConstructorParameters<typeof Float64Array>) {
        super(...(args as unknown as [number]));
        elements += this.length;
      }
    }
    globalThis.Float64Array = Counting as unknown as Float64ArrayConstructor;
    try {
      return { result: f(), elements };
    } finally {
      globalThis.Float64Array = Real;
    }
  }

  it(
    'gathers [4, 2000] rows of 64 from a 20000-row table, matmuls and differentiates materialising only its values and their ' +
      'gradients',
    () => {
      const b = new GraphBuilder('big', { ids: { dtype: 'int32', shape: ['batch', 'n'] }, m: { dtype: 'bool', shape: ['batch', 'n'] } });
      const table = b.param('table', [20000, 64]);
      const w = b.param('w', [64, 64]);
      const q = b.param('q', [64]);
      const e = b.gather(table, b.inputs.ids); // [4, 2000, 64]
      const h = b.matmul(e, w); // [4, 2000, 64]
      const s = b.where(b.inputs.m, b.reduceSum(b.mul(h, q), -1), b.scalar(-1e9)); // [4, 2000]
      const { indices } = b.topk(s, 50, b.inputs.m);
      const picked = b.gatherAlongAxis(h, indices); // [4, 50, 64]
      const attention = b.reduceSum(b.mul(b.softmax(s), s), -1); // [4]
      const g = b.build({ y: b.add(b.reduceMean(b.mul(picked, picked), [1, 2]), attention) });
      const rng = new Rng(5);
      const ids = i32(
        [4, 2000],
        Array.from({ length: 8000 }, () => rng.int(20000)),
      );
      const m = bool(
        [4, 2000],
        Array.from({ length: 8000 }, () => (rng.next() < 0.8 ? 1 : 0)),
      );
      const weights = initWeights(g, 1);
      const forward = float64Allocated(() => runRef(g, weights, { ids, m }).y);
      const backward = float64Allocated(() => gradRef(g, weights, { ids, m }, 'y'));
      expect(forward.result.shape).toEqual([4]);
      expect(backward.result.paramGrads.get('table')!.some((v) => v !== 0)).toBe(true);
      // What the graph itself holds: the inputs and parameters read as float64, plus every node's output.
      let values = 8000 * 2 + [...weights.values()].reduce((n, t) => n + t.data.length, 0);
      for (const node of g.nodes)
        for (const o of node.outputs)
          values += o.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : d === 'batch' ? 4 : 2000), 1);
      expect(values).toBe(2_894_173); // table 1,280,000, gather and matmul outputs 512,000 each, the rest
      // measured: the forward materialises each value exactly once (2,894,173); the backward runs the
      // forward again and adds the cotangents and parameter gradients (9,182,518, 3.2x). A one-hot
      // gather gradient alone would be 8000 x 20000 = 160M elements (55x).
      expect(forward.elements).toBeLessThanOrEqual(1.5 * values);
      expect(backward.elements).toBeLessThanOrEqual(4 * values);
    },
  );
});
