import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Dataset,
  type EventLog,
  TARGET,
  buildSampleIndex,
  compileDataset,
  createSampleSource,
  datasetJsonSchema,
  datasetKey,
  formatReport,
  inspectDataset,
  loadDataset,
  parseDatasetConfig,
  readCompiledDataset,
  readDatasetConfig,
  readMovieLens,
  sampleSchema,
} from '../src/index.ts';
import { main } from '../src/cli.ts';

const REPO = resolve(import.meta.dirname, '../../..');
const ML = join(REPO, 'datasets/ml-100k.json');
const TAOBAO = join(REPO, 'datasets/taobao-sample.json');
const UB = resolve(REPO, '../shared/data/taobao-userbehavior-sample/UserBehavior.csv');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-dataset-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
const writeJson = (name: string, v: unknown) => write(name, JSON.stringify(v));

/** typed arrays compared as bytes (vitest's deep equality is slow on 100,000-element arrays) */
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const batchBytes = (batch: Record<string, { shape: readonly number[]; data: ArrayBufferView }>) =>
  Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, { shape: t.shape, data: bytes(t.data) }]));
function columns(log: EventLog) {
  const b = (a: ArrayBufferView) => bytes(a);
  return {
    meta: log.meta,
    size: log.size,
    user: b(log.user),
    item: b(log.item),
    category: b(log.category),
    domain: b(log.domain),
    timestamp: b(log.timestamp),
    label: b(log.label),
    context: log.context.map(b),
    userStart: b(log.userStart),
    profile: log.profile.map(b),
  };
}

describe('ml-100k through datasets/ml-100k.json', () => {
  it("gives the same log, vocabulary, split and batches as the hand-written path (readMovieLens + the trainer's 20% cut)", async () => {
    const d = await loadDataset(readDatasetConfig(ML));
    // the path packages/train/src/baselines.ts took before this dataset config
    const { log, vocabulary } = await readMovieLens(resolve(REPO, '../shared/data/ml-100k'));
    const times: number[] = [];
    for (let i = 0; i < log.size; i++) if (log.domain[i] === 0) times.push(log.timestamp[i]!);
    times.sort((a, b) => a - b);
    const cut = times[Math.floor(times.length * 0.8)]!;
    const train = buildSampleIndex(log, { to: cut }),
      test = buildSampleIndex(log, { from: cut });
    expect(columns(d.log)).toEqual(columns(log));
    expect(d.vocabulary).toEqual(vocabulary);
    expect(d.splitTime).toBe(cut);
    expect(bytes(d.train)).toBe(bytes(train));
    expect(bytes(d.test)).toBe(bytes(test));
    expect([d.train.length, d.test.length]).toEqual([6284, 1571]);
    const opts = { targetLength: 50, sourceLength: 50, lifelongLength: 500 };
    const schema = sampleSchema(log.meta, opts);
    for (const [mine, theirs] of [
      [d.train, train],
      [d.test, test],
    ] as const) {
      const a = createSampleSource(d.log, mine, schema, opts),
        b = createSampleSource(log, theirs, schema, opts);
      for (const rows of [Int32Array.of(0, 1, 2, 3), Int32Array.from({ length: 64 }, (_, k) => (k * 97) % mine.length)])
        expect(batchBytes(a.batch(rows))).toEqual(batchBytes(b.batch(rows)));
    }
  }, 60_000);
});

