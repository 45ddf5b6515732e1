/**
 * A tiny served model directory built without training or the exporter: a DIN graph (batch
 * layout) with seeded initial weights, lowered to ONNX, written in the exporter's layout
 * (graph.json, 1/model.onnx, report.json). For the tests of the server's own behaviour, where
 * what the model learned does not matter; `report` overrides report.json (null: none written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Graph, buildDin, buildIfa, buildLifelong, initWeights, lifelongConfig, serializeGraph, writeWeightsFile } from '@lctr/spec';
import { exportOnnx } from '@lctr/backend-onnx';

export const PASSED_REPORT = {
  producer: 'lctr-exporter',
  parity: { ok: true, failures: [] },
  onnx: { opset: 17, irVersion: 8, checker: { ok: true, message: '' } },
};

export function writeTinyModelDir(dir: string, report: unknown = PASSED_REPORT): string {
  const graph = buildDin({
    dim: 4,
    categoryDim: 2,
    seqLen: 4,
    targetItems: 20,
    sourceItems: 20,
    categories: 4,
    profile: [3, 2],
    hidden: [8],
    attention: [8],
  });
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'graph.json'), serializeGraph(graph) + '\n');
  writeFileSync(join(dir, '1', 'model.onnx'), exportOnnx(graph, initWeights(graph, 7)));
  if (report !== null) writeFileSync(join(dir, 'report.json'), typeof report === 'string' ? report : JSON.stringify(report, null, 2));
  return dir;
}

/** Small serving graphs of each layout, for tests that need no training: seeded initial weights. */
export const tinyGraphs = {
  lcn: () =>
    buildLifelong({
      dim: 4,
      categoryDim: 2,
      seqLen: 8,
      hidden: [8],
      attention: [4],
      lifelongLen: 40,
      contextDim: 2,
      targetItems: 50,
      sourceItems: 60,
      categories: 6,
      lap: { ...lifelongConfig().lap, k1: 10, k2: 4, attentionDim: 4, heads: 2, headDim: 2, ffnDim: 8, outDim: 4 },
    }),
  din: () =>
    buildDin({
      dim: 4,
      categoryDim: 2,
      seqLen: 4,
      targetItems: 20,
      sourceItems: 20,
      categories: 4,
      profile: [3, 2],
      hidden: [8],
      attention: [8],
    }),
  ifa: () => buildIfa({ dim: 4, categoryDim: 2, crossDim: 2, contextDim: 2, attnDim: 4, towers: [8] }),
} as const;

/** A model directory of `graph` with seeded initial weights (graph.json, weights.safetensors, 1/model.onnx, report.json). */
export function writeGraphModelDir(dir: string, graph: Graph, seed = 7): string {
  const weights = initWeights(graph, seed);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'graph.json'), serializeGraph(graph) + '\n');
  writeWeightsFile(join(dir, 'weights.safetensors'), weights);
  writeFileSync(join(dir, '1', 'model.onnx'), exportOnnx(graph, weights));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(PASSED_REPORT, null, 2));
  return dir;
}
