import { describe, expect, it } from 'vitest';
import { formatDelta, formatSummary, foundShare, gapShare, markdownTable, metricRow, summarize } from './rows.ts';

describe('summarize', () => {
  it('gives mean, sample standard deviation, min and max', () => {
    const s = summarize([0.7, 0.72, 0.74]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.72, 12);
    expect(s.spread).toBeCloseTo(0.02, 12);
    expect([s.min, s.max]).toEqual([0.7, 0.74]);
  });
  it('has no spread for one value, nothing for none, and refuses NaN', () => {
    expect(summarize([0.7]).spread).toBeNaN();
    expect(summarize([]).mean).toBeNaN();
    expect(() => summarize([0.7, NaN])).toThrow(/value 1 is NaN/);
  });
});

describe('gapShare and metricRow', () => {
  it('measures the gap between chance and the Bayes AUC', () => {
    expect(gapShare(0.68, 0.86)).toBeCloseTo(0.5, 12);
    expect(gapShare(0.7, undefined)).toBeNaN();
    expect(gapShare(0.7, 0.5)).toBeNaN();
  });
  it('summarises each metric over seeds, the gap share per seed', () => {
    const row = metricRow('lcn', 'LCN', [
      { seed: 1, metrics: { auc: 0.7, gauc: 0.69, logloss: 0.5, bayesAuc: 0.9 } },
      { seed: 2, metrics: { auc: 0.74, gauc: 0.71, logloss: 0.48, bayesAuc: 0.9 } },
    ]);
    expect(row.seeds).toEqual([1, 2]);
    expect(row.auc.mean).toBeCloseTo(0.72, 12);
    expect(row.gapShare.mean).toBeCloseTo(0.55, 12);
    expect(row.bayesAuc.spread).toBe(0);
  });
});

describe('formatting', () => {
  it('prints mean ± spread, or the mean alone for one seed', () => {
    expect(formatSummary(summarize([0.7, 0.72, 0.74]))).toBe('0.7200 ± 0.0200');
    expect(formatSummary(summarize([0.7]))).toBe('0.7000');
    expect(formatSummary(summarize([0.55]), 1, 100)).toBe('55.0');
    expect(formatSummary(summarize([]))).toBe('–');
    expect(formatDelta(0.0012)).toBe('+0.0012');
    expect(formatDelta(-0.003)).toBe('-0.0030');
  });
  it('writes a markdown table and checks row widths', () => {
    expect(markdownTable(['a', 'b'], [['1', 'x|y']], ['left', 'right'])).toBe('| a | b |\n| --- | ---: |\n| 1 | x\\|y |\n');
    expect(() => markdownTable(['a', 'b'], [['1']])).toThrow(/row 0 has 1 cells, the header has 2/);
  });
});

describe('foundShare', () => {
  it('counts the valid real picks found among the valid test picks', () => {
    expect(foundShare([4, 7, 9, 1], [9, 4, 100])).toBe(0.5);
    expect(foundShare([4, 7, 0], [7, 0], [1, 1, 0], [1, 0])).toBe(0.5);
    expect(foundShare([4], [4], [0])).toBeNaN();
  });
});
