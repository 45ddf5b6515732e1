export * from './export.ts';
export {
  sha256, prepareTarget, servingTarget, writeServingDir, runOnnxChecker, parameterCount, DEFAULT_REPOSITORY, ONNX_FILE,
  type CheckerRecord, type ServingFile, type ServingTarget,
} from './serving-dir.ts';
export * from './serving.ts';
export * from './heldout.ts';
export * from './checkpoint.ts';
export * from './triton.ts';
export * from './latency.ts';
export * from './default-run.ts';
export * from './fold.ts';
export * from './optimise.ts';
