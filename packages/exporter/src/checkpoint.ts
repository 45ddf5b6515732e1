/**
 * Export a TRAINED model: a training checkpoint (backend-tfjs train/checkpoint.ts) in, a model
 * directory of a Triton model repository out (serving-dir.ts: <out>/<name>/config.pbtxt,
 * 1/model.onnx, weights.safetensors, graph.json, report.json). The serving graph is rebuilt from the checkpoint graph's meta (serving.ts),
 * its
 * weights are picked out of the checkpoint (spec's weightsFor: training-only heads stay behind),
 * the ONNX file is checked by the python checker, and parity is proven on held-out data: the
 * eval split of the trainer model (heldout.ts).
 *
 * The config: by default the one the checkpoint was trained with (its state.json); `config`
 * names another file (for instance one whose data section points elsewhere). Either way the
 * trainer model must rebuild, from it, exactly the checkpoint's training graph (features,
 * parameters, nodes): then the eval split fits the graph, and the serving graph built by this
 * code is the serving form of what was trained.
 *
 * After parity, the serving latency in ONNX Runtime (CPU) on held-out requests (latency.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  asStorageError,
  checkWeights,
  displayPath,
  encodeSafetensors,
  initWeights,
  readWeightsFile,
  serializeGraph,
  weightsFor,
} from '@lctr/spec';
import {
  type Checkpoint,
  type TrainConfig,
  CheckpointError,
  ConfigError,
  checkSameGraph,
  getTrainModel,
  latestCheckpointDir,
  parseJsonText,
  parseTrainConfig,
  readCheckpoint,
  trainModelNames,
  writeCheckpoint,
} from '@lctr/train';
import type { Int8Options, Precision } from '@lctr/backend-onnx';
import {
  type CheckerRecord,
  type ExportOutcome,
  type NonFiniteWeight,
  type ServingFile,
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
import { type FileRecord, fileRecord } from './staging.ts';
import { buildServingGraph, servingSpecOf } from './serving.ts';
import {
  type HeldOutOptions,
  type HeldOutParity,
  type ServingLayout,
  formatHeldOutLine,
  heldOutParity,
  servingLayoutOf,
} from './heldout.ts';
import { type TritonInstanceKind, formatTritonConfig, tritonConfigOf } from './triton.ts';
import { type LatencyReport, formatLatencyLine, measureLatency } from './latency.ts';
import { type ServingOptimisations, formatOptimisations, servingOnnx } from './optimise.ts';
import { type Int8Bar, INT8_AUC_BAR, formatInt8Bar, int8Bar } from './int8-bar.ts';
import {
  type ExplainParity,
  type ExplainRecord,
  EXPLAIN_GRAPH_FILE,
  EXPLAIN_ONNX_FILE,
  explainExport,
  explainGraphOf,
  explainParity,
  formatExplainLine,
} from './explain.ts';
import { type FeaturesRecord, FEATURES_FILE, featurePipelineOf } from './features.ts';

/** The held-out parity options (samples, requests, candidates, tolerance, tfjs backend, log) plus where to read and write. */
export interface CheckpointExportOptions extends Omit<HeldOutOptions, 'seed'> {
  /** a training run directory (its checkpoints/latest is taken) or one checkpoint directory (step-<N>) */
  readonly checkpoint: string;
  /** training config (JSON file); default: the config in the checkpoint's state.json */
  readonly config?: string;
  /** trainer model (backend-tfjs registry); default: derived from the checkpoint graph's meta */
  readonly model?: string;
  /** the Triton model repository to write into (default out/models) */
  readonly out?: string;
  /** the Triton model name: the model directory <out>/<name> (default: the trainer model) */
  readonly name?: string;
  /** batch-layout models: Triton's max_batch_size (default 1024) */
  readonly maxBatchSize?: number;
  /** Triton instance_group kind (default KIND_CPU) */
  readonly instanceKind?: TritonInstanceKind;
  /** latency: timed requests (default 50; 0 skips the measurement) and candidates per request (default 100) */
  readonly latencyRequests?: number;
  readonly latencyCandidates?: number;
  /** replace a directory that an earlier export did not write */
  readonly force?: boolean;
  /** picks the held-out samples (default 20240801) */
  readonly seed?: number;
  /** what report.json names as the source of the weights, instead of the checkpoint directory (exportWeights) */
  readonly sourceName?: string;
  /** fold parameter-only subgraphs into parameters (default true) */
  readonly fold?: boolean;
  /**
   * 'float32' (default), 'float16' (checked with its own bar, FLOAT16_TOLERANCE unless onnxTolerance
   * says) or 'int8' (also gated by the held-out AUC bar of int8-bar.ts)
   */
  readonly precision?: Precision;
  /** int8: which products are worth quantizing (backend-onnx Int8Options) */
  readonly int8?: Int8Options;
}

