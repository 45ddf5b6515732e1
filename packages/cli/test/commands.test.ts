/**
 * The lctr front door and the commands it owns: dispatch, --help with no side effect, exit codes,
 * and each command's real output (the synthetic world written equals generateWorld's; check-run's
 * verdict on hand-made metrics files).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateWorld, writeWorld } from '@lctr/data';
import { SUBCOMMANDS, run } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const lctr = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'packages/cli/bin/lctr.js'), ...args], { cwd: tmp, encoding: 'utf8' });
const TINY = { users: 12, targetItems: 40, sourceItems: 96, minSourceEvents: 120, maxSourceEvents: 160 } as const;

describe('lctr', () => {
  it('--help lists every subcommand and exits 0; no command is a usage error (2); an unknown one names the choices', async () => {
    const out: string[] = [],
      err: string[] = [];
    const io = {
      out: (t: string) => {
        out.push(t);
      },
      err: (t: string) => {
        err.push(t);
      },
    };
    expect(await run(['--help'], io)).toBe(0);
    for (const name of Object.keys(SUBCOMMANDS)) expect(out[0]).toContain(`  ${name} `);
    expect(await run([], io)).toBe(2);
    expect(await run(['trian'], io)).toBe(2);
    expect(err.at(-1)).toMatch(/^lctr: unknown command 'trian'; commands: /);
    expect(await run(['data', 'bogus'], io)).toBe(2);
    expect(err.at(-1)).toMatch(/^lctr: 'data bogus' is not a command; 'data' has: .*generate/);
  });

  it('every subcommand answers --help with its usage, exit 0, and writes nothing', async () => {
    for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
      const before = readdirSync(tmp).length;
      const lines: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      const log = console.log;
      process.stdout.write = ((t: string) => {
        lines.push(t);
        return true;
      }) as typeof process.stdout.write;
      console.log = (t: string) => {
        lines.push(t);
      };
      let code: number;
      try {
        code = await sub.run(['--help']);
      } finally {
        process.stdout.write = write;
        console.log = log;
      }
      expect(code, name).toBe(0);
      expect(lines.join('\n'), name).toMatch(new RegExp(`^usage: lctr ${name}`));
      expect(readdirSync(tmp).length, name).toBe(before);
    }
  });

  it('the bin runs from a plain node process (sources through tsx inside the repository)', () => {
    const r = lctr('--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: lctr <command>/);
  });
});

describe('lctr data generate', () => {
  it('writes the world generateWorld makes, and refuses a bad config and a foreign directory', () => {
    const out = join(tmp, 'world');
    const r = lctr('data', 'generate', '--seed', '9', '--out', out, ...Object.entries(TINY).map(([k, v]) => `--set=${k}=${v}`));
    expect(r.status, r.stderr).toBe(0);
    const w = generateWorld(TINY, 9);
    expect(r.stdout).toContain(`synthetic world (seed 9, preset small): 12 users, ${w.stats.events.toLocaleString('en-US')} events`);
    expect(r.stdout).toContain(
      `test: ${w.stats.test.impressions} impressions, CTR ${w.stats.test.ctr.toFixed(3)}, Bayes AUC ${w.stats.test.bayesAuc.toFixed(4)}`,
    );
    expect(r.stdout).toContain(`wrote events.safetensors, truth.safetensors, world.json to ${out}`);
    const direct = join(tmp, 'direct');
    writeWorld(w, direct);
    for (const f of readdirSync(direct)) expect(readFileSync(join(out, f)).equals(readFileSync(join(direct, f))), f).toBe(true);

    writeFileSync(join(tmp, 'cfg.json'), '{"users": 0}');
    const bad = lctr('data', 'generate', '--out', join(tmp, 'foreign'), '--config', join(tmp, 'cfg.json'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^lctr data generate: world config: users must be an integer >= 1, got 0\nusage: lctr data generate/);
    mkdirSync(join(tmp, 'busy'));
    writeFileSync(join(tmp, 'busy', 'notes.txt'), 'mine');
    const refused = lctr('data', 'generate', '--out', join(tmp, 'busy'));
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(`^lctr data generate: ${join(tmp, 'busy')} exists and does not hold a synthetic world; pass --force to write into it\n`),
    );
    expect(existsSync(join(tmp, 'busy', 'world.json'))).toBe(false);
  }, 60_000);
});

describe('lctr check-run', () => {
  const runDir = (name: string, evals: object[]) => {
    const d = join(tmp, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'metrics.jsonl'),
      [{ kind: 'start', step: 0 }, ...evals.map((e) => ({ kind: 'eval', ...e }))].map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    return d;
  };
  it('passes and fails on the last eval: gap share (AUC 0.7 of Bayes 0.8 closes 66.7%) and --beats', () => {
    const a = runDir('a', [
      { step: 1, auc: 0.6, gauc: 0.6, logloss: 0.7, bayesAuc: 0.8 },
      { step: 2, auc: 0.7, gauc: 0.65, logloss: 0.6, bayesAuc: 0.8 },
    ]);
    const b = runDir('b', [{ step: 2, auc: 0.69, gauc: 0.6, logloss: 0.6, bayesAuc: 0.8 }]);
    const pass = lctr('check-run', a, '--min-gap', '0.6', '--beats', b);
    expect(pass.status, pass.stderr).toBe(0);
    expect(pass.stdout).toContain('PASS: closes 66.7% of the gap, needs 60.0%');
    expect(pass.stdout).toContain('PASS: AUC 0.7000 vs 0.6900 (+0.0100)');
    const fail = lctr('check-run', a, '--min-gap', '0.7');
    expect(fail.status).toBe(1);
    expect(fail.stdout).toContain('FAIL: closes 66.7% of the gap, needs 70.0%');
    const badFlag = lctr('check-run', a, '--min-gap', '1.5');
    expect([badFlag.status, badFlag.stderr.split('\n')[0]]).toEqual([2, "lctr check-run: --min-gap must be a number in (0, 1], got '1.5'"]);
    const missing = lctr('check-run', join(tmp, 'none'));
    expect([missing.status, missing.stderr.split('\n')[0]]).toEqual([
      2,
      `lctr check-run: ${join(tmp, 'none', 'metrics.jsonl')}: no such file (is ${join(tmp, 'none')} a training run's output directory?)`,
    ]);
  }, 60_000);
});
