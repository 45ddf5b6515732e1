/**
 * Sample sources over the KEEP world (synthetic/keep.ts): one sample = one impression (event index).
 * A source serves whichever of these features its schema names (shapes from the schema: 'batch'
 * symbolic, sequence lengths static, knowledge width static):
 * - KEEP extractors (spec models/keep.ts): user, item, shop, category [batch];
 *   behaviourItem, behaviourShop, behaviourCategory int32 [batch, L], behaviourMask bool [batch, L]
 *   (the user's super-domain clicks strictly before the impression, the last L, oldest first,
 *   right-padded with id 0 / mask false; the sub-domain's clicks with `behaviours: 'sub'`);
 *   clickLabel, convLabel, cartLabel float32 [batch] (conv and cart are 0 unless clicked);
 * - downstream baselines (spec models/baseline.ts, DIN / AvgPooling with one item table for both
 *   domains): candidate, candidateCategory [batch] (the impressed item); targetSeq,
 *   targetSeqCategory, targetSeqMask [batch, L] (the user's SUB-domain clicks before the impression);
 *   sourceSeq, sourceSeqCategory, sourceSeqMask [batch, L] (the SUPER-domain clicks before it, the
 *   same events as the behaviours); label float32 [batch] (the click);
 * - knowledge float32 [batch, dim] (the KEEP plug-in's input): from `knowledge`, a precomputed table
 *   (one row per sample) or a function of the batch's sample positions.
 * labels = clicks, groups = users, trueProbability = the true click probabilities.
 */
import type { FeatureSchema, HostTensor, InputsOf } from '@lctr/spec';
import type { SampleSource } from '../source.ts';
import { type KeepWorld, clicksBefore } from '../synthetic/keep.ts';

export const KEEP_SOURCE_FEATURES = [
  'user',
  'item',
  'shop',
  'category',
  'behaviourItem',
  'behaviourShop',
  'behaviourCategory',
  'behaviourMask',
  'clickLabel',
  'convLabel',
  'cartLabel',
  'candidate',
  'candidateCategory',
  'targetSeq',
  'targetSeqCategory',
  'targetSeqMask',
  'sourceSeq',
  'sourceSeqCategory',
  'sourceSeqMask',
  'label',
  'knowledge',
] as const;
export type KeepSourceFeature = (typeof KEEP_SOURCE_FEATURES)[number];

/** The knowledge input: rows [size, dim] in sample order, or rows for given sample positions (batch-major, [indices.length, dim]). */
export type KeepKnowledge =
  | { readonly dim: number; readonly table: Float32Array }
  | { readonly dim: number; readonly of: (positions: Int32Array) => Float32Array };

export interface KeepSourceOptions {
  /** required when the schema names `knowledge` */
  readonly knowledge?: KeepKnowledge;
  /** names the source in errors (default 'keep source') */
  readonly name?: string;
  /**
   * whose clicks fill the behaviour* features: 'super' (default, the rich domain) or 'sub' (the sub-domain's own clicks, e.g. an extractor
   * co-trained on it)
   */
  readonly behaviours?: 'super' | 'sub';
}

const SEQ_GROUPS = {
  behaviour: { list: 'super', item: 'behaviourItem', shop: 'behaviourShop', category: 'behaviourCategory', mask: 'behaviourMask' },
  target: { list: 'sub', item: 'targetSeq', shop: undefined, category: 'targetSeqCategory', mask: 'targetSeqMask' },
  source: { list: 'super', item: 'sourceSeq', shop: undefined, category: 'sourceSeqCategory', mask: 'sourceSeqMask' },
} as const;

/**
 * The last L clicks of each user (of the super- or the sub-domain) strictly before its time, oldest
 * first, right-padded: item, shop, category int32 and mask (1 = valid) [users.length, L], row-major.
 * `times` may be Infinity (every click).
 */
export function keepClickSequences(world: KeepWorld, list: 'super' | 'sub', users: Int32Array, times: ArrayLike<number>, L: number) {
  const B = users.length,
    e = world.events;
  const clicks = list === 'super' ? world.superClicks : world.subClicks;
  const item = new Int32Array(B * L),
    shop = new Int32Array(B * L),
    category = new Int32Array(B * L),
    mask = new Uint8Array(B * L);
  for (let r = 0; r < B; r++) {
    const u = users[r]!;
    if (!(u >= 0 && u < world.config.users))
      throw new RangeError(`keepClickSequences: user ${u} at row ${r} is outside [0, ${world.config.users})`);
    const { start, count } = clicksBefore(world, list, u, times[r]!);
    const take = Math.min(L, count);
    for (let j = 0; j < take; j++) {
      const it = e.item[clicks[start + count - take + j]!]!;
      item[r * L + j] = it;
      shop[r * L + j] = world.itemShop[it]!;
      category[r * L + j] = world.itemCategory[it]!;
      mask[r * L + j] = 1;
    }
  }
  return { item, shop, category, mask };
}

