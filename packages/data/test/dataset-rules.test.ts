/**
 * The dataset rules of issue 18's second data part: minimum counts (users dropped, rare ids folded
 * into the out-of-vocabulary row 0), seeded negative sampling for implicit-only logs, and the
 * timestamp range.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Dataset,
  type EventLog,
  TARGET,
  buildSampleIndex,
  createSampleSource,
  formatReport,
  inspectDataset,
  loadDataset,
  parseDatasetConfig,
  readDatasetConfig,
  sampleSchema,
} from '../src/index.ts';

const REPO = resolve(import.meta.dirname, '../../..');
const IMPLICIT = join(REPO, 'datasets/taobao-sample-implicit.json');
const UB = resolve(REPO, '../shared/data/taobao-userbehavior-sample/UserBehavior.csv');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-dataset-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
const load = (cfg: unknown) => loadDataset({ config: parseDatasetConfig(cfg, 'r.json'), path: 'r.json', dir: tmp });
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
/** the log as one tuple per event: [user, domain, item, category, timestamp, label] */
const rows = (log: EventLog) =>
  Array.from({ length: log.size }, (_, i) => [log.user[i], log.domain[i], log.item[i], log.category[i], log.timestamp[i], log.label[i]]);

// u3 has one event; target item e and source item g are seen once; f and category w only by u3
const COUNTS = `user,item,cat,ts,rating
u1,a,x,1,5
u1,b,y,2,1
u2,a,x,3,4
u2,c,y,4,2
u1,e,x,5,1
u2,b,y,6,5
u3,f,w,7,5
u1,a,x,8,1
u2,c,y,9,5
u2,g,y,10,4
`;
const counts = (extra: Record<string, unknown> = {}) => ({
  name: 'counts',
  events: {
    files: [write('counts.csv', COUNTS)],
    user: 'user',
    item: 'item',
    category: 'cat',
    timestamp: 'ts',
    label: { column: 'rating', atLeast: 4 },
  },
  domain: { column: 'cat', target: ['x'] },
  split: { testFraction: 0.25 },
  ...extra,
});

describe('minCounts: users with too few events are dropped, rare items and categories share the out-of-vocabulary row 0', () => {
  it('drops, folds and renumbers exactly; inspect reports the counts', async () => {
    const cfg = counts({ minCounts: { userEvents: 2, items: 2, categories: 5 } });
    const d = await load(cfg);
    expect(d.vocabulary.users).toEqual(['u1', 'u2']);
    expect(d.vocabulary.items).toEqual({ target: ['', 'a'], source: ['', 'b', 'c'] }); // e and g folded; f left with u3
    expect(d.vocabulary.categories).toEqual(['', 'y']); // x has 4 events < 5; w left with u3
    expect(d.vocabulary.oov).toEqual({ items: true, categories: true });
    expect(d.log.meta).toMatchObject({ users: 2, items: { target: 2, source: 3 }, categories: 2 });
    expect(rows(d.log)).toEqual([
      [0, 0, 1, 0, 1, 1],
      [0, 1, 1, 1, 2, 0],
      [0, 0, 0, 0, 5, 0],
      [0, 0, 1, 0, 8, 0],
      [1, 0, 1, 0, 3, 1],
      [1, 1, 2, 1, 4, 0],
      [1, 1, 1, 1, 6, 1],
      [1, 1, 2, 1, 9, 1],
      [1, 1, 0, 1, 10, 1],
    ]);
    expect(d.folded).toEqual({
      users: { dropped: 1, events: 1 },
      items: { target: { folded: 1, events: 1 }, source: { folded: 1, events: 1 } },
      categories: { folded: 1, events: 4 },
    });
    const c = parseDatasetConfig(cfg, 'r.json');
    const r = inspectDataset(d, c);
    expect(r.folded).toEqual(d.folded);
    expect(formatReport(r, c)).toContain(
      'min counts: dropped 1 users with fewer than 2 events (1 events); ' +
        'folded 1 target items (1 events) and 1 source items (1 events) seen fewer than 2 times into row 0; folded 1 categories (4 ' +
        'events) seen fewer than 5 times into row 0',
    );
  });
  it('one kind at a time leaves the others as read', async () => {
    const plain = await load(counts());
    const users = await load(counts({ minCounts: { userEvents: 2 } }));
    expect(users.vocabulary.items).toEqual(plain.vocabulary.items); // no item rule: ids as read (f stays, unused)
    expect(users.vocabulary.oov).toBeUndefined();
    expect(rows(users.log)).toEqual(rows(plain.log).filter((e) => e[0] !== 2));
    const items = await load(counts({ minCounts: { items: 2 } }));
    expect(items.vocabulary.users).toEqual(['u1', 'u2', 'u3']);
    expect(items.vocabulary.items).toEqual({ target: ['', 'a'], source: ['', 'b', 'c'] }); // f (once, by u3) folded too
    expect(items.folded.items.source).toEqual({ folded: 2, events: 2 });
    expect(items.vocabulary.categories).toEqual(plain.vocabulary.categories);
    expect(plain.folded).toEqual({
      users: { dropped: 0, events: 0 },
      items: { target: { folded: 0, events: 0 }, source: { folded: 0, events: 0 } },
      categories: { folded: 0, events: 0 },
    });
  });
  it('bad values name the key, the expected and the actual value', () => {
    expect(() => parseDatasetConfig(counts({ minCounts: { items: 0 } }), 'r.json')).toThrow(
      'r.json: config.minCounts.items: expected an integer >= 1, got 0',
    );
    expect(() => parseDatasetConfig(counts({ minCounts: {} }), 'r.json')).toThrow(
      "r.json: config.minCounts: give at least one of 'userEvents', 'items', 'categories', got none",
    );
    expect(() => parseDatasetConfig(counts({ minCounts: { users: 2 } }), 'r.json')).toThrow(
      'r.json: config.minCounts.users: unknown key (expected one of userEvents, items, categories)',
    );
  });
});

