/**
 * Exporting trained IFA request models: one candidate set per call (every input leads with 1,
 * candidates on 'cand', the sequence on 'seq' for the modules that allow it); held-out parity on
 * whole eval requests, the Triton config, the symbolic dims of the ONNX file, the latency summary.
 */
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel, parseTrainConfig, train } from '@lctr/train';
import { decodeModel } from '@lctr/backend-onnx';
import { type CheckpointReport, PARITY_PAIRS, exportCheckpoint } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-export-ifa-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const tiny = JSON.parse(readFileSync(join(root, 'packages/train/configs/ifa-tiny.json'), 'utf8')) as Record<string, unknown>;

async function trainTiny(name: string): Promise<string> {
  const json = { ...tiny, steps: 6, evalEvery: 6, checkpointEvery: 6 };
  const path = join(base, `${name}.json`);
  writeFileSync(path, JSON.stringify(json));
  const config = parseTrainConfig(json, path);
  const m = getTrainModel(name);
  const graph = await m.buildTrain(config.model, path, config.data);
  const src = await m.source({ split: 'train', seed: config.seed, data: config.data, model: config.model, where: path });
  const outDir = join(base, 'runs', name);
  await train({ graph, train: src, config, outDir });
  return outDir;
}

const runs: Record<string, string> = {};
beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  runs['ifa'] = await trainTiny('ifa');
  runs['ifa-sim-soft'] = await trainTiny('ifa-sim-soft');
}, 120_000);

describe('exporting trained IFA models', () => {
  it.each(['ifa', 'ifa-sim-soft'])(
    '%s: candidate-set layout, held-out parity on whole eval requests, Triton config without batching',
    async (name) => {
      const res = await exportCheckpoint({ checkpoint: runs[name]!, out: join(base, 'models'), latencyRequests: 3 });
      const report = JSON.parse(readFileSync(join(res.dir, 'report.json'), 'utf8')) as CheckpointReport;
      expect(report).toMatchObject({ model: name, servingModel: 'ifa', layout: 'candidateSet' });
      for (const p of PARITY_PAIRS) expect(report.parity.maxAbs[p], p).toBeLessThanOrEqual(1e-5);
      expect(report.parity.ok).toBe(true);
      expect(report.parity.requests).toHaveLength(16);
      expect(report.parity.requests!.every((r) => r.candidates === 8)).toBe(true);
      expect(report.parity.scored).toBe(16 * 8);
      expect(report.parity.probRange[1] - report.parity.probRange[0]).toBeGreaterThan(1e-3);
      expect(report.onnx.checker).toEqual({ ok: true, message: 'ok' });
      expect(report.latency).toMatchObject({ layout: 'candidateSet', requests: 3, candidates: 8 });
      expect(res.line).toMatch(new RegExp(`^${name} step 6: 16 held-out requests of 8 candidates \\(padding included\\) \\| .* OK$`));
      const pbtxt = readFileSync(join(res.dir, 'config.pbtxt'), 'utf8');
      expect(pbtxt).toContain('max_batch_size: 0');
      const dims = (n: string) =>
        decodeModel(readFileSync(join(res.dir, '1', 'model.onnx')))
          .graph!.input!.find((i) => i.name === n)!
          .type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
      expect(dims('cand')).toEqual([1, 'cand']);
      // IFA's linear attention takes any sequence length; SIM soft's top-k needs the trained N
      expect(dims('seq')).toEqual(name === 'ifa' ? [1, 'seq'] : [1, 32]);
    },
    120_000,
  );
});
