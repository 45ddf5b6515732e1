/**
 * Models the trainer CLI knows by name: each builds its training graph from `config.model` and
 * its train/eval sample sources from `config.data`. Register more with registerTrainModel.
 */
import type { SampleSource } from '@lctr/data';
import {
  DEMO_DEFAULTS,
  type DemoConfig,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  Rng,
  buildDemoTrain,
  demoTrainSchema,
  hashSeed,
} from '@lctr/spec';
import { ConfigError, type FieldRule, type TrainConfig, checkSection } from './config.ts';

export interface SourceRequest {
  readonly split: 'train' | 'eval';
  /** the config's seed (a source may take its own from `data`) */
  readonly seed: number;
  /** config.data */
  readonly data: Readonly<Record<string, unknown>>;
  /** config.model (ids must fit the model's tables) */
  readonly model: Readonly<Record<string, unknown>>;
  /** names the config in errors (its file) */
  readonly where: string;
}

export interface TrainModel<S extends FeatureSchema = FeatureSchema> {
  readonly description: string;
  /** the training graph (outputs `loss` and `prob`) from config.model; bad options are ConfigErrors */
  /** `data` is config.data: vocabulary sizes of a data set come from it */
  buildTrain(
    model: Readonly<Record<string, unknown>>,
    where: string,
    data: Readonly<Record<string, unknown>>,
  ): Graph<S, string> | Promise<Graph<S, string>>;
  source(req: SourceRequest): SampleSource<S> | Promise<SampleSource<S>>;
  /**
   * The time of every sample of `source(req)`, in the data's own unit (a validation split takes
   * the latest share of the training samples by it). A model without it cannot take
   * config.validation.
   */
  sampleTimes?(req: SourceRequest): Float64Array | Promise<Float64Array>;
  /**
   * Inputs of the training graph that the trainer feeds per step instead of the data (e.g. LCN's
   * `crpLambdaScale` warm-up), from config.model; undefined when this config's graph takes none.
   */
  stepFeeds?(model: Readonly<Record<string, unknown>>, where: string): StepFeeds | undefined;
}

/**
 * Per-step inputs: float32 scalars by graph input name, for the step about to run (`step`, 0-based,
 * of `totalSteps`). It must be a pure function of its arguments: a resumed run feeds the same
 * values, so it continues bit for bit. Evaluations get the values at the number of steps done.
 */
export type StepFeeds = (step: number, totalSteps: number) => Readonly<Record<string, HostTensor<'float32'>>>;

/** The samples of `src` at `positions` (ascending), as a source of their own: batches, labels, groups, targets alike. */
export function subsetSource<S extends FeatureSchema>(src: SampleSource<S>, positions: Int32Array): SampleSource<S> {
  const n = positions.length;
  const pick = <A extends Uint8Array | Int32Array | Float32Array>(a: A, per = 1): A => {
    const out = new (a.constructor as new (k: number) => A)(n * per);
    for (let i = 0; i < n; i++) out.set(a.subarray(positions[i]! * per, (positions[i]! + 1) * per), i * per);
    return out;
  };
  const C = src.slots ?? 1;
  return {
    schema: src.schema,
    size: n,
    labels: pick(src.labels),
    groups: pick(src.groups),
    ...(src.trueProbability ? { trueProbability: pick(src.trueProbability) } : {}),
    ...(src.targets
      ? {
          slots: src.slots!,
          targets: src.targets.map((t) => ({
            ...t,
            labels: pick(t.labels, C),
            valid: pick(t.valid, C),
            groups: pick(t.groups, C),
            ...(t.trueProbability ? { trueProbability: pick(t.trueProbability, C) } : {}),
          })),
        }
      : {}),
    batch(indices: Int32Array) {
      const mapped = new Int32Array(indices.length);
      for (let r = 0; r < indices.length; r++) {
        const i = indices[r]!;
        if (!(i >= 0 && i < n)) throw new RangeError(`subset source: sample index ${i} at batch position ${r} is outside [0, ${n})`);
        mapped[r] = positions[i]!;
      }
      return src.batch(mapped);
    },
  };
}

/**
 * Cut sample positions 0..n-1 by time: the latest floor(n * fraction) (ties by position, the
 * later one latest) are validation, the others train; each part in ascending position order.
 */
