import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventReader, IdMap, SOURCE, TARGET, type Vocabulary, openCsv, readCsvEvents } from '../src/index.ts';
import { CONTEXT, EVENTS, MAPPING, expectEventsCsv } from './readers-fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lctr-events-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
const HEADER = 'user,item,genre,shelf,ts,rating,watch,device,note';

describe('generic CSV with a column mapping', () => {
  it('maps events.csv to the hand-computed EventLog and vocabulary', async () => {
    const { log, vocabulary, reports } = await readCsvEvents(EVENTS, MAPPING, { context: CONTEXT });
    expectEventsCsv(log, vocabulary);
    expect(reports).toEqual([{ file: EVENTS, rows: 8, taken: 8, skipped: 0 }]);
  });

  it('a saved vocabulary (through JSON) maps the same file to the same ids, and unknown ids fail or are skipped', async () => {
    const first = await readCsvEvents(EVENTS, MAPPING, { context: CONTEXT });
    const saved = JSON.parse(JSON.stringify(first.vocabulary)) as Vocabulary;
    const again = await readCsvEvents(EVENTS, MAPPING, { vocabulary: saved, unknownIds: 'error' });
    expectEventsCsv(again.log, again.vocabulary);

    const test = write(
      'test.csv',
      `${HEADER}\nbob,i4,horror,source,1494000200,5,10,mobile,\nerin,i1,drama,target,1494000201,5,10,mobile,\ncarol,i9,drama,source,1494000202,1,10,mobile,\n`,
    );
    await expect(readCsvEvents(test, MAPPING, { vocabulary: saved, unknownIds: 'error' })).rejects.toThrow(
      `${test}:3: unknown user id 'erin' (column 'user'): not in the vocabulary`,
    );
    await expect(readCsvEvents(test, MAPPING, { vocabulary: saved, unknownIds: { users: 'skip', items: 'error' } })).rejects.toThrow(
      `${test}:4: unknown source item id 'i9' (column 'item'): not in the vocabulary`,
    );
    const skipped = await readCsvEvents(test, MAPPING, { vocabulary: saved, unknownIds: 'skip' });
    expect(skipped.reports).toEqual([{ file: test, rows: 3, taken: 1, skipped: 2 }]);
    expect(skipped.vocabulary).toEqual(saved);
    expect(skipped.log.meta.users).toBe(4);
    expect([skipped.log.user[0], skipped.log.item[0], skipped.log.domain[0], skipped.log.category[0]]).toEqual([1, 2, SOURCE, 2]);
    const device = await readCsvEvents(
      test,
      { ...MAPPING, context: { device: 'device' } },
      { context: [{ name: 'device', values: ['mobile'], closed: true }] },
    );
    expect(device.vocabulary.context).toEqual({ device: { values: ['mobile'], closed: true } });
    expect(Array.from(device.log.context[0]!)).toEqual([1, 1, 1]);
  });

  it('fails on a missing column, listing the header', async () => {
    await expect(readCsvEvents(EVENTS, { ...MAPPING, label: { column: 'stars', atLeast: 4 } }, { context: CONTEXT })).rejects.toThrow(
      `${EVENTS}:1: missing column 'stars' (mapping.label); the header has: user, item, genre, shelf, ts, rating, watch, device, note`,
    );
    await expect(readCsvEvents(EVENTS, { ...MAPPING, context: { device: 'dev' } }, { context: CONTEXT })).rejects.toThrow(
      `${EVENTS}:1: missing column 'dev' (mapping.context.device); the header has: user,`,
    );
    await expect(readCsvEvents(EVENTS, { ...MAPPING, context: { hour: 'ts' } }, { context: CONTEXT })).rejects.toThrow(
      `${EVENTS}:1: mapping.context names 'hour', which is not a context feature of this reader (device, watch)`,
    );
  });

  it('fails on a bad number, a missing timestamp, a missing id, a label that is not 0/1, naming file and line', async () => {
    const bad = write('bad.csv', `${HEADER}\nalice,i1,drama,target,1,5,1,,\nbob,i1,drama,target,2,four,1,,\n`);
    await expect(readCsvEvents(bad, MAPPING, { context: CONTEXT })).rejects.toThrow(`${bad}:3: bad number in column 'rating': 'four'`);
    const watch = write('watch.csv', `${HEADER}\nalice,i1,drama,target,1,5,0x10,,\n`);
    await expect(readCsvEvents(watch, MAPPING, { context: CONTEXT })).rejects.toThrow(`${watch}:2: bad number in column 'watch': '0x10'`);
    const noTs = write(
      'nots.csv',
      `${HEADER}\nalice,i1,drama,target,1,5,1,,\n"bob",i1,drama,target,2,5,1,,"multi\nline"\ncarol,i1,drama,target,,5,1,,\n`,
    );
    await expect(readCsvEvents(noTs, MAPPING, { context: CONTEXT })).rejects.toThrow(`${noTs}:5: missing timestamp (column 'ts')`);
    const noUser = write('nouser.csv', `${HEADER}\n,i1,drama,target,1,5,1,,\n`);
    await expect(readCsvEvents(noUser, MAPPING, { context: CONTEXT })).rejects.toThrow(`${noUser}:2: missing user id (column 'user')`);
    await expect(readCsvEvents(EVENTS, { ...MAPPING, label: { column: 'rating' } }, { context: CONTEXT })).rejects.toThrow(
      `${EVENTS}:2: label in column 'rating' must be 0 or 1, got 5`,
    );
    await expect(
      readCsvEvents(EVENTS, { ...MAPPING, domain: { rule: (r) => (r.text('shelf') === 'target' ? 0 : 2) as 0 } }, { context: CONTEXT }),
    ).rejects.toThrow(`${EVENTS}:3: the domain rule returned 2; expected 0 (target) or 1 (source)`);
  });

  it(
    'issue 17 item 10: an out-of-range timestamp, an integer past 2^53 and invalid UTF-8 fail with file:line, never stored ' + 'changed',
    async () => {
      const huge = write('huge.csv', `${HEADER}\nalice,i1,drama,target,1,5,1,,\nbob,i1,drama,target,1e999,5,1,,\n`);
      await expect(readCsvEvents(huge, MAPPING, { context: CONTEXT })).rejects.toThrow(
        `${huge}:3: bad number in column 'ts': '1e999' (out of the float64 range)`,
      );
      const big = write('big.csv', `${HEADER}\nalice,i1,drama,target,9007199254740993,5,1,,\n`);
      await expect(readCsvEvents(big, MAPPING, { context: CONTEXT })).rejects.toThrow(
        `${big}:2: integer 9007199254740993 in column 'ts' is beyond 2^53 - 1 (9007199254740991) and cannot be stored exactly; store it as ` +
          `a string id or scale it down`,
      );
      // the largest exact integer is still taken as it is
      const edge = write('edge.csv', `${HEADER}\nalice,i1,drama,target,9007199254740991,5,1,,\n`);
      expect((await readCsvEvents(edge, MAPPING, { context: CONTEXT })).log.timestamp[0]).toBe(9007199254740991);
      const latin1 = join(tmp, 'latin1.csv');
      writeFileSync(
        latin1,
        Buffer.concat([
          Buffer.from(`${HEADER}\nalice,i1,drama,target,1,5,1,,\n`),
          Buffer.from('bob,i1,drama,target,2,5,1,,caf'),
          Buffer.from([0xe9]),
          Buffer.from('\n'),
        ]),
      );
      await expect(readCsvEvents(latin1, MAPPING, { context: CONTEXT })).rejects.toThrow(
        `${latin1}:3: invalid UTF-8 (byte 0xe9 at file offset 110); the file must be UTF-8 encoded`,
      );
    },
  );

  it('fails on unsorted timestamps when the caller requires sorted input', async () => {
    await expect(readCsvEvents(EVENTS, MAPPING, { context: CONTEXT, requireSorted: 'file' })).rejects.toThrow(
      `${EVENTS}:8: timestamp 1494000100 is earlier than 1494000120 on the previous row (${EVENTS}:7); this input must be sorted by time ` +
        `(requireSorted: 'file')`,
    );
    await expect(readCsvEvents(EVENTS, MAPPING, { context: CONTEXT, requireSorted: 'user' })).rejects.toThrow(
      `${EVENTS}:8: timestamp 1494000100 is earlier than 1494000110, the previous event of user 'alice'; this input must be sorted by ` +
        `time within each user (requireSorted: 'user')`,
    );
    const sorted = write(
      'sorted.csv',
      `${HEADER}\nb,i1,drama,target,5,5,1,,\na,i1,drama,target,3,5,1,,\nb,i1,drama,target,5,5,1,,\na,i2,drama,source,4,5,1,,\n`,
    );
    const { log } = await readCsvEvents(sorted, MAPPING, { context: CONTEXT, requireSorted: 'user' });
    expect(Array.from(log.timestamp)).toEqual([5, 5, 3, 4]); // user b (id 0) first
  });

  it('labels by value set, constant domain, ISO timestamps, closed vocabularies and rules', async () => {
    const p = write('iso.tsv', 'uid\tad\tat\tact\tdev\n7\t1\t2017-05-06T00:00:00Z\tbuy\tios\n7\t2\t2017-05-06T00:00:01.500Z\tpv\tweb\n');
    const { log, vocabulary } = await readCsvEvents(
      p,
      {
        user: { rule: (r) => `u${r.text('uid')}` },
        item: 'ad',
        domain: { constant: SOURCE },
        timestamp: { column: 'at', format: 'iso' },
        label: { column: 'act', oneOf: ['buy', 'cart'] },
        context: { dev: 'dev' },
      },
      { context: [{ name: 'dev', values: ['web', 'ios'], closed: true }] },
    );
    expect(Array.from(log.timestamp)).toEqual([1494028800, 1494028801.5]);
    expect(Array.from(log.label)).toEqual([1, 0]);
    expect(Array.from(log.domain)).toEqual([SOURCE, SOURCE]);
    expect(Array.from(log.category)).toEqual([0, 0]);
    expect(Array.from(log.context[0]!)).toEqual([2, 1]);
    expect(vocabulary.users).toEqual(['u7']);
    expect(log.meta.categories).toBe(1);

    const badIso = write('badiso.tsv', 'uid\tad\tat\n7\t1\tyesterday\n');
    await expect(
      readCsvEvents(badIso, {
        user: 'uid',
        item: 'ad',
        domain: { constant: TARGET },
        timestamp: { column: 'at', format: 'iso' },
        label: { constant: 1 },
      }),
    ).rejects.toThrow(`${badIso}:2: bad timestamp in column 'at': 'yesterday' (expected ISO 8601)`);
    await expect(
      readCsvEvents(EVENTS, MAPPING, {
        context: [
          { name: 'device', values: ['mobile', 'desktop'], closed: true },
          { name: 'watch', buckets: [60, 600] },
        ],
      }),
    ).rejects.toThrow(`${EVENTS}:7: unknown value 'tablet' for context 'device' (column 'device'); known values: mobile, desktop`);
    expect(() => new EventReader({ context: [{ name: 'w', buckets: [5, 5] }] })).toThrow(
      "feature 'w': bucket boundaries must be finite and strictly ascending, got [5, 5]",
    );
  });

  it('collects several files and a profile table into one log', async () => {
    const reader = new EventReader({ context: CONTEXT, profile: [{ name: 'gender' }, { name: 'age', buckets: [18, 30] }] });
    const extra = write('extra.csv', 'who,what,when\ndave,i1,1494000150\nerin,i5,1494000001\n');
    await reader.add(openCsv(EVENTS), MAPPING);
    await reader.add(openCsv(extra), {
      user: 'who',
      item: 'what',
      domain: { constant: TARGET },
      timestamp: 'when',
      label: { constant: 1 },
    });
    const profiles = write('profiles.csv', 'user,gender,age\ncarol,F,31\nalice,F,\nzed,M,50\nbob,M,17\n');
    expect(await reader.addProfiles(openCsv(profiles), { user: 'user', features: { gender: 'gender', age: 'age' } })).toEqual({
      file: profiles,
      rows: 4,
      taken: 3,
      skipped: 1,
    });
    const { log, vocabulary } = reader.finish();
    expect(vocabulary.users).toEqual(['alice', 'bob', 'carol', 'dave', 'erin']);
    expect(vocabulary.items).toEqual({ target: ['i1', 'i5'], source: ['i2', 'i3', 'i4'] });
    expect(Array.from(log.userStart)).toEqual([0, 3, 5, 7, 9, 10]);
    expect(Array.from(log.item.subarray(7))).toEqual([1, 0, 1]); // dave: i3 (source) at 140, i1 at 150; erin: i5
    expect(Array.from(log.context[0]!.subarray(8))).toEqual([0, 0]); // files without context get 0
    expect(Array.from(log.profile[0]!)).toEqual([1, 2, 1, 0, 0]); // F 1, M 2; dave, erin have none
    expect(Array.from(log.profile[1]!)).toEqual([0, 1, 3, 0, 0]); // alice empty age -> 0; bob 17 -> 1; carol 31 -> 3
    expect(log.meta.profile).toEqual([
      { name: 'gender', cardinality: 3 },
      { name: 'age', cardinality: 4 },
    ]);

    const r2 = new EventReader({ profile: [{ name: 'gender' }] });
    const twice = write('twice.csv', 'user,gender\na,F\na,M\n');
    await expect(r2.addProfiles(openCsv(twice), { user: 'user', features: { gender: 'gender' } }, { unknownUsers: 'add' })).rejects.toThrow(
      `${twice}:3: a second profile row for user 'a'`,
    );
  });

  it('IdMap keeps raw ids apart exactly as strings (integers looked up by number)', () => {
    const m = new IdMap(['17', '017', '-3', 'x', '1234567890123456', '1234567890123457', '0']);
    expect(['17', '017', '-3', 'x', '1234567890123456', '1234567890123457', '0', '00', '18'].map((k) => m.get(k))).toEqual([
      0,
      1,
      2,
      3,
      4,
      5,
      6,
      undefined,
      undefined,
    ]);
    expect(m.add('18')).toBe(7);
    expect(m.values).toEqual(['17', '017', '-3', 'x', '1234567890123456', '1234567890123457', '0', '18']);
  });

  it('profiles of users added to the vocabulary directly are kept', async () => {
    const reader = new EventReader({ profile: [{ name: 'gender' }] });
    for (let u = 0; u < 40; u++) reader.users.add(`u${u}`);
    await reader.addProfiles(openCsv(write('p40.csv', 'user,gender\nu39,F\nu2,M\n')), { user: 'user', features: { gender: 'gender' } });
    const { log } = reader.finish();
    expect([log.meta.users, log.profile[0]![39], log.profile[0]![2], log.profile[0]![0]]).toEqual([40, 1, 2, 0]);
  });
});
