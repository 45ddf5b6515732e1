/** Synthetic requests (IFA): determinism, shapes and padding, labels, the redundancy effect, Bayes AUCs, the request source. */
import { describe, expect, it } from 'vitest';
import { SOURCE, TARGET } from '../src/event-log.ts';
import { FeatureSchemaError } from '../src/samples/schema.ts';
import {
  REQUEST_FEATURES,
  checkRequestSchema,
  createRequestSource,
  requestModelSizes,
  requestSchema,
} from '../src/samples/request-source.ts';
import { SMALL_WORLD_CONFIG, generateWorld } from '../src/synthetic/index.ts';
import { exactAuc } from '../src/synthetic/auc.ts';
import {
  DEFAULT_REQUEST_CONFIG,
  REQUEST_CROSS_COLUMNS,
  RequestConfigError,
  type RequestSet,
  crossBucket,
  generateRequest,
  generateRequests,
  requestContext,
  requestCount,
  resolveRequestConfig,
} from '../src/synthetic/requests.ts';

const world = generateWorld({ ...SMALL_WORLD_CONFIG, users: 200 }, 4);
const C = 12;
const ctx = requestContext(world, { candidates: C, requestsPerUser: 6, evalRequestsPerUser: 3 }, 7);
const train = generateRequests(ctx, 'train');
const evalSet = generateRequests(ctx, 'eval');

const columns = (s: RequestSet) => [
  s.user,
  s.time,
  s.count,
  s.historyEnd,
  s.item,
  s.topic,
  s.category,
  s.mask,
  s.cross,
  s.impression,
  s.click,
  s.pImpression,
  s.pClick,
  s.pClickDrawn,
  s.sameTopicImpressed,
];
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('request config', () => {
  it('fills defaults and names the bad field, the expectation and the value', () => {
    expect(resolveRequestConfig()).toEqual(DEFAULT_REQUEST_CONFIG);
    const err = (p: object) => {
      try {
        resolveRequestConfig(p, world);
      } catch (e) {
        expect(e).toBeInstanceOf(RequestConfigError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ candidatez: 3 })).toMatch(/^request config: unknown field 'candidatez'; known fields: candidates, minCandidates, /);
    expect(err({ candidates: 0 })).toBe('request config: candidates must be an integer >= 1, got 0');
    expect(err({ candidates: 8, minCandidates: 9 })).toBe('request config: minCandidates must be <= candidates (8), got 9');
    expect(err({ candidateInterestShare: 1.5 })).toBe('request config: candidateInterestShare must be a number in [0, 1], got 1.5');
    expect(err({ redundancy: -1 })).toBe('request config: redundancy must be a finite number >= 0, got -1');
    expect(err({ users: 201 })).toBe("request config: users must be <= the world's users (200), or 0 for all, got 201");
    expect(err({ candidates: 101 })).toBe(
      "request config: candidates must be <= half the world's target items (100) so distinct candidates are easy to draw, got 101",
    );
    expect(() => requestContext(world, {}, -2)).toThrow('request config: seed must be an integer in 0..4294967295, got -2');
    expect(() => generateRequest(ctx, 'train', 1200)).toThrow(
      'generateRequest: index must be an integer in 0..1199 (train split), got 1200',
    );
  });

  it('bucketises counts by powers of two', () => {
    expect([0, 1, 2, 3, 4, 7, 8, 63, 64, 1000].map((n) => crossBucket(n, 8))).toEqual([0, 1, 2, 2, 3, 3, 4, 6, 7, 7]);
  });
});