/** A SampleSource over these impressions of the world (event indices), serving the features `schema` names. */
export function createKeepSource<S extends FeatureSchema>(
  world: KeepWorld,
  events: Int32Array,
  schema: S,
  opts: KeepSourceOptions = {},
): SampleSource<S> {
  const name = opts.name ?? 'keep source';
  const n = events.length;
  const e = world.events;
  for (let i = 0; i < n; i++) {
    if (!(events[i]! >= 0 && events[i]! < world.size))
      throw new RangeError(`${name}: event index ${events[i]} at position ${i} is outside [0, ${world.size})`);
  }
  const known = new Set<string>(KEEP_SOURCE_FEATURES);
  const unknown = Object.keys(schema).filter((k) => !known.has(k));
  if (unknown.length)
    throw new Error(`${name}: feature(s) ${unknown.join(', ')} are not KEEP source features (known: ${KEEP_SOURCE_FEATURES.join(', ')})`);
  const decl = (f: string) => schema[f];
  const seqLen = new Map<string, number>();
  for (const [group, g] of Object.entries(SEQ_GROUPS)) {
    const names = [g.item, g.shop, g.category, g.mask].filter((x): x is NonNullable<typeof x> => x !== undefined && decl(x) !== undefined);
    for (const f of names) {
      const s = decl(f)!.shape;
      const L = s[1];
      if (s.length !== 2 || typeof L !== 'number' || L < 1)
        throw new Error(`${name}: feature '${f}' must have shape [batch, L] with a static L >= 1, got [${s.join(', ')}]`);
      const prev = seqLen.get(group);
      if (prev !== undefined && prev !== L)
        throw new Error(`${name}: the ${group} sequence features disagree on L: ${prev} and ${L} ('${f}')`);
      seqLen.set(group, L);
    }
  }
  let kdim = 0;
  if (decl('knowledge')) {
    const s = decl('knowledge')!.shape;
    if (s.length !== 2 || typeof s[1] !== 'number')
      throw new Error(`${name}: feature 'knowledge' must have shape [batch, dim] with a static dim, got [${s.join(', ')}]`);
    kdim = s[1];
    const k = opts.knowledge;
    if (!k) throw new Error(`${name}: the schema takes 'knowledge' [batch, ${kdim}] but no knowledge (table or function) was given`);
    if (k.dim !== kdim) throw new Error(`${name}: knowledge has width ${k.dim}, the schema's 'knowledge' takes ${kdim}`);
    if ('table' in k && k.table.length !== n * kdim)
      throw new Error(
        `${name}: the knowledge table must hold ${n} x ${kdim} = ${n * kdim} values (one row per sample), got ${k.table.length}`,
      );
  }

  const labels = new Uint8Array(n),
    groups = new Int32Array(n),
    trueProbability = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ev = events[i]!;
    labels[i] = e.click[ev]!;
    groups[i] = e.user[ev]!;
    trueProbability[i] = e.pClick[ev]!;
  }

  return {
    schema,
    size: n,
    labels,
    groups,
    trueProbability,
    batch(indices: Int32Array): InputsOf<S> {
      const B = indices.length;
      for (let r = 0; r < B; r++)
        if (!(indices[r]! >= 0 && indices[r]! < n))
          throw new RangeError(`${name}: sample index ${indices[r]} at batch position ${r} is outside [0, ${n})`);
      const out: Record<string, HostTensor> = {};
      const i32 = (f: string, get: (ev: number) => number) => {
        if (!decl(f)) return;
        const a = new Int32Array(B);
        for (let r = 0; r < B; r++) a[r] = get(events[indices[r]!]!);
        out[f] = { dtype: 'int32', shape: [B], data: a };
      };
      const f32 = (f: string, get: (ev: number) => number) => {
        if (!decl(f)) return;
        const a = new Float32Array(B);
        for (let r = 0; r < B; r++) a[r] = get(events[indices[r]!]!);
        out[f] = { dtype: 'float32', shape: [B], data: a };
      };
      i32('user', (ev) => e.user[ev]!);
      i32('item', (ev) => e.item[ev]!);
      i32('candidate', (ev) => e.item[ev]!);
      i32('shop', (ev) => world.itemShop[e.item[ev]!]!);
      i32('category', (ev) => world.itemCategory[e.item[ev]!]!);
      i32('candidateCategory', (ev) => world.itemCategory[e.item[ev]!]!);
      f32('clickLabel', (ev) => e.click[ev]!);
      f32('label', (ev) => e.click[ev]!);
      f32('convLabel', (ev) => e.conv[ev]!);
      f32('cartLabel', (ev) => e.cart[ev]!);
      for (const [group, g] of Object.entries(SEQ_GROUPS)) {
        const L = seqLen.get(group);
        if (L === undefined) continue;
        const users = new Int32Array(B),
          times = new Float64Array(B);
        for (let r = 0; r < B; r++) {
          const ev = events[indices[r]!]!;
          users[r] = e.user[ev]!;
          times[r] = e.time[ev]!;
        }
        const list = group === 'behaviour' ? (opts.behaviours ?? 'super') : g.list;
        const { item, shop, category: cat, mask } = keepClickSequences(world, list, users, times, L);
        const put = (f: string | undefined, data: Int32Array | Uint8Array, dtype: 'int32' | 'bool') => {
          if (f !== undefined && decl(f)) out[f] = { dtype, shape: [B, L], data } as HostTensor;
        };
        put(g.item, item, 'int32');
        put(g.shop, shop, 'int32');
        put(g.category, cat, 'int32');
        put(g.mask, mask, 'bool');
      }
      if (kdim > 0) {
        const k = opts.knowledge!;
        let rows: Float32Array;
        if ('table' in k) {
          rows = new Float32Array(B * kdim);
          for (let r = 0; r < B; r++) rows.set(k.table.subarray(indices[r]! * kdim, (indices[r]! + 1) * kdim), r * kdim);
        } else {
          rows = k.of(indices);
          if (rows.length !== B * kdim)
            throw new Error(
              `${name}: the knowledge function returned ${rows.length} values for ${B} samples of width ${kdim} (expected ${B * kdim})`,
            );
        }
        out['knowledge'] = { dtype: 'float32', shape: [B, kdim], data: rows };
      }
      return out as InputsOf<S>;
    },
  };
}

