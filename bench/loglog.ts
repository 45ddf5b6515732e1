/**
 * Log-log fits for cost benchmarks: the least-squares slope of log(y) vs log(x) (y ∝ x^slope), its
 * standard error and R², a plain linear fit (fixed + marginal cost), and a log-log line chart (SVG, both axes logarithmic) in the style of
 * experiments/src/svg.ts. The base of the logarithm does not change the slope; the intercept is
 * reported in natural log (y ≈ exp(intercept) · x^slope).
 */
import { PALETTE, escapeXml, wrapText } from '@lctr/experiments/svg';

export interface LogLogFit {
  /** least-squares slope of ln y vs ln x: y grows like x^slope */
  readonly slope: number;
  /** ln y at x = 1 on the fitted line */
  readonly intercept: number;
  /** standard error of the slope (NaN with 2 points: a line through 2 points has no residual) */
  readonly slopeStdErr: number;
  /** coefficient of determination of the fit in log space (1 when every point lies on the line) */
  readonly r2: number;
  /** number of points */
  readonly n: number;
}

/**
 * Fit ln y = intercept + slope · ln x by ordinary least squares. Needs at least 2 points, equal
 * lengths, every x and y finite and > 0, and at least two distinct x.
 */
export function logLogSlope(xs: readonly number[], ys: readonly number[]): LogLogFit {
  if (xs.length !== ys.length) throw new RangeError(`logLogSlope: xs and ys must have the same length, got ${xs.length} and ${ys.length}`);
  if (xs.length < 2) throw new RangeError(`logLogSlope: need at least 2 points, got ${xs.length}`);
  xs.forEach((x, i) => {
    if (!(Number.isFinite(x) && x > 0)) throw new RangeError(`logLogSlope: xs[${i}] must be a finite number > 0, got ${x}`);
  });
  ys.forEach((y, i) => {
    if (!(Number.isFinite(y) && y > 0)) throw new RangeError(`logLogSlope: ys[${i}] must be a finite number > 0, got ${y}`);
  });
  const fit = leastSquares(
    xs.map(Math.log),
    ys.map(Math.log),
    (sxx) => sxx > 1e-24,
    () => `logLogSlope: need at least two distinct x values, got [${xs.join(', ')}]`,
  );
  const slopeStdErr = fit.n > 2 ? Math.sqrt(fit.sse / (fit.n - 2) / fit.sxx) : NaN;
  return { slope: fit.slope, intercept: fit.intercept, slopeStdErr, r2: fit.r2, n: fit.n };
}

/** Ordinary least squares of y on x (inputs already checked but for distinct x, which `distinct` decides from sxx and the mean of x). */
function leastSquares(
  xs: readonly number[],
  ys: readonly number[],
  distinct: (sxx: number, mx: number) => boolean,
  notDistinct: () => string,
) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n,
    my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0,
    sxy = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx,
      dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (!distinct(sxx, mx)) throw new RangeError(notDistinct());
  const slope = sxy / sxx,
    intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const r = ys[i]! - intercept - slope * xs[i]!;
    sse += r * r;
  }
  return { slope, intercept, sse, sxx, r2: syy > 0 ? Math.max(0, 1 - sse / syy) : 1, n };
}

export interface LinearFit {
  /** least-squares slope of y vs x (e.g. ms per extra event) */
  readonly slope: number;
  /** y at x = 0 on the fitted line (e.g. the fixed cost of a request) */
  readonly intercept: number;
  readonly r2: number;
  readonly n: number;
}

/**
 * Fit y = intercept + slope · x by ordinary least squares (the marginal cost and the fixed cost of
 * a cost curve). Needs at least 2 points, equal lengths, finite values and two distinct x.
 */
