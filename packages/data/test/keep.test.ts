/** The KEEP world (synthetic/keep.ts) and its sample sources (samples/keep-source.ts). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keepSchema, keepTwoTowerSchema, dinSchema } from '@lctr/spec';
import {
  KEEP_SUB,
  KEEP_SUPER,
  SMALL_KEEP_WORLD_CONFIG,
  clicksBefore,
  concatKeepSources,
  createKeepSource,
  generateKeepWorld,
  keepSplit,
  resolveKeepWorldConfig,
} from '../src/index.ts';
import { exactAuc } from '../src/synthetic/auc.ts';

const small = { ...SMALL_KEEP_WORLD_CONFIG, seed: 7 };
const world = generateKeepWorld(small);
const e = world.events;

function digest(w: ReturnType<typeof generateKeepWorld>): string {
  const h = createHash('sha256');
  for (const a of [
    ...Object.values(w.events),
    w.itemShop,
    w.itemCategory,
    w.itemProductType,
    w.itemAd,
    w.userStart,
    w.superClicks,
    w.subClicks,
    w.truth.userVec,
    w.truth.itemVec,
  ]) {
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

describe('KEEP world', () => {
  it('is a pure function of its config: same seed, same bytes; another seed, other bytes', () => {
    expect(digest(generateKeepWorld(small))).toBe(digest(world));
    expect(digest(generateKeepWorld({ ...small, seed: 8 }))).not.toBe(digest(world));
  });

  it('has both domains over their days, the sub-domain sparse and on ads only, events by user then time', () => {
    const c = world.config;
    let sup = 0,
      sub = 0;
    for (let i = 0; i < world.size; i++) {
      if (e.domain[i] === KEEP_SUPER) sup++;
      else {
        sub++;
        expect(e.day[i]).toBeGreaterThanOrEqual(c.superDays - c.subDays);
        expect(world.itemAd[e.item[i]!]).toBe(1);
      }
      expect(Math.floor(e.time[i]! / 86400)).toBe(e.day[i]);
      if (i > 0 && e.user[i] === e.user[i - 1]) expect(e.time[i]).toBeGreaterThanOrEqual(e.time[i - 1]!);
      if (i > 0) expect(e.user[i]).toBeGreaterThanOrEqual(e.user[i - 1]!);
    }
    // per user and day: 6 super-domain impressions on average over 14 days, 3 sub-domain over 5 days
    expect(sup / c.users / c.superDays).toBeGreaterThan(5.5);
    expect(sup / c.users / c.superDays).toBeLessThan(6.5);
    expect(sub / c.users / c.subDays).toBeGreaterThan(2.6);
    expect(sub / c.users / c.subDays).toBeLessThan(3.4);
    expect(world.userStart[c.users]).toBe(world.size);
  });

  it('nests the labels: conversion and add-to-cart only after a click, each at its true rate', () => {
    let clicks = 0,
      conv = 0,
      cart = 0,
      pConv = 0,
      pCart = 0,
      pClick = 0,
      allClicks = 0;
    for (let i = 0; i < world.size; i++) {
      if (!e.click[i]) {
        expect(e.conv[i]).toBe(0);
        expect(e.cart[i]).toBe(0);
      } else {
        clicks++;
        conv += e.conv[i]!;
        cart += e.cart[i]!;
        pConv += e.pConv[i]!;
        pCart += e.pCart[i]!;
      }
      allClicks += e.click[i]!;
      pClick += e.pClick[i]!;
    }
    expect(conv).toBeGreaterThan(0);
    expect(cart).toBeGreaterThan(0);
    // empirical rates match the true probabilities (within 4 standard errors)
    const se = (p: number, n: number) => 4 * Math.sqrt((p * (1 - p)) / n);
    expect(Math.abs(conv / clicks - pConv / clicks)).toBeLessThan(se(pConv / clicks, clicks));
    expect(Math.abs(cart / clicks - pCart / clicks)).toBeLessThan(se(pCart / clicks, clicks));
    expect(Math.abs(allClicks / world.size - pClick / world.size)).toBeLessThan(se(pClick / world.size, world.size));
  });

  it('splits by time: eval = the last evalDays days of each domain, train before it, `days` keeps the latest training days', () => {
    const c = world.config,
      evalStart = c.superDays - c.evalDays;
    const check = (idx: Int32Array, domain: number, from: number, to: number) => {
      expect(idx.length).toBeGreaterThan(0);
      let n = 0;
      for (let i = 0; i < world.size; i++) if (e.domain[i] === domain && e.day[i]! >= from && e.day[i]! < to) n++;
      expect(idx.length).toBe(n);
      for (const i of idx) {
        expect(e.domain[i]).toBe(domain);
        expect(e.day[i]).toBeGreaterThanOrEqual(from);
        expect(e.day[i]).toBeLessThan(to);
      }
    };
    check(keepSplit(world, 'super', 'train'), KEEP_SUPER, 0, evalStart);
    check(keepSplit(world, 'super', 'eval'), KEEP_SUPER, evalStart, c.superDays);
    check(keepSplit(world, 'sub', 'train'), KEEP_SUB, c.superDays - c.subDays, evalStart);
    check(keepSplit(world, 'sub', 'eval'), KEEP_SUB, evalStart, c.superDays);
    check(keepSplit(world, 'super', 'train', { days: 3 }), KEEP_SUPER, evalStart - 3, evalStart);
  });

  it('transfers interest: the super-domain click history predicts sub-domain clicks (and the truth does better)', () => {
    const ev = keepSplit(world, 'sub', 'eval');
    const labels = new Uint8Array(ev.length),
      score = new Float64Array(ev.length),
      truth = new Float64Array(ev.length),
      latent = new Float64Array(ev.length);
    const D = world.config.latentDim;
    ev.forEach((x, j) => {
      const { start, count } = clicksBefore(world, 'super', e.user[x]!, e.time[x]!);
      const cat = world.itemCategory[e.item[x]!]!;
      let same = 0;
      for (let k = 0; k < count; k++) if (world.itemCategory[e.item[world.superClicks[start + k]!]!] === cat) same++;
      score[j] = (same + 1) / (count + world.config.categories);
      labels[j] = e.click[x]!;
      truth[j] = e.pClick[x]!;
      // the SUPER-domain interest θ_u (not θ^sub) against the item
      for (let d = 0; d < D; d++) latent[j]! += world.truth.userVec[e.user[x]! * D + d]! * world.truth.itemVec[e.item[x]! * D + d]!;
    });
    const history = exactAuc(labels, score),
      superInterest = exactAuc(labels, latent),
      bayes = exactAuc(labels, truth);
    expect(history).toBeGreaterThan(0.6);
    expect(superInterest).toBeGreaterThan(0.65);
    expect(bayes).toBeGreaterThan(superInterest);
    expect(bayes).toBeLessThan(0.9);
  });

  it('names bad knobs with the expected and actual values', () => {
    expect(() => resolveKeepWorldConfig({ users: 0 })).toThrow('keep world: users must be an integer >= 1, got 0');
    expect(() => resolveKeepWorldConfig({ evalDays: 7 })).toThrow(
      'keep world: evalDays must be an integer < subDays (7): the sub-domain needs a training day, got 7',
    );
    expect(() => resolveKeepWorldConfig({ adShare: 1.5 })).toThrow('keep world: adShare must be a number in [0, 1], got 1.5');
    expect(() => resolveKeepWorldConfig({ shops: 4, categories: 8 })).toThrow(
      'keep world: shops must be an integer >= categories (8): every category needs a shop, got 4',
    );
    expect(() => resolveKeepWorldConfig({ userz: 3 } as never)).toThrow("keep world: 'userz' is not a field");
  });
});

describe('KEEP sample sources', () => {
  const vocab = { users: world.config.users, items: world.config.items, shops: world.config.shops, categories: world.config.categories };
  const L = 6;

  it(
    'serve the extractor features: ids of the impressed item, the last L super-domain clicks before it (time-correct), nested ' + 'labels',
    () => {
      const idx = keepSplit(world, 'super', 'train');
      const src = createKeepSource(world, idx, keepSchema({ ...vocab, seqLen: L }, 'train'));
      expect(src.size).toBe(idx.length);
      const pos = Int32Array.from([0, 1, 500, idx.length - 1]);
      const b = src.batch(pos) as Record<string, { shape: readonly number[]; data: ArrayLike<number> }>;
      expect(Object.keys(b).sort()).toEqual(
        [
          'behaviourCategory',
          'behaviourItem',
          'behaviourMask',
          'behaviourShop',
          'cartLabel',
          'category',
          'clickLabel',
          'convLabel',
          'item',
          'shop',
          'user',
        ].sort(),
      );
      expect(b['behaviourItem']!.shape).toEqual([4, L]);
      pos.forEach((p, r) => {
        const ev = idx[p]!,
          u = e.user[ev]!;
        expect(b['user']!.data[r]).toBe(u);
        expect(b['item']!.data[r]).toBe(e.item[ev]);
        expect(b['shop']!.data[r]).toBe(world.itemShop[e.item[ev]!]);
        expect(b['category']!.data[r]).toBe(world.itemCategory[e.item[ev]!]);
        expect(b['clickLabel']!.data[r]).toBe(e.click[ev]);
        expect(b['convLabel']!.data[r]).toBe(e.conv[ev]);
        // expected behaviours by a plain scan
        const before: number[] = [];
        for (let j = world.userStart[u]!; j < world.userStart[u + 1]!; j++)
          if (e.domain[j] === KEEP_SUPER && e.click[j] && e.time[j]! < e.time[ev]!) before.push(e.item[j]!);
        const last = before.slice(-L);
        for (let j = 0; j < L; j++) {
          expect(b['behaviourMask']!.data[r * L + j]).toBe(j < last.length ? 1 : 0);
          expect(b['behaviourItem']!.data[r * L + j]).toBe(j < last.length ? last[j] : 0);
          expect(b['behaviourCategory']!.data[r * L + j]).toBe(j < last.length ? world.itemCategory[last[j]!] : 0);
        }
      });
      // the first impression of a user has no behaviour
      const first = idx.findIndex((ev) => ev === world.userStart[e.user[ev]!]);
      const bf = src.batch(Int32Array.of(first)) as Record<string, { data: ArrayLike<number> }>;
      expect(Array.from(bf['behaviourMask']!.data)).toEqual(new Array(L).fill(0));
      expect(src.labels[500]).toBe(e.click[idx[500]!]);
      expect(src.groups[500]).toBe(e.user[idx[500]!]);
      expect(src.trueProbability![500]).toBe(e.pClick[idx[500]!]);
    },
  );

  it(
    'serve the two-tower and the downstream DIN features: sub-domain history as targetSeq, knowledge rows from a table or a ' + 'function',
    () => {
      const idx = keepSplit(world, 'sub', 'eval');
      const tt = createKeepSource(world, idx, keepTwoTowerSchema({ ...vocab, seqLen: L }, 'train'));
      expect(Object.keys(tt.batch(Int32Array.of(0))).sort()).toEqual(
        ['behaviourCategory', 'behaviourItem', 'behaviourMask', 'behaviourShop', 'category', 'clickLabel', 'item', 'shop', 'user'].sort(),
      );
      const schema = dinSchema(
        {
          users: 0,
          targetItems: vocab.items,
          sourceItems: vocab.items,
          categories: vocab.categories,
          profile: [],
          seqLen: 4,
          sequences: ['target', 'source'],
          hidden: [8],
          knowledge: { dim: 3 },
        },
        true,
      );
      const table = new Float32Array(idx.length * 3).map((_, i) => i);
      const src = createKeepSource(world, idx, schema, { knowledge: { dim: 3, table } });
      const fn = createKeepSource(world, idx, schema, {
        knowledge: { dim: 3, of: (p) => Float32Array.from(Array.from(p).flatMap((i) => [3 * i, 3 * i + 1, 3 * i + 2])) },
      });
      const pos = Int32Array.from([5, 2, idx.length - 1]);
      const b = src.batch(pos) as Record<string, { shape: readonly number[]; data: ArrayLike<number> }>;
      expect(b['knowledge']!.shape).toEqual([3, 3]);
      expect(Array.from(b['knowledge']!.data)).toEqual([
        15,
        16,
        17,
        6,
        7,
        8,
        3 * (idx.length - 1),
        3 * (idx.length - 1) + 1,
        3 * (idx.length - 1) + 2,
      ]);
      expect(fn.batch(pos)).toEqual(b);
      pos.forEach((p, r) => {
        const ev = idx[p]!,
          u = e.user[ev]!;
        expect(b['candidate']!.data[r]).toBe(e.item[ev]);
        expect(b['label']!.data[r]).toBe(e.click[ev]);
        const subBefore: number[] = [];
        for (let j = world.userStart[u]!; j < world.userStart[u + 1]!; j++)
          if (e.domain[j] === KEEP_SUB && e.click[j] && e.time[j]! < e.time[ev]!) subBefore.push(e.item[j]!);
        const last = subBefore.slice(-4);
        for (let j = 0; j < 4; j++) expect(b['targetSeq']!.data[r * 4 + j]).toBe(j < last.length ? last[j] : 0);
        const { count } = clicksBefore(world, 'super', u, e.time[ev]!);
        expect(
          Array.from(b['sourceSeqMask']!.data)
            .slice(r * 4, r * 4 + 4)
            .reduce((s, x) => s + x, 0),
        ).toBe(Math.min(4, count));
      });
    },
  );

  it('merge two sources in batch order (Sample Merging)', () => {
    const schema = keepTwoTowerSchema({ ...vocab, seqLen: L }, 'train');
    const a = createKeepSource(world, keepSplit(world, 'sub', 'train'), schema),
      b = createKeepSource(world, keepSplit(world, 'super', 'train'), schema);
    const m = concatKeepSources(a, b);
    expect(m.size).toBe(a.size + b.size);
    const got = m.batch(Int32Array.from([a.size + 3, 1, a.size, 0])) as Record<string, { data: ArrayLike<number> }>;
    const ref = [b.batch(Int32Array.of(3)), a.batch(Int32Array.of(1)), b.batch(Int32Array.of(0)), a.batch(Int32Array.of(0))] as Array<
      Record<string, { data: ArrayLike<number> }>
    >;
    expect(Array.from(got['item']!.data)).toEqual(ref.map((r) => r['item']!.data[0]));
    expect(Array.from(got['behaviourItem']!.data).slice(L, 2 * L)).toEqual(Array.from(ref[1]!['behaviourItem']!.data));
    expect(m.labels[a.size + 3]).toBe(b.labels[3]);
  });

  it('name what is wrong: unknown features, a missing or mis-sized knowledge, indices out of range', () => {
    const idx = keepSplit(world, 'sub', 'eval');
    expect(() => createKeepSource(world, idx, { history: { dtype: 'int32', shape: ['batch', 3] } })).toThrow(
      'keep source: feature(s) history are not KEEP source features',
    );
    const schema = { knowledge: { dtype: 'float32', shape: ['batch', 4] } } as const;
    expect(() => createKeepSource(world, idx, schema)).toThrow(
      "keep source: the schema takes 'knowledge' [batch, 4] but no knowledge (table or function) was given",
    );
    expect(() => createKeepSource(world, idx, schema, { knowledge: { dim: 3, table: new Float32Array(3) } })).toThrow(
      "keep source: knowledge has width 3, the schema's 'knowledge' takes 4",
    );
    expect(() => createKeepSource(world, idx, schema, { knowledge: { dim: 4, table: new Float32Array(4) } })).toThrow(
      `keep source: the knowledge table must hold ${idx.length} x 4 = ${idx.length * 4} values (one row per sample), got 4`,
    );
    const src = createKeepSource(world, idx, { user: { dtype: 'int32', shape: ['batch'] } });
    expect(() => src.batch(Int32Array.of(idx.length))).toThrow(
      `keep source: sample index ${idx.length} at batch position 0 is outside [0, ${idx.length})`,
    );
  });
});
