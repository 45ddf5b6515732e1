/**
 * Requests in the synthetic world (SPEC "Synthetic world", Requests; the IFA setting): one user,
 * a set of between minCandidates and C target items, an exposure policy that impresses some of
 * them, and clicks among the impressions with a redundancy effect, so that modelling the
 * candidate set as a whole pays.
 *
 * The process, per request (every probability is known, so each split has a Bayes AUC):
 * - user u = floor(index / perUser) (the first `users` users of the world), time t uniform in the
 *   split's window: train [start of the target days, splitTime), eval [splitTime, end); the user's
 *   source history is every source event strictly before t (the world's histories span the whole
 *   year, so a request sees almost all of them);
 * - candidates: c ~ uniform {minCandidates..C} distinct target items; each is, with probability
 *   candidateInterestShare, a random item of a topic drawn from the user's current interest mix,
 *   else a uniformly random target item;
 * - interest(u, i) = z_u · v_i, z_u the unit vector of the user's current interest mix (the
 *   world's click model: long-term interests incl. the dormant ones, plus the drift topic);
 * - exposure policy: a noisy ranking of the interest, p_imp = σ(impressionScale · ẑ_u · v_i +
 *   impressionBias) with ẑ_u = normalize(z_u + policyNoise · g_u), g_u ~ N(0, I/D) fixed per user
 *   (the policy's own, imperfect estimate of the user); impressions are independent Bernoullis;
 * - clicks among impressions: p = σ(clickScale · interest + user bias + item bias + clickBias
 *   − redundancy · n), n = the number of OTHER impressed candidates of the same topic.
 * A model sees the candidate set, not which candidates were impressed, so its best click score is
 * E[p | the request] over the other candidates' impressions (exact: the count n is Poisson-binomial);
 * that is the `pClick` the Bayes AUCs use (the realised p given the drawn impressions is `pClickDrawn`).
 *
 * Cross features (bucketised counts, bucket(n) = 0 for n = 0, else min(crossBuckets - 1, 1 + floor(log2 n))):
 * column 0 = the user's source events of the candidate's category among the last crossWindow
 * source events before t; column 1 = the user's target clicks (world events) in the candidate's
 * category before t.
 *
 * A request is a pure function of (world, config, seed, split, index).
 */
import { Rng, hashSeed } from '@lctr/spec';
import { SOURCE, TARGET } from '../event-log.ts';
import { exactAuc } from './auc.ts';
import type { World } from './world.ts';

export type RequestSplit = 'train' | 'eval';

export interface RequestConfig {
  /** C: the most candidates a request holds (the padded width) */
  readonly candidates: number;
  /** the fewest candidates a request holds; 0 = ceil(C / 2) */
  readonly minCandidates: number;
  /** share of candidates drawn from the user's current interests (else uniformly random target items) */
  readonly candidateInterestShare: number;
  /** requests per user in the train split and in the eval split */
  readonly requestsPerUser: number;
  readonly evalRequestsPerUser: number;
  /** requests are made for users 0..users-1; 0 = every user of the world */
  readonly users: number;
  /** exposure policy: p_imp = σ(impressionScale · policy interest + impressionBias) */
  readonly impressionScale: number;
  readonly impressionBias: number;
  /** how far the policy's user vector is from the true one (0 = the true interest) */
  readonly policyNoise: number;
  /** click among impressions: σ(clickScale · interest + user bias + item bias + clickBias − redundancy · n) */
  readonly clickScale: number;
  readonly clickBias: number;
  readonly redundancy: number;
  /** cross column 0 counts the category among the last crossWindow source events */
  readonly crossWindow: number;
  /** cardinality of each cross column */
  readonly crossBuckets: number;
}

export const DEFAULT_REQUEST_CONFIG: RequestConfig = Object.freeze({
  candidates: 20,
  minCandidates: 0,
  candidateInterestShare: 0.5,
  requestsPerUser: 8,
  evalRequestsPerUser: 2,
  users: 0,
  impressionScale: 4,
  impressionBias: -1,
  policyNoise: 0.5,
  clickScale: 5,
  clickBias: -2,
  redundancy: 0.7,
  crossWindow: 50,
  crossBuckets: 8,
});

