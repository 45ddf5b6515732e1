/**
 * The one configuration of the synthetic world (SPEC "Synthetic world"): every size and strength
 * lives here with its default; `resolveWorldConfig` fills a partial config and rejects bad values
 * with an error naming the field, what was expected and what was given.
 */

export interface WorldConfig {
  /** number of users */
  readonly users: number;
  /** T latent topics */
  readonly topics: number;
  /** topic vectors are unit vectors in R^topicDim */
  readonly topicDim: number;
  readonly targetItems: number;
  readonly sourceItems: number;
  /** a category groups this many topics (1: category = topic); topics k*g .. k*g+g-1 share category k */
  readonly topicsPerCategory: number;
  /**
   * false (default): target and source categories are disjoint id ranges (target 0..C-1, source
   * C..2C-1), as in the Taobao split, so the topic alignment across domains must be learned;
   * true: one id per topic group in both domains.
   */
  readonly sharedCategories: boolean;
  /** item vector = normalize(topic vector + itemOffset * g / sqrt(topicDim)), g ~ N(0, I) */
  readonly itemOffset: number;
  /** user interests ~ Dirichlet(interestAlpha) over the topics */
  readonly interestAlpha: number;
  /** topics with interest weight >= minInterest are the user's interests (may go dormant; the drift topic comes from the others) */
  readonly minInterest: number;
  /** each interest except the strongest goes dormant with this probability */
  readonly dormantProb: number;
  /**
   * dormant interests are absent from the last `dormantWindow` source events before the user's first target impression, and from everything
   * after
   */
  readonly dormantWindow: number;
  /** weight of the recent drift topic in the current interest mix */
  readonly driftWeight: number;
  /** the drift topic appears in source events from `driftWindow` events before the first target impression on */
  readonly driftWindow: number;
  /** source history length per user is log-uniform in [minSourceEvents, maxSourceEvents] */
  readonly minSourceEvents: number;
  readonly maxSourceEvents: number;
  /** share of source events that are noise (a uniformly random source item: exploration, autoplay) */
  readonly noiseShare: number;
  /**
   * noise items come from topics by a global popularity (autoplay pushes what is popular): the topic
   * of popularity rank r (a random order) has weight 1 / (r + 1)^noiseTopicSkew; 0 = uniform
   */
  readonly noiseTopicSkew: number;
  /** an interest event picks the best of this many random items of its topic (by affinity to the user's interest vector) */
  readonly sourceItemChoices: number;
  /** watch-duration bucket distribution (buckets 1..k; 0 means "no watch", used on target impressions) of noise events */
  readonly watchNoise: readonly number[];
  /** the same for interest-matched events */
  readonly watchInterest: readonly number[];
  /** probability that a source event is a like (behaviourType 2) / share (3) rather than a view (1): interest events */
  readonly likeInterest: number;
  readonly shareInterest: number;
  /** ... and noise events */
  readonly likeNoise: number;
  /** target impressions per user: 1 + Poisson(targetImpressionsMean - 1) */
  readonly targetImpressionsMean: number;
  /** share of impressions the exposure policy takes from the user's current interests (else a uniformly random target item) */
  readonly exposureInterestShare: number;
  /** p = sigmoid(clickScale * interest + userBias + itemBias + clickBias) */
  readonly clickScale: number;
  readonly clickBias: number;
  readonly userBiasStd: number;
  readonly itemBiasStd: number;
  /** profile: age bucket and gender, each equal to the strongest interest's preferred value with probability profileTie, else uniform */
  readonly ageBuckets: number;
  readonly genders: number;
  readonly profileTie: number;
  /** timeline: source events over [0, days) days; target impressions over the last targetDays; the last testDays are the test split */
  readonly days: number;
  readonly targetDays: number;
  readonly testDays: number;
}

/** The SPEC defaults: the full-size world, for experiments (about 7.9 million events). */
export const DEFAULT_WORLD_CONFIG: WorldConfig = Object.freeze({
  users: 10_000,
  topics: 32,
  topicDim: 16,
  targetItems: 2_000,
  sourceItems: 20_000,
  topicsPerCategory: 1,
  sharedCategories: false,
  itemOffset: 0.3,
  interestAlpha: 0.1,
  minInterest: 0.05,
  dormantProb: 0.5,
  dormantWindow: 100,
  driftWeight: 0.25,
  driftWindow: 30,
  minSourceEvents: 200,
  maxSourceEvents: 2_000,
  noiseShare: 0.3,
  noiseTopicSkew: 1,
  sourceItemChoices: 3,
  watchNoise: Object.freeze([0.5, 0.3, 0.15, 0.05, 0]),
  watchInterest: Object.freeze([0.03, 0.07, 0.2, 0.35, 0.35]),
  likeInterest: 0.25,
  shareInterest: 0.05,
  likeNoise: 0.02,
  targetImpressionsMean: 10,
  exposureInterestShare: 0.5,
  clickScale: 5,
  clickBias: -3,
  userBiasStd: 0.3,
  itemBiasStd: 0.3,
  ageBuckets: 7,
  genders: 2,
  profileTie: 0.3,
  days: 365,
  targetDays: 14,
  testDays: 3,
});

