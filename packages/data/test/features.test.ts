/**
 * The serving form of the feature pipeline (src/dataset/features.ts) against the sample builder:
 * for EVERY eval sample of real datasets, a raw request built from the raw file's rows (the user's
 * rows before the sample, in file order; the sample's row as the candidate) maps to exactly the
 * features createSampleSource builds from the EventLog. Plus unknown ids: the out-of-vocabulary row
 * where the vocabulary has one, refusal or omission where it has not, each counted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RequestError } from '@lctr/spec';
import {
  type FeaturePipeline,
  type LoadedDatasetConfig,
  type RawRow,
  RawRequestMapper,
  SAMPLE_FEATURES,
  buildFeaturePipeline,
  createSampleSource,
  datasetKey,
  loadDataset,
  readDatasetConfig,
  sampleSchema,
} from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-features-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SEQ = {
  target: { length: 50, events: 'positive' },
  source: { length: 50, events: 'all' },
  lifelong: { length: 1000, events: 'all' },
} as const;

/** raw rows of a file by user (file order), as plain string splitting reads them */
function rawRows(
  file: string,
  sep: string,
  header: readonly string[] | null,
  keep: (r: Record<string, string>) => boolean,
): { byUser: Map<string, Record<string, string>[]>; user: string } {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const names =
    header ??
    lines
      .shift()!
      .split(sep)
      .map((h) => h.split(':')[0]!);
  const byUser = new Map<string, Record<string, string>[]>();
  for (const line of lines) {
    const cells = line.split(sep);
    const r = Object.fromEntries(names.map((n, k) => [n, cells[k]!]));
    if (!keep(r)) continue;
    const u = r[names[0]!]!;
    if (!byUser.has(u)) byUser.set(u, []);
    byUser.get(u)!.push(r);
  }
  return { byUser, user: names[0]! };
}

async function checkEverySample(loaded: LoadedDatasetConfig, rows: ReturnType<typeof rawRows>, tsColumn: string, itemColumn: string) {
  const ds = await loadDataset(loaded);
  const pipeline: FeaturePipeline = JSON.parse(JSON.stringify(await buildFeaturePipeline(loaded, ds, await datasetKey(loaded), SEQ))); // through JSON, as served
  const mapper = new RawRequestMapper(pipeline);
  const features = SAMPLE_FEATURES.filter((f) => f !== 'label' && f !== 'user' && (f !== 'profile' || ds.log.meta.profile.length > 0));
  const source = createSampleSource(ds.log, ds.test, sampleSchema(ds.log.meta, { lifelongLength: 1000 }, features), {
    lifelongLength: 1000,
  });
  const sorted = new Map(
    [...rows.byUser].map(([u, list]) => [
      u,
      list
        .map((r, i) => ({ r, i }))
        .sort((a, b) => Number(a.r[tsColumn]) - Number(b.r[tsColumn]) || a.i - b.i)
        .map((x) => x.r),
    ]),
  );
  let nonEmpty = 0;
  for (let s = 0; s < source.size; s++) {
    const p = source.positions[s]!,
      u = ds.log.user[p]!;
    const rawUser = ds.vocabulary.users[u]!;
    const list = sorted.get(rawUser)!;
    const k = p - ds.log.userStart[u]!;
    const candidate = list[k]!;
    expect(candidate[itemColumn]).toBe(ds.vocabulary.items.target[ds.log.item[p]!]);
    // the history in FILE order (the mapper orders it), integers where the file has numbers
    const history: RawRow[] = rows.byUser
      .get(rawUser)!
      .filter((r) => list.indexOf(r) < k)
      .map((r) => ({ ...r, [tsColumn]: Number(r[tsColumn]) }));
    const m = mapper.map({ user: rawUser, history, candidates: [candidate] });
    const batch = source.batch(Int32Array.of(s)) as Record<string, { data: ArrayLike<number> }>;
    for (const f of features) {
      const want = Array.from(batch[f]!.data);
      const got =
        f === 'candidate' ? Array.from(m.candidate) : f === 'candidateCategory' ? Array.from(m.candidateCategory) : Array.from(m.user[f]!);
      expect(got, `sample ${s} (event ${p}), feature ${f}`).toEqual(want);
    }
    expect(m.unknown).toEqual({});
    if (m.user['lifelongMask']!.some((x) => x === 1)) nonEmpty++;
  }
  return { samples: source.size, nonEmpty, mapper, ds };
}

