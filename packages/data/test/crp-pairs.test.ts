/**
 * CRP pair sampling (withCrpPairs): positives are two distinct valid positions of the right
 * sequence of their own sample, masks are false for short histories, negatives pair valid items of
 * two different users, the same batch always gets the same pairs, and errors name what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { CRP_FEATURES, type FeatureSchema, type HostTensor, type InputsOf, crpSchema } from '@lctr/spec';
import { type EventInput, EventLogBuilder, type EventLogMeta, SOURCE, TARGET } from '../src/event-log.ts';
import type { SampleSource } from '../src/source.ts';
import { buildSampleIndex, createSampleSource, sampleSchema, withCrpPairs } from '../src/samples.ts';

// ---- a hand-made source: ids say where they come from ----
// target item at position j of sample s: 1000 + 10 s + j; source item: 2000 + 10 s + j; padding holds 7777
const LT = 4,
  LS = 5;
const tId = (s: number, j: number) => 1000 + 10 * s + j;
const sId = (s: number, j: number) => 2000 + 10 * s + j;
const decode = (id: number) => ({ domain: id >= 2000 ? 'source' : 'target', sample: Math.floor((id % 1000) / 10), pos: id % 10 });

/** valid positions per sample (gaps on purpose: masks need not be prefixes) */
const T_VALID = [[0, 1, 2, 3], [1], [], [0, 2], [0, 1, 2], [3], [0, 1], []];
const S_VALID = [[0, 1, 2, 3, 4], [0, 4], [2], [], [0, 1], [1, 2, 3], [], [0, 3]];
const USERS = [0, 0, 1, 1, 2, 2, 3, 0];

const schema = {
  label: { dtype: 'float32', shape: ['batch'] },
  targetSeq: { dtype: 'int32', shape: ['batch', LT] },
  targetSeqMask: { dtype: 'bool', shape: ['batch', LT] },
  sourceSeq: { dtype: 'int32', shape: ['batch', LS] },
  sourceSeqMask: { dtype: 'bool', shape: ['batch', LS] },
} as const satisfies FeatureSchema;

function fakeSource(
  tValid = T_VALID,
  sValid = S_VALID,
  users = USERS,
  ids: { t?: (s: number, j: number) => number; s?: (s: number, j: number) => number } = {},
): SampleSource<typeof schema> {
  const n = users.length;
  const seq = (valid: number[][], L: number, id: (s: number, j: number) => number, idx: Int32Array) => {
    const ids = new Int32Array(idx.length * L).fill(7777),
      mask = new Uint8Array(idx.length * L);
    idx.forEach((s, b) => {
      for (const j of valid[s]!) {
        ids[b * L + j] = id(s, j);
        mask[b * L + j] = 1;
      }
    });
    return { ids, mask };
  };
  return {
    schema,
    size: n,
    labels: new Uint8Array(n),
    groups: Int32Array.from(users),
    trueProbability: new Float32Array(n).fill(0.25),
    batch(idx: Int32Array): InputsOf<typeof schema> {
      const t = seq(tValid, LT, ids.t ?? tId, idx),
        s = seq(sValid, LS, ids.s ?? sId, idx),
        B = idx.length;
      return {
        label: { dtype: 'float32', shape: [B], data: new Float32Array(B) },
        targetSeq: { dtype: 'int32', shape: [B, LT], data: t.ids },
        targetSeqMask: { dtype: 'bool', shape: [B, LT], data: t.mask },
        sourceSeq: { dtype: 'int32', shape: [B, LS], data: s.ids },
        sourceSeqMask: { dtype: 'bool', shape: [B, LS], data: s.mask },
      };
    },
  };
}

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const rowsOf = (t: HostTensor) =>
  Array.from({ length: t.shape[0]! }, (_, r) => [Number(t.data[2 * r]), Number(t.data[2 * r + 1])] as [number, number]);
const flagsOf = (t: HostTensor) => Array.from(t.data as Uint8Array, Boolean);

