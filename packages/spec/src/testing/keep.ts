/** Small KEEP configs and id-range generators: shared by the KEEP tests (spec, parity) and reports. */
import type { KeepConfig, KeepTwoTowerConfig } from '../models/keep.ts';
import type { HostTensor } from '../dtype.ts';
import type { Graph } from '../graph.ts';
import { Rng } from '../random.ts';
import { initWeights } from '../weights.ts';
import { type FeedGen, gen } from './random-feeds.ts';

/** Every layer of the paper's shapes at toy widths: knowledge = 3 + 3·2 + 3·3 = 18 columns. */
export const KEEP_TEST_CONFIG: Partial<KeepConfig> = {
  users: 4,
  items: 12,
  shops: 5,
  categories: 4,
  userDim: 3,
  featureDim: 2,
  seqLen: 5,
  attention: [4],
  tower: [6, 5, 4, 3, 2],
  alpha: 0.25,
};
export const KEEP_DEGENERATE_TEST_CONFIG: Partial<KeepConfig> = { ...KEEP_TEST_CONFIG, target: 'category' };
export const KEEP_TWO_TOWER_TEST_CONFIG: Partial<KeepTwoTowerConfig> = {
  users: 4,
  items: 12,
  shops: 5,
  categories: 4,
  userDim: 3,
  featureDim: 2,
  seqLen: 5,
  userTower: [5, 3],
  itemTower: [4, 3],
  alpha: 0.25,
};

/**
 * Ids inside their tables, prefix masks (short and empty histories occur), independent 0/1 labels (apply
 * nestKeepLabels to keep conversion and cart inside clicks); few users, so a batch holds same-user pairs
 * of opposite labels.
 */
export function keepGens(c: Partial<KeepConfig> | Partial<KeepTwoTowerConfig> = KEEP_TEST_CONFIG): Record<string, FeedGen> {
  const nested =
    (p: number): FeedGen =>
    (rng, s) =>
      Array.from({ length: s.reduce((a, d) => a * d, 1) }, () => (rng.next() < p ? 1 : 0));
  return {
    user: gen.ints(c.users!),
    item: gen.ints(c.items!),
    shop: gen.ints(c.shops!),
    category: gen.ints(c.categories!),
    behaviourItem: gen.ints(c.items!),
    behaviourShop: gen.ints(c.shops!),
    behaviourCategory: gen.ints(c.categories!),
    behaviourMask: gen.prefixMask(),
    clickLabel: nested(0.5),
    convLabel: nested(0.5),
    cartLabel: nested(0.5),
  };
}

/** conv and cart labels zeroed where clickLabel is 0 (they are nested in clicks in real data). */
export function nestKeepLabels<T extends Readonly<Record<string, { readonly data: ArrayLike<number | bigint> }>>>(feeds: T): T {
  const click = feeds['clickLabel']?.data;
  if (!click) return feeds;
  for (const name of ['convLabel', 'cartLabel']) {
    const d = feeds[name]?.data as Float32Array | undefined;
    if (d) for (let i = 0; i < d.length; i++) if (!Number(click[i])) d[i] = 0;
  }
  return feeds;
}

/**
 * Initial weights with the embedding tables drawn N(0, 1) instead of N(0, 0.05²): with tiny embeddings
 * every sample reaches the deep towers with nearly the same activations, so a bias gradient is a sum of
 * nearly cancelling per-sample terms (1e-6 of the other gradients) and float32 rounding dominates it.
 * Spread-out samples keep a parity comparison about the kernels, not about that cancellation.
 */
export function keepSpreadWeights(g: Graph, seed: number): Map<string, HostTensor<'float32'>> {
  const w = initWeights(g, seed);
  const rng = new Rng(seed);
  for (const [n, t] of w) if (n.startsWith('emb/')) w.set(n, { ...t, data: Float32Array.from(t.data, () => rng.normal()) });
  return w;
}

/** Initial weights with the zero-initialised last plug-in layer replaced by seeded values (else plugin/l0 gets zero gradient). */
export function keepPluggedWeights(g: Graph, seed: number): Map<string, HostTensor<'float32'>> {
  const w = initWeights(g, seed);
  const rng = new Rng(seed);
  for (const n of ['plugin/l1/w', 'plugin/l1/b']) {
    const t = w.get(n)!;
    w.set(n, { ...t, data: Float32Array.from(t.data, () => 0.3 * rng.normal()) });
  }
  return w;
}