describe('raw requests map exactly as the sample builder builds', () => {
  it('Taobao UserBehavior sample: every eval sample (string-free integer ids, behaviour context, label from behavior_type)', async () => {
    const loaded = readDatasetConfig(join(root, 'datasets/taobao-sample.json'));
    const tr = loaded.config.timeRange!;
    const rows = rawRows(
      join(root, '../shared/data/taobao-userbehavior-sample/UserBehavior.csv'),
      ',',
      loaded.config.events.header!,
      (r) => Number(r['timestamp']) >= tr.from! && Number(r['timestamp']) < tr.to!,
    );
    const { samples, nonEmpty } = await checkEverySample(loaded, rows, 'timestamp', 'item_id');
    expect(samples).toBe(189);
    expect(nonEmpty).toBeGreaterThan(150);
  });

  it('ml-100k: every eval sample (items file: domain, category and item-context from it; profile per user)', async () => {
    const loaded = readDatasetConfig(join(root, 'datasets/ml-100k.json'));
    const rows = rawRows(join(root, '../shared/data/ml-100k/ml-100k.inter'), '\t', null, () => true);
    const { samples } = await checkEverySample(loaded, rows, 'timestamp', 'item_id');
    expect(samples).toBeGreaterThan(1000);
  }, 60_000);
});

describe('unknown ids', () => {
  it(
    'with minCounts they take the out-of-vocabulary row 0 and are counted per feature; without, a history event is left out and a ' +
      'candidate refused',
    async () => {
      const base = JSON.parse(readFileSync(join(root, 'datasets/taobao-sample.json'), 'utf8'));
      const file = resolve(root, '../shared/data/taobao-userbehavior-sample/UserBehavior.csv');
      const path = join(tmp, 'taobao-oov.json');
      writeFileSync(
        path,
        JSON.stringify({ ...base, $schema: undefined, events: { ...base.events, files: [file] }, minCounts: { items: 2, categories: 2 } }),
      );
      const loaded = readDatasetConfig(path);
      const ds = await loadDataset(loaded);
      const withOov = new RawRequestMapper(await buildFeaturePipeline(loaded, ds, 'k', SEQ));
      const row = (item: string, category: string, behaviour: string, t: number) => ({
        user_id: '1',
        item_id: item,
        category_id: category,
        behavior_type: behaviour,
        timestamp: t,
      });
      const known = ds.vocabulary.items.source[1]!;
      const m = withOov.map({
        history: [
          row('no-such-item', '2520377', 'pv', 1511600000),
          row(known, 'no-such-cat', 'pv', 1511600001),
          row(known, '2520377', 'pv', 1511500000),
        ],
        candidates: [{ item_id: 'nope', category_id: '4756105' }],
      });
      expect(m.unknown).toEqual({ 'history.item': 1, 'history.category': 1, 'candidate.item': 1 });
      expect(m.dropped).toBe(0);
      expect(Array.from(m.candidate)).toEqual([0]);
      // oldest first: the third row is the earliest
      expect(Array.from(m.user['sourceSeq']!.slice(0, 4))).toEqual([1, 0, 1, 0]);
      expect(Array.from(m.user['sourceSeqMask']!.slice(0, 4))).toEqual([1, 1, 1, 0]);

      const plainLoaded = readDatasetConfig(join(root, 'datasets/taobao-sample.json'));
      const plain = new RawRequestMapper(await buildFeaturePipeline(plainLoaded, await loadDataset(plainLoaded), 'k', SEQ));
      const p = plain.map({
        history: [row('no-such-item', '2520377', 'pv', 1511600000)],
        candidates: [{ item_id: plain.pipeline.vocabulary.items.target[0]!, category_id: '4756105' }],
      });
      expect(p.dropped).toBe(1);
      expect(p.unknown).toEqual({ 'history.item': 1 });
      let err: unknown;
      try {
        plain.map({ history: [], candidates: [{ item_id: 'nope', category_id: '4756105' }] });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RequestError);
      expect((err as Error).message).toBe(
        `raw.candidates[0].item_id: expected a target item of the vocabulary (${plain.pipeline.vocabulary.items.target.length} items; this ` +
          `model has no out-of-vocabulary row), got "nope"`,
      );
      expect(() => plain.map({ history: [{ item_id: '1' }], candidates: [{ item_id: '1' }] })).toThrow(
        'raw.history[0].timestamp: expected the timestamp (a number), got nothing (missing field)',
      );
      expect(() => plain.map({ history: [], candidates: [], extra: 1 })).toThrow(
        'raw.extra: expected no such field (raw requests have user, history, candidates), got 1',
      );
    },
  );
});