/** Number of cross columns (user x item) a request carries. */
export const REQUEST_CROSS_COLUMNS = 2;

export class RequestConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestConfigError';
  }
}

/** Fill `partial` with the defaults and validate it against the world (errors name the field, expected and actual). */
export function resolveRequestConfig(partial: Partial<RequestConfig> = {}, world?: World): RequestConfig {
  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULT_REQUEST_CONFIG))
      throw new RequestConfigError(`request config: unknown field '${k}'; known fields: ${Object.keys(DEFAULT_REQUEST_CONFIG).join(', ')}`);
  }
  const c: RequestConfig = { ...DEFAULT_REQUEST_CONFIG, ...partial };
  const bad = (field: string, expected: string, got: unknown) =>
    new RequestConfigError(`request config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
  const int = (k: keyof RequestConfig, min: number) => {
    if (!Number.isInteger(c[k]) || (c[k] as number) < min) throw bad(k, `an integer >= ${min}`, c[k]);
  };
  int('candidates', 1);
  int('minCandidates', 0);
  int('requestsPerUser', 1);
  int('evalRequestsPerUser', 1);
  int('users', 0);
  int('crossWindow', 1);
  int('crossBuckets', 2);
  if (c.minCandidates > c.candidates) throw bad('minCandidates', `<= candidates (${c.candidates})`, c.minCandidates);
  if (typeof c.candidateInterestShare !== 'number' || !(c.candidateInterestShare >= 0 && c.candidateInterestShare <= 1))
    throw bad('candidateInterestShare', 'a number in [0, 1]', c.candidateInterestShare);
  for (const k of ['impressionScale', 'policyNoise', 'clickScale', 'redundancy'] as const) {
    if (typeof c[k] !== 'number' || !(c[k] >= 0) || !Number.isFinite(c[k])) throw bad(k, 'a finite number >= 0', c[k]);
  }
  for (const k of ['impressionBias', 'clickBias'] as const)
    if (typeof c[k] !== 'number' || !Number.isFinite(c[k])) throw bad(k, 'a finite number', c[k]);
  if (world) {
    if (c.users > world.config.users) throw bad('users', `<= the world's users (${world.config.users}), or 0 for all`, c.users);
    if (2 * c.candidates > world.config.targetItems)
      throw bad(
        'candidates',
        `<= half the world's target items (${world.config.targetItems / 2}) so distinct candidates are easy to draw`,
        c.candidates,
      );
  }
  return Object.freeze(c);
}

/** One request, as generateRequest returns it (arrays of length `items.length`, the valid candidates). */
export interface Request {
  readonly split: RequestSplit;
  readonly index: number;
  readonly user: number;
  /** request time (seconds); the history is the source events strictly before it */
  readonly time: number;
  /** world target item ids of the candidates */
  readonly items: Int32Array;
  readonly topics: Int32Array;
  /** target-domain category ids (world ids) */
  readonly categories: Int32Array;
  /** [items.length, REQUEST_CROSS_COLUMNS] */
  readonly cross: Int32Array;
  readonly impression: Uint8Array;
  readonly click: Uint8Array;
  /** true impression probability */
  readonly pImpression: Float32Array;
  /** p(click | impression, the request): the expectation over the other candidates' impressions */
  readonly pClick: Float32Array;
  /** p(click | impression, the drawn impressions) (the probability the click was drawn with) */
  readonly pClickDrawn: Float32Array;
  /** number of OTHER impressed candidates of the same topic */
  readonly sameTopicImpressed: Int32Array;
  /** number of the user's source events strictly before `time` (the history the sequence is cut from) */
  readonly history: number;
}

