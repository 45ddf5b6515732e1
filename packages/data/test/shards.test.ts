/**
 * Shards for many ranks: every rank holds its contiguous share of each global batch (the ranks
 * together give back the batch the source builds for the step), inputs without a 'batch' dim go
 * whole to every rank, files are byte-identical for the same plan, and a changed file is refused.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeatureSchema, HostTensor, InputsOf } from '@lctr/spec';
import type { SampleSource } from '../src/source.ts';
import { ShardError, rankBounds, readShardManifest, readShardStep, writeShards } from '../src/shards.ts';

const schema = {
  x: { dtype: 'float32', shape: ['batch', 2] },
  label: { dtype: 'float32', shape: ['batch'] },
  // like CRP's M negative pairs: one per batch, not per sample
  neg: { dtype: 'int32', shape: [3, 2] },
} as const satisfies FeatureSchema;

/** sample i: x = [i, 10 i]; neg depends on the whole batch (its first index), as CRP's draw does */
function source(n: number): SampleSource<typeof schema> {
  return {
    schema,
    size: n,
    labels: new Uint8Array(n).map((_, i) => i % 2),
    groups: new Int32Array(n),
    batch(idx: Int32Array): InputsOf<typeof schema> {
      const B = idx.length;
      return {
        x: {
          dtype: 'float32',
          shape: [B, 2],
          data: Float32Array.from({ length: 2 * B }, (_, k) => (k % 2 ? 10 : 1) * idx[Math.floor(k / 2)]!),
        },
        label: { dtype: 'float32', shape: [B], data: Float32Array.from(idx, (i) => i % 2) },
        neg: { dtype: 'int32', shape: [3, 2], data: Int32Array.from({ length: 6 }, (_, k) => idx[0]! * 100 + k) },
      } as InputsOf<typeof schema>;
    },
  };
}

/** a fixed order: step k visits 7 samples starting at 5k (mod n) */
const order = (n: number) => (k: number) => Int32Array.from({ length: 7 }, (_, j) => (5 * k + j) % n);

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lctr-shards-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('rankBounds', () => {
  it('cuts contiguous near-equal shares, the larger ones first', () => {
    expect(rankBounds(10, 3)).toEqual([
      [0, 4],
      [4, 7],
      [7, 10],
    ]);
    expect(rankBounds(7, 2)).toEqual([
      [0, 4],
      [4, 7],
    ]);
    expect(rankBounds(5, 1)).toEqual([[0, 5]]);
  });
  it('refuses a batch with fewer samples than ranks', () => {
    expect(() => rankBounds(1, 2)).toThrow('a batch of 1 samples cannot be split over 2 ranks (every rank needs at least one sample)');
  });
});

describe('writeShards', () => {
  it('gives each rank its rows of every global batch; non-batch inputs whole', () => {
    const src = source(40),
      dir = tmp();
    const m = writeShards(src, order(40), dir, { world: 3, from: 2, to: 7, chunkSteps: 2 });
    expect(m.files.map((f) => `${f.rank}:${f.from}-${f.to}`)).toEqual([
      '0:2-4',
      '1:2-4',
      '2:2-4',
      '0:4-6',
      '1:4-6',
      '2:4-6',
      '0:6-7',
      '1:6-7',
      '2:6-7',
    ]);
    expect(m.rows['3']).toEqual([
      [0, 3],
      [3, 5],
      [5, 7],
    ]);
    for (let step = 2; step < 7; step++) {
      const whole = src.batch(order(40)(step)) as Record<string, HostTensor>;
      const parts = [0, 1, 2].map((r) => readShardStep(dir, r, step, m));
      expect(parts.map((p) => p['x']!.shape[0])).toEqual([3, 2, 2]);
      expect(parts.flatMap((p) => Array.from(p['x']!.data as Float32Array))).toEqual(Array.from(whole['x']!.data as Float32Array));
      expect(parts.flatMap((p) => Array.from(p['label']!.data as Float32Array))).toEqual(Array.from(whole['label']!.data as Float32Array));
      for (const p of parts) expect(Array.from(p['neg']!.data as Int32Array)).toEqual(Array.from(whole['neg']!.data as Int32Array));
    }
  });

  it('is deterministic (byte-identical files) and writes only the ranks asked for', () => {
    const a = tmp(),
      b = tmp();
    const ma = writeShards(source(40), order(40), a, { world: 2, from: 0, to: 5 });
    const mb = writeShards(source(40), order(40), b, { world: 2, from: 0, to: 5, ranks: [1] });
    expect(readdirSync(b).sort()).toEqual(['rank-1', 'shards.json']);
    const f1 = ma.files.find((f) => f.rank === 1)!;
    expect(mb.files).toEqual([f1]);
    expect(readFileSync(join(b, f1.path))).toEqual(readFileSync(join(a, f1.path)));
  });

  it('refuses a changed file and a step no file holds, naming them', () => {
    const dir = tmp();
    const m = writeShards(source(40), order(40), dir, { world: 2, from: 0, to: 3 });
    expect(() => readShardStep(dir, 0, 3)).toThrow(
      `${dir}: no shard file holds rank 0, step 3 (the files cover steps [0, 3) of ranks 0, 1)`,
    );
    const path = join(dir, m.files[0]!.path);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(path, bytes);
    expect(() => readShardStep(dir, 0, 1)).toThrow(
      new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sha256 is [0-9a-f]{64}, shards.json says ${m.files[0]!.sha256}$`),
    );
    expect(readShardManifest(dir).world).toBe(2);
  });

  it('refuses a step whose batch is smaller than the ranks', () => {
    expect(() => writeShards(source(4), () => Int32Array.of(0), tmp(), { world: 2, from: 0, to: 1 })).toThrow(ShardError);
  });
});
