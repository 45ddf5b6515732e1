/**
 * From an event log to time-correct training samples: `buildSampleIndex` picks which events are
 * samples, `createSampleSource` builds batches of them lazily for a model's feature schema.
 */
export { type SampleIndex, type SampleIndexOptions, buildSampleIndex } from './samples/sample-index.ts';
export {
  type EventFilter,
  type SequenceOptions,
  type SampleSchema,
  SAMPLE_DTYPES,
  type ResolvedSequenceOptions,
  DEFAULT_SEQUENCE_OPTIONS,
  FeatureSchemaError,
  resolveSequenceOptions,
  sampleSchema,
  checkSampleSchema,
} from './samples/schema.ts';
export { type SampleSourceOptions, type LogSampleSource, createSampleSource } from './samples/log-source.ts';
export * from './samples/crp-pairs.ts';