/** A small world for tests, CI and quick runs: generates in well under a second. */
export const SMALL_WORLD_CONFIG: Partial<WorldConfig> = Object.freeze({
  users: 500,
  targetItems: 200,
  sourceItems: 2_000,
  minSourceEvents: 150,
  maxSourceEvents: 400,
});

export class WorldConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorldConfigError';
  }
}

const INTS = [
  'users',
  'topics',
  'topicDim',
  'targetItems',
  'sourceItems',
  'topicsPerCategory',
  'dormantWindow',
  'driftWindow',
  'minSourceEvents',
  'maxSourceEvents',
  'sourceItemChoices',
  'ageBuckets',
  'genders',
] as const;
const PROBS = [
  'dormantProb',
  'driftWeight',
  'noiseShare',
  'likeInterest',
  'shareInterest',
  'likeNoise',
  'exposureInterestShare',
  'profileTie',
  'minInterest',
] as const;
const NONNEG = ['noiseTopicSkew', 'itemOffset', 'userBiasStd', 'itemBiasStd', 'clickScale'] as const;

/** Fill `partial` with the defaults and validate every field. */
export function resolveWorldConfig(partial: Partial<WorldConfig> = {}): WorldConfig {
  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULT_WORLD_CONFIG))
      throw new WorldConfigError(`world config: unknown field '${k}'; known fields: ${Object.keys(DEFAULT_WORLD_CONFIG).join(', ')}`);
  }
  const c: WorldConfig = { ...DEFAULT_WORLD_CONFIG, ...partial };
  const bad = (field: string, expected: string, got: unknown) =>
    new WorldConfigError(`world config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
  for (const k of INTS) if (!Number.isInteger(c[k]) || c[k] < 1) throw bad(k, 'an integer >= 1', c[k]);
  for (const k of PROBS) if (typeof c[k] !== 'number' || !(c[k] >= 0 && c[k] <= 1)) throw bad(k, 'a number in [0, 1]', c[k]);
  for (const k of NONNEG)
    if (typeof c[k] !== 'number' || !(c[k] >= 0) || !Number.isFinite(c[k])) throw bad(k, 'a finite number >= 0', c[k]);
  if (typeof c.clickBias !== 'number' || !Number.isFinite(c.clickBias)) throw bad('clickBias', 'a finite number', c.clickBias);
  if (typeof c.sharedCategories !== 'boolean') throw bad('sharedCategories', 'a boolean', c.sharedCategories);
  if (!(c.interestAlpha > 0) || !Number.isFinite(c.interestAlpha)) throw bad('interestAlpha', 'a finite number > 0', c.interestAlpha);
  if (c.targetItems < c.topics) throw bad('targetItems', `>= topics (${c.topics}) so every topic has an item`, c.targetItems);
  if (c.sourceItems < c.topics) throw bad('sourceItems', `>= topics (${c.topics}) so every topic has an item`, c.sourceItems);
  if (c.maxSourceEvents < c.minSourceEvents) throw bad('maxSourceEvents', `>= minSourceEvents (${c.minSourceEvents})`, c.maxSourceEvents);
  if (!(c.targetImpressionsMean >= 1) || !Number.isFinite(c.targetImpressionsMean))
    throw bad('targetImpressionsMean', 'a finite number >= 1', c.targetImpressionsMean);
  if (c.shareInterest + c.likeInterest > 1) throw bad('likeInterest + shareInterest', '<= 1', c.likeInterest + c.shareInterest);
  for (const k of ['watchNoise', 'watchInterest'] as const) {
    const w = c[k];
    if (!Array.isArray(w) || w.length < 1 || !w.every((x) => typeof x === 'number' && x >= 0 && Number.isFinite(x)))
      throw bad(k, 'a non-empty array of finite numbers >= 0', w);
    const s = w.reduce((a, b) => a + b, 0);
    if (Math.abs(s - 1) > 1e-9) throw bad(k, 'a distribution summing to 1', w);
  }
  if (c.watchNoise.length !== c.watchInterest.length)
    throw bad('watchInterest', `as long as watchNoise (${c.watchNoise.length} buckets)`, c.watchInterest);
  if (!(c.days > 0 && c.days * 86_400 <= 2 ** 31 - 1)) throw bad('days', 'a number in (0, 24855] (timestamps are int32 seconds)', c.days);
  if (!(c.targetDays > 0 && c.targetDays <= c.days)) throw bad('targetDays', `a number in (0, days = ${c.days}]`, c.targetDays);
  if (!(c.testDays > 0 && c.testDays < c.targetDays)) throw bad('testDays', `a number in (0, targetDays = ${c.targetDays})`, c.testDays);
  return Object.freeze({ ...c, watchNoise: Object.freeze([...c.watchNoise]), watchInterest: Object.freeze([...c.watchInterest]) });
}