export type { FileRecord } from './staging.ts';

/** What report.json says of the Triton configuration. */
export interface TritonRecord {
  readonly name: string;
  readonly platform: string;
  readonly maxBatchSize: number;
  readonly instanceKind: TritonInstanceKind;
}

export interface CheckpointReport {
  readonly producer: 'lctr-exporter';
  /** trainer model */
  readonly model: string;
  /** spec model of the serving graph (meta.model) */
  readonly servingModel: string;
  readonly layout: ServingLayout;
  readonly checkpoint: {
    readonly dir: string;
    readonly step: number;
    readonly epoch: number;
    readonly samples: number;
    readonly backend: string;
    readonly time: string;
    readonly graphSha256: string;
  };
  /** where the config came from, and whether its model and data sections are the checkpoint's */
  readonly config: { readonly source: string; readonly sameAsCheckpoint: boolean };
  readonly seed: number;
  readonly onnx: { readonly opset: 17; readonly irVersion: 8; readonly checker: CheckerRecord };
  /** what the ONNX file has that the spec form (graph.json, weights.safetensors) has not */
  readonly optimisations: ServingOptimisations;
  /** nodes and parameters (scalars) of the serving graph */
  readonly nodes: number;
  readonly parameters: number;
  readonly trainingParameters: number;
  /** training-graph parameters the serving graph does not use (training-only heads) */
  readonly droppedParameters: readonly string[];
  /** paths relative to the model directory */
  readonly files: Readonly<Record<Exclude<ServingFile, 'report.json'>, FileRecord>>;
  readonly triton: TritonRecord;
  readonly parity: HeldOutParity;
  /** ONNX Runtime latency on held-out requests; absent when not measured */
  readonly latency?: LatencyReport;
  /** int8 exports: the held-out AUC bar against the float32 export, |Δprob|, top-k pick differences */
  readonly int8?: Int8Bar;
  /** models with an attention pyramid (LCN): the explain variant exported beside the model (explain.ts) */
  readonly explain?: ExplainRecord;
  /** data read through a dataset config: the feature pipeline written as features.json (features.ts) */
  readonly features?: FeaturesRecord & { readonly file: FileRecord };
}

export interface CheckpointExportResult extends ExportOutcome {
  /** the model directory <repository>/<name> */
  readonly dir: string;
  readonly repository: string;
  readonly name: string;
  readonly parity: HeldOutParity;
  readonly checkerOk: boolean | null;
  /** serving weights holding a non-finite value: any fails the gate (empty when all are finite) */
  readonly nonFinite: readonly NonFiniteWeight[];
  readonly report: CheckpointReport;
  /** the one-line parity summary (also logged) */
  readonly line: string;
  /** the latency line (also logged); absent when not measured */
  readonly latencyLine?: string;
  /** int8 exports: the held-out AUC bar (it gates the export like parity) */
  readonly int8?: Int8Bar;
  /** LCN: the explain file's prob against the scoring file's (it gates the export like parity) and its picks against ref-cpu's */
  readonly explain?: ExplainParity;
}

