/**
 * How two tensors are compared. Float outputs: the error of element i is
 * |actual_i - expected_i| / max(|expected_i|, rms(expected), 1e-30), so large values are compared
 * relatively and values near zero against the tensor's own scale (float32 rounding of the terms
 * that cancelled to give them). Non-finite values must match exactly (same infinity, NaN for
 * NaN). Int and bool outputs must be equal element for element.
 */
import { type HostTensor, elementAt, formatShape } from '@lctr/spec';

export interface Tolerance {
  forward: number;
  grad: number;
}
/** float32 vs float64: forward 1e-5, gradients 1e-4 (the foundation's stated tolerances). */
export const DEFAULT_TOLERANCE: Tolerance = { forward: 1e-5, grad: 1e-4 };

export interface Comparison {
  ok: boolean;
  /** largest scaled error (floats) or count of unequal elements (ints/bools) */
  maxErr: number;
  maxAbs: number;
  /** flat index of the worst element, -1 if none */
  at: number;
  detail: string;
}

export interface Comparable {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

function num(t: Comparable, i: number): number {
  return elementAt(t as HostTensor, i);
}

export function compareTensors(actual: Comparable, expected: Comparable, tol: number): Comparison {
  const sameShape = actual.shape.length === expected.shape.length && actual.shape.every((d, i) => d === expected.shape[i]);
  if (!sameShape)
    return {
      ok: false,
      maxErr: Infinity,
      maxAbs: Infinity,
      at: -1,
      detail: `shape ${formatShape(actual.shape)} vs expected ${formatShape(expected.shape)}`,
    };
  const n = expected.data.length;
  if (expected.dtype !== 'float32') {
    if (actual.dtype !== expected.dtype)
      return { ok: false, maxErr: Infinity, maxAbs: Infinity, at: -1, detail: `dtype ${actual.dtype} vs expected ${expected.dtype}` };
    let bad = 0,
      first = -1;
    for (let i = 0; i < n; i++)
      if (num(actual, i) !== num(expected, i)) {
        bad++;
        if (first < 0) first = i;
      }
    return {
      ok: bad === 0,
      maxErr: bad,
      maxAbs: bad,
      at: first,
      detail: bad ? `${bad} of ${n} differ; first at ${first}: ${num(actual, first)} vs ${num(expected, first)}` : 'exact',
    };
  }
  let sq = 0,
    finite = 0;
  for (let i = 0; i < n; i++) {
    const e = num(expected, i);
    if (Number.isFinite(e)) {
      sq += e * e;
      finite++;
    }
  }
  const rms = finite ? Math.sqrt(sq / finite) : 0;
  let maxErr = 0,
    maxAbs = 0,
    at = -1;
  for (let i = 0; i < n; i++) {
    const a = num(actual, i),
      e = num(expected, i);
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      const same = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e));
      if (!same) return { ok: false, maxErr: Infinity, maxAbs: Infinity, at: i, detail: `element ${i}: ${a} vs expected ${e}` };
      continue;
    }
    const abs = Math.abs(a - e);
    const err = abs / Math.max(Math.abs(e), rms, 1e-30);
    if (err > maxErr) {
      maxErr = err;
      at = i;
    }
    if (abs > maxAbs) maxAbs = abs;
  }
  const ok = maxErr <= tol;
  const detail =
    `max scaled error ${maxErr.toExponential(2)} (tol ${tol.toExponential(0)}), max abs ${maxAbs.toExponential(2)}` +
    (at >= 0 && !ok ? ` at ${at}: ${num(actual, at)} vs ${num(expected, at)}` : '');
  return { ok, maxErr, maxAbs, at, detail };
}
