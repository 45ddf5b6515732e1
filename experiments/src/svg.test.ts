import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, lineChart, niceTicks, wrapText } from './svg.ts';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('niceTicks', () => {
  it('covers the range with round steps', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.712, 0.734)).toEqual([0.71, 0.715, 0.72, 0.725, 0.73, 0.735]);
    const t = niceTicks(37, 912);
    expect(t[0]).toBeLessThanOrEqual(37);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(912);
  });
  it('widens a single value and rejects a reversed range', () => {
    expect(niceTicks(0.5, 0.5).length).toBeGreaterThan(1);
    expect(() => niceTicks(2, 1)).toThrow(/min \(2\) must be <= max \(1\)/);
  });
});

describe('barChart', () => {
  const spec = {
    title: 'CRP <ablation> & co',
    xLabel: 'variant',
    yLabel: 'AUC',
    groups: ['none', 'PT+PS', 'all'],
    series: [
      { name: 'AUC', values: [0.7, 0.71, NaN], errors: [0.002, 0, NaN] },
      { name: 'GAUC', values: [0.69, 0.7, 0.72] },
    ],
    reference: { label: 'Bayes AUC', value: 0.84 },
  };
  it('draws one bar per finite value, error bars only where positive, the reference line, escaped text', () => {
    const svg = barChart(spec);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(count(svg, /<rect [^>]*><title>/g)).toBe(5);
    expect(count(svg, /<path d="M[^"]*" stroke="#222222"/g)).toBe(1);
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('CRP &lt;ablation&gt; &amp; co');
    expect(svg).not.toContain('NaN');
  });
  it('is deterministic and checks lengths', () => {
    expect(barChart(spec)).toBe(barChart(spec));
    expect(() => barChart({ ...spec, series: [{ name: 'x', values: [1] }] })).toThrow(/series 0 \('x'\) has 1 values for 3 groups/);
  });
});

describe('lineChart', () => {
  it('draws a path per series with 2+ points and a marker per point', () => {
    const svg = lineChart({
      title: 'consistency',
      xLabel: 'K1',
      yLabel: 'share',
      xTicks: [50, 100, 200],
      series: [
        {
          name: 'K1 picks',
          points: [
            { x: 200, y: 0.9, error: 0.01 },
            { x: 50, y: 0.5 },
            { x: 100, y: 0.7 },
          ],
        },
        { name: 'flat', points: [{ x: 50, y: 0.4 }], dashed: true },
      ],
    });
    expect(count(svg, /<path d="M[^"]*" stroke="#4e79a7" stroke-width="2"/g)).toBe(1);
    expect(count(svg, /<circle /g)).toBe(4);
    // points are joined in x order
    const d = /<path d="(M[^"]*)" stroke="#4e79a7" stroke-width="2"/.exec(svg)![1]!;
    const xs = [...d.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });
});

describe('escapeXml', () => {
  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});

describe('wrapText', () => {
  it('breaks at spaces within the width, a long word alone', () => {
    expect(wrapText('aa bb cc dd', 5)).toEqual(['aa bb', 'cc dd']);
    expect(wrapText('a verylongword b', 4)).toEqual(['a', 'verylongword', 'b']);
    expect(wrapText('', 10)).toEqual([]);
  });
});
