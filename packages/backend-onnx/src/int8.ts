/**
 * int8 export (dynamic quantization, for CPU serving: a quarter of the weight bytes, and ONNX
 * Runtime's integer GEMM, which runs on AVX512-VNNI / AVX2 here). A pass over a finished float32
 * ModelProto: every product worth quantizing, a MatMul of a float activation A by a float32 weight
 * initializer W [k, n] with k, n >= `minDim`, becomes
 *
 *   DynamicQuantizeLinear(A)            -> A_q (uint8), a_scale, a_zero_point   (per tensor, per run)
 *   Mul(a_scale, W_scale)               -> scales [n]
 *   MatMulInteger(A_q, W_q, a_zp, 0)    -> int32
 *   Cast(to float) * scales             -> Y
 *
 * with W quantized here, once, per output column j: symmetric, scale_j = max_i |W_ij| / 127,
 * W_q = round-half-even(W / scale_j) in [-127, 127] (a zero column gets scale 1, so its product is
 * exactly 0). -128 is never used, so |W_q| products never saturate a pair sum of AVX2's pmaddubsw
 * worse than +-127 does. This is the graph onnxruntime.quantization.quantize_dynamic writes; ONNX
 * Runtime's optimizer (level 'extended' and above, the default 'all' included) fuses the four
 * nodes into its DynamicQuantizeMatMul kernel, and every node is a default-domain opset-17 op, so
 * the ONNX checker passes and other runtimes can run the file.
 *
 * Products of two activations (CSA's and MSA's scores against the sequence, DIN's candidate
 * attention) and narrow weights (a [k, 1] logit layer, where one rounding moves the output
 * directly) stay float32. The graph's interface does not change.
 */
import type { onnx as O } from 'onnx-proto';
import { nodesWithin } from './proto.ts';

const FLOAT = 1;
const INT8 = 3;

/** Both dims of a weight must reach this for its product to be quantized (default of `minDim`). */
export const INT8_MIN_DIM = 32;

export interface Int8Options {
  /** the smallest k and n of a weight [k, n] whose product is quantized (default INT8_MIN_DIM) */
  readonly minDim?: number;
}

/** One product quantized. */
export interface Int8Product {
  /** the MatMul node */
  readonly node: string;
  /** its weight initializer */
  readonly weight: string;
  readonly shape: readonly [number, number];
  /** max |W - W_q * scale| over the weight (at most half a column's scale) */
  readonly maxWeightError: number;
}

/** What the pass changed. */
export interface Int8Summary {
  readonly products: readonly Int8Product[];
  /** MatMul nodes left float32: products of two activations, or weights narrower than minDim */
  readonly floatMatmuls: number;
  /** bytes of the float32 weights quantized, and of their int8 form with scales */
  readonly weightBytesBefore: number;
  readonly weightBytesAfter: number;
}

/** The graph has no product worth quantizing; names what it has. */
export class Int8QuantizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Int8QuantizationError';
  }
}

/** x rounded to the nearest integer, ties to even (as ONNX's QuantizeLinear rounds). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * W [k, n] (row-major, applied as x @ W) quantized per output column: symmetric int8 in
 * [-127, 127] and one float32 scale per column.
 */
export function quantizeColumns(w: Float32Array, k: number, n: number): { q: Int8Array; scale: Float32Array; maxError: number } {
  if (w.length !== k * n) throw new Int8QuantizationError(`quantizeColumns: expected ${k} x ${n} = ${k * n} values, got ${w.length}`);
  const scale = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let m = 0;
    for (let i = 0; i < k; i++) m = Math.max(m, Math.abs(w[i * n + j]!));
    scale[j] = m > 0 ? m / 127 : 1;
  }
  const q = new Int8Array(k * n);
  let maxError = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const v = w[i * n + j]!;
      const s = scale[j]!;
      const qi = Math.max(-127, Math.min(127, roundHalfEven(v / s)));
      q[i * n + j] = qi;
      maxError = Math.max(maxError, Math.abs(v - qi * s));
    }
  }
  return { q, scale, maxError };
}

