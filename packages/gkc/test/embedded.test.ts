/**
 * Embedded-store specifics: crashes of a real loader process (SIGKILL between the steps of a load)
 * never leave a half-written version visible, and the next open cleans what they left; the on-disk
 * layout; a dead writer's lock is taken over; another process's load is seen after refresh.
 */
import { spawnSync } from 'node:child_process';
import fs, { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { StorageError } from '@lctr/spec';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore, GkcError, decodeKnowledgeTables } from '../src/index.ts';
import { handTables, randomTables, tempDir } from './helpers.ts';

const dirs: string[] = [];
const fresh = () => {
  const d = tempDir('emb');
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** node itself (with tsx as a loader, not the tsx CLI that would wrap it in a second process), so the kill hits the loader. */
function crashLoad(dir: string, version: string, killAfter: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-load.ts'), dir, version, killAfter], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('embedded store: crash safety', () => {
  for (const step of ['tables', 'manifest'] as const) {
    it(`a loader killed after writing the ${step} file leaves no visible version; the next open cleans up and takes the dead ` +
      `lock`, async () => {
      const dir = fresh();
      const s0 = await EmbeddedStore.open(dir);
      await s0.putVersion('v1', handTables());
      await s0.close();
      const child = crashLoad(dir, 'v2', step);
      expect(child.signal, child.stderr).toBe('SIGKILL');
      expect(child.stdout).toBe('');
      // what the crash left: a staging dir with the files written so far, and the lock of a dead pid
      const staging = readdirSync(join(dir, 'staging'));
      expect(staging).toHaveLength(1);
      expect(staging[0]).toMatch(/^0000000002-v2\.\d+$/);
      expect(readdirSync(join(dir, 'staging', staging[0]!)).sort()).toEqual(
        step === 'tables' ? ['tables.safetensors'] : ['manifest.json', 'tables.safetensors'],
      );
      expect(existsSync(join(dir, '.lock'))).toBe(true);
      expect(readdirSync(join(dir, 'versions'))).toEqual(['0000000001-v1']);
      const s = await EmbeddedStore.open(dir);
      expect(s.cleaned).toEqual([`staging/${staging[0]}`]);
      expect(readdirSync(join(dir, 'staging'))).toEqual([]);
      expect(existsSync(join(dir, '.lock'))).toBe(false);
      expect((await s.versions()).map((m) => m.version)).toEqual(['v1']);
      await expect(
        s.lookup({ users: Int32Array.of(1), items: Int32Array.of(1), categories: Int32Array.of(0), version: 'v2' }),
      ).rejects.toThrow("unknown knowledge version 'v2'; known versions (oldest first): v1");
      const again = await s.putVersion('v2', handTables(2));
      expect(again.versions).toEqual(['v1', 'v2']);
      expect(again.manifest.seq).toBe(2);
    }, 60_000);
  }

  it('a loader killed right after the rename leaves the complete version visible', async () => {
    const dir = fresh();
    const child = crashLoad(dir, 'v1', 'renamed');
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const s = await EmbeddedStore.open(dir);
    expect((await s.versions()).map((m) => m.version)).toEqual(['v1']);
    const want = randomTables(7, 2000, 1000, 5000, 16);
    const out = await s.lookup({ users: Int32Array.of(5), items: Int32Array.of(999 - 3), categories: Int32Array.of(1), version: 'v1' });
    // user 5 is row 5, item 996 is row 3 (keys descend), (5, 1) is row 2005 (user i % 2000, category i / 2000)
    expect(Array.from(out.subarray(0, 16))).toEqual(Array.from(want.user!.values.subarray(5 * 16, 6 * 16)));
    expect(Array.from(out.subarray(16, 32))).toEqual(Array.from(want.item!.values.subarray(3 * 16, 4 * 16)));
    expect(Array.from(out.subarray(32, 48))).toEqual(Array.from(out.subarray(0, 16)).map((u, j) => Math.fround(u * out[16 + j]!)));
    expect(Array.from(out.subarray(48, 64))).toEqual(Array.from(want.userCategory!.values.subarray(2005 * 16, 2006 * 16)));
    expect(s.metrics().misses).toEqual({ user: 0, item: 0, userCategory: 0, userItem: 0 });
  }, 60_000);

  it('versions beyond the bound left by a crash between rename and eviction are invisible and cleaned', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir, { maxVersions: 2 });
    await s.putVersion('a', handTables());
    await s.putVersion('b', handTables());
    // simulate: 'a' still on disk next to a newer pair (what a kill after the rename of 'c' leaves)
    await s
      .putVersion('c', handTables(), {
        onStep: (st) => {
          if (st === 'renamed') throw new Error('killed');
        },
      })
      .catch(() => undefined);
    expect(readdirSync(join(dir, 'versions')).sort()).toEqual(['0000000001-a', '0000000002-b', '0000000003-c']);
    const t = await EmbeddedStore.open(dir, { maxVersions: 2 });
    expect(t.cleaned).toEqual(['versions/0000000001-a']);
    expect((await t.versions()).map((m) => m.version)).toEqual(['b', 'c']);
    expect(readdirSync(join(dir, 'versions')).sort()).toEqual(['0000000002-b', '0000000003-c']);
  });

  it('a live writer holds the store: a second load is refused naming its pid; a reader still opens', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir);
    writeFileSync(join(dir, '.lock'), String(process.ppid)); // a live process that is not us
    await expect(s.putVersion('v1', handTables())).rejects.toThrow(
      new GkcError(`embedded store ${dir}: another process (pid ${process.ppid}) is loading a version; try again when it is done`),
    );
    const reader = await EmbeddedStore.open(dir);
    expect(reader.cleaned).toEqual([]);
    rmSync(join(dir, '.lock'));
    await s.putVersion('v1', handTables());
    // the reader sees the other process's load (lookup of an unknown id re-reads the directory)
    expect(
      Array.from(await reader.lookup({ users: Int32Array.of(7), items: Int32Array.of(20), categories: Int32Array.of(200), version: 'v1' })),
    ).toEqual([1, 2, 2, 0.25, 2, 0.5, 3, 3, 3]);
  });

  it('lays a version out as a sorted knowledge-table file plus a manifest', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir);
    const { manifest } = await s.putVersion('v1', handTables(), { source: 'hand tables' });
    const vdir = join(dir, 'versions', '0000000001-v1');
    expect(readdirSync(vdir).sort()).toEqual(['manifest.json', 'tables.safetensors']);
    expect(JSON.parse(readFileSync(join(vdir, 'manifest.json'), 'utf8'))).toEqual(manifest);
    const { tables, metadata } = decodeKnowledgeTables(readFileSync(join(vdir, 'tables.safetensors')));
    expect(Array.from(tables.user!.keys)).toEqual([3, 7]);
    expect(Array.from(tables.item!.keys)).toEqual([10, 20, 30]);
    expect(Array.from(tables.userCategory!.keys)).toEqual([3, 100, 7, 100, 7, 200]);
    expect(Array.from(tables.userCategory!.values)).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(metadata).toEqual({ 'gkc.version': 'v1', 'gkc.sha256': manifest.sha256 });
    expect(JSON.parse(readFileSync(join(dir, 'gkc-store.json'), 'utf8'))).toEqual({ format: 'gkc-store/1', maxVersions: 5 });
  });

  it('refuses a non-empty directory that is not a store', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'x'));
    await expect(EmbeddedStore.open(dir)).rejects.toThrow(
      new GkcError(
        `embedded store ${dir}: the directory exists, is not empty and has no gkc-store.json; refusing to use it as a knowledge store`,
      ),
    );
  });
});

