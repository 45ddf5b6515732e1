/**
 * What a practitioner expects from training (issue 18 item 5): validation split + early stopping
 * with the best checkpoint kept, the test set scored once on it, evalEvery "epoch", a learning-rate
 * schedule that resumes bit for bit, the click loss logged apart, a model summary, and a reader
 * error through the CLI as one line with exit 2.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileTfjs } from '@lctr/backend-tfjs';
import { countFlops } from '@lctr/spec';
import {
  type MetricsRecord,
  type ConfigError,
  evaluate,
  listCheckpointSteps,
  parseTrainConfig,
  readCheckpoint,
  train,
} from '../src/index.ts';
import { bestCheckpointDir } from '../src/checkpoint.ts';
import { splitByTime, subsetSource } from '../src/models.ts';
import { type LrSchedule, learningRateAt } from '../src/schedule.ts';
import { formatSummary, modelSummary } from '../src/summary.ts';
import { useBackend } from './helpers.ts';
import { bits, tinyConfig, tinyGraph, tinySource } from './fixtures.ts';

const repo = resolve(import.meta.dirname, '../../..');
const root = mkdtempSync(join(tmpdir(), 'lctr-practice-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = () => join(root, `run${++dirs}`);
const quiet = { log: () => {} };
const readMetrics = (dir: string): MetricsRecord[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);
const problems = (json: unknown): readonly string[] => {
  try {
    parseTrainConfig(json, 'p.json');
  } catch (e) {
    return (e as ConfigError).problems;
  }
  return [];
};
const base = { optimizer: { name: 'adam', lr: 0.01 }, batchSize: 16, steps: 10, seed: 1 };

describe('config keys', () => {
  it('accepts the new keys and leaves them out when absent (config hashes of old runs hold)', () => {
    expect(Object.keys(parseTrainConfig(base))).toEqual([
      'optimizer',
      'batchSize',
      'steps',
      'evalEvery',
      'evalBatchSize',
      'logEvery',
      'seed',
      'checkpointEvery',
      'keep',
      'model',
      'data',
    ]);
    const c = parseTrainConfig({
      ...base,
      evalEvery: 'epoch',
      validation: { fraction: 0.2, patience: 2 },
      lrSchedule: { warmupSteps: 3, decay: 'cosine' },
      logClickLoss: true,
      summary: true,
    });
    expect(c.evalEvery).toBe('epoch');
    expect(c.validation).toEqual({ fraction: 0.2, metric: 'auc', patience: 2 });
    expect(c.lrSchedule).toEqual({ warmupSteps: 3, decay: 'cosine', minLr: 0, stepEvery: 0, gamma: 0.1 });
    expect([c.logClickLoss, c.summary]).toEqual([true, true]);
    expect(Object.keys(parseTrainConfig({ ...base, logClickLoss: false, summary: false }))).not.toContain('summary');
  });

  it('names the key, the expected and the actual value', () => {
    expect(problems({ ...base, evalEvery: 'epochs' })).toEqual([
      'p.json: config.evalEvery: expected an integer >= 0 or "epoch", got "epochs" (a string)',
    ]);
    expect(problems({ ...base, validation: { metric: 'accuracy', patience: 0, folds: 3 } })).toEqual([
      'p.json: config.validation.folds: unknown key (expected one of fraction, metric, patience)',
      'p.json: config.validation.metric: expected one of "auc", "gauc", "logloss", got "accuracy" (a string)',
      'p.json: config.validation.patience: expected an integer >= 1, got 0',
      'p.json: config.validation.fraction: missing (expected a number > 0 and < 1)',
    ]);
    expect(problems({ ...base, validation: { fraction: 1 } })).toEqual([
      'p.json: config.validation.fraction: expected a number > 0 and < 1, got 1',
    ]);
    expect(problems({ ...base, validation: 0.1 })).toEqual(['p.json: config.validation: expected an object, got 0.1']);
    expect(problems({ ...base, lrSchedule: { decay: 'linear', warmupSteps: -1 } })).toEqual([
      'p.json: config.lrSchedule.warmupSteps: expected an integer >= 0, got -1',
      'p.json: config.lrSchedule.decay: expected one of "none", "cosine", "step", got "linear" (a string)',
    ]);
    expect(problems({ ...base, lrSchedule: { decay: 'step', gamma: 0.5, minLr: 0.001 } })).toEqual([
      'p.json: config.lrSchedule.minLr: only used with decay "cosine", got decay "step"',
      'p.json: config.lrSchedule.stepEvery: missing (expected an integer >= 1 with decay "step")',
    ]);
    expect(problems({ ...base, lrSchedule: { decay: 'cosine', minLr: 0.01 } })).toEqual([
      'p.json: config.lrSchedule.minLr: expected a number below config.optimizer.lr (0.01), got 0.01',
    ]);
    expect(problems({ ...base, lrSchedule: {} })).toEqual([
      'p.json: config.lrSchedule: a schedule without warm-up or decay is the constant rate; give warmupSteps > 0 or decay "cosine" or ' +
        '"step", got {} (an object)',
    ]);
    expect(problems({ ...base, logClickLoss: 1, summary: 'yes' })).toEqual([
      'p.json: config.logClickLoss: expected true or false, got 1',
      'p.json: config.summary: expected true or false, got "yes" (a string)',
    ]);
  });
});

describe('learning-rate schedule', () => {
  const s = (o: Partial<LrSchedule>): LrSchedule => ({ warmupSteps: 0, decay: 'none', minLr: 0, stepEvery: 0, gamma: 0.1, ...o });
  it('warms up linearly, then decays by cosine or by steps (hand-computed)', () => {
    const cos = s({ warmupSteps: 4, decay: 'cosine', minLr: 0.1 });
    // warm-up: lr (s + 1) / 4
    expect([0, 1, 3].map((k) => learningRateAt(cos, 1, k, 12))).toEqual([0.25, 0.5, 1]);
    // cosine over the 8 steps after the warm-up: 0.1 + 0.9 (1 + cos(pi (k - 4) / 8)) / 2
    expect(learningRateAt(cos, 1, 4, 12)).toBe(1);
    expect(learningRateAt(cos, 1, 8, 12)).toBeCloseTo(0.55, 15); // cos(pi/2) = 0
    expect(learningRateAt(cos, 1, 6, 12)).toBeCloseTo(0.1 + 0.45 * (1 + Math.SQRT1_2), 15);
    expect(learningRateAt(cos, 1, 11, 12)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos((7 * Math.PI) / 8)), 15); // 0.1171...
    const step = s({ warmupSteps: 2, decay: 'step', stepEvery: 3, gamma: 0.5 });
    expect([0, 1, 2, 4, 5, 8, 11].map((k) => learningRateAt(step, 0.08, k, 100))).toEqual([0.04, 0.08, 0.08, 0.08, 0.04, 0.02, 0.01]);
    expect(learningRateAt(s({ warmupSteps: 5 }), 0.2, 40, 50)).toBe(0.2);
  });

  it('resumed mid-warm-up equals a straight run bit for bit (cpu), and logs the rate', async () => {
    await useBackend('cpu');
    const graph = tinyGraph(),
      trainSrc = tinySource(72, 1),
      evalSrc = tinySource(40, 2);
    const config = tinyConfig({ steps: 16, lrSchedule: { warmupSteps: 10, decay: 'cosine', minLr: 0.001 }, logEvery: 3 });
    const a = fresh(),
      b = fresh();
    const straight = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: a, ...quiet });
    await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: b, stopAt: 6, ...quiet });
    const resumed = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: b, resume: true, ...quiet });
    for (const [k, t] of straight.weights) expect(bits(resumed.weights.get(k)!.data), k).toEqual(bits(t.data));
    // the schedule does change the trajectory: a constant rate ends elsewhere
    const constant = await train({ graph, train: trainSrc, eval: evalSrc, config: tinyConfig({ steps: 16 }), outDir: fresh(), ...quiet });
    expect(bits(constant.weights.get('mlp/l0/w')!.data)).not.toEqual(bits(straight.weights.get('mlp/l0/w')!.data));
    // a train line every 3 steps carries the rate of its last step (step 3: the third warm-up step)
    const lines = readMetrics(a).filter((r) => r.kind === 'train') as Array<{ step: number; lr?: number }>;
    expect(lines.slice(0, 2).map((r) => [r.step, r.lr])).toEqual([
      [3, 0.003],
      [6, 0.006],
    ]);
  });
});

describe('validation split, early stopping, best checkpoint, test once', () => {
  beforeAll(() => useBackend('cpu'));

  it('cuts the latest fraction by time (ties by position), each part in position order', () => {
    const times = Float64Array.from([5, 1, 9, 3, 9, 7, 2, 8, 0, 4]);
    expect(splitByTime(times, 0.3, 'v.json')).toEqual({
      train: Int32Array.from([0, 1, 3, 5, 6, 8, 9]),
      validation: Int32Array.from([2, 4, 7]),
    });
    expect(() => splitByTime(times, 0.05, 'v.json')).toThrow(
      'v.json: config.validation.fraction: 0.05 of 10 training samples leaves no validation sample (expected at least one of each)',
    );
    const src = tinySource(10, 3),
      sub = subsetSource(src, Int32Array.from([2, 7]));
    expect([sub.size, Array.from(sub.labels), Array.from(sub.groups)]).toEqual([2, [src.labels[2], src.labels[7]], [2, 7]]);
    expect(Array.from(sub.batch(Int32Array.from([1, 0])).x.data)).toEqual(Array.from(src.batch(Int32Array.from([7, 2])).x.data));
  });

  it('stops when patience runs out, keeps the best checkpoint through pruning, scores the test set once on it', async () => {
    const graph = tinyGraph();
    const all = tinySource(96, 1),
      testSrc = tinySource(48, 2);
    const cut = splitByTime(
      Float64Array.from({ length: 96 }, (_, i) => i),
      0.25,
      't.json',
    );
    const trainSrc = subsetSource(all, cut.train),
      valSrc = subsetSource(all, cut.validation);
    // 72 training samples, batch 16: 5 steps per epoch; validation on logloss every epoch with patience 2.
    // A high rate overfits the 72 samples quickly, so the validation logloss turns up and the run stops.
    const config = tinyConfig({
      steps: 200,
      optimizer: { name: 'adam', lr: 0.2 },
      evalEvery: 'epoch',
      checkpointEvery: 0,
      keep: 1,
      logEvery: 5,
      validation: { fraction: 0.25, metric: 'logloss', patience: 2 },
    });
    const out = fresh();
    const logs: string[] = [];
    const res = await train({ graph, train: trainSrc, validation: valSrc, eval: testSrc, config, outDir: out, log: (l) => logs.push(l) });
    const recs = readMetrics(out);
    const vals = recs.filter((r) => r.kind === 'validation') as Array<Extract<MetricsRecord, { kind: 'validation' }>>;
    expect(recs.some((r) => r.kind === 'eval')).toBe(false);
    expect(vals.map((v) => v.step)).toEqual(vals.map((_, i) => 5 * (i + 1)));
    // the best is the lowest logloss; the run ends `patience` evaluations after it
    const bestIdx = vals.reduce((b, v, i) => (v.logloss < vals[b]!.logloss ? i : b), 0);
    expect(res.stoppedEarly).toBe(true);
    expect(res.finished).toBe(true);
    expect(res.bestStep).toBe(vals[bestIdx]!.step);
    expect(vals.length).toBe(bestIdx + 3);
    expect(res.step).toBe(vals.at(-1)!.step);
    expect(res.step).toBeLessThan(200);
    expect(logs).toContain(
      `early stop at step ${res.step}: validation logloss has not beaten ${vals[bestIdx]!.logloss.toFixed(4)} (step ${res.bestStep}) for ` +
        `2 evaluations (patience 2)`,
    );
    // keep: 1, yet the best checkpoint survives beside the last one
    expect(listCheckpointSteps(out)).toEqual([res.bestStep, res.step]);
    const bestDir = bestCheckpointDir(out)!;
    expect(bestDir).toBe(join(out, 'checkpoints', `step-${res.bestStep}`));
    // its weights are those of the best step: they reproduce its validation line exactly
    const model = compileTfjs(graph, { seed: 5 });
    model.setWeights(readCheckpoint(bestDir).weights);
    const again = evaluate(model, valSrc, 40);
    expect(again.logloss).toBe(vals[bestIdx]!.logloss);
    // the test line: once, on the best weights, equal to evaluate() on them
    const tests = recs.filter((r) => r.kind === 'test') as Array<Extract<MetricsRecord, { kind: 'test' }>>;
    expect(tests.length).toBe(1);
    const t = evaluate(model, testSrc, 40);
    expect({ ...tests[0]!, evalSeconds: 0, wallSeconds: 0, time: '' }).toEqual({
      kind: 'test',
      step: res.step,
      bestStep: res.bestStep,
      epoch: res.bestStep! / 5,
      ...t,
      evalSeconds: 0,
      wallSeconds: 0,
      time: '',
    });
    expect(res.test?.auc).toBe(t.auc);
    model.dispose();
    // resuming the finished run trains nothing and scores the test set no second time
    const resumed = await train({ graph, train: trainSrc, validation: valSrc, eval: testSrc, config, outDir: out, resume: true, ...quiet });
    expect([resumed.step, resumed.stoppedEarly, resumed.bestStep]).toEqual([res.step, true, res.bestStep]);
    expect(readMetrics(out).filter((r) => r.kind === 'test').length).toBe(1);
  });

  it('refuses a validation config without a validation source, and the reverse', async () => {
    const graph = tinyGraph(),
      s = tinySource(32, 1);
    await expect(
      train({ graph, train: s, config: tinyConfig({ validation: { fraction: 0.2 } }), outDir: fresh(), ...quiet }),
    ).rejects.toThrow('config.validation is set, but no validation source was given (train({ validation }))');
    await expect(train({ graph, train: s, validation: s, config: tinyConfig(), outDir: fresh(), ...quiet })).rejects.toThrow(
      'a validation source was given, but config.validation is not set (it names the metric that chooses the best step)',
    );
  });

  it('evaluates every epoch with evalEvery "epoch" (72 samples, batch 16: every 5 steps)', async () => {
    const out = fresh();
    await train({
      graph: tinyGraph(),
      train: tinySource(72, 1),
      eval: tinySource(40, 2),
      config: tinyConfig({ steps: 12, evalEvery: 'epoch' }),
      outDir: out,
      ...quiet,
    });
    expect(
      readMetrics(out)
        .filter((r) => r.kind === 'eval')
        .map((r) => r.step),
    ).toEqual([5, 10, 12]);
  });
});

describe('click loss and model summary', () => {
  beforeAll(() => useBackend('cpu'));

  it('logs clickLoss (mean BCE of prob) and auxLoss = loss - clickLoss; a BCE-only model has auxLoss ~ 0', async () => {
    const out = fresh();
    const plain = fresh();
    const src = tinySource(72, 1);
    const a = await train({
      graph: tinyGraph(),
      train: src,
      config: tinyConfig({ steps: 8, logEvery: 4, logClickLoss: true }),
      outDir: out,
      ...quiet,
    });
    const b = await train({ graph: tinyGraph(), train: src, config: tinyConfig({ steps: 8, logEvery: 4 }), outDir: plain, ...quiet });
    const lines = readMetrics(out).filter((r) => r.kind === 'train') as Array<{ loss: number; clickLoss: number; auxLoss: number }>;
    expect(lines.length).toBe(2);
    for (const l of lines) {
      expect(Math.abs(l.clickLoss - l.loss)).toBeLessThan(1e-5); // float32 logits vs clipped host BCE
      expect(l.auxLoss).toBeCloseTo(l.loss - l.clickLoss, 12);
    }
    // the extra forward pass changes nothing of the training
    expect(bits(a.weights.get('mlp/l0/w')!.data)).toEqual(bits(b.weights.get('mlp/l0/w')!.data));
    expect(readMetrics(plain).some((r) => 'clickLoss' in r)).toBe(false);
  });

  it('counts parameters per top-level scope and FLOPs per sample of the tiny model by hand', async () => {
    // emb/user [16, 2] = 32; mlp/l0 w [6, 8] + b [8] = 56, mlp/l1 w [8, 1] + b [1] = 9; userBias [16, 1] = 16
    // FLOPs to prob for one sample: matmul 2*6*8 = 96, + b 8, relu 8; matmul 2*8*1 = 16, + b 1; + userBias 1; sigmoid 1
    // (the embedding gathers, concat and reshape move data: 0); the loss is not counted
    const s = modelSummary(tinyGraph());
    expect(s).toEqual({ parameters: 113, parametersByScope: { emb: 32, mlp: 65, userBias: 16 }, flopsPerSample: 131 });
    expect(formatSummary(s)).toBe('model: 113 parameters (emb 32, mlp 65, userBias 16); 131 FLOPs per sample (forward to prob)');
    expect(countFlops(tinyGraph(), { batch: 1 }).total).toBeGreaterThan(131); // the whole graph also counts the loss
    const out = fresh();
    await train({ graph: tinyGraph(), train: tinySource(32, 1), config: tinyConfig({ steps: 2, summary: true }), outDir: out, ...quiet });
    expect(readMetrics(out)[1]).toEqual({ kind: 'summary', step: 0, ...s });
  });
});

describe('the CLI', () => {
  it('reports a reader error (a file where a folder is expected) like a config error: exit 2, one line', async () => {
    const dir = join(root, 'reader');
    mkdirSync(dir);
    writeFileSync(join(dir, 'afile'), 'x');
    const ds = JSON.parse(readFileSync(join(repo, 'datasets/ml-100k.json'), 'utf8')) as Record<string, { files: string[] }>;
    ds.items!.files = [join(dir, 'afile', 'x.item')];
    writeFileSync(join(dir, 'ds.json'), JSON.stringify(ds));
    const cfg = join(dir, 'train.json');
    writeFileSync(cfg, JSON.stringify({ ...base, data: { dataset: 'file', config: join(dir, 'ds.json') } }));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repo, 'packages/train/src/cli.ts'), '--model', 'avgpool', '--config', cfg, '--out', join(dir, 'out')],
      { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    const f = join(dir, 'afile', 'x.item');
    expect([code, stdout, stderr]).toEqual([2, '', `lctr train: ${f}: cannot open: ENOTDIR: not a directory, stat '${f}'\n`]);
  }, 60_000);
});
