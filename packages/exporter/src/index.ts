export * from './export.ts';
export {
  sha256,
  prepareTarget,
  servingTarget,
  stageServingDir,
  settleExport,
  rejectionOf,
  runOnnxChecker,
  parameterCount,
  DEFAULT_REPOSITORY,
  ONNX_FILE,
  SERVING_FILES,
  type CheckerRecord,
  type ExportOutcome,
  type ServingFile,
  type ServingTarget,
  nonFiniteWeights,
  formatNonFinite,
  type NonFiniteWeight,
  type ExportGate,
} from './serving-dir.ts';
export {
  StagedModelDir,
  inspectModelDir,
  recoverInterrupted,
  type Committed,
  type ExportManifest,
  type InTheWay,
  type ModelDirContents,
} from './staging.ts';
export * from './serving.ts';
export * from './heldout.ts';
export * from './checkpoint.ts';
export * from './triton.ts';
export * from './latency.ts';
export * from './default-run.ts';
export * from './fold.ts';
export * from './optimise.ts';
export * from './int8-bar.ts';
export * from './explain.ts';
