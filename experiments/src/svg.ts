/**
 * A small SVG writer for experiment charts, no dependency: grouped bars with error bars (and an
 * optional horizontal reference line, e.g. the Bayes AUC) and a line chart with error bars. Output
 * is a deterministic string (same input, same bytes). NaN values are left out (no bar, no point);
 * an error of NaN, 0 or undefined draws no error bar. Every bar and point carries a <title> with
 * its value, so a browser shows it on hover.
 */

export interface BarSeries {
  readonly name: string;
  /** one value per group */
  readonly values: readonly number[];
  /** half-length of the error bar per group (e.g. the standard deviation over seeds) */
  readonly errors?: readonly number[];
}

export interface ChartFrame {
  readonly title: string;
  /** a second, smaller line under the title (setup, what ± means) */
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** the y axis range; default: nice ticks around the data (bars need not start at 0) */
  readonly yRange?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
}

export interface BarChartSpec extends ChartFrame {
  /** the x categories */
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  /** a dashed horizontal line across the plot */
  readonly reference?: { readonly label: string; readonly value: number };
}

export interface LinePoint {
  readonly x: number;
  readonly y: number;
  readonly error?: number;
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly LinePoint[];
  /** dashed stroke (e.g. a baseline series) */
  readonly dashed?: boolean;
}

export interface LineChartSpec extends ChartFrame {
  readonly series: readonly LineSeries[];
  readonly xRange?: readonly [number, number];
  /** where to put x ticks (default: nice ticks); e.g. exactly the measured x values */
  readonly xTicks?: readonly number[];
}

/** Tableau 10: distinguishable, colour-blind-friendlier than the defaults of most tools. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
] as const;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Coordinates with at most two decimals (stable output, small files). */
const c = (v: number): string => String(Math.round(v * 100) / 100);

/** Decimals needed to print multiples of `step` exactly. */
function decimalsOf(step: number): number {
  let d = 0;
  while (d < 10 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-9 * 10 ** d) d++;
  return d;
}

/**
 * About `count` round ticks (steps of 1, 2 or 5 x 10^k) covering [min, max]: the first tick <= min,
 * the last >= max. min === max gets a range around the value.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`niceTicks: min and max must be finite, got ${min} and ${max}`);
  if (min > max) throw new RangeError(`niceTicks: min (${min}) must be <= max (${max})`);
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const first = Math.floor(min / step + 1e-9),
    last = Math.ceil(max / step - 1e-9);
  const d = decimalsOf(step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(d)));
  return ticks;
}

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  /** data y -> pixel y */
  readonly y: (v: number) => number;
  readonly yTicks: readonly number[];
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Words of `text` in lines of at most `maxChars` characters (a longer word gets a line of its own). */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Subtitle lines at font size 11 (about 6 px a character). */
const subtitleLines = (spec: ChartFrame) => (spec.subtitle ? wrapText(spec.subtitle, Math.floor(((spec.width ?? 760) - 40) / 6)) : []);

function yTicksFor(values: readonly number[], range: readonly [number, number] | undefined): number[] {
  if (range) {
    if (!(range[0] < range[1])) throw new RangeError(`chart: yRange must be [low, high] with low < high, got [${range.join(', ')}]`);
    const t = niceTicks(range[0], range[1]);
    return t.filter((v) => v >= range[0] - 1e-12 && v <= range[1] + 1e-12);
  }
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  const lo = Math.min(...finite),
    hi = Math.max(...finite);
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.02 || 0.01;
  return niceTicks(lo - pad, hi + pad);
}

interface LegendEntry {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
}
const LEFT = 72,
  RIGHT = 24;

/** Legend entries left to right, wrapping to a new row when the next would pass the right margin. */
function legendLayout(entries: readonly LegendEntry[], width: number): { x: number; row: number }[] {
  let x = LEFT,
    row = 0;
  return entries.map((e, i) => {
    const w = 36 + e.name.length * 7;
    if (i > 0 && x + w > width - RIGHT) {
      x = LEFT;
      row++;
    }
    const at = { x, row };
    x += w;
    return at;
  });
}

function frame(spec: ChartFrame, legend: readonly LegendEntry[], values: readonly number[]): Frame {
  const width = spec.width ?? 760,
    height = spec.height ?? 440;
  const legendRows = legend.length ? 1 + Math.max(...legendLayout(legend, width).map((p) => p.row)) : 0;
  const top = 24 + subtitleLines(spec).length * 14 + 18 + legendRows * 18;
  const ticks = yTicksFor(values, spec.yRange);
  const lo = spec.yRange?.[0] ?? ticks[0]!,
    hi = spec.yRange?.[1] ?? ticks[ticks.length - 1]!;
  const f = { width, height, left: LEFT, right: RIGHT, top, bottom: 76 };
  const plotH = height - f.top - f.bottom;
  return { ...f, y: (v: number) => f.top + plotH * (1 - (v - lo) / (hi - lo)), yTicks: ticks };
}

