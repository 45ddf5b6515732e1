/**
 * Checkpoints: checksums and clear errors for corrupt or incomplete files, every intermediate
 * state of the write protocol, and child processes killed with SIGKILL at random moments.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, decodeSafetensors } from '@lctr/spec';
import {
  CheckpointError,
  type TrainResult,
  decodeChecked,
  encodeChecked,
  latestCheckpointDir,
  listCheckpointSteps,
  readCheckpoint,
  train,
  writeCheckpoint,
} from '../src/index.ts';
import { useBackend } from './helpers.ts';
import { bits, tinyConfig, tinyGraph, tinySource } from './fixtures.ts';
import { KILL_SETUP } from './kill-setup.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'lctr-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = () => join(root, `run${++dirs}`);
const quiet = { log: () => {} };
const graph = tinyGraph();
const src = tinySource(40, 1);

function expectSameWeights(a: TrainResult, b: TrainResult): void {
  for (const [k, t] of a.weights) expect(bits(b.weights.get(k)!.data), `weights '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.m) expect(bits(b.optimizer.m.get(k)!.data), `m '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.v) expect(bits(b.optimizer.v.get(k)!.data), `v '${k}'`).toEqual(bits(t.data));
}

describe('checkpoint files', () => {
  beforeAll(() => useBackend('cpu'));
  let run: string;
  beforeAll(async () => {
    run = fresh();
    await train({ graph, train: src, config: tinyConfig({ steps: 3, checkpointEvery: 1, keep: 5 }), outDir: run, ...quiet });
  });
  /** a copy of step-3 to damage */
  const copy = () => {
    const d = join(fresh(), 'step-3');
    cpSync(join(run, 'checkpoints', 'step-3'), d, { recursive: true });
    return d;
  };

  it('hold the parameters, Adam state, graph and run state, with a sha256 of the tensor data in the header', () => {
    expect(listCheckpointSteps(run)).toEqual([1, 2, 3]);
    expect(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8')).toBe('step-3\n');
    expect(readdirSync(join(run, 'checkpoints', 'step-3')).sort()).toEqual([
      'graph.json',
      'optimizer.safetensors',
      'state.json',
      'weights.safetensors',
    ]);
    const ck = readCheckpoint(latestCheckpointDir(run)!);
    expect(ck.state).toMatchObject({
      format: 'lctr-checkpoint',
      version: 2,
      step: 3,
      samples: 40,
      trainSize: 40,
      epoch: 1,
      backend: 'cpu',
    });
    expect(ck.state.config).toEqual(tinyConfig({ steps: 3, checkpointEvery: 1, keep: 5 }));
    expect([...ck.weights.keys()]).toEqual(graph.params.map((p) => p.name).sort());
    expect(ck.optimizer.step).toBe(3);
    expect(ck.optimizer.beta1Power).toBe(0.9 * 0.9 * 0.9);
    const raw = decodeSafetensors(readFileSync(join(ck.dir, 'optimizer.safetensors')));
    expect(Object.keys(raw.metadata).sort()).toEqual(['beta1Power', 'beta2Power', 'format', 'sha256', 'step']);
    expect([...raw.tensors.keys()]).toContain('m/mlp/l0/w');
    // the checksum is of the data section: the same tensors give the same digest, any other byte a different one
    const t = new Map([['a', { dtype: 'float32' as const, shape: [2], data: Float32Array.from([1, 2]) }]]);
    const bytes = encodeChecked(t, { x: 'y' });
    // data section: float32 1 and 2, little-endian
    expect(decodeChecked(bytes, 'f').metadata).toEqual({
      x: 'y',
      sha256: createHash('sha256')
        .update(Uint8Array.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]))
        .digest('hex'),
    });
    bytes[bytes.length - 1] ^= 1;
    expect(() => decodeChecked(bytes, 'f.safetensors')).toThrow(
      /^corrupt checkpoint file f\.safetensors: sha256 of the tensor data is [0-9a-f]{64}, the header says [0-9a-f]{64}$/,
    );
  });

  it('fail with the file named when a byte flips, a file is cut, garbled or missing', () => {
    let d = copy();
    const w = join(d, 'weights.safetensors');
    const b = readFileSync(w);
    b[b.length - 3] ^= 0x40;
    writeFileSync(w, b);
    expect(() => readCheckpoint(d)).toThrow(
      new RegExp(`^corrupt checkpoint file ${w}: sha256 of the tensor data is [0-9a-f]{64}, the header says [0-9a-f]{64}$`),
    );

    d = copy();
    const o = join(d, 'optimizer.safetensors');
    truncateSync(o, 100);
    expect(() => readCheckpoint(d)).toThrow(`corrupt checkpoint file ${o}: header length`);

    d = copy();
    writeFileSync(join(d, 'state.json'), '{"format": "lctr-checkpoint", "ver');
    expect(() => readCheckpoint(d)).toThrow(`corrupt checkpoint file ${join(d, 'state.json')}: not valid JSON (`);

    d = copy();
    const g = join(d, 'graph.json');
    writeFileSync(g, readFileSync(g, 'utf8').replace('"tiny-train"', '"tiny-trian"'));
    expect(() => readCheckpoint(d)).toThrow(
      new RegExp(`^corrupt checkpoint file ${g}: sha256 is [0-9a-f]{64}, ${join(d, 'state.json')} says [0-9a-f]{64}$`),
    );

    d = copy();
    rmSync(join(d, 'optimizer.safetensors'));
    expect(() => readCheckpoint(d)).toThrow(`incomplete checkpoint: ${join(d, 'optimizer.safetensors')} is missing`);
  });

  it('are never overwritten while latest names them', () => {
    const ck = readCheckpoint(latestCheckpointDir(run)!);
    expect(() =>
      writeCheckpoint(
        run,
        {
          step: 3,
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
      ),
    ).toThrow(`refusing to overwrite ${join(run, 'checkpoints', 'step-3')}: checkpoints/latest names it`);
  });

  // a corrupt latest checkpoint is passed over for an older intact one: checkpoint-integrity.test.ts
  it('make a resume fail clearly when latest is garbage; latestCheckpointDir names a missing target', async () => {
    const out = fresh();
    cpSync(run, out, { recursive: true });
    writeFileSync(join(out, 'checkpoints', 'latest'), 'step-9\n');
    expect(() => latestCheckpointDir(out)).toThrow(
      `${join(out, 'checkpoints', 'latest')} names step-9, but ${join(out, 'checkpoints', 'step-9')} does not exist`,
    );
    writeFileSync(join(out, 'checkpoints', 'latest'), 'garbage');
    expect(() => latestCheckpointDir(out)).toThrow(`${join(out, 'checkpoints', 'latest')}: expected 'step-<N>', got "garbage"`);
    const resume = train({
      graph,
      train: src,
      config: tinyConfig({ steps: 6, checkpointEvery: 1, keep: 5 }),
      outDir: out,
      resume: true,
      ...quiet,
    });
    await expect(resume).rejects.toThrow(new CheckpointError(`${join(out, 'checkpoints', 'latest')}: expected 'step-<N>', got "garbage"`));
  });

  it('survive every intermediate state of the write protocol: latest always loads, and the resume lands on the same weights', async () => {
    const config = tinyConfig({ steps: 6, checkpointEvery: 1, keep: 5 });
    const straight = await train({ graph, train: src, config, outDir: fresh(), ...quiet });
    const states: Record<string, (ck: string) => void> = {
      // killed while writing files into the temp directory
      'partial temp dir': (ck) => {
        mkdirSync(join(ck, '.step-4.tmp-99999'));
        writeFileSync(join(ck, '.step-4.tmp-99999', '.weights.safetensors.tmp-99999-1'), 'half');
      },
      // killed after the temp directory was complete, before its rename
      'complete temp dir': (ck) => cpSync(join(ck, 'step-3'), join(ck, '.step-4.tmp-99999'), { recursive: true }),
      // killed after the rename, before latest moved: step-4 exists (here: a wrong one) but latest says step-3
      'unreferenced step dir': (ck) => cpSync(join(ck, 'step-2'), join(ck, 'step-4'), { recursive: true }),
      // killed while replacing latest: its temp file is left beside it
      'latest temp file': (ck) => writeFileSync(join(ck, '.latest.tmp-99999-1'), 'step-'),
    };
    for (const [what, damage] of Object.entries(states)) {
      const out = fresh();
      cpSync(run, out, { recursive: true });
      damage(join(out, 'checkpoints'));
      expect(readCheckpoint(latestCheckpointDir(out)!).state.step, what).toBe(3);
      const resumed = await train({ graph, train: src, config, outDir: out, resume: true, ...quiet });
      expect(resumed.resumedFrom, what).toBe(3);
      expectSameWeights(straight, resumed);
      expect(
        readdirSync(join(out, 'checkpoints')).filter((n) => n.includes('.tmp-')),
        what,
      ).toEqual([]);
      expect(listCheckpointSteps(out), what).toEqual([2, 3, 4, 5, 6]);
    }
  });
});

