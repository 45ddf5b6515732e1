/**
 * The behaviour both stores must have, as one suite run over each (stores.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GkcError, type KnowledgeStore, type KnowledgeTables, type LookupBatch } from '../src/index.ts';
import { handTables } from './helpers.ts';

export interface StoreHarness {
  /** A new, empty store (maxVersions 5 unless given). */
  fresh(options?: { maxVersions?: number }): Promise<KnowledgeStore>;
  /** Close `store` and open the same storage again (a restart of the serving process). */
  reopen(store: KnowledgeStore): Promise<KnowledgeStore>;
}

const batch = (users: number[], items: number[], categories: number[], version: string | string[]): LookupBatch => ({
  users: Int32Array.from(users),
  items: Int32Array.from(items),
  categories: Int32Array.from(categories),
  version,
});

/** The four hand-computed rows of handTables() (see helpers.ts), 9-d: [U, I, U ⊙ I, UC]. */
const HAND_BATCH = batch([7, 3, 99, 3], [20, 10, 30, 999], [200, 100, 100, 200], 'v1');
const HAND_ROWS = [
  [1, 2, 2, 0.25, 2, 0.5, 3, 3, 3], //  u 7, i 20, c 200: all known
  [3, 4, 0.5, -1, 1.5, -4, 1, 1, 1], // u 3, i 10, c 100
  [0, 0, -3, 1, 0, 0, 0, 0, 0], //     u 99 unknown: U, U ⊙ I and UC zero
  [3, 4, 0, 0, 0, 0, 0, 0, 0], //      i 999 and (3, 200) unknown
];
const rowsOf = (a: Float32Array, dim: number) =>
  Array.from({ length: a.length / dim }, (_, r) => Array.from(a.subarray(r * dim, (r + 1) * dim)));

