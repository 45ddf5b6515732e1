/**
 * @lctr/backend-torch: the graph IR compiled to a PyTorch module (generated Python source) and a
 * runner that executes it with Debian's python3-torch. Imports only @lctr/spec.
 */
export * from './lower/context.ts';
export { LOWERINGS, loweringOf } from './lower/table.ts';
export { PRELUDE } from './prelude.ts';
export { type TorchDType, type TorchSourceOptions, TorchSourceError, paramKey, specName, torchSource, LOWERED_OPS } from './source.ts';
export * from './runner.ts';
export { BATCH_DIM, DISTRIBUTED_PRELUDE, batchReductions } from './distributed.ts';
export { type TorchTrainManifest, TRAIN_SCRIPT } from './train-script.ts';
export { type LaunchOptions, RankFailedError, freePort, launchRanks, torchVersion, torchrunCommand } from './launch.ts';