describe('the Taobao UserBehavior sample through datasets/taobao-sample.json', () => {
  const awk = (prog: string) => execFileSync('awk', ['-F,', prog, UB], { encoding: 'utf8' }).trim();
  it(
    'inspect counts match an independent awk pass over the raw file; the row outside the documented dates is refused and ' + 'counted',
    async () => {
      const cfg = readDatasetConfig(TAOBAO);
      const r = inspectDataset(await loadDataset(cfg), cfg.config);
      // the config's timeRange: 2017-11-25 to 2017-12-03 in China time (UTC+8), as ../shared/data/README.md documents
      const IN = '$5>=1511539200&&$5<1512316800';
      const T = `${IN}&&($3=="3607361"||$3=="4145813"||$3=="4756105")`;
      const POS = '($4=="cart"||$4=="fav"||$4=="buy")';
      expect(r.users).toBe(Number(awk(`${IN}&&!u[$1]++{n++} END{print n}`)));
      expect(r.categories).toBe(Number(awk(`${IN}&&!c[$3]++{n++} END{print n}`)));
      expect(r.events.total).toBe(4320);
      expect(r.events.target).toBe(Number(awk(`${T}{n++} END{print n}`)));
      expect(r.items.target).toBe(Number(awk(`(${T})&&!i[$2]++{n++} END{print n}`)));
      expect(r.items.source).toBe(Number(awk(`${IN}&&!(${T})&&!i[$2]++{n++} END{print n}`)));
      expect(r.labelRate.all).toBeCloseTo(Number(awk(`${IN}&&${POS}{p++} END{print p}`)) / 4320, 12);
      expect(r.labelRate.target).toBeCloseTo(Number(awk(`(${T})&&${POS}{p++} END{print p}`)) / r.events.target, 12);
      expect(r.time).toEqual({
        min: Number(awk(`${IN}&&(!n++||$5<m){m=$5} END{print m}`)),
        max: Number(awk(`${IN}&&(!n++||$5>m){m=$5} END{print m}`)),
      });
      expect(r.tiedTimestamps.events).toBe(Number(awk(`${IN}{k[$1","$5]++} END{for(x in k) if(k[x]>1) n+=k[x]; print n+0}`)));
      // the split: the target event at position floor(0.8 n) by time starts the test set
      const times = awk(`${T}{print $5}`)
        .split('\n')
        .map(Number)
        .sort((a, b) => a - b);
      const cut = times[Math.floor(times.length * 0.8)]!;
      expect(r.split.splitTime).toBe(cut);
      expect(r.split.test.samples).toBe(times.filter((t) => t >= cut).length);
      // the one outlier of the sample, 1000169,1328010,959452,pv,1505117799 (2017-09-11), on line 4171
      expect(awk('$5<1511539200||$5>=1512316800{print NR": "$0}')).toBe('4171: 1000169,1328010,959452,pv,1505117799');
      expect(r.refused).toEqual({
        total: 1,
        reasons: [
          {
            reason: "timestamp … is outside config.timeRange [1511539200, 1512316800) (column 'timestamp')",
            count: 1,
            first: `${UB}:4171`,
          },
        ],
      });
      expect(formatReport(r, cfg.config).slice(-2)).toEqual([
        'refused rows: 1 (maxBadRows 1)',
        `  1 x timestamp … is outside config.timeRange [1511539200, 1512316800) (column 'timestamp') (first at ${UB}:4171)`,
      ]);
      // hand-written values, so the awk programs above are checked too
      expect([r.users, r.time.min, r.events.target, r.split.train.samples, r.split.test.samples]).toEqual([43, 1511539241, 945, 756, 189]);
    },
  );
});

const EVENTS = 'user,item,cat,ts,rating\nu1,a,x,1,5\nu1,b,y,2,1\nu2,a,x,3,4\nu2,c,y,4,2\nu1,a,x,5,1\nu2,b,y,6,5\n';
const base = (events: string) => ({
  name: 'tiny',
  events: { files: [events], user: 'user', item: 'item', category: 'cat', timestamp: 'ts', label: { column: 'rating', atLeast: 4 } },
  domain: { column: 'cat', target: ['x'] },
  split: { testFraction: 0.25 },
});

