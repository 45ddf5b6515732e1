/**
 * Seeded pair sampling for LCN's CRP loss (SPEC.md "CRP loss"): wraps a SampleSource so every
 * batch also carries the CRP pair inputs (@lctr/spec `crpSchema`), as item ids, so all backends see
 * the same pairs.
 *
 * Per sample i of the batch (H^T_i = its targetSeq, H^S_i = its sourceSeq, valid = mask true):
 * - crpPt: two items at two different valid positions of H^T_i; crpPtMask false (ids 0, 0) when
 *   H^T_i has fewer than 2 valid items. Positions are distinct, ids need not be: a history that
 *   holds the same item twice may give an (x, x) pair. The mask then depends on the mask alone,
 *   never on id values, and such a pair is a true (if easy) positive.
 * - crpPs: the same over H^S_i.
 * - crpPc: one valid item of H^T_i (first) and one of H^S_i (second); mask false unless both have one.
 * Per batch, M = `negatives` rows per type, drawn with replacement:
 * - crpPtNeg: sample a uniformly among the samples with a valid target item, then sample b
 *   uniformly among those with a valid target item and a different user (the source's `groups`),
 *   then a uniform valid item of each. crpPsNeg alike over source items; crpPcNeg: a target item
 *   of a, a source item of b. Users weigh by their number of samples in the batch, as positives do.
 *   When no such pair exists (e.g. every sample of the batch is one user's), all M rows are (0, 0)
 *   with mask false; otherwise every row is valid.
 * - PT and PS negatives never name one item twice (issue 19): two users who share an item gave
 *   (x, x) rows (4.7% of PT negatives on ml-100k), cosine 1 = the largest term of the denominator
 *   and no gradient. Such a draw is redrawn whole (a, b and both items, from the same Rng, so still
 *   deterministic): the rows are uniform over the pairs above that name two different items. After
 *   MAX_REDRAWS failed draws (a batch with (almost) only one item) the row is (0, 0) with mask
 *   false. PC pairs a target with a source id (two tables): equal ids are different items there.
 * Determinism: each type draws from its own Rng seeded by a hash of (seed, the batch's indices,
 * the type), so the same batch always gets the same pairs (a resumed run repeats bit for bit) and
 * pairs do not depend on which batches came before.
 */
import { CRP_FEATURES, type CrpSchema, type FeatureSchema, type HostTensor, type InputsOf, Rng, crpSchema, hashSeed } from '@lctr/spec';
import type { SampleSource } from '../source.ts';

export interface CrpPairOptions {
  /** M, negative pairs per type per batch (the paper uses 4096) */
  readonly negatives: number;
  /** seed of the pair sampler */
  readonly seed: number;
}

