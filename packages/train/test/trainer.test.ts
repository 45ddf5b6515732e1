/** The training loop: bit-for-bit resume (cpu and wasm), metrics.jsonl, evaluation, refusals. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auc, gauc, logloss } from '@lctr/metrics';
import { type HostTensor, initWeights } from '@lctr/spec';
import { compileTfjs } from '@lctr/backend-tfjs';
import {
  type MetricsRecord,
  type TrainResult,
  evaluate,
  latestCheckpointDir,
  listCheckpointSteps,
  readCheckpoint,
  train,
} from '../src/index.ts';
import { BACKENDS, useBackend } from './helpers.ts';
import { bits, tinyConfig, tinyGraph, tinySource } from './fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-trainer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = () => join(root, `run${++dirs}`);
const quiet = { log: () => {} };

const readMetrics = (dir: string): MetricsRecord[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);

function expectSameState(a: TrainResult, b: TrainResult): void {
  expect([...b.weights.keys()]).toEqual([...a.weights.keys()]);
  for (const [k, t] of a.weights) expect(bits(b.weights.get(k)!.data), `weights '${k}'`).toEqual(bits(t.data));
  expect([b.optimizer.step, b.optimizer.beta1Power, b.optimizer.beta2Power]).toEqual([
    a.optimizer.step,
    a.optimizer.beta1Power,
    a.optimizer.beta2Power,
  ]);
  for (const [k, t] of a.optimizer.m) expect(bits(b.optimizer.m.get(k)!.data), `m '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.v) expect(bits(b.optimizer.v.get(k)!.data), `v '${k}'`).toEqual(bits(t.data));
}

describe.each(BACKENDS)('train on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  const graph = tinyGraph();
  const trainSrc = tinySource(72, 1),
    evalSrc = tinySource(40, 2);

  it('resumes bit for bit: 24 straight steps == 12 steps, stop, a new trainer resumes 12 more', async () => {
    // 72 samples in batches of 16: 5 steps per epoch, the last of 8 samples; 24 steps cross 4 epoch boundaries
    const config = tinyConfig();
    const straightDir = fresh(),
      splitDir = fresh();
    const straight = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: straightDir, ...quiet });
    expect([straight.step, straight.finished, straight.optimizer.step]).toEqual([24, true, 24]);

    const first = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: splitDir, stopAt: 12, ...quiet });
    expect([first.step, first.finished, first.checkpoint]).toEqual([12, false, join(splitDir, 'checkpoints', 'step-12')]);
    const lines: string[] = [];
    const second = await train({
      graph,
      train: trainSrc,
      eval: evalSrc,
      config,
      outDir: splitDir,
      resume: true,
      log: (l) => lines.push(l),
    });
    expect([second.step, second.finished, second.resumedFrom]).toEqual([24, true, 12]);
    expect(lines[0]).toBe(`resumed from ${join(splitDir, 'checkpoints', 'step-12')} (step 12 of 24)`);
    expectSameState(straight, second);
    // the final checkpoint files are byte-identical too (the state.json times differ)
    for (const f of ['weights.safetensors', 'optimizer.safetensors', 'graph.json']) {
      expect(
        readFileSync(join(splitDir, 'checkpoints', 'step-24', f)).equals(readFileSync(join(straightDir, 'checkpoints', 'step-24', f))),
        f,
      ).toBe(true);
    }
    // and so are the evaluations: the one at step 20 and the final one at 24
    const evals = (d: string) =>
      readMetrics(d)
        .filter((r) => r.kind === 'eval')
        .map((r) => ({ ...r, evalSeconds: 0, wallSeconds: 0, time: '' }));
    expect(evals(splitDir)).toEqual(evals(straightDir));
    expect(evals(straightDir).map((r) => r.step)).toEqual([10, 20, 24]);
    // keep: 2 -> the two newest checkpoints
    expect(listCheckpointSteps(straightDir)).toEqual([20, 24]);

    // resuming a finished run does nothing
    const again = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: splitDir, resume: true, ...quiet });
    expect([again.step, again.finished, again.evals.length]).toEqual([24, true, 0]);
    expectSameState(straight, again);
  });

  it(
    'initialises from the config seed, writes metrics.jsonl lines per logging step and eval, and evaluates with ' + '@lctr/metrics',
    async () => {
      const dir = fresh();
      const config = tinyConfig({ steps: 9, evalEvery: 4, logEvery: 3, checkpointEvery: 0 });
      const progress: number[] = [];
      const res = await train({
        graph,
        train: trainSrc,
        eval: evalSrc,
        config,
        outDir: dir,
        onProgress: (p) => progress.push(p.step),
        ...quiet,
      });
      expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const recs = readMetrics(dir);
      expect(recs.map((r) => `${r.kind}@${r.step}`)).toEqual(['start@0', 'train@3', 'eval@4', 'train@6', 'eval@8', 'train@9', 'eval@9']);
      const start = recs[0]! as Extract<MetricsRecord, { kind: 'start' }>;
      expect(start).toMatchObject({ totalSteps: 9, resumed: false, backend, trainSize: 72, evalSize: 40 });
      const t = recs[1]! as Extract<MetricsRecord, { kind: 'train' }>;
      expect(t.epoch).toBeCloseTo(3 / 5, 12);
      expect(t.loss).toBeGreaterThan(0.3);
      expect(t.samplesPerSec).toBeGreaterThan(0);
      expect(listCheckpointSteps(dir)).toEqual([9]); // checkpointEvery 0: only at the end

      // the last eval line equals the metrics of the final weights' predictions
      const model = compileTfjs(graph, { weights: res.weights });
      const idx = Int32Array.from({ length: 40 }, (_, i) => i);
      const probs = model.run(evalSrc.batch(idx)).prob.data as Float32Array;
      model.dispose();
      const last = recs[6]! as Extract<MetricsRecord, { kind: 'eval' }>;
      expect(last).toMatchObject({
        samples: 40,
        auc: auc(evalSrc.labels, probs),
        gauc: gauc(evalSrc.labels, probs, evalSrc.groups).gauc,
        gaucUsers: gauc(evalSrc.labels, probs, evalSrc.groups).users,
        logloss: logloss(evalSrc.labels, probs),
        bayesAuc: auc(evalSrc.labels, evalSrc.trueProbability!),
      });
      expect(res.evals[res.evals.length - 1]).toEqual(last);

      // a fresh run starts from initWeights(graph, config.seed)
      const tiny = await train({ graph, train: trainSrc, config: tinyConfig({ seed: 5 }), outDir: fresh(), stopAt: 0, ...quiet });
      expect([tiny.step, tiny.finished, tiny.checkpoint]).toEqual([0, false, undefined]);
      for (const [k, w] of initWeights(graph, 5)) expect(bits(tiny.weights.get(k)!.data), k).toEqual(bits(w.data));
    },
  );

  it('evaluates a hand-computed case: AUC 5.5/9, GAUC 0.625, logloss from the logits', () => {
    // zero MLP weights: logit = userBias[user]; user i for sample i
    const w = initWeights(graph, 0);
    for (const [k, t] of w) if (k.startsWith('mlp/')) t.data.fill(0);
    w.get('userBias')!.data.set([2, -1, 0, -3, 1, 1]);
    const model = compileTfjs(graph, { weights: w });
    const labels = Uint8Array.from([1, 0, 0, 1, 1, 0]);
    const src = {
      schema: trainSrc.schema,
      size: 6,
      labels,
      groups: Int32Array.from([0, 0, 0, 1, 1, 1]),
      batch: (idx: Int32Array) => ({
        user: { dtype: 'int32', shape: [idx.length], data: Int32Array.from(idx) } as HostTensor<'int32'>,
        x: { dtype: 'float32', shape: [idx.length, 4], data: new Float32Array(idx.length * 4) } as HostTensor<'float32'>,
        label: { dtype: 'float32', shape: [idx.length], data: Float32Array.from(idx, (i) => labels[i]!) } as HostTensor<'float32'>,
      }),
    };
    const m = evaluate(model, src, 4); // two batches: 4 + 2
    model.dispose();
    // p = sigmoid([2, -1, 0, -3, 1, 1]); positives 0.881, 0.047, 0.731 vs negatives 0.269, 0.5, 0.731: 3 + 0 + 2.5 of 9 pairs
    expect(m.auc).toBeCloseTo(5.5 / 9, 12);
    // user 0: 0.881 above both negatives -> 1 (3 impressions); user 1: 0.047 below, 0.731 tied -> 0.25 (3): (3 + 0.75) / 6
    expect(m.gauc).toBeCloseTo(0.625, 12);
    expect(m.gaucUsers).toBe(2);
    // logloss = mean softplus(-z) for positives, softplus(z) for negatives
    const sp = (x: number) => Math.log1p(Math.exp(x));
    expect(m.logloss).toBeCloseTo((sp(-2) + sp(-1) + sp(0) + sp(3) + sp(-1) + sp(1)) / 6, 6); // 0.968075
    expect(m.logloss).toBeCloseTo(0.968075, 5);
    expect([m.samples, m.positives, m.bayesAuc]).toEqual([6, 3, undefined]);
  });
});

describe('train refuses', () => {
  beforeAll(() => useBackend('cpu'));
  const graph = tinyGraph();
  const src = tinySource(40, 1);

  it('a checkpoint of a model with other parameters or features, naming them', async () => {
    const dir = fresh();
    await train({ graph, train: src, config: tinyConfig({ steps: 2 }), outDir: dir, ...quiet });
    const other = tinyGraph({ hidden: 5, users: 20 });
    await expect(
      train({ graph: other, train: tinySource(40, 1, 20), config: tinyConfig({ steps: 4 }), outDir: dir, resume: true, ...quiet }),
    ).rejects.toThrow(
      `checkpoint ${join(dir, 'checkpoints', 'step-2')} was written for a different model than 'tiny-train':\n` +
        "  parameter 'emb/user' is [16, 2] in the checkpoint, [20, 2] in the model\n" +
        "  parameter 'mlp/l0/w' is [6, 8] in the checkpoint, [6, 5] in the model\n" +
        "  parameter 'mlp/l0/b' is [8] in the checkpoint, [5] in the model\n" +
        "  parameter 'mlp/l1/w' is [8, 1] in the checkpoint, [5, 1] in the model\n" +
        "  parameter 'userBias' is [16, 1] in the checkpoint, [20, 1] in the model",
    );
    // a different feature schema: x has 3 columns, and a feature more
    const { GraphBuilder, bceWithLogits, init } = await import('@lctr/spec');
    const b = new GraphBuilder('tiny-train', {
      user: { dtype: 'int32', shape: ['batch'] },
      x: { dtype: 'float32', shape: ['batch', 3] },
      day: { dtype: 'int32', shape: ['batch'] },
      label: { dtype: 'float32', shape: ['batch'] },
    } as const);
    const logit = b.reshape(b.matmul(b.inputs.x, b.param('w', [3, 1], init.zeros())), ['batch']);
    const g2 = b.build({ prob: b.sigmoid(logit), loss: bceWithLogits(b, logit, b.inputs.label) });
    const src2 = { ...src, schema: g2.inputs.reduce((s, i) => ({ ...s, [i.name]: { dtype: i.dtype, shape: i.shape } }), {}) } as never;
    await expect(train({ graph: g2, train: src2, config: tinyConfig({ steps: 4 }), outDir: dir, resume: true, ...quiet })).rejects.toThrow(
      "was written for a different model than 'tiny-train':\n" +
        '  feature(s) of the model missing from the checkpoint: day\n' +
        "  feature 'x' is float32[batch, 4] in the checkpoint, float32[batch, 3] in the model\n" +
        '  parameter(s) of the model missing from the checkpoint: w\n' +
        '  parameter(s) in the checkpoint that the model lacks: emb/user, mlp/l0/w, mlp/l0/b, mlp/l1/w, mlp/l1/b, userBias',
    );
  });

  it(
    'a resume with a changed trajectory (optimizer, batch size, seed, data size), an occupied directory, a bad graph or ' + 'source',
    async () => {
      const dir = fresh();
      await train({ graph, train: src, config: tinyConfig({ steps: 2 }), outDir: dir, ...quiet });
      const ck = join(dir, 'checkpoints', 'step-2');
      await expect(
        train({
          graph,
          train: src,
          config: tinyConfig({ steps: 4, batchSize: 8, optimizer: { name: 'adam', lr: 0.02 } }),
          outDir: dir,
          resume: true,
          ...quiet,
        }),
      ).rejects.toThrow(
        `cannot resume from ${ck}: the config changed in settings that fix the training trajectory:\n` +
          '  optimizer: {"name":"adam","lr":0.01,"beta1":0.9,"beta2":0.999,"epsilon":1e-8} in the checkpoint, {"name":"adam","lr":0.02,"beta1":0.9,"beta2":0.999,"epsilon":1e-8} now\n' +
          '  batchSize: 16 in the checkpoint, 8 now',
      );
      await expect(
        train({ graph, train: tinySource(41, 1), config: tinyConfig({ steps: 4 }), outDir: dir, resume: true, ...quiet }),
      ).rejects.toThrow(`cannot resume from ${ck}: the training source held 40 samples, now 41 (the sample order depends on it)`);
      await expect(train({ graph, train: src, config: tinyConfig({ steps: 4 }), outDir: dir, ...quiet })).rejects.toThrow(
        `${dir} already holds a training run (metrics.jsonl); resume it (--resume) or choose another output directory`,
      );
      // the refusals changed nothing: resuming with the right config continues from step 2
      const ok = await train({ graph, train: src, config: tinyConfig({ steps: 4 }), outDir: dir, resume: true, ...quiet });
      expect([ok.resumedFrom, ok.step]).toEqual([2, 4]);

      const { GraphBuilder } = await import('@lctr/spec');
      const b = new GraphBuilder('no-loss', { x: { dtype: 'float32', shape: ['batch', 4] } } as const);
      const noLoss = b.build({ prob: b.sigmoid(b.reduceSum(b.inputs.x, [1])) });
      await expect(train({ graph: noLoss as never, train: src as never, config: tinyConfig(), outDir: fresh(), ...quiet })).rejects.toThrow(
        "graph 'no-loss' has no output 'loss' (outputs: prob); the trainer needs a scalar 'loss' and a 'prob' per sample",
      );
      const { label: _label, ...noLabel } = src.schema;
      await expect(
        train({ graph, train: { ...src, schema: noLabel } as never, config: tinyConfig(), outDir: fresh(), ...quiet }),
      ).rejects.toThrow("training source has no feature(s) label that graph 'tiny-train' takes (it has user, x)");
      expect(latestCheckpointDir(fresh())).toBeUndefined();
      // a NaN feature makes the loss NaN: the run stops at once, naming the step and the last checkpoint
      const nanSrc = tinySource(40, 1);
      const batch = nanSrc.batch.bind(nanSrc);
      nanSrc.batch = (idx) => {
        const r = batch(idx);
        r.x.data[0] = NaN;
        return r;
      };
      await expect(train({ graph, train: nanSrc, config: tinyConfig({ steps: 6 }), outDir: dir, resume: true, ...quiet })).rejects.toThrow(
        `the loss is NaN at step 5 (epoch 1.333); last checkpoint: ${join(dir, 'checkpoints', 'step-4')}`,
      );
      expect(readCheckpoint(join(dir, 'checkpoints', 'step-4')).state.step).toBe(4);
    },
  );
});

describe('resuming on another backend', () => {
  it('works, with a warning that the continuation is not bit-identical', async () => {
    await useBackend('cpu');
    const graph = tinyGraph();
    const src = tinySource(40, 1);
    const dir = fresh();
    await train({ graph, train: src, config: tinyConfig({ steps: 2 }), outDir: dir, ...quiet });
    await useBackend('wasm');
    const lines: string[] = [];
    const res = await train({ graph, train: src, config: tinyConfig({ steps: 3 }), outDir: dir, resume: true, log: (l) => lines.push(l) });
    expect(res.step).toBe(3);
    const ck = join(dir, 'checkpoints', 'step-2');
    expect(lines.slice(0, 2)).toEqual([
      `resumed from ${ck} (step 2 of 3)`,
      `warning: ${ck} was trained on tfjs backend 'cpu', this run uses 'wasm': the continuation is not bit-identical to an uninterrupted ` +
        `run`,
    ]);
    expect(readCheckpoint(join(dir, 'checkpoints', 'step-3')).state.backend).toBe('wasm');
  });
});
