/**
 * The KEEP world (SPEC.md "Synthetic world", super-domain vs sub-domain; papers/keep-cikm2022.txt):
 * the same users act in a rich SUPER-domain (every day, several product types, many impressions)
 * and in a sparse SUB-domain (ads: the last `subDays` days, a few impressions a day, only the
 * advertised items). Both domains draw clicks from the same latent interests, so what an extractor
 * learns on the super-domain transfers.
 *
 * Generative process (every draw from Rng(hashSeed(seed, ...)), so a seed fixes every byte):
 * - topics: `categories` unit vectors t_k ∈ R^latentDim; an item has a category k (uniform), a shop
 *   (one of the shops whose main category is k), a product type (uniform), an `ad` flag (share
 *   adShare), a vector φ_i = normalise(t_k + itemOffset · n), n ~ N(0, I), and a bias b_i ~ N(0, itemBiasStd²);
 * - users: a sparse interest mix π_u ~ Dirichlet(interestAlpha) over the categories, θ_u = Σ_k π_uk t_k,
 *   a bias b_u ~ N(0, userBiasStd²); in the sub-domain θ^sub_u = (1 - subOwnInterest) θ_u + subOwnInterest θ'_u,
 *   θ' from a second Dirichlet draw (a sub-domain-only tilt);
 * - impressions: per user and day Poisson(superPerDay) super-domain impressions (days 0..superDays-1)
 *   and Poisson(subPerDay) sub-domain ones (the last subDays days, ads only); the exposure picks a
 *   category from π_u with probability exposureInterest (else any category), then a uniform item
 *   of it (an ad in the sub-domain); the time is a uniform second of the day;
 * - labels, nested: click ~ σ(clickScale ⟨θ, φ_i⟩ + b_u + b_i + b_type + bias_domain); only after a
 *   click, conversion ~ σ(convScale ⟨θ, φ_i⟩ + b_i / 2 + convBias) and add-to-cart ~
 *   σ(cartScale ⟨θ, φ_i⟩ + cartBias); the true probabilities are kept (Bayes AUC): pClick, and
 *   pConv / pCart given a click.
 * Behaviour sequences: the user's super-domain clicks strictly before the sample's time (the last L,
 * oldest first). Splits by time: the last `evalDays` days are the eval window of both domains;
 * before it lie the training days (keepSplit).
 */
import { Rng, hashSeed } from '@lctr/spec';

export interface KeepWorldConfig {
  /** seeds every draw */
  readonly seed: number;
  readonly users: number;
  readonly items: number;
  /** shops (>= categories): shop s sells category s % categories */
  readonly shops: number;
  /** categories = latent topics */
  readonly categories: number;
  /** super-domain product types, each with its own click bias */
  readonly productTypes: number;
  /** size of the latent space of topics, users and items */
  readonly latentDim: number;
  /** Dirichlet concentration of a user's interest mix (small = sparse) */
  readonly interestAlpha: number;
  /** noise added to an item's topic vector before normalising */
  readonly itemOffset: number;
  /** days of the super-domain (0 .. superDays - 1) */
  readonly superDays: number;
  /** the sub-domain's days: the last subDays of the super-domain's */
  readonly subDays: number;
  /** the last evalDays days are the eval window of both domains (< subDays) */
  readonly evalDays: number;
  /** mean super-domain impressions per user and day (Poisson) */
  readonly superPerDay: number;
  /** mean sub-domain impressions per user and day (Poisson) */
  readonly subPerDay: number;
  /** share of items that are ads (the sub-domain's candidates) */
  readonly adShare: number;
  /** probability that an impression's category is drawn from the user's interests (else uniform) */
  readonly exposureInterest: number;
  readonly clickScale: number;
  /** click bias of the super-domain */
  readonly clickBias: number;
  /** click bias of the sub-domain */
  readonly subClickBias: number;
  /** weight of the sub-domain-only interest in θ^sub (0 = the same interests in both domains) */
  readonly subOwnInterest: number;
  readonly userBiasStd: number;
  readonly itemBiasStd: number;
  readonly productTypeBiasStd: number;
  readonly convScale: number;
  readonly convBias: number;
  readonly cartScale: number;
  readonly cartBias: number;
}

