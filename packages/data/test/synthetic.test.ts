import { describe, expect, it } from 'vitest';
import { SOURCE, TARGET } from '../src/event-log.ts';
import {
  BEHAVIOUR,
  DEFAULT_WORLD_CONFIG,
  SMALL_WORLD_CONFIG,
  WATCH_NONE,
  WorldConfigError,
  generateWorld,
  resolveWorldConfig,
  worldMeta,
} from '../src/synthetic/index.ts';
import { exactAuc } from '../src/synthetic/auc.ts';

const TINY = { users: 40, targetItems: 64, sourceItems: 320, minSourceEvents: 120, maxSourceEvents: 200 } as const;

describe('world config', () => {
  it('defaults are the SPEC world', () => {
    const c = resolveWorldConfig();
    expect([c.topics, c.topicDim, c.targetItems, c.sourceItems, c.interestAlpha, c.minSourceEvents, c.maxSourceEvents]).toEqual([
      32, 16, 2000, 20000, 0.1, 200, 2000,
    ]);
    expect(c).toEqual(DEFAULT_WORLD_CONFIG);
    expect(resolveWorldConfig({ users: 7 }).users).toBe(7);
  });

  it('rejects bad fields with the field, the expectation and the value', () => {
    const err = (p: object) => {
      try {
        resolveWorldConfig(p);
      } catch (e) {
        expect(e).toBeInstanceOf(WorldConfigError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ userz: 3 })).toMatch(/^world config: unknown field 'userz'; known fields: users, topics, /);
    expect(err({ users: 0 })).toBe('world config: users must be an integer >= 1, got 0');
    expect(err({ topics: 2.5 })).toBe('world config: topics must be an integer >= 1, got 2.5');
    expect(err({ noiseShare: 1.5 })).toBe('world config: noiseShare must be a number in [0, 1], got 1.5');
    expect(err({ minSourceEvents: 300, maxSourceEvents: 200 })).toBe(
      'world config: maxSourceEvents must be >= minSourceEvents (300), got 200',
    );
    expect(err({ targetItems: 31 })).toBe('world config: targetItems must be >= topics (32) so every topic has an item, got 31');
    expect(err({ watchNoise: [0.5, 0.4, 0, 0, 0] })).toBe(
      'world config: watchNoise must be a distribution summing to 1, got [0.5,0.4,0,0,0]',
    );
    expect(err({ watchInterest: [0.5, 0.5] })).toBe('world config: watchInterest must be as long as watchNoise (5 buckets), got [0.5,0.5]');
    expect(err({ testDays: 14 })).toBe('world config: testDays must be a number in (0, targetDays = 14), got 14');
    expect(err({ days: 30000 })).toBe('world config: days must be a number in (0, 24855] (timestamps are int32 seconds), got 30000');
    expect(() => generateWorld(TINY, -1)).toThrow('generateWorld: seed must be an integer in 0..4294967295, got -1');
  });
});