describe('withCrpPairs: positives', () => {
  const src = withCrpPairs(fakeSource(), { negatives: 64, seed: 5 });
  const idx = Int32Array.from([3, 0, 7, 1, 4, 2, 6, 5]); // a shuffled batch: rows follow the indices
  const b = src.batch(idx);

  it('schema = inner schema + crpSchema(M); size, labels, groups, trueProbability pass through', () => {
    expect(src.schema).toEqual({ ...schema, ...crpSchema(64) });
    expect(Object.keys(b)).toEqual([...Object.keys(schema), ...CRP_FEATURES]);
    expect(src.size).toBe(8);
    expect(Array.from(src.groups)).toEqual(USERS);
    expect(src.trueProbability![0]).toBe(0.25);
    expect(b.crpPt).toMatchObject({ dtype: 'int32', shape: [8, 2] });
    expect(b.crpPcMask).toMatchObject({ dtype: 'bool', shape: [8] });
    expect(b.crpPsNeg).toMatchObject({ dtype: 'int32', shape: [64, 2] });
    expect(b.crpPtNegMask).toMatchObject({ dtype: 'bool', shape: [64] });
    expect(b.crpPt.data).toBeInstanceOf(Int32Array);
    expect(b.crpPtMask.data).toBeInstanceOf(Uint8Array);
  });

  it("pt / ps: two distinct valid positions of that sample's own sequence; mask false (ids 0) under 2 valid items", () => {
    for (const [pairs, mask, valid, domain] of [
      [b.crpPt, b.crpPtMask, T_VALID, 'target'],
      [b.crpPs, b.crpPsMask, S_VALID, 'source'],
    ] as const) {
      const rows = rowsOf(pairs),
        flags = flagsOf(mask);
      idx.forEach((s, r) => {
        const v = valid[s]!;
        expect(flags[r]).toBe(v.length >= 2);
        if (v.length < 2) {
          expect(rows[r]).toEqual([0, 0]);
          return;
        }
        const [x, y] = rows[r]!.map(decode);
        for (const e of [x!, y!]) {
          expect(e.domain).toBe(domain);
          expect(e.sample).toBe(s);
          expect(v).toContain(e.pos);
        }
        expect(x!.pos).not.toBe(y!.pos);
      });
    }
  });

  it('pc: a valid target item then a valid source item of the same sample; mask false when either is empty', () => {
    const rows = rowsOf(b.crpPc),
      flags = flagsOf(b.crpPcMask);
    idx.forEach((s, r) => {
      const ok = T_VALID[s]!.length > 0 && S_VALID[s]!.length > 0;
      expect(flags[r]).toBe(ok);
      if (!ok) {
        expect(rows[r]).toEqual([0, 0]);
        return;
      }
      const [x, y] = rows[r]!.map(decode);
      expect(x).toMatchObject({ domain: 'target', sample: s });
      expect(y).toMatchObject({ domain: 'source', sample: s });
      expect(T_VALID[s]).toContain(x!.pos);
      expect(S_VALID[s]).toContain(y!.pos);
    });
  });

  it('every ordered pair of distinct valid positions comes up, about equally often, over many batches', () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 1200; seed++) {
      const r = rowsOf(withCrpPairs(fakeSource(), { negatives: 1, seed }).batch(Int32Array.from([4])).crpPt)[0]!;
      const key = r.map((id) => decode(id).pos).join('-');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    // sample 4 has target positions 0, 1, 2: six ordered pairs, 200 expected each
    expect([...counts.keys()].sort()).toEqual(['0-1', '0-2', '1-0', '1-2', '2-0', '2-1']);
    for (const c of counts.values()) expect(c).toBeGreaterThan(140);
  });

  it('repeated ids at distinct positions make a valid (x, x) pair: positions are distinct, ids need not be', () => {
    const same = withCrpPairs(fakeSource(T_VALID, S_VALID, USERS, { t: () => 42 }), { negatives: 2, seed: 1 }).batch(all(8));
    expect(flagsOf(same.crpPtMask)).toEqual(T_VALID.map((v) => v.length >= 2));
    rowsOf(same.crpPt).forEach((r, s) => expect(r).toEqual(T_VALID[s]!.length >= 2 ? [42, 42] : [0, 0]));
  });
});