/** The checkpoint directory `path` names: itself (holds state.json) or a run's checkpoints/latest. */
export function resolveCheckpointDir(path: string): string {
  const p = resolve(path);
  if (!existsSync(p)) {
    throw new ExportError(
      `checkpoint ${p} does not exist (expected a training run directory holding checkpoints/, or a checkpoint directory holding ` +
        `state.json)`,
    );
  }
  if (existsSync(join(p, 'state.json'))) return p;
  if (existsSync(join(p, 'checkpoints'))) {
    const latest = latestCheckpointDir(p);
    if (!latest) throw new ExportError(`training run ${p} has no complete checkpoint yet (no ${join(p, 'checkpoints', 'latest')})`);
    return latest;
  }
  throw new ExportError(`${p} is neither a training run directory (no checkpoints/) nor a checkpoint directory (no state.json)`);
}

function loadConfig(path: string | undefined, ckpt: Checkpoint): { config: TrainConfig; where: string } {
  if (path === undefined) return { config: ckpt.state.config, where: join(ckpt.dir, 'state.json') };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ExportError(`--config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return { config: parseTrainConfig(parseJsonText(text, path), path), where: path };
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export async function exportCheckpoint(opts: CheckpointExportOptions): Promise<CheckpointExportResult> {
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 20240801;
  const dir = resolveCheckpointDir(opts.checkpoint);
  const ckpt = readCheckpoint(dir);
  const graphPath = join(dir, 'graph.json');
  const spec = servingSpecOf(ckpt.graph, graphPath);

  const derived = spec.entry.trainModel(spec.config);
  const name = opts.model ?? derived;
  if (name === undefined) {
    throw new ExportError(
      `${graphPath}: cannot tell which trainer model trained this '${spec.model}' graph (meta.config.module ` +
        `${JSON.stringify(spec.config['module'])}); pass --model (one of ${trainModelNames().join(', ')})`,
    );
  }
  if (!trainModelNames().includes(name)) {
    throw new ExportError(`--model: unknown trainer model '${name}'; known: ${trainModelNames().join(', ')}`);
  }
  const trainer = getTrainModel(name);
  const target = servingTarget(opts.out ?? DEFAULT_REPOSITORY, opts.name ?? name, opts.force ?? false, log);
  const latencyRequests = opts.latencyRequests ?? 50;
  if (!Number.isInteger(latencyRequests) || latencyRequests < 0) {
    throw new ExportError(`latency requests: expected an integer >= 0, got ${JSON.stringify(latencyRequests)}`);
  }

  const { config, where } = loadConfig(opts.config, ckpt);
  let training;
  try {
    training = await trainer.buildTrain(config.model, where, config.data);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ExportError(`trainer model '${name}' rejects the config ${where}:\n  ${e.problems.join('\n  ')}`);
  }
  try {
    checkSameGraph(ckpt.graph, training as Graph<FeatureSchema, string>, dir);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    throw new ExportError(
      `${where}: trainer model '${name}' with this config does not rebuild the checkpoint's training graph; ${e.message}`,
    );
  }
  const serving = buildServingGraph(spec, graphPath);
  let weights;
  try {
    weights = weightsFor(serving, ckpt.weights);
  } catch (e) {
    throw new ExportError(
      `${join(dir, 'weights.safetensors')}: serving graph '${serving.name}' of model '${spec.model}': ${(e as Error).message}`,
    );
  }
  // parity cannot catch an infinite weight that saturates every probability alike in every run
  const nonFinite = nonFiniteWeights(weights);
  for (const w of nonFinite) log(`non-finite ${formatNonFinite(w)}`);
  const servingNames = new Set(serving.params.map((p) => p.name));
  const dropped = ckpt.graph.params.map((p) => p.name).filter((n) => !servingNames.has(n));
  log(
    `${opts.sourceName ?? `checkpoint ${displayPath(dir)}`} (step ${ckpt.state.step}): trainer model '${name}', serving graph '${serving.name}' (${servingLayoutOf(serving)} layout), ` +
      `${serving.params.length} of ${ckpt.graph.params.length} ` +
      `parameters${dropped.length ? ` (training-only: ${dropped.join(', ')})` : ''}`,
  );

  const exportOptions = {
    ...(opts.fold !== undefined ? { fold: opts.fold } : {}),
    ...(opts.int8 !== undefined ? { int8: opts.int8 } : {}),
  };
  const { bytes: onnxBytes, optimisations } = servingOnnx(serving, weights, {
    ...exportOptions,
    ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
    ...(opts.onnxTolerance !== undefined ? { onnxTolerance: opts.onnxTolerance } : {}),
  });
  log(formatOptimisations(optimisations));
  const explainGraph = explainGraphOf(spec, graphPath);
  const explain = explainGraph ? explainExport(explainGraph, ckpt.weights, exportOptions) : undefined;
  const graphJson = serializeGraph(serving) + '\n';
  const weightBytes = encodeSafetensors(weights, {
    model: name,
    servingModel: spec.model,
    step: String(ckpt.state.step),
    checkpointGraphSha256: ckpt.state.graphSha256,
    graphSha256: sha256(graphJson),
  });
  const triton = tritonConfigOf(serving, target.name, {
    ...(opts.maxBatchSize !== undefined ? { maxBatchSize: opts.maxBatchSize } : {}),
    ...(opts.instanceKind !== undefined ? { instanceKind: opts.instanceKind } : {}),
  });
  const pbtxt = formatTritonConfig(triton, [
    `written by lctr-exporter: trainer model '${name}' step ${ckpt.state.step}, serving graph '${serving.name}' ` +
      `(${servingLayoutOf(serving)} layout)`,
    triton.maxBatchSize > 0
      ? `the leading 'batch' dim of every tensor is Triton's batch dim`
      : `one request = one user (user-side inputs lead with 1) and its candidates (-1 = 'cand')`,
  ]);

  // staged beside the target; the checker, parity and latency run on the staged ONNX file, and it
  // is swapped in only when parity and the checker pass
  const staged = stageServingDir(target, {
    'config.pbtxt': pbtxt,
    [ONNX_FILE]: onnxBytes,
    'weights.safetensors': weightBytes,
    'graph.json': graphJson,
  });
  try {
    if (explain) staged.write(explain.files);
    const stagedOnnx = staged.read(ONNX_FILE);
    const checker = runOnnxChecker(stagedOnnx, log);
    const explainChecker = explain ? runOnnxChecker(staged.read(EXPLAIN_ONNX_FILE), (l) => log(`${EXPLAIN_ONNX_FILE}: ${l}`)) : undefined;
    const source = await trainer.source({ split: 'eval', seed: config.seed, data: config.data, model: config.model, where });
    // raw requests: the feature pipeline of the dataset config, with the eval source's sequence filters
    const pipelineOf = await featurePipelineOf(
      config.data,
      serving,
      'options' in source ? (source as { options: Parameters<typeof featurePipelineOf>[2] }).options : {},
    );
    let features: CheckpointReport['features'];
    if ('pipeline' in pipelineOf) {
      const p = pipelineOf.pipeline,
        text = JSON.stringify(p) + '\n';
      staged.write({ [FEATURES_FILE]: text });
      features = { dataset: p.dataset.name, key: p.dataset.key, sequences: p.sequences, file: fileRecord(text) };
      log(
        `${FEATURES_FILE}: the feature pipeline of dataset '${p.dataset.name}' (key ${p.dataset.key.slice(0, 12)}): raw requests in the ` +
          `log's own ids`,
      );
    } else log(`no ${FEATURES_FILE} (raw requests off): ${pipelineOf.reason}`);
    log(
      `parity on held-out data (the eval split of '${name}', ${source.size} samples): ONNX Runtime vs tfjs (serving and training graphs) ` +
        `vs ref-cpu (float64)`,
    );
    const parity = await heldOutParity(
      {
        serving,
        servingWeights: weights,
        onnx: stagedOnnx,
        training: ckpt.graph,
        trainingWeights: ckpt.weights,
        source,
      },
      {
        seed,
        log,
        ...(opts.samples !== undefined ? { samples: opts.samples } : {}),
        ...(opts.requests !== undefined ? { requests: opts.requests } : {}),
        ...(opts.candidates !== undefined ? { candidates: opts.candidates } : {}),
        ...(opts.tolerance !== undefined ? { tolerance: opts.tolerance } : {}),
        onnxTolerance: optimisations.onnxTolerance,
        ...(opts.tfjsBackend !== undefined ? { tfjsBackend: opts.tfjsBackend } : {}),
      },
    );

    let int8: Int8Bar | undefined;
    if (optimisations.precision === 'int8') {
      log(
        `int8 bar on held-out data: the eval split scored by the float32 export and by the int8 file (test AUC within ` +
          `${INT8_AUC_BAR.toExponential(0)}, |Δprob|, top-k picks)`,
      );
      int8 = await int8Bar({ serving, weights, int8: stagedOnnx, source, exportOptions }, { seed, log });
      log(formatInt8Bar(int8));
      for (const f of int8.failures) log(f);
    }

    let explained: ExplainParity | undefined;
    if (explain) {
      explained = await explainParity(
        {
          serving,
          scoringOnnx: stagedOnnx,
          explain,
          explainOnnx: staged.read(EXPLAIN_ONNX_FILE),
          source,
          requests: parity.requests ?? [],
        },
        { tolerance: optimisations.onnxTolerance },
      );
      log(formatExplainLine(explained));
      for (const f of explained.failures) log(f);
    }

    let latency: LatencyReport | undefined;
    let latencyLine: string | undefined;
    if (latencyRequests > 0) {
      latency = await measureLatency(serving, stagedOnnx, source, {
        seed,
        requests: latencyRequests,
        ...(opts.latencyCandidates !== undefined ? { candidates: opts.latencyCandidates } : {}),
      });
      latencyLine = formatLatencyLine(latency);
    }

    const st = ckpt.state;
    const report: CheckpointReport = {
      producer: 'lctr-exporter',
      model: name,
      servingModel: spec.model,
      layout: parity.layout,
      checkpoint: {
        dir: opts.sourceName ?? dir,
        step: st.step,
        epoch: st.epoch,
        samples: st.samples,
        backend: st.backend,
        time: st.time,
        graphSha256: st.graphSha256,
      },
      config: { source: where, sameAsCheckpoint: sameJson(config.model, st.config.model) && sameJson(config.data, st.config.data) },
      seed,
      onnx: { opset: 17, irVersion: 8, checker },
      optimisations,
      nodes: serving.nodes.length,
      parameters: parameterCount(serving.params),
      trainingParameters: parameterCount(ckpt.graph.params),
      droppedParameters: dropped,
      files: {
        'config.pbtxt': fileRecord(pbtxt),
        [ONNX_FILE]: fileRecord(stagedOnnx),
        'weights.safetensors': fileRecord(weightBytes),
        'graph.json': fileRecord(graphJson),
      },
      triton: { name: triton.name, platform: triton.platform, maxBatchSize: triton.maxBatchSize, instanceKind: triton.instanceGroup.kind },
      parity,
      ...(latency ? { latency } : {}),
      ...(int8 ? { int8 } : {}),
      ...(features ? { features } : {}),
      ...(explain && explained
        ? {
            explain: {
              files: {
                [EXPLAIN_ONNX_FILE]: fileRecord(explain.files[EXPLAIN_ONNX_FILE]),
                [EXPLAIN_GRAPH_FILE]: fileRecord(explain.files[EXPLAIN_GRAPH_FILE]),
              },
              outputs: Object.keys(explain.graph.outputs),
              precision: 'float32' as const,
              onnxNodes: explain.onnxNodes,
              checker: explainChecker!,
              parity: explained,
            },
          }
        : {}),
    };
    const line = formatHeldOutLine(name, st.step, parity);
    log(line);
    if (latencyLine) log(latencyLine);
    const outcome = settleExport(
      staged,
      {
        parityOk: parity.ok && (int8?.ok ?? true) && (explained?.ok ?? true),
        checkerOk: explainChecker?.ok === false ? false : checker.ok,
        nonFinite,
      },
      JSON.stringify(report, null, 2) + '\n',
      { model: name, name: target.name, checkpointStep: st.step },
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
      line,
      ...(latencyLine ? { latencyLine } : {}),
      ...(int8 ? { int8 } : {}),
      ...(explained ? { explain: explained } : {}),
    };
  } finally {
    staged.discard();
  }
}

