/** The model registry, the demo world, and the CLI end to end (child processes). */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { auc } from '@lctr/metrics';
import type { SampleSource } from '@lctr/data';
import { DEMO_DEFAULTS, type demoTrainSchema } from '@lctr/spec';
import { ConfigError, getTrainModel, listCheckpointSteps, readCheckpoint, trainModelNames } from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const root = mkdtempSync(join(tmpdir(), 'lctr-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const demo = getTrainModel('demo');
const req = (data: Record<string, unknown> = {}, model: Record<string, unknown> = {}) => ({
  split: 'train' as const,
  seed: 3,
  data,
  model,
  where: 'd.json',
});

describe('the model registry and the demo world', () => {
  it('knows demo, and names the known models for an unknown one', () => {
    expect(trainModelNames()).toContain('demo');
    expect(() => getTrainModel('nope')).toThrow(new ConfigError([`unknown model 'nope' (known: ${trainModelNames().join(', ')})`]));
  });

  it('builds the demo training graph from config.model, with exact errors', async () => {
    const g = await demo.buildTrain({ items: 50, dim: 4, hidden: [8] }, 'd.json', {});
    expect(Object.keys(g.outputs).sort()).toEqual(['loss', 'prob']);
    expect(g.meta.config).toEqual({ ...DEMO_DEFAULTS, items: 50, dim: 4, hidden: [8] });
    expect(() => demo.buildTrain({ dim: 0, hiden: [8] }, 'd.json', {})).toThrow(
      [
        'd.json: config.model.hiden: unknown key (expected one of items, users, dim, topK, hidden)',
        'd.json: config.model.dim: expected an integer >= 1, got 0',
      ].join('\n'),
    );
    expect(() => demo.source(req({ seqLen: 4 }))).toThrow('d.json: config.data.seqLen: must be >= config.model.topK (8), got 4');
    expect(() => demo.source(req({ samples: 0 }))).toThrow('d.json: config.data.samples: expected an integer >= 1, got 0');
  });

  it('draws a deterministic world whose labels follow the planted probability', () => {
    type Demo = SampleSource<typeof demoTrainSchema>;
    const a = demo.source(req({ samples: 3000, seqLen: 12, clusters: 5 }, { items: 100, users: 30 })) as Demo;
    const b = demo.source(req({ samples: 3000, seqLen: 12, clusters: 5 }, { items: 100, users: 30 })) as Demo;
    expect(a.size).toBe(3000);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    const batch = a.batch(Int32Array.from([7, 0]));
    expect(batch.history.shape).toEqual([2, 12]);
    expect(Array.from(batch.history.data)).toEqual(Array.from(b.batch(Int32Array.from([7, 0])).history.data));
    // sample 7: valid prefix of 3..12 items, padding id 0, true p = sigmoid(4 * share of the candidate's cluster - 2)
    const h = Array.from(batch.history.data.subarray(0, 12)),
      m = Array.from(batch.historyMask.data.subarray(0, 12));
    const len = m.filter((x) => x === 1).length;
    expect(len).toBeGreaterThanOrEqual(3);
    expect(m).toEqual([...Array(len).fill(1), ...Array(12 - len).fill(0)]);
    expect(h.slice(len)).toEqual(Array(12 - len).fill(0));
    const cand = batch.candidate.data[0]!;
    const share = h.slice(0, len).filter((x) => x % 5 === cand % 5).length / len;
    expect(a.trueProbability![7]).toBeCloseTo(1 / (1 + Math.exp(-(4 * share - 2))), 6);
    expect(batch.label.data[0]).toBe(a.labels[7]);
    expect(batch.user.data[0]).toBe(a.groups[7]);
    // the signal is learnable: the true probabilities rank the labels well, and the eval split differs
    expect(auc(a.labels, a.trueProbability!)).toBeGreaterThan(0.7);
    const e = demo.source({
      ...req({ samples: 3000, seqLen: 12, clusters: 5, evalSamples: 50 }, { items: 100, users: 30 }),
      split: 'eval',
    }) as Demo;
    expect(e.size).toBe(50);
    expect(Array.from(e.batch(Int32Array.from([0])).history.data)).not.toEqual(h);
    expect(() => a.batch(Int32Array.from([3000]))).toThrow(
      'demo source (train): sample index 3000 at batch position 0 is outside [0, 3000)',
    );
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function cli(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'packages/train/src/cli.ts'), ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    onStderr?.(stderr, child);
  });
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

describe('the CLI (nx run train:train)', () => {
  const config = (steps: number) => ({
    optimizer: { name: 'adam', lr: 0.01 },
    batchSize: 16,
    steps,
    seed: 3,
    evalEvery: 2,
    checkpointEvery: 2,
    keep: 2,
    logEvery: 1,
    evalBatchSize: 32,
    model: { items: 60, users: 12, dim: 4, topK: 2, hidden: [4] },
    data: { samples: 64, evalSamples: 32, seqLen: 6, clusters: 3 },
  });

  it('is wired as the Nx target', () => {
    const project = JSON.parse(readFileSync(join(repo, 'packages/backend-tfjs/project.json'), 'utf8'));
    expect(project.targets.train).toEqual({
      executor: 'nx:run-commands',
      options: { command: 'tsx packages/train/src/cli.ts', cwd: '{workspaceRoot}', forwardAllArgs: true },
      cache: false,
    });
  });

  it('trains, stops on SIGINT with a checkpoint, and resumes to the end', async () => {
    const file = join(root, 'demo.json'),
      out = join(root, 'out');
    writeFileSync(file, JSON.stringify(config(300)));
    let sent = false;
    const first = await cli(['--model', 'demo', '--config', file, '--out', out, '--backend', 'cpu'], (err, child) => {
      if (!sent && /step \d+\/300/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(first.stderr).toMatch(/^tfjs backend: cpu .*requested by --backend\n/);
    expect(first.stderr).toContain('SIGINT: stopping after the current step (a checkpoint is written); send it again to quit at once');
    expect(first.code).toBe(0);
    const m = /^stopped: step (\d+)\/300 in [\d.]+ s, [\d,]+ samples\/s; .*checkpoint (\S+) \(continue with --resume\)\n$/.exec(
      first.stdout,
    );
    expect(m, first.stdout).not.toBeNull();
    const stoppedAt = Number(m![1]);
    expect(m![2]).toBe(join(out, 'checkpoints', `step-${stoppedAt}`));
    expect(readCheckpoint(m![2]!).state.step).toBe(stoppedAt);

    const second = await cli(['--model', 'demo', '--config', file, '--out', out, '--backend', 'cpu', '--resume']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resumed from ${m![2]} (step ${stoppedAt} of 300)`);
    expect(second.stdout).toMatch(
      new RegExp(
        `^done: step 300/300 in [\\d.]+ s, [\\d,]+ samples/s; eval auc 0\\.\\d{4} gauc [\\d.]+ logloss [\\d.]+; checkpoint ` +
          `${join(out, 'checkpoints', 'step-300')}\\n$`,
      ),
    );
    expect(listCheckpointSteps(out)).toEqual([298, 300]);
    const recs = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; step: number });
    expect(recs.filter((r) => r.kind === 'train').map((r) => r.step)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(recs.filter((r) => r.kind === 'start').map((r) => r.step)).toEqual([0, stoppedAt]);
  });

  it('exits 2 with every config problem, or an unknown model, named', async () => {
    const file = join(root, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ ...config(5), batchSize: 0, optimizer: { name: 'adam', lr: 0.1, beta: 0.9 }, model: { items: 60, dims: 4 } }),
    );
    const bad = await cli(['--model', 'demo', '--config', file]);
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([
      2,
      '',
      [
        `lctr train: ${file}: config.batchSize: expected an integer >= 1, got 0`,
        `lctr train: ${file}: config.optimizer.beta: unknown key (expected one of name, lr, beta1, beta2, epsilon)`,
        '',
      ].join('\n'),
    ]);
    writeFileSync(file, JSON.stringify({ ...config(5), model: { items: 60, dims: 4 } }));
    const badModel = await cli(['--model', 'demo', '--config', file]);
    expect([badModel.code, badModel.stderr]).toEqual([
      2,
      `lctr train: ${file}: config.model.dims: unknown key (expected one of items, users, dim, topK, hidden)\n`,
    ]);
    const unknown = await cli(['--model', 'nope', '--config', file]);
    // the CLI registers every model the package index exports (the same list this process sees)
    expect([unknown.code, unknown.stderr]).toEqual([2, `lctr train: unknown model 'nope' (known: ${trainModelNames().join(', ')})\n`]);
    expect(trainModelNames()).toEqual(expect.arrayContaining(['avgpool', 'demo', 'din', 'lcn', 'sim-hard', 'sim-soft', 'twin', 'ifa']));
  });
});
