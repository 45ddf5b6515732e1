/**
 * The synthetic world (SPEC "Synthetic world"): users with latent topic interests act in a rich
 * source domain (long histories with noise events) and a sparse target domain (impressions whose
 * clicks are drawn from a known probability). See packages/data/README.md for the process and why a
 * model that reads the cross-domain lifelong sequence can beat one that does not.
 */
import { Rng, hashSeed } from '@lctr/spec';
import { EventLogBuilder, SOURCE, TARGET, type EventLog, type EventLogMeta } from '../event-log.ts';
import { exactAuc } from './auc.ts';
import { resolveWorldConfig, type WorldConfig } from './config.ts';

/** Context column 0, `watchBucket`: 0 = no watch (target impressions), 1..k = short .. long watch. */
export const WATCH_NONE = 0;
/** Context column 1, `behaviourType`. */
export const BEHAVIOUR = Object.freeze({ impression: 0, view: 1, like: 2, share: 3 });

const DAY = 86_400;

/** The latent truth behind the log (for probes, tests and analysis; a model never sees it). */
export interface WorldTruth {
  /** [topics, topicDim], unit rows */
  readonly topicVectors: Float32Array;
  readonly targetItemTopic: Int32Array;
  readonly sourceItemTopic: Int32Array;
  /** [targetItems, topicDim] and [sourceItems, topicDim], unit rows */
  readonly targetItemVector: Float32Array;
  readonly sourceItemVector: Float32Array;
  readonly targetItemBias: Float32Array;
  /** category of each topic in the target domain (source: the same, offset by the target category count unless sharedCategories) */
  readonly topicCategory: Int32Array;
  /** [users, topics]: long-term interest mix theta (sums to 1 per user) */
  readonly userInterest: Float32Array;
  /** [users, topics]: 1 where an interest is dormant (absent from recent source events) */
  readonly userDormant: Uint8Array;
  /** the user's recent drift topic */
  readonly userDrift: Int32Array;
  readonly userBias: Float32Array;
  /** per event position: 1 for a noise source event (random item), else 0 */
  readonly noise: Uint8Array;
}

export interface SplitStats {
  readonly impressions: number;
  readonly clicks: number;
  readonly ctr: number;
  /** AUC of the true click probability against the sampled clicks: no model can do better in expectation */
  readonly bayesAuc: number;
  /** reference oracle: true biases and interests, but with the dormant interests removed (what the recent source history shows) */
  readonly withoutDormantAuc: number;
  /** reference oracle: true user and item biases only, no interests */
  readonly biasOnlyAuc: number;
}

export interface World {
  readonly config: WorldConfig;
  readonly seed: number;
  readonly log: EventLog;
  /** per event position: the true click probability of a target impression, NaN for source events */
  readonly trueProbability: Float32Array;
  /** target impressions with timestamp < splitTime are train, the others test */
  readonly splitTime: number;
  /** positions of the train / test target impressions, ascending */
  readonly train: Int32Array;
  readonly test: Int32Array;
  readonly stats: {
    readonly events: number;
    readonly sourceEvents: number;
    readonly targetEvents: number;
    readonly noiseEvents: number;
    readonly train: SplitStats;
    readonly test: SplitStats;
  };
  readonly truth: WorldTruth;
}

/** The EventLog meta of a world with this config. */
export function worldMeta(c: WorldConfig): EventLogMeta {
  const cats = Math.ceil(c.topics / c.topicsPerCategory);
  return {
    users: c.users,
    items: { target: c.targetItems, source: c.sourceItems },
    categories: c.sharedCategories ? cats : 2 * cats,
    context: [
      { name: 'watchBucket', cardinality: c.watchNoise.length + 1 },
      { name: 'behaviourType', cardinality: 4 },
    ],
    profile: [
      { name: 'age', cardinality: c.ageBuckets },
      { name: 'gender', cardinality: c.genders },
    ],
  };
}

function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(rng.next() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    let v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  const l = Math.exp(-lambda);
  let k = 0,
    p = 1;
  do {
    k++;
    p *= rng.next();
  } while (p > l);
  return k - 1;
}

