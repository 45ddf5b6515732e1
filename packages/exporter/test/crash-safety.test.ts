/**
 * Export crash-safety (issue 17): child processes killed with SIGKILL mid-export leave the
 * previous export intact (and the next export removes their temp directories); a full disk
 * (ENOSPC, injected by test/enospc-preload.ts) is one line and exit 3 with the previous export
 * intact and no temp directory left; a checkpoint with a non-finite weight (NaN, which parity
 * catches too, or +Infinity, which it does not) fails the gate, exits 1 naming the weight and
 * leaves the previous export of that model as it was.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostTensor, Rng } from '@lctr/spec';
import { initTfjs } from '@lctr/backend-tfjs';
import { decodeChecked, encodeChecked } from '@lctr/train';
import { EXPORT_MARKER, type ExportManifest, exportCheckpoint, exportModel } from '../src/index.ts';
import { snapshot } from './snapshot.ts';
import { type Run, shortArch, stepDir, trainTiny } from './tiny-runs.ts';

const here = import.meta.dirname;
const cli = resolve(here, '../src/cli.ts');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
const base = mkdtempSync(join(tmpdir(), 'lctr-export-crash-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const leftovers = (repo: string) => readdirSync(repo).filter((e) => e.startsWith('.'));
const seedOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { seed: number }).seed;

/** True when `dir` is a whole export: every file of its manifest is there with its sha256. */
function isComplete(dir: string): boolean {
  const m = JSON.parse(readFileSync(join(dir, EXPORT_MARKER), 'utf8')) as ExportManifest;
  const snap = snapshot(dir);
  return Object.entries(m.files).every(([f, r]) => snap[f] === r.sha256);
}