export function splitByTime(times: Float64Array, fraction: number, where: string): { train: Int32Array; validation: Int32Array } {
  const n = times.length;
  const k = Math.floor(n * fraction);
  if (k < 1 || k >= n) {
    throw new ConfigError([
      `${where}: config.validation.fraction: ${fraction} of ${n} training samples leaves ` +
        `${k < 1 ? 'no validation sample' : 'no training sample'} (expected at least one of each)`,
    ]);
  }
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  const isVal = new Uint8Array(n);
  for (let j = n - k; j < n; j++) isVal[order[j]!] = 1;
  const train = new Int32Array(n - k),
    validation = new Int32Array(k);
  for (let i = 0, t = 0, v = 0; i < n; i++)
    if (isVal[i]) validation[v++] = i;
    else train[t++] = i;
  return { train, validation };
}

/**
 * The sources of a run: train, test (the recipe's 'eval' split) and, with config.validation, the
 * validation set carved from the train split by time (the train source is then the rest).
 */
export async function trainSources(
  entry: TrainModel,
  name: string,
  config: TrainConfig,
  where: string,
): Promise<{ train: SampleSource; eval: SampleSource; validation?: SampleSource }> {
  const req = (split: 'train' | 'eval'): SourceRequest => ({ split, seed: config.seed, data: config.data, model: config.model, where });
  const train = await entry.source(req('train'));
  const test = await entry.source(req('eval'));
  if (!config.validation) return { train, eval: test };
  if (!entry.sampleTimes) {
    const known = trainModelNames().filter((n) => registry.get(n)!.sampleTimes !== undefined);
    throw new ConfigError([
      `${where}: config.validation: model '${name}' gives no sample times to carve a validation split by time (models that do: ` +
        `${known.join(', ')})`,
    ]);
  }
  const times = await entry.sampleTimes(req('train'));
  if (times.length !== train.size)
    throw new Error(`model '${name}': sampleTimes gave ${times.length} times for ${train.size} training samples`);
  const cut = splitByTime(times, config.validation.fraction, where);
  return { train: subsetSource(train, cut.train), validation: subsetSource(train, cut.validation), eval: test };
}

const registry = new Map<string, TrainModel>();

/** Add a model under `name` (an error if the name is taken). */
export function registerTrainModel<S extends FeatureSchema>(name: string, model: TrainModel<S>): void {
  if (registry.has(name)) throw new Error(`registerTrainModel: a model named '${name}' is already registered`);
  registry.set(name, model as unknown as TrainModel);
}

export function trainModelNames(): string[] {
  return [...registry.keys()].sort();
}

export function getTrainModel(name: string): TrainModel {
  const m = registry.get(name);
  if (!m) throw new ConfigError([`unknown model '${name}' (known: ${trainModelNames().join(', ')})`]);
  return m;
}

// ---------------------------------------------------------------------------------------------
// demo: spec's demo model on a seeded random world with a planted signal

export interface DemoDataConfig {
  /** training samples */
  readonly samples: number;
  /** eval samples */
  readonly evalSamples: number;
  /** history length (padded); valid entries are between a quarter of it and all of it */
  readonly seqLen: number;
  /** item clusters: item i belongs to cluster i % clusters, each user prefers one */
  readonly clusters: number;
  /** seed of the data (default: the config's seed) */
  readonly seed?: number;
  [k: string]: unknown;
}
export const DEMO_DATA_DEFAULTS: DemoDataConfig = { samples: 4096, evalSamples: 1024, seqLen: 50, clusters: 10 };

type DemoTrainSchema = typeof demoTrainSchema;

/**
 * The demo world. Item i is in cluster i % clusters; user u prefers cluster hash(seed, u) % clusters.
 * A sample is (user, history, candidate): history items come from the preferred cluster with
 * probability 0.8 (else uniform), the candidate with probability 0.5; the true click probability
 * is sigmoid(4 * share of the valid history in the candidate's cluster - 2), and the label is drawn
 * from it. Every sample is a pure function of (seed, split, index); groups are users.
 */
