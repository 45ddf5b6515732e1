/**
 * `lctr export` / `nx run exporter:onnx` (no --model, no --checkpoint): the default job: the default
 * LCN trained into out/train/lcn-default (or reused there when a finished run with the same config
 * and graph is present: default-run.ts), exported with held-out parity and a latency summary;
 * `nx run exporter:onnx -- --checkpoint RUN_OR_CHECKPOINT_DIR [--config FILE] [--model TRAINER_MODEL] ...`: a trained model;
 * `nx run exporter:onnx -- --model demo ...`: the untrained demo model.
 * Every export writes <out>/<name>/ of a Triton model repository (serving-dir.ts).
 * Exit codes (spec's EXIT_CODES): 0 exported with parity, 1 an export error or a failed gate (a
 * non-finite weight, parity or the ONNX checker; the model directory is then left as it was),
 * 2 bad usage, 3 a storage refusal (disk full, read-only, no permission: one line; the temp
 * directory is removed, the previous export intact).
 */
import { existsSync } from 'node:fs';
import { MODELS, exportModel } from './export.ts';
import { exportCheckpoint, exportWeights } from './checkpoint.ts';
import { DEFAULT_JOB, ensureTrainedRun } from './default-run.ts';
import { DEFAULT_REPOSITORY, ExportError } from './serving-dir.ts';
import { DEFAULT_MAX_BATCH_SIZE } from './triton.ts';
import { FLOAT16_TOLERANCE } from './optimise.ts';
import { INT8_AUC_BAR } from './int8-bar.ts';
import { type Precision, INT8_MIN_DIM, PRECISIONS } from '@lctr/backend-onnx';
import { EXIT_CODES, displayPath } from '@lctr/spec';
import { UsageError, intFlag, isMainModule, runCommand } from '@lctr/spec/cli';
import { type NonFiniteWeight, formatNonFinite, rejectionOf } from './serving-dir.ts';

const USAGE = `usage: lctr export                                  the default job: the default LCN (trained first unless already trained)
       lctr export --checkpoint DIR [--config FILE] [--model NAME] [--samples N] [--requests N] [--candidates N]
                                [--latency-requests N] [--latency-candidates N] [--precision float32|float16|int8] [--no-fold]
       lctr export --weights FILE.safetensors --model TRAINER_MODEL --config FILE [the --checkpoint options]
       lctr export --model ${Object.keys(MODELS).join('|')}
  (the Nx target takes the same options: npx nx run exporter:onnx -- ...)
  common:        [--out DIR] [--name NAME] [--max-batch-size N] [--gpu] [--seed N] [--force]
  --checkpoint   a training run directory (its checkpoints/latest) or a checkpoint directory (step-<N>)
  --config       training config (JSON); default: the config saved in the checkpoint's state.json
  --weights      weights trained elsewhere (safetensors keyed by parameter path): exported for --model built from --config
                 (every serving parameter must be there with its shape; training-only ones may be missing)
  --model        without --checkpoint: the untrained model to export (${Object.keys(MODELS).join(', ')}); with it: the trainer model
                 (default: derived from the checkpoint graph: demo, avgpool, din; lifelong -> lcn, sim-soft, sim-hard, twin)
  --out          the Triton model repository to write into (default ${DEFAULT_REPOSITORY}); the model goes to <out>/<name>/
  --name         the Triton model name (default: the model: lcn, din, demo, ...)
  --max-batch-size   batch-layout models: Triton's max_batch_size (default ${DEFAULT_MAX_BATCH_SIZE}); per-request models always have 0
  --gpu          instance_group kind KIND_GPU in config.pbtxt (default KIND_CPU)
  --seed         seeds the demo weights / picks the held-out samples and latency requests (default 20240801)
  --samples      batch-layout models: held-out eval samples in the parity check (default 64)
  --requests, --candidates   per-request models: parity requests and candidates per request (default 4 x 16)
  --latency-requests, --latency-candidates   ONNX Runtime CPU latency: timed requests (default 50; 0 skips it)
                 and candidates per request (default 100)
  --precision    float16: half-precision tensors inside model.onnx (inputs and outputs stay float32), checked
                 against the float32 reference with its own bar (${FLOAT16_TOLERANCE}); int8: products by weights of
                 at least ${INT8_MIN_DIM} x ${INT8_MIN_DIM} dynamically quantized (CPU serving), exported only when the held-out
                 test AUC is within ${INT8_AUC_BAR} of the float32 export's; default float32
  --no-fold      keep parameter-only subgraphs as nodes (by default they are folded into parameters)
  --force        replace a model directory <out>/<name> that the exporter did not write, or the files in the way of
                 a re-export (a file it wrote and someone changed); other files it did not write are always kept
  exit codes     0 exported; 1 an error, or a non-finite weight, parity or the checker failed (the directory is left as it
                 was); 2 usage; 3 disk full or another storage refusal (the previous export is intact)`;

/** A failed gate: the failures (non-finite weights first), and that the model directory was left as it was. */
function rejected(res: {
  readonly dir: string;
  readonly parity: { readonly ok: boolean; readonly failures: readonly string[] };
  readonly checkerOk: boolean | null;
  readonly nonFinite: readonly NonFiniteWeight[];
}): number {
  for (const w of res.nonFinite) console.error(`weight failure: ${formatNonFinite(w)}`);
  for (const f of res.parity.failures) console.error(`parity failure: ${f}`);
  const why = rejectionOf(res.parity.ok, res.checkerOk, res.nonFinite) ?? 'rejected';
  console.error(`lctr export: not exported (${why}): ${displayPath(res.dir)} ${existsSync(res.dir) ? 'left as it was' : 'not created'}`);
  return EXIT_CODES.failure;
}