/** Everything per world (and seed) that requests share: computed once by requestContext. */
export interface RequestContext {
  readonly world: World;
  readonly config: RequestConfig;
  readonly seed: number;
  /** users requests are made for */
  readonly users: number;
  /** [users, D]: true current interest vector z_u and the policy's ẑ_u */
  readonly userVector: Float64Array;
  readonly policyVector: Float64Array;
  /** cumulative current interest mix per user [users, T] */
  readonly mixCum: Float64Array;
  /** target items by topic: items of topic k are topicMembers[topicStart[k] .. topicStart[k + 1] - 1] */
  readonly topicStart: Int32Array;
  readonly topicMembers: Int32Array;
  /** source category id of each target-domain category (world ids) */
  readonly sourceCategoryOf: Int32Array;
  /** log positions of source events, grouped by user (userSourceFirst[u] .. userSourceFirst[u + 1] - 1), time ordered */
  readonly sourcePositions: Int32Array;
  readonly userSourceFirst: Int32Array;
  /** the split windows [from, to) of request times */
  readonly windows: { readonly train: readonly [number, number]; readonly eval: readonly [number, number] };
}

const DAY = 86_400;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** bucket(n) = 0 for n = 0, else min(buckets - 1, 1 + floor(log2 n)) */
export function crossBucket(n: number, buckets: number): number {
  if (n <= 0) return 0;
  return Math.min(buckets - 1, 1 + Math.floor(Math.log2(n)));
}

export function requestContext(world: World, config: Partial<RequestConfig> = {}, seed = 1): RequestContext {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new RequestConfigError(`request config: seed must be an integer in 0..4294967295, got ${seed}`);
  const c = resolveRequestConfig(config, world);
  const wc = world.config,
    tr = world.truth,
    log = world.log;
  const T = wc.topics,
    D = wc.topicDim;
  const U = c.users || wc.users;
  const userVector = new Float64Array(U * D),
    policyVector = new Float64Array(U * D),
    mixCum = new Float64Array(U * T);
  const mix = new Float64Array(T);
  for (let u = 0; u < U; u++) {
    // the world's current mix: (1 - driftWeight) theta + driftWeight e_drift (world.ts), z = its normalised vector
    let s = 0;
    for (let k = 0; k < T; k++) {
      mix[k] = (1 - wc.driftWeight) * tr.userInterest[u * T + k]! + (k === tr.userDrift[u] ? wc.driftWeight : 0);
      s += mix[k]!;
      mixCum[u * T + k] = s;
    }
    const z = userVector.subarray(u * D, (u + 1) * D),
      zp = policyVector.subarray(u * D, (u + 1) * D);
    for (let k = 0; k < T; k++) for (let j = 0; j < D; j++) z[j]! += mix[k]! * tr.topicVectors[k * D + j]!;
    normalise(z);
    const rng = new Rng(hashSeed('ifa-requests', seed, 'policy', u));
    for (let j = 0; j < D; j++) zp[j] = z[j]! + (c.policyNoise * rng.normal()) / Math.sqrt(D);
    normalise(zp);
  }
  const nT = wc.targetItems;
  const topicStart = new Int32Array(T + 1);
  for (let i = 0; i < nT; i++) topicStart[tr.targetItemTopic[i]! + 1]!++;
  for (let k = 0; k < T; k++) topicStart[k + 1]! += topicStart[k]!;
  const topicMembers = new Int32Array(nT),
    fill = topicStart.slice(0, T);
  for (let i = 0; i < nT; i++) topicMembers[fill[tr.targetItemTopic[i]!]!++] = i;
  const cats = Math.ceil(T / wc.topicsPerCategory);
  const sourceCategoryOf = Int32Array.from({ length: cats }, (_, k) => (wc.sharedCategories ? k : cats + k));

  const userSourceFirst = new Int32Array(U + 1);
  let count = 0;
  for (let u = 0; u < U; u++) for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) if (log.domain[i] === SOURCE) count++;
  const sourcePositions = new Int32Array(count);
  let k = 0;
  for (let u = 0; u < U; u++) {
    userSourceFirst[u] = k;
    for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) if (log.domain[i] === SOURCE) sourcePositions[k++] = i;
  }
  userSourceFirst[U] = k;
  const tTarget = Math.floor((wc.days - wc.targetDays) * DAY),
    tEnd = Math.floor(wc.days * DAY);
  return {
    world,
    config: c,
    seed,
    users: U,
    userVector,
    policyVector,
    mixCum,
    topicStart,
    topicMembers,
    sourceCategoryOf,
    sourcePositions,
    userSourceFirst,
    windows: { train: [tTarget, world.splitTime], eval: [world.splitTime, tEnd] },
  };
}