/**
 * The samples of `a` followed by those of `b` (same schema), e.g. super-domain samples merged into a sub-domain training set (Sample
 * Merging).
 */
export function concatKeepSources<S extends FeatureSchema>(a: SampleSource<S>, b: SampleSource<S>): SampleSource<S> {
  const n = a.size + b.size;
  const cat = <T extends Uint8Array | Int32Array | Float32Array>(x: T, y: T, make: (n: number) => T): T => {
    const o = make(n);
    o.set(x, 0);
    o.set(y, a.size);
    return o;
  };
  const tp = a.trueProbability && b.trueProbability ? cat(a.trueProbability, b.trueProbability, (m) => new Float32Array(m)) : undefined;
  return {
    schema: a.schema,
    size: n,
    labels: cat(a.labels, b.labels, (m) => new Uint8Array(m)),
    groups: cat(a.groups, b.groups, (m) => new Int32Array(m)),
    ...(tp ? { trueProbability: tp } : {}),
    batch(indices: Int32Array): InputsOf<S> {
      // split by source, keep the batch order
      const B = indices.length;
      const ia: number[] = [],
        ib: number[] = [],
        from = new Uint8Array(B);
      for (let r = 0; r < B; r++) {
        const i = indices[r]!;
        if (!(i >= 0 && i < n)) throw new RangeError(`merged keep source: sample index ${i} at batch position ${r} is outside [0, ${n})`);
        if (i < a.size) ia.push(i);
        else {
          ib.push(i - a.size);
          from[r] = 1;
        }
      }
      const ba = a.batch(Int32Array.from(ia)) as Record<string, HostTensor>,
        bb = b.batch(Int32Array.from(ib)) as Record<string, HostTensor>;
      const out: Record<string, HostTensor> = {};
      for (const [f, ta] of Object.entries(ba)) {
        const tb = bb[f]!;
        const row = ta.shape.slice(1).reduce((p, d) => p * d, 1);
        const data = new (ta.data.constructor as new (m: number) => typeof ta.data)(B * row);
        let pa = 0,
          pb = 0;
        for (let r = 0; r < B; r++) {
          if (from[r]) {
            data.set((tb.data as Int32Array).subarray(pb * row, (pb + 1) * row) as never, r * row);
            pb++;
          } else {
            data.set((ta.data as Int32Array).subarray(pa * row, (pa + 1) * row) as never, r * row);
            pa++;
          }
        }
        out[f] = { dtype: ta.dtype, shape: [B, ...ta.shape.slice(1)], data } as HostTensor;
      }
      return out as InputsOf<S>;
    },
  };
}
