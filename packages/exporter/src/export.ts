/**
 * Writes a serving directory for a model built in the DSL: model.onnx, weights.safetensors,
 * graph.json (the spec JSON) and report.json (parity of ONNX Runtime and tfjs against ref-cpu on
 * a seeded batch). An existing directory is replaced only when an earlier export wrote it;
 * anything else needs `force`, so nothing a user saved is overwritten by surprise.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type Graph, type HostTensor, type Weights, buildDemo, checkWeights, initWeights, serializeGraph, encodeSafetensors,
} from '@lctr/spec';
import { randomFeeds, gen } from '@lctr/spec/testing';
import { OnnxCheckerUnavailableError, checkOnnxModel, exportOnnx } from '@lctr/backend-onnx';
import { type ParityReport, checkParity, formatParityLine } from '@lctr/parity';

export const EXPORT_MARKER = '.lctr-export';

export interface ModelEntry {
  readonly description: string;
  build(): Graph;
  /** a seeded batch of serving inputs for the parity report */
  sampleInputs(graph: Graph, seed: number): Record<string, HostTensor>;
}

export const MODELS: Readonly<Record<string, ModelEntry>> = {
  demo: {
    description: 'candidate attention over the masked top-k of a user sequence, then an MLP (the foundation demo)',
    build: () => buildDemo(),
    sampleInputs: (g, seed) => randomFeeds(g, { batch: 8, seq: 40 }, seed, {
      user: gen.ints(200), history: gen.ints(1000), candidate: gen.ints(1000), historyMask: gen.prefixMask(),
    }),
  },
};

export class ExportError extends Error {
  constructor(message: string) { super(message); this.name = 'ExportError'; }
}

export interface ExportOptions {
  model: string;
  out: string;
  seed?: number;
  /** replace a directory that an earlier export did not write */
  force?: boolean;
  /** weights to export instead of fresh seeded ones */
  weights?: Weights;
  log?: (line: string) => void;
}

export interface ExportResult { dir: string; files: string[]; parity: ParityReport; checkerOk: boolean | null; report: Record<string, unknown> }

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function prepareTarget(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  const entries = readdirSync(out);
  if (entries.length === 0 || entries.includes(EXPORT_MARKER) || force) return;
  throw new ExportError(`output directory ${out} exists and was not written by the exporter (it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}); pass --force to replace it or choose another --out`);
}

export async function exportModel(opts: ExportOptions): Promise<ExportResult> {
  const log = opts.log ?? (() => {});
  const entry = MODELS[opts.model];
  if (!entry) throw new ExportError(`unknown model '${opts.model}'; known models: ${Object.keys(MODELS).join(', ')}`);
  const out = resolve(opts.out);
  prepareTarget(out, opts.force ?? false);
  const seed = opts.seed ?? 20240801;
  const graph = entry.build();
  const weights = opts.weights ?? initWeights(graph, seed);
  checkWeights(graph, weights);

  const onnxBytes = exportOnnx(graph, weights);
  const graphJson = serializeGraph(graph) + '\n';
  const weightBytes = encodeSafetensors(weights, { model: opts.model, seed: String(seed), graphSha256: sha256(graphJson) });
  const inputs = entry.sampleInputs(graph, seed + 1);
  log(`checking parity of '${opts.model}' on a seeded batch: ref-cpu (float64) vs tfjs (cpu, wasm) vs ONNX Runtime (cpu)`);
  const parity = await checkParity({ name: opts.model, graph, weights, inputs }, {});
  let checker: { ok: boolean | null; message: string };
  try {
    checker = checkOnnxModel(onnxBytes);
  } catch (e) {
    if (!(e instanceof OnnxCheckerUnavailableError)) throw e;
    checker = { ok: null, message: e.message };
  }
  log(`onnx checker (full_check, strict shape inference): ${checker.ok === null ? 'not run' : checker.ok ? 'ok' : 'FAILED'}${checker.ok ? '' : ` - ${checker.message}`}`);

  const report = {
    producer: 'lctr-exporter',
    model: opts.model,
    seed,
    onnx: { opset: 17, irVersion: 8, bytes: onnxBytes.length, sha256: sha256(onnxBytes), checker },
    nodes: graph.nodes.length,
    parameters: graph.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0),
    parity: {
      ok: parity.ok,
      worst: parity.worst,
      failures: parity.failures,
      batch: Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape])),
    },
  };

  // write everything into a temp dir beside the target, then swap it in
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const files: Record<string, string | Uint8Array> = {
    'model.onnx': onnxBytes,
    'weights.safetensors': weightBytes,
    'graph.json': graphJson,
    'report.json': JSON.stringify(report, null, 2) + '\n',
    [EXPORT_MARKER]: JSON.stringify({ model: opts.model, seed }) + '\n',
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
  if (existsSync(out)) {
    const old = join(dirname(out), `.${basename(out)}.old-${process.pid}`);
    renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, out);
  }
  log(formatParityLine(parity));
  return { dir: out, files: Object.keys(files).filter((f) => f !== EXPORT_MARKER), parity, checkerOk: checker.ok, report };
}

export function readReport(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
}
