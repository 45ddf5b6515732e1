/**
 * The planted signal, shown with simple statistics on the log (what a model sees) and the truth:
 * the lifelong source history predicts clicks that the last 50 source events cannot, and the
 * watch-duration context tells noise events from interest events.
 */
import { describe, expect, it } from 'vitest';
import { TARGET } from '../src/event-log.ts';
import { SMALL_WORLD_CONFIG, generateWorld, type World } from '../src/synthetic/index.ts';
import { exactAuc } from '../src/synthetic/auc.ts';

const RECENT = 50;

/** Per impression: source history strictly before it (positions), with its label and topic. */
function* impressions(w: World) {
  const { log } = w;
  for (let u = 0; u < log.meta.users; u++) {
    const src: number[] = [];
    for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) {
      if (log.domain[i] !== TARGET) {
        src.push(i);
        continue;
      }
      const t = log.timestamp[i]!;
      let n = src.length;
      while (n > 0 && log.timestamp[src[n - 1]!]! >= t) n--;
      yield { u, i, topic: w.truth.targetItemTopic[log.item[i]!]!, label: log.label[i]!, history: src.slice(0, n) };
    }
  }
}

const topicOfSource = (w: World, j: number) => w.truth.sourceItemTopic[w.log.item[j]!]!;

function countTopics(w: World, hist: readonly number[], longOnly: boolean): Float64Array {
  const c = new Float64Array(w.config.topics);
  for (const j of hist) if (!longOnly || w.log.context[0]![j]! >= 3) c[topicOfSource(w, j)]!++;
  return c;
}

function topK(c: Float64Array, k: number): Set<number> {
  return new Set([...c.keys()].sort((a, b) => c[b]! - c[a]! || a - b).slice(0, k));
}

const rate = (g: { n: number; clicks: number }) => g.clicks / g.n;

