#!/usr/bin/env tsx
/**
 * `nx run exporter:train-default`: the training run behind `nx run exporter:onnx` with no
 * arguments (default-run.ts): the default LCN on the small synthetic world, trained into
 * out/train/lcn-default, or reused when a finished run with the same config is already there.
 * Nx caches the run directory (project.json: inputs = the config and the sources of spec, data and
 * backend-tfjs; outputs = the run directory). Exit codes: 0 trained or reused, 1 an error.
 */
import { DEFAULT_JOB, ensureTrainedRun } from './default-run.ts';

try {
  await ensureTrainedRun({ ...DEFAULT_JOB, log: (l) => console.log(l) });
} catch (e) {
  if (!(e instanceof Error && e.name === 'ExportError')) throw e;
  console.error(`train-default: ${e.message}`);
  process.exitCode = 1;
}
