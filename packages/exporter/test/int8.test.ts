/**
 * `--precision int8` on a trained model (the tiny lcn run): the export passes its held-out AUC bar
 * and reports |Δprob| and the top-k pick differences; a graph without products worth quantizing
 * and a quantization that breaks the AUC bar are refused, writing nothing.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '@lctr/spec';
import { initTfjs } from '@lctr/backend-tfjs';
import { decodeChecked, encodeChecked } from '@lctr/train';
import { type CheckpointReport, INT8_AUC_BAR, INT8_TOLERANCE, exportCheckpoint } from '../src/index.ts';
import { type Run, lifelongArch, stepDir, trainTiny } from './tiny-runs.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-export-int8-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const repo = join(base, 'models');
let run: Run;

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  run = await trainTiny(base, 'lcn', lifelongArch);
});

describe('--precision int8', () => {
  it('a trained lcn: quantized products, the held-out AUC bar passes, |Δprob| and pick differences reported', async () => {
    const lines: string[] = [];
    const res = await exportCheckpoint({
      checkpoint: stepDir(run),
      out: repo,
      name: 'lcn-int8',
      precision: 'int8',
      int8: { minDim: 4 },
      latencyRequests: 0,
      log: (l) => lines.push(l),
    });
    expect(res.written).toBe(true);
    const r = JSON.parse(readFileSync(join(res.dir, 'report.json'), 'utf8')) as CheckpointReport;
    expect(r.optimisations).toMatchObject({ precision: 'int8', onnxTolerance: INT8_TOLERANCE });
    // MSA's and FSA's K/V/Q projections, FSA's FFN, the main MLP's folded first layer
    const quantized = r.optimisations.int8!.products.map((p) => p.weight);
    expect(quantized).toEqual(expect.arrayContaining(['lap/msa/wk', 'lap/fsa/wv', 'lap/fsa/ffn/l1/w']));
    expect(quantized.filter((w) => w.startsWith('folded/lap/fsa/ffn/l0/') || w.startsWith('folded/mlp/l0/'))).toHaveLength(3);
    expect(r.optimisations.int8!.weightBytesAfter).toBeLessThan(r.optimisations.int8!.weightBytesBefore / 2);
    expect(r.onnx.checker).toEqual({ ok: true, message: 'ok' });
    const bar = r.int8!;
    expect(bar.ok).toBe(true);
    expect(bar.bar).toBe(INT8_AUC_BAR);
    expect(bar.samples).toBeGreaterThan(100);
    expect(bar.requests).toBeLessThan(bar.samples); // grouped by user
    expect(bar.positives).toBeGreaterThan(0);
    expect(bar.auc.delta).toBe(Math.abs(bar.auc.int8 - bar.auc.float32));
    expect(bar.auc.delta).toBeLessThanOrEqual(INT8_AUC_BAR);
    expect(bar.maxAbsProb).toBeGreaterThan(0); // it really ran in int8
    expect(bar.maxAbsProb).toBeLessThan(INT8_TOLERANCE);
    // K1 (CSA) and K2 (MSA) picks compared per candidate row
    expect(bar.picks.map((p) => p.k)).toEqual([10, 4]);
    for (const p of bar.picks) expect(p.rows).toBe(bar.samples);
    console.log(lines.find((l) => l.startsWith('int8 bar: ')));
    expect(lines.find((l) => l.startsWith('int8 bar: '))).toMatch(
      /^int8 bar: \d+ held-out samples in \d+ requests \| test AUC 0\.\d{4} int8 vs 0\.\d{4} float32 .* OK$/,
    );
    expect(res.line).toMatch(/\(bar 1e-5, with onnx 5e-2\) {2}OK$/);
  });

  it('a graph without products worth quantizing (every weight narrower than 32): refused, nothing written', async () => {
    const target = join(repo, 'lcn-int8-narrow');
    await expect(
      exportCheckpoint({ checkpoint: stepDir(run), out: repo, name: 'lcn-int8-narrow', precision: 'int8', latencyRequests: 0 }),
    ).rejects.toThrow(
      "--precision int8: graph 'lifelong' has no product worth quantizing: expected a MatMul of an activation by a float32 weight [k, n] " +
        'with k, n >= 32, got 25 MatMul nodes, the widest weight [32, 8] (mlp/l0/matmul_196)',
    );
    expect(existsSync(target)).toBe(false);
  });

  it('a quantization that breaks the AUC bar: refused with the measured numbers, the previous export left as it was', async () => {
    // A hidden unit of the MLP stuck at 1e4 whose outgoing weights are 0: float32 scores do not
    // change, but int8's per-tensor activation scale (1e4 / 255) rounds every other unit to 0.
    const dir = join(base, 'stuck');
    cpSync(stepDir(run), dir, { recursive: true });
    const path = join(dir, 'weights.safetensors');
    const { tensors, metadata } = decodeChecked(readFileSync(path), path);
    const { sha256: _s, ...meta } = metadata;
    const w = tensors as Map<string, HostTensor<'float32'>>;
    w.get('mlp/l0/b')!.data[0] = 1e4;
    w.get('mlp/l1/w')!.data[0] = 0;
    const bytes = encodeChecked(tensors, meta);
    writeFileSync(path, bytes);
    // checkpoints record the whole file's sha256 in state.json
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, weightsSha256: createHash('sha256').update(bytes).digest('hex') }));

    const first = await exportCheckpoint({ checkpoint: dir, out: repo, name: 'lcn-stuck', latencyRequests: 0 });
    expect(first.written).toBe(true);
    const before = readFileSync(join(first.dir, '1', 'model.onnx'));
    const lines: string[] = [];
    const res = await exportCheckpoint({
      checkpoint: dir,
      out: repo,
      name: 'lcn-stuck',
      precision: 'int8',
      int8: { minDim: 1 },
      latencyRequests: 0,
      log: (l) => lines.push(l),
    });
    expect(res.written).toBe(false);
    const bar = res.int8!;
    expect(bar.ok).toBe(false);
    expect(bar.auc.delta).toBeGreaterThan(INT8_AUC_BAR);
    expect(bar.failures).toEqual([
      `int8 bar: test AUC ${bar.auc.int8.toFixed(4)} (int8) vs ${bar.auc.float32.toFixed(4)} (float32): |Δ| ` +
        `${bar.auc.delta.toExponential(2)} exceeds 1e-3`,
    ]);
    console.log(bar.failures[0]);
    expect(lines).toContain(bar.failures[0]);
    expect(lines.some((l) => l.startsWith('not exported: '))).toBe(true);
    expect(readFileSync(join(first.dir, '1', 'model.onnx')).equals(before)).toBe(true);
  });
});
