/**
 * Raw ids (strings as they appear in the files) to dense ids, and the JSON-ready vocabulary a read
 * returns so that a later read (a test split, serving) maps the same raw ids to the same dense ids.
 */

/**
 * Raw string -> dense id 0..size-1, in order of first `add`. Canonical decimal integers ('0', '17',
 * not '017' or '-3') are looked up by number, which is several times faster than by string.
 */
export class IdMap {
  private readonly num = new Map<number, number>();
  private readonly str = new Map<string, number>();
  private readonly list: string[] = [];

  constructor(values: readonly string[] = []) {
    for (const v of values) this.add(v);
  }

  get size(): number {
    return this.list.length;
  }
  /** the raw values; values[id] is the raw id of dense id `id` */
  get values(): readonly string[] {
    return this.list;
  }
  get(raw: string): number | undefined {
    const k = canonicalInt(raw);
    return k >= 0 ? this.num.get(k) : this.str.get(raw);
  }
  /** the id of `raw`, adding it when new */
  add(raw: string): number {
    const k = canonicalInt(raw);
    let id = k >= 0 ? this.num.get(k) : this.str.get(raw);
    if (id === undefined) {
      id = this.list.length;
      if (k >= 0) this.num.set(k, id);
      else this.str.set(raw, id);
      this.list.push(raw);
    }
    return id;
  }
}

/** the value of a canonical non-negative decimal integer of at most 15 digits, else -1 */
function canonicalInt(s: string): number {
  const n = s.length;
  if (n === 0 || n > 15 || (n > 1 && s.charCodeAt(0) === 48)) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * A categorical context (per event) or profile (per user) feature. Id 0 always means missing (an
 * empty cell, a file that does not fill the feature, a user without a profile row).
 * - buckets: a numeric cell v gets 1 + (number of boundaries <= v); boundaries strictly ascending;
 *   cardinality boundaries.length + 2. [18, 25] puts 17 in 1, 18..24 in 2, 25 and up in 3.
 * - values: a categorical cell gets 1 + its index in the vocabulary; cardinality 1 + vocabulary size.
 *   `values` seeds the vocabulary; `closed: true` makes any other value an error (else it grows, as
 *   the reader's `unknownIds` policy allows).
 */
export type FeatureDef =
  | { readonly name: string; readonly buckets: readonly number[] }
  | { readonly name: string; readonly values?: readonly string[]; readonly closed?: boolean };

/** How a saved feature maps cells to ids: its bucket boundaries or its value list (id k >= 1 is values[k - 1]). */
export type FeatureVocabulary = { readonly buckets: readonly number[] } | { readonly values: readonly string[]; readonly closed?: boolean };

/** Everything needed to map raw ids the same way again; plain JSON. */
export interface Vocabulary {
  /** users[u] is the raw id of dense user u */
  readonly users: readonly string[];
  /** per-domain item vocabularies (items.target[i] is the raw id of target item i) */
  readonly items: { readonly target: readonly string[]; readonly source: readonly string[] };
  readonly categories: readonly string[];
  /** per context feature, in EventLogMeta.context order */
  readonly context: Readonly<Record<string, FeatureVocabulary>>;
  /** per profile feature, in EventLogMeta.profile order */
  readonly profile: Readonly<Record<string, FeatureVocabulary>>;
  /**
   * Kinds whose dense id 0 is the shared out-of-vocabulary row (a dataset's `minCounts`): ids seen
   * too rarely in training were folded into it, and a raw id the list lacks belongs there too. Their
   * lists hold '' at index 0 (no raw id is empty). Absent: every id is a real one.
   */
  readonly oov?: { readonly items?: boolean; readonly categories?: boolean };
}

/** A FeatureDef (or saved FeatureVocabulary) compiled into a cell -> id function. */
export class FeatureEncoder {
  readonly name: string;
  readonly buckets: Float64Array | undefined;
  readonly vocab: IdMap | undefined;
  readonly closed: boolean;

  constructor(def: FeatureDef) {
    this.name = def.name;
    if ('buckets' in def) {
      const b = def.buckets;
      for (let i = 0; i < b.length; i++) {
        if (!Number.isFinite(b[i]!) || (i > 0 && !(b[i]! > b[i - 1]!))) {
          throw new Error(`feature '${def.name}': bucket boundaries must be finite and strictly ascending, got [${b.join(', ')}]`);
        }
      }
      this.buckets = Float64Array.from(b);
      this.vocab = undefined;
      this.closed = true;
    } else {
      this.buckets = undefined;
      this.vocab = new IdMap(def.values ?? []);
      this.closed = def.closed ?? false;
    }
  }

  get cardinality(): number {
    return this.buckets ? this.buckets.length + 2 : 1 + this.vocab!.size;
  }

  /** bucket id of a number: 1 + count of boundaries <= v (binary search) */
  bucket(v: number): number {
    const b = this.buckets!;
    let lo = 0,
      hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return 1 + lo;
  }

  toJSON(): FeatureVocabulary {
    return this.buckets
      ? { buckets: Array.from(this.buckets) }
      : { values: [...this.vocab!.values], ...(this.closed ? { closed: true } : {}) };
  }
}