export interface WeightsExportOptions extends Omit<CheckpointExportOptions, 'checkpoint' | 'config' | 'model' | 'sourceName'> {
  /** a safetensors file of weights keyed by parameter path (trained anywhere: another run, another framework) */
  readonly weights: string;
  /** the trainer model whose graph the weights belong to */
  readonly model: string;
  /** the training config (JSON) that builds that graph and names its data */
  readonly config: string;
}

/**
 * Export weights that did not come from a checkpoint of this trainer: the trainer model builds its
 * training graph from `config`, the file must hold every parameter of the serving graph with its
 * shape (else an error lists the missing names or the misfit shapes); training-only parameters the
 * file lacks (SIM soft's auxiliary head) get their seeded initial values, as they do not change
 * `prob`. Then the same export as a checkpoint's (a temporary checkpoint is written and removed).
 */
export async function exportWeights(opts: WeightsExportOptions): Promise<CheckpointExportResult> {
  if (!trainModelNames().includes(opts.model))
    throw new ExportError(`--model: unknown trainer model '${opts.model}'; known: ${trainModelNames().join(', ')}`);
  const file = resolve(opts.weights);
  if (!existsSync(file))
    throw new ExportError(`--weights ${file} does not exist (expected a safetensors file of weights keyed by parameter path)`);
  let text: string;
  try {
    text = readFileSync(opts.config, 'utf8');
  } catch (e) {
    throw new ExportError(`--config ${opts.config}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const config = parseTrainConfig(parseJsonText(text, opts.config), opts.config);
  let training: Graph;
  try {
    training = (await getTrainModel(opts.model).buildTrain(config.model, opts.config, config.data)) as Graph;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ExportError(`trainer model '${opts.model}' rejects the config ${opts.config}:\n  ${e.problems.join('\n  ')}`);
  }
  let given: Map<string, HostTensor<'float32'>>;
  try {
    given = readWeightsFile(file).weights;
  } catch (e) {
    throw new ExportError(`--weights ${file}: ${(e as Error).message}`);
  }
  const spec = servingSpecOf(training, opts.config);
  const serving = buildServingGraph(spec, opts.config);
  try {
    weightsFor(serving, given);
  } catch (e) {
    throw new ExportError(`--weights ${file}: serving graph '${serving.name}' of trainer model '${opts.model}': ${(e as Error).message}`);
  }
  const init = initWeights(training, config.seed);
  const weights = new Map(training.params.map((p) => [p.name, given.get(p.name) ?? init.get(p.name)!]));
  try {
    checkWeights(training, weights);
  } catch (e) {
    throw new ExportError(`--weights ${file}: training graph '${training.name}' of trainer model '${opts.model}': ${(e as Error).message}`);
  }
  const zeros = new Map(
    training.params.map((p) => [
      p.name,
      { dtype: 'float32' as const, shape: [...p.shape], data: new Float32Array(p.shape.reduce((a, d) => a * d, 1)) },
    ]),
  );
  let tmp: string | undefined;
  try {
    try {
      tmp = mkdtempSync(join(tmpdir(), 'lctr-export-weights-'));
      writeCheckpoint(
        tmp,
        {
          step: 0,
          epoch: 0,
          samples: 0,
          wallSeconds: 0,
          trainSize: 0,
          backend: 'weights file',
          config,
          graph: training,
          weights,
          optimizer: { step: 0, beta1Power: 1, beta2Power: 1, m: zeros, v: zeros },
        },
        1,
      );
    } catch (e) {
      throw asStorageError(e, 'write the temporary checkpoint', tmp ?? tmpdir()) ?? e;
    }
    return await exportCheckpoint({ ...opts, checkpoint: tmp, config: opts.config, model: opts.model, sourceName: `weights ${file}` });
  } finally {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
}