export const DEFAULT_KEEP_WORLD_CONFIG: KeepWorldConfig = Object.freeze({
  seed: 1,
  users: 500,
  items: 2000,
  shops: 100,
  categories: 16,
  productTypes: 3,
  latentDim: 8,
  interestAlpha: 0.2,
  itemOffset: 0.4,
  superDays: 28,
  subDays: 7,
  evalDays: 2,
  superPerDay: 8,
  subPerDay: 3,
  adShare: 0.3,
  exposureInterest: 0.5,
  clickScale: 4,
  clickBias: -1.5,
  subClickBias: -1.8,
  subOwnInterest: 0.25,
  userBiasStd: 0.5,
  itemBiasStd: 0.5,
  productTypeBiasStd: 0.4,
  convScale: 2,
  convBias: -1,
  cartScale: 1.5,
  cartBias: -0.5,
});

/** A small world for tests and quick runs (about 1 s to generate). */
export const SMALL_KEEP_WORLD_CONFIG: Partial<KeepWorldConfig> = Object.freeze({
  users: 120,
  items: 400,
  shops: 24,
  categories: 8,
  superDays: 14,
  subDays: 5,
  superPerDay: 6,
});

export class KeepWorldConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeepWorldConfigError';
  }
}

const INT_FIELDS = [
  'seed',
  'users',
  'items',
  'shops',
  'categories',
  'productTypes',
  'latentDim',
  'superDays',
  'subDays',
  'evalDays',
] as const;
const NUMBER_FIELDS = [
  'interestAlpha',
  'itemOffset',
  'superPerDay',
  'subPerDay',
  'adShare',
  'exposureInterest',
  'clickScale',
  'clickBias',
  'subClickBias',
  'subOwnInterest',
  'userBiasStd',
  'itemBiasStd',
  'productTypeBiasStd',
  'convScale',
  'convBias',
  'cartScale',
  'cartBias',
] as const;

/** Defaults filled and every field checked; errors read `keep world: <field> must be <expected>, got <value>`. */
export function resolveKeepWorldConfig(partial: Partial<KeepWorldConfig> = {}): KeepWorldConfig {
  const fail = (f: string, expected: string, got: unknown): never => {
    throw new KeepWorldConfigError(`keep world: ${f} must be ${expected}, got ${JSON.stringify(got)}`);
  };
  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULT_KEEP_WORLD_CONFIG))
      throw new KeepWorldConfigError(`keep world: '${k}' is not a field (known: ${Object.keys(DEFAULT_KEEP_WORLD_CONFIG).join(', ')})`);
  }
  const c = { ...DEFAULT_KEEP_WORLD_CONFIG, ...partial };
  for (const f of INT_FIELDS) {
    const v = c[f],
      min = f === 'seed' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 4294967295) fail(f, `an integer >= ${min}`, v);
  }
  for (const f of NUMBER_FIELDS) if (typeof c[f] !== 'number' || !Number.isFinite(c[f])) fail(f, 'a finite number', c[f]);
  for (const f of ['interestAlpha', 'superPerDay', 'subPerDay'] as const) if (!(c[f] > 0)) fail(f, 'a number > 0', c[f]);
  for (const f of ['itemOffset', 'userBiasStd', 'itemBiasStd', 'productTypeBiasStd', 'clickScale', 'convScale', 'cartScale'] as const)
    if (c[f] < 0) fail(f, 'a number >= 0', c[f]);
  for (const f of ['adShare', 'exposureInterest', 'subOwnInterest'] as const) if (c[f] < 0 || c[f] > 1) fail(f, 'a number in [0, 1]', c[f]);
  if (c.shops < c.categories) fail('shops', `an integer >= categories (${c.categories}): every category needs a shop`, c.shops);
  if (c.subDays > c.superDays) fail('subDays', `an integer <= superDays (${c.superDays})`, c.subDays);
  if (c.evalDays >= c.subDays) fail('evalDays', `an integer < subDays (${c.subDays}): the sub-domain needs a training day`, c.evalDays);
  if (c.items < c.categories) fail('items', `an integer >= categories (${c.categories})`, c.items);
  return c;
}

export const KEEP_SUPER = 0;
export const KEEP_SUB = 1;
export type KeepDomain = 'super' | 'sub';

