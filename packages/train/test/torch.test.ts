/**
 * The torch engine (issue 20, items 2-4): two ranks with gloo over loopback train a small LCN
 * (CRP included) to the same weights as one process on the whole batch (float64, 1e-9) and as the
 * tfjs trainer on the same batches (float32 bars); the checkpoint is the trainer's format; a
 * failing rank stops the run without a checkpoint; no torch, and a checkpoint of another graph,
 * are clear errors. Needs python3-torch (apt-get install -y python3-torch).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureSchema, Graph, HostTensor } from '@lctr/spec';
import { rankBounds, type SampleSource } from '@lctr/data';
import { shardBounds } from '@lctr/backend-tfjs';
import { RankFailedError, TorchUnavailableError } from '@lctr/backend-torch';
import { CheckpointError, readCheckpoint } from '../src/checkpoint.ts';
import { type TrainConfig, parseTrainConfig } from '../src/config.ts';
import { getTrainModel, trainSources } from '../src/models.ts';
import { type TorchTrainResult, trainTorch } from '../src/torch.ts';
import { train } from '../src/trainer.ts';
import { useBackend } from './helpers.ts';

// the default LCN's architecture, shrunk so three python launches and a tfjs run stay well under a minute
const TINY = {
  optimizer: { name: 'adam', lr: 0.01 },
  batchSize: 33,
  steps: 3,
  evalEvery: 0,
  checkpointEvery: 0,
  keep: 1,
  logEvery: 1,
  seed: 1,
  evalBatchSize: 512,
  model: {
    dim: 8,
    categoryDim: 4,
    seqLen: 10,
    sequences: ['target', 'source'],
    hidden: [16],
    attention: [8],
    lifelongLen: 32,
    contextDim: 4,
    lap: { k1: 12, k2: 4, attentionDim: 8, heads: 2, headDim: 4, ffnDim: 8, outDim: 8 },
    crp: { lambda: 0.1, negatives: 16 },
  },
  data: { dataset: 'synthetic', world: 'small', worldSeed: 1 },
};

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lctr-torch-train-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let config: TrainConfig, graph: Graph<FeatureSchema, string>, sources: { train: SampleSource; eval: SampleSource };
async function setup(
  json: object,
): Promise<{ config: TrainConfig; graph: Graph<FeatureSchema, string>; sources: { train: SampleSource; eval: SampleSource } }> {
  const c = parseTrainConfig(json, 'tiny.json');
  const lcn = getTrainModel('lcn');
  return {
    config: c,
    graph: (await lcn.buildTrain(c.model, 'tiny.json', c.data)) as Graph<FeatureSchema, string>,
    sources: await trainSources(lcn, 'lcn', c, 'tiny.json'),
  };
}

/** max over every parameter of |a - b| */
function maxAbsDiff(a: ReadonlyMap<string, HostTensor>, b: ReadonlyMap<string, HostTensor>): number {
  let worst = 0;
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape).toEqual(t.shape);
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(Number(t.data[i]) - Number(u.data[i])));
  }
  return worst;
}

/** parity's scaled error (|a - e| / max(|e|, rms(e))), worst over the parameters */
function maxScaledError(actual: ReadonlyMap<string, HostTensor>, expected: ReadonlyMap<string, HostTensor>): number {
  let worst = 0;
  for (const [k, e] of expected) {
    const a = actual.get(k)!;
    let sq = 0;
    for (let i = 0; i < e.data.length; i++) sq += Number(e.data[i]) ** 2;
    const rms = Math.sqrt(sq / e.data.length);
    for (let i = 0; i < e.data.length; i++)
      worst = Math.max(worst, Math.abs(Number(a.data[i]) - Number(e.data[i])) / Math.max(Math.abs(Number(e.data[i])), rms, 1e-30));
  }
  return worst;
}

let two: TorchTrainResult, one: TorchTrainResult, twoDir: string;
beforeAll(async () => {
  ({ config, graph, sources } = await setup(TINY));
  twoDir = tmp();
  // 33 samples per step: rank 0 gets 17, rank 1 16 rows (unequal shares, unequal CRP positive counts)
  two = await trainTorch({ graph, train: sources.train, eval: sources.eval, config, outDir: twoDir, nprocPerNode: 2, dtype: 'float64' });
  one = await trainTorch({ graph, train: sources.train, config, outDir: tmp(), nprocPerNode: 1, dtype: 'float64' });
}, 120_000);

