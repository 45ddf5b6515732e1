import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReadResult, SOURCE, TARGET, readMovieLens } from '../src/index.ts';

const ML = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'data', 'ml-100k');
const lines = (file: string) =>
  readFileSync(join(ML, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .slice(1)
    .map((l) => l.split('\t'));

describe('MovieLens 100K (RecBole atomic files, ../shared/data/ml-100k)', () => {
  let ml: ReadResult;
  beforeAll(async () => {
    ml = await readMovieLens(ML);
  });

  it('has the README numbers: 100,000 events, 943 users, 131 target / 1,551 source movies, 7,855 target events, 55% positive', () => {
    const { log } = ml;
    expect(log.size).toBe(100000);
    expect(log.meta.users).toBe(943);
    expect(log.meta.items).toEqual({ target: 131, source: 1551 });
    expect(log.meta.categories).toBe(19);
    let target = 0,
      positive = 0,
      targetPositive = 0;
    for (let i = 0; i < log.size; i++) {
      positive += log.label[i]!;
      if (log.domain[i] === TARGET) {
        target++;
        targetPositive += log.label[i]!;
      }
    }
    expect([target, positive, targetPositive]).toEqual([7855, 55375, 3874]); // 55.4% positive overall, 49.3% in the target domain
    // 817 users have target events, every one also has source events; median 5 target vs 72 source events
    const t: number[] = [],
      s: number[] = [];
    for (let u = 0; u < log.meta.users; u++) {
      let nt = 0,
        ns = 0;
      for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++)
        if (log.domain[i] === TARGET) nt++;
        else ns++;
      if (nt > 0) {
        t.push(nt);
        s.push(ns);
      }
    }
    const median = (a: number[]) => a.sort((x, y) => x - y)[(a.length - 1) / 2]!;
    expect(t.length).toBe(817);
    expect(s.every((n) => n > 0)).toBe(true);
    expect([median(t), median(s)]).toEqual([5, 72]);
    // 76% of rows share their timestamp with another row of the same user
    let tied = 0;
    for (let u = 0; u < log.meta.users; u++) {
      const a = log.userStart[u]!,
        b = log.userStart[u + 1]!;
      for (let i = a; i < b; i++)
        if ((i > a && log.timestamp[i - 1] === log.timestamp[i]) || (i + 1 < b && log.timestamp[i + 1] === log.timestamp[i])) tied++;
    }
    expect(tied).toBe(75772);
  });

  it('matches an independent parse of the files event by event (time order, ties in file order)', () => {
    const { log, vocabulary } = ml;
    const items = lines('ml-100k.item');
    const target = new Set(items.filter((r) => /\b(Animation|Children's)\b/.test(r[3]!)).map((r) => r[0]!));
    const users = lines('ml-100k.user').map((r) => r[0]!);
    expect(vocabulary.users).toEqual(users);
    expect(vocabulary.items.target).toEqual(items.map((r) => r[0]!).filter((i) => target.has(i)));
    expect(vocabulary.items.source).toEqual(items.map((r) => r[0]!).filter((i) => !target.has(i)));
    const byUser = new Map<string, string[][]>(users.map((u) => [u, []]));
    for (const r of lines('ml-100k.inter')) byUser.get(r[0]!)!.push(r);
    let i = 0;
    const mismatches: string[] = [];
    for (const u of users) {
      const rows = byUser
        .get(u)!
        .map((r, k) => ({ r, k }))
        .sort((a, b) => Number(a.r[3]) - Number(b.r[3]) || a.k - b.k);
      for (const { r } of rows) {
        const d = target.has(r[1]!) ? TARGET : SOURCE;
        const got = [
          vocabulary.users[log.user[i]!],
          log.domain[i],
          (log.domain[i] === TARGET ? vocabulary.items.target : vocabulary.items.source)[log.item[i]!],
          log.timestamp[i],
          log.label[i],
        ].join(' ');
        const want = [u, d, r[1], Number(r[3]), Number(r[2]) >= 4 ? 1 : 0].join(' ');
        if (got !== want) mismatches.push(`event ${i}: got ${got}, want ${want}`);
        i++;
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(i).toBe(100000);
  });

  it('categories are first genres; profiles are age bucket, gender, occupation; context is release-year bucket and movie age', () => {
    const { log, vocabulary } = ml;
    expect(vocabulary.categories.slice(0, 6)).toEqual(['Animation', 'Action', 'Thriller', 'Crime', 'Drama', "Children's"]);
    expect(vocabulary.categories).toContain('unknown');
    expect(log.meta.context).toEqual([
      { name: 'releaseYear', cardinality: 8 },
      { name: 'movieAge', cardinality: 5 },
    ]);
    expect(log.meta.profile).toEqual([
      { name: 'age', cardinality: 8 },
      { name: 'gender', cardinality: 3 },
      { name: 'occupation', cardinality: 22 },
    ]);
    // user '1': 24, M, technician; user '2': 53, F, other
    expect(log.profile.map((p) => [p[0], p[1]])).toEqual([
      [2, 6],
      [1, 2],
      [1, 2],
    ]);
    const occupations = vocabulary.profile.occupation!;
    expect('values' in occupations && [occupations.values.length, ...occupations.values.slice(0, 3)]).toEqual([
      21,
      'technician',
      'other',
      'writer',
    ]);
    // user '1' rated Toy Story (item '1', 1995, Animation Children's Comedy) 5 at 874965758 (1997-09-22): target, Animation, 1995 bucket 7,
    // age 2 -> bucket 2
    const u = 0,
      toy = vocabulary.items.target.indexOf('1');
    let found = 0;
    for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) {
      if (log.domain[i] === TARGET && log.item[i] === toy) {
        found++;
        expect([log.timestamp[i], log.label[i], vocabulary.categories[log.category[i]!], log.context[0]![i], log.context[1]![i]]).toEqual([
          874965758,
          1,
          'Animation',
          7,
          2,
        ]);
      }
    }
    expect(found).toBe(1);
    // item '267' has release year 'unkonwn' and genre 'unknown': context 0 on all its events
    const unk = vocabulary.items.source.indexOf('267');
    let n267 = 0;
    for (let i = 0; i < log.size; i++) {
      if (log.domain[i] === SOURCE && log.item[i] === unk) {
        n267++;
        expect([log.context[0]![i], log.context[1]![i], vocabulary.categories[log.category[i]!]]).toEqual([0, 0, 'unknown']);
      }
    }
    expect(n267).toBe(9);
  });

  it('a rating of an item the .item file lacks, or a bad rating, fails with file and line; the rules are settable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lctr-ml-'));
    try {
      for (const f of ['ml-100k.item', 'ml-100k.user']) copyFileSync(join(ML, f), join(dir, f));
      const inter = join(dir, 'ml-100k.inter');
      const head = 'user_id:token\titem_id:token\trating:float\ttimestamp:float\n';
      writeFileSync(inter, `${head}196\t242\t3\t881250949\n186\t99999\t3\t891717742\n`);
      await expect(readMovieLens(dir)).rejects.toThrow(`${inter}:3: unknown item id '99999' (column 'item_id'): not in ml-100k.item`);
      writeFileSync(inter, `${head}196\t242\t3\t881250949\n186\t302\tthree\t891717742\n`);
      await expect(readMovieLens(dir)).rejects.toThrow(`${inter}:3: bad number in column 'rating': 'three'`);
      writeFileSync(inter, `${head}196\t242\t3\t881250949\n9999\t302\t3\t891717742\n`);
      await expect(readMovieLens(dir)).rejects.toThrow(`${inter}:3: unknown user id '9999' (column 'user_id'): not in the vocabulary`);
      writeFileSync(inter, `${head}1\t1\t3\t881250949\n1\t2\t5\t881250949\n`); // Toy Story, GoldenEye
      const r = await readMovieLens(dir, { positiveRating: 3, targetGenres: ['Action'], category: (g) => g.at(-1)! });
      expect(r.log.meta.items).toEqual({ target: 251, source: 1431 });
      expect(Array.from(r.log.domain)).toEqual([SOURCE, TARGET]);
      expect(Array.from(r.log.label)).toEqual([1, 1]);
      expect(Array.from(r.log.category).map((c) => r.vocabulary.categories[c])).toEqual(['Comedy', 'Thriller']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