describe('bad configs: one error naming the key path or the column, the expected and the actual value', () => {
  const csv = write('tiny.csv', EVENTS);
  const load = (cfg: unknown) => loadDataset({ config: parseDatasetConfig(cfg, 'tiny.json'), path: 'tiny.json', dir: tmp });
  it('unknown key, wrong type, missing key, two forms at once', () => {
    expect(() => parseDatasetConfig({ ...base(csv), extra: 1 }, 'tiny.json')).toThrow(
      'tiny.json: config.extra: unknown key (expected one of $schema, name, events, items, domain, profile, context, sequences, split, ' +
        'maxBadRows, timeRange, minCounts, negatives)',
    );
    expect(() => parseDatasetConfig({ ...base(csv), split: { testFraction: 'a fifth' } }, 'tiny.json')).toThrow(
      'tiny.json: config.split.testFraction: expected a number > 0 and < 1, got "a fifth" (a string)',
    );
    const { label: _l, ...noLabel } = base(csv).events;
    expect(() => parseDatasetConfig({ ...base(csv), events: noLabel }, 'tiny.json')).toThrow(
      'tiny.json: config.events.label: missing (expected an object)',
    );
    expect(() => parseDatasetConfig({ ...base(csv), split: { testFraction: 0.2, testFrom: 3 } }, 'tiny.json')).toThrow(
      "tiny.json: config.split: give exactly one of 'testFraction', 'testFrom', got 'testFraction', 'testFrom'",
    );
    expect(() => parseDatasetConfig({ ...base(csv), context: { w: { column: 'ts', buckets: [3, 2] } } }, 'tiny.json')).toThrow(
      'tiny.json: config.context.w.buckets: expected a non-empty array of strictly ascending numbers, got [3,2] (an array)',
    );
  });
  it('a missing column names the file, the column, the key and the header', async () => {
    await expect(load({ ...base(csv), events: { ...base(csv).events, timestamp: 'time' } })).rejects.toThrow(
      `${csv}:1: missing column 'time' (mapping.timestamp); the header has: user, item, cat, ts, rating`,
    );
  });
  it('an empty test split, a label with one class, a target domain with no events', async () => {
    await expect(load({ ...base(csv), split: { testFrom: 7 } })).rejects.toThrow(
      'tiny.json: config.split.testFrom: the test split is empty (expected at least one target event at or after 7; target events run ' +
        'from 1 to 5)',
    );
    await expect(load({ ...base(csv), events: { ...base(csv).events, label: { column: 'rating', atLeast: 6 } } })).rejects.toThrow(
      'tiny.json: config.events.label: every target event has label 0 (expected both classes among the 3 target events)',
    );
    await expect(load({ ...base(csv), domain: { column: 'cat', target: ['z'] } })).rejects.toThrow(
      'tiny.json: config.domain: no target-domain events (expected at least one; 6 events were read, all in the source domain)',
    );
  });
  it('the published JSON Schema is the one the rule tables give', () => {
    expect(JSON.parse(readFileSync(join(import.meta.dirname, '../dataset.schema.json'), 'utf8'))).toEqual(datasetJsonSchema());
  });
});

describe('bad rows: file:line errors, or skipped and counted under maxBadRows', () => {
  const bad = write('bad.csv', `${EVENTS}u3,a,x,oops,5\nu3,b,y,7,\nu3,a,x,8,5\n`);
  const cfg = (maxBadRows?: number) => ({
    config: parseDatasetConfig({ ...base(bad), ...(maxBadRows === undefined ? {} : { maxBadRows }) }, 'bad.json'),
    path: 'bad.json',
    dir: tmp,
  });
  it('without maxBadRows the first bad row fails with file:line', async () => {
    await expect(loadDataset(cfg())).rejects.toThrow(`${bad}:8: bad number in column 'ts': 'oops'`);
  });
  it('with maxBadRows they are skipped, nothing of them kept, and inspect reports them by reason', async () => {
    const c = cfg(2);
    const d: Dataset = await loadDataset(c);
    expect(d.log.size).toBe(7);
    expect(d.vocabulary.users).toEqual(['u1', 'u2', 'u3']);
    expect(d.refused).toEqual({
      total: 2,
      reasons: [
        { reason: "bad number in column 'ts': '…'", count: 1, first: `${bad}:8` },
        { reason: "missing label (column 'rating')", count: 1, first: `${bad}:9` },
      ],
    });
    expect(inspectDataset(d, c.config).refused.total).toBe(2);
    await expect(loadDataset(cfg(1))).rejects.toThrow(
      `${bad}:9: missing label (column 'rating') (bad row 2; the config allows maxBadRows = 1)`,
    );
  });
});