describe("embedded store: the version bound is the store's own (issue 17, item 4)", () => {
  it('opening with another bound is refused and evicts nothing; a load sets it and readers follow', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir);
    for (const v of ['a', 'b', 'c', 'd', 'e']) await s.putVersion(v, handTables());
    // before: an open with maxVersions 1 took the lock and deleted four of the five versions
    await expect(EmbeddedStore.open(dir, { maxVersions: 1 })).rejects.toThrow(
      new GkcError(
        `embedded store ${dir} keeps at most 5 versions (its gkc-store.json); got maxVersions 1: opening a store never changes its ` +
          `bound, a load does (putVersion with maxVersions; CLI: a load with --max-versions)`,
      ),
    );
    expect(readdirSync(join(dir, 'versions'))).toHaveLength(5);
    const reader = await EmbeddedStore.open(dir, { maxVersions: 5 });
    expect((await reader.versions()).map((m) => m.version)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const r = await s.putVersion('f', handTables(), { maxVersions: 2 });
    expect([r.evicted, r.versions]).toEqual([
      ['a', 'b', 'c', 'd'],
      ['e', 'f'],
    ]);
    expect((await reader.versions()).map((m) => m.version)).toEqual(['e', 'f']);
    expect(reader.maxVersions).toBe(2);
    expect((await (await EmbeddedStore.open(dir)).putVersion('g', handTables())).versions).toEqual(['f', 'g']);
    await expect(s.putVersion('h', handTables(), { maxVersions: 0 })).rejects.toThrow(
      new GkcError('putVersion: maxVersions must be an integer >= 1; got 0'),
    );
  });

  it('a store made before the marker held the bound keeps 5', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir, { maxVersions: 2 });
    writeFileSync(join(dir, 'gkc-store.json'), JSON.stringify({ format: 'gkc-store/1' }) + '\n');
    expect((await EmbeddedStore.open(dir)).maxVersions).toBe(5);
    await s.close();
  });
});

describe('embedded store: a full disk during a load (issue 17, item 8)', () => {
  it('throws one StorageError line, removes the staging files and leaves versions and lock as they were', async () => {
    const dir = fresh();
    const s = await EmbeddedStore.open(dir);
    await s.putVersion('v1', handTables());
    // node's own ENOSPC from write(2), after half the bytes reached the disk
    const realWrite = fs.writeSync;
    fs.writeSync = ((fd: number, buf: Uint8Array, ...rest: unknown[]) => {
      if (buf.length > 100) {
        realWrite(fd, buf.subarray(0, buf.length >> 1));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { errno: -28, code: 'ENOSPC', syscall: 'write' });
      }
      return (realWrite as (...a: unknown[]) => number)(fd, buf, ...rest);
    }) as typeof fs.writeSync;
    syncBuiltinESMExports();
    let err: unknown;
    try {
      await s.putVersion('v2', handTables(2));
    } catch (e) {
      err = e;
    } finally {
      fs.writeSync = realWrite;
      syncBuiltinESMExports();
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toBe(`cannot load knowledge version 'v2' into ${dir}: no space left on the device (ENOSPC)`);
    expect((err as StorageError).code).toBe('ENOSPC');
    expect(readdirSync(join(dir, 'staging'))).toEqual([]);
    expect(readdirSync(join(dir, 'versions'))).toEqual(['0000000001-v1']);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect((await s.putVersion('v2', handTables(2))).versions).toEqual(['v1', 'v2']);
  });
});