describe.each([1, 2])('planted signal of the small world, seed %i', (seed) => {
  const w = generateWorld(SMALL_WORLD_CONFIG, seed);
  const T = w.config.topics;
  const imps = [...impressions(w)];

  it('dormant interests never appear among the interest events of the last source events, only in old ones', () => {
    let recentHits = 0,
      oldHits = 0,
      dormantUsers = 0;
    const seen = new Set<number>();
    for (const { u, history } of imps) {
      const dormant = w.truth.userDormant.subarray(u * T, (u + 1) * T);
      history.slice(-w.config.dormantWindow).forEach((j) => {
        if (!w.truth.noise[j] && dormant[topicOfSource(w, j)]) recentHits++;
      });
      if (seen.has(u)) continue;
      seen.add(u);
      if (dormant.some((d) => d === 1)) dormantUsers++;
      for (const j of history) if (!w.truth.noise[j] && dormant[topicOfSource(w, j)]) oldHits++;
    }
    expect(recentHits).toBe(0);
    expect(dormantUsers).toBeGreaterThan(0.5 * w.config.users);
    expect(oldHits).toBeGreaterThan(10 * dormantUsers);
  });

  it('top interests from the full source history find clicks that the last 50 events miss', () => {
    const groups = {
      fullOnly: { n: 0, clicks: 0 },
      recentOnly: { n: 0, clicks: 0 },
      both: { n: 0, clicks: 0 },
      neither: { n: 0, clicks: 0 },
    };
    const y: number[] = [],
      recentScore: number[] = [],
      lifelongScore: number[] = [],
      fullScore: number[] = [],
      fullLongScore: number[] = [];
    for (const { topic, label, history } of imps) {
      const recent = history.slice(-RECENT);
      const inFull = topK(countTopics(w, history, true), 3).has(topic),
        inRecent = topK(countTopics(w, recent, true), 3).has(topic);
      const g = inFull ? (inRecent ? groups.both : groups.fullOnly) : inRecent ? groups.recentOnly : groups.neither;
      g.n++;
      g.clicks += label;
      // count-based scorers: the share of the impression's topic in the last 50 events, and in the full history
      const shareRecent = countTopics(w, recent, false)[topic]! / Math.max(1, recent.length);
      const shareFull = countTopics(w, history, false)[topic]! / Math.max(1, history.length);
      const longFull = countTopics(w, history, true);
      y.push(label);
      recentScore.push(shareRecent);
      lifelongScore.push(shareRecent + shareFull);
      fullScore.push(shareFull);
      fullLongScore.push(
        longFull[topic]! /
          Math.max(
            1,
            longFull.reduce((a, b) => a + b, 0),
          ),
      );
    }
    // impressions on a topic only the lifelong history ranks among the user's top 3 click about 3x as often as uninterested ones
    expect(groups.fullOnly.n).toBeGreaterThan(0.08 * imps.length);
    expect(rate(groups.fullOnly)).toBeGreaterThan(2.5 * rate(groups.neither));
    // adding the full history to the last 50 events ranks clicks better (about +0.05 AUC)
    const aucRecent = exactAuc(y, recentScore),
      aucLifelong = exactAuc(y, lifelongScore);
    expect(aucLifelong).toBeGreaterThan(aucRecent + 0.035);
    expect(aucLifelong).toBeLessThan(Math.min(w.stats.train.bayesAuc, w.stats.test.bayesAuc));
    // leaving out short-watch events (mostly noise) helps the full-history share a little
    expect(exactAuc(y, fullLongScore)).toBeGreaterThan(exactAuc(y, fullScore));
  });

  it('noise events have short watch durations, interest events long ones', () => {
    let noise = 0,
      noiseShort = 0,
      interest = 0,
      interestLong = 0;
    for (let i = 0; i < w.log.size; i++) {
      if (w.log.domain[i] === TARGET) continue;
      const long = w.log.context[0]![i]! >= 3;
      if (w.truth.noise[i]) {
        noise++;
        if (!long) noiseShort++;
      } else {
        interest++;
        if (long) interestLong++;
      }
    }
    expect(noise / (noise + interest)).toBeCloseTo(w.config.noiseShare, 1);
    expect(noiseShort / noise).toBeGreaterThan(0.75); // watchNoise puts 0.8 on buckets 1-2
    expect(interestLong / interest).toBeGreaterThan(0.85); // watchInterest puts 0.9 on buckets 3-5
  });

  it('a topic seen only in short-watch events predicts clicks no better than an unseen topic', () => {
    const longSeen = { n: 0, clicks: 0 },
      shortOnly = { n: 0, clicks: 0 },
      unseen = { n: 0, clicks: 0 };
    for (const { topic, label, history } of imps) {
      const l = countTopics(w, history, true)[topic]!,
        all = countTopics(w, history, false)[topic]!;
      const g = l > 0 ? longSeen : all > 0 ? shortOnly : unseen;
      g.n++;
      g.clicks += label;
    }
    expect(shortOnly.n).toBeGreaterThan(200);
    expect(rate(longSeen)).toBeGreaterThan(2 * rate(shortOnly));
    expect(rate(shortOnly)).toBeLessThan(1.5 * rate(unseen));
  });

  it('the drift topic shows up only in the recent source events', () => {
    let early = 0,
      earlyAll = 0,
      late = 0,
      lateAll = 0;
    const firstOf = new Map<number, number[]>();
    for (const im of imps) if (!firstOf.has(im.u)) firstOf.set(im.u, im.history);
    for (const [u, history] of firstOf) {
      const from = Math.max(0, history.length - w.config.driftWindow);
      history.forEach((j, n) => {
        if (w.truth.noise[j]) return;
        const hit = topicOfSource(w, j) === w.truth.userDrift[u] ? 1 : 0;
        if (n < from) {
          early += hit;
          earlyAll++;
        } else {
          late += hit;
          lateAll++;
        }
      });
    }
    expect(early / earlyAll).toBeLessThan(0.01);
    expect(late / lateAll).toBeGreaterThan(0.15);
    expect(late / lateAll).toBeLessThan(0.35);
  });
});