/** FNV-1a over the indices' 32-bit words, continuing from h: the batch part of each Rng's seed. */
function hashIndices(h: number, indices: Int32Array): number {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i]!;
    for (let s = 0; s < 32; s += 8) {
      h ^= (v >>> s) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

const NEEDED = [
  ['targetSeq', 'int32'],
  ['targetSeqMask', 'bool'],
  ['sourceSeq', 'int32'],
  ['sourceSeqMask', 'bool'],
] as const;

/** Valid positions of each row of a [B, L] mask: flat list + per-row offsets (CSR). */
interface ValidPositions {
  readonly pos: Int32Array;
  readonly start: Int32Array;
}

function validPositions(mask: Uint8Array, B: number, L: number): ValidPositions {
  const start = new Int32Array(B + 1);
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  const pos = new Int32Array(n);
  let k = 0;
  for (let b = 0; b < B; b++) {
    start[b] = k;
    for (let j = 0; j < L; j++) if (mask[b * L + j]) pos[k++] = j;
  }
  start[B] = k;
  return { pos, start };
}

const countOf = (v: ValidPositions, b: number) => v.start[b + 1]! - v.start[b]!;
/** the id at a uniform valid position of row b (row must have one) */
const pickItem = (rng: Rng, seq: Int32Array, L: number, v: ValidPositions, b: number) =>
  seq[b * L + v.pos[v.start[b]! + rng.int(countOf(v, b))]!]!;

/** One positive pair per sample of a sequence with itself: two distinct valid positions. */
function positivesWithin(rng: Rng, seq: Int32Array, L: number, v: ValidPositions, B: number): { ids: Int32Array; mask: Uint8Array } {
  const ids = new Int32Array(B * 2),
    mask = new Uint8Array(B);
  for (let b = 0; b < B; b++) {
    const n = countOf(v, b);
    if (n < 2) continue;
    const i = rng.int(n);
    let j = rng.int(n - 1);
    if (j >= i) j++; // uniform over the other n - 1 positions
    const base = v.start[b]!;
    ids[2 * b] = seq[b * L + v.pos[base + i]!]!;
    ids[2 * b + 1] = seq[b * L + v.pos[base + j]!]!;
    mask[b] = 1;
  }
  return { ids, mask };
}

/** One positive pair per sample across two sequences: a valid item of the first, one of the second. */
function positivesAcross(
  rng: Rng,
  s1: Int32Array,
  L1: number,
  v1: ValidPositions,
  s2: Int32Array,
  L2: number,
  v2: ValidPositions,
  B: number,
): { ids: Int32Array; mask: Uint8Array } {
  const ids = new Int32Array(B * 2),
    mask = new Uint8Array(B);
  for (let b = 0; b < B; b++) {
    if (countOf(v1, b) < 1 || countOf(v2, b) < 1) continue;
    ids[2 * b] = pickItem(rng, s1, L1, v1, b);
    ids[2 * b + 1] = pickItem(rng, s2, L2, v2, b);
    mask[b] = 1;
  }
  return { ids, mask };
}

/**
 * M negative pairs: first item from a sample with a valid item in s1, second from a sample of a
 * different user with a valid item in s2. Exact sampling without rejection loops: the second side's
 * eligible samples are grouped by user, so "not user u" is the list minus one contiguous range.
 */
/** Draws per negative row before a same-domain row naming one item twice is given up (masked out). */
const MAX_REDRAWS = 64;

function negatives(
  rng: Rng,
  users: Int32Array,
  s1: Int32Array,
  L1: number,
  v1: ValidPositions,
  s2: Int32Array,
  L2: number,
  v2: ValidPositions,
  B: number,
  M: number,
  sameDomain: boolean,
): { ids: Int32Array; mask: Uint8Array } {
  const ids = new Int32Array(M * 2),
    mask = new Uint8Array(M);
  // second-side samples grouped by user (users in order of first appearance, samples in batch
  // order): each user's samples are one contiguous block, all the skip below needs
  const byUser = new Map<number, number[]>();
  for (let b = 0; b < B; b++) {
    if (countOf(v2, b) === 0) continue;
    const list = byUser.get(users[b]!);
    if (list) list.push(b);
    else byUser.set(users[b]!, [b]);
  }
  const second: number[] = [];
  const range = new Map<number, readonly [number, number]>(); // user -> [first, end) in `second`
  for (const [u, list] of byUser) {
    range.set(u, [second.length, second.length + list.length]);
    for (const b of list) second.push(b);
  }
  const n2 = second.length;
  const othersOf = (u: number) => {
    const r = range.get(u);
    return n2 - (r ? r[1] - r[0] : 0);
  };
  // first-side samples that have at least one partner of another user
  const first: number[] = [];
  for (let b = 0; b < B; b++) if (countOf(v1, b) > 0 && othersOf(users[b]!) > 0) first.push(b);
  if (first.length === 0) return { ids, mask };
  for (let m = 0; m < M; m++) {
    for (let tries = 0; tries < MAX_REDRAWS; tries++) {
      const a = first[rng.int(first.length)]!;
      const u = users[a]!,
        r = range.get(u) ?? [0, 0];
      let k = rng.int(othersOf(u));
      if (k >= r[0]) k += r[1] - r[0]; // skip user u's block
      const b = second[k]!;
      const x = pickItem(rng, s1, L1, v1, a),
        y = pickItem(rng, s2, L2, v2, b);
      if (sameDomain && x === y) continue; // one item twice: redraw the whole row
      ids[2 * m] = x;
      ids[2 * m + 1] = y;
      mask[m] = 1;
      break;
    }
  }
  return { ids, mask };
}

/**
 * `source` with the CRP pair inputs added to its schema and to every batch (crpSchema(negatives):
 * crpPt/crpPs/crpPc int32 [batch, 2] + masks [batch], crpPtNeg/crpPsNeg/crpPcNeg int32 [M, 2] +
 * masks [M]). The inner schema must hold targetSeq, targetSeqMask, sourceSeq, sourceSeqMask
 * (int32 / bool [batch, L]) and none of the CRP features. size, labels, groups and
 * trueProbability pass through.
 */
export function withCrpPairs<S extends FeatureSchema>(source: SampleSource<S>, opts: CrpPairOptions): SampleSource<S & CrpSchema> {
  const M = opts.negatives;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`withCrpPairs: negatives must be a positive integer, got ${String(M)}`);
  if (!Number.isInteger(opts.seed)) throw new RangeError(`withCrpPairs: seed must be an integer, got ${String(opts.seed)}`);
  const inner: FeatureSchema = source.schema;
  for (const [name, dtype] of NEEDED) {
    const f = inner[name];
    if (!f)
      throw new RangeError(
        `withCrpPairs: the source's schema has no '${name}' (CRP pairs are drawn from targetSeq/targetSeqMask and sourceSeq/sourceSeqMask)`,
      );
    if (f.dtype !== dtype || f.shape.length !== 2)
      throw new RangeError(`withCrpPairs: '${name}' must be ${dtype} [batch, L], got ${f.dtype} [${f.shape.join(', ')}]`);
  }
  const clash = CRP_FEATURES.filter((k) => k in inner);
  if (clash.length)
    throw new RangeError(
      `withCrpPairs: the source's schema already has ${clash.map((k) => `'${k}'`).join(', ')}; give it the schema without the CRP ` +
        `features (the wrapper adds them)`,
    );
  const schema = { ...source.schema, ...crpSchema(M) } as S & CrpSchema;
  const groups = source.groups;

  function batch(indices: Int32Array): InputsOf<S & CrpSchema> {
    const base = source.batch(indices) as Readonly<Record<string, HostTensor>>;
    const B = indices.length;
    const tensor = (name: string) => {
      const t = base[name]!;
      if (t.shape.length !== 2 || t.shape[0] !== B)
        throw new RangeError(`withCrpPairs: the inner batch's '${name}' is [${t.shape.join(', ')}], expected [${B}, L]`);
      return t;
    };
    const tSeq = tensor('targetSeq').data as Int32Array,
      tMask = tensor('targetSeqMask').data as Uint8Array;
    const sSeq = tensor('sourceSeq').data as Int32Array,
      sMask = tensor('sourceSeqMask').data as Uint8Array;
    const Lt = tensor('targetSeq').shape[1]!,
      Ls = tensor('sourceSeq').shape[1]!;
    const vt = validPositions(tMask, B, Lt),
      vs = validPositions(sMask, B, Ls);
    const users = new Int32Array(B);
    for (let b = 0; b < B; b++) users[b] = groups[indices[b]!]!;
    const batchSeed = hashIndices(hashSeed('crp-pairs', opts.seed), indices);
    const rng = (what: string) => new Rng(hashSeed(batchSeed, what));

    const pt = positivesWithin(rng('pt'), tSeq, Lt, vt, B);
    const ps = positivesWithin(rng('ps'), sSeq, Ls, vs, B);
    const pc = positivesAcross(rng('pc'), tSeq, Lt, vt, sSeq, Ls, vs, B);
    const ptNeg = negatives(rng('ptNeg'), users, tSeq, Lt, vt, tSeq, Lt, vt, B, M, true);
    const psNeg = negatives(rng('psNeg'), users, sSeq, Ls, vs, sSeq, Ls, vs, B, M, true);
    const pcNeg = negatives(rng('pcNeg'), users, tSeq, Lt, vt, sSeq, Ls, vs, B, M, false);
    const pairs = (p: { ids: Int32Array }, rows: number): HostTensor<'int32'> => ({ dtype: 'int32', shape: [rows, 2], data: p.ids });
    const flags = (p: { mask: Uint8Array }, rows: number): HostTensor<'bool'> => ({ dtype: 'bool', shape: [rows], data: p.mask });
    return {
      ...base,
      crpPt: pairs(pt, B),
      crpPtMask: flags(pt, B),
      crpPs: pairs(ps, B),
      crpPsMask: flags(ps, B),
      crpPc: pairs(pc, B),
      crpPcMask: flags(pc, B),
      crpPtNeg: pairs(ptNeg, M),
      crpPtNegMask: flags(ptNeg, M),
      crpPsNeg: pairs(psNeg, M),
      crpPsNegMask: flags(psNeg, M),
      crpPcNeg: pairs(pcNeg, M),
      crpPcNegMask: flags(pcNeg, M),
    } as InputsOf<S & CrpSchema>;
  }

  const out: SampleSource<S & CrpSchema> = { schema, size: source.size, labels: source.labels, groups: source.groups, batch };
  return source.trueProbability ? { ...out, trueProbability: source.trueProbability } : out;
}