export function storeSuite(name: string, harness: () => StoreHarness): void {
  describe(`${name}: shared store behaviour`, () => {
    const open: KnowledgeStore[] = [];
    const fresh = async (o?: { maxVersions?: number }) => {
      const s = await harness().fresh(o);
      open.push(s);
      return s;
    };
    const reopen = async (s: KnowledgeStore) => {
      const t = await harness().reopen(s);
      open.push(t);
      return t;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
    });

    it('assembles [U, I, U ⊙ I, UC] (Eq. 6) as hand-computed; unknown keys give zeros and are counted per table', async () => {
      const s = await fresh();
      const put = await s.putVersion('v1', handTables(), { source: 'hand' });
      expect(put.manifest).toMatchObject({
        version: 'v1',
        seq: expect.any(Number),
        dim: 9,
        parts: ['user', 'item', 'user*item', 'userCategory'],
        source: 'hand',
        tables: { user: { rows: 2, dim: 2 }, item: { rows: 3, dim: 2 }, userCategory: { rows: 3, dim: 3 } },
      });
      expect(put.manifest.slots).toEqual([
        { part: 'user', offset: 0, dim: 2 },
        { part: 'item', offset: 2, dim: 2 },
        { part: 'user*item', offset: 4, dim: 2 },
        { part: 'userCategory', offset: 6, dim: 3 },
      ]);
      expect(put.manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(put).toMatchObject({ evicted: [], replaced: false, versions: ['v1'] });
      const out = await s.lookup(HAND_BATCH);
      expect(out).toBeInstanceOf(Float32Array);
      expect(rowsOf(out, 9)).toEqual(HAND_ROWS);
      expect(s.metrics()).toEqual({ batches: 1, rows: 4, misses: { user: 1, item: 1, userCategory: 2, userItem: 0 }, unknownVersions: 0 });
      // into a caller's buffer, stale content overwritten (missing parts are zeroed, not left)
      const buf = new Float32Array(36).fill(Number.NaN);
      expect(await s.lookup(HAND_BATCH, buf)).toBe(buf);
      expect(rowsOf(buf, 9)).toEqual(HAND_ROWS);
      expect(s.metrics().misses.userCategory).toBe(4);
      s.resetMetrics();
      expect(s.metrics()).toEqual({ batches: 0, rows: 0, misses: { user: 0, item: 0, userCategory: 0, userItem: 0 }, unknownVersions: 0 });
      // an empty batch
      expect((await s.lookup(batch([], [], [], 'v1'))).length).toBe(0);
    });

    it('the sha256 does not depend on the row order of the source', async () => {
      const s = await fresh();
      const a = await s.putVersion('a', handTables());
      const t = handTables();
      const sorted: KnowledgeTables = {
        ...t,
        user: { keys: Int32Array.from([3, 7]), values: Float32Array.from([3, 4, 1, 2]), rows: 2, dim: 2 },
      };
      const b = await s.putVersion('b', sorted);
      expect(b.manifest.sha256).toBe(a.manifest.sha256);
      const c = await s.putVersion('c', handTables(2));
      expect(c.manifest.sha256).not.toBe(a.manifest.sha256);
    });

    it('an unknown version is an error naming the known versions, and counted', async () => {
      const s = await fresh();
      await expect(s.lookup(batch([7], [20], [200], 'v1'))).rejects.toThrow(
        new GkcError("unknown knowledge version 'v1'; known versions (oldest first): none"),
      );
      await s.putVersion('v1', handTables());
      await s.putVersion('v2', handTables());
      await expect(s.lookup(batch([7], [20], [200], 'v9'))).rejects.toThrow(
        new GkcError("unknown knowledge version 'v9'; known versions (oldest first): v1, v2"),
      );
      await expect(s.manifest('v9')).rejects.toThrow("unknown knowledge version 'v9'");
      expect(s.metrics().unknownVersions).toBe(3);
      expect(s.metrics().rows).toBe(0);
    });

    it('keeps at most 5 versions: the 6th load evicts the oldest', async () => {
      const s = await fresh();
      for (let k = 1; k <= 5; k++) expect((await s.putVersion(`v${k}`, handTables(k))).evicted).toEqual([]);
      const sixth = await s.putVersion('v6', handTables(6));
      expect(sixth.evicted).toEqual(['v1']);
      expect(sixth.versions).toEqual(['v2', 'v3', 'v4', 'v5', 'v6']);
      expect((await s.versions()).map((m) => m.version)).toEqual(['v2', 'v3', 'v4', 'v5', 'v6']);
      await expect(s.lookup(batch([7], [20], [200], 'v1'))).rejects.toThrow(
        "unknown knowledge version 'v1'; known versions (oldest first): v2, v3, v4, v5, v6",
      );
      for (let k = 2; k <= 6; k++)
        expect(Array.from(await s.lookup(batch([7], [20], [200], `v${k}`)))).toEqual(
          [1, 2, 2, 0.25, 2, 0.5, 3, 3, 3].map((x, j) => (j === 4 || j === 5 ? x * k * k : x * k)),
        );
      expect((await s.putVersion('v7', handTables(7))).evicted).toEqual(['v2']);
      const small = await fresh({ maxVersions: 2 });
      await small.putVersion('a', handTables());
      await small.putVersion('b', handTables());
      expect(await small.putVersion('c', handTables())).toMatchObject({ evicted: ['a'], versions: ['b', 'c'] });
    });

    it('refuses to overwrite a version without force; force replaces it and makes it the newest', async () => {
      const s = await fresh();
      await s.putVersion('v1', handTables());
      await s.putVersion('v2', handTables(2));
      await expect(s.putVersion('v1', handTables(10))).rejects.toThrow(
        /^knowledge version 'v1' already exists in .* \(registered .*, sha256 [0-9a-f]{12}\); pass force: true \(CLI: --force\) to replace it$/,
      );
      expect(Array.from(await s.lookup(batch([3], [10], [100], 'v1')))).toEqual([3, 4, 0.5, -1, 1.5, -4, 1, 1, 1]);
      const r = await s.putVersion('v1', handTables(10), { force: true });
      expect(r).toMatchObject({ replaced: true, evicted: [], versions: ['v2', 'v1'] });
      expect(Array.from(await s.lookup(batch([3], [10], [100], 'v1')))).toEqual([30, 40, 5, -10, 150, -400, 10, 10, 10]);
      expect((await s.versions()).map((m) => m.version)).toEqual(['v2', 'v1']);
    });

    it('answers rows of different versions in one batch (quadruples)', async () => {
      const s = await fresh();
      await s.putVersion('a', handTables(1));
      await s.putVersion('b', handTables(2));
      const out = await s.lookup(batch([7, 7, 3], [20, 20, 10], [200, 200, 100], ['b', 'a', 'b']));
      expect(rowsOf(out, 9)).toEqual([
        [2, 4, 4, 0.5, 8, 2, 6, 6, 6],
        [1, 2, 2, 0.25, 2, 0.5, 3, 3, 3],
        [6, 8, 1, -2, 6, -16, 2, 2, 2],
      ]);
      await expect(s.lookup(batch([7], [20], [200], ['zz']))).rejects.toThrow(
        "unknown knowledge version 'zz'; known versions (oldest first): a, b",
      );
      const other: KnowledgeTables = { parts: ['user', 'item'], user: handTables().user!, item: handTables().item! };
      await s.putVersion('narrow', other);
      await expect(s.lookup(batch([7, 7], [20, 20], [200, 200], ['a', 'narrow']))).rejects.toThrow(
        "lookup: the rows of one batch must assemble to one width; version 'a' gives 9, version 'narrow' gives 4",
      );
    });

    it('stores other layouts: the part list is part of the manifest', async () => {
      const s = await fresh();
      const t = handTables();
      const m = await s.putVersion('ui', { parts: ['userCategory', 'user'], user: t.user!, userCategory: t.userCategory! });
      expect(m.manifest).toMatchObject({ dim: 5, parts: ['userCategory', 'user'] });
      expect(Array.from(await s.lookup(batch([7], [0], [100], 'ui')))).toEqual([2, 2, 2, 1, 2]);
      // a per-(user, item) table, as the non-decomposed layout would need
      const pair = await s.putVersion('pairs', {
        parts: ['user', 'userItem'],
        user: t.user!,
        userItem: { keys: Int32Array.from([7, 20]), values: Float32Array.from([9, 8, 7]), rows: 1, dim: 3 },
      });
      expect(pair.manifest.dim).toBe(5);
      expect(rowsOf(await s.lookup(batch([7, 7], [20, 10], [0, 0], 'pairs')), 5)).toEqual([
        [1, 2, 9, 8, 7],
        [1, 2, 0, 0, 0],
      ]);
      expect(s.metrics().misses).toEqual({ user: 0, item: 0, userCategory: 0, userItem: 1 });
      // empty tables: every key unknown
      const empty = await s.putVersion('empty', {
        parts: ['user'],
        user: { keys: new Int32Array(0), values: new Float32Array(0), rows: 0, dim: 4 },
      });
      expect(empty.manifest.dim).toBe(4);
      expect(Array.from(await s.lookup(batch([1], [2], [3], 'empty')))).toEqual([0, 0, 0, 0]);
    });

    it('bad loads and bad batches throw naming the field, expected and actual', async () => {
      const s = await fresh();
      const t = handTables();
      await expect(s.putVersion('bad/id', t)).rejects.toThrow(
        `version must be 1-64 characters of letters, digits, '.', '_', '-' starting with a letter or digit; got "bad/id"`,
      );
      await expect(s.putVersion('x', { ...t, item: { ...t.item!, dim: 3, values: new Float32Array(9) } })).rejects.toThrow(
        "knowledge version 'x': part 'user*item' needs equal user and item dims; got user 2, item 3",
      );
      await expect(
        s.putVersion('x', { ...t, user: { keys: Int32Array.from([7, 7]), values: new Float32Array(4), rows: 2, dim: 2 } }),
      ).rejects.toThrow("knowledge version 'x': tensor 'user.keys' repeats the key 7 (rows 0 and 1)");
      await expect(
        s.putVersion('x', { ...t, userCategory: { ...t.userCategory!, values: Float32Array.from([1, 1, 1, 1, Number.NaN, 1, 1, 1, 1]) } }),
      ).rejects.toThrow("knowledge version 'x': tensor 'userCategory.values' holds a non-finite value (NaN) at row 1, column 1");
      await expect(s.putVersion('x', { parts: ['user'], user: t.user!, item: t.item! })).rejects.toThrow(
        "knowledge version 'x': table 'item' is present but no part uses it (parts: user)",
      );
      expect(await s.versions()).toEqual([]);
      await s.putVersion('v1', t);
      await expect(
        s.lookup({ users: [7] as unknown as Int32Array, items: Int32Array.of(1), categories: Int32Array.of(1), version: 'v1' }),
      ).rejects.toThrow('lookup: batch.users must be an Int32Array; got Array');
      await expect(s.lookup(batch([7, 3], [20], [200, 100], 'v1'))).rejects.toThrow('lookup: batch.items has 1 entries; batch.users has 2');
      await expect(s.lookup(batch([7, 3], [20, 10], [200, 100], ['v1']))).rejects.toThrow(
        'lookup: batch.version has 1 entries; batch.users has 2',
      );
      await expect(s.lookup(batch([7], [20], [200], 'v1'), new Float32Array(8))).rejects.toThrow(
        'lookup: out must be a Float32Array of 1 x 9 = 9; got length 8',
      );
      expect(s.metrics().rows).toBe(0);
    });

    it('a failure mid-load leaves no visible version; the next load cleans the leftovers', async () => {
      const s = await fresh();
      await s.putVersion('v1', handTables());
      const steps: string[] = [];
      await expect(
        s.putVersion('v2', handTables(2), {
          onStep: (step) => {
            steps.push(step);
            if (steps.length === 2) throw new Error(`crash after ${step}`);
          },
        }),
      ).rejects.toThrow(/^crash after /);
      expect((await s.versions()).map((m) => m.version)).toEqual(['v1']);
      await expect(s.lookup(batch([7], [20], [200], 'v2'))).rejects.toThrow(
        "unknown knowledge version 'v2'; known versions (oldest first): v1",
      );
      const again = await reopen(s);
      expect((await again.versions()).map((m) => m.version)).toEqual(['v1']);
      const ok = await again.putVersion('v2', handTables(2));
      expect(ok.versions).toEqual(['v1', 'v2']);
      expect(Array.from(await again.lookup(batch([7], [20], [200], 'v2')))).toEqual([2, 4, 4, 0.5, 8, 2, 6, 6, 6]);
    });

    it('a restart finds the same versions and answers the same', async () => {
      const s = await fresh();
      for (let k = 1; k <= 6; k++) await s.putVersion(`v${k}`, handTables(k));
      const before = await s.versions();
      const answer = Array.from(await s.lookup({ ...HAND_BATCH, version: 'v4' }));
      const again = await reopen(s);
      expect(await again.versions()).toEqual(before);
      expect(Array.from(await again.lookup({ ...HAND_BATCH, version: 'v4' }))).toEqual(answer);
      expect(answer.slice(0, 9)).toEqual(HAND_ROWS[0]!.map((x, j) => (j === 4 || j === 5 ? x * 16 : x * 4)));
      expect((await again.putVersion('v7', handTables(7))).evicted).toEqual(['v2']);
    });
  });
}