/** Title, subtitle, legend (rows of swatches), y grid with tick labels, axis labels. */
function chrome(spec: ChartFrame, f: Frame, legend: readonly LegendEntry[]): string[] {
  const out: string[] = [];
  out.push(`<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${c(f.width / 2)}" y="22" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(spec.title)}</text>`,
  );
  const sub = subtitleLines(spec);
  sub.forEach((line, i) =>
    out.push(
      `<text x="${c(f.width / 2)}" y="${40 + i * 14}" text-anchor="middle" font-size="11" fill="#555555" ${FONT}>${escapeXml(line)}</text>`,
    ),
  );
  const legendTop = 24 + sub.length * 14 + 14;
  const at = legendLayout(legend, f.width);
  for (const [i, e] of legend.entries()) {
    const x = at[i]!.x,
      y = legendTop + at[i]!.row * 18;
    out.push(
      e.dashed
        ? `<line x1="${c(x)}" y1="${c(y + 6)}" x2="${c(x + 14)}" y2="${c(y + 6)}" stroke="${e.color}" stroke-width="2" ` +
            `stroke-dasharray="4 3"/>`
        : `<rect x="${c(x)}" y="${c(y)}" width="14" height="12" fill="${e.color}"/>`,
    );
    out.push(`<text x="${c(x + 18)}" y="${c(y + 10)}" font-size="12" ${FONT}>${escapeXml(e.name)}</text>`);
  }
  const d = decimalsOf(f.yTicks.length > 1 ? Math.abs(f.yTicks[1]! - f.yTicks[0]!) : 1);
  for (const t of f.yTicks) {
    const y = f.y(t);
    out.push(`<line x1="${f.left}" y1="${c(y)}" x2="${f.width - f.right}" y2="${c(y)}" stroke="#e0e0e0" stroke-width="1"/>`);
    out.push(`<text x="${f.left - 6}" y="${c(y + 4)}" text-anchor="end" font-size="11" ${FONT}>${t.toFixed(d)}</text>`);
  }
  const plotBottom = f.height - f.bottom;
  out.push(`<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${plotBottom}" stroke="#333333" stroke-width="1"/>`);
  out.push(`<line x1="${f.left}" y1="${plotBottom}" x2="${f.width - f.right}" y2="${plotBottom}" stroke="#333333" stroke-width="1"/>`);
  out.push(
    `<text x="${c((f.left + f.width - f.right) / 2)}" y="${f.height - 12}" text-anchor="middle" font-size="13" ` +
      `${FONT}>${escapeXml(spec.xLabel)}</text>`,
  );
  const midY = (f.top + plotBottom) / 2;
  out.push(
    `<text x="18" y="${c(midY)}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${c(midY)})" ` +
      `${FONT}>${escapeXml(spec.yLabel)}</text>`,
  );
  return out;
}

function errorBar(x: number, yLo: number, yHi: number, color: string): string {
  return (
    `<path d="M${c(x)} ${c(yLo)}V${c(yHi)}M${c(x - 4)} ${c(yLo)}H${c(x + 4)}M${c(x - 4)} ${c(yHi)}H${c(x + 4)}" stroke="${color}" ` +
    `stroke-width="1.5" fill="none"/>`
  );
}

const wrap = (f: Frame, body: readonly string[]) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ` +
  `${f.height}">\n${body.join('\n')}\n</svg>\n`;

const fmtValue = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));

/** Grouped bars: one group per x category, one bar per series inside it, error bars where given. */
export function barChart(spec: BarChartSpec): string {
  spec.series.forEach((s, i) => {
    if (s.values.length !== spec.groups.length)
      throw new RangeError(`barChart: series ${i} ('${s.name}') has ${s.values.length} values for ${spec.groups.length} groups`);
    if (s.errors && s.errors.length !== spec.groups.length)
      throw new RangeError(`barChart: series ${i} ('${s.name}') has ${s.errors.length} errors for ${spec.groups.length} groups`);
  });
  const all: number[] = [];
  for (const s of spec.series)
    s.values.forEach((v, g) => {
      const e = s.errors?.[g];
      all.push(v);
      if (e !== undefined && Number.isFinite(e)) all.push(v - e, v + e);
    });
  if (spec.reference) all.push(spec.reference.value);
  const legend: LegendEntry[] = spec.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length]! }));
  if (spec.reference) legend.push({ name: spec.reference.label, color: '#333333', dashed: true });
  const f = frame(spec, legend, all);
  const out = chrome(spec, f, legend);
  const plotW = f.width - f.left - f.right;
  const groupW = plotW / Math.max(1, spec.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const base = f.height - f.bottom;
  spec.groups.forEach((g, gi) => {
    const gx = f.left + gi * groupW;
    // long labels wrap to the group's width (about 6.5 px per character at 12 px), at most 3 lines
    wrapText(g, Math.max(4, Math.floor(groupW / 6.5)))
      .slice(0, 3)
      .forEach((line, li) =>
        out.push(
          `<text x="${c(gx + groupW / 2)}" y="${base + 18 + li * 13}" text-anchor="middle" font-size="12" ` +
            `${FONT}>${escapeXml(line)}</text>`,
        ),
      );
    spec.series.forEach((s, si) => {
      const v = s.values[gi]!;
      if (!Number.isFinite(v)) return;
      const color = PALETTE[si % PALETTE.length]!;
      const x = gx + groupW * 0.1 + si * barW;
      const y = Math.min(base, Math.max(f.top, f.y(v)));
      const e = s.errors?.[gi];
      const tip = `${s.name}, ${g}: ${fmtValue(v)}${e !== undefined && Number.isFinite(e) && e > 0 ? ` ± ${fmtValue(e)}` : ''}`;
      out.push(
        `<rect x="${c(x + 1)}" y="${c(y)}" width="${c(Math.max(1, barW - 2))}" height="${c(base - y)}" ` +
          `fill="${color}"><title>${escapeXml(tip)}</title></rect>`,
      );
      if (e !== undefined && Number.isFinite(e) && e > 0) out.push(errorBar(x + barW / 2, f.y(v - e), f.y(v + e), '#222222'));
    });
  });
  if (spec.reference && Number.isFinite(spec.reference.value)) {
    const y = f.y(spec.reference.value);
    out.push(
      `<line x1="${f.left}" y1="${c(y)}" x2="${f.width - f.right}" y2="${c(y)}" stroke="#333333" stroke-width="1.5" stroke-dasharray="6 ` +
        `4"><title>${escapeXml(`${spec.reference.label}: ${fmtValue(spec.reference.value)}`)}</title></line>`,
    );
  }
  return wrap(f, out);
}