describe('requests', () => {
  it('are deterministic: same seed, same bytes; another seed, other requests; one request = its row of the set', () => {
    const again = generateRequests(requestContext(world, { candidates: C, requestsPerUser: 6, evalRequestsPerUser: 3 }, 7), 'train');
    columns(train).forEach((a, k) => expect(bytes(columns(again)[k]!).equals(bytes(a)), `column ${k}`).toBe(true));
    const other = generateRequests(requestContext(world, { candidates: C, requestsPerUser: 6, evalRequestsPerUser: 3 }, 8), 'train');
    expect(bytes(other.item).equals(bytes(train.item))).toBe(false);
    const q = generateRequest(ctx, 'train', 77),
      o = 77 * C;
    expect([q.user, q.time, q.items.length]).toEqual([train.user[77], train.time[77], train.count[77]]);
    expect(Array.from(q.items)).toEqual(Array.from(train.item.subarray(o, o + q.items.length)));
    expect(Array.from(q.click)).toEqual(Array.from(train.click.subarray(o, o + q.items.length)));
  });

  it('hold between C/2 and C distinct candidates, padding all zeros, users and times by split', () => {
    expect([train.size, evalSet.size]).toEqual([200 * 6, 200 * 3]);
    expect(requestCount(ctx, 'eval')).toBe(600);
    const seen = new Set<number>();
    for (const s of [train, evalSet]) {
      for (let r = 0; r < s.size; r++) {
        const m = s.count[r]!;
        seen.add(m);
        expect(m).toBeGreaterThanOrEqual(C / 2);
        expect(m).toBeLessThanOrEqual(C);
        expect(new Set(s.item.subarray(r * C, r * C + m)).size).toBe(m);
        expect(s.user[r]).toBe(Math.floor(r / (s.split === 'train' ? 6 : 3)));
        for (let k = 0; k < C; k++) {
          const i = r * C + k;
          expect(s.mask[i]).toBe(k < m ? 1 : 0);
          if (k >= m) {
            expect([
              s.item[i],
              s.topic[i],
              s.category[i],
              s.impression[i],
              s.click[i],
              s.pImpression[i],
              s.pClick[i],
              s.cross[i * 2],
              s.cross[i * 2 + 1],
            ]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
          } else {
            expect(s.topic[i]).toBe(world.truth.targetItemTopic[s.item[i]!]);
            expect(s.category[i]).toBe(world.truth.topicCategory[s.topic[i]!]);
          }
        }
        // time split without leakage
        if (s.split === 'train') expect(s.time[r]).toBeLessThan(world.splitTime);
        else expect(s.time[r]).toBeGreaterThanOrEqual(world.splitTime);
      }
    }
    expect(seen.size).toBe(C / 2 + 1); // every size from C/2 to C occurs
  });

  it('have consistent labels: click only where impressed, probabilities in (0, 1)', () => {
    for (const s of [train, evalSet]) {
      for (let i = 0; i < s.size * C; i++) {
        if (s.click[i]) expect(s.impression[i]).toBe(1);
        if (s.mask[i]) {
          expect(s.pImpression[i]! > 0 && s.pImpression[i]! < 1).toBe(true);
          expect(s.pClick[i]! > 0 && s.pClick[i]! < 1).toBe(true);
        }
      }
    }
    expect(train.stats.impressions).toBeGreaterThan(0.3 * train.stats.candidates);
    expect(train.stats.ctr).toBeGreaterThan(0.2);
    expect(train.stats.ctr).toBeLessThan(0.6);
  });

  it("pClick is the exact expectation over the other same-topic candidates' impressions (vs enumeration)", () => {
    const c = ctx.config;
    let checked = 0;
    for (let r = 0; r < 300 && checked < 40; r++) {
      const q = generateRequest(ctx, 'train', r);
      for (let k = 0; k < q.items.length; k++) {
        const others = [...q.topics.keys()].filter((j) => j !== k && q.topics[j] === q.topics[k]);
        if (others.length < 2) continue;
        // base logit from the drawn probability: pd = σ(base − r n)
        const base = Math.log(q.pClickDrawn[k]! / (1 - q.pClickDrawn[k]!)) + c.redundancy * q.sameTopicImpressed[k]!;
        let e = 0;
        for (let mask = 0; mask < 1 << others.length; mask++) {
          let p = 1,
            n = 0;
          others.forEach((j, b) => {
            const on = (mask >> b) & 1;
            p *= on ? q.pImpression[j]! : 1 - q.pImpression[j]!;
            n += on;
          });
          e += p / (1 + Math.exp(-(base - c.redundancy * n)));
        }
        expect(q.pClick[k]).toBeCloseTo(e, 5);
        expect(q.sameTopicImpressed[k]).toBe(others.filter((j) => q.impression[j]).length);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(40);
  });

  it('show the redundancy effect: clicks fall with the number of other same-topic impressions', () => {
    // the same requests without redundancy: identical candidates and impressions, clicks drawn from the same uniforms
    const flat = generateRequests(requestContext(world, { ...ctx.config, redundancy: 0 }, 7), 'train');
    expect(bytes(flat.impression).equals(bytes(train.impression))).toBe(true);
    const rate = new Map<number, { with: number; without: number; n: number }>();
    for (let i = 0; i < train.size * C; i++) {
      if (!train.impression[i]) continue;
      expect(train.click[i]! <= flat.click[i]!).toBe(true); // a click with redundancy is a click without
      const k = Math.min(3, train.sameTopicImpressed[i]!);
      const e = rate.get(k) ?? { with: 0, without: 0, n: 0 };
      e.with += train.click[i]!;
      e.without += flat.click[i]!;
      e.n++;
      rate.set(k, e);
    }
    const ratio = [0, 1, 2, 3].map((k) => rate.get(k)!.with / rate.get(k)!.without);
    expect(ratio[0]).toBe(1);
    // each extra same-topic impression multiplies the odds by e^-0.7: the click share kept falls
    expect(ratio[1]).toBeLessThan(0.85);
    expect(ratio[2]).toBeLessThan(ratio[1]!);
    expect(ratio[3]).toBeLessThan(ratio[2]!);
    expect(rate.get(3)!.n).toBeGreaterThan(100);
  });

  it('have Bayes AUCs well above 0.5 for every target, recomputed from the arrays', () => {
    for (const s of [train, evalSet]) {
      const valid: number[] = [],
        imp: number[] = [];
      for (let i = 0; i < s.size * C; i++)
        if (s.mask[i]) {
          valid.push(i);
          if (s.impression[i]) imp.push(i);
        }
      expect(s.stats.bayesAuc.impression).toBe(exactAuc(s.impression, s.pImpression, valid));
      expect(s.stats.bayesAuc.click).toBe(exactAuc(s.click, s.pClick, imp));
      expect(s.stats.bayesAuc.impression).toBeGreaterThan(0.75);
      expect(s.stats.bayesAuc.click).toBeGreaterThan(0.72);
      expect(s.stats.bayesAuc.ranking).toBeGreaterThan(0.8);
      // knowing the drawn impressions (which a model does not see) helps only a little
      expect(exactAuc(s.click, s.pClickDrawn, imp)).toBeGreaterThan(s.stats.bayesAuc.click);
    }
  });

  it('cross features count the category in the recent source events and the earlier target clicks', () => {
    const log = world.log,
      c = ctx.config;
    for (const r of [0, 5, 333, 1100]) {
      const u = train.user[r]!,
        t = train.time[r]!;
      const src: number[] = [];
      for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) if (log.domain[i] === SOURCE && log.timestamp[i]! < t) src.push(i);
      const recent = src.slice(-c.crossWindow);
      for (let k = 0; k < train.count[r]!; k++) {
        const cat = train.category[r * C + k]!;
        const srcCat = world.config.sharedCategories ? cat : cat + world.log.meta.categories / 2;
        const n0 = recent.filter((i) => log.category[i] === srcCat).length;
        let n1 = 0;
        for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++)
          if (log.domain[i] === TARGET && log.label[i] === 1 && log.timestamp[i]! < t && log.category[i] === cat) n1++;
        expect([train.cross[(r * C + k) * 2], train.cross[(r * C + k) * 2 + 1]]).toEqual([
          crossBucket(n0, c.crossBuckets),
          crossBucket(n1, c.crossBuckets),
        ]);
      }
    }
  });
});

describe('request source', () => {
  const N = 64;
  const src = createRequestSource(train, { seqLen: N });
  const dims = { candidates: C, seqLen: N, profile: 2, cross: REQUEST_CROSS_COLUMNS, context: 2 };

  it('batches the training schema: shapes, dtypes, ids + 1, padding zero', () => {
    expect(Object.keys(src.schema)).toEqual([...REQUEST_FEATURES]);
    const idx = Int32Array.from([3, 0, 1199]);
    const b = src.batch(idx) as unknown as Record<string, { dtype: string; shape: number[]; data: ArrayLike<number> }>;
    const want = requestSchema(dims) as unknown as Record<string, { dtype: string; shape: (number | string)[] }>;
    for (const f of REQUEST_FEATURES) {
      expect(b[f]!.dtype, f).toBe(want[f]!.dtype);
      expect(b[f]!.shape, f).toEqual(want[f]!.shape.map((d) => (d === 'batch' ? 3 : d)));
    }
    idx.forEach((r, row) => {
      expect(b['user']!.data[row]).toBe(train.user[r]);
      expect([b['profile']!.data[row * 2], b['profile']!.data[row * 2 + 1]]).toEqual([
        world.log.profile[0]![train.user[r]!],
        world.log.profile[1]![train.user[r]!],
      ]);
      for (let k = 0; k < C; k++) {
        const i = r * C + k,
          o = row * C + k,
          valid = train.mask[i]!;
        expect(b['candMask']!.data[o]).toBe(valid);
        expect(b['cand']!.data[o]).toBe(valid ? train.item[i]! + 1 : 0);
        expect(b['candCategory']!.data[o]).toBe(valid ? train.category[i]! + 1 : 0);
        expect(b['impression']!.data[o]).toBe(train.impression[i]);
        expect(b['click']!.data[o]).toBe(train.click[i]);
        expect([b['candCross']!.data[o * 2], b['candCross']!.data[o * 2 + 1]]).toEqual([train.cross[i * 2], train.cross[i * 2 + 1]]);
      }
    });
  });

  it('fills the sequence with the N most recent source events strictly before the request, oldest first, right-padded', () => {
    const log = world.log;
    const rows = [0, 17, 600, 1199];
    const b = src.batch(Int32Array.from(rows)) as unknown as Record<string, { data: ArrayLike<number> }>;
    let padded = 0;
    rows.forEach((r, row) => {
      const u = train.user[r]!,
        t = train.time[r]!;
      const before: number[] = [];
      for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) if (log.domain[i] === SOURCE && log.timestamp[i]! < t) before.push(i);
      const want = before.slice(-N);
      for (let j = 0; j < N; j++) {
        const o = row * N + j,
          p = want[j];
        expect([
          b['seq']!.data[o],
          b['seqCategory']!.data[o],
          b['seqMask']!.data[o],
          b['seqContext']!.data[o * 2],
          b['seqContext']!.data[o * 2 + 1],
        ]).toEqual(
          p === undefined ? [0, 0, 0, 0, 0] : [log.item[p]! + 1, log.category[p]! + 1, 1, log.context[0]![p]!, log.context[1]![p]!],
        );
      }
      if (want.length < N) padded++;
    });
    expect(padded).toBe(0); // the small world's histories exceed 64 events
    // a long N pads: the longest history of the small world is 400 events
    const long = createRequestSource(train, { seqLen: 512 }).batch(Int32Array.from([0])) as unknown as Record<string, { data: Uint8Array }>;
    const m = long['seqMask']!.data;
    const valid = m.reduce((a, x) => a + x, 0);
    expect(valid).toBeGreaterThan(100);
    expect(valid).toBeLessThan(512);
    expect(Array.from(m.subarray(0, valid)).every((x) => x === 1) && Array.from(m.subarray(valid)).every((x) => x === 0)).toBe(true);
  });

  it('has the click (headline), impression and ranking targets with their true probabilities', () => {
    expect(src.slots).toBe(C);
    expect(src.targets.map((t) => [t.name, t.output])).toEqual([
      ['click', 'pClick'],
      ['impression', 'pImpression'],
      ['ranking', 'prob'],
    ]);
    const [click, imp, rank] = src.targets;
    for (let i = 0; i < train.size * C; i++) {
      expect(click!.valid[i]).toBe(train.mask[i]! & train.impression[i]!);
      expect(imp!.valid[i]).toBe(train.mask[i]);
      expect(rank!.trueProbability![i]).toBe(Math.fround(train.pImpression[i]! * train.pClick[i]!));
      expect(click!.groups[i]).toBe(train.user[Math.floor(i / C)]);
    }
    const validAt = (v: Uint8Array) => [...v.keys()].filter((i) => v[i]);
    expect(exactAuc(rank!.labels, rank!.trueProbability!, validAt(rank!.valid))).toBe(train.stats.bayesAuc.ranking);
    expect(src.labels.length).toBe(train.size);
    expect(src.groups).toBe(train.user);
  });

  it('takes a model schema that is a subset, and names a mismatch', () => {
    const sub = { cand: { dtype: 'int32', shape: ['batch', C] }, seqMask: { dtype: 'bool', shape: ['batch', N] } } as const;
    const s2 = createRequestSource(train, { seqLen: N, schema: sub });
    expect(Object.keys(s2.batch(Int32Array.from([1])))).toEqual(['cand', 'seqMask']);
    const err = (schema: object) => {
      try {
        checkRequestSchema(schema as never, dims);
      } catch (e) {
        expect(e).toBeInstanceOf(FeatureSchemaError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ cand: { dtype: 'int32', shape: ['batch', 20] } })).toBe(
      "feature schema mismatch: feature 'cand' must be int32 [batch, 12] (C = candidates 12, N = seqLen 64, P 2, X 2, Q 2), got int32 " +
        '[batch, 20]',
    );
    expect(err({ label: { dtype: 'float32', shape: ['batch'] } })).toBe(
      `feature schema mismatch: feature 'label' is unknown to the request source (known features: ${REQUEST_FEATURES.join(', ')})`,
    );
    expect(() => createRequestSource(train, { seqLen: 0 })).toThrow('createRequestSource: seqLen must be a positive integer, got 0');
    expect(() => src.batch(Int32Array.from([1200]))).toThrow(
      'batch: indices[0] is 1200, out of range for a source of 1200 requests (valid 0..1199)',
    );
  });

  it('gives the IfaConfig sizes (ids + 1 for padding)', () => {
    expect(requestModelSizes(ctx, N)).toEqual({
      users: 200,
      targetItems: 201,
      sourceItems: 2001,
      categories: 65,
      profile: [7, 2],
      cross: [8, 8],
      context: [6, 4],
      candidates: C,
      seqLen: N,
    });
  });
});