/** Impressions of both domains, user-major, by time within a user (ties: super before sub, then draw order). */
export interface KeepEvents {
  readonly user: Int32Array;
  readonly item: Int32Array;
  /** KEEP_SUPER or KEEP_SUB */
  readonly domain: Uint8Array;
  readonly day: Int32Array;
  /** seconds since day 0 */
  readonly time: Int32Array;
  readonly click: Uint8Array;
  /** 0 unless clicked */
  readonly conv: Uint8Array;
  /** 0 unless clicked */
  readonly cart: Uint8Array;
  /** true click probability */
  readonly pClick: Float32Array;
  /** true conversion probability given a click */
  readonly pConv: Float32Array;
  /** true add-to-cart probability given a click */
  readonly pCart: Float32Array;
}

export interface KeepWorld {
  readonly config: KeepWorldConfig;
  /** number of impressions (both domains) */
  readonly size: number;
  readonly events: KeepEvents;
  /** per item */
  readonly itemShop: Int32Array;
  readonly itemCategory: Int32Array;
  readonly itemProductType: Int32Array;
  readonly itemAd: Uint8Array;
  /** events of user u: userStart[u] .. userStart[u + 1] - 1 */
  readonly userStart: Int32Array;
  /** super-domain clicks of user u (event indices, by time): superClicks[superClickStart[u] .. superClickStart[u + 1] - 1] */
  readonly superClickStart: Int32Array;
  readonly superClicks: Int32Array;
  /** the same for sub-domain clicks */
  readonly subClickStart: Int32Array;
  readonly subClicks: Int32Array;
  /** the latent truth */
  readonly truth: {
    /** π_u [users, categories] */
    readonly interest: Float32Array;
    /** θ_u and θ^sub_u [users, latentDim] */
    readonly userVec: Float32Array;
    readonly subUserVec: Float32Array;
    /** φ_i [items, latentDim] */
    readonly itemVec: Float32Array;
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function gamma(rng: Rng, a: number): number {
  if (a < 1) return gamma(rng, a + 1) * Math.pow(Math.max(rng.next(), 1e-300), 1 / a);
  const d = a - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(Math.max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}
function dirichlet(rng: Rng, k: number, alpha: number): Float64Array {
  const g = new Float64Array(k);
  let s = 0;
  for (let i = 0; i < k; i++) {
    g[i] = gamma(rng, alpha);
    s += g[i]!;
  }
  if (!(s > 0)) {
    g.fill(0);
    g[rng.int(k)] = 1;
    return g;
  }
  for (let i = 0; i < k; i++) g[i]! /= s;
  return g;
}
function poisson(rng: Rng, mean: number): number {
  const l = Math.exp(-mean);
  let k = 0,
    p = rng.next();
  while (p > l) {
    k++;
    p *= rng.next();
  }
  return k;
}
function pick(rng: Rng, w: Float64Array): number {
  let u = rng.next(),
    i = 0;
  for (; i < w.length - 1; i++) {
    u -= w[i]!;
    if (u < 0) return i;
  }
  return i;
}
function normalise(v: Float64Array): void {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
}

/** Generate the KEEP world of this config (same config, same bytes). */
export function generateKeepWorld(partial: Partial<KeepWorldConfig> = {}): KeepWorld {
  const c = resolveKeepWorldConfig(partial);
  const K = c.categories,
    D = c.latentDim,
    U = c.users,
    I = c.items;
  const rng = (...p: Array<string | number>) => new Rng(hashSeed(c.seed, 'keep-world', ...p));

  const topics = new Float64Array(K * D);
  {
    const r = rng('topics');
    for (let k = 0; k < K; k++) {
      const v = new Float64Array(D);
      for (let d = 0; d < D; d++) v[d] = r.normal();
      normalise(v);
      topics.set(v, k * D);
    }
  }

  const itemShop = new Int32Array(I),
    itemCategory = new Int32Array(I),
    itemProductType = new Int32Array(I),
    itemAd = new Uint8Array(I);
  const itemVec = new Float32Array(I * D),
    itemBias = new Float64Array(I);
  const shopsOf: number[][] = Array.from({ length: K }, () => []);
  for (let s = 0; s < c.shops; s++) shopsOf[s % K]!.push(s);
  const byCat: number[][] = Array.from({ length: K }, () => []),
    adsByCat: number[][] = Array.from({ length: K }, () => []),
    ads: number[] = [];
  {
    const r = rng('items');
    for (let i = 0; i < I; i++) {
      // the first K items cover every category once, so no category is empty
      const k = i < K ? i : r.int(K);
      itemCategory[i] = k;
      const shops = shopsOf[k]!;
      itemShop[i] = shops[r.int(shops.length)]!;
      itemProductType[i] = r.int(c.productTypes);
      itemAd[i] = r.next() < c.adShare ? 1 : 0;
      const v = new Float64Array(D);
      for (let d = 0; d < D; d++) v[d] = topics[k * D + d]! + c.itemOffset * r.normal();
      normalise(v);
      for (let d = 0; d < D; d++) itemVec[i * D + d] = v[d]!;
      itemBias[i] = c.itemBiasStd * r.normal();
      byCat[k]!.push(i);
      if (itemAd[i]) {
        adsByCat[k]!.push(i);
        ads.push(i);
      }
    }
    if (ads.length === 0) {
      itemAd[0] = 1;
      ads.push(0);
      adsByCat[itemCategory[0]!]!.push(0);
    }
  }
  const typeBias = new Float64Array(c.productTypes);
  {
    const r = rng('types');
    for (let t = 0; t < c.productTypes; t++) typeBias[t] = c.productTypeBiasStd * r.normal();
  }

  const interest = new Float32Array(U * K),
    userVec = new Float32Array(U * D),
    subUserVec = new Float32Array(U * D);
  const cols = {
    user: [] as number[],
    item: [] as number[],
    domain: [] as number[],
    day: [] as number[],
    time: [] as number[],
    click: [] as number[],
    conv: [] as number[],
    cart: [] as number[],
    pClick: [] as number[],
    pConv: [] as number[],
    pCart: [] as number[],
  };
  const userStart = new Int32Array(U + 1);
  const subStart = c.superDays - c.subDays;
  for (let u = 0; u < U; u++) {
    const r = rng('user', u);
    const pi = dirichlet(r, K, c.interestAlpha),
      pi2 = dirichlet(r, K, c.interestAlpha);
    const bu = c.userBiasStd * r.normal();
    const th = new Float64Array(D),
      th2 = new Float64Array(D);
    for (let k = 0; k < K; k++) {
      interest[u * K + k] = pi[k]!;
      for (let d = 0; d < D; d++) {
        th[d]! += pi[k]! * topics[k * D + d]!;
        th2[d]! += pi2[k]! * topics[k * D + d]!;
      }
    }
    for (let d = 0; d < D; d++) {
      userVec[u * D + d] = th[d]!;
      subUserVec[u * D + d] = (1 - c.subOwnInterest) * th[d]! + c.subOwnInterest * th2[d]!;
    }
    const evs: Array<{
      item: number;
      domain: number;
      day: number;
      time: number;
      order: number;
      click: number;
      conv: number;
      cart: number;
      pClick: number;
      pConv: number;
      pCart: number;
    }> = [];
    for (let day = 0; day < c.superDays; day++) {
      for (const domain of [KEEP_SUPER, KEEP_SUB]) {
        if (domain === KEEP_SUB && day < subStart) continue;
        const n = poisson(r, domain === KEEP_SUPER ? c.superPerDay : c.subPerDay);
        for (let e = 0; e < n; e++) {
          const k = r.next() < c.exposureInterest ? pick(r, pi) : r.int(K);
          let item: number;
          if (domain === KEEP_SUPER) item = byCat[k]![r.int(byCat[k]!.length)]!;
          else {
            const pool = adsByCat[k]!.length ? adsByCat[k]! : ads;
            item = pool[r.int(pool.length)]!;
          }
          const vec = domain === KEEP_SUPER ? userVec : subUserVec;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += vec[u * D + d]! * itemVec[item * D + d]!;
          const bias = domain === KEEP_SUPER ? c.clickBias + typeBias[itemProductType[item]!]! : c.subClickBias;
          const pClick = sigmoid(c.clickScale * dot + bu + itemBias[item]! + bias);
          const pConv = sigmoid(c.convScale * dot + itemBias[item]! / 2 + c.convBias);
          const pCart = sigmoid(c.cartScale * dot + c.cartBias);
          const click = r.next() < pClick ? 1 : 0;
          const conv = click && r.next() < pConv ? 1 : 0;
          const cart = click && r.next() < pCart ? 1 : 0;
          evs.push({ item, domain, day, time: day * 86400 + r.int(86400), order: evs.length, click, conv, cart, pClick, pConv, pCart });
        }
      }
    }
    evs.sort((a, b) => a.time - b.time || a.domain - b.domain || a.order - b.order);
    for (const e of evs) {
      cols.user.push(u);
      cols.item.push(e.item);
      cols.domain.push(e.domain);
      cols.day.push(e.day);
      cols.time.push(e.time);
      cols.click.push(e.click);
      cols.conv.push(e.conv);
      cols.cart.push(e.cart);
      cols.pClick.push(e.pClick);
      cols.pConv.push(e.pConv);
      cols.pCart.push(e.pCart);
    }
    userStart[u + 1] = cols.user.length;
  }
  const events: KeepEvents = {
    user: Int32Array.from(cols.user),
    item: Int32Array.from(cols.item),
    domain: Uint8Array.from(cols.domain),
    day: Int32Array.from(cols.day),
    time: Int32Array.from(cols.time),
    click: Uint8Array.from(cols.click),
    conv: Uint8Array.from(cols.conv),
    cart: Uint8Array.from(cols.cart),
    pClick: Float32Array.from(cols.pClick),
    pConv: Float32Array.from(cols.pConv),
    pCart: Float32Array.from(cols.pCart),
  };
  const clicksOf = (domain: number) => {
    const start = new Int32Array(U + 1),
      list: number[] = [];
    for (let u = 0; u < U; u++) {
      for (let e = userStart[u]!; e < userStart[u + 1]!; e++) if (events.domain[e] === domain && events.click[e]) list.push(e);
      start[u + 1] = list.length;
    }
    return { start, list: Int32Array.from(list) };
  };
  const sup = clicksOf(KEEP_SUPER),
    sub = clicksOf(KEEP_SUB);
  return {
    config: c,
    size: events.user.length,
    events,
    itemShop,
    itemCategory,
    itemProductType,
    itemAd,
    userStart,
    superClickStart: sup.start,
    superClicks: sup.list,
    subClickStart: sub.start,
    subClicks: sub.list,
    truth: { interest, userVec, subUserVec, itemVec },
  };
}

export interface KeepSplitOptions {
  /** train split only: keep the last `days` training days (0 or absent = all of them) */
  readonly days?: number;
}

/**
 * The impressions of one domain in a split, by user then time. eval: the last evalDays days;
 * train: the days before (the super-domain from day 0, the sub-domain from its first day), or the
 * last `days` of them.
 */
export function keepSplit(world: KeepWorld, domain: KeepDomain, split: 'train' | 'eval', opts: KeepSplitOptions = {}): Int32Array {
  const c = world.config;
  const evalStart = c.superDays - c.evalDays;
  const days = opts.days ?? 0;
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`keepSplit: days must be an integer >= 0, got ${days}`);
  let from = split === 'eval' ? evalStart : domain === 'sub' ? c.superDays - c.subDays : 0;
  const to = split === 'eval' ? c.superDays : evalStart;
  if (split === 'train' && days > 0) from = Math.max(from, to - days);
  const want = domain === 'super' ? KEEP_SUPER : KEEP_SUB;
  const out: number[] = [];
  const e = world.events;
  for (let i = 0; i < world.size; i++) if (e.domain[i] === want && e.day[i]! >= from && e.day[i]! < to) out.push(i);
  return Int32Array.from(out);
}

/**
 * How many of user u's clicks in a click list (superClicks or subClicks with its starts) happened
 * strictly before `time`; the list positions start .. start + count - 1 are those clicks.
 */
export function clicksBefore(world: KeepWorld, list: 'super' | 'sub', user: number, time: number): { start: number; count: number } {
  const starts = list === 'super' ? world.superClickStart : world.subClickStart;
  const clicks = list === 'super' ? world.superClicks : world.subClicks;
  const lo0 = starts[user]!,
    hi0 = starts[user + 1]!;
  let lo = lo0,
    hi = hi0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (world.events.time[clicks[mid]!]! < time) lo = mid + 1;
    else hi = mid;
  }
  return { start: lo0, count: lo - lo0 };
}