describe('compile', () => {
  it('writes the columnar form, read back bit for bit; the key follows the config and the file bytes, and is reused otherwise', async () => {
    const csv = write('c.csv', EVENTS);
    const out = join(tmp, 'out');
    const cfgPath = writeJson('c.json', base('c.csv'));
    const first = await compileDataset(readDatasetConfig(cfgPath), out);
    expect(first.reused).toBe(false);
    const back = readCompiledDataset(first.dir);
    const fresh = await loadDataset(readDatasetConfig(cfgPath));
    expect(columns(back.log)).toEqual(columns(fresh.log));
    expect([bytes(back.train), bytes(back.test), back.splitTime, back.vocabulary]).toEqual([
      bytes(fresh.train),
      bytes(fresh.test),
      fresh.splitTime,
      fresh.vocabulary,
    ]);
    expect(back.log.domain.filter((x) => x === TARGET).length).toBe(3);
    const again = await compileDataset(readDatasetConfig(cfgPath), out);
    expect([again.reused, again.dir, again.key]).toEqual([true, first.dir, first.key]);
    // a different config: a different key
    writeJson('c.json', { ...base('c.csv'), split: { testFraction: 0.5 } });
    const k2 = await datasetKey(readDatasetConfig(cfgPath));
    expect(k2).not.toBe(first.key);
    // the same config with changed file bytes: a different key and a new compile
    writeJson('c.json', base('c.csv'));
    writeFileSync(csv, EVENTS.replace('u2,c,y,4,2', 'u2,c,y,4,3'));
    const third = await compileDataset(readDatasetConfig(cfgPath), out);
    expect(third.key).not.toBe(first.key);
    expect(third.key).not.toBe(k2);
    expect(third.reused).toBe(false);
    expect(existsSync(first.dir) && existsSync(third.dir)).toBe(true);
    copyFileSync(csv, join(tmp, 'c-copy.csv'));
  });
});

describe('lctr data (cli main)', () => {
  const io = () => {
    const out: string[] = [],
      err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };
  it('--help prints usage and exits 0 with no side effect; a bad config exits 2 with one line', async () => {
    const h = io();
    expect(await main(['compile', 'nowhere.json', '--help'], h.io)).toBe(0);
    expect(h.out[0]).toMatch(/^usage: lctr data compile/);
    expect(existsSync('out/datasets') && existsSync('nowhere.json')).toBe(false);
    const b = io();
    const cfg = writeJson('bad-key.json', { ...base('tiny.csv'), splits: {} });
    expect(await main(['inspect', cfg, '--quiet'], b.io)).toBe(2);
    expect(b.err).toEqual([
      `lctr data inspect: ${cfg}: config.splits: unknown key (expected one of $schema, name, events, items, domain, profile, context, ` +
        `sequences, split, maxBadRows, timeRange, minCounts, negatives)`,
    ]);
    const u = io();
    expect(await main(['frobnicate', cfg], u.io)).toBe(2);
    expect(u.err[0]!.split('\n')[0]).toBe('lctr data: unknown command "frobnicate" (expected inspect or compile)');
  });
  it('inspect prints the report; compile then reuses', async () => {
    write('tiny.csv', EVENTS);
    const cfg = writeJson('ok.json', base('tiny.csv'));
    const a = io();
    expect(await main(['inspect', cfg, '--quiet'], a.io)).toBe(0);
    expect(a.out.slice(0, 3)).toEqual(['dataset tiny', 'users 2; items 1 target, 2 source; categories 2', 'events 6: 3 target, 3 source']);
    const out = join(tmp, 'cli-out');
    const c1 = io(),
      c2 = io();
    expect(await main(['compile', cfg, '--out', out, '--quiet'], c1.io)).toBe(0);
    expect(await main(['compile', cfg, '--out', out, '--quiet'], c2.io)).toBe(0);
    expect(c1.out[0]).toMatch(/^compiled .*tiny-[0-9a-f]{16} \(key [0-9a-f]{16}; 6 events, 2 train \/ 1 test samples\)$/);
    expect(c2.out[0]).toBe(c1.out[0]!.replace('compiled', 'reused'));
  });
});