/** Index drawn from a cumulative distribution (last entry = total). */
function draw(cum: Float64Array, u: number): number {
  const x = u * cum[cum.length - 1]!;
  for (let k = 0; k < cum.length - 1; k++) if (x < cum[k]!) return k;
  return cum.length - 1;
}

function cumulative(w: ArrayLike<number>): Float64Array {
  const c = new Float64Array(w.length);
  let s = 0;
  for (let k = 0; k < w.length; k++) {
    s += w[k]!;
    c[k] = s;
  }
  return c;
}

function unitRows(rows: number, dim: number, fill: (r: number, out: Float64Array) => void): Float32Array {
  const out = new Float32Array(rows * dim),
    v = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    fill(r, v);
    let n = 0;
    for (let j = 0; j < dim; j++) n += v[j]! * v[j]!;
    n = Math.sqrt(n) || 1;
    for (let j = 0; j < dim; j++) out[r * dim + j] = v[j]! / n;
  }
  return out;
}

/**
 * Items of one domain: balanced topics (item i of a shuffled order gets topic i mod T), offset unit vectors, and the items of each topic.
 */
function makeItems(rng: Rng, n: number, c: WorldConfig, topicVectors: Float32Array) {
  const T = c.topics,
    D = c.topicDim;
  const topic = new Int32Array(n);
  for (let i = 0; i < n; i++) topic[i] = i % T;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = topic[i]!;
    topic[i] = topic[j]!;
    topic[j] = t;
  }
  const scale = c.itemOffset / Math.sqrt(D);
  const vector = unitRows(n, D, (i, v) => {
    for (let j = 0; j < D; j++) v[j] = topicVectors[topic[i]! * D + j]! + scale * rng.normal();
  });
  const start = new Int32Array(T + 1);
  for (let i = 0; i < n; i++) start[topic[i]! + 1]!++;
  for (let k = 0; k < T; k++) start[k + 1]! += start[k]!;
  const members = new Int32Array(n),
    fill = start.slice(0, T);
  for (let i = 0; i < n; i++) members[fill[topic[i]!]!++] = i;
  return { topic, vector, start, members };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Event counts of user u: drawn from a stream of their own so the total is known before generation. */
function userCounts(c: WorldConfig, seed: number, u: number): { nSource: number; nTarget: number } {
  const rng = new Rng((hashSeed('synthetic-world', seed, 'counts') + u) >>> 0);
  const lo = Math.log(c.minSourceEvents),
    hi = Math.log(c.maxSourceEvents);
  const nSource = Math.min(c.maxSourceEvents, Math.max(c.minSourceEvents, Math.round(Math.exp(lo + (hi - lo) * rng.next()))));
  const nTarget = 1 + poisson(rng, c.targetImpressionsMean - 1);
  return { nSource, nTarget };
}

/**
 * Generate a world. Same config and seed give identical arrays. Sizes default to the SPEC (about
 * 7.9 million events); pass SMALL_WORLD_CONFIG (or your own sizes) for tests.
 */