/** Lines through each series' points (sorted by x), a marker per point, error bars where given. */
export function lineChart(spec: LineChartSpec): string {
  const xs = spec.series.flatMap((s) => s.points.map((p) => p.x)).filter(Number.isFinite);
  const ys: number[] = [];
  for (const s of spec.series)
    for (const p of s.points) {
      ys.push(p.y);
      if (p.error !== undefined && Number.isFinite(p.error)) ys.push(p.y - p.error, p.y + p.error);
    }
  const legend: LegendEntry[] = spec.series.map((s, i) => ({
    name: s.name,
    color: PALETTE[i % PALETTE.length]!,
    ...(s.dashed ? { dashed: true } : {}),
  }));
  const f = frame(spec, legend, ys);
  const out = chrome(spec, f, legend);
  let xTicks: number[];
  let xLo: number, xHi: number;
  if (spec.xRange) {
    if (!(spec.xRange[0] < spec.xRange[1]))
      throw new RangeError(`lineChart: xRange must be [low, high] with low < high, got [${spec.xRange.join(', ')}]`);
    [xLo, xHi] = spec.xRange;
    xTicks = spec.xTicks ? [...spec.xTicks] : niceTicks(xLo, xHi).filter((t) => t >= xLo && t <= xHi);
  } else if (spec.xTicks && spec.xTicks.length) {
    xTicks = [...spec.xTicks];
    const lo = Math.min(...xTicks, ...xs),
      hi = Math.max(...xTicks, ...xs);
    const pad = (hi - lo) * 0.05 || 1;
    xLo = lo - pad;
    xHi = hi + pad;
  } else {
    xTicks = xs.length ? niceTicks(Math.min(...xs), Math.max(...xs)) : [0, 1];
    xLo = xTicks[0]!;
    xHi = xTicks[xTicks.length - 1]!;
  }
  const plotW = f.width - f.left - f.right;
  const x = (v: number) => f.left + (plotW * (v - xLo)) / (xHi - xLo);
  const base = f.height - f.bottom;
  const xd = Math.max(...xTicks.map((t) => decimalsOf(Math.abs(t))), 0);
  for (const t of xTicks) {
    out.push(`<line x1="${c(x(t))}" y1="${base}" x2="${c(x(t))}" y2="${base + 5}" stroke="#333333" stroke-width="1"/>`);
    out.push(`<text x="${c(x(t))}" y="${base + 18}" text-anchor="middle" font-size="11" ${FONT}>${t.toFixed(Math.min(xd, 4))}</text>`);
  }
  spec.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    const pts = s.points
      .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
      .slice()
      .sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${c(x(p.x))} ${c(f.y(p.y))}`).join('');
      out.push(`<path d="${d}" stroke="${color}" stroke-width="2" fill="none"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    for (const p of pts) {
      const e = p.error;
      if (e !== undefined && Number.isFinite(e) && e > 0) out.push(errorBar(x(p.x), f.y(p.y - e), f.y(p.y + e), color));
      const tip = `${s.name}: x ${fmtValue(p.x)}, y ${fmtValue(p.y)}${e !== undefined && Number.isFinite(e) && e > 0 ? ` ± ${fmtValue(e)}` : ''}`;
      out.push(`<circle cx="${c(x(p.x))}" cy="${c(f.y(p.y))}" r="3.5" fill="${color}"><title>${escapeXml(tip)}</title></circle>`);
    }
  });
  return wrap(f, out);
}
