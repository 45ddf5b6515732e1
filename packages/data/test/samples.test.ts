import { describe, expect, it } from 'vitest';
import type { FeatureSchema } from '@lctr/spec';
import { type EventInput, type EventLog, type EventLogMeta, EventLogBuilder, SOURCE, TARGET } from '../src/event-log.ts';
import { SAMPLE_FEATURES } from '../src/source.ts';
import { FeatureSchemaError, buildSampleIndex, checkSampleSchema, createSampleSource, sampleSchema } from '../src/samples.ts';

const meta: EventLogMeta = {
  users: 4,
  items: { target: 10, source: 20 },
  categories: 5,
  context: [
    { name: 'watch', cardinality: 4 },
    { name: 'type', cardinality: 3 },
  ],
  profile: [
    { name: 'age', cardinality: 5 },
    { name: 'gender', cardinality: 2 },
  ],
};

const ev = (
  user: number,
  timestamp: number,
  domain: 0 | 1,
  item: number,
  category: number,
  label: number,
  context: number[],
): EventInput => ({ user, timestamp, domain, item, category, label, context });

/**
 * The hand-built log, in arrival order. After sorting, positions are:
 * user 0: 0 t10 S item1 | 1 t15 S item4 | 2 t20 T item2 (+) | 3 t20 S item3 | 4 t30 T item5 (-) | 5 t40 T item6 (+) | 6 t40 S item7 (+)
 * user 1: no events;  user 2: 7 t5 T item4 (+);  user 3: 8 t1 T item9 (-) | 9 t2 T item8 (+)
 */
function handLog(): EventLog {
  const b = new EventLogBuilder(meta, 4);
  b.push(ev(0, 10, SOURCE, 1, 1, 1, [1, 0]));
  b.push(ev(3, 2, TARGET, 8, 4, 1, [2, 0])); // arrives before user 3's t1 event: time order wins
  b.push(ev(0, 20, TARGET, 2, 2, 1, [2, 1]));
  b.push(ev(0, 20, SOURCE, 3, 3, 0, [3, 2])); // same timestamp as the sample above, later arrival
  b.push(ev(0, 15, SOURCE, 4, 1, 0, [0, 1])); // arrives late, but happened earlier
  b.push(ev(2, 5, TARGET, 4, 0, 1, [0, 0]));
  b.push(ev(0, 30, TARGET, 5, 2, 0, [1, 1]));
  b.push(ev(3, 1, TARGET, 9, 4, 0, [1, 2]));
  b.push(ev(0, 40, TARGET, 6, 3, 1, [2, 2]));
  b.push(ev(0, 40, SOURCE, 7, 4, 1, [3, 0]));
  b.setProfile(0, [3, 1]);
  b.setProfile(2, [1, 0]);
  return b.finish();
}

