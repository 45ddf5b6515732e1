/**
 * A tiny served model directory built without training or the exporter: a DIN graph (batch
 * layout) with seeded initial weights, lowered to ONNX, written in the exporter's layout
 * (graph.json, 1/model.onnx, report.json). For the tests of the server's own behaviour, where
 * what the model learned does not matter; `report` overrides report.json (null: none written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDin, initWeights, serializeGraph } from '@lctr/spec';
import { exportOnnx } from '@lctr/backend-onnx';

export const PASSED_REPORT = { producer: 'lctr-exporter', parity: { ok: true, failures: [] }, onnx: { opset: 17, irVersion: 8, checker: { ok: true, message: '' } } };

export function writeTinyModelDir(dir: string, report: unknown = PASSED_REPORT): string {
  const graph = buildDin({ dim: 4, categoryDim: 2, seqLen: 4, targetItems: 20, sourceItems: 20, categories: 4, profile: [3, 2], hidden: [8], attention: [8] });
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'graph.json'), serializeGraph(graph) + '\n');
  writeFileSync(join(dir, '1', 'model.onnx'), exportOnnx(graph, initWeights(graph, 7)));
  if (report !== null) writeFileSync(join(dir, 'report.json'), typeof report === 'string' ? report : JSON.stringify(report, null, 2));
  return dir;
}
