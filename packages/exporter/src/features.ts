/**
 * The feature pipeline beside model.onnx (issue 18 item 4): when the checkpoint's training config
 * reads a dataset config (`data.dataset` "file" or "ml-100k"), the export writes `features.json`
 * (@lctr/data's FeaturePipeline: the dataset config and its content key, the vocabulary, profile
 * rows, the items table, each sequence's length and event filter) so the server can take raw
 * requests in the log's own ids. It is staged with the other files (same all-or-nothing commit,
 * listed in the manifest and in report.json). The sequence lengths are the serving graph's; the
 * event filters those of the eval source that fed parity (the trainer's sample options).
 */
import { resolve } from 'node:path';
import {
  type EventFilter,
  type FeaturePipeline,
  type SequenceRule,
  DEFAULT_SEQUENCE_OPTIONS,
  FEATURES_FILE,
  buildFeaturePipeline,
  datasetKey,
  loadDataset,
  readDatasetConfig,
  SAMPLE_FEATURES,
} from '@lctr/data';
import type { Graph } from '@lctr/spec';

export { FEATURES_FILE } from '@lctr/data';

const REPO_ROOT = resolve(import.meta.dirname, '../../..');
const ML100K_CONFIG = 'datasets/ml-100k.json';

/** The graph inputs a raw request can fill (RawRequestMapper). */
// the sample features less the user id (a raw request names it by its raw id) and the label
const RAW_FEATURES = new Set<string>(SAMPLE_FEATURES.filter((f) => f !== 'user' && f !== 'label'));

export interface FeaturesRecord {
  readonly dataset: string;
  readonly key: string;
  readonly sequences: FeaturePipeline['sequences'];
}

/**
 * The pipeline for a training config's data section, or a reason there is none: data not read
 * through a dataset config (the synthetic world), or a serving input a raw request cannot fill.
 */
export async function featurePipelineOf(
  data: Readonly<Record<string, unknown>>,
  serving: Graph,
  options: { readonly targetEvents?: EventFilter; readonly sourceEvents?: EventFilter; readonly lifelongEvents?: EventFilter } = {},
): Promise<{ pipeline: FeaturePipeline } | { reason: string }> {
  const dataset = data['dataset'];
  if (dataset !== 'file' && dataset !== 'ml-100k')
    return { reason: `config.data.dataset is ${JSON.stringify(dataset ?? 'synthetic')}, not a dataset config` };
  const other = serving.inputs.find((i) => !RAW_FEATURES.has(i.name));
  if (other) return { reason: `serving input '${other.name}' is not a feature a raw request fills` };
  const loaded = readDatasetConfig(resolve(REPO_ROOT, dataset === 'ml-100k' ? ML100K_CONFIG : String(data['config'] ?? ML100K_CONFIG)));
  // the trainer's ml-100k override of the split changes the samples, not the mapping
  const config =
    dataset === 'ml-100k' && typeof data['testFraction'] === 'number'
      ? { ...loaded.config, split: { testFraction: data['testFraction'] } }
      : loaded.config;
  const ds = await loadDataset({ ...loaded, config });
  const length = (name: string): number => {
    const i = serving.inputs.find((x) => x.name === name);
    const last = i?.shape[i.shape.length - 1];
    return typeof last === 'number' ? last : 0;
  };
  const rule = (name: string, events: EventFilter | undefined, fallback: EventFilter): SequenceRule => ({
    length: length(name),
    events: events ?? fallback,
  });
  const d = DEFAULT_SEQUENCE_OPTIONS;
  const sequences = {
    target: rule('targetSeq', options.targetEvents, d.targetEvents),
    source: rule('sourceSeq', options.sourceEvents, d.sourceEvents),
    lifelong: rule('lifelongSeq', options.lifelongEvents, d.lifelongEvents),
  };
  return { pipeline: await buildFeaturePipeline({ ...loaded, config }, ds, await datasetKey({ ...loaded, config }), sequences) };
}