const full = sampleSchema(meta, { targetLength: 2, sourceLength: 2, lifelongLength: 3 });
const small = { targetLength: 2, sourceLength: 2, lifelongLength: 3 } as const;
const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('buildSampleIndex', () => {
  const log = handLog();

  it('the log is in (user, timestamp, arrival) order', () => {
    expect(Array.from(log.item)).toEqual([1, 4, 2, 3, 5, 6, 7, 4, 9, 8]);
    expect(Array.from(log.domain)).toEqual([1, 1, 0, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('by default every target event is a sample, in log order', () => {
    expect(Array.from(buildSampleIndex(log))).toEqual([2, 4, 5, 7, 8, 9]);
    expect(buildSampleIndex(log)).toBeInstanceOf(Int32Array);
  });

  it('restricts by time range [from, to) and by users', () => {
    expect(Array.from(buildSampleIndex(log, { to: 20 }))).toEqual([7, 8, 9]);
    expect(Array.from(buildSampleIndex(log, { from: 20 }))).toEqual([2, 4, 5]);
    expect(Array.from(buildSampleIndex(log, { from: 2, to: 30 }))).toEqual([2, 7, 9]);
    expect(Array.from(buildSampleIndex(log, { users: [3, 2] }))).toEqual([7, 8, 9]);
    expect(Array.from(buildSampleIndex(log, { users: (u) => u % 2 === 0, from: 10 }))).toEqual([2, 4, 5]);
    expect(Array.from(buildSampleIndex(log, { users: [] }))).toEqual([]);
  });

  it('rejects bad options', () => {
    expect(() => buildSampleIndex(log, { users: [1, 4] })).toThrow('buildSampleIndex: users[1] must be a user id in 0..3, got 4');
    expect(() => buildSampleIndex(log, { from: NaN })).toThrow('buildSampleIndex: from must be a number, got NaN');
  });
});

describe('createSampleSource on a hand-built log', () => {
  const log = handLog();
  const index = buildSampleIndex(log); // events 2, 4, 5, 7, 8, 9
  const src = createSampleSource(log, index, full, small);
  const b = src.batch(all(6));
  const rows = (t: { data: ArrayLike<number> }, width: number) =>
    Array.from({ length: t.data.length / width }, (_, r) => Array.from(t.data).slice(r * width, (r + 1) * width));

  it('per-sample features: user, profile, candidate, category, label', () => {
    expect(src.size).toBe(6);
    expect(Array.from(b.user.data)).toEqual([0, 0, 0, 2, 3, 3]);
    expect(rows(b.profile, 2)).toEqual([
      [3, 1],
      [3, 1],
      [3, 1],
      [1, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(Array.from(b.candidate.data)).toEqual([2, 5, 6, 4, 9, 8]);
    expect(Array.from(b.candidateCategory.data)).toEqual([2, 2, 3, 0, 4, 4]);
    expect(b.label.data).toBeInstanceOf(Float32Array);
    expect(Array.from(b.label.data)).toEqual([1, 0, 1, 1, 0, 1]);
    expect(Array.from(src.labels)).toEqual([1, 0, 1, 1, 0, 1]);
    expect(Array.from(src.groups)).toEqual([0, 0, 0, 2, 3, 3]);
    expect(Array.from(src.positions)).toEqual([2, 4, 5, 7, 8, 9]);
    expect(src.trueProbability).toBeUndefined();
  });

  it('shapes and dtypes follow the schema, in its key order', () => {
    expect(Object.keys(b)).toEqual([...SAMPLE_FEATURES]);
    for (const f of SAMPLE_FEATURES) {
      expect(b[f].dtype).toBe(full[f].dtype);
      expect(b[f].shape).toEqual(full[f].shape.map((d) => (d === 'batch' ? 6 : d)));
    }
    expect(b.lifelongContext.shape).toEqual([6, 3, 2]);
  });

  it('short-term target sequence: positive target events strictly before, oldest first, right-padded', () => {
    // sample 0 (t20): nothing before; 1 (t30): event 2; 2 (t40): event 2 (event 4 is a negative)
    expect(rows(b.targetSeq, 2)).toEqual([
      [0, 0],
      [2, 0],
      [2, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(rows(b.targetSeqCategory, 2)).toEqual([
      [0, 0],
      [2, 0],
      [2, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(rows(b.targetSeqMask, 2)).toEqual([
      [0, 0],
      [1, 0],
      [1, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  });

  it('short-term source sequence: the most recent L source events, the same-timestamp later arrival left out', () => {
    // sample 0 (event 2, t20): events 0, 1 (event 3 has t20 but arrived later); samples 1, 2: last two of 0, 1, 3
    expect(rows(b.sourceSeq, 2)).toEqual([
      [1, 4],
      [4, 3],
      [4, 3],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(rows(b.sourceSeqCategory, 2)).toEqual([
      [1, 1],
      [1, 3],
      [1, 3],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(rows(b.sourceSeqMask, 2)).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  });

  it('lifelong sequence with context: shorter history than N is right-padded; users without history are all padding', () => {
    expect(rows(b.lifelongSeq, 3)).toEqual([
      [1, 4, 0],
      [1, 4, 3],
      [1, 4, 3],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(rows(b.lifelongSeqCategory, 3)).toEqual([
      [1, 1, 0],
      [1, 1, 3],
      [1, 1, 3],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(rows(b.lifelongMask, 3)).toEqual([
      [1, 1, 0],
      [1, 1, 1],
      [1, 1, 1],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(rows(b.lifelongContext, 6)).toEqual([
      [1, 0, 0, 1, 0, 0],
      [1, 0, 0, 1, 3, 2],
      [1, 0, 0, 1, 3, 2],
      [0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0],
    ]);
  });

  it("targetEvents 'all' and sourceEvents / lifelongEvents 'positive'", () => {
    const s2 = createSampleSource(
      log,
      index,
      {
        targetSeq: full.targetSeq,
        targetSeqMask: full.targetSeqMask,
        sourceSeq: full.sourceSeq,
        lifelongSeq: full.lifelongSeq,
        lifelongMask: full.lifelongMask,
      },
      { ...small, targetEvents: 'all', sourceEvents: 'positive', lifelongEvents: 'positive' },
    );
    const c = s2.batch(all(6));
    // sample 2 (t40) sees target events 2 and 4; sample 5 (user 3, t2) sees its negative at t1
    expect(rows(c.targetSeq, 2)).toEqual([
      [0, 0],
      [2, 0],
      [2, 5],
      [0, 0],
      [0, 0],
      [9, 0],
    ]);
    expect(rows(c.targetSeqMask, 2)).toEqual([
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 0],
      [0, 0],
      [1, 0],
    ]);
    // only event 0 of user 0's source events before t40 is positive (event 6 is at t40 but arrived later)
    expect(rows(c.sourceSeq, 2)).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(rows(c.lifelongSeq, 3)).toEqual([
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(rows(c.lifelongMask, 3)).toEqual([
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(s2.options).toEqual({
      targetLength: 2,
      sourceLength: 2,
      lifelongLength: 3,
      targetEvents: 'all',
      sourceEvents: 'positive',
      lifelongEvents: 'positive',
    });
  });

  it('L = 1 keeps only the most recent event', () => {
    const s1 = createSampleSource(log, index, { sourceSeq: { dtype: 'int32', shape: ['batch', 1] } }, { sourceLength: 1 });
    expect(Array.from(s1.batch(all(6)).sourceSeq.data)).toEqual([4, 3, 3, 0, 0, 0]);
  });

  it('batch(indices) returns the samples in the order asked, repeats included', () => {
    const picked = src.batch(Int32Array.from([5, 0, 2, 0]));
    const one = (s: number) => src.batch(Int32Array.of(s));
    for (const f of SAMPLE_FEATURES) {
      const width = b[f].data.length / 6;
      const expected = [5, 0, 2, 0].flatMap((s) => Array.from(one(s)[f].data));
      expect(Array.from(picked[f].data), f).toEqual(expected);
      expect(picked[f].shape[0]).toBe(4);
      expect(picked[f].data.length).toBe(4 * width);
    }
    expect(Array.from(picked.candidate.data)).toEqual([8, 2, 6, 2]);
    const empty = src.batch(new Int32Array(0));
    expect(empty.lifelongContext.shape).toEqual([0, 3, 2]);
  });

  it('builds only the features of the schema, typed by it', () => {
    const s = createSampleSource(log, index, {
      candidate: { dtype: 'int32', shape: ['batch'] },
      label: { dtype: 'float32', shape: ['batch'] },
    } as const);
    const x = s.batch(Int32Array.of(1, 2));
    const cand: Int32Array = x.candidate.data; // typed by the schema
    expect(Object.keys(x)).toEqual(['candidate', 'label']);
    expect(Array.from(cand)).toEqual([5, 6]);
    expect(s.options).toEqual({
      targetLength: 50,
      sourceLength: 50,
      lifelongLength: 2000,
      targetEvents: 'positive',
      sourceEvents: 'all',
      lifelongEvents: 'all',
    });
  });

  it('default lengths pad to 50 / 50 / 2000', () => {
    const s = createSampleSource(log, index, sampleSchema(meta));
    const x = s.batch(Int32Array.of(2));
    expect(x.lifelongSeq.shape).toEqual([1, 2000]);
    expect(Array.from(x.lifelongSeq.data.subarray(0, 4))).toEqual([1, 4, 3, 0]);
    expect(x.lifelongMask.data.reduce((a, v) => a + v, 0)).toBe(3);
    expect(x.targetSeqMask.data.reduce((a, v) => a + v, 0)).toBe(1);
    expect(x.sourceSeq.shape).toEqual([1, 50]);
  });

  it('gathers eventProbability into trueProbability', () => {
    const p = Float32Array.from({ length: log.size }, (_, i) => i / 16);
    const s = createSampleSource(log, index, { label: full.label }, { eventProbability: p });
    expect(Array.from(s.trueProbability!)).toEqual([2, 4, 5, 7, 8, 9].map((i) => i / 16));
    expect(() => createSampleSource(log, index, {}, { eventProbability: new Float32Array(3) })).toThrow(
      'createSampleSource: eventProbability must be a Float32Array with one value per event (10), got length 3',
    );
  });

  it('rejects bad indices and bad sample positions', () => {
    expect(() => src.batch(Int32Array.of(0, 6))).toThrow('batch: indices[1] is 6, out of range for a source of 6 samples (valid 0..5)');
    expect(() => src.batch(Int32Array.of(-1))).toThrow('batch: indices[0] is -1, out of range for a source of 6 samples (valid 0..5)');
    expect(() => createSampleSource(log, Int32Array.of(2, 3), {})).toThrow(
      'createSampleSource: sample 1 is event 3, a source-domain event (samples must be target-domain events: the candidate is a target ' +
        'item)',
    );
    expect(() => createSampleSource(log, Int32Array.of(10), {})).toThrow(
      'createSampleSource: sample 0 is event position 10, out of range for a log of 10 events (valid 0..9)',
    );
    expect(() => createSampleSource(log, index, {}, { lifelongLength: 0 })).toThrow(
      'sample options: lifelongLength must be a positive integer, got 0',
    );
  });
});

describe('sampleSchema', () => {
  it('gives the shapes for the log and options, for all or some features', () => {
    expect(sampleSchema(meta, { lifelongLength: 7 }, ['candidate', 'profile', 'lifelongContext', 'lifelongMask'])).toEqual({
      candidate: { dtype: 'int32', shape: ['batch'] },
      profile: { dtype: 'int32', shape: ['batch', 2] },
      lifelongContext: { dtype: 'int32', shape: ['batch', 7, 2] },
      lifelongMask: { dtype: 'bool', shape: ['batch', 7] },
    });
    const everything = sampleSchema(meta);
    expect(Object.keys(everything)).toEqual([...SAMPLE_FEATURES]);
    expect(everything.targetSeq.shape).toEqual(['batch', 50]);
    expect(everything.sourceSeqMask).toEqual({ dtype: 'bool', shape: ['batch', 50] });
    expect(everything.label).toEqual({ dtype: 'float32', shape: ['batch'] });
    expect(() => checkSampleSchema(everything, meta)).not.toThrow();
  });
});

describe('feature schema mismatch', () => {
  const log = handLog();
  const index = buildSampleIndex(log);
  const fails = (schema: FeatureSchema, message: string) => {
    expect(() => createSampleSource(log, index, schema)).toThrow(FeatureSchemaError);
    expect(() => createSampleSource(log, index, schema)).toThrow(message);
    expect(() => checkSampleSchema(schema, meta)).toThrow(message);
  };

  it('unknown feature', () => {
    fails(
      { user: { dtype: 'int32', shape: ['batch'] }, clicks: { dtype: 'int32', shape: ['batch'] } },
      "feature schema mismatch: feature 'clicks' is unknown to the sample source (known features: user, profile, candidate, " +
        'candidateCategory, targetSeq, targetSeqCategory, targetSeqMask, sourceSeq, sourceSeqCategory, sourceSeqMask, lifelongSeq, ' +
        'lifelongSeqCategory, lifelongMask, lifelongContext, label)',
    );
  });

  it('wrong dtype', () => {
    fails(
      { label: { dtype: 'int32', shape: ['batch'] } },
      "feature schema mismatch: feature 'label' must be float32 [batch], got dtype int32 (int32 [batch])",
    );
    fails(
      { targetSeqMask: { dtype: 'float32', shape: ['batch', 50] } },
      "feature schema mismatch: feature 'targetSeqMask' must be bool [batch, 50], got dtype float32 (float32 [batch, 50])",
    );
  });

  it('wrong rank', () => {
    fails(
      { targetSeq: { dtype: 'int32', shape: ['batch'] } },
      "feature schema mismatch: feature 'targetSeq' must be int32 [batch, 50], got rank 1 (int32 [batch]), expected rank 2",
    );
    fails(
      { lifelongContext: { dtype: 'int32', shape: ['batch', 2000] } },
      "feature schema mismatch: feature 'lifelongContext' must be int32 [batch, 2000, 2], got rank 2 (int32 [batch, 2000]), expected " +
        'rank 3',
    );
  });

  it('sequence lengths must be the static lengths of the options', () => {
    fails(
      { lifelongSeq: { dtype: 'int32', shape: ['batch', 1000] } },
      "feature schema mismatch: feature 'lifelongSeq' must be int32 [batch, 2000], got int32 [batch, 1000] (dim 1 must be the lifelong " +
        'sequence length, options.lifelongLength = 2000, got 1000)',
    );
    fails(
      { targetSeqMask: { dtype: 'bool', shape: ['batch', 'seq'] } },
      "feature schema mismatch: feature 'targetSeqMask' must be bool [batch, 50], got bool [batch, seq] (dim 1 must be the target " +
        'sequence length, options.targetLength = 50, got "seq")',
    );
    expect(() => createSampleSource(log, index, { sourceSeq: { dtype: 'int32', shape: ['batch', 50] } }, { sourceLength: 20 })).toThrow(
      "feature schema mismatch: feature 'sourceSeq' must be int32 [batch, 20], got int32 [batch, 50] (dim 1 must be the source sequence " +
        'length, options.sourceLength = 20, got 50)',
    );
  });

  it('profile and context widths come from the log', () => {
    fails(
      { profile: { dtype: 'int32', shape: ['batch', 3] } },
      "feature schema mismatch: feature 'profile' must be int32 [batch, 2], got int32 [batch, 3] (dim 1 must be the number of profile " +
        'columns of the log, 2 (age, gender), got 3)',
    );
    fails(
      { lifelongContext: { dtype: 'int32', shape: ['batch', 2000, 3] } },
      "feature schema mismatch: feature 'lifelongContext' must be int32 [batch, 2000, 2], got int32 [batch, 2000, 3] (dim 2 must be the " +
        'number of context columns of the log, 2 (watch, type), got 3)',
    );
  });

  it("dim 0 must be the symbolic 'batch'", () => {
    fails(
      { user: { dtype: 'int32', shape: [8] } },
      "feature schema mismatch: feature 'user' must be int32 [batch], got int32 [8] (dim 0 must be the symbolic dim 'batch', got 8)",
    );
  });
});