function normalise(v: Float64Array): void {
  let n = 0;
  for (let j = 0; j < v.length; j++) n += v[j]! * v[j]!;
  n = Math.sqrt(n) || 1;
  for (let j = 0; j < v.length; j++) v[j]! /= n;
}

/** Number of requests of a split. */
export function requestCount(ctx: RequestContext, split: RequestSplit): number {
  return ctx.users * (split === 'train' ? ctx.config.requestsPerUser : ctx.config.evalRequestsPerUser);
}

/** Index (into ctx.sourcePositions) one past the user's last source event with timestamp < t. */
export function historyEnd(ctx: RequestContext, u: number, t: number): number {
  const ts = ctx.world.log.timestamp,
    pos = ctx.sourcePositions;
  let a = ctx.userSourceFirst[u]!,
    z = ctx.userSourceFirst[u + 1]!;
  while (a < z) {
    const m = (a + z) >>> 1;
    if (ts[pos[m]!]! < t) a = m + 1;
    else z = m;
  }
  return a;
}

/** The request `index` of `split`: a pure function of (world, config, seed, split, index). */
export function generateRequest(ctx: RequestContext, split: RequestSplit, index: number): Request {
  const n = requestCount(ctx, split);
  if (!Number.isInteger(index) || index < 0 || index >= n)
    throw new RangeError(`generateRequest: index must be an integer in 0..${n - 1} (${split} split), got ${index}`);
  if (split !== 'train' && split !== 'eval')
    throw new RangeError(`generateRequest: split must be 'train' or 'eval', got ${JSON.stringify(split)}`);
  const c = ctx.config,
    w = ctx.world,
    wc = w.config,
    tr = w.truth,
    log = w.log;
  const T = wc.topics,
    D = wc.topicDim,
    C = c.candidates;
  const u = Math.floor(index / (split === 'train' ? c.requestsPerUser : c.evalRequestsPerUser));
  const rng = new Rng(hashSeed('ifa-requests', ctx.seed, split, index));
  const [from, to] = ctx.windows[split];
  const time = from + Math.floor(rng.next() * (to - from));
  const minC = c.minCandidates || Math.ceil(C / 2);
  const m = minC + rng.int(C - minC + 1);

  const items = new Int32Array(m),
    topics = new Int32Array(m),
    categories = new Int32Array(m);
  const chosen = new Set<number>();
  for (let k = 0; k < m; k++) {
    let item = -1;
    // a small topic may run out of unchosen items: after 20 draws, uniformly random items
    for (let tries = 0; item < 0 || chosen.has(item); tries++) {
      if (tries < 20 && rng.next() < c.candidateInterestShare) {
        const x = rng.next() * ctx.mixCum[u * T + T - 1]!;
        let topic = 0;
        while (topic < T - 1 && x >= ctx.mixCum[u * T + topic]!) topic++;
        const a = ctx.topicStart[topic]!,
          size = ctx.topicStart[topic + 1]! - a;
        item = size > 0 ? ctx.topicMembers[a + rng.int(size)]! : rng.int(wc.targetItems);
      } else item = rng.int(wc.targetItems);
    }
    chosen.add(item);
    items[k] = item;
    topics[k] = tr.targetItemTopic[item]!;
    categories[k] = tr.topicCategory[topics[k]!]!;
  }

  // exposure policy
  const interest = new Float64Array(m),
    pImpression = new Float32Array(m),
    impression = new Uint8Array(m);
  const pImp64 = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    let s = 0,
      sp = 0;
    for (let j = 0; j < D; j++) {
      const v = tr.targetItemVector[items[k]! * D + j]!;
      s += ctx.userVector[u * D + j]! * v;
      sp += ctx.policyVector[u * D + j]! * v;
    }
    interest[k] = s;
    pImp64[k] = sigmoid(c.impressionScale * sp + c.impressionBias);
    pImpression[k] = pImp64[k]!;
    impression[k] = rng.next() < pImp64[k]! ? 1 : 0;
  }
  // clicks among impressions, with the redundancy of the other impressed candidates of the same topic
  const click = new Uint8Array(m),
    pClick = new Float32Array(m),
    pClickDrawn = new Float32Array(m),
    same = new Int32Array(m);
  const dist = new Float64Array(C + 1);
  for (let k = 0; k < m; k++) {
    const base = c.clickScale * interest[k]! + tr.userBias[u]! + tr.targetItemBias[items[k]!]! + c.clickBias;
    // Poisson-binomial distribution of the other same-topic candidates' impressions
    dist.fill(0);
    dist[0] = 1;
    let others = 0,
      drawn = 0;
    for (let j = 0; j < m; j++) {
      if (j === k || topics[j] !== topics[k]) continue;
      const p = pImp64[j]!;
      for (let r = others + 1; r > 0; r--) dist[r] = dist[r]! * (1 - p) + dist[r - 1]! * p;
      dist[0] = dist[0]! * (1 - p);
      others++;
      drawn += impression[j]!;
    }
    let e = 0;
    for (let r = 0; r <= others; r++) e += dist[r]! * sigmoid(base - c.redundancy * r);
    pClick[k] = e;
    same[k] = drawn;
    const pd = sigmoid(base - c.redundancy * drawn);
    pClickDrawn[k] = pd;
    if (impression[k]) click[k] = rng.next() < pd ? 1 : 0;
  }

  // cross features
  const end = historyEnd(ctx, u, time),
    first = ctx.userSourceFirst[u]!;
  const cross = new Int32Array(m * REQUEST_CROSS_COLUMNS);
  const recent = new Map<number, number>();
  for (let i = Math.max(first, end - c.crossWindow); i < end; i++) {
    const cat = log.category[ctx.sourcePositions[i]!]!;
    recent.set(cat, (recent.get(cat) ?? 0) + 1);
  }
  const clicked = new Map<number, number>();
  for (let i = log.userStart[u]!; i < log.userStart[u + 1]! && log.timestamp[i]! < time; i++) {
    if (log.domain[i] === TARGET && log.label[i] === 1) clicked.set(log.category[i]!, (clicked.get(log.category[i]!) ?? 0) + 1);
  }
  for (let k = 0; k < m; k++) {
    cross[k * REQUEST_CROSS_COLUMNS] = crossBucket(recent.get(ctx.sourceCategoryOf[categories[k]!]!) ?? 0, c.crossBuckets);
    cross[k * REQUEST_CROSS_COLUMNS + 1] = crossBucket(clicked.get(categories[k]!) ?? 0, c.crossBuckets);
  }
  return {
    split,
    index,
    user: u,
    time,
    items,
    topics,
    categories,
    cross,
    impression,
    click,
    pImpression,
    pClick,
    pClickDrawn,
    sameTopicImpressed: same,
    history: end - first,
  };
}