describe('withCrpPairs: negatives', () => {
  const M = 500;
  const b = withCrpPairs(fakeSource(), { negatives: M, seed: 9 }).batch(all(8));

  it('each row pairs valid items of two different users, with the right domains; all rows valid', () => {
    for (const [pairs, mask, d1, d2] of [
      [b.crpPtNeg, b.crpPtNegMask, 'target', 'target'],
      [b.crpPsNeg, b.crpPsNegMask, 'source', 'source'],
      [b.crpPcNeg, b.crpPcNegMask, 'target', 'source'],
    ] as const) {
      expect(flagsOf(mask).every(Boolean)).toBe(true);
      for (const r of rowsOf(pairs)) {
        const [x, y] = r.map(decode);
        expect([x!.domain, y!.domain]).toEqual([d1, d2]);
        expect((d1 === 'target' ? T_VALID : S_VALID)[x!.sample]).toContain(x!.pos);
        expect((d2 === 'target' ? T_VALID : S_VALID)[y!.sample]).toContain(y!.pos);
        expect(USERS[x!.sample]).not.toBe(USERS[y!.sample]);
      }
    }
  });

  it('with replacement, over every eligible sample on each side', () => {
    const firsts = new Set(rowsOf(b.crpPcNeg).map((r) => decode(r[0]).sample));
    const seconds = new Set(rowsOf(b.crpPcNeg).map((r) => decode(r[1]).sample));
    expect([...firsts].sort()).toEqual(T_VALID.flatMap((v, s) => (v.length ? [s] : [])));
    expect([...seconds].sort()).toEqual(S_VALID.flatMap((v, s) => (v.length ? [s] : [])));
    expect(new Set(rowsOf(b.crpPtNeg).map((r) => r.join())).size).toBeLessThan(M); // repeats happen
  });

  it('no valid negative pair: ids 0 and mask false for that type only', () => {
    // one user only: no type has a pair
    const one = withCrpPairs(
      fakeSource(
        T_VALID,
        S_VALID,
        USERS.map(() => 3),
      ),
      { negatives: 4, seed: 1 },
    ).batch(all(8));
    for (const f of ['crpPtNeg', 'crpPsNeg', 'crpPcNeg'] as const) {
      expect(Array.from(one[f].data)).toEqual(new Array(8).fill(0));
      expect(flagsOf(one[`${f}Mask`])).toEqual([false, false, false, false]);
    }
    expect(flagsOf(one.crpPtMask)).toEqual(T_VALID.map((v) => v.length >= 2)); // positives do not need other users
    // batch [2, 3, 6, 7]: target items at samples 3 (user 1) and 6 (user 3): PT negatives exist
    const batch = withCrpPairs(fakeSource(), { negatives: 4, seed: 1 }).batch(Int32Array.from([2, 3, 6, 7]));
    expect(flagsOf(batch.crpPtNegMask).every(Boolean)).toBe(true);
    const onlyOneTargetUser = withCrpPairs(fakeSource(), { negatives: 4, seed: 1 }).batch(Int32Array.from([2, 3, 7]));
    // target items only at sample 3 (user 1): no PT negative; PC pairs 3's target with 7's source (user 0)
    expect(flagsOf(onlyOneTargetUser.crpPtNegMask)).toEqual([false, false, false, false]);
    expect(flagsOf(onlyOneTargetUser.crpPcNegMask)).toEqual([true, true, true, true]);
    for (const r of rowsOf(onlyOneTargetUser.crpPcNeg)) expect(r.map((id) => decode(id).sample)).toEqual([3, 7]);
  });
});