export const EXPORT = {
  name: 'lctr export',
  usage: USAGE,
  options: {
    model: { type: 'string' },
    checkpoint: { type: 'string' },
    weights: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    seed: { type: 'string' },
    samples: { type: 'string' },
    requests: { type: 'string' },
    candidates: { type: 'string' },
    'max-batch-size': { type: 'string' },
    'latency-requests': { type: 'string' },
    'latency-candidates': { type: 'string' },
    gpu: { type: 'boolean' },
    precision: { type: 'string' },
    'no-fold': { type: 'boolean' },
    force: { type: 'boolean' },
  },
} as const;

/** `lctr export ...` (also `nx run exporter:onnx -- ...`): the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  return runCommand(EXPORT, argv, async ({ values }) => {
    const seed = intFlag('seed', values.seed, -(2 ** 31)) ?? 20240801;
    const ints: Partial<
      Record<'samples' | 'requests' | 'candidates' | 'max-batch-size' | 'latency-requests' | 'latency-candidates', number>
    > = {};
    for (const flag of ['samples', 'requests', 'candidates', 'max-batch-size', 'latency-candidates'] as const) {
      const n = intFlag(flag, values[flag], 1);
      if (n !== undefined) ints[flag] = n;
    }
    const lr = intFlag('latency-requests', values['latency-requests'], 0);
    if (lr !== undefined) ints['latency-requests'] = lr;
    if (values.precision !== undefined && !(PRECISIONS as readonly string[]).includes(values.precision)) {
      throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}, got '${values.precision}'`);
    }
    if (values.model !== undefined && values.checkpoint === undefined && values.weights === undefined) {
      if (values.precision !== undefined || values['no-fold'])
        throw new UsageError('--precision and --no-fold apply to trained models: they need --checkpoint (or no --model: the default job)');
      for (const flag of ['config', 'samples', 'requests', 'candidates', 'latency-requests', 'latency-candidates'] as const) {
        if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --checkpoint (or no --model: the default job)`);
      }
    }
    if (values.weights !== undefined) {
      if (values.checkpoint !== undefined) throw new UsageError('--weights and --checkpoint exclude each other');
      if (values.model === undefined || values.config === undefined)
        throw new UsageError('--weights needs --model (the trainer model) and --config (its training config)');
    }
    if (values.model === undefined && values.checkpoint === undefined && values.config !== undefined) {
      throw new UsageError('--config needs --checkpoint');
    }
    return exportMain(values, seed, ints);
  });
}

type Values = Parameters<Parameters<typeof runCommand<typeof EXPORT.options>>[2]>[0]['values'];

async function exportMain(
  values: Values,
  seed: number,
  ints: Partial<Record<'samples' | 'requests' | 'candidates' | 'max-batch-size' | 'latency-requests' | 'latency-candidates', number>>,
): Promise<number> {
  const log = (l: string) => console.log(l);
  const common = {
    force: values.force ?? false,
    seed,
    log,
    ...(values.out !== undefined ? { out: values.out } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(ints['max-batch-size'] !== undefined ? { maxBatchSize: ints['max-batch-size'] } : {}),
    ...(values.gpu ? { instanceKind: 'KIND_GPU' as const } : {}),
  };
  const t0 = Date.now();
  // what a trained export (checkpoint or weights file) takes besides the common flags
  const trained = {
    ...common,
    ...(ints.samples !== undefined ? { samples: ints.samples } : {}),
    ...(ints.requests !== undefined ? { requests: ints.requests } : {}),
    ...(ints.candidates !== undefined ? { candidates: ints.candidates } : {}),
    ...(ints['latency-requests'] !== undefined ? { latencyRequests: ints['latency-requests'] } : {}),
    ...(ints['latency-candidates'] !== undefined ? { latencyCandidates: ints['latency-candidates'] } : {}),
    ...(values.precision !== undefined ? { precision: values.precision as Precision } : {}),
    ...(values['no-fold'] ? { fold: false } : {}),
  };
  if (values.weights !== undefined || values.model === undefined || values.checkpoint !== undefined) {
    let res;
    if (values.weights !== undefined) {
      res = await exportWeights({ ...trained, weights: values.weights, model: values.model!, config: values.config! });
    } else {
      let checkpoint = values.checkpoint;
      if (checkpoint === undefined) {
        log(`default job: the default LCN (${DEFAULT_JOB.config}, the small synthetic world) in ${DEFAULT_JOB.runDir}`);
        await ensureTrainedRun({ ...DEFAULT_JOB, log });
        checkpoint = DEFAULT_JOB.runDir;
      }
      res = await exportCheckpoint({
        ...trained,
        checkpoint,
        ...(values.config !== undefined ? { config: values.config } : {}),
        ...(values.model !== undefined ? { model: values.model } : {}),
      });
    }
    if (!res.written) return rejected(res);
    console.log(`wrote ${res.files.join(', ')} to ${displayPath(res.dir)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`serve it: tritonserver --model-repository ${displayPath(res.repository)} (model '${res.name}')`);
    return EXIT_CODES.ok;
  }
  const res = await exportModel({ ...common, model: values.model! });
  if (!res.written) return rejected(res);
  console.log(`wrote ${res.files.join(', ')} to ${displayPath(res.dir)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return EXIT_CODES.ok;
}

if (isMainModule(import.meta.filename)) process.exitCode = await main(process.argv.slice(2));
