/**
 * Issue 17, item 7: a config that cannot fit is refused before anything is allocated, with the
 * estimate and the key to blame; shards above the machine's parallelism are refused (or warned
 * about with --oversubscribe). The estimate is checked to the byte on a hand-written graph; the
 * lifelong cases run on spec's real LCN graph (building it allocates nothing).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type Graph, buildLifelongTrain, lifelongConfig } from '@lctr/spec';
import { ConfigError, type TrainConfig, parseTrainConfig } from '../src/index.ts';
import {
  GIB,
  type MachineLimits,
  WASM_HEAP_BYTES,
  checkTrainFits,
  checkWasmHeap,
  estimateTrainMemory,
  formatBytes,
} from '../src/memory.ts';

/** ids [batch, n] int32, mask [batch, n] bool, emb [100, 8] -> gather [batch, n, 8] -> mean []. */
function toy(n: number): Graph {
  return {
    name: 'toy',
    meta: {},
    outputs: { loss: 'mean:0' },
    inputs: [
      { name: 'ids', dtype: 'int32', shape: ['batch', n] },
      { name: 'mask', dtype: 'bool', shape: ['batch', n] },
    ],
    params: [{ name: 'emb', dtype: 'float32', shape: [100, 8], init: { kind: 'zeros' } }],
    nodes: [
      {
        id: 'gather',
        op: 'gather',
        inputs: ['emb', 'ids'],
        attrs: {},
        outputs: [{ id: 'gather:0', dtype: 'float32', shape: ['batch', n, 8] }],
      },
      { id: 'mean', op: 'reduceMean', inputs: ['gather:0'], attrs: {}, outputs: [{ id: 'mean:0', dtype: 'float32', shape: [] }] },
    ],
  };
}

const cfg = (extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}): TrainConfig =>
  parseTrainConfig({ optimizer: { name: 'adam', lr: 0.01 }, batchSize: 4, steps: 1, seed: 1, model, ...extra }, 'x.json');
const machine = (gib: number, parallelism = 2): MachineLimits => ({ memoryBytes: gib * GIB, memorySource: '--memory-gib', parallelism });
const problems = (f: () => unknown): readonly string[] => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('estimateTrainMemory', () => {
  it(
    'counts every input and node output at the shard batch (floats 4 x: value, gradient, temporaries) and the parameters 2 x per shard ' +
      '+ Adam m, v',
    () => {
      // batch 4: ids 4*10*4 = 160, mask 4*10*1 = 40, gather 4*10*8*4*4 = 5120, mean 4*4 = 16 -> 5336; emb 100*8*4 = 3200
      expect(estimateTrainMemory(toy(10), { batchSize: 4 })).toEqual({
        batchSize: 4,
        shards: 1,
        shardBatch: 4,
        activationBytes: 5336,
        paramBytes: 3200,
        perShardBytes: 5336 + 6400,
        totalBytes: 5336 + 4 * 3200,
        largest: [
          { id: 'gather:0', shape: ['batch', 10, 8], dims: [4, 10, 8], bytes: 5120 },
          { id: 'ids', shape: ['batch', 10], dims: [4, 10], bytes: 160 },
          { id: 'mask', shape: ['batch', 10], dims: [4, 10], bytes: 40 },
        ],
        unresolved: [],
      });
      // 2 shards of ceil(5 / 2) = 3: 120 + 30 + 3840 + 16 = 4006 each, each with weights and gradients, Adam's m and v once
      const two = estimateTrainMemory(toy(10), { batchSize: 5, shards: 2 });
      expect([two.shardBatch, two.activationBytes, two.perShardBytes, two.totalBytes]).toEqual([
        3,
        4006,
        4006 + 6400,
        2 * (4006 + 6400) + 6400,
      ]);
    },
  );

  it('binds symbols other than batch when told, and says which ones it had to count as 1', () => {
    const g: Graph = { ...toy(1), inputs: [{ name: 'ids', dtype: 'int32', shape: ['batch', 'seq'] }], nodes: [] };
    expect(estimateTrainMemory(g, { batchSize: 2 })).toMatchObject({ activationBytes: 8, unresolved: ['seq'] });
    expect(estimateTrainMemory(g, { batchSize: 2, bindings: { seq: 50 } })).toMatchObject({ activationBytes: 400, unresolved: [] });
  });

  it('formats bytes as MiB below 0.01 GiB, else GiB', () => {
    expect([formatBytes(3 * 2 ** 20), formatBytes(0.5 * GIB), formatBytes(12345.67 * GIB), formatBytes(WASM_HEAP_BYTES)]).toEqual([
      '3.0 MiB',
      '0.5 GiB',
      '12,345.7 GiB',
      '4.0 GiB',
    ]);
  });
});

