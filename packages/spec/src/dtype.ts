/** Element types of the IR. Floats are float32 on the wire; ref-cpu computes them in float64. */
export type DType = 'float32' | 'int32' | 'int64' | 'bool';
export type FloatDType = 'float32';
export type IntDType = 'int32' | 'int64';
export type NumericDType = FloatDType | IntDType;

export const DTYPES: readonly DType[] = ['float32', 'int32', 'int64', 'bool'];

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}
export function isIntDType(d: DType): d is IntDType {
  return d === 'int32' || d === 'int64';
}

/** Host-side storage for each dtype. float32 may arrive as Float64Array (ref-cpu and tests keep float64). */
export interface DataFor {
  float32: Float32Array | Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}
export type HostData = DataFor[DType];

/** A tensor held in host memory: what every backend takes as input and gives as output. */
export interface HostTensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DataFor[D];
}

/**
 * Float32's largest finite magnitude. Top-k ranks a valid position by max(x, FLOAT32_LOWEST) so a
 * valid -Infinity (or NaN) still ranks above padding (-Infinity); masked maxima start from it.
 * Declared once here: every backend's top-k and every block that masks a max reads these.
 */
export const FLOAT32_MAX = 3.4028234663852886e38;
export const FLOAT32_LOWEST = -FLOAT32_MAX;

/** Same rank and the same dims. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Build a host tensor, checking that the data length matches the shape. */
export function hostTensor<D extends DType>(dtype: D, shape: readonly number[], data: DataFor[D]): HostTensor<D> {
  const want = sizeOf(shape);
  if (data.length !== want) {
    throw new Error(`hostTensor: shape [${shape.join(', ')}] needs ${want} elements, got ${data.length}`);
  }
  return { dtype, shape: [...shape], data };
}

/** Read element i of any host tensor as a JS number (int64 via Number, bool as 0/1). */
export function elementAt(t: HostTensor, i: number): number {
  const v = t.data[i];
  return typeof v === 'bigint' ? Number(v) : (v as number);
}

/** Copy a host tensor's data into a Float64Array (any dtype). */
export function toFloat64(t: HostTensor): Float64Array {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = elementAt(t, i);
  return out;
}

/** Make storage of a dtype from plain numbers (int64 through BigInt, bool as 0/1, ints truncated). */
export function dataFromNumbers<D extends DType>(dtype: D, values: ArrayLike<number>): DataFor[D] {
  const n = values.length;
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values as ArrayLike<number>) as DataFor[D];
    case 'int32':
      return Int32Array.from(values as ArrayLike<number>, (v) => Math.trunc(v)) as DataFor[D];
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(Math.trunc(values[i]!));
      return a as DataFor[D];
    }
    case 'bool':
      return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0)) as DataFor[D];
    default:
      throw new Error(`unknown dtype '${String(dtype)}'`);
  }
}
