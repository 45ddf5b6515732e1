/**
 * The data-parallel pieces: which reductions become all-reduces (and which graphs cannot be
 * split over ranks), the launcher's env:// contract, its torchrun line, and a failing rank
 * stopping the others. The end-to-end DDP equality (two ranks = one process on the whole batch)
 * is tested in @lctr/train (test/torch.test.ts), which owns the training loop.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, buildLifelongTrain } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG } from '@lctr/spec/testing';
import { RankFailedError, TorchSourceError, batchReductions, launchRanks, torchSource, torchrunCommand } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'lctr-torch-ddp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('torchSource distributed', () => {
  it('all-reduces every reduction across samples of the LCN training graph, and only those', () => {
    const g = buildLifelongTrain(LIFELONG_TEST_CONFIG);
    const global = batchReductions(g);
    expect(global.size).toBeGreaterThan(0);
    for (const id of global) expect(['reduceSum', 'reduceMean']).toContain(g.nodes.find((n) => n.id === id)!.op);
    const src = torchSource(g, { dtype: 'float64', distributed: true });
    const calls = (src.match(/= _batch_(sum|mean)\(/g) ?? []).length;
    expect(calls).toBe(global.size);
    expect(src).toContain(`DISTRIBUTED = True  # ${global.size} reduction(s) across samples are all-reduced over BATCH_GROUP`);
    expect(torchSource(g, { dtype: 'float64' })).not.toContain('_batch_sum');
  });

  it('refuses a graph that mixes samples other than by a sum or mean, naming the node', () => {
    const b = new GraphBuilder('mix', { x: { dtype: 'float32', shape: ['batch', 2] } });
    const w = b.param('w', [2, 2]);
    const y = b.softmax(b.matmul(b.inputs.x, w), 0);
    const g = b.build({ loss: b.reduceSum(y, [0, 1]) });
    const node = g.nodes.find((n) => n.op === 'softmax')!;
    expect(() => torchSource(g, { dtype: 'float32', distributed: true })).toThrow(
      new TorchSourceError(
        `graph 'mix' cannot be trained data-parallel: node '${node.id}' (softmax) combines values along axis 0 of input 0, which holds the ` +
          `'batch' dim (batch); only reduceSum and reduceMean may run across samples (they become all-reduces)`,
      ),
    );
  });
});

describe('launchRanks', () => {
  it('starts each rank with the env:// contract torchrun sets', async () => {
    const script = join(dir, 'env.py');
    writeFileSync(
      script,
      'import os\nprint(" ".join(os.environ[k] for k in ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", ' +
        '"MASTER_PORT", "NODE_RANK"]))\n',
    );
    const lines: string[] = [];
    const r = await launchRanks({
      script,
      args: [],
      nprocPerNode: 2,
      nnodes: 2,
      nodeRank: 1,
      masterAddr: '10.0.0.1',
      masterPort: 29511,
      onLine: (rank, l) => lines.push(`${rank}: ${l}`),
    });
    expect(r).toEqual({ masterPort: 29511, worldSize: 4 });
    expect(lines.sort()).toEqual(['2: 2 0 4 2 10.0.0.1 29511 1', '3: 3 1 4 2 10.0.0.1 29511 1']);
  });

  it('prints the equivalent torchrun line', () => {
    expect(
      torchrunCommand({
        script: '/w/train.py',
        args: ['/w/manifest.json'],
        nprocPerNode: 8,
        nnodes: 2,
        nodeRank: 1,
        masterAddr: 'node0',
        masterPort: 29500,
      }),
    ).toBe('torchrun --nnodes 2 --node-rank 1 --nproc-per-node 8 --master-addr node0 --master-port 29500 /w/train.py /w/manifest.json');
  });

  it('a failing rank stops the others and names itself', async () => {
    const script = join(dir, 'fail.py');
    writeFileSync(
      script,
      'import os, sys, time\nif os.environ["RANK"] == "1":\n    sys.stderr.write("boom\\n")\n    sys.exit(3)\ntime.sleep(120)\n',
    );
    await expect(launchRanks({ script, args: [], nprocPerNode: 2 })).rejects.toThrow(
      new RankFailedError('rank 1 of 2 failed (exit code 3); the other ranks were stopped. Its last lines:\n    boom', 1, 3, null),
    );
  }, 20_000);

  it('refuses several nodes without a master port', async () => {
    await expect(launchRanks({ script: 'x.py', args: [], nprocPerNode: 1, nnodes: 2 })).rejects.toThrow(
      'launch: a run over several nodes needs masterPort (and masterAddr): every node must name the same rank-0 endpoint',
    );
  });
});
