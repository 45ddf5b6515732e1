/**
 * float16 export (for CUDA serving: half the weight bytes, tensor-core matmuls). A pass over a
 * finished float32 ModelProto: every float32 tensor inside the graph becomes float16 (initializers,
 * value_info, Cast targets); the graph's float32 inputs are cast to float16 on entry and its float32
 * outputs back to float32 on exit, so callers, Triton's config.pbtxt and the scoring server see
 * the same interface as the float32 model. Integer and bool tensors are untouched.
 *
 * Constants outside float16's range keep their meaning rather than their value: a finite constant
 * beyond ±65504 (FLOAT32_LOWEST as TopK's "valid but -inf" key, -1e38 as a softmax guard) becomes
 * ±65504, and a non-zero constant that would round to 0 (an epsilon such as 1e-12) becomes the
 * smallest float16 subnormal of its sign, so a guard against division by zero still guards.
 * Precision: float16 has an 11-bit significand (relative rounding 2^-11 ≈ 4.9e-4 per value), so
 * the exporter checks this model against the float32 reference with its own, stated tolerance.
 */
import type { onnx as O } from 'onnx-proto';
import { nodesWithin } from './proto.ts';

const FLOAT = 1;
const FLOAT16 = 10;
export const FLOAT16_MAX = 65504;
/** smallest positive float16 (a subnormal), 2^-24 */
export const FLOAT16_MIN_SUBNORMAL = 2 ** -24;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bits of x, rounded to nearest even (x is first rounded to float32, as ONNX values are). */
export function float16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // subnormal or zero
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m; // a carry into the exponent is still right
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The number float16 bits stand for. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** x as the float16 that keeps its role (see the file comment). */
export function toFloat16Constant(x: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return float16Bits(x);
  if (Math.abs(x) > FLOAT16_MAX) return float16Bits(Math.sign(x) * FLOAT16_MAX);
  const h = float16Bits(x);
  return (h & 0x7fff) === 0 ? float16Bits(Math.sign(x) * FLOAT16_MIN_SUBNORMAL) : h;
}