describe('exactAuc', () => {
  it('matches hand-computed cases, ties count one half', () => {
    expect(exactAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(exactAuc([0, 1], [0.5, 0.5])).toBe(0.5);
    // pos {0.9, 0.5}, neg {0.9, 0.1}: 0.5 + 1 + 0 + 1 = 2.5 of 4 pairs
    expect(exactAuc([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])).toBe(0.625);
    expect(exactAuc([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1], [0, 3])).toBe(1);
    expect(exactAuc([1, 1], [0.2, 0.3])).toBeNaN();
    expect(() => exactAuc([1, 0], [NaN, 0.3])).toThrow('exactAuc: score at position 0 is NaN');
    expect(() => exactAuc([2, 0], [0.1, 0.3])).toThrow('exactAuc: label at position 0 must be 0 or 1, got 2');
  });
});

describe('generateWorld', () => {
  const w = generateWorld(TINY, 5);
  const { log, config: c } = w;
  const T = c.topics;

  it('writes a well-formed event log', () => {
    expect(log.meta).toEqual(worldMeta(c));
    expect(log.meta.categories).toBe(64);
    expect(log.meta.context).toEqual([
      { name: 'watchBucket', cardinality: 6 },
      { name: 'behaviourType', cardinality: 4 },
    ]);
    expect(log.meta.profile).toEqual([
      { name: 'age', cardinality: 7 },
      { name: 'gender', cardinality: 2 },
    ]);
    expect(w.stats.events).toBe(log.size);
    expect(w.stats.sourceEvents + w.stats.targetEvents).toBe(log.size);
    let target = 0,
      noise = 0;
    for (let u = 0; u < c.users; u++) {
      const a = log.userStart[u]!,
        b = log.userStart[u + 1]!;
      let nSource = 0,
        nTarget = 0;
      for (let i = a; i < b; i++) {
        expect(log.user[i]).toBe(u);
        if (i > a) expect(log.timestamp[i]).toBeGreaterThanOrEqual(log.timestamp[i - 1]!);
        expect(Number.isInteger(log.timestamp[i])).toBe(true);
        const p = w.trueProbability[i]!;
        if (log.domain[i] === TARGET) {
          nTarget++;
          target++;
          expect(p > 0 && p < 1).toBe(true);
          expect(log.category[i]).toBe(w.truth.topicCategory[w.truth.targetItemTopic[log.item[i]!]!]);
          expect([log.context[0]![i], log.context[1]![i]]).toEqual([WATCH_NONE, BEHAVIOUR.impression]);
          expect(log.timestamp[i]).toBeGreaterThanOrEqual((c.days - c.targetDays) * 86400);
        } else {
          nSource++;
          expect(log.domain[i]).toBe(SOURCE);
          expect(p).toBeNaN();
          expect(log.label[i]).toBe(1);
          expect(log.category[i]).toBe(T + w.truth.sourceItemTopic[log.item[i]!]!);
          expect(log.context[0]![i]).toBeGreaterThanOrEqual(1);
          expect(log.context[1]![i]).toBeGreaterThanOrEqual(BEHAVIOUR.view);
          noise += w.truth.noise[i]!;
        }
      }
      expect(nSource).toBeGreaterThanOrEqual(c.minSourceEvents);
      expect(nSource).toBeLessThanOrEqual(c.maxSourceEvents);
      expect(nTarget).toBeGreaterThanOrEqual(1);
    }
    expect(target).toBe(w.stats.targetEvents);
    expect(noise).toBe(w.stats.noiseEvents);
  });

  it('splits impressions by time and reports the Bayes AUC of each split', () => {
    expect(w.splitTime).toBe((365 - 3) * 86400);
    expect(w.train.length + w.test.length).toBe(w.stats.targetEvents);
    for (const i of w.train) expect(log.domain[i] === TARGET && log.timestamp[i]! < w.splitTime).toBe(true);
    for (const i of w.test) expect(log.domain[i] === TARGET && log.timestamp[i]! >= w.splitTime).toBe(true);
    for (const k of ['train', 'test'] as const) {
      const at = w[k],
        s = w.stats[k];
      expect(s.impressions).toBe(at.length);
      expect(s.clicks).toBe(at.reduce((n, i) => n + log.label[i]!, 0));
      expect(s.bayesAuc).toBe(exactAuc(log.label, w.trueProbability, at));
      expect(s.bayesAuc).toBeGreaterThan(0.7);
    }
  });

  it('balances item topics and ties categories to topics', () => {
    const counts = new Array<number>(T).fill(0);
    for (const k of w.truth.sourceItemTopic) counts[k]!++;
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    const coarse = generateWorld({ ...TINY, users: 3, topicsPerCategory: 5, sharedCategories: true }, 5);
    expect(coarse.log.meta.categories).toBe(7); // ceil(32 / 5)
    expect(Array.from(coarse.truth.topicCategory.subarray(0, 11))).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2]);
    for (let i = 0; i < coarse.log.size; i++) {
      const topic = (coarse.log.domain[i] === TARGET ? coarse.truth.targetItemTopic : coarse.truth.sourceItemTopic)[coarse.log.item[i]!]!;
      expect(coarse.log.category[i]).toBe(Math.floor(topic / 5));
    }
  });

  it('draws sparse Dirichlet interests and unit topic and item vectors', () => {
    let interests = 0;
    for (let u = 0; u < c.users; u++) {
      let s = 0;
      for (let k = 0; k < T; k++) {
        const x = w.truth.userInterest[u * T + k]!;
        s += x;
        if (x >= c.minInterest) interests++;
      }
      expect(s).toBeCloseTo(1, 5);
      expect(w.truth.userInterest[u * T + w.truth.userDrift[u]!]).toBeLessThan(c.minInterest);
    }
    expect(interests / c.users).toBeGreaterThan(2);
    expect(interests / c.users).toBeLessThan(8);
    for (const [v, n] of [
      [w.truth.topicVectors, T],
      [w.truth.targetItemVector, c.targetItems],
    ] as const) {
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let j = 0; j < 16; j++) s += v[r * 16 + j]! ** 2;
        expect(s).toBeCloseTo(1, 5);
      }
    }
  });

  it('is deterministic by seed', () => {
    const again = generateWorld(TINY, 5),
      other = generateWorld(TINY, 6);
    const cols = (x: typeof w) => [
      x.log.user,
      x.log.item,
      x.log.category,
      x.log.domain,
      x.log.timestamp,
      x.log.label,
      ...x.log.context,
      x.log.userStart,
      ...x.log.profile,
      x.trueProbability,
      x.train,
      x.test,
      ...Object.values(x.truth),
    ];
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    cols(w).forEach((a, k) => expect(bytes(cols(again)[k]!).equals(bytes(a))).toBe(true));
    expect(again.stats).toEqual(w.stats);
    expect(bytes(other.log.item).equals(bytes(w.log.item))).toBe(false);
  });

  it('the small preset has a strong, partly lifelong-only signal', () => {
    const s = generateWorld(SMALL_WORLD_CONFIG, 1);
    expect(s.log.meta.users).toBe(500);
    for (const k of ['train', 'test'] as const) {
      const x = s.stats[k];
      expect(x.ctr).toBeGreaterThan(0.15);
      expect(x.ctr).toBeLessThan(0.35);
      expect(x.bayesAuc).toBeGreaterThan(0.8);
      expect(x.bayesAuc).toBeLessThan(0.92);
      expect(x.withoutDormantAuc).toBeLessThan(x.bayesAuc - 0.05);
      expect(x.biasOnlyAuc).toBeLessThan(0.65);
    }
  });
});