// implicit-only: every row a behaviour; target = category x. u1: a@1 b@3 a@5, u2: a@3 c@4, u3: d@6 b@7
const IMPLICIT_CSV = `user,item,cat,ts
u1,a,x,1
u1,s1,y,2
u1,b,x,3
u2,a,x,3
u2,c,x,4
u2,s2,y,4
u1,a,x,5
u3,d,x,6
u3,b,x,7
`;
const implicit = (negatives: Record<string, unknown>) => ({
  name: 'implicit',
  events: {
    files: [write('implicit.csv', IMPLICIT_CSV)],
    user: 'user',
    item: 'item',
    category: 'cat',
    timestamp: 'ts',
    label: { constant: 1 },
  },
  domain: { column: 'cat', target: ['x'] },
  split: { testFraction: 0.25 },
  negatives,
});

/** raw (user, target item, timestamp) of the log's events, via the vocabulary */
const raw = (d: Dataset, i: number) =>
  [d.vocabulary.users[d.log.user[i]!]!, d.vocabulary.items.target[d.log.item[i]!]!, d.log.timestamp[i]!] as const;

/**
 * every negative: label 0, target, right before its positive (same user and timestamp), never an item the user acted on at or before then
 */
function checkNegatives(d: Dataset, acted: (user: string, item: string, t: number) => boolean): number {
  const log = d.log;
  let negatives = 0;
  for (let i = 0; i < log.size; i++) {
    if (log.domain[i] !== TARGET || log.label[i] !== 0) continue;
    negatives++;
    let p = i + 1;
    while (log.label[p] === 0 && log.domain[p] === TARGET) p++;
    expect([log.user[p], log.timestamp[p], log.domain[p], log.label[p]]).toEqual([log.user[i], log.timestamp[i], TARGET, 1]);
    const [u, item, t] = raw(d, i);
    expect(acted(u, item, t), `negative ${item} of user ${u} at ${t}`).toBe(false);
  }
  return negatives;
}

