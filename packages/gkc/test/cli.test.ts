/**
 * The loader CLI (nx run gkc:load): loads a knowledge-table file into a store, says what it holds
 * and what got evicted, refuses to overwrite a version without --force, and fails with the
 * file's error on a bad file.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
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
    expect(first.stdout).toContain(`user 2 x 2, item 3 x 2, userCategory 3 x 3; vector 9-d = user[0:2] item[2:4] user*item[4:6] userCategory[6:9]; sha256 `);
    expect(first.stdout).toContain(`; source ${file} run=hand\n`);
    expect(first.stdout).toContain('  replaced: no\n  evicted: none\n  versions now (oldest first): v1\n');
    expect(run('--tables', file, '--version', 'v2', '--store', store, '--max-versions', '2').status).toBe(0);
    const third = run('--tables', file, '--version', 'v3', '--store', store, '--max-versions', '2', '--source', 'extractor run 3');
    expect(third.stdout).toContain('; source extractor run 3\n  replaced: no\n  evicted: v1\n  versions now (oldest first): v2, v3\n');
    const again = run('--tables', file, '--version', 'v3', '--store', store);
    expect(again.status).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/^gkc load: knowledge version 'v3' already exists in .*; pass force: true \(CLI: --force\) to replace it\n$/);
    const forced = run('--tables', file, '--version', 'v3', '--store', store, '--force');
    expect(forced.status).toBe(0);
    expect(forced.stdout).toContain("  replaced: yes (the earlier 'v3' is gone)\n  evicted: none\n  versions now (oldest first): v2, v3\n");
    const list = run('--list', '--store', store);
    expect(list.stdout).toMatch(new RegExp(`^embedded store ${store}: 2 version\\(s\\), oldest first\n  version 'v2' \\(seq 2, .*\n  version 'v3' \\(seq 4, .*\n$`));
    const s = await EmbeddedStore.open(store);
    expect(Array.from(await s.lookup({ users: Int32Array.of(7), items: Int32Array.of(20), categories: Int32Array.of(200), version: 'v3' }))).toEqual([1, 2, 2, 0.25, 2, 0.5, 3, 3, 3]);
  }, 60_000);

  it('fails with the file error on a bad file, and 2 on bad arguments', () => {
    const file = join(dir, 'bad.safetensors');
    writeFileSync(file, Uint8Array.of(1, 2, 3));
    const r = run('--tables', file, '--version', 'v1', '--store', join(dir, 'store2'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`gkc load: ${file}: too short (3 bytes) to hold a header\n`);
    const a = run('--version', 'v1');
    expect(a.status).toBe(2);
    expect(a.stderr.split('\n')[0]).toBe('gkc load: --tables and --version are required (got no --tables)');
    const b = run('--tables', file, '--version', 'v1', '--store', 'x', '--redis', 'redis://127.0.0.1:1');
    expect(b.status).toBe(2);
    expect(b.stderr.split('\n')[0]).toBe('gkc load: give --store DIR or --redis URL, not both');
  }, 60_000);
});
