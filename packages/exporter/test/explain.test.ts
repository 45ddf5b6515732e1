/**
 * The explain variant exported beside a model with a pyramid (explain.ts): a trained tiny LCN's
 * export holds explain/1/model.onnx and explain/graph.json, in the manifest; the explain file's
 * prob equals the scoring file's and its picks equal ref-cpu's on held-out requests (read back
 * from the files, independently of the exporter's own check); a re-export replaces them; models
 * without a pyramid get none.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  type HostData,
  type InputsOf,
  LIFELONG_PRESETS,
  buildLifelongTrain,
  graphFromJSON,
  readWeightsFile,
} from '@lctr/spec';
import { LIFELONG_TEST_CONFIG } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { OnnxSession } from '@lctr/backend-onnx';
import { initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel } from '@lctr/train';
import {
  type CheckpointReport,
  EXPLAIN_GRAPH_FILE,
  EXPLAIN_ONNX_FILE,
  EXPORT_MARKER,
  ONNX_FILE,
  exportCheckpoint,
  explainGraphOf,
  servingFeedsOf,
  servingSpecOf,
} from '../src/index.ts';
import { type Run, lifelongArch, stepDir, type tinyConfig, trainTiny } from './tiny-runs.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-export-explain-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const repo = join(base, 'models');
let run: Run;

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  run = await trainTiny(base, 'lcn', lifelongArch);
});

const numbers = (d: HostData): number[] => Array.from(d as ArrayLike<number | bigint>, Number);

describe('the explain variant beside an exported LCN', () => {
  it("explain/1/model.onnx and explain/graph.json: in the manifest, prob = the scoring file's, picks = ref-cpu's", async () => {
    const lines: string[] = [];
    const res = await exportCheckpoint({ checkpoint: stepDir(run), out: repo, name: 'lcn', latencyRequests: 0, log: (l) => lines.push(l) });
    expect(res.written).toBe(true);
    expect(res.files).toEqual(expect.arrayContaining([EXPLAIN_ONNX_FILE, EXPLAIN_GRAPH_FILE]));
    const manifest = JSON.parse(readFileSync(join(res.dir, EXPORT_MARKER), 'utf8')) as { files: Record<string, { sha256: string }> };
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining([EXPLAIN_ONNX_FILE, EXPLAIN_GRAPH_FILE]));

    const report = JSON.parse(readFileSync(join(res.dir, 'report.json'), 'utf8')) as CheckpointReport;
    const e = report.explain!;
    expect(e.outputs).toEqual([
      'prob',
      'csaPositions',
      'csaWeights',
      'csaValid',
      'msaPositions',
      'msaWeights',
      'msaValid',
      'fsaPositions',
      'fsaWeights',
      'fsaValid',
    ]);
    expect(e.files[EXPLAIN_ONNX_FILE].sha256).toBe(manifest.files[EXPLAIN_ONNX_FILE]!.sha256);
    expect(e.checker.ok).not.toBe(false);
    expect(e.parity.ok).toBe(true);
    expect(e.parity.maxAbsProb).toBeLessThanOrEqual(1e-6);
    expect(Object.fromEntries(Object.entries(e.parity.levels).map(([l, r]) => [l, [r.k, r.rows, r.rowsDiffer]]))).toEqual({
      csa: [10, 64, 0],
      msa: [4, 64, 0],
      fsa: [4, 64, 0],
    }); // 4 requests x 16 candidates
    expect(lines.find((l) => l.startsWith('explain ('))).toMatch(
      /^explain \(explain\/1\/model\.onnx\): prob vs the scoring file max \|Δ\| .* csa \(k 10\) 0 of 64 rows differ, .* {2}OK$/,
    );

    // read back from the files alone: the explain graph and file, the scoring file, the weights
    const explain = graphFromJSON(readFileSync(join(res.dir, EXPLAIN_GRAPH_FILE), 'utf8'));
    const scoring = graphFromJSON(readFileSync(join(res.dir, 'graph.json'), 'utf8'));
    const weights = readWeightsFile(join(res.dir, 'weights.safetensors')).weights;
    const config = JSON.parse(readFileSync(run.configPath, 'utf8')) as ReturnType<typeof tinyConfig>;
    const source = await getTrainModel('lcn').source({
      split: 'eval',
      seed: config.seed,
      data: config.data,
      model: config.model,
      where: run.configPath,
    });
    const explainSession = await OnnxSession.create(join(res.dir, EXPLAIN_ONNX_FILE), explain, { provider: 'cpu' });
    const scoringSession = await OnnxSession.create(join(res.dir, ONNX_FILE), scoring, { provider: 'cpu' });
    let picked = 0;
    try {
      for (const start of [0, 17, 40]) {
        const feeds = servingFeedsOf(
          explain,
          source.batch(Int32Array.from({ length: 12 }, (_, i) => start + i)),
        ) as InputsOf<FeatureSchema>;
        const got = await explainSession.run(feeds);
        const ref = runRef(explain, weights, feeds);
        const scored = numbers((await scoringSession.run(feeds))['prob']!.data);
        numbers(got['prob']!.data).forEach((p, i) =>
          expect(Math.abs(p - scored[i]!), `request ${start}: prob ${i}`).toBeLessThanOrEqual(1e-6),
        );
        for (const level of ['csa', 'msa', 'fsa']) {
          expect(numbers(got[`${level}Positions`]!.data), `request ${start}: ${level} positions`).toEqual(
            numbers(ref[`${level}Positions`]!.data),
          );
          expect(numbers(got[`${level}Valid`]!.data), `request ${start}: ${level} valid`).toEqual(numbers(ref[`${level}Valid`]!.data));
          const w = numbers(ref[`${level}Weights`]!.data);
          numbers(got[`${level}Weights`]!.data).forEach((x, i) =>
            expect(Math.abs(x - w[i]!), `request ${start}: ${level} weight ${i}`).toBeLessThanOrEqual(1e-6),
          );
          picked += numbers(got[`${level}Valid`]!.data).filter(Boolean).length;
        }
      }
    } finally {
      await explainSession.release();
      await scoringSession.release();
    }
    expect(picked).toBeGreaterThan(0); // real picks, not all padding

    // a re-export replaces the exporter's own explain files (not "in the way")
    const again = await exportCheckpoint({ checkpoint: stepDir(run), out: repo, name: 'lcn', latencyRequests: 0 });
    expect(again.written).toBe(true);
    expect(again.kept).toEqual([]);
  }, 240_000);

  it('only a model with a pyramid has one: SIM soft, TWIN and LCN with k1 = k2 = 0 have none', () => {
    const spec = (over: Record<string, unknown>) => servingSpecOf(buildLifelongTrain({ ...LIFELONG_TEST_CONFIG, ...over }), 'graph.json');
    expect(explainGraphOf(spec({}), 'graph.json')?.name).toBe('lifelong-explain');
    expect(explainGraphOf(spec(LIFELONG_PRESETS['sim-soft']), 'graph.json')).toBeUndefined();
    expect(explainGraphOf(spec(LIFELONG_PRESETS.twin), 'graph.json')).toBeUndefined();
    expect(explainGraphOf(spec({ lap: { ...LIFELONG_TEST_CONFIG.lap!, k1: 0, k2: 0 } }), 'graph.json')).toBeUndefined();
  });
});
