import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SOURCE, TARGET, readTaobao } from '../src/index.ts';
import { FIXTURES } from './readers-fixtures.ts';

// fixtures/taobao: the four files in the public layout (user_profile.csv's header ends in a space, as the real one does)
const DIR = join(FIXTURES, 'taobao');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-taobao-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const T = TARGET,
  S = SOURCE;

describe('Taobao display-ad layout', () => {
  it('maps impressions by the category-id split, behaviours to the source domain, profiles per user', async () => {
    const { log, vocabulary, reports } = await readTaobao(DIR);
    expect(reports.map((r) => [r.file.slice(DIR.length + 1), r.rows, r.taken, r.skipped])).toEqual([
      ['raw_sample.csv', 7, 7, 0],
      ['behavior_log.csv', 6, 5, 1], // user 999999 has no impression: skipped
      ['user_profile.csv', 3, 2, 1], // user 123456 likewise
    ]);
    expect(vocabulary.users).toEqual(['581738', '449818', '914836']);
    // cate 1500 and 1999 are below 2000: target; 6200 and 2000 source
    expect(vocabulary.items).toEqual({
      target: ['ad:101', 'ad:103'],
      source: ['ad:102', 'ad:104', 'brand:202', 'brand:204', 'cate:1999', 'brand:205'],
    });
    expect(vocabulary.categories).toEqual(['1500', '6200', '1999', '2000', '4520', '7000']);
    expect(vocabulary.context).toEqual({
      btag: { values: ['pv', 'cart', 'fav', 'buy'], closed: true },
      pid: { values: ['430548_1007', '430539_1007'] },
    });
    expect(log.meta).toEqual({
      users: 3,
      items: { target: 2, source: 6 },
      categories: 6,
      context: [
        { name: 'btag', cardinality: 5 },
        { name: 'pid', cardinality: 3 },
      ],
      profile: [
        'cms_segid',
        'cms_group_id',
        'final_gender_code',
        'age_level',
        'pvalue_level',
        'shopping_level',
        'occupation',
        'new_user_class_level',
      ].map((name, k) => ({ name, cardinality: [3, 3, 2, 3, 2, 2, 2, 2][k] })),
    });
    // user 581738: pv 202 @..000, cart 202 @..100, ad 102 @..600, ad 101 @..644, pv 205 @..650, ad 103 @..700
    // user 449818: fav 204 @1494600000, ad 102 @..778 (clk), ad 101 @..778 (same second: file order)
    // user 914836: buy NULL-brand cate 1999 @1494650000, ad 104 @..879, ad 103 @..880 (clk)
    expect(Array.from(log.userStart)).toEqual([0, 6, 9, 12]);
    expect(Array.from(log.timestamp)).toEqual([
      1494137000, 1494137100, 1494137600, 1494137644, 1494137650, 1494137700, 1494600000, 1494638778, 1494638778, 1494650000, 1494650879,
      1494650880,
    ]);
    expect(Array.from(log.domain)).toEqual([S, S, S, T, S, T, S, S, T, S, S, T]);
    expect(Array.from(log.item)).toEqual([2, 2, 0, 0, 5, 1, 3, 0, 0, 4, 1, 1]);
    expect(Array.from(log.category)).toEqual([1, 1, 1, 0, 5, 2, 4, 1, 0, 2, 3, 2]);
    expect(Array.from(log.label)).toEqual([1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]);
    expect(Array.from(log.context[0]!)).toEqual([1, 2, 0, 0, 1, 0, 3, 0, 0, 4, 0, 0]); // btag: 0 impression, pv 1, cart 2, fav 3, buy 4
    expect(Array.from(log.context[1]!)).toEqual([0, 0, 1, 1, 0, 2, 0, 1, 2, 0, 1, 1]); // pid: 0 behaviour
    // profiles: 581738 '0,5,2,5,,3,0,2'; 449818 '13,3,2,3,1,3,0,'; 914836 none
    expect(log.profile.map((p) => Array.from(p))).toEqual([
      [1, 2, 0],
      [1, 2, 0],
      [1, 1, 0],
      [1, 2, 0],
      [0, 1, 0],
      [1, 1, 0],
      [1, 1, 0],
      [1, 0, 0],
    ]);
  });

  it('the split threshold, behaviour users and positive behaviours are settable', async () => {
    const { log, vocabulary } = await readTaobao(
      {
        rawSample: join(DIR, 'raw_sample.csv'),
        adFeature: join(DIR, 'ad_feature.csv'),
        behaviorLog: join(DIR, 'behavior_log.csv'),
      },
      { targetCategoryBelow: 1600, behaviourUsers: 'add', positiveBehaviours: ['cart', 'buy'] },
    );
    expect(vocabulary.items.target).toEqual(['ad:101']);
    expect(vocabulary.users).toEqual(['581738', '449818', '914836', '999999']);
    expect(log.meta.profile.map((p) => p.cardinality)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]); // no user_profile file: the features stay, all 0
    expect(log.profile.every((p) => p.every((v) => v === 0))).toBe(true);
    expect(log.size).toBe(13);
    expect(Array.from(log.label.subarray(0, 2))).toEqual([0, 1]); // pv no longer positive, cart is
    expect([log.domain[12], log.label[12], log.context[0]![12]]).toEqual([S, 1, 4]); // 999999's buy
  });

  it('fails with file and line on an unknown ad, inconsistent clicks, an unknown btag; skips unknown ads on request', async () => {
    const dir = join(tmp, 'bad');
    mkdirSync(dir);
    copyFileSync(join(DIR, 'ad_feature.csv'), join(dir, 'ad_feature.csv'));
    const raw = join(dir, 'raw_sample.csv'),
      beh = join(dir, 'behavior_log.csv');
    const head = 'user,time_stamp,adgroup_id,pid,nonclk,clk\n';
    writeFileSync(raw, `${head}1,1494137644,101,p,1,0\n2,1494137645,999,p,1,0\n`);
    await expect(readTaobao(dir)).rejects.toThrow(`${raw}:3: unknown adgroup_id '999': not in ${join(dir, 'ad_feature.csv')}`);
    const skipped = await readTaobao(dir, { unknownAds: 'skip' });
    expect(skipped.reports[0]).toEqual({ file: raw, rows: 2, taken: 1, skipped: 1 });
    writeFileSync(raw, `${head}1,1494137644,101,p,1,0\n2,1494137645,101,p,1,1\n`);
    await expect(readTaobao(dir)).rejects.toThrow(`${raw}:3: clk and nonclk must be 0/1 and sum to 1, got clk=1 nonclk=1`);
    writeFileSync(raw, `${head}1,1494137644,101,p,1,0\n`);
    writeFileSync(beh, 'user,time_stamp,btag,cate,brand\n1,1494137000,pv,6200,202\n1,1494137001,like,6200,202\n');
    await expect(readTaobao(dir)).rejects.toThrow(
      `${beh}:3: unknown value 'like' for context 'btag' (column 'btag'); known values: pv, cart, fav, buy`,
    );
    writeFileSync(beh, 'user,time_stamp,btag,cate\n1,1494137000,pv,6200\n');
    await expect(readTaobao(dir)).rejects.toThrow(
      `${beh}:1: missing column 'brand' (Taobao behavior_log); the header has: user, time_stamp, btag, cate`,
    );
    writeFileSync(join(dir, 'ad_feature.csv'), 'adgroup_id,cate_id,campaign_id,customer,brand,price\n101,12a,1,1,1,1\n');
    await expect(readTaobao(dir)).rejects.toThrow(`${join(dir, 'ad_feature.csv')}:2: bad number in column 'cate_id': '12a'`);
  });
});
