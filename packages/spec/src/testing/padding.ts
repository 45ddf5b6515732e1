/** Feeds whose ids at padded positions hold something other than 0: what prepareFeeds must make harmless. */
import type { HostTensor } from '../dtype.ts';
import type { DimBindings } from '../dims.ts';
import { indexUses } from '../feeds.ts';
import type { FeatureSchema, Graph } from '../graph.ts';
import { type FeedGen, randomFeeds } from './random-feeds.ts';

/**
 * A copy of `feeds` where every id input with a padding mask (paddingMaskOf) holds `fill(i)` at each
 * padded flat position i (-1, a stale id, 2^31 - 1 ...); valid positions and other inputs are kept.
 * Returns the feeds and how many values were written (so a test can check it wrote some).
 */
export function withPaddingIds(
  g: Graph,
  feeds: Readonly<Record<string, HostTensor>>,
  fill: (i: number) => number,
): { feeds: Record<string, HostTensor>; written: number } {
  const out: Record<string, HostTensor> = { ...feeds };
  const masked = new Map<string, string>();
  for (const u of indexUses(g)) if (u.mask !== undefined) masked.set(u.input, u.mask);
  let written = 0;
  for (const [input, mask] of masked) {
    const t = feeds[input]!,
      m = feeds[mask]!.data as Uint8Array;
    const per = m.length === 0 ? 1 : t.data.length / m.length;
    const data = t.data.slice();
    for (let i = 0; i < data.length; i++) {
      if (m[Math.floor(i / per)] !== 0) continue;
      if (data instanceof BigInt64Array) data[i] = BigInt(fill(i));
      else data[i] = fill(i);
      written++;
    }
    out[input] = { ...t, data } as HostTensor;
  }
  return { feeds: out, written };
}

/**
 * Seeded feeds (randomFeeds with `gens`) where each mask that pairs with an id input is a valid
 * prefix of about half its last axis (rows alternate n/2 and n/2 - 1 valid), and those ids hold 0
 * at padding: the baseline that withPaddingIds then fills.
 */
export function paddedFeeds(
  g: Graph<FeatureSchema, string>,
  dims: DimBindings,
  seed: number,
  gens: Readonly<Record<string, FeedGen>> = {},
): Record<string, HostTensor> {
  const feeds = randomFeeds(g, dims, seed, gens) as Record<string, HostTensor>;
  for (const name of new Set(indexUses(g).flatMap((u) => (u.mask === undefined ? [] : [u.mask])))) {
    const t = feeds[name]!,
      m = t.data as Uint8Array,
      n = t.shape[t.shape.length - 1]!;
    for (let i = 0; i < m.length; i++) m[i] = i % n < Math.max(1, Math.floor(n / 2) - (Math.floor(i / n) % 2)) ? 1 : 0;
  }
  return withPaddingIds(g, feeds, () => 0).feeds;
}