describe('SIGKILL mid-export', () => {
  it(
    'children killed at random moments (some as soon as their temp directory appears) leave the previous export or the new whole one; ' +
      'the next export clears their leftovers',
    async () => {
      const repo = join(base, 'kill');
      const dir = join(repo, 'demo');
      await exportModel({ model: 'demo', out: repo, seed: 1 });
      writeFileSync(join(dir, 'notes.txt'), 'keep me');
      let previous = snapshot(dir);
      const rng = new Rng(17);
      let midExport = 0;
      for (let kill = 0; kill < 4; kill++) {
        const seed = 10 + kill;
        const child = spawn(process.execPath, ['--import', tsx, join(here, 'export-child.ts'), repo, String(seed)], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env,
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
        await new Promise<void>((res, rej) => {
          child.stdout.on('data', (d: Buffer) => {
            if (d.toString().includes('exporting')) res();
          });
          child.on('exit', () => rej(new Error(`child exited before exporting: ${stderr}`)));
        });
        if (kill % 2 === 0) {
          await new Promise((r) => setTimeout(r, rng.int(1500)));
        } else {
          // as soon as the child's temp directory appears: it is then staging or checking
          await new Promise<void>((res) => {
            const w = watch(repo, (_e, name) => {
              if (name === `.demo.tmp-${child.pid}`) {
                w.close();
                res();
              }
            });
            child.on('exit', () => {
              w.close();
              res();
            });
          });
        }
        child.kill('SIGKILL');
        const how = await exited;
        if (how === 'SIGKILL' && existsSync(join(repo, `.demo.tmp-${child.pid}`))) midExport++;
        // the previous export, or (killed after the swap, or finished first) the child's whole export
        const now = snapshot(dir);
        if (JSON.stringify(now) !== JSON.stringify(previous)) {
          expect(isComplete(dir), `after kill ${kill}`).toBe(true);
          expect(seedOf(dir)).toBe(seed);
          previous = now;
        }
        expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
      }
      expect(midExport).toBeGreaterThan(0);
      const res = await exportModel({ model: 'demo', out: repo, seed: 99 });
      expect(res.kept).toEqual(['notes.txt']);
      expect(leftovers(repo)).toEqual([]);
      expect(isComplete(dir)).toBe(true);
    },
  );
});

describe('a full disk', () => {
  for (const [when, file] of [
    ['while staging the weights', 'weights.safetensors'],
    ['while writing the manifest, after the gate', EXPORT_MARKER],
  ] as const) {
    it(`ENOSPC ${when}: one line, exit 3, the previous export intact, no temp directory left`, async () => {
      const repo = join(base, `enospc-${file}`);
      const dir = join(repo, 'demo');
      await exportModel({ model: 'demo', out: repo, seed: 1 });
      const before = snapshot(dir);
      const r = spawnSync(
        process.execPath,
        ['--import', tsx, '--import', join(here, 'enospc-preload.ts'), cli, '--model', 'demo', '--out', repo, '--seed', '2'],
        { encoding: 'utf8', env: { ...env, LCTR_TEST_ENOSPC: file } },
      );
      expect(r.stderr).toBe(`lctr export: cannot write model directory ${dir}: no space left on the device (ENOSPC)\n`);
      expect(r.status).toBe(3);
      expect(snapshot(dir)).toEqual(before);
      expect(readdirSync(repo)).toEqual(['demo']);
    });
  }
});

describe('the gate on a trained checkpoint', () => {
  const repo = join(base, 'models');
  const dir = join(repo, 'din');
  let run: Run;
  beforeAll(async () => {
    await initTfjs({ backend: 'cpu', log: () => {} });
    run = await trainTiny(base, 'din', shortArch);
    await exportCheckpoint({ checkpoint: run.runDir, out: repo, samples: 8, latencyRequests: 0 });
  });

  /**
   * A copy of the checkpoint with din's mlp/l0/w[index] = value (checksums kept valid, so it
   * loads); returns the copy and the weight's shape.
   */
  function perturbed(tag: string, index: number, value: number): { ckpt: string; shape: readonly number[] } {
    const ckpt = join(base, `perturbed-${tag}`);
    cpSync(stepDir(run), ckpt, { recursive: true });
    const path = join(ckpt, 'weights.safetensors');
    const { tensors, metadata } = decodeChecked(readFileSync(path), path);
    const { sha256: _s, ...meta } = metadata;
    const w = tensors.get('mlp/l0/w') as HostTensor<'float32'>;
    w.data[index] = value;
    const bytes = encodeChecked(tensors, meta);
    writeFileSync(path, bytes);
    // checkpoints of version 2 on also record the whole file's sha256 in state.json
    const statePath = join(ckpt, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
    if ('weightsSha256' in state) {
      writeFileSync(statePath, JSON.stringify({ ...state, weightsSha256: createHash('sha256').update(bytes).digest('hex') }));
    }
    return { ckpt, shape: w.shape };
  }
  const exportCli = (ckpt: string) =>
    spawnSync(process.execPath, ['--import', tsx, cli, '--checkpoint', ckpt, '--out', repo, '--samples', '8', '--latency-requests', '0'], {
      encoding: 'utf8',
      env,
    });
  /** The line naming the bad weight: the parameter, its shape, the first bad index and value. */
  const weightLine = (shape: readonly number[], value: string) =>
    `weight failure: weight 'mlp/l0/w' [${shape.join(', ')}]: expected every value finite, got ${value} at index 3 (position [0, 3]); ` +
    `1 of ${shape.reduce((a, d) => a * d, 1)} values non-finite\n`;

  it('a NaN weight fails the export: exit 1, the weight and the parity failures named, the previous export left as it was', () => {
    const before = snapshot(dir);
    // NaN reaches every float32 run's probabilities: parity fails too
    const { ckpt, shape } = perturbed('nan', 3, Number.NaN);
    const r = exportCli(ckpt);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^din step 4: 8 held-out eval samples \| max \|Δprob\| .* FAIL$/m);
    expect(r.stderr).toContain(weightLine(shape, 'NaN'));
    expect(r.stderr).toMatch(/^parity failure: /m);
    const last = r.stderr.trim().split('\n').at(-1);
    expect(last).toBe(`lctr export: not exported (a weight is not finite and parity failed): ${dir} left as it was`);
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(repo)).toEqual(['din']);
  });

  it('an infinite weight, which parity passes (every run saturates alike), fails the export naming the parameter, index and value', () => {
    const before = snapshot(dir);
    const { ckpt, shape } = perturbed('inf', 3, Number.POSITIVE_INFINITY);
    const r = exportCli(ckpt);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^din step 4: 8 held-out eval samples \| max \|Δprob\| .* OK$/m);
    expect(r.stderr).toBe(`${weightLine(shape, 'Infinity')}lctr export: not exported (a weight is not finite): ${dir} left as it was\n`);
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(repo)).toEqual(['din']);
  });
});