export interface RequestSetStats {
  readonly requests: number;
  readonly candidates: number;
  readonly impressions: number;
  readonly clicks: number;
  /** clicks / impressions */
  readonly ctr: number;
  /** AUCs of the true probabilities (what no model can beat in expectation): */
  readonly bayesAuc: {
    /** pImpression vs impression over valid candidates */
    readonly impression: number;
    /** pClick vs click over impressed candidates */
    readonly click: number;
    /** pImpression · pClick vs click over valid candidates */
    readonly ranking: number;
  };
}

/** All requests of a split in padded columns: [size, C] (sample-major), padding = 0 and mask false. */
export interface RequestSet {
  readonly context: RequestContext;
  readonly split: RequestSplit;
  readonly size: number;
  /** C */
  readonly candidates: number;
  readonly user: Int32Array;
  readonly time: Float64Array;
  /** valid candidates of each request */
  readonly count: Int32Array;
  /** one past the request's last history event, as an index into context.sourcePositions */
  readonly historyEnd: Int32Array;
  /** [size, C] world target item ids (0 at padding: read with `mask`) */
  readonly item: Int32Array;
  readonly topic: Int32Array;
  readonly category: Int32Array;
  readonly mask: Uint8Array;
  /** [size, C, REQUEST_CROSS_COLUMNS] */
  readonly cross: Int32Array;
  readonly impression: Uint8Array;
  readonly click: Uint8Array;
  readonly pImpression: Float32Array;
  readonly pClick: Float32Array;
  readonly pClickDrawn: Float32Array;
  readonly sameTopicImpressed: Int32Array;
  readonly stats: RequestSetStats;
}

