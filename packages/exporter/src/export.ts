/**
 * Writes a model directory of a Triton model repository for a model built in the DSL (serving-dir.ts:
 * <out>/<name>/config.pbtxt, 1/model.onnx, weights.safetensors, graph.json (the spec JSON) and
 * report.json (parity of ONNX Runtime and tfjs against ref-cpu on a seeded batch)). An existing
 * model directory is replaced only when an earlier export wrote it; anything else needs `force`,
 * so nothing a user saved is overwritten by surprise. All or nothing: a non-finite weight, a failed
 * parity check or ONNX checker leaves the directory as it was (`written: false`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Graph,
  type HostTensor,
  type Weights,
  buildDemo,
  checkWeights,
  gen,
  initWeights,
  randomFeeds,
  serializeGraph,
  encodeSafetensors,
} from '@lctr/spec';
import { exportOnnx } from '@lctr/backend-onnx';
import { type ParityReport, checkParity, formatParityLine } from '@lctr/parity';
import {
  type ExportOutcome,
  type NonFiniteWeight,
  DEFAULT_REPOSITORY,
  ExportError,
  ONNX_FILE,
  formatNonFinite,
  nonFiniteWeights,
  parameterCount,
  runOnnxChecker,
  servingTarget,
  settleExport,
  sha256,
  stageServingDir,
} from './serving-dir.ts';
import { type TritonInstanceKind, formatTritonConfig, tritonConfigOf } from './triton.ts';

export { EXPORT_MARKER, ExportError } from './serving-dir.ts';

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
    sampleInputs: (g, seed) =>
      randomFeeds(g, { batch: 8, seq: 40 }, seed, {
        user: gen.ints(200),
        history: gen.ints(1000),
        candidate: gen.ints(1000),
        historyMask: gen.prefixMask(),
      }),
  },
};

export interface ExportOptions {
  model: string;
  /** the Triton model repository to write into (default out/models) */
  out?: string;
  /** the Triton model name: the model directory <out>/<name> (default: the model) */
  name?: string;
  /** Triton's max_batch_size (default 1024) */
  maxBatchSize?: number;
  /** Triton instance_group kind (default KIND_CPU) */
  instanceKind?: TritonInstanceKind;
  seed?: number;
  /** replace a directory that an earlier export did not write */
  force?: boolean;
  /** weights to export instead of fresh seeded ones */
  weights?: Weights;
  log?: (line: string) => void;
}

export interface ExportResult extends ExportOutcome {
  /** the model directory <repository>/<name> */
  dir: string;
  repository: string;
  name: string;
  parity: ParityReport;
  checkerOk: boolean | null;
  /** weights holding a non-finite value: any fails the gate (empty when all are finite) */
  nonFinite: readonly NonFiniteWeight[];
  report: Record<string, unknown>;
}

export async function exportModel(opts: ExportOptions): Promise<ExportResult> {
  const log = opts.log ?? (() => {});
  const entry = MODELS[opts.model];
  if (!entry) throw new ExportError(`unknown model '${opts.model}'; known models: ${Object.keys(MODELS).join(', ')}`);
  const target = servingTarget(opts.out ?? DEFAULT_REPOSITORY, opts.name ?? opts.model, opts.force ?? false, log);
  const seed = opts.seed ?? 20240801;
  const graph = entry.build();
  const weights = opts.weights ?? initWeights(graph, seed);
  checkWeights(graph, weights);
  const nonFinite = nonFiniteWeights(weights);
  for (const w of nonFinite) log(`non-finite ${formatNonFinite(w)}`);

  const onnxBytes = exportOnnx(graph, weights);
  const graphJson = serializeGraph(graph) + '\n';
  const weightBytes = encodeSafetensors(weights, { model: opts.model, seed: String(seed), graphSha256: sha256(graphJson) });
  const triton = tritonConfigOf(graph, target.name, {
    ...(opts.maxBatchSize !== undefined ? { maxBatchSize: opts.maxBatchSize } : {}),
    ...(opts.instanceKind !== undefined ? { instanceKind: opts.instanceKind } : {}),
  });
  const pbtxt = formatTritonConfig(triton, [`written by lctr-exporter: model '${opts.model}' (seed ${seed}), graph '${graph.name}'`]);

  // staged beside the target, checked there, swapped in only when parity and the checker pass
  const staged = stageServingDir(target, {
    'config.pbtxt': pbtxt,
    [ONNX_FILE]: onnxBytes,
    'weights.safetensors': weightBytes,
    'graph.json': graphJson,
  });
  try {
    const inputs = entry.sampleInputs(graph, seed + 1);
    log(`checking parity of '${opts.model}' on a seeded batch: ref-cpu (float64) vs tfjs (cpu, wasm) vs ONNX Runtime (cpu)`);
    const parity = await checkParity({ name: opts.model, graph, weights, inputs }, {});
    const stagedOnnx = staged.read(ONNX_FILE);
    const checker = runOnnxChecker(stagedOnnx, log);
    const report = {
      producer: 'lctr-exporter',
      model: opts.model,
      seed,
      onnx: { opset: 17, irVersion: 8, bytes: stagedOnnx.length, sha256: sha256(stagedOnnx), checker },
      triton: {
        name: triton.name,
        platform: triton.platform,
        maxBatchSize: triton.maxBatchSize,
        instanceKind: triton.instanceGroup.kind,
        configSha256: sha256(pbtxt),
      },
      nodes: graph.nodes.length,
      parameters: parameterCount(graph.params),
      parity: {
        ok: parity.ok,
        worst: parity.worst,
        failures: parity.failures,
        batch: Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape])),
      },
    };
    log(formatParityLine(parity));
    const outcome = settleExport(
      staged,
      { parityOk: parity.ok, checkerOk: checker.ok, nonFinite },
      JSON.stringify(report, null, 2) + '\n',
      { model: opts.model, name: target.name, seed },
      opts.force ?? false,
      log,
    );
    return {
      dir: target.dir,
      repository: target.repository,
      name: target.name,
      ...outcome,
      parity,
      checkerOk: checker.ok,
      nonFinite,
      report,
    };
  } finally {
    staged.discard();
  }
}

/** report.json of a model directory. */
export function readReport(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
}