describe('withCrpPairs: PT and PS negatives never name one item twice (issue 19)', () => {
  // users share items: every target item is 1 or 2, so about half the old draws were (x, x)
  const shared = (s: number, j: number) => 1 + ((s + j) % 2);
  const M = 400;

  it('no PT row names one item twice, all rows stay valid and still pair different users; PC keeps equal ids (two tables)', () => {
    const b = withCrpPairs(fakeSource(T_VALID, S_VALID, USERS, { t: shared }), { negatives: M, seed: 9 }).batch(all(8));
    expect(flagsOf(b.crpPtNegMask).every(Boolean)).toBe(true);
    const rows = rowsOf(b.crpPtNeg);
    expect(rows.filter(([x, y]) => x === y)).toEqual([]);
    expect(new Set(rows.map((r) => r.join()))).toEqual(new Set(['1,2', '2,1']));
    // the same batch gives the same pairs
    expect(
      Array.from(withCrpPairs(fakeSource(T_VALID, S_VALID, USERS, { t: shared }), { negatives: M, seed: 9 }).batch(all(8)).crpPtNeg.data),
    ).toEqual(Array.from(b.crpPtNeg.data));
  });

  it('PS alike: a source item that users share', () => {
    // every source item is 2001 or 2002
    const b = withCrpPairs(fakeSource(T_VALID, S_VALID, USERS, { s: (s, j) => 2001 + ((s + j) % 2) }), { negatives: M, seed: 3 }).batch(
      all(8),
    );
    expect(rowsOf(b.crpPsNeg).filter(([x, y]) => x === y)).toEqual([]);
    expect(flagsOf(b.crpPsNegMask).every(Boolean)).toBe(true);
  });

  it('a batch whose only cross-user PT pairs name one item: every PT row is (0, 0) with mask false; PC rows stay', () => {
    const b = withCrpPairs(fakeSource(T_VALID, S_VALID, USERS, { t: () => 5 }), { negatives: 6, seed: 2 }).batch(all(8));
    expect(flagsOf(b.crpPtNegMask)).toEqual(new Array(6).fill(false));
    expect(Array.from(b.crpPtNeg.data)).toEqual(new Array(12).fill(0));
    expect(flagsOf(b.crpPcNegMask).every(Boolean)).toBe(true);
    expect(rowsOf(b.crpPcNeg).every(([x]) => x === 5)).toBe(true);
  });
});

describe('withCrpPairs: determinism', () => {
  const src = withCrpPairs(fakeSource(), { negatives: 32, seed: 7 });
  const crp = (t: ReturnType<typeof src.batch>) => CRP_FEATURES.map((f) => Array.from(t[f].data));

  it('the same indices give identical pairs, whatever was drawn before and from a fresh wrapper', () => {
    const first = crp(src.batch(all(8)));
    src.batch(Int32Array.from([5, 1, 2]));
    expect(crp(src.batch(all(8)))).toEqual(first);
    expect(crp(withCrpPairs(fakeSource(), { negatives: 32, seed: 7 }).batch(all(8)))).toEqual(first);
  });

  it('a different seed, or a different batch, gives different pairs', () => {
    const a = crp(src.batch(all(8)));
    expect(crp(withCrpPairs(fakeSource(), { negatives: 32, seed: 8 }).batch(all(8)))).not.toEqual(a);
    expect(crp(src.batch(Int32Array.from([1, 0, 2, 3, 4, 5, 6, 7])))).not.toEqual(a);
  });
});

