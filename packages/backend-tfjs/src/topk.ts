/**
 * Top-k in the spec's order, exactly: valid positions first, then value descending, then the lower
 * index. tfjs' own TopK cannot be trusted for this: its cpu comparator subtracts values, so ties
 * between infinities (padding is -Infinity) compare as NaN, and tie order differs by backend.
 */

/** Float32's largest finite magnitude: a valid -Infinity is clamped to -FLT_MAX so it still ranks above padding. */
export { FLOAT32_MAX as FLT_MAX } from '@lctr/spec';
import { FLOAT32_MAX as FLT_MAX } from '@lctr/spec';

/** Keys arrive NaN-free (the kernel maps a valid NaN to -FLT_MAX); kept as a guard so a NaN can never outrank a number. */
const NAN_RANK = -Number.MAX_VALUE;

/**
 * Row-wise top-k over keys laid out as [rows, n] (keys already hold -Infinity at padding and values
 * clamped to >= -FLT_MAX elsewhere). Stable: a later equal key never displaces an earlier one, so
 * ties (padding included) come out in index order. O(n + insertions * k) per row.
 */
export function topkRows(keys: ArrayLike<number>, rows: number, n: number, k: number): { values: Float32Array; indices: Int32Array } {
  if (!(k >= 1 && k <= n)) throw new Error(`topk: k = ${k} must be in 1..${n}`);
  if (n <= INDEX_SPAN && keys instanceof Float32Array) return topkRowsSorted(keys, rows, n, k);
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  const rank = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = keys[base + i]!;
      const s = v !== v ? NAN_RANK : v;
      if (count === k && !(s > rank[k - 1]!)) continue;
      // first position whose rank is strictly below s (ranks are non-increasing)
      let lo = 0,
        hi = count;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rank[mid]! >= s) lo = mid + 1;
        else hi = mid;
      }
      const end = count < k ? count : k - 1;
      for (let j = end; j > lo; j--) {
        rank[j] = rank[j - 1]!;
        idx[j] = idx[j - 1]!;
      }
      rank[lo] = s;
      idx[lo] = i;
      if (count < k) count++;
    }
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = idx[j]!;
      values[r * k + j] = keys[base + idx[j]!]!;
    }
  }
  return { values, indices };
}

/** Positions a packed sort key can carry (20 bits: 33 bits of order + 20 of index fit a float64 exactly). */
const INDEX_SPAN = 2 ** 20;

/**
 * The same top-k for float32 keys, by one native sort per row: each key packs the value's order
 * (descending; float32 bits made monotonic) above its index (ascending), so a plain numeric sort
 * of a Float64Array gives the spec's order, ties by the lower index. O(n log n) per row in the
 * engine's own sort instead of the insertion above. -0 ties with 0; a NaN ranks below every
 * number and above padding (-Infinity), as in the insertion.
 */
function topkRowsSorted(keys: Float32Array, rows: number, n: number, k: number): { values: Float32Array; indices: Int32Array } {
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  const bits = new Uint32Array(keys.buffer, keys.byteOffset, keys.length);
  const packed = new Float64Array(n);
  // orders doubled, so a NaN fits between -FLT_MAX and -Infinity (the insertion's NAN_RANK)
  const nanOrder = 2 * descendingOrder(0xff800000) - 1,
    zeroOrder = 2 * descendingOrder(0);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    for (let i = 0; i < n; i++) {
      const v = keys[base + i]!;
      // -0 ranks as 0 (a tie, broken by the index)
      packed[i] = (v !== v ? nanOrder : v === 0 ? zeroOrder : 2 * descendingOrder(bits[base + i]!)) * INDEX_SPAN + i;
    }
    packed.sort();
    for (let j = 0; j < k; j++) {
      const i = packed[j]! % INDEX_SPAN;
      indices[r * k + j] = i;
      values[r * k + j] = keys[base + i]!;
    }
  }
  return { values, indices };
}

/** float32 bits -> a uint32 that is smaller for larger values (IEEE order made monotonic, then reversed). */
function descendingOrder(b: number): number {
  const ascending = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  return 0xffffffff - ascending;
}
