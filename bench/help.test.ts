/**
 * Every benchmark and experiment script answers --help with its usage and exit 0 before it does
 * anything (no model trained, no file written), and refuses an unknown option with exit 2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const scripts = [
  ...readdirSync(join(root, 'bench')).map((f) => `bench/${f}`),
  ...readdirSync(join(root, 'experiments/src')).map((f) => `experiments/src/${f}`),
].filter(
  (f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && /scriptArgs\(|function parseFlags/.test(readFileSync(join(root, f), 'utf8')),
);
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const cwd = mkdtempSync(join(tmpdir(), 'lctr-help-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function run(script: string, arg: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, script), arg], {
      cwd,
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    });
    let out = '',
      err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('close', (code) => done({ code, out, err }));
  });
}

describe('scripts: --help and bad options', () => {
  it('finds the scripts (benchmarks and experiments)', () => {
    expect(scripts).toEqual(
      expect.arrayContaining(['bench/suite.ts', 'bench/serve-load.ts', 'bench/train-step.ts', 'experiments/src/lcn.ts']),
    );
  });

  it('every script: --help prints a usage and exits 0 writing nothing; --no-such-flag exits 2 naming it', async () => {
    const results: Array<[string, Awaited<ReturnType<typeof run>>, Awaited<ReturnType<typeof run>>]> = [];
    for (let i = 0; i < scripts.length; i += 4) {
      const batch = scripts.slice(i, i + 4);
      const got = await Promise.all(batch.map(async (s) => [s, await run(s, '--help'), await run(s, '--no-such-flag')] as const));
      results.push(...got.map((g) => [...g] as [string, Awaited<ReturnType<typeof run>>, Awaited<ReturnType<typeof run>>]));
    }
    for (const [script, help, bad] of results) {
      expect([script, help.code, help.out.trimStart().slice(0, 6)], help.err).toEqual([script, 0, 'usage:']);
      expect([script, bad.code], bad.out + bad.err).toEqual([script, 2]);
      expect(bad.err, script).toContain("'--no-such-flag'");
    }
    expect(readdirSync(cwd)).toEqual([]);
  }, 600_000);
});
