/**
 * Ids at padded positions (SPEC, "Conventions every backend follows"): checked only at valid
 * positions, replaced by 0 before any lookup (prepareFeeds); the pairing of an id input with its
 * mask follows the schema naming convention (paddingMaskOf).
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  type HostTensor,
  GraphBuilder,
  buildDemo,
  buildDinTrain,
  buildIfa,
  buildKeepTrain,
  buildLifelong,
  buildLifelongTrain,
  checkFeeds,
  indexUses,
  paddingMaskOf,
  prepareFeeds,
} from '../src/index.ts';

/** id input -> its mask, for every input some gather reads. */
const pairs = (g: Graph) => Object.fromEntries(indexUses(g).map((u) => [u.input, u.mask ?? null]));

describe('paddingMaskOf: every model pairs each sequence id input with its mask', () => {
  it('lifelong (LCN) training and serving graphs', () => {
    const lifelong = {
      profile: null,
      candidate: null,
      candidateCategory: null,
      targetSeq: 'targetSeqMask',
      targetSeqCategory: 'targetSeqMask',
      sourceSeq: 'sourceSeqMask',
      sourceSeqCategory: 'sourceSeqMask',
      lifelongSeq: 'lifelongMask',
      lifelongSeqCategory: 'lifelongMask',
      lifelongContext: 'lifelongMask',
    };
    expect(pairs(buildLifelong({ module: 'lap' }))).toEqual(lifelong);
    expect(pairs(buildLifelongTrain({ module: 'lap' }))).toEqual(lifelong);
  });
  it('DIN, IFA, KEEP and the demo', () => {
    expect(pairs(buildDinTrain())).toEqual({
      profile: null,
      candidate: null,
      candidateCategory: null,
      targetSeq: 'targetSeqMask',
      targetSeqCategory: 'targetSeqMask',
      sourceSeq: 'sourceSeqMask',
      sourceSeqCategory: 'sourceSeqMask',
    });
    expect(pairs(buildIfa())).toEqual({
      user: null,
      profile: null,
      cand: 'candMask',
      candCategory: 'candMask',
      candCross: 'candMask',
      seq: 'seqMask',
      seqContext: 'seqMask',
      seqCategory: 'seqMask',
    });
    expect(pairs(buildKeepTrain())).toEqual({
      user: null,
      item: null,
      shop: null,
      category: null,
      behaviourItem: 'behaviourMask',
      behaviourShop: 'behaviourMask',
      behaviourCategory: 'behaviourMask',
    });
    expect(pairs(buildDemo())).toEqual({ user: null, history: 'historyMask', candidate: null });
  });
  it("needs a bool input named after the id input whose shape leads the id input's shape", () => {
    const b = new GraphBuilder('names', {
      fooBar: { dtype: 'int32', shape: ['batch', 3, 2] },
      fooMask: { dtype: 'bool', shape: ['batch', 3] },
      other: { dtype: 'int32', shape: ['batch', 4] },
      otherMask: { dtype: 'bool', shape: ['batch', 3] },
      plain: { dtype: 'int32', shape: ['batch', 3] },
      plainMask: { dtype: 'float32', shape: ['batch', 3] },
    } as const);
    const g = b.build({ y: b.inputs.plainMask });
    expect(paddingMaskOf(g, 'fooBar')).toBe('fooMask');
    expect(paddingMaskOf(g, 'other')).toBeUndefined(); // [batch, 3] does not lead [batch, 4]
    expect(paddingMaskOf(g, 'plain')).toBeUndefined(); // not bool
    expect(paddingMaskOf(g, 'nothing')).toBeUndefined();
  });
  it('applies to gathers only: a gatherAlongAxis index from a masked input is checked everywhere', () => {
    const b = new GraphBuilder('along', {
      x: { dtype: 'float32', shape: ['batch', 4] },
      pick: { dtype: 'int32', shape: ['batch', 2] },
      pickMask: { dtype: 'bool', shape: ['batch', 2] },
    } as const);
    const g = b.build({ y: b.gatherAlongAxis(b.inputs.x, b.inputs.pick, 1), m: b.inputs.pickMask });
    expect(indexUses(g)[0]!.mask).toBeUndefined();
    const feeds = {
      x: { dtype: 'float32' as const, shape: [1, 4], data: new Float32Array(4) },
      pick: i32([1, 2], [0, -1]),
      pickMask: bool([1, 2], [1, 0]),
    };
    expect(() => checkFeeds(g, feeds)).toThrow("input 'pick' holds index -1 at flat position 1, out of range for gatherAlongAxis");
  });
});