function floatValues(t: O.ITensorProto): Float32Array {
  if (t.rawData && t.rawData.length) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

function toFloat16Tensor(t: O.ITensorProto): void {
  const v = floatValues(t);
  const out = new Uint8Array(v.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setUint16(i * 2, toFloat16Constant(v[i]!), true);
  t.dataType = FLOAT16;
  t.rawData = out;
  t.floatData = [];
}

function retypeValueInfo(v: O.IValueInfoProto): void {
  const tt = v.type?.tensorType;
  if (tt && tt.elemType === FLOAT) tt.elemType = FLOAT16;
}

/** What the pass changed. */
export interface Float16Summary {
  /** float initializers converted */
  readonly initializers: number;
  /** values converted that a constant's range forced to ±65504 or to the smallest subnormal */
  readonly clampedConstants: number;
  /** boundary casts added (float32 inputs in, float32 outputs out) */
  readonly boundaryCasts: number;
  /** ScatterElements with reduction 'add' kept in float32 between casts (no float16 CPU kernel) */
  readonly float32Scatters: number;
}

/**
 * Turn a float32 ModelProto into its float16 form in place (see the file comment). The graph's
 * interface (input and output names, dtypes and shapes) does not change.
 */
export function convertToFloat16(model: O.IModelProto): Float16Summary {
  const g = model.graph;
  if (!g) throw new Error('convertToFloat16: the model has no graph');
  let nodes = g.node ?? [];
  let initializers = 0;
  let clampedConstants = 0;
  for (const t of g.initializer ?? []) {
    if (t.dataType !== FLOAT) continue;
    for (const x of floatValues(t)) if (Number.isFinite(x) && x !== 0 && toFloat16Constant(x) !== float16Bits(x)) clampedConstants++;
    toFloat16Tensor(t);
    initializers++;
  }
  for (const v of g.valueInfo ?? []) retypeValueInfo(v);
  for (const n of nodesWithin(nodes)) {
    // If branches: their outputs (and any value_info) are typed like the main graph's values
    for (const a of n.attribute ?? [])
      for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
        for (const v of [...(sub.output ?? []), ...(sub.valueInfo ?? [])]) retypeValueInfo(v);
      }
    if (n.opType !== 'Cast') continue;
    for (const a of n.attribute ?? []) if (a.name === 'to' && Number(a.i) === FLOAT) a.i = FLOAT16;
  }

  const used = new Set<string>([
    ...(g.input ?? []).map((i) => i.name!),
    ...(g.output ?? []).map((o) => o.name!),
    ...(g.initializer ?? []).map((t) => t.name!),
    ...[...nodesWithin(nodes)].flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]),
  ]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
  // ONNX Runtime's CPU ScatterElements has no float16 kernel for reduction 'add': such a scatter
  // runs in float32 between casts (exact: the sums of float16 values are rounded once, at the end)
  const casting = (input: string, to: number, name: string): O.INodeProto => ({
    name: fresh(`${name}/to_${to === FLOAT ? 'float32' : 'float16'}`),
    opType: 'Cast',
    input: [input],
    output: [fresh(`${input}/${to === FLOAT ? 'float32' : 'float16'}`)],
    attribute: [{ name: 'to', type: 2, i: to }],
  });
  let scatters = 0;
  nodes = nodes.flatMap((n) => {
    const add =
      n.opType === 'ScatterElements' &&
      (n.attribute ?? []).some((a) => a.name === 'reduction' && new TextDecoder().decode(a.s ?? new Uint8Array()) === 'add');
    if (!add) return [n];
    scatters++;
    const [data, indices, updates] = n.input!;
    const toData = casting(data!, FLOAT, n.name!),
      toUpdates = casting(updates!, FLOAT, n.name!);
    const y = n.output![0]!,
      y32 = fresh(`${y}/float32`);
    return [
      toData,
      toUpdates,
      { ...n, input: [toData.output![0]!, indices!, toUpdates.output![0]!], output: [y32] },
      { name: fresh(`${n.name}/to_float16`), opType: 'Cast', input: [y32], output: [y], attribute: [{ name: 'to', type: 2, i: FLOAT16 }] },
    ];
  });
  const isFloat = (v: O.IValueInfoProto) => v.type?.tensorType?.elemType === FLOAT;
  const entry: O.INodeProto[] = [];
  const exit: O.INodeProto[] = [];
  for (const inp of g.input ?? []) {
    if (!isFloat(inp)) continue;
    const half = fresh(`${inp.name}/float16`);
    for (const n of nodesWithin(nodes)) n.input = (n.input ?? []).map((x) => (x === inp.name ? half : x));
    entry.push({
      name: fresh(`${inp.name}/to_float16`),
      opType: 'Cast',
      input: [inp.name!],
      output: [half],
      attribute: [{ name: 'to', type: 2, i: FLOAT16 }],
    });
  }
  for (const out of g.output ?? []) {
    if (!isFloat(out)) continue;
    const half = fresh(`${out.name}/float16`);
    for (const n of nodesWithin(nodes)) {
      n.input = (n.input ?? []).map((x) => (x === out.name ? half : x));
      n.output = (n.output ?? []).map((x) => (x === out.name ? half : x));
    }
    // an output that is a graph input or an initializer directly: its Identity already exists
    exit.push({
      name: fresh(`${out.name}/to_float32`),
      opType: 'Cast',
      input: [half],
      output: [out.name!],
      attribute: [{ name: 'to', type: 2, i: FLOAT }],
    });
  }
  g.node = [...entry, ...nodes, ...exit];
  return { initializers, clampedConstants, boundaryCasts: entry.length + exit.length, float32Scatters: scatters };
}
