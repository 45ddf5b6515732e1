/**
 * The loader CLI (nx run gkc:load): loads a knowledge-table file into a store, says what it holds
 * and what got evicted, refuses to overwrite a version without --force, and fails with the
 * file's error on a bad file. The version bound is the store's own (a --list never evicts), and a
 * full disk is one line and exit 3 with the store as it was (issue 17, items 4 and 8).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore, encodeKnowledgeTables } from '../src/index.ts';
import { handTables, tempDir } from './helpers.ts';

const CLI = join(import.meta.dirname, '../src/cli.ts');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
const dir = tempDir('cli');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gkc load CLI', () => {
  it('loads versions, reports evictions, refuses overwrites without --force, lists', async () => {
    const file = join(dir, 'k.safetensors');
    writeFileSync(file, encodeKnowledgeTables(handTables(), { run: 'hand' }));
    const store = join(dir, 'store');
    const first = run('--tables', file, '--version', 'v1', '--store', store, '--max-versions', '2');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^loaded into embedded store ${store} in \\d+\\.\\d\\d s\n`));
    expect(first.stdout).toContain(`  version 'v1' (seq 1, `);
    expect(first.stdout).toContain(
      `user 2 x 2, item 3 x 2, userCategory 3 x 3; vector 9-d = user[0:2] item[2:4] user*item[4:6] userCategory[6:9]; sha256 `,
    );
    expect(first.stdout).toContain(`; source ${file} run=hand\n`);
    expect(first.stdout).toContain('  replaced: no\n  evicted: none\n  versions now (oldest first): v1 (at most 2 kept)\n');
    expect(run('--tables', file, '--version', 'v2', '--store', store, '--max-versions', '2').status).toBe(0);
    const third = run('--tables', file, '--version', 'v3', '--store', store, '--max-versions', '2', '--source', 'extractor run 3');
    expect(third.stdout).toContain(
      '; source extractor run 3\n  replaced: no\n  evicted: v1\n  versions now (oldest first): v2, v3 (at most 2 kept)\n',
    );
    const again = run('--tables', file, '--version', 'v3', '--store', store);
    expect(again.status).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(
      /^lctr gkc load: knowledge version 'v3' already exists in .*; pass force: true \(CLI: --force\) to replace it\n$/,
    );
    const forced = run('--tables', file, '--version', 'v3', '--store', store, '--force');
    expect(forced.status).toBe(0);
    // no --max-versions: the bound of 2 the store recorded at its first load still holds
    expect(forced.stdout).toContain(
      "  replaced: yes (the earlier 'v3' is gone)\n  evicted: none\n  versions now (oldest first): v2, v3 (at most 2 kept)\n",
    );
    const list = run('--list', '--store', store);
    expect(list.stdout).toMatch(
      new RegExp(
        `^embedded store ${store}: 2 version\\(s\\), oldest first, at most 2 kept\n  version 'v2' \\(seq 2, .*\n  version 'v3' \\(seq 4, ` +
          `.*\n$`,
      ),
    );
    const s = await EmbeddedStore.open(store);
    expect(
      Array.from(await s.lookup({ users: Int32Array.of(7), items: Int32Array.of(20), categories: Int32Array.of(200), version: 'v3' })),
    ).toEqual([1, 2, 2, 0.25, 2, 0.5, 3, 3, 3]);
  }, 60_000);

  it('fails with the file error on a bad file, and 2 on bad arguments', () => {
    const file = join(dir, 'bad.safetensors');
    writeFileSync(file, Uint8Array.of(1, 2, 3));
    const r = run('--tables', file, '--version', 'v1', '--store', join(dir, 'store2'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`lctr gkc load: ${file}: too short (3 bytes) to hold a header\n`);
    const a = run('--version', 'v1');
    expect(a.status).toBe(2);
    expect(a.stderr.split('\n')[0]).toBe('lctr gkc load: --tables and --version are required (got no --tables)');
    const b = run('--tables', file, '--version', 'v1', '--store', 'x', '--redis', 'redis://127.0.0.1:1');
    expect(b.status).toBe(2);
    expect(b.stderr.split('\n')[0]).toBe('lctr gkc load: give --store DIR or --redis URL, not both');
  }, 60_000);

  it("the version bound is the store's own: --list --max-versions is refused and evicts nothing; a load sets the bound", async () => {
    const file = join(dir, 'k.safetensors');
    writeFileSync(file, encodeKnowledgeTables(handTables()));
    const store = join(dir, 'store-bound');
    const s = await EmbeddedStore.open(store);
    for (const v of ['a', 'b', 'c', 'd', 'e']) await s.putVersion(v, handTables());
    await s.close();
    const dirs = readdirSync(join(store, 'versions')).sort();
    expect(dirs).toHaveLength(5);
    // the issue: this deleted four of the five versions
    const listed = run('--list', '--max-versions', '1', '--store', store);
    expect(listed.status).toBe(2);
    expect(listed.stderr.split('\n')[0]).toBe(
      "lctr gkc load: --list only reads and never evicts; --max-versions sets the store's bound on a load (got --max-versions 1)",
    );
    expect(readdirSync(join(store, 'versions')).sort()).toEqual(dirs);
    expect(run('--list', '--store', store).stdout.split('\n')[0]).toBe(
      `embedded store ${store}: 5 version(s), oldest first, at most 5 kept`,
    );
    // a load changes the bound, evicts down to it, and the store keeps it for later loads and lists
    const lowered = run('--tables', file, '--version', 'f', '--store', store, '--max-versions', '3');
    expect(lowered.stdout).toContain('  evicted: a, b, c\n  versions now (oldest first): d, e, f (at most 3 kept)\n');
    expect(JSON.parse(readFileSync(join(store, 'gkc-store.json'), 'utf8'))).toEqual({ format: 'gkc-store/1', maxVersions: 3 });
    expect(run('--tables', file, '--version', 'g', '--store', store).stdout).toContain(
      '  evicted: d\n  versions now (oldest first): e, f, g (at most 3 kept)\n',
    );
    expect(run('--list', '--store', store).stdout.split('\n')[0]).toBe(
      `embedded store ${store}: 3 version(s), oldest first, at most 3 kept`,
    );
  }, 60_000);

  it('a full disk (ENOSPC) during a load: one line, exit 3, the staging files removed, the store as it was', async () => {
    const file = join(dir, 'k.safetensors');
    writeFileSync(file, encodeKnowledgeTables(handTables()));
    const store = join(dir, 'store-full');
    expect(run('--tables', file, '--version', 'v1', '--store', store).status).toBe(0);
    const marker = readFileSync(join(store, 'gkc-store.json'), 'utf8');
    for (const failing of ['tables.safetensors', 'manifest.json']) {
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          join(import.meta.dirname, 'fixtures/enospc-load.ts'),
          failing,
          '--tables',
          file,
          '--version',
          'v2',
          '--store',
          store,
          '--max-versions',
          '1',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.stderr).toBe(`lctr gkc load: cannot load knowledge version 'v2' into ${store}: no space left on the device (ENOSPC)\n`);
      expect(r.status).toBe(3);
      expect(r.stdout).toBe('');
      expect(readdirSync(join(store, 'staging'))).toEqual([]);
      expect(readdirSync(join(store, 'versions'))).toEqual(['0000000001-v1']);
      expect(existsSync(join(store, '.lock'))).toBe(false);
      expect(readFileSync(join(store, 'gkc-store.json'), 'utf8')).toBe(marker); // the bound did not change either
    }
    const s = await EmbeddedStore.open(store);
    expect(
      Array.from(await s.lookup({ users: Int32Array.of(7), items: Int32Array.of(20), categories: Int32Array.of(200), version: 'v1' })),
    ).toEqual([1, 2, 2, 0.25, 2, 0.5, 3, 3, 3]);
    // space back: the same load goes through
    expect(run('--tables', file, '--version', 'v2', '--store', store).stdout).toContain(
      '  versions now (oldest first): v1, v2 (at most 5 kept)\n',
    );
  }, 60_000);
});