export function demoSource(opts: {
  readonly split: 'train' | 'eval';
  readonly seed: number;
  readonly size: number;
  readonly seqLen: number;
  readonly clusters: number;
  readonly items: number;
  readonly users: number;
}): SampleSource<DemoTrainSchema> {
  const { size: n, seqLen: L, clusters: C, items, users } = opts;
  const pref = (u: number) => hashSeed(opts.seed, 'demo-user', u) % C;
  const fromCluster = (rng: Rng, c: number) => c + C * rng.int(Math.floor((items - 1 - c) / C) + 1);
  const user = new Int32Array(n),
    cand = new Int32Array(n),
    hist = new Int32Array(n * L),
    mask = new Uint8Array(n * L);
  const labels = new Uint8Array(n),
    trueP = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const rng = new Rng(hashSeed(opts.seed, 'demo', opts.split, i));
    const u = rng.int(users);
    const p = pref(u);
    const len = Math.max(1, Math.floor(L / 4)) + rng.int(L - Math.max(1, Math.floor(L / 4)) + 1);
    for (let j = 0; j < len; j++) {
      hist[i * L + j] = rng.next() < 0.8 ? fromCluster(rng, p) : rng.int(items);
      mask[i * L + j] = 1;
    }
    const c = rng.next() < 0.5 ? fromCluster(rng, p) : rng.int(items);
    let same = 0;
    for (let j = 0; j < len; j++) if (hist[i * L + j]! % C === c % C) same++;
    const prob = 1 / (1 + Math.exp(-(4 * (same / len) - 2)));
    user[i] = u;
    cand[i] = c;
    trueP[i] = prob;
    labels[i] = rng.next() < prob ? 1 : 0;
  }
  return {
    schema: demoTrainSchema,
    size: n,
    labels,
    groups: user,
    trueProbability: trueP,
    batch(indices: Int32Array): InputsOf<DemoTrainSchema> {
      const B = indices.length;
      const bu = new Int32Array(B),
        bc = new Int32Array(B),
        bh = new Int32Array(B * L),
        bm = new Uint8Array(B * L),
        by = new Float32Array(B);
      for (let r = 0; r < B; r++) {
        const i = indices[r]!;
        if (!(i >= 0 && i < n))
          throw new RangeError(`demo source (${opts.split}): sample index ${i} at batch position ${r} is outside [0, ${n})`);
        bu[r] = user[i]!;
        bc[r] = cand[i]!;
        by[r] = labels[i]!;
        bh.set(hist.subarray(i * L, (i + 1) * L), r * L);
        bm.set(mask.subarray(i * L, (i + 1) * L), r * L);
      }
      return {
        user: { dtype: 'int32', shape: [B], data: bu },
        history: { dtype: 'int32', shape: [B, L], data: bh },
        historyMask: { dtype: 'bool', shape: [B, L], data: bm },
        candidate: { dtype: 'int32', shape: [B], data: bc },
        label: { dtype: 'float32', shape: [B], data: by },
      };
    },
  };
}

/** config.model and config.data of the demo (also its published JSON Schema, schemas.ts) */
export const DEMO_MODEL_RULES: { readonly [K in keyof DemoConfig]: FieldRule } = {
  items: { kind: 'int', min: 2 },
  users: { kind: 'int', min: 1 },
  dim: { kind: 'int', min: 1 },
  topK: { kind: 'int', min: 1 },
  hidden: { kind: 'ints', min: 1 },
};
export const DEMO_DATA_RULES: { readonly [K in keyof DemoDataConfig]-?: FieldRule } = {
  samples: { kind: 'int', min: 1 },
  evalSamples: { kind: 'int', min: 1 },
  seqLen: { kind: 'int', min: 1 },
  clusters: { kind: 'int', min: 1 },
  seed: { kind: 'int', min: 0, max: 4294967295 },
};

const demoModelConfig = (model: Readonly<Record<string, unknown>>, where: string): DemoConfig =>
  checkSection<DemoConfig & Record<string, unknown>>(model, DEMO_MODEL_RULES, { ...DEMO_DEFAULTS }, 'config.model', where);

registerTrainModel<DemoTrainSchema>('demo', {
  description: "spec's demo model (masked top-k attention over a history) on a seeded random world with clustered interests",
  buildTrain: (model, where) => buildDemoTrain(demoModelConfig(model, where)),
  source(req) {
    const m = demoModelConfig(req.model, req.where);
    const d = checkSection<DemoDataConfig>(req.data, DEMO_DATA_RULES, DEMO_DATA_DEFAULTS, 'config.data', req.where);
    if (d.seqLen < m.topK)
      throw new ConfigError([`${req.where}: config.data.seqLen: must be >= config.model.topK (${m.topK}), got ${d.seqLen}`]);
    if (d.clusters > m.items)
      throw new ConfigError([`${req.where}: config.data.clusters: must be <= config.model.items (${m.items}), got ${d.clusters}`]);
    return demoSource({
      split: req.split,
      seed: d.seed ?? req.seed,
      size: req.split === 'train' ? d.samples : d.evalSamples,
      seqLen: d.seqLen,
      clusters: d.clusters,
      items: m.items,
      users: m.users,
    });
  },
  // the demo's samples are independent draws: the index is their order
  sampleTimes(req) {
    const n =
      req.split === 'train'
        ? ((req.data.samples as number | undefined) ?? DEMO_DATA_DEFAULTS.samples)
        : ((req.data.evalSamples as number | undefined) ?? DEMO_DATA_DEFAULTS.evalSamples);
    return Float64Array.from({ length: n }, (_, i) => i);
  },
});
