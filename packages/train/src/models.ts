/**
 * Models the trainer CLI knows by name: each builds its training graph from `config.model` and
 * its train/eval sample sources from `config.data`. Register more with registerTrainModel.
 */
import type { SampleSource } from '@lctr/data';
import {
  DEMO_DEFAULTS, type DemoConfig, type FeatureSchema, type Graph, type InputsOf, Rng, buildDemoTrain, demoTrainSchema, hashSeed,
} from '@lctr/spec';
import { ConfigError, checkSection } from './config.ts';

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
  buildTrain(model: Readonly<Record<string, unknown>>, where: string, data: Readonly<Record<string, unknown>>): Graph<S, string> | Promise<Graph<S, string>>;
  source(req: SourceRequest): SampleSource<S> | Promise<SampleSource<S>>;
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
  readonly split: 'train' | 'eval'; readonly seed: number; readonly size: number; readonly seqLen: number;
  readonly clusters: number; readonly items: number; readonly users: number;
}): SampleSource<DemoTrainSchema> {
  const { size: n, seqLen: L, clusters: C, items, users } = opts;
  const pref = (u: number) => hashSeed(opts.seed, 'demo-user', u) % C;
  const fromCluster = (rng: Rng, c: number) => c + C * rng.int(Math.floor((items - 1 - c) / C) + 1);
  const user = new Int32Array(n), cand = new Int32Array(n), hist = new Int32Array(n * L), mask = new Uint8Array(n * L);
  const labels = new Uint8Array(n), trueP = new Float32Array(n);
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
    user[i] = u; cand[i] = c; trueP[i] = prob;
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
      const bu = new Int32Array(B), bc = new Int32Array(B), bh = new Int32Array(B * L), bm = new Uint8Array(B * L), by = new Float32Array(B);
      for (let r = 0; r < B; r++) {
        const i = indices[r]!;
        if (!(i >= 0 && i < n)) throw new RangeError(`demo source (${opts.split}): sample index ${i} at batch position ${r} is outside [0, ${n})`);
        bu[r] = user[i]!; bc[r] = cand[i]!; by[r] = labels[i]!;
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

const demoModelConfig = (model: Readonly<Record<string, unknown>>, where: string): DemoConfig =>
  checkSection<DemoConfig & Record<string, unknown>>(model, {
    items: { kind: 'int', min: 2 }, users: { kind: 'int', min: 1 }, dim: { kind: 'int', min: 1 },
    topK: { kind: 'int', min: 1 }, hidden: { kind: 'ints', min: 1 },
  }, { ...DEMO_DEFAULTS }, 'config.model', where);

registerTrainModel<DemoTrainSchema>('demo', {
  description: "spec's demo model (masked top-k attention over a history) on a seeded random world with clustered interests",
  buildTrain: (model, where) => buildDemoTrain(demoModelConfig(model, where)),
  source(req) {
    const m = demoModelConfig(req.model, req.where);
    const d = checkSection<DemoDataConfig>(req.data, {
      samples: { kind: 'int', min: 1 }, evalSamples: { kind: 'int', min: 1 }, seqLen: { kind: 'int', min: 1 },
      clusters: { kind: 'int', min: 1 }, seed: { kind: 'int', min: 0, max: 4294967295 },
    }, DEMO_DATA_DEFAULTS, 'config.data', req.where);
    if (d.seqLen < m.topK) throw new ConfigError([`${req.where}: config.data.seqLen: must be >= config.model.topK (${m.topK}), got ${d.seqLen}`]);
    if (d.clusters > m.items) throw new ConfigError([`${req.where}: config.data.clusters: must be <= config.model.items (${m.items}), got ${d.clusters}`]);
    return demoSource({
      split: req.split, seed: d.seed ?? req.seed, size: req.split === 'train' ? d.samples : d.evalSamples,
      seqLen: d.seqLen, clusters: d.clusters, items: m.items, users: m.users,
    });
  },
});