export function generateWorld(config: Partial<WorldConfig> = {}, seed = 1): World {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`generateWorld: seed must be an integer in 0..4294967295, got ${seed}`);
  const c = resolveWorldConfig(config);
  const T = c.topics,
    D = c.topicDim,
    U = c.users;
  const g = new Rng(hashSeed('synthetic-world', seed, 'global'));

  const topicVectors = unitRows(T, D, (_, v) => {
    for (let j = 0; j < D; j++) v[j] = g.normal();
  });
  const tItems = makeItems(g, c.targetItems, c, topicVectors);
  const sItems = makeItems(g, c.sourceItems, c, topicVectors);
  const targetItemBias = new Float32Array(c.targetItems);
  for (let i = 0; i < c.targetItems; i++) targetItemBias[i] = c.itemBiasStd * g.normal();
  const noiseTopicCum = (() => {
    const rank = Int32Array.from({ length: T }, (_, k) => k);
    for (let i = T - 1; i > 0; i--) {
      const j = g.int(i + 1);
      const t = rank[i]!;
      rank[i] = rank[j]!;
      rank[j] = t;
    }
    return cumulative(Array.from(rank, (r) => 1 / Math.pow(r + 1, c.noiseTopicSkew)));
  })();
  const topicAge = Int32Array.from({ length: T }, () => g.int(c.ageBuckets));
  const topicGender = Int32Array.from({ length: T }, () => g.int(c.genders));
  const cats = Math.ceil(T / c.topicsPerCategory);
  const topicCategory = Int32Array.from({ length: T }, (_, k) => Math.floor(k / c.topicsPerCategory));
  const sourceCategoryOffset = c.sharedCategories ? 0 : cats;

  const counts = Array.from({ length: U }, (_, u) => userCounts(c, seed, u));
  const total = counts.reduce((s, x) => s + x.nSource + x.nTarget, 0);
  const meta = worldMeta(c);
  const builder = new EventLogBuilder(meta, total);
  const trueProbability = new Float32Array(total);
  const noise = new Uint8Array(total);
  // per impression, in push order: the two reference oracles' probabilities
  const nImpr = counts.reduce((s, x) => s + x.nTarget, 0);
  const pNoDormant = new Float32Array(nImpr),
    pBias = new Float32Array(nImpr);

  const userInterest = new Float32Array(U * T),
    userDormant = new Uint8Array(U * T);
  const userDrift = new Int32Array(U),
    userBias = new Float32Array(U);
  const tEnd = Math.floor(c.days * DAY),
    tTarget = Math.floor((c.days - c.targetDays) * DAY);
  const splitTime = Math.floor((c.days - c.testDays) * DAY);
  const watchNoise = cumulative(c.watchNoise),
    watchInterest = cumulative(c.watchInterest);

  const theta = new Float64Array(T),
    mix = new Float64Array(T),
    z = new Float64Array(D),
    zActive = new Float64Array(D);
  const ctx = [0, 0];
  // user u draws from its own stream (consecutive seeds: distinct for every user, splitmix32 decorrelates them)
  const userBase = hashSeed('synthetic-world', seed, 'user');
  let pos = 0,
    impr = 0,
    noiseEvents = 0;
  for (let u = 0; u < U; u++) {
    const rng = new Rng((userBase + u) >>> 0);
    const { nSource, nTarget } = counts[u]!;
    // interests: theta ~ Dirichlet(alpha); one interest (at random) stays active, the others go dormant with dormantProb
    let sum = 0;
    for (let k = 0; k < T; k++) {
      theta[k] = gamma(rng, c.interestAlpha);
      sum += theta[k]!;
    }
    if (!(sum > 0)) {
      theta.fill(0);
      theta[rng.int(T)] = 1;
      sum = 1;
    }
    let strongest = 0; // strongest interest: drives the profile
    for (let k = 0; k < T; k++) {
      theta[k]! /= sum;
      if (theta[k]! > theta[strongest]!) strongest = k;
    }
    const dormant = userDormant.subarray(u * T, (u + 1) * T);
    const interests: number[] = [];
    for (let k = 0; k < T; k++) if (theta[k]! >= c.minInterest) interests.push(k);
    const keep = interests.length ? interests[rng.int(interests.length)]! : strongest;
    for (let k = 0; k < T; k++) {
      const roll = rng.next();
      dormant[k] = theta[k]! >= c.minInterest && k !== keep && roll < c.dormantProb ? 1 : 0;
      userInterest[u * T + k] = theta[k]!;
    }
    // drift: a new topic (not an interest) that the recent source events show and the current mix holds with driftWeight
    const others: number[] = [];
    for (let k = 0; k < T; k++) if (theta[k]! < c.minInterest) others.push(k);
    const drift = others.length ? others[rng.int(others.length)]! : rng.int(T);
    userDrift[u] = drift;
    const bu = c.userBiasStd * rng.normal();
    userBias[u] = bu;
    const age = rng.next() < c.profileTie ? topicAge[strongest]! : rng.int(c.ageBuckets);
    const gender = rng.next() < c.profileTie ? topicGender[strongest]! : rng.int(c.genders);
    builder.setProfile(u, [age, gender]);

    // current interest mix theta' = (1 - delta) theta + delta e_drift; z = its vector, zActive = the same without dormant interests
    for (let k = 0; k < T; k++) mix[k] = (1 - c.driftWeight) * theta[k]! + (k === drift ? c.driftWeight : 0);
    z.fill(0);
    zActive.fill(0);
    for (let k = 0; k < T; k++)
      for (let j = 0; j < D; j++) {
        const w = mix[k]! * topicVectors[k * D + j]!;
        z[j]! += w;
        if (!dormant[k]) zActive[j]! += w;
      }
    const norm = (v: Float64Array) => {
      let n = 0;
      for (let j = 0; j < D; j++) n += v[j]! * v[j]!;
      n = Math.sqrt(n) || 1;
      for (let j = 0; j < D; j++) v[j]! /= n;
    };
    norm(z);
    norm(zActive);
    const currentCum = cumulative(mix);
    // source-consumption mixes by phase: [dormant removed?][drift present?]
    const phase = (removeDormant: boolean, withDrift: boolean) => {
      const w = new Float64Array(T);
      let s = 0;
      for (let k = 0; k < T; k++) {
        w[k] = removeDormant && dormant[k] ? 0 : theta[k]!;
        s += w[k]!;
      }
      if (!(s > 0)) {
        w.set(theta);
        s = 1;
      } // only with minInterest 0: the kept topic may have weight 0
      for (let k = 0; k < T; k++) w[k] = ((withDrift ? 1 - c.driftWeight : 1) * w[k]!) / s + (withDrift && k === drift ? c.driftWeight : 0);
      return cumulative(w);
    };
    const phases = [phase(false, false), phase(false, true), phase(true, false), phase(true, true)];

    // timestamps (integer seconds): source over [0, tEnd), impressions over [tTarget, tEnd)
    const sTs = new Float64Array(nSource),
      tTs = new Float64Array(nTarget);
    for (let j = 0; j < nSource; j++) sTs[j] = Math.floor(rng.next() * tEnd);
    for (let j = 0; j < nTarget; j++) tTs[j] = tTarget + Math.floor(rng.next() * (tEnd - tTarget));
    sTs.sort();
    tTs.sort();
    let j0 = 0; // source events strictly before the first impression
    while (j0 < nSource && sTs[j0]! < tTs[0]!) j0++;
    const dormantFrom = Math.max(0, j0 - c.dormantWindow),
      driftFrom = Math.max(0, j0 - c.driftWindow);

    let js = 0,
      jt = 0;
    while (js < nSource || jt < nTarget) {
      if (jt >= nTarget || (js < nSource && sTs[js]! <= tTs[jt]!)) {
        const isNoise = rng.next() < c.noiseShare;
        let item: number;
        if (isNoise) {
          const k = draw(noiseTopicCum, rng.next());
          item = sItems.members[sItems.start[k]! + rng.int(sItems.start[k + 1]! - sItems.start[k]!)]!;
          ctx[0] = 1 + draw(watchNoise, rng.next());
          ctx[1] = rng.next() < c.likeNoise ? BEHAVIOUR.like : BEHAVIOUR.view;
          noise[pos] = 1;
          noiseEvents++;
        } else {
          const k = draw(phases[(js >= dormantFrom ? 2 : 0) + (js >= driftFrom ? 1 : 0)]!, rng.next());
          const a = sItems.start[k]!,
            n = sItems.start[k + 1]! - a;
          item = -1;
          let best = -Infinity;
          for (let r = 0; r < c.sourceItemChoices; r++) {
            const cand = sItems.members[a + rng.int(n)]!;
            let s = 0;
            for (let j = 0; j < D; j++) s += z[j]! * sItems.vector[cand * D + j]!;
            if (s > best) {
              best = s;
              item = cand;
            }
          }
          ctx[0] = 1 + draw(watchInterest, rng.next());
          const r = rng.next();
          ctx[1] = r < c.likeInterest ? BEHAVIOUR.like : r < c.likeInterest + c.shareInterest ? BEHAVIOUR.share : BEHAVIOUR.view;
        }
        builder.push({
          user: u,
          item,
          category: sourceCategoryOffset + topicCategory[sItems.topic[item]!]!,
          domain: SOURCE,
          timestamp: sTs[js]!,
          label: 1,
          context: ctx,
        });
        trueProbability[pos] = NaN;
        js++;
      } else {
        let item: number;
        if (rng.next() < c.exposureInterestShare) {
          const k = draw(currentCum, rng.next());
          const a = tItems.start[k]!;
          item = tItems.members[a + rng.int(tItems.start[k + 1]! - a)]!;
        } else item = rng.int(c.targetItems);
        let s = 0,
          sActive = 0;
        for (let j = 0; j < D; j++) {
          const v = tItems.vector[item * D + j]!;
          s += z[j]! * v;
          sActive += zActive[j]! * v;
        }
        const bias = bu + targetItemBias[item]! + c.clickBias;
        const p = Math.fround(sigmoid(c.clickScale * s + bias));
        const label = rng.next() < p ? 1 : 0;
        pNoDormant[impr] = sigmoid(c.clickScale * sActive + bias);
        pBias[impr] = sigmoid(bias);
        impr++;
        ctx[0] = WATCH_NONE;
        ctx[1] = BEHAVIOUR.impression;
        builder.push({
          user: u,
          item,
          category: topicCategory[tItems.topic[item]!]!,
          domain: TARGET,
          timestamp: tTs[jt]!,
          label,
          context: ctx,
        });
        trueProbability[pos] = p;
        jt++;
      }
      pos++;
    }
  }
  const log = builder.finish();
  // events were pushed grouped by user and in time order, so finish() kept push order: check it
  for (let i = 0; i < total; i++) {
    if ((log.domain[i] === TARGET) === Number.isNaN(trueProbability[i]!))
      throw new Error(`generateWorld: internal error, event ${i} moved in EventLogBuilder.finish()`);
  }

  const trainL: number[] = [],
    testL: number[] = [],
    trainI: number[] = [],
    testI: number[] = [];
  for (let i = 0, m = 0; i < total; i++) {
    if (log.domain[i] !== TARGET) continue;
    if (log.timestamp[i]! < splitTime) {
      trainL.push(i);
      trainI.push(m);
    } else {
      testL.push(i);
      testI.push(m);
    }
    m++;
  }
  const imprLabel = new Uint8Array(nImpr);
  for (let i = 0, m = 0; i < total; i++) if (log.domain[i] === TARGET) imprLabel[m++] = log.label[i]!;
  const splitStats = (at: number[], atImpr: number[]): SplitStats => {
    let clicks = 0;
    for (const i of at) clicks += log.label[i]!;
    return {
      impressions: at.length,
      clicks,
      ctr: at.length ? clicks / at.length : NaN,
      bayesAuc: exactAuc(log.label, trueProbability, at),
      withoutDormantAuc: exactAuc(imprLabel, pNoDormant, atImpr),
      biasOnlyAuc: exactAuc(imprLabel, pBias, atImpr),
    };
  };
  return {
    config: c,
    seed,
    log,
    trueProbability,
    splitTime,
    train: Int32Array.from(trainL),
    test: Int32Array.from(testL),
    stats: {
      events: total,
      sourceEvents: total - nImpr,
      targetEvents: nImpr,
      noiseEvents,
      train: splitStats(trainL, trainI),
      test: splitStats(testL, testI),
    },
    truth: {
      topicVectors,
      targetItemTopic: tItems.topic,
      sourceItemTopic: sItems.topic,
      targetItemVector: tItems.vector,
      sourceItemVector: sItems.vector,
      targetItemBias,
      topicCategory,
      userInterest,
      userDormant,
      userDrift,
      userBias,
      noise,
    },
  };
}