function floatValues(t: O.ITensorProto): Float32Array {
  if (t.rawData && t.rawData.length) {
    const copy = new Uint8Array(t.rawData.length);
    copy.set(t.rawData);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

const bytesOf = (a: Int8Array | Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Quantize the products worth it of a float32 ModelProto in place (see the file comment). Throws
 * Int8QuantizationError, naming the MatMuls it saw and the widest weight, when none is worth it.
 */
export function convertToInt8(model: O.IModelProto, opts: Int8Options = {}): Int8Summary {
  const g = model.graph;
  if (!g) throw new Int8QuantizationError('convertToInt8: the model has no graph');
  const minDim = opts.minDim ?? INT8_MIN_DIM;
  if (!Number.isInteger(minDim) || minDim < 1) throw new Int8QuantizationError(`int8 minDim: expected an integer >= 1, got ${minDim}`);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = g.node ?? [];
  const used = new Set<string>([
    ...(g.input ?? []).map((i) => i.name!),
    ...(g.output ?? []).map((o) => o.name!),
    ...inits.keys(),
    ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? '']),
  ]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };

  const products: Int8Product[] = [];
  let floatMatmuls = 0;
  let widest: { node: string; dims: number[] } | undefined;
  let before = 0,
    after = 0;
  // a weight read by several products is quantized once
  const quantized = new Map<string, { q: string; scale: string; zero: string; maxError: number }>();
  const out: O.INodeProto[] = [];
  for (const n of nodes) {
    const w = n.opType === 'MatMul' ? inits.get(n.input?.[1] ?? '') : undefined;
    const dims = (w?.dims ?? []).map(Number);
    const activation = n.opType === 'MatMul' && !inits.has(n.input?.[0] ?? '');
    if (n.opType === 'MatMul' && w && (!widest || dims[0]! * dims[1]! > widest.dims[0]! * widest.dims[1]!))
      widest = { node: n.name ?? '?', dims };
    if (!w || !activation || w.dataType !== FLOAT || dims.length !== 2 || dims[0]! < minDim || dims[1]! < minDim) {
      if (n.opType === 'MatMul') floatMatmuls++;
      out.push(n);
      continue;
    }
    const [k, m] = dims as [number, number];
    const wName = w.name!;
    let qw = quantized.get(wName);
    if (!qw) {
      const { q, scale, maxError } = quantizeColumns(floatValues(w), k, m);
      qw = { q: fresh(`${wName}/int8`), scale: fresh(`${wName}/scale`), zero: fresh(`${wName}/zero_point`), maxError };
      g.initializer!.push(
        { name: qw.q, dataType: INT8, dims: [k, m], rawData: bytesOf(q) },
        { name: qw.scale, dataType: FLOAT, dims: [m], rawData: bytesOf(scale) },
        { name: qw.zero, dataType: INT8, dims: [m], rawData: new Uint8Array(m) },
      );
      quantized.set(wName, qw);
      before += k * m * 4;
      after += k * m + m * 5;
    }
    const base = n.name ?? wName;
    const [aq, as, azp] = [fresh(`${base}/a_int8`), fresh(`${base}/a_scale`), fresh(`${base}/a_zero_point`)];
    const scales = fresh(`${base}/scales`),
      acc = fresh(`${base}/int32`),
      accF = fresh(`${base}/int32_float`);
    out.push(
      { name: fresh(`${base}/DynamicQuantizeLinear`), opType: 'DynamicQuantizeLinear', input: [n.input![0]!], output: [aq, as, azp] },
      { name: fresh(`${base}/scales`), opType: 'Mul', input: [as, qw.scale], output: [scales] },
      { name: fresh(`${base}/MatMulInteger`), opType: 'MatMulInteger', input: [aq, qw.q, azp, qw.zero], output: [acc] },
      { name: fresh(`${base}/Cast`), opType: 'Cast', input: [acc], output: [accF], attribute: [{ name: 'to', type: 2, i: FLOAT }] },
      { name: fresh(`${base}/Mul`), opType: 'Mul', input: [accF, scales], output: [n.output![0]!] },
    );
    products.push({ node: n.name ?? '?', weight: wName, shape: [k, m], maxWeightError: qw.maxError });
  }
  if (products.length === 0) {
    const what = widest ? `the widest weight [${widest.dims.join(', ')}] (${widest.node})` : 'no weight product';
    throw new Int8QuantizationError(
      `--precision int8: graph '${g.name}' has no product worth quantizing: expected a MatMul of an activation by a float32 weight [k, ` +
        `n] with k, n >= ${minDim}, got ${floatMatmuls} MatMul node${floatMatmuls === 1 ? '' : 's'}, ${what}`,
    );
  }
  g.node = out;
  // float weights no node reads any more leave the file
  const read = new Set([...nodesWithin(out)].flatMap((n) => n.input ?? []));
  g.initializer = (g.initializer ?? []).filter((t) => !quantized.has(t.name!) || read.has(t.name!));
  g.valueInfo = (g.valueInfo ?? []).filter((v) => !quantized.has(v.name!));
  return { products, floatMatmuls, weightBytesBefore: before, weightBytesAfter: after };
}