describe('checkTrainFits and checkWasmHeap', () => {
  it('refuses a step above the machine memory with the estimate, naming the config key that holds the big dim', () => {
    const config = cfg({}, { seqLen: 100_000_000 });
    const est = estimateTrainMemory(toy(100_000_000), { batchSize: 4 });
    // gather 4 x 1e8 x 8 floats x 4 bytes x 4 = 47.68 GiB, ids 4 x 1e8 x 4 = 1.49 GiB, mask 4 x 1e8 = 0.37 GiB: 49.5 GiB
    expect(problems(() => checkTrainFits(config, est, machine(16), { where: 'x.json' }))).toEqual([
      'x.json: config.model.seqLen: 100000000 needs about 49.5 GiB for one training step at batchSize 4 (estimate: activations with ' +
        'their gradients and temporaries 49.5 GiB per shard x 1 shard of 4 samples, parameters 3.1 KiB x 4 (weights and gradients per ' +
        "shard, Adam's m and v); largest: 'gather:0' [4, 100000000, 8] 47.7 GiB, 'ids' [4, 100000000] 1.49 GiB, 'mask' [4, 100000000] " +
        '0.37 GiB); this machine has 16.0 GiB (--memory-gib)',
    ]);
    expect(checkTrainFits(config, est, machine(64), { where: 'x.json' })).toEqual([]);
    // the same step fits a 64 GiB machine but not one wasm heap
    expect(problems(() => checkWasmHeap(config, est, 'x.json'))).toEqual([
      'x.json: config.model.seqLen: 100000000 needs about 49.5 GiB per shard thread for one training step at batchSize 4 (estimate: ' +
        'activations with their gradients and temporaries 49.5 GiB per shard x 1 shard of 4 samples, parameters 3.1 KiB x 4 (weights and ' +
        "gradients per shard, Adam's m and v); largest: 'gather:0' [4, 100000000, 8] 47.7 GiB, 'ids' [4, 100000000] 1.49 GiB, 'mask' [4, " +
        '100000000] 0.37 GiB); the wasm backend holds at most 4.0 GiB per thread (use more shards, a smaller config or another backend)',
    ]);
    expect(() => checkWasmHeap(config, estimateTrainMemory(toy(10), { batchSize: 4 }), 'x.json')).not.toThrow();
  });

  it('blames config.batchSize when no other key holds the big dim', () => {
    const config = cfg({ batchSize: 100_000_000 });
    const est = estimateTrainMemory(toy(10), { batchSize: config.batchSize });
    expect(problems(() => checkTrainFits(config, est, machine(1), { where: 'x.json' }))[0]).toMatch(
      /^x\.json: config\.batchSize: 100000000 needs about 123\.9 GiB for one training step at batchSize 100000000 \(.*'gather:0' \[100000000, 10, 8\] 119\.2 GiB, /,
    );
  });

  it('refuses shards above the machine parallelism, or warns with oversubscribe', () => {
    const config = cfg({ shards: 64 });
    const est = estimateTrainMemory(toy(10), { batchSize: 4, shards: 64 });
    const what =
      "x.json: config.shards: 64 is above this machine's parallelism (2, os.availableParallelism()); each shard is a worker thread with " +
      'its own copy of the weights (this step: about 490.4 KiB), and more threads than cores only wait for each other';
    expect(problems(() => checkTrainFits(config, est, machine(16), { where: 'x.json' }))).toEqual([
      `${what}; use at most 2, or pass --oversubscribe to run it anyway`,
    ]);
    expect(checkTrainFits(config, est, machine(16), { where: 'x.json', oversubscribe: true })).toEqual([
      `warning: ${what}; running anyway (--oversubscribe)`,
    ]);
    expect(checkTrainFits(cfg({ shards: 2 }), est, machine(16), { where: 'x.json' })).toEqual([]);
  });

  // spec's real LCN training graph: building it is symbolic, so the sizes of the issue cost nothing here
  const small = {
    dim: 16,
    categoryDim: 8,
    seqLen: 50,
    users: 100,
    targetItems: 200,
    sourceItems: 300,
    categories: 10,
    profile: [3, 2],
    hidden: [64, 32],
    attention: [32, 16],
    context: [5, 3],
    contextDim: 4,
  };
  it('LCN: lifelongLen 100000000 and crp.negatives 1000000000 are refused naming their keys', () => {
    for (const [model, key, value, dims] of [
      [{ lifelongLen: 100_000_000 }, 'config.model.lifelongLen', 100_000_000, [256, 100_000_000, 24]],
      [{ crp: { negatives: 1_000_000_000 } }, 'config.model.crp.negatives', 1_000_000_000, [1_000_000_000, 1, 16]],
    ] as const) {
      const graph = buildLifelongTrain(
        lifelongConfig({ ...small, ...model, crp: { ...lifelongConfig().crp, ...('crp' in model ? model.crp : {}) } }),
      );
      const config = cfg({ batchSize: 256 }, { ...small, ...model });
      const est = estimateTrainMemory(graph, { batchSize: 256 });
      expect(est.largest[0]!.dims).toEqual(dims);
      const [line] = problems(() => checkTrainFits(config, est, machine(128), { where: 'lcn.json' }));
      expect(line!.startsWith(`lcn.json: ${key}: ${value} needs about `)).toBe(true);
      expect(line!.endsWith('; this machine has 128.0 GiB (--memory-gib)')).toBe(true);
      expect(est.totalBytes).toBeGreaterThan(1000 * GIB);
    }
  });
});

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const root = mkdtempSync(join(tmpdir(), 'lctr-memory-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cli = (config: Record<string, unknown>, ...args: string[]) => {
  const file = join(root, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ optimizer: { name: 'adam', lr: 0.01 }, steps: 1, seed: 1, ...config }));
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repo, 'packages/train/src/cli.ts'), '--model', 'demo', '--config', file, '--out', join(root, 'out'), ...args],
    { cwd: repo, encoding: 'utf8', timeout: 120_000 },
  );
  return { ...r, file };
};

describe('the CLI refuses at start (exit 2) before any data or tensor is allocated', () => {
  it('a batch that does not fit --memory-gib', () => {
    const r = cli({ batchSize: 1_000_000 }, '--memory-gib', '1');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      new RegExp(
        `^lctr train: ${r.file.replace(/[.]/g, '\\.')}: config\\.batchSize: 1000000 needs about [\\d.,]+ GiB for one training step at ` +
          `batchSize 1000000 \\(estimate: .*\\); this machine has 1\\.0 GiB \\(--memory-gib\\)\n$`,
      ),
    );
    expect(cli({ batchSize: 8 }, '--memory-gib', '0').stderr.split('\n')[0]).toBe("lctr train: --memory-gib must be a number > 0, got '0'");
  }, 120_000);

  it.skipIf(availableParallelism() >= 64)(
    'shards above the machine parallelism, unless --oversubscribe',
    () => {
      const r = cli({ batchSize: 64, shards: 64 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^lctr train: .*: config\\.shards: 64 is above this machine's parallelism \\(${availableParallelism()}, ` +
            `os\\.availableParallelism\\(\\)\\); .*; use at most ${availableParallelism()}, or pass --oversubscribe to run it anyway\n$`,
        ),
      );
    },
    120_000,
  );
});