export function linearFit(xs: readonly number[], ys: readonly number[]): LinearFit {
  if (xs.length !== ys.length) throw new RangeError(`linearFit: xs and ys must have the same length, got ${xs.length} and ${ys.length}`);
  if (xs.length < 2) throw new RangeError(`linearFit: need at least 2 points, got ${xs.length}`);
  xs.forEach((x, i) => {
    if (!Number.isFinite(x)) throw new RangeError(`linearFit: xs[${i}] must be finite, got ${x}`);
  });
  ys.forEach((y, i) => {
    if (!Number.isFinite(y)) throw new RangeError(`linearFit: ys[${i}] must be finite, got ${y}`);
  });
  const fit = leastSquares(
    xs,
    ys,
    (sxx, mx) => sxx > 1e-24 * Math.max(1, mx * mx),
    () => `linearFit: need at least two distinct x values, got [${xs.join(', ')}]`,
  );
  return { slope: fit.slope, intercept: fit.intercept, r2: fit.r2, n: fit.n };
}

/** Powers of ten and their 2x, 5x multiples inside [lo, hi] (tick positions on a log axis). */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) throw new RangeError(`logTicks: need 0 < lo <= hi < Infinity, got ${lo} and ${hi}`);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const t = Number((m * 10 ** e).toPrecision(12));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

/** 1500 -> "1.5k", 2000000 -> "2M", 0.05 -> "0.05". */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

export interface LogLogSeries {
  readonly name: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
  readonly dashed?: boolean;
  /** stroke colour (default: the series' index in PALETTE) */
  readonly color?: string;
}

export interface LogLogChartSpec {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LogLogSeries[];
  /** x tick positions (default: 1-2-5 ticks over the data); e.g. exactly the measured x values */
  readonly xTicks?: readonly number[];
  readonly width?: number;
  readonly height?: number;
}

const c2 = (v: number): string => String(Math.round(v * 100) / 100);
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/**
 * A line chart with both axes logarithmic: one line per series (points sorted by x, a marker with a
 * <title> per point), 1-2-5 y ticks, a legend wrapped over rows. Points with x or y not finite or
 * <= 0 are left out. Deterministic: the same spec gives the same bytes.
 */
