/** Metrics: hand-computed cases, exact error messages. The scikit-learn comparison is in sklearn.test.ts. */
import { describe, expect, it } from 'vitest';
import { LOGLOSS_EPS, MetricsError, auc, aucDetail, evaluateCtr, gauc, logloss } from '../src/index.ts';

describe('auc (hand-computed)', () => {
  it('perfect ranking is 1, reversed is 0, all-equal scores are 0.5', () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
    expect(auc([1, 0, 1, 0, 0], [0.7, 0.7, 0.7, 0.7, 0.7])).toBe(0.5);
  });

  it('a tie between a positive and a negative counts one half', () => {
    // pairs (pos, neg): (.8,.8)=½ (.8,.1)=1 (.3,.8)=0 (.3,.1)=1 -> 2.5 / 4
    expect(auc([1, 0, 1, 0], [0.8, 0.8, 0.3, 0.1])).toBe(0.625);
    // pos {.4, .35, .4}, neg {.1, .35}: .4 -> 2, .35 -> 1 + ½, .4 -> 2 -> 5.5 / 6
    expect(auc([0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.35, 0.4])).toBe(5.5 / 6);
  });

  it('is a rank statistic: order of samples, monotone transforms, typed arrays and ±Infinity do not matter', () => {
    const labels = [0, 1, 1, 0, 1];
    const scores = [0.1, 0.4, 0.35, 0.35, 0.4];
    expect(auc(Uint8Array.from([1, 0, 1, 0, 1]), Float32Array.from([0.4, 0.35, 0.4, 0.1, 0.35]))).toBe(5.5 / 6);
    expect(
      auc(
        labels,
        scores.map((s) => Math.log(s) * 3 - 1),
      ),
    ).toBe(5.5 / 6);
    expect(auc([1, 0, 0], [Infinity, -Infinity, 0])).toBe(1);
    expect(auc([1, 0], [-0, 0])).toBe(0.5);
  });

  it('is NaN with a reason when a class is missing or there are no samples', () => {
    expect(aucDetail([1, 1, 1], [0.2, 0.5, 0.9])).toEqual({
      auc: NaN,
      positives: 3,
      negatives: 0,
      reason: 'only one class: 3 positive(s) and 0 negative(s)',
    });
    expect(aucDetail([0, 0], [0.2, 0.5])).toEqual({
      auc: NaN,
      positives: 0,
      negatives: 2,
      reason: 'only one class: 0 positive(s) and 2 negative(s)',
    });
    expect(aucDetail([], [])).toEqual({ auc: NaN, positives: 0, negatives: 0, reason: 'no samples' });
    expect(aucDetail([0, 1], [0.3, 0.2])).toEqual({ auc: 0, positives: 1, negatives: 1 });
    expect(auc([1], [0.5])).toBeNaN();
  });

  it('rejects bad input with the field, position, expected and actual value', () => {
    expect(() => auc([0, 1, 1], [0.1, 0.2])).toThrow(
      new MetricsError('auc: labels and scores must have the same length, got 3 labels and 2 scores'),
    );
    expect(() => auc([0, 1, 2], [0.1, 0.2, 0.3])).toThrow('auc: labels[2] must be 0 or 1, got 2');
    expect(() => auc([0, 0.5], [0.1, 0.2])).toThrow('auc: labels[1] must be 0 or 1, got 0.5');
    expect(() => auc([0, 1, 1], [0.1, NaN, 0.3])).toThrow('auc: scores[1] must be a number, got NaN');
    expect(() => auc([0, 1], [0.1, NaN])).toThrow(MetricsError);
  });
});

