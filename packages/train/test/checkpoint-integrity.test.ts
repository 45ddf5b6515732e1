/**
 * Checkpoint integrity (issue 17): tampered safetensors headers are refused with the tensor's
 * name, state.json checksums every file whole, a resume falls back past a corrupt latest to the
 * newest intact checkpoint, and a full disk while writing one leaves one clear line, no temp
 * files and the previous state (exit code 3 from the CLI).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES, StorageError, readSafetensorsHeader } from '@lctr/spec';
import {
  CHECKPOINT_VERSION,
  CheckpointError,
  type TrainResult,
  latestCheckpointDir,
  listCheckpointSteps,
  readCheckpoint,
  train,
  writeCheckpoint,
} from '../src/index.ts';
import { useBackend } from './helpers.ts';
import { bits, tinyConfig, tinyGraph, tinySource } from './fixtures.ts';
import { failWrites } from './fail-writes.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const root = mkdtempSync(join(tmpdir(), 'lctr-ckpt-int-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = () => join(root, `run${++dirs}`);
const quiet = { log: () => {} };
const graph = tinyGraph();
const src = tinySource(40, 1);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const config6 = tinyConfig({ steps: 6, checkpointEvery: 1, keep: 5 });

function expectSameWeights(a: TrainResult, b: TrainResult): void {
  for (const [k, t] of a.weights) expect(bits(b.weights.get(k)!.data), `weights '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.m) expect(bits(b.optimizer.m.get(k)!.data), `m '${k}'`).toEqual(bits(t.data));
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };
/** Rewrite a safetensors file's JSON header in place (the data section is kept byte for byte). */
function editHeader(path: string, edit: (h: Header) => void): void {
  const bytes = readFileSync(path);
  const len = Number(bytes.readBigUInt64LE(0));
  const h = JSON.parse(bytes.subarray(8, 8 + len).toString()) as Header;
  edit(h);
  const head = Buffer.from(JSON.stringify(h));
  const out = Buffer.alloc(8 + head.length + bytes.length - 8 - len);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  bytes.copy(out, 8 + head.length, 8 + len);
  writeFileSync(path, out);
}
const offsetsOf = (path: string, name: string) => readSafetensorsHeader(readFileSync(path)).entries.find((e) => e.name === name)!.offsets;
function swapOffsets(path: string, a: string, b: string): void {
  editHeader(path, (h) => {
    const ea = h[a] as Entry,
      eb = h[b] as Entry;
    [ea.data_offsets, eb.data_offsets] = [eb.data_offsets, ea.data_offsets];
  });
}
const flipLastByte = (path: string) => {
  const b = readFileSync(path);
  b[b.length - 1] ^= 1;
  writeFileSync(path, b);
};

let run: string;
beforeAll(async () => {
  await useBackend('cpu');
  run = fresh();
  await train({ graph, train: src, config: tinyConfig({ steps: 3, checkpointEvery: 1, keep: 5 }), outDir: run, ...quiet });
});
/** a copy of the 3-checkpoint run */
const copyRun = () => {
  const out = fresh();
  cpSync(run, out, { recursive: true });
  return out;
};
const stepDir = (out: string, n: number) => join(out, 'checkpoints', `step-${n}`);

