import { describe, expect, it } from 'vitest';
import { linearFit, logLogChart, logLogSlope, logTicks, shortNumber, sideBySide } from './loglog.ts';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('logLogSlope', () => {
  it('recovers an exact power law y = 3 x^2', () => {
    const xs = [500, 1000, 2000, 4000, 8000, 16000];
    const f = logLogSlope(
      xs,
      xs.map((x) => 3 * x * x),
    );
    expect(f.slope).toBeCloseTo(2, 12);
    expect(f.intercept).toBeCloseTo(Math.log(3), 10);
    expect(f.r2).toBeCloseTo(1, 12);
    expect(f.slopeStdErr).toBeCloseTo(0, 7);
    expect(f.n).toBe(6);
  });

  it('matches a hand-computed fit: (1,1), (2,4), (4,8)', () => {
    // in units of ln 2: x' = [0, 1, 2], y' = [0, 2, 3]; sxx = 2, sxy = 3 -> slope 1.5, intercept 1/6 (x ln 2);
    // residuals [-1/6, 1/3, -1/6] -> sse = 1/6, syy = 14/3 -> R² = 27/28, se = sqrt((1/6)/1/2) = sqrt(1/12)
    const f = logLogSlope([1, 2, 4], [1, 4, 8]);
    expect(f.slope).toBeCloseTo(1.5, 14);
    expect(f.intercept).toBeCloseTo(Math.LN2 / 6, 14);
    expect(f.r2).toBeCloseTo(27 / 28, 14);
    expect(f.slopeStdErr).toBeCloseTo(Math.sqrt(1 / 12), 14);
  });

  it('gives slope 0 for a flat cost and slope 1 for a linear one, whatever the constant', () => {
    expect(logLogSlope([50, 100, 200], [7, 7, 7])).toMatchObject({ slope: 0, r2: 1 });
    expect(logLogSlope([50, 100, 200], [0.5, 1, 2]).slope).toBeCloseTo(1, 14);
  });

  it('has no standard error with two points (no residual), and the slope through them', () => {
    const f = logLogSlope([10, 1000], [1, 100]);
    expect(f.slope).toBeCloseTo(1, 14);
    expect(Number.isNaN(f.slopeStdErr)).toBe(true);
  });

  it('rejects bad input with the field, the expected and the actual', () => {
    expect(() => logLogSlope([1, 2], [1])).toThrow('logLogSlope: xs and ys must have the same length, got 2 and 1');
    expect(() => logLogSlope([1], [1])).toThrow('logLogSlope: need at least 2 points, got 1');
    expect(() => logLogSlope([1, 0], [1, 2])).toThrow('logLogSlope: xs[1] must be a finite number > 0, got 0');
    expect(() => logLogSlope([1, 2], [1, NaN])).toThrow('logLogSlope: ys[1] must be a finite number > 0, got NaN');
    expect(() => logLogSlope([3, 3], [1, 2])).toThrow('logLogSlope: need at least two distinct x values, got [3, 3]');
  });
});

describe('linearFit', () => {
  it('recovers fixed and marginal cost of y = 2 + 0.5 x', () => {
    const f = linearFit([500, 1000, 2000, 4000], [252, 502, 1002, 2002]);
    expect(f.slope).toBeCloseTo(0.5, 12);
    expect(f.intercept).toBeCloseTo(2, 9);
    expect(f.r2).toBeCloseTo(1, 12);
  });
  it('matches a hand-computed fit: (0,0), (1,2), (2,3)', () => {
    // mean x 1, mean y 5/3; sxx 2, sxy 3 -> slope 1.5, intercept 1/6; sse 1/6, syy 14/3 -> R² 27/28
    const f = linearFit([0, 1, 2], [0, 2, 3]);
    expect(f.slope).toBeCloseTo(1.5, 14);
    expect(f.intercept).toBeCloseTo(1 / 6, 14);
    expect(f.r2).toBeCloseTo(27 / 28, 14);
  });
  it('rejects bad input', () => {
    expect(() => linearFit([1, 2], [1, 2, 3])).toThrow('linearFit: xs and ys must have the same length, got 2 and 3');
    expect(() => linearFit([1, 1], [1, 2])).toThrow('linearFit: need at least two distinct x values, got [1, 1]');
    expect(() => linearFit([1, 2], [1, Infinity])).toThrow('linearFit: ys[1] must be finite, got Infinity');
  });
});

