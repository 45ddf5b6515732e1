/**
 * The trainer with config.shards: 2 shards over worker threads train the same trajectory as one
 * thread (float32 summation order aside) and checkpoint their weights.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type HostTensor, buildDinTrain } from '@lctr/spec';
import { gen, randomFeeds, DIN_TEST_CONFIG, dinGens } from '@lctr/spec/testing';
import { initTfjs } from '@lctr/backend-tfjs';

const cfg = DIN_TEST_CONFIG;
const graph = buildDinTrain(cfg);
const gens = dinGens();

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
});

describe('the trainer with config.shards', () => {
  it('shards: 2 trains the same trajectory as one thread (float32 summation order aside) and checkpoints its weights', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { parseTrainConfig, train, readCheckpoint, latestCheckpointDir } = await import('../src/index.ts');
    const dir = mkdtempSync(join(tmpdir(), 'lctr-parallel-'));
    try {
      const src = {
        schema: graph.inputs.reduce((s, i) => ({ ...s, [i.name]: { dtype: i.dtype, shape: i.shape } }), {}),
        size: 39,
        labels: new Uint8Array(39),
        groups: new Int32Array(39),
        batch: (idx: Int32Array) => {
          const all = randomFeeds(graph, { batch: 39 }, 9, gens) as Record<string, HostTensor>;
          const out: Record<string, HostTensor> = {};
          for (const [k, t] of Object.entries(all)) {
            const row = t.data.length / 39;
            const data = new (t.data.constructor as new (n: number) => Int32Array)(idx.length * row);
            idx.forEach((i, r) => data.set((t.data as Int32Array).subarray(i * row, (i + 1) * row), r * row));
            out[k] = { ...t, shape: [idx.length, ...t.shape.slice(1)], data } as HostTensor;
          }
          return out;
        },
      };
      const run = async (shards: number) => {
        const config = parseTrainConfig({ optimizer: { name: 'adam', lr: 0.01 }, batchSize: 13, steps: 6, seed: 3, shards }, 'p.json');
        await train({ graph, train: src as never, config, outDir: join(dir, `s${shards}`) });
        return readCheckpoint(latestCheckpointDir(join(dir, `s${shards}`))!);
      };
      const one = await run(1),
        two = await run(2);
      expect(one.state.config.shards).toBeUndefined();
      expect(two.state.config.shards).toBe(2);
      let worst = 0;
      for (const [name, t] of one.weights) {
        const u = two.weights.get(name)!.data as Float32Array;
        (t.data as Float32Array).forEach((v, i) => {
          worst = Math.max(worst, Math.abs(v - u[i]!) / Math.max(1e-3, Math.abs(v)));
        });
      }
      expect(worst).toBeGreaterThan(0); // not the same code path by accident
      expect(worst).toBeLessThan(1e-3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