describe('checkpoint integrity', () => {
  it('state.json holds the sha256 of every file, whole (header included)', () => {
    const d = stepDir(run, 3);
    const ck = readCheckpoint(d);
    expect(ck.state.version).toBe(CHECKPOINT_VERSION);
    expect(CHECKPOINT_VERSION).toBe(2);
    expect(ck.state.weightsSha256).toBe(sha256(readFileSync(join(d, 'weights.safetensors'))));
    expect(ck.state.optimizerSha256).toBe(sha256(readFileSync(join(d, 'optimizer.safetensors'))));
    expect(ck.state.graphSha256).toBe(sha256(readFileSync(join(d, 'graph.json'))));
  });

  it('refuses two same-size tensors with swapped offsets, naming the tensor (weights and optimizer)', () => {
    const d = stepDir(copyRun(), 3);
    const w = join(d, 'weights.safetensors');
    // mlp/l0/b is float32[8], mlp/l1/w float32[8, 1]: the same 32 bytes, so only the layout or a checksum tells
    const [b, l1w] = [offsetsOf(w, 'mlp/l0/b'), offsetsOf(w, 'mlp/l1/w')];
    expect(b[1] - b[0]).toBe(l1w[1] - l1w[0]);
    swapOffsets(w, 'mlp/l0/b', 'mlp/l1/w');
    expect(() => readCheckpoint(d)).toThrow(
      new CheckpointError(
        `corrupt checkpoint file ${w}: tensor 'mlp/l0/b' is at data_offsets [${l1w.join(', ')}], where this writer puts it at ` +
          `[${b.join(', ')}] (tensors in name order, back to back): the header was changed`,
      ),
    );

    const d2 = stepDir(copyRun(), 3);
    const o = join(d2, 'optimizer.safetensors');
    const [mb, mw] = [offsetsOf(o, 'm/mlp/l0/b'), offsetsOf(o, 'm/mlp/l1/w')];
    swapOffsets(o, 'm/mlp/l0/b', 'm/mlp/l1/w');
    expect(() => readCheckpoint(d2)).toThrow(
      new CheckpointError(
        `corrupt checkpoint file ${o}: tensor 'm/mlp/l0/b' is at data_offsets [${mw.join(', ')}], where this writer puts it at ` +
          `[${mb.join(', ')}] (tensors in name order, back to back): the header was changed`,
      ),
    );
  });

  it('refuses an offset shifted by 4 bytes, naming the tensor', () => {
    const d = stepDir(copyRun(), 3);
    const w = join(d, 'weights.safetensors');
    const [b, l0w] = [offsetsOf(w, 'mlp/l0/b'), offsetsOf(w, 'mlp/l0/w')];
    editHeader(w, (h) => {
      (h['mlp/l0/w'] as Entry).data_offsets = [l0w[0] + 4, l0w[1] + 4];
    });
    expect(() => readCheckpoint(d)).toThrow(
      new CheckpointError(
        `corrupt checkpoint file ${w}: tensor 'mlp/l0/w' data_offsets [${l0w[0] + 4}, ${l0w[1] + 4}] leave a gap of 4 bytes after tensor ` +
          `'mlp/l0/b' [${b.join(', ')}]`,
      ),
    );
  });

  it('refuses a changed metadata value, which only the whole-file checksum sees', () => {
    const d = stepDir(copyRun(), 3);
    const o = join(d, 'optimizer.safetensors');
    editHeader(o, (h) => {
      (h['__metadata__'] as Record<string, string>).beta1Power = '0.5';
    });
    const want = readCheckpoint(stepDir(run, 3)).state.optimizerSha256!;
    expect(() => readCheckpoint(d)).toThrow(
      new CheckpointError(`corrupt checkpoint file ${o}: sha256 is ${sha256(readFileSync(o))}, ${join(d, 'state.json')} says ${want}`),
    );
  });

  it('reads version-1 checkpoints (data checksums only) with the same header checks; refuses unknown versions', () => {
    const d = stepDir(copyRun(), 3);
    const statePath = join(d, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
    delete state.weightsSha256;
    delete state.optimizerSha256;
    writeFileSync(statePath, JSON.stringify({ ...state, version: 1 }));
    expect(readCheckpoint(d).state).toMatchObject({ version: 1, step: 3 });
    const w = join(d, 'weights.safetensors');
    const [b, l1w] = [offsetsOf(w, 'mlp/l0/b'), offsetsOf(w, 'mlp/l1/w')];
    swapOffsets(w, 'mlp/l0/b', 'mlp/l1/w');
    expect(() => readCheckpoint(d)).toThrow(
      `corrupt checkpoint file ${w}: tensor 'mlp/l0/b' is at data_offsets [${l1w.join(', ')}], where this writer puts it at ` +
        `[${b.join(', ')}]`,
    );
    writeFileSync(statePath, JSON.stringify({ ...state, version: 3 }));
    expect(() => readCheckpoint(d)).toThrow(new CheckpointError(`${statePath}: checkpoint version 3; this trainer reads versions 1 and 2`));
  });
});

describe('resume after a corrupt latest', () => {
  it('continues from the newest intact checkpoint, saying which was skipped and why, and lands on the straight run', async () => {
    const straight = await train({ graph, train: src, config: config6, outDir: fresh(), ...quiet });
    const out = copyRun();
    const w3 = join(stepDir(out, 3), 'weights.safetensors');
    flipLastByte(w3);
    const lines: string[] = [];
    const resumed = await train({ graph, train: src, config: config6, outDir: out, resume: true, log: (l) => lines.push(l) });
    expect(resumed.resumedFrom).toBe(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^skipped checkpoint ${stepDir(out, 3)}: corrupt checkpoint file ${w3}: sha256 of the tensor data is [0-9a-f]{64}, the header ` +
          `says [0-9a-f]{64}$`,
      ),
    );
    expect(lines[1]).toBe(`resumed from ${stepDir(out, 2)} (step 2 of 6)`);
    expectSameWeights(straight, resumed);
    expect(listCheckpointSteps(out)).toEqual([2, 3, 4, 5, 6]);
    expect(readCheckpoint(stepDir(out, 3)).state.step).toBe(3); // rewritten, intact
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-6\n');
  });

  it('passes over a latest that names a missing directory', async () => {
    const out = copyRun();
    rmSync(stepDir(out, 3), { recursive: true });
    const lines: string[] = [];
    const resumed = await train({ graph, train: src, config: config6, outDir: out, resume: true, stopAt: 4, log: (l) => lines.push(l) });
    expect(resumed.resumedFrom).toBe(2);
    expect(lines[0]).toBe(`skipped checkpoint ${stepDir(out, 3)}: ${stepDir(out, 3)} does not exist (checkpoints/latest names it)`);
  });

  it('fails clearly, listing each checkpoint and why, when none is intact (and changes nothing)', async () => {
    const out = copyRun();
    flipLastByte(join(stepDir(out, 3), 'weights.safetensors'));
    writeFileSync(join(stepDir(out, 2), 'state.json'), '{"format": "lctr-');
    rmSync(join(stepDir(out, 1), 'optimizer.safetensors'));
    const err = await train({ graph, train: src, config: config6, outDir: out, resume: true, ...quiet }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    const lines = (err as Error).message.split('\n');
    expect(lines[0]).toBe(`no intact checkpoint to resume from in ${join(out, 'checkpoints')}:`);
    expect(lines[1]).toMatch(
      new RegExp(
        `^  step-3: corrupt checkpoint file ${join(stepDir(out, 3), 'weights.safetensors')}: sha256 of the tensor data is [0-9a-f]{64}, ` +
          `the header says [0-9a-f]{64}$`,
      ),
    );
    expect(lines[2]).toMatch(
      new RegExp(`^  step-2: corrupt checkpoint file ${join(stepDir(out, 2), 'state.json')}: not valid JSON \\(.+\\)$`),
    );
    expect(lines[3]).toBe(`  step-1: incomplete checkpoint: ${join(stepDir(out, 1), 'optimizer.safetensors')} is missing`);
    expect(lines).toHaveLength(4);
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-3\n');
    expect(listCheckpointSteps(out)).toEqual([1, 2, 3]);
  });
});

describe('a full disk while writing a checkpoint', () => {
  const full = (out: string, n: number) => `cannot write checkpoint ${stepDir(out, n)}: no space left on the device (ENOSPC)`;
  const leftovers = (out: string) => readdirSync(join(out, 'checkpoints')).filter((n) => n.includes('.tmp-'));
  const step4 = (out: string) => {
    const ck = readCheckpoint(latestCheckpointDir(out)!);
    return () =>
      writeCheckpoint(
        out,
        {
          step: 4,
          epoch: 1,
          samples: 40,
          wallSeconds: 0,
          backend: 'cpu',
          trainSize: 40,
          config: ck.state.config,
          graph: ck.graph,
          weights: ck.weights,
          optimizer: ck.optimizer,
        },
        5,
      );
  };

  it('in a file of the step: one line naming the checkpoint, no temp files, latest and its checkpoint untouched', () => {
    for (const file of ['weights', 'optimizer', 'graph', 'state']) {
      const out = copyRun();
      const write = step4(out);
      const undo = failWrites(new RegExp(`\\.step-4\\.tmp-\\d+/\\.${file}\\.`));
      let err: unknown;
      try {
        write();
      } catch (e) {
        err = e;
      } finally {
        undo();
      }
      expect(err, file).toBeInstanceOf(StorageError);
      expect((err as Error).message, file).toBe(full(out, 4));
      expect(leftovers(out), file).toEqual([]);
      expect(existsSync(stepDir(out, 4)), file).toBe(false);
      expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-3\n');
      expect(readCheckpoint(latestCheckpointDir(out)!).state.step).toBe(3);
    }
  });

  it('in latest itself: the new step directory goes, latest still names the previous one', () => {
    const out = copyRun();
    const write = step4(out);
    const undo = failWrites(/\.latest\.tmp-/);
    try {
      expect(write).toThrow(new StorageError('write checkpoint', stepDir(out, 4), 'ENOSPC'));
    } finally {
      undo();
    }
    expect(leftovers(out)).toEqual([]);
    expect(listCheckpointSteps(out)).toEqual([1, 2, 3]);
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-3\n');
  });

  it('stops train() with the StorageError; once there is room, a resume lands on the straight run', async () => {
    const straight = await train({ graph, train: src, config: config6, outDir: fresh(), ...quiet });
    const out = copyRun();
    const undo = failWrites(/\.step-5\.tmp-/);
    try {
      await expect(train({ graph, train: src, config: config6, outDir: out, resume: true, ...quiet })).rejects.toThrow(
        new StorageError('write checkpoint', stepDir(out, 5), 'ENOSPC'),
      );
    } finally {
      undo();
    }
    expect(leftovers(out)).toEqual([]);
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-4\n');
    const resumed = await train({ graph, train: src, config: config6, outDir: out, resume: true, ...quiet });
    expect(resumed.resumedFrom).toBe(4);
    expectSameWeights(straight, resumed);
  });

  it('the CLI prints one line and exits 3 (EXIT_CODES.storage)', async () => {
    const file = join(root, 'demo.json'),
      out = fresh();
    writeFileSync(
      file,
      JSON.stringify({
        optimizer: { name: 'adam', lr: 0.01 },
        batchSize: 16,
        steps: 6,
        seed: 3,
        evalEvery: 0,
        checkpointEvery: 2,
        keep: 2,
        logEvery: 1,
        evalBatchSize: 32,
        model: { items: 60, users: 12, dim: 4, topK: 2, hidden: [4] },
        data: { samples: 64, evalSamples: 32, seqLen: 6, clusters: 3 },
      }),
    );
    const cli = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--import',
            join(here, 'fail-writes.ts'),
            join(repo, 'packages/train/src/cli.ts'),
            '--model',
            'demo',
            '--config',
            file,
            '--out',
            out,
            '--backend',
            'cpu',
            ...args,
          ],
          { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '',
          stderr = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        child.on('close', (code) => res({ code, stdout, stderr }));
      });
    const first = await cli(['--stop-at', '2']);
    expect(first.code, first.stderr).toBe(0);
    const second = await cli(['--resume'], { LCTR_TEST_FAIL_WRITES: '\\.step-4\\.tmp-' });
    expect(second.code, second.stderr).toBe(EXIT_CODES.storage);
    expect(second.stdout).toBe('');
    expect(second.stderr.endsWith(`\nlctr train: ${full(out, 4)}\n`), second.stderr).toBe(true);
    expect(second.stderr).not.toMatch(/^\s+at /m); // no stack
    expect(leftovers(out)).toEqual([]);
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe('step-2\n');
    expect(readCheckpoint(stepDir(out, 2)).state.step).toBe(2);
  });
});