describe('withCrpPairs: errors', () => {
  it('negatives and seed', () => {
    for (const n of [0, -3, 2.5, NaN]) {
      expect(() => withCrpPairs(fakeSource(), { negatives: n, seed: 1 })).toThrow(
        `withCrpPairs: negatives must be a positive integer, got ${n}`,
      );
    }
    expect(() => withCrpPairs(fakeSource(), { negatives: 4, seed: 0.5 })).toThrow('withCrpPairs: seed must be an integer, got 0.5');
  });

  it('a missing or mistyped sequence feature is named', () => {
    const { sourceSeqMask: _drop, ...noMask } = schema;
    expect(() => withCrpPairs({ ...fakeSource(), schema: noMask } as never, { negatives: 4, seed: 1 })).toThrow(
      "withCrpPairs: the source's schema has no 'sourceSeqMask' (CRP pairs are drawn from targetSeq/targetSeqMask and " +
        'sourceSeq/sourceSeqMask)',
    );
    expect(() =>
      withCrpPairs({ ...fakeSource(), schema: { ...schema, targetSeq: { dtype: 'int64', shape: ['batch', LT] } } } as never, {
        negatives: 4,
        seed: 1,
      }),
    ).toThrow("withCrpPairs: 'targetSeq' must be int32 [batch, L], got int64 [batch, 4]");
  });

  it('an inner schema that already holds CRP features', () => {
    expect(() =>
      withCrpPairs({ ...fakeSource(), schema: { ...schema, crpPt: { dtype: 'int32', shape: ['batch', 2] } } } as never, {
        negatives: 4,
        seed: 1,
      }),
    ).toThrow("withCrpPairs: the source's schema already has 'crpPt'; give it the schema without the CRP features (the wrapper adds them)");
  });
});

describe('withCrpPairs over a log-backed source', () => {
  const meta: EventLogMeta = { users: 3, items: { target: 10, source: 20 }, categories: 2, context: [], profile: [] };
  const ev = (user: number, timestamp: number, domain: 0 | 1, item: number, label = 1): EventInput => ({
    user,
    timestamp,
    domain,
    item,
    category: 0,
    label,
    context: [],
  });
  const lb = new EventLogBuilder(meta);
  // users 0 and 1: target and source history, then samples; user 2: one target event only
  for (const u of [0, 1]) {
    for (let t = 0; t < 4; t++) lb.push(ev(u, t, TARGET, 1 + 4 * u + t));
    for (let t = 0; t < 5; t++) lb.push(ev(u, t, SOURCE, 1 + 8 * u + t));
    lb.push(ev(u, 10, TARGET, 9, 0));
  }
  lb.push(ev(2, 3, TARGET, 5));
  const log = lb.finish();
  const { targetSeq, targetSeqMask, sourceSeq, sourceSeqMask, label } = sampleSchema(meta, {
    targetLength: 3,
    sourceLength: 4,
    lifelongLength: 2,
  });
  const inner = createSampleSource(
    log,
    buildSampleIndex(log),
    { targetSeq, targetSeqMask, sourceSeq, sourceSeqMask, label },
    { targetLength: 3, sourceLength: 4, lifelongLength: 2 },
  );

  it("pairs come from each sample's own histories, negatives across users", () => {
    const src = withCrpPairs(inner, { negatives: 16, seed: 3 });
    const all_ = all(src.size);
    const b = src.batch(all_);
    const seqRow = (t: HostTensor, m: HostTensor, L: number, r: number) =>
      Array.from(t.data as Int32Array)
        .slice(r * L, (r + 1) * L)
        .filter((_, j) => (m.data as Uint8Array)[r * L + j]);
    const rows = rowsOf(b.crpPt),
      flags = flagsOf(b.crpPtMask);
    for (let r = 0; r < src.size; r++) {
      const hist = seqRow(b.targetSeq, b.targetSeqMask, 3, r);
      expect(flags[r]).toBe(hist.length >= 2);
      if (flags[r]) for (const id of rows[r]!) expect(hist).toContain(id);
    }
    expect(flags.some(Boolean)).toBe(true);
    expect(flagsOf(b.crpPsNegMask).every(Boolean)).toBe(true);
    // user 0's source items are 1..5, user 1's are 9..13: a PS negative never pairs two of one user
    for (const [x, y] of rowsOf(b.crpPsNeg)) expect(x! <= 5).not.toBe(y! <= 5);
  });
});
