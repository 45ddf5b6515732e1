/**
 * Dims are numbers or symbolic names. A symbolic dim may also be a product such as '4*seq' or
 * 'batch*seq' (what reshape(-1) or concat along a symbolic axis produce); it is kept in one
 * canonical string form so that equal dims compare equal as strings.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

interface Monomial {
  coef: number;
  syms: Map<string, number>;
}

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isSymbolName(s: string): boolean {
  return SYMBOL.test(s);
}

function parse(d: Dim): Monomial {
  if (typeof d === 'number') return { coef: d, syms: new Map() };
  const m: Monomial = { coef: 1, syms: new Map() };
  for (const part of d.split('*')) {
    const p = part.trim();
    if (/^\d+$/.test(p)) m.coef *= Number(p);
    else if (SYMBOL.test(p)) m.syms.set(p, (m.syms.get(p) ?? 0) + 1);
    else throw new Error(`bad symbolic dim '${d}'`);
  }
  return m;
}

function format(m: Monomial): Dim {
  if (m.syms.size === 0) return m.coef;
  const names = [...m.syms.keys()].sort();
  const parts: string[] = [];
  if (m.coef !== 1) parts.push(String(m.coef));
  for (const n of names) for (let i = 0; i < m.syms.get(n)!; i++) parts.push(n);
  return parts.join('*');
}

/** Canonical form of a dim ('seq*4' -> '4*seq'); throws on a malformed dim. */
export function canonicalDim(d: Dim): Dim {
  if (typeof d === 'number') {
    if (!Number.isInteger(d) || d < 0) throw new Error(`bad dim ${d}: expected a non-negative integer or a symbolic name`);
    return d;
  }
  return format(parse(d));
}

export function dimEquals(a: Dim, b: Dim): boolean {
  return canonicalDim(a) === canonicalDim(b);
}

export function isStaticDim(d: Dim): d is number {
  return typeof d === 'number';
}

export function mulDims(a: Dim, b: Dim): Dim {
  const x = parse(a),
    y = parse(b);
  const syms = new Map(x.syms);
  for (const [k, v] of y.syms) syms.set(k, (syms.get(k) ?? 0) + v);
  if (x.coef * y.coef === 0) return 0;
  return format({ coef: x.coef * y.coef, syms });
}

/** a / b when it divides exactly into a monomial, else undefined. */
export function divDims(a: Dim, b: Dim): Dim | undefined {
  const x = parse(a),
    y = parse(b);
  if (y.coef === 0 || x.coef % y.coef !== 0) return undefined;
  const syms = new Map(x.syms);
  for (const [k, v] of y.syms) {
    const have = syms.get(k) ?? 0;
    if (have < v) return undefined;
    if (have === v) syms.delete(k);
    else syms.set(k, have - v);
  }
  return format({ coef: x.coef / y.coef, syms });
}

/** a + b when both are multiples of the same symbols (3 + 4, seq + seq = 2*seq), else undefined. */
export function addDims(a: Dim, b: Dim): Dim | undefined {
  const x = parse(a),
    y = parse(b);
  const kx = format({ coef: 1, syms: x.syms }),
    ky = format({ coef: 1, syms: y.syms });
  if (kx !== ky) return undefined;
  return format({ coef: x.coef + y.coef, syms: x.syms });
}

export function productOf(shape: Shape): Dim {
  let p: Dim = 1;
  for (const d of shape) p = mulDims(p, d);
  return p;
}

/** The symbolic names a dim mentions. */
export function symbolsOf(d: Dim): string[] {
  return typeof d === 'number' ? [] : [...parse(d).syms.keys()];
}

export type DimBindings = Readonly<Record<string, number>>;

/** The number a dim takes under run-time bindings of its symbols. */
export function resolveDim(d: Dim, bindings: DimBindings): number {
  if (typeof d === 'number') return d;
  const m = parse(d);
  let v = m.coef;
  for (const [k, p] of m.syms) {
    const b = bindings[k];
    if (b === undefined) throw new Error(`symbolic dim '${k}' has no value at run time (bound: ${JSON.stringify(bindings)})`);
    v *= b ** p;
  }
  return v;
}

export function resolveShape(shape: Shape, bindings: DimBindings): number[] {
  return shape.map((d) => resolveDim(d, bindings));
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Numpy broadcasting of two shapes; undefined when incompatible. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (dimEquals(da, db)) out.push(canonicalDim(da));
    else if (da === 1) out.push(canonicalDim(db));
    else if (db === 1) out.push(canonicalDim(da));
    else return undefined;
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}