describe('logTicks and shortNumber', () => {
  it('puts 1-2-5 ticks inside the range', () => {
    expect(logTicks(300, 20000)).toEqual([500, 1000, 2000, 5000, 10000, 20000]);
    expect(logTicks(0.03, 0.3)).toEqual([0.05, 0.1, 0.2]);
    expect(() => logTicks(0, 1)).toThrow('logTicks: need 0 < lo <= hi < Infinity, got 0 and 1');
  });
  it('prints short labels', () => {
    expect([500, 1500, 16000, 2e6, 0.05, 12.345].map(shortNumber)).toEqual(['500', '1.5k', '16k', '2M', '0.05', '12.3']);
  });
});

describe('logLogChart', () => {
  const spec = {
    title: 'cost <N> & co',
    xLabel: 'N',
    yLabel: 'ms',
    xTicks: [500, 2000, 8000],
    series: [
      {
        name: 'ifa · ort',
        points: [
          { x: 500, y: 1 },
          { x: 2000, y: 2 },
          { x: 8000, y: 4 },
        ],
      },
      {
        name: 'full',
        points: [
          { x: 8000, y: 64 },
          { x: 500, y: 4 },
          { x: 2000, y: 0 },
        ],
        dashed: true,
      },
    ],
  };
  it('draws a marker per positive point, a line per series, escaped text, the given x ticks', () => {
    const svg = logLogChart(spec);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(count(svg, /<circle /g)).toBe(5);
    expect(count(svg, /<path /g)).toBe(2);
    expect(svg).toContain('cost &lt;N&gt; &amp; co');
    expect(svg).toContain('>8k</text>');
    expect(svg).toContain('<title>full: x 8k, y 64</title>');
    expect(logLogChart(spec)).toBe(svg);
  });
  it('uses a series colour when given', () => {
    const svg = logLogChart({ ...spec, series: [{ ...spec.series[0]!, color: '#123456' }] });
    expect(count(svg, /stroke="#123456"/g)).toBe(2); // legend swatch and line
    expect(count(svg, /<circle [^>]*fill="#123456"/g)).toBe(3);
  });
  it('places equal ratios at equal distances (log axes)', () => {
    const svg = logLogChart(spec);
    const cx = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].slice(0, 3).map((m) => [Number(m[1]), Number(m[2])] as const);
    // x 500 -> 2000 -> 8000 (x4 each), y 1 -> 2 -> 4 (x2 each): equal steps on both axes
    expect(cx[1]![0] - cx[0]![0]).toBeCloseTo(cx[2]![0] - cx[1]![0], 1);
    expect(cx[0]![1] - cx[1]![1]).toBeCloseTo(cx[1]![1] - cx[2]![1], 1);
  });
  it('refuses a chart without a drawable point', () => {
    expect(() => logLogChart({ ...spec, series: [{ name: 'x', points: [{ x: 1, y: 0 }] }] })).toThrow(
      "logLogChart 'cost <N> & co': no point with finite x > 0 and y > 0",
    );
  });
  it('puts charts side by side', () => {
    const a = logLogChart({ ...spec, width: 300, height: 200 });
    const both = sideBySide([a, a]);
    expect(both.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200"')).toBe(true);
    expect(both).toContain('<svg x="300" y="0" width="300" height="200"');
    expect(count(both, /<circle /g)).toBe(10);
  });
});
