export * from './export.ts';
export { sha256, prepareTarget, writeServingDir, runOnnxChecker, parameterCount, type CheckerRecord } from './serving-dir.ts';
export * from './serving.ts';
export * from './heldout.ts';
export * from './checkpoint.ts';