describe('negatives: seeded negative sampling for implicit-only logs', () => {
  const actedIn = (csv: string) => (user: string, item: string, t: number) =>
    csv
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .some(([u, i, c, ts]) => u === user && i === item && c === 'x' && Number(ts) <= t);
  it(
    'draws only items the user had not acted on at or before the positive, placed right before it; short positives are ' + 'counted',
    async () => {
      // 3 per positive from a pool of 4 items: the eligible sets are forced (3 or fewer), whatever the seed
      const d = await load(implicit({ perPositive: 3, draw: 'uniform', seed: 1 }));
      expect(d.negatives).toEqual({ perPositive: 3, draw: 'uniform', seed: 1, positives: 7, negatives: 17, short: 4 });
      expect(checkNegatives(d, actedIn(IMPLICIT_CSV))).toBe(17);
      const negativesOf = (user: string, t: number) => {
        const out: string[] = [];
        for (let i = 0; i < d.log.size; i++) {
          const [u, item, ts] = raw(d, i);
          if (d.log.label[i] === 0 && u === user && ts === t) out.push(item);
        }
        return out.sort();
      };
      expect([negativesOf('u1', 1), negativesOf('u1', 3), negativesOf('u1', 5)]).toEqual([
        ['b', 'c', 'd'],
        ['c', 'd'],
        ['c', 'd'],
      ]);
      expect([negativesOf('u2', 3), negativesOf('u2', 4)]).toEqual([
        ['b', 'c', 'd'],
        ['b', 'd'],
      ]); // c is acted on at 4, not before: a negative at 3
      expect([negativesOf('u3', 6), negativesOf('u3', 7)]).toEqual([
        ['a', 'b', 'c'],
        ['a', 'c'],
      ]);
    },
  );
  it('is deterministic for a seed and changes with it', async () => {
    const cfg = { perPositive: 1, draw: 'popularity', seed: 7 };
    const [a, b, c] = await Promise.all([load(implicit(cfg)), load(implicit(cfg)), load(implicit({ ...cfg, seed: 8 }))]);
    expect(bytes(a.log.item)).toBe(bytes(b.log.item));
    const pick = (d: Dataset) =>
      Array.from({ length: d.log.size }, (_, i) => i)
        .filter((i) => d.log.label[i] === 0)
        .map((i) => raw(d, i).join(' '));
    expect(pick(a)).not.toEqual(pick(c));
  });
  it("a negative sees exactly its positive's histories (and never the positive itself)", async () => {
    const d = await load(implicit({ perPositive: 2, seed: 3 }));
    const schema = sampleSchema(d.log.meta, { targetLength: 4, sourceLength: 4, lifelongLength: 8 }, [
      'targetSeq',
      'targetSeqMask',
      'sourceSeq',
      'sourceSeqMask',
      'lifelongSeq',
      'lifelongMask',
      'label',
    ]);
    const all = buildSampleIndex(d.log);
    const src = createSampleSource(d.log, all, schema, { targetLength: 4, sourceLength: 4, lifelongLength: 8 });
    const one = (k: number) => {
      const b = src.batch(Int32Array.of(k));
      return {
        t: bytes(b.targetSeq.data),
        tm: bytes(b.targetSeqMask.data),
        s: bytes(b.sourceSeq.data),
        l: bytes(b.lifelongSeq.data),
        label: b.label.data[0],
      };
    };
    let compared = 0;
    for (let k = 0; k < all.length; k++) {
      if (d.log.label[all[k]!] !== 0) continue;
      let p = k + 1;
      while (d.log.label[all[p]!] === 0) p++;
      const neg = one(k),
        pos = one(p);
      expect({ ...neg, label: 1 }).toEqual(pos);
      compared++;
    }
    expect(compared).toBe(d.negatives!.negatives);
  });
  it('bad values name the key, the expected and the actual value', () => {
    expect(() => parseDatasetConfig(implicit({ perPositive: 4 }), 'r.json')).toThrow(
      'r.json: config.negatives.seed: missing (expected an integer >= 0)',
    );
    expect(() => parseDatasetConfig(implicit({ perPositive: 2, seed: 1, draw: 'random' }), 'r.json')).toThrow(
      'r.json: config.negatives.draw: expected one of "popularity", "uniform", got "random" (a string)',
    );
    expect(() => parseDatasetConfig(implicit({ perPositive: 0, seed: 1 }), 'r.json')).toThrow(
      'r.json: config.negatives.perPositive: expected an integer >= 1, got 0',
    );
  });
});