describe('SIGKILL', () => {
  beforeAll(() => useBackend('wasm'));

  it(
    'child processes killed at random moments (some right as a checkpoint starts) always leave a latest that loads; the resumed run ' +
      'matches a straight one bit for bit',
    async () => {
      const out = fresh();
      mkdirSync(join(out, 'checkpoints'), { recursive: true });
      const rng = new Rng(2024);
      let lastStep = 0;
      for (let kill = 0; kill < 6; kill++) {
        const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'kill-child.ts'), out, 'wasm'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
          child.on('exit', (code, signal) => resolve(signal ?? code)),
        );
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            if (d.toString().includes('training')) resolve();
          });
          child.on('exit', () => reject(new Error(`child exited before training: ${stderr}`)));
        });
        if (kill % 2 === 0) {
          await new Promise((r) => setTimeout(r, rng.int(300)));
        } else {
          // kill as soon as the next checkpoint's temp directory appears
          await new Promise<void>((resolve) => {
            const w = watch(join(out, 'checkpoints'), (_e, name) => {
              if (name && name.startsWith('.step-')) {
                w.close();
                resolve();
              }
            });
            child.on('exit', () => {
              w.close();
              resolve();
            }); // (then the exit check below fails)
          });
        }
        child.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');
        const dir = latestCheckpointDir(out);
        if (dir === undefined) {
          expect(lastStep, `after kill ${kill}: no latest, though step ${lastStep} was checkpointed`).toBe(0); // killed before the first checkpoint completed
          continue;
        }
        const ck = readCheckpoint(dir); // verifies every checksum
        expect(ck.state.step).toBeGreaterThanOrEqual(lastStep);
        lastStep = ck.state.step;
      }
      const { graph: g, source, config } = KILL_SETUP();
      expect(lastStep).toBeGreaterThan(0);
      expect(lastStep).toBeLessThan(config.steps!);
      const resumed = await train({ graph: g, train: source, config, outDir: out, resume: true, ...quiet });
      expect([resumed.resumedFrom, resumed.step]).toEqual([lastStep, config.steps]);
      const straight = await train({ graph: g, train: source, config, outDir: fresh(), ...quiet });
      expectSameWeights(straight, resumed);
      expect(existsSync(join(out, 'checkpoints', `step-${config.steps}`))).toBe(true);
    },
  );
});
