/**
 * Time correctness on a seeded random log with many timestamp ties: every sequence of every sample
 * is compared with a brute-force oracle that works from the raw events in arrival order ("before"
 * = smaller timestamp, or the same timestamp and an earlier arrival), and planted future events
 * (later timestamp, and the same timestamp with a later arrival) never appear in a sample's history.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@lctr/spec';
import { type EventInput, type EventLogMeta, EventLogBuilder, SOURCE, TARGET } from '../src/event-log.ts';
import { type SampleSourceOptions, buildSampleIndex, createSampleSource, sampleSchema } from '../src/samples.ts';

const USERS = 40,
  T_ITEMS = 50,
  S_ITEMS = 200;
const T_MARK = T_ITEMS - 1,
  S_MARK = S_ITEMS - 1; // item ids only planted events use
const meta: EventLogMeta = {
  users: USERS,
  items: { target: T_ITEMS, source: S_ITEMS },
  categories: 8,
  // context 0 carries each event's arrival number, so the lifelong context names the exact events
  context: [
    { name: 'arrival', cardinality: 100_000 },
    { name: 'watch', cardinality: 5 },
  ],
  profile: [{ name: 'age', cardinality: 3 }],
};

interface Raw extends EventInput {
  arrival: number;
  planted: boolean;
}

function world() {
  const rng = new Rng(20240607);
  const drafts: Array<Omit<Raw, 'arrival'>> = [];
  for (let u = 0; u < USERS; u++) {
    const n = u % 9 === 4 ? 0 : rng.int(40); // some users have no events at all
    for (let k = 0; k < n; k++) {
      const domain = rng.next() < 0.35 ? TARGET : SOURCE;
      drafts.push({
        user: u,
        domain,
        timestamp: rng.int(15),
        label: rng.next() < 0.5 ? 1 : 0,
        planted: false,
        item: rng.int(domain === TARGET ? T_ITEMS - 1 : S_ITEMS - 1),
        category: rng.int(8),
        context: [0, rng.int(5)],
      });
    }
  }
  for (let i = drafts.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [drafts[i], drafts[j]] = [drafts[j]!, drafts[i]!];
  }
  // plant, for some users, after all other events have arrived: at a target event's timestamp
  // (same timestamp, later arrival) and 3 later, a positive target and a positive source event
  const plantedAt = new Map<number, number>();
  for (let u = 0; u < USERS; u += 3) {
    const targets = drafts.filter((d) => d.user === u && d.domain === TARGET);
    if (!targets.length) continue;
    const t = targets[rng.int(targets.length)]!.timestamp;
    plantedAt.set(u, t);
    for (const ts of [t, t + 3]) {
      drafts.push({ user: u, domain: TARGET, timestamp: ts, label: 1, planted: true, item: T_MARK, category: 7, context: [0, 4] });
      drafts.push({ user: u, domain: SOURCE, timestamp: ts, label: 1, planted: true, item: S_MARK, category: 7, context: [0, 4] });
    }
  }
  const raw: Raw[] = drafts.map((d, arrival) => ({ ...d, arrival, context: [arrival, d.context![1]!] }));
  const b = new EventLogBuilder(meta);
  raw.forEach((r) => b.push(r));
  for (let u = 0; u < USERS; u++) b.setProfile(u, [u % 3]);
  return { raw, log: b.finish(), plantedAt };
}

const before = (a: Raw, b: Raw) => a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.arrival < b.arrival);

describe('histories use only events strictly before the sample', () => {
  const { raw, log, plantedAt } = world();
  const index = buildSampleIndex(log);
  const byUser = new Map<number, Raw[]>();
  for (const r of raw) {
    if (!byUser.has(r.user)) byUser.set(r.user, []);
    byUser.get(r.user)!.push(r);
  }

  it('the world has ties, empty users, planted events and samples', () => {
    expect(log.size).toBe(raw.length);
    expect(plantedAt.size).toBeGreaterThan(8);
    expect(index.length).toBe(raw.filter((r) => r.domain === TARGET).length);
    const ties = raw.filter((r) => raw.some((q) => q !== r && q.user === r.user && q.timestamp === r.timestamp)).length;
    expect(ties / raw.length).toBeGreaterThan(0.5);
  });

  const configs: SampleSourceOptions[] = [
    { targetLength: 4, sourceLength: 3, lifelongLength: 1000 },
    { targetLength: 3, sourceLength: 2, lifelongLength: 5, targetEvents: 'all', sourceEvents: 'positive', lifelongEvents: 'positive' },
  ];
  for (const opts of configs) {
    it(`every sequence of every sample equals the brute-force history (${JSON.stringify(opts)})`, () => {
      const src = createSampleSource(log, index, sampleSchema(meta, opts), opts);
      const order = Int32Array.from({ length: src.size }, (_, i) => src.size - 1 - i); // reversed, to exercise order too
      const batch = src.batch(order);
      const o = src.options;
      order.forEach((s, b) => {
        const p = index[s]!;
        const sample = raw[log.context[0]![p]!]!;
        expect(batch.user.data[b]).toBe(sample.user);
        expect(batch.candidate.data[b]).toBe(sample.item);
        expect(batch.label.data[b]).toBe(sample.label);
        expect(batch.profile.data[b]).toBe(sample.user % 3);
        const history = byUser
          .get(sample.user)!
          .filter((r) => before(r, sample))
          .sort((x, y) => x.timestamp - y.timestamp || x.arrival - y.arrival);
        const check = (domain: number, filter: 'all' | 'positive', L: number, ids: Int32Array, cats: Int32Array, mask: Uint8Array) => {
          const want = history.filter((r) => r.domain === domain && (filter === 'all' || r.label === 1)).slice(-L);
          const row = (a: Int32Array | Uint8Array) => Array.from(a.subarray(b * L, (b + 1) * L));
          const pad = (v: number[]) => [...v, ...new Array<number>(L - v.length).fill(0)];
          expect(row(ids)).toEqual(pad(want.map((r) => r.item)));
          expect(row(cats)).toEqual(pad(want.map((r) => r.category)));
          expect(row(mask)).toEqual(pad(want.map(() => 1)));
          return want;
        };
        check(TARGET, o.targetEvents, o.targetLength, batch.targetSeq.data, batch.targetSeqCategory.data, batch.targetSeqMask.data);
        check(SOURCE, o.sourceEvents, o.sourceLength, batch.sourceSeq.data, batch.sourceSeqCategory.data, batch.sourceSeqMask.data);
        const life = check(
          SOURCE,
          o.lifelongEvents,
          o.lifelongLength,
          batch.lifelongSeq.data,
          batch.lifelongSeqCategory.data,
          batch.lifelongMask.data,
        );
        // the lifelong context names each history event by its arrival number: each one is before the sample
        const N = o.lifelongLength,
          row = Array.from(batch.lifelongContext.data.subarray(b * N * 2, (b + 1) * N * 2));
        const arrivals = row.filter((_, k) => k % 2 === 0),
          watch = row.filter((_, k) => k % 2 === 1);
        const pad = (v: number[]) => [...v, ...new Array<number>(N - v.length).fill(0)];
        expect(arrivals).toEqual(pad(life.map((r) => r.arrival)));
        expect(watch).toEqual(pad(life.map((r) => r.context![1]!)));
        expect(arrivals.slice(0, life.length).every((a) => before(raw[a]!, sample))).toBe(true);
      });
    });
  }

  it('planted events (same timestamp later arrival, later timestamp) never reach an earlier sample', () => {
    const opts = { targetLength: 50, sourceLength: 50, lifelongLength: 1000, targetEvents: 'all' } as const;
    const src = createSampleSource(log, index, sampleSchema(meta, opts, ['targetSeq', 'sourceSeq', 'lifelongSeq', 'lifelongMask']), opts);
    const batch = src.batch(Int32Array.from({ length: src.size }, (_, i) => i));
    let guarded = 0,
      seenSameTimestamp = 0,
      seenFuture = 0;
    for (let s = 0; s < src.size; s++) {
      const sample = raw[log.context[0]![index[s]!]!]!;
      const t = plantedAt.get(sample.user);
      if (t === undefined || sample.planted) continue;
      const row = (a: Int32Array, L: number) => Array.from(a.subarray(s * L, (s + 1) * L));
      const marks =
        row(batch.targetSeq.data, 50).filter((v) => v === T_MARK).length +
        row(batch.sourceSeq.data, 50).filter((v) => v === S_MARK).length +
        row(batch.lifelongSeq.data, 1000).filter((v, j) => v === S_MARK && batch.lifelongMask.data[s * 1000 + j]).length;
      if (sample.timestamp <= t) {
        // the planted events came later (same timestamp, later arrival) or at t + 3
        expect(marks, `sample ${s} (user ${sample.user}, t ${sample.timestamp}, planted at ${t})`).toBe(0);
        guarded++;
      } else {
        // the detector works: later samples do see the planted events
        expect(marks).toBe(sample.timestamp <= t + 3 ? 3 : 6); // target + source + lifelong, one or two planted each
        if (sample.timestamp <= t + 3) seenSameTimestamp++;
        else seenFuture++;
      }
    }
    expect(guarded).toBeGreaterThan(5);
    expect(seenSameTimestamp).toBeGreaterThan(0);
    expect(seenFuture).toBeGreaterThan(0);
  });
});