/** Generate every request of a split (generateRequest for index 0..n-1) into padded columns. */
export function generateRequests(ctx: RequestContext, split: RequestSplit): RequestSet {
  const n = requestCount(ctx, split),
    C = ctx.config.candidates,
    X = REQUEST_CROSS_COLUMNS;
  const user = new Int32Array(n),
    time = new Float64Array(n),
    count = new Int32Array(n),
    hEnd = new Int32Array(n);
  const item = new Int32Array(n * C),
    topic = new Int32Array(n * C),
    category = new Int32Array(n * C),
    mask = new Uint8Array(n * C);
  const cross = new Int32Array(n * C * X),
    impression = new Uint8Array(n * C),
    click = new Uint8Array(n * C);
  const pImpression = new Float32Array(n * C),
    pClick = new Float32Array(n * C),
    pClickDrawn = new Float32Array(n * C);
  const same = new Int32Array(n * C);
  for (let r = 0; r < n; r++) {
    const q = generateRequest(ctx, split, r),
      o = r * C;
    user[r] = q.user;
    time[r] = q.time;
    count[r] = q.items.length;
    hEnd[r] = ctx.userSourceFirst[q.user]! + q.history;
    item.set(q.items, o);
    topic.set(q.topics, o);
    category.set(q.categories, o);
    mask.fill(1, o, o + q.items.length);
    cross.set(q.cross, o * X);
    impression.set(q.impression, o);
    click.set(q.click, o);
    pImpression.set(q.pImpression, o);
    pClick.set(q.pClick, o);
    pClickDrawn.set(q.pClickDrawn, o);
    same.set(q.sameTopicImpressed, o);
  }
  const valid: number[] = [],
    impressed: number[] = [];
  let clicks = 0;
  for (let i = 0; i < n * C; i++) {
    if (!mask[i]) continue;
    valid.push(i);
    if (impression[i]) {
      impressed.push(i);
      clicks += click[i]!;
    }
  }
  const ranking = new Float32Array(n * C);
  for (let i = 0; i < n * C; i++) ranking[i] = pImpression[i]! * pClick[i]!;
  const stats: RequestSetStats = {
    requests: n,
    candidates: valid.length,
    impressions: impressed.length,
    clicks,
    ctr: impressed.length ? clicks / impressed.length : NaN,
    bayesAuc: {
      impression: exactAuc(impression, pImpression, valid),
      click: exactAuc(click, pClick, impressed),
      ranking: exactAuc(click, ranking, valid),
    },
  };
  return {
    context: ctx,
    split,
    size: n,
    candidates: C,
    user,
    time,
    count,
    historyEnd: hEnd,
    item,
    topic,
    category,
    mask,
    cross,
    impression,
    click,
    pImpression,
    pClick,
    pClickDrawn,
    sameTopicImpressed: same,
    stats,
  };
}