describe('gauc (hand-computed)', () => {
  it('weights each user with both labels by impressions and leaves one-class users out', () => {
    // user 7: pos .9 vs neg {.2, .95} -> ½, n = 3
    // user 3: pos {.6, .5} vs neg {.5, .1}: .6 -> 2, .5 -> ½ + 1 -> 3.5 / 4 = .875, n = 4
    // user 5 (two positives) and user 9 (one negative) have no AUC and are left out
    const rows: Array<[group: number, label: number, score: number]> = [
      [7, 1, 0.9],
      [3, 1, 0.6],
      [5, 1, 0.3],
      [7, 0, 0.2],
      [3, 1, 0.5],
      [9, 0, 0.4],
      [3, 0, 0.5],
      [7, 0, 0.95],
      [5, 1, 0.7],
      [3, 0, 0.1],
    ];
    const r = gauc(
      rows.map((x) => x[1]),
      rows.map((x) => x[2]),
      rows.map((x) => x[0]),
    );
    expect(r.gauc).toBeCloseTo((3 * 0.5 + 4 * 0.875) / 7, 15);
    expect(r).toMatchObject({ users: 2, impressions: 7, skippedUsers: 2 });
  });

  it('equals the AUC when there is one group, is NaN when no group has both labels', () => {
    const labels = [0, 1, 1, 0, 1],
      scores = [0.1, 0.4, 0.35, 0.35, 0.4];
    expect(gauc(labels, scores, [4, 4, 4, 4, 4])).toEqual({ gauc: 5.5 / 6, users: 1, impressions: 5, skippedUsers: 0 });
    expect(gauc([1, 0, 1], [0.1, 0.2, 0.3], [0, 1, 2])).toEqual({ gauc: NaN, users: 0, impressions: 0, skippedUsers: 3 });
    expect(gauc([], [], [])).toEqual({ gauc: NaN, users: 0, impressions: 0, skippedUsers: 0 });
  });

  it('rejects bad input', () => {
    expect(() => gauc([0, 1], [0.1, 0.2], [1])).toThrow('gauc: labels and groups must have the same length, got 2 labels and 1 groups');
    expect(() => gauc([0, 1], [0.1], [1, 1])).toThrow('gauc: labels and scores must have the same length, got 2 labels and 1 scores');
    expect(() => gauc([0, 1], [0.1, 0.2], [1, 1.5])).toThrow('gauc: groups[1] must be an integer, got 1.5');
    expect(() => gauc([0, 1], [0.1, 0.2], [NaN, 1])).toThrow('gauc: groups[0] must be an integer, got NaN');
    expect(() => gauc([0, -1], [0.1, 0.2], [1, 1])).toThrow('gauc: labels[1] must be 0 or 1, got -1');
    expect(() => gauc([0, 1], [NaN, 0.2], [1, 1])).toThrow('gauc: scores[0] must be a number, got NaN');
  });
});

describe('logloss (hand-computed)', () => {
  it('is the mean binary cross-entropy', () => {
    // -(ln .8 + ln .75) / 2
    expect(logloss([1, 0], [0.8, 0.25])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.75)) / 2, 15);
    expect(logloss([1, 0], [0.8, 0.25])).toBeCloseTo((0.2231435513142097 + 0.2876820724517809) / 2, 15);
  });

  it('clips probabilities to [1e-7, 1 - 1e-7]', () => {
    expect(LOGLOSS_EPS).toBe(1e-7);
    // p = 1 for a positive and p = 0 for a negative cost -ln(1 - 1e-7) ≈ 1.000000050e-7 each;
    // p = 0 for a positive costs -ln(1e-7) = 7 ln 10 = 16.11809565095832 (not Infinity)
    const want = (2 * 1.00000005e-7 + 16.11809565095832 + 0.2876820724517809) / 4;
    expect(logloss([1, 0, 1, 0], [1, 0, 0, 0.25])).toBeCloseTo(want, 13);
    expect(logloss([1], [0])).toBeCloseTo(16.11809565095832, 13);
    expect(logloss([0], [1e-9])).toBe(logloss([0], [1e-7]));
  });

  it('is NaN for no samples and rejects bad input', () => {
    expect(logloss([], [])).toBeNaN();
    expect(() => logloss([1, 0], [0.5])).toThrow('logloss: labels and probs must have the same length, got 2 labels and 1 probs');
    expect(() => logloss([1, 0], [0.5, 1.25])).toThrow('logloss: probs[1] must be a probability in [0, 1], got 1.25');
    expect(() => logloss([1, 0], [-0.1, 0.5])).toThrow('logloss: probs[0] must be a probability in [0, 1], got -0.1');
    expect(() => logloss([1, 0], [0.5, NaN])).toThrow('logloss: probs[1] must be a number, got NaN');
    expect(() => logloss([1, 3], [0.5, 0.5])).toThrow('logloss: labels[1] must be 0 or 1, got 3');
  });
});

describe('evaluateCtr', () => {
  it('reports AUC, GAUC and logloss of one set', () => {
    const labels = [1, 0, 1, 0, 0, 1],
      probs = [0.9, 0.2, 0.4, 0.6, 0.1, 0.7],
      groups = [0, 0, 0, 0, 1, 1];
    // AUC: pos {.9,.4,.7} vs neg {.2,.6,.1}: .9 -> 3, .4 -> 2, .7 -> 3 => 8/9
    // user 0: pos {.9,.4} vs neg {.2,.6}: 2 + 1 = 3/4, n = 4; user 1: 1, n = 2 => (3 + 2)/6
    const m = evaluateCtr(labels, probs, groups);
    expect(m.auc).toBe(8 / 9);
    expect(m.gauc).toBeCloseTo(5 / 6, 15);
    expect(m).toMatchObject({ samples: 6, positives: 3, gaucUsers: 2, gaucImpressions: 6 });
    expect(m.logloss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.4) + Math.log(0.9) + Math.log(0.7)) / 6, 15);
  });
});
