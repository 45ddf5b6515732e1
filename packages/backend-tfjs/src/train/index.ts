export { ConfigError, type AdamConfig, type TrainConfig, type FieldRule, CONFIG_DEFAULTS, parseTrainConfig, parseJsonText, checkSection, totalSteps } from './config.ts';
export { stepsPerEpoch, epochPermutation, BatchOrder, type StepBatch } from './order.ts';
export { Adam, type AdamState } from './adam.ts';
export {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CHECKPOINT_FILES, CheckpointError, type CheckpointState, type Checkpoint,
  type WriteCheckpointArgs, encodeChecked, decodeChecked, checkpointsDir, listCheckpointSteps, latestCheckpointDir,
  writeCheckpoint, pruneCheckpoints, readCheckpoint, checkSameGraph,
} from './checkpoint.ts';
export { type TrainProgress, type ProgressStream, type ProgressPrinter, formatDuration, formatProgressLine, formatProgressBar, progressPrinter } from './progress.ts';
export { TrainError, type TrainOptions, type EvalMetrics, type MetricsRecord, type TrainResult, evaluate, train } from './trainer.ts';
export { type SourceRequest, type TrainModel, registerTrainModel, trainModelNames, getTrainModel, type DemoDataConfig, DEMO_DATA_DEFAULTS, demoSource } from './models.ts';
export { prepareData } from './baselines.ts';
export { lifelongArch } from './lifelong.ts';