describe('datasets/taobao-sample-implicit.json: every behaviour a positive, 4 sampled negatives each', () => {
  it('checks every negative against the raw file; the popularity draw favours popular items', async () => {
    const cfg = readDatasetConfig(IMPLICIT);
    const d = await loadDataset(cfg);
    expect(d.negatives).toEqual({ perPositive: 4, draw: 'popularity', seed: 1, positives: 945, negatives: 3780, short: 0 });
    const target = new Set(['3607361', '4145813', '4756105']);
    const firstSeen = new Map<string, number>(); // "user item" -> earliest target event in the documented range
    for (const line of readFileSync(UB, 'utf8').trim().split('\n')) {
      const [u, item, c, , ts] = line.split(',');
      const t = Number(ts);
      if (!target.has(c!) || t < 1511539200 || t >= 1512316800) continue;
      const k = `${u} ${item}`;
      if (!(firstSeen.get(k)! <= t)) firstSeen.set(k, t);
    }
    expect(checkNegatives(d, (u, item, t) => firstSeen.get(`${u} ${item}`)! <= t)).toBe(3780);
    const r = inspectDataset(d, cfg.config);
    expect([r.events.target, r.labelRate.target, r.split.train.samples, r.split.test.samples, r.tiedTimestamps.events]).toEqual([
      4725, 0.2, 3780, 945, 16,
    ]);
    expect(formatReport(r, cfg.config).at(-1)).toBe(
      'negatives: 3,780 label-0 events sampled (4 per positive, popularity, seed 1) for 945 target positives; 0 positives got fewer',
    );
    // the most frequent target item is drawn more often by popularity than uniformly
    const counts = new Map<number, number>();
    for (let i = 0; i < d.log.size; i++)
      if (d.log.domain[i] === TARGET && d.log.label[i] === 1) counts.set(d.log.item[i]!, (counts.get(d.log.item[i]!) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const drawn = (x: Dataset) => {
      let n = 0;
      for (let i = 0; i < x.log.size; i++) if (x.log.label[i] === 0 && x.log.domain[i] === TARGET && x.log.item[i] === top) n++;
      return n;
    };
    const uniform = await loadDataset({ ...cfg, config: { ...cfg.config, negatives: { perPositive: 4, draw: 'uniform', seed: 1 } } });
    expect(drawn(d)).toBeGreaterThan(3 * drawn(uniform));
  });
});

describe('timeRange: timestamps outside it are bad rows', () => {
  const csv = write('range.csv', `${COUNTS}u2,a,x,100,5\n`);
  const cfg = (extra: Record<string, unknown>) => ({ ...counts(), events: { ...counts().events, files: [csv] }, ...extra });
  it('fail with file:line, or are skipped and counted under maxBadRows', async () => {
    await expect(load(cfg({ timeRange: { from: 1, to: 50 } }))).rejects.toThrow(
      `${csv}:12: timestamp 100 is outside config.timeRange [1, 50) (column 'ts')`,
    );
    await expect(load(cfg({ timeRange: { from: 2 } }))).rejects.toThrow(
      `${csv}:2: timestamp 1 is outside config.timeRange [2, inf) (column 'ts')`,
    );
    const d = await load(cfg({ timeRange: { to: 50 }, maxBadRows: 1 }));
    expect(d.log.size).toBe(10);
    expect(d.refused).toEqual({
      total: 1,
      reasons: [{ reason: "timestamp … is outside config.timeRange [-inf, 50) (column 'ts')", count: 1, first: `${csv}:12` }],
    });
  });
  it('bad values name the key, the expected and the actual value', () => {
    expect(() => parseDatasetConfig(cfg({ timeRange: { from: 5, to: 5 } }), 'r.json')).toThrow(
      'r.json: config.timeRange.to: expected a number > from (5), got 5',
    );
    expect(() => parseDatasetConfig(cfg({ timeRange: {} }), 'r.json')).toThrow(
      "r.json: config.timeRange: give 'from', 'to' or both, got none",
    );
    expect(() => parseDatasetConfig(cfg({ timeRange: { from: '2017-11-25' } }), 'r.json')).toThrow(
      'r.json: config.timeRange.from: expected a number, got "2017-11-25" (a string)',
    );
  });
});