describe('torch engine: two ranks (gloo, loopback) vs one process vs tfjs', () => {
  it('splits every batch as backend-tfjs shardBounds does', () => {
    for (const [n, w] of [
      [33, 2],
      [10, 3],
      [7, 7],
      [256, 4],
    ] as const)
      expect(rankBounds(n, w)).toEqual(shardBounds(n, w));
  });

  it('two ranks reach the weights of one process on the whole batch (float64, 1e-9)', () => {
    expect(two.losses).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(two.weights, one.weights)).toBeLessThan(1e-9);
    // the run moved the weights (a test of nothing would pass the bar too)
    const init = readCheckpoint(two.checkpoint!).weights;
    expect(
      maxAbsDiff(init, new Map([...one.weights].map(([k, t]) => [k, { ...t, data: new Float64Array(t.data.length) }]))),
    ).toBeGreaterThan(1e-3);
  });

  it('matches the tfjs trainer on the same batches (float32 bars)', async () => {
    await useBackend('cpu');
    const res = await train({ graph, train: sources.train, config, outDir: tmp() });
    // measured 1.1e-5 to 1.8e-5 (float32 rounding through Adam's normalisation); parity's gradient bar
    expect(maxScaledError(res.weights, one.weights)).toBeLessThan(1e-4);
  }, 60_000);

  it('writes the trainer checkpoint format, evaluates on the eval split', () => {
    const ck = readCheckpoint(two.checkpoint!);
    expect(ck.state.step).toBe(3);
    expect(ck.state.backend).toBe('torch');
    expect(ck.optimizer.step).toBe(3);
    expect(ck.optimizer.beta1Power).toBeCloseTo(0.9 ** 3, 15);
    expect(maxAbsDiff(ck.weights, two.weights)).toBeLessThan(1e-6); // float32 of the float64 weights
    expect(two.eval!.samples).toBe(sources.eval.size);
    expect(two.eval!.auc).toBeGreaterThan(0);
    expect(two.torchrun).toMatch(
      /^torchrun --nnodes 1 --node-rank 0 --nproc-per-node 2 --master-addr 127\.0\.0\.1 --master-port \d+ \S+train\.py \S+manifest\.json$/,
    );
    expect(readdirSync(twoDir).filter((n) => n.startsWith('.torch-work'))).toEqual([]);
  });
});

describe('torch engine: bad input', () => {
  it('a rank that fails stops the run; no checkpoint, no work files', async () => {
    const out = tmp();
    const run = trainTorch({
      graph,
      train: sources.train,
      config,
      outDir: out,
      nprocPerNode: 2,
      dtype: 'float64',
      env: { LCTR_TORCH_FAIL_RANK: '1' },
    });
    await expect(run).rejects.toThrow(RankFailedError);
    await expect(run).rejects.toThrow(
      /^rank 1 of 2 failed \(exit code 1\); the other ranks were stopped\. Its last lines:[\s\S]*RuntimeError: rank 1: failing on purpose \(LCTR_TORCH_FAIL_RANK\)/,
    );
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);

  it('no python3-torch names the apt-get line', async () => {
    const run = trainTorch({ graph, train: sources.train, config, outDir: tmp(), python: '/nonexistent/python3' });
    await expect(run).rejects.toThrow(TorchUnavailableError);
    await expect(run).rejects.toThrow(
      'cannot run PyTorch with /nonexistent/python3: spawnSync /nonexistent/python3 ENOENT; install it with apt-get install -y ' +
        'python3-torch',
    );
  });

  it('resuming from a checkpoint of another graph names what differs', async () => {
    const other = await setup({ ...TINY, model: { ...TINY.model, hidden: [8] } });
    const run = trainTorch({ graph: other.graph, train: other.sources.train, config: other.config, outDir: twoDir, resume: true });
    await expect(run).rejects.toThrow(CheckpointError);
    await expect(run).rejects.toThrow(
      `checkpoint ${join(twoDir, 'checkpoints', 'step-3')} was written for a different model than '${graph.name}':\n  parameter ` +
        `'mlp/l0/w' is [80, 16] in the checkpoint, [80, 8] in the model\n  parameter 'mlp/l0/b' is [16] in the checkpoint, [8] in the ` +
        `model`,
    );
  });

  it('refuses a batch smaller than the ranks, naming config.batchSize', async () => {
    const c = parseTrainConfig({ ...TINY, batchSize: 1 }, 'tiny.json');
    await expect(trainTorch({ graph, train: sources.train, config: c, outDir: tmp(), nprocPerNode: 2 })).rejects.toThrow(
      "config: config.batchSize: every step's batch must hold at least one sample per rank (2 ranks), but batchSize is 1",
    );
  });
});