/** A sequence lookup: seq [batch, L] with seqMask, ctx [batch, L, 2] (column 1 read), cand [batch] unmasked. */
function graph() {
  const b = new GraphBuilder('pad', {
    seq: { dtype: 'int32', shape: ['batch', 3] },
    seqContext: { dtype: 'int64', shape: ['batch', 3, 2] },
    seqMask: { dtype: 'bool', shape: ['batch', 3] },
    cand: { dtype: 'int32', shape: ['batch'] },
  } as const);
  const items = b.gather(b.param('item', [10, 2]), b.inputs.seq);
  const ctx = b.gather(b.param('ctx', [4, 2]), b.gather(b.inputs.seqContext, b.constant(1, [], 'int32'), 2));
  const m = b.reshape(b.inputs.seqMask, ['batch', 3, 1]);
  const pooled = b.reduceSum(b.where(m, b.add(items, ctx), b.scalar(0)), [1]);
  return b.build({ y: b.add(pooled, b.gather(b.param('candItem', [5, 2]), b.inputs.cand)) });
}
const i32 = (shape: number[], v: number[]): HostTensor<'int32'> => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const i64 = (shape: number[], v: number[]): HostTensor<'int64'> => ({ dtype: 'int64', shape, data: BigInt64Array.from(v, BigInt) });
const bool = (shape: number[], v: number[]): HostTensor<'bool'> => ({ dtype: 'bool', shape, data: Uint8Array.from(v) });
// two rows: the first has 2 valid positions, the second none
const feeds = (seq: number[], ctx: number[], cand = [4, 0]) => ({
  seq: i32([2, 3], seq),
  seqContext: i64([2, 3, 2], ctx),
  seqMask: bool([2, 3], [1, 1, 0, 0, 0, 0]),
  cand: i32([2], cand),
});

describe('checkFeeds checks ids at valid positions only', () => {
  const g = graph();
  it('accepts anything at padded positions: -1, a stale id, 2^31 - 1', () => {
    expect(checkFeeds(g, feeds([1, 9, -1, -1, 12, 2147483647], [0, 3, 7, 3, -1, -5, 0, 9, 1, 2147483647, -2147483648, -1]))).toEqual({
      batch: 2,
    });
  });
  it('names the input, the position, the mask and the table size for an id out of range at a valid position', () => {
    expect(() => checkFeeds(g, feeds([1, 10, 0, 0, 0, 0], new Array(12).fill(0)))).toThrow(
      "input 'seq' holds index 10 at flat position 1 (valid in 'seqMask'), out of range for gather 'gather_0' on 'item' with 10 entries " +
        'along axis 0 (valid 0..9)',
    );
    expect(() => checkFeeds(g, feeds([0, 0, 0, 0, 0, 0], [0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(
      "input 'seqContext' holds index -1 at flat position 3 (column 1 of the last axis, valid in 'seqMask'), out of range for gather " +
        "'gather_3' on 'ctx' with 4 entries along axis 0 (valid 0..3)",
    );
    // an input with no mask is checked everywhere
    expect(() => checkFeeds(g, feeds([0, 0, 0, 0, 0, 0], new Array(12).fill(0), [0, -1]))).toThrow(
      "input 'cand' holds index -1 at flat position 1, out of range for gather 'gather_9' on 'candItem' with 5 entries along axis 0 " +
        '(valid 0..4)',
    );
  });
});

describe('prepareFeeds replaces ids at padded positions by 0', () => {
  const g = graph();
  it('zeroes every padded position of a masked id input (int32 and int64), keeps valid ones, copies only what changes', () => {
    const given = feeds([1, 9, -1, 7, 12, 2147483647], [0, 3, 7, 3, -1, -5, 0, 9, 1, 2147483647, -2147483648, -1]);
    const { bindings, feeds: out } = prepareFeeds(g, given);
    expect(bindings).toEqual({ batch: 2 });
    expect(Array.from(out['seq']!.data as Int32Array)).toEqual([1, 9, 0, 0, 0, 0]);
    expect(Array.from(out['seqContext']!.data, Number)).toEqual([0, 3, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(out['seqContext']!.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(given.seq.data)).toEqual([1, 9, -1, 7, 12, 2147483647]); // the caller's tensors are not written to
    expect(out['seqMask']).toBe(given.seqMask);
    expect(out['cand']).toBe(given.cand);
    // already 0 at every padded position: passed on as it is
    const clean = feeds([1, 9, 0, 0, 0, 0], new Array(12).fill(0));
    expect(prepareFeeds(g, clean).feeds['seq']).toBe(clean.seq);
  });
  it('still refuses an id out of range at a valid position', () => {
    expect(() => prepareFeeds(g, feeds([1, -1, 0, 0, 0, 0], new Array(12).fill(0)))).toThrow(
      "input 'seq' holds index -1 at flat position 1 (valid in 'seqMask')",
    );
  });
});
