export {
  ConfigError,
  type TrainConfig,
  type FieldRule,
  CONFIG_DEFAULTS,
  parseTrainConfig,
  parseJsonText,
  checkSection,
  totalSteps,
} from './config.ts';
export { stepsPerEpoch, epochPermutation, BatchOrder, type StepBatch } from './order.ts';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  CHECKPOINT_FILES,
  CheckpointError,
  type CheckpointState,
  type Checkpoint,
  type WriteCheckpointArgs,
  encodeChecked,
  decodeChecked,
  checkpointsDir,
  listCheckpointSteps,
  latestCheckpointDir,
  writeCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  checkSameGraph,
  newestIntactCheckpoint,
  pointLatestAt,
  type SkippedCheckpoint,
} from './checkpoint.ts';
export {
  type TrainProgress,
  type ProgressStream,
  type ProgressPrinter,
  formatDuration,
  formatProgressLine,
  formatProgressBar,
  progressPrinter,
} from './progress.ts';
export { TrainError, type TrainOptions, type EvalMetrics, type MetricsRecord, type TrainResult, evaluate, train } from './trainer.ts';
export {
  type SourceRequest,
  type StepFeeds,
  type TrainModel,
  registerTrainModel,
  trainModelNames,
  getTrainModel,
  type DemoDataConfig,
  DEMO_DATA_DEFAULTS,
  demoSource,
} from './models.ts';
export { prepareData } from './baselines.ts';
export { lifelongArch } from './lifelong.ts';
export { type ObjectiveMetrics, evaluateTargets } from './trainer.ts';
export {
  type RequestDataConfig,
  REQUEST_DATA_DEFAULTS,
  requestDataConfig,
  requestContextOf,
  requestSet,
  ifaTrainConfig,
} from './requests.ts';
export {
  KEEP_KNOWLEDGE_PARTS,
  type KeepKnowledgeKind,
  type KeepKnowledgeSpec,
  type KeepDataConfig,
  KEEP_DATA_DEFAULTS,
  keepDataConfig,
  keepWorldOf,
  keepExtractorConfig,
  keepTwoTowerTrainConfig,
  keepKnowledgeSpec,
  resolveCheckpointDir,
  loadKeepCheckpoint,
  type KeepKnowledgePlan,
  keepKnowledgePlan,
  assembleServed,
  checkpointBehaviours,
  KEEP_TABLES_FORMAT,
  type KeepKnowledgeTables,
  keepKnowledgeTables,
  encodeKnowledgeTables,
  writeKnowledgeTables,
} from './keep.ts';
export { type ValidationConfig, type ValidationMetric, VALIDATION_METRICS } from './config.ts';
export { bestCheckpointDir, pointBestAt } from './checkpoint.ts';
export { type EvalRecord, type TestRecord, isBetter } from './trainer.ts';
export { subsetSource, splitByTime, trainSources } from './models.ts';
export { type LrSchedule, LR_SCHEDULE_DEFAULTS, learningRateAt } from './schedule.ts';
export { type ModelSummary, modelSummary, formatSummary } from './summary.ts';