export function logLogChart(spec: LogLogChartSpec): string {
  const width = spec.width ?? 760,
    height = spec.height ?? 460;
  const ok = (p: { x: number; y: number }) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0 && p.y > 0;
  const pts = spec.series.flatMap((s) => s.points.filter(ok));
  if (!pts.length) throw new RangeError(`logLogChart '${spec.title}': no point with finite x > 0 and y > 0`);
  const xTicks = spec.xTicks?.length ? [...spec.xTicks] : logTicks(Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x)));
  const xs = [...pts.map((p) => p.x), ...xTicks],
    ys = pts.map((p) => p.y);
  const xLo = Math.log10(Math.min(...xs)) - 0.05,
    xHi = Math.log10(Math.max(...xs)) + 0.05;
  let yLo = Math.log10(Math.min(...ys)),
    yHi = Math.log10(Math.max(...ys));
  const pad = Math.max(0.05, (yHi - yLo) * 0.06);
  yLo -= pad;
  yHi += pad;
  let yTicks = logTicks(10 ** yLo, 10 ** yHi);
  if (yTicks.length > 9) yTicks = yTicks.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
  if (yTicks.length < 2) yTicks = [10 ** yLo, 10 ** yHi].map((t) => Number(t.toPrecision(2)));

  const sub = spec.subtitle ? wrapText(spec.subtitle, Math.floor((width - 40) / 6)) : [];
  const left = 72,
    right = 24,
    bottom = 56;
  let lx = left,
    row = 0;
  const legendAt = spec.series.map((s, i) => {
    const w = 36 + s.name.length * 7;
    if (i > 0 && lx + w > width - right) {
      lx = left;
      row++;
    }
    const at = { x: lx, row };
    lx += w;
    return at;
  });
  const legendTop = 24 + sub.length * 14 + 14;
  const top = legendTop + (row + 1) * 18 + 8;
  const plotW = width - left - right,
    plotH = height - top - bottom;
  const X = (v: number) => left + (plotW * (Math.log10(v) - xLo)) / (xHi - xLo);
  const Y = (v: number) => top + plotH * (1 - (Math.log10(v) - yLo) / (yHi - yLo));

  const out: string[] = [];
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${c2(width / 2)}" y="22" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(spec.title)}</text>`,
  );
  sub.forEach((line, i) =>
    out.push(
      `<text x="${c2(width / 2)}" y="${40 + i * 14}" text-anchor="middle" font-size="11" fill="#555555" ${FONT}>${escapeXml(line)}</text>`,
    ),
  );
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!,
      x = legendAt[i]!.x,
      y = legendTop + legendAt[i]!.row * 18;
    out.push(
      `<line x1="${c2(x)}" y1="${c2(y + 6)}" x2="${c2(x + 14)}" y2="${c2(y + 6)}" stroke="${color}" ` +
        `stroke-width="2.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    out.push(`<text x="${c2(x + 18)}" y="${c2(y + 10)}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>`);
  });
  const base = height - bottom;
  for (const t of yTicks) {
    out.push(`<line x1="${left}" y1="${c2(Y(t))}" x2="${width - right}" y2="${c2(Y(t))}" stroke="#e0e0e0" stroke-width="1"/>`);
    out.push(`<text x="${left - 6}" y="${c2(Y(t) + 4)}" text-anchor="end" font-size="11" ${FONT}>${shortNumber(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${c2(X(t))}" y1="${base}" x2="${c2(X(t))}" y2="${base + 5}" stroke="#333333" stroke-width="1"/>`);
    out.push(`<text x="${c2(X(t))}" y="${base + 18}" text-anchor="middle" font-size="11" ${FONT}>${shortNumber(t)}</text>`);
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${base}" stroke="#333333" stroke-width="1"/>`);
  out.push(`<line x1="${left}" y1="${base}" x2="${width - right}" y2="${base}" stroke="#333333" stroke-width="1"/>`);
  out.push(
    `<text x="${c2(left + plotW / 2)}" y="${height - 14}" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(spec.xLabel)}</text>`,
  );
  const midY = (top + base) / 2;
  out.push(
    `<text x="18" y="${c2(midY)}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${c2(midY)})" ` +
      `${FONT}>${escapeXml(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length]!;
    const p = s.points
      .filter(ok)
      .slice()
      .sort((a, b) => a.x - b.x);
    if (p.length > 1)
      out.push(
        `<path d="${p.map((q, i) => `${i ? 'L' : 'M'}${c2(X(q.x))} ${c2(Y(q.y))}`).join('')}" stroke="${color}" stroke-width="2" ` +
          `fill="none"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    for (const q of p)
      out.push(
        `<circle cx="${c2(X(q.x))}" cy="${c2(Y(q.y))}" r="3.5" ` +
          `fill="${color}"><title>${escapeXml(`${s.name}: x ${shortNumber(q.x)}, y ${Number(q.y.toPrecision(4))}`)}</title></circle>`,
      );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n` +
    `${out.join('\n')}\n</svg>\n`
  );
}

/** Charts (each a whole <svg> document) side by side in one SVG, as nested <svg> elements. */
export function sideBySide(charts: readonly string[]): string {
  if (!charts.length) throw new RangeError('sideBySide: no chart given');
  const sizes = charts.map((svg, i) => {
    const m = /^<svg [^>]*width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"/.exec(svg);
    if (!m) throw new RangeError(`sideBySide: chart ${i} does not start with <svg ... width=".." height="..">`);
    return { w: Number(m[1]), h: Number(m[2]) };
  });
  let x = 0;
  const parts = charts.map((svg, i) => {
    const body = svg
      .trimEnd()
      .replace(
        /^<svg [^>]*>/,
        `<svg x="${x}" y="0" width="${sizes[i]!.w}" height="${sizes[i]!.h}" viewBox="0 0 ${sizes[i]!.w} ${sizes[i]!.h}">`,
      );
    x += sizes[i]!.w;
    return body;
  });
  const h = Math.max(...sizes.map((s) => s.h));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${x}" height="${h}" viewBox="0 0 ${x} ${h}">\n${parts.join('\n')}\n</svg>\n`;
}
