/**
 * One behavioural suite (store-suite.ts) over both stores: the embedded store in temp dirs, and
 * the Redis store against a real redis-server started here on a free port (killed after). With
 * CI=true a missing redis-server fails this file; elsewhere the Redis half is skipped, saying why.
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore, type KnowledgeStore, RedisStore } from '../src/index.ts';
import { type RedisServer, handTables, redisSkipReason, startRedis, tempDir } from './helpers.ts';
import { storeSuite } from './store-suite.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeSuite('embedded store', () => ({
  fresh: async (o) => {
    const d = tempDir('store');
    dirs.push(d);
    return EmbeddedStore.open(d, o);
  },
  reopen: async (s) => {
    await s.close();
    return EmbeddedStore.open((s as EmbeddedStore).dir, { maxVersions: (s as EmbeddedStore).maxVersions });
  },
}));

const skip = redisSkipReason();
if (skip) console.warn(`gkc: ${skip}`);
describe.skipIf(skip !== null)(`redis store${skip ? ` (SKIPPED: ${skip})` : ''}`, () => {
  let server: RedisServer;
  let n = 0;
  beforeAll(async () => {
    server = await startRedis();
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
  });
  storeSuite('redis store', () => ({
    fresh: async (o) => RedisStore.open(server.url, { ...o, prefix: `t${++n}`, chunkRows: 2 }),
    reopen: async (s: KnowledgeStore) => {
      await s.close();
      const r = s as RedisStore;
      return RedisStore.open(server.url, { prefix: r.prefix, maxVersions: r.maxVersions });
    },
  }));

  it(
    'redis keys: a failed load leaves only expiring staging keys, the next load removes them; eviction removes every key of the evicted ' +
      'version',
    async () => {
      const raw = new Redis(server.url);
      const s = await RedisStore.open(server.url, { prefix: 'keys', maxVersions: 2, chunkRows: 1 });
      try {
        await s.putVersion('v1', handTables());
        expect((await raw.keys('keys:*')).sort()).toEqual([
          'keys:max-versions',
          'keys:seq',
          'keys:v:v1:item',
          'keys:v:v1:manifest',
          'keys:v:v1:user',
          'keys:v:v1:userCategory',
          'keys:versions',
        ]);
        expect(await raw.get('keys:max-versions')).toBe('2');
        expect(await raw.hlen('keys:v:v1:userCategory')).toBe(3);
        expect(await raw.ttl('keys:v:v1:user')).toBe(-1); // renamed from staging: the expiry is removed
        expect(Array.from(new Float32Array(new Uint8Array((await raw.hgetBuffer('keys:v:v1:user', '7')) as Buffer).buffer))).toEqual([
          1, 2,
        ]);
        await expect(
          s.putVersion('v2', handTables(), {
            onStep: (st) => {
              if (st === 'table:item') throw new Error('crash');
            },
          }),
        ).rejects.toThrow('crash');
        const staging = (await raw.keys('keys:staging:*')).sort();
        expect(staging).toEqual(['keys:staging:2:item', 'keys:staging:2:user']);
        for (const k of staging) expect(await raw.pttl(k)).toBeGreaterThan(3_000_000);
        expect(await raw.lrange('keys:versions', 0, -1)).toEqual(['v1']);
        expect(await raw.get('keys:lock')).toBeNull();
        await s.putVersion('v2', handTables(2));
        expect(s.cleaned.sort()).toEqual(staging);
        expect(await raw.keys('keys:staging:*')).toEqual([]);
        expect((await s.putVersion('v3', handTables(3))).evicted).toEqual(['v1']);
        expect(await raw.keys('keys:v:v1:*')).toEqual([]);
        expect(await raw.lrange('keys:versions', 0, -1)).toEqual(['v2', 'v3']);
      } finally {
        await s.close();
        raw.disconnect();
      }
    },
  );

  it("the bound is the store's own (key P:max-versions): opening with another is refused, a load sets it", async () => {
    const s = await RedisStore.open(server.url, { prefix: 'bound' });
    try {
      for (const v of ['a', 'b', 'c']) await s.putVersion(v, handTables());
      await expect(RedisStore.open(server.url, { prefix: 'bound', maxVersions: 1 })).rejects.toThrow(
        "redis store 'bound' keeps at most 5 versions (key bound:max-versions); got maxVersions 1: opening a store never changes its " +
          'bound, a load does (putVersion with maxVersions; CLI: a load with --max-versions)',
      );
      const reader = await RedisStore.open(server.url, { prefix: 'bound' });
      expect((await reader.versions()).map((m) => m.version)).toEqual(['a', 'b', 'c']);
      const r = await s.putVersion('d', handTables(), { maxVersions: 2 });
      expect([r.evicted, r.versions]).toEqual([
        ['a', 'b'],
        ['c', 'd'],
      ]);
      expect((await reader.versions()).map((m) => m.version)).toEqual(['c', 'd']);
      expect(reader.maxVersions).toBe(2);
      expect((await reader.putVersion('e', handTables())).versions).toEqual(['d', 'e']);
      await reader.close();
    } finally {
      await s.close();
    }
  });

  it('a lookup through a client that cached an evicted version answers unknown version, not zeros', async () => {
    const reader = await RedisStore.open(server.url, { prefix: 'stale', maxVersions: 1 });
    const writer = await RedisStore.open(server.url, { prefix: 'stale', maxVersions: 1 });
    try {
      await writer.putVersion('a', handTables());
      const b = { users: Int32Array.of(7), items: Int32Array.of(20), categories: Int32Array.of(200), version: 'a' };
      expect(Array.from(await reader.lookup(b))).toEqual([1, 2, 2, 0.25, 2, 0.5, 3, 3, 3]);
      await writer.putVersion('b', handTables(2));
      await expect(reader.lookup(b)).rejects.toThrow("unknown knowledge version 'a'; known versions (oldest first): b");
      expect(Array.from(await reader.lookup({ ...b, version: 'b' }))).toEqual([2, 4, 4, 0.5, 8, 2, 6, 6, 6]);
      await writer.putVersion('b', handTables(3), { force: true }); // replaced under the reader's cached manifest
      expect(Array.from(await reader.lookup({ ...b, version: 'b' }))).toEqual([3, 6, 6, 0.75, 18, 4.5, 9, 9, 9]);
      expect(reader.metrics().misses).toEqual({ user: 0, item: 0, userCategory: 0, userItem: 0 });
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
