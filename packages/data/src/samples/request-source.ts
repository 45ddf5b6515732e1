/**
 * A SampleSource over synthetic requests (sample = request; the IFA request contract): batches of
 * the training schema, built lazily from a RequestSet and its world's event log, and the three
 * evaluation targets (click = headline, impression, ranking) with their true probabilities.
 *
 * Ids: the contract keeps id 0 for padding, so item and category ids are the world's + 1
 * (vocabulary sizes: world size + 1); user, profile, context and cross values are the world's.
 * The sequence holds the N most recent source events strictly before the request time, oldest
 * first, right-padded (ids 0, mask false, context 0).
 */
import { type DType, type Dim, type FeatureSchema, type HostTensor, type InputsOf, formatShape } from '@lctr/spec';
import type { EvalTarget, SampleSource } from '../source.ts';
import { REQUEST_CROSS_COLUMNS, type RequestContext, type RequestSet } from '../synthetic/requests.ts';
import { FeatureSchemaError } from './schema.ts';

/** The features a request source provides (the contract's training schema). */
export const REQUEST_FEATURES = [
  'user',
  'profile',
  'cand',
  'candCategory',
  'candMask',
  'candCross',
  'seq',
  'seqCategory',
  'seqMask',
  'seqContext',
  'impression',
  'click',
] as const;
export type RequestFeature = (typeof REQUEST_FEATURES)[number];

export const REQUEST_DTYPES = {
  user: 'int32',
  profile: 'int32',
  cand: 'int32',
  candCategory: 'int32',
  candMask: 'bool',
  candCross: 'int32',
  seq: 'int32',
  seqCategory: 'int32',
  seqMask: 'bool',
  seqContext: 'int32',
  impression: 'float32',
  click: 'float32',
} as const satisfies Record<RequestFeature, DType>;

export type RequestSchema = {
  readonly [K in RequestFeature]: { readonly dtype: (typeof REQUEST_DTYPES)[K]; readonly shape: readonly Dim[] };
};

/** The static dims of a request schema. */
export interface RequestDims {
  /** C */
  readonly candidates: number;
  /** N */
  readonly seqLen: number;
  /** P profile columns, X cross columns, Q context columns */
  readonly profile: number;
  readonly cross: number;
  readonly context: number;
}

function shapes(d: RequestDims): Record<RequestFeature, readonly Dim[]> {
  const bc = ['batch', d.candidates],
    bn = ['batch', d.seqLen];
  return {
    user: ['batch'],
    profile: ['batch', d.profile],
    cand: bc,
    candCategory: bc,
    candMask: bc,
    candCross: ['batch', d.candidates, d.cross],
    seq: bn,
    seqCategory: bn,
    seqMask: bn,
    seqContext: ['batch', d.seqLen, d.context],
    impression: bc,
    click: bc,
  };
}

/** The training schema of requests with these dims ('batch' symbolic), in REQUEST_FEATURES order. */
export function requestSchema(d: RequestDims): RequestSchema {
  const s = shapes(d);
  const out: Record<string, { dtype: DType; shape: readonly Dim[] }> = {};
  for (const f of REQUEST_FEATURES) out[f] = { dtype: REQUEST_DTYPES[f], shape: s[f] };
  return out as unknown as RequestSchema;
}

/** Check a model's schema against what a request source with these dims provides (a subset, exact dtypes and shapes). */
export function checkRequestSchema(schema: FeatureSchema, d: RequestDims): void {
  const want = requestSchema(d) as unknown as Record<string, { dtype: DType; shape: readonly Dim[] }>;
  for (const [name, decl] of Object.entries(schema)) {
    const pre = `feature schema mismatch: feature '${name}'`;
    const w = want[name];
    if (!w) throw new FeatureSchemaError(`${pre} is unknown to the request source (known features: ${REQUEST_FEATURES.join(', ')})`);
    const wantText = `${w.dtype} ${formatShape(w.shape)}`;
    const shape = decl?.shape;
    if (!Array.isArray(shape))
      throw new FeatureSchemaError(`${pre} must be ${wantText}, got a declaration without a shape array: ${JSON.stringify(decl)}`);
    const got = `${String(decl.dtype)} ${formatShape(shape)}`;
    if (decl.dtype !== w.dtype || shape.length !== w.shape.length || shape.some((x, i) => x !== w.shape[i])) {
      throw new FeatureSchemaError(
        `${pre} must be ${wantText} (C = candidates ${d.candidates}, N = seqLen ${d.seqLen}, P ${d.profile}, X ${d.cross}, Q ` +
          `${d.context}), got ${got}`,
      );
    }
  }
}

export interface RequestSourceOptions {
  /** N: sequence length */
  readonly seqLen: number;
  /** the model's schema (default: the full training schema) */
  readonly schema?: FeatureSchema;
}

/** A request source: a SampleSource with its targets, and the set and dims behind it. */
export interface RequestSampleSource<S extends FeatureSchema = FeatureSchema> extends SampleSource<S> {
  readonly requests: RequestSet;
  readonly dims: RequestDims;
  readonly targets: readonly EvalTarget[];
  readonly slots: number;
}

/** The vocabulary and cardinality fields of an IfaConfig that the request data fixes (ids + 1 for padding). */
export function requestModelSizes(ctx: RequestContext, seqLen: number) {
  const meta = ctx.world.log.meta,
    b = ctx.config.crossBuckets;
  return {
    users: meta.users,
    targetItems: meta.items.target + 1,
    sourceItems: meta.items.source + 1,
    categories: meta.categories + 1,
    profile: meta.profile.map((p) => p.cardinality),
    cross: Array.from({ length: REQUEST_CROSS_COLUMNS }, () => b),
    context: meta.context.map((x) => x.cardinality),
    candidates: ctx.config.candidates,
    seqLen,
  };
}

export function createRequestSource<S extends FeatureSchema = RequestSchema>(
  set: RequestSet,
  opts: RequestSourceOptions,
): RequestSampleSource<S> {
  const N = opts.seqLen;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`createRequestSource: seqLen must be a positive integer, got ${String(N)}`);
  const ctx = set.context,
    log = ctx.world.log;
  const C = set.candidates,
    X = REQUEST_CROSS_COLUMNS,
    P = log.meta.profile.length,
    Q = log.meta.context.length;
  const dims: RequestDims = { candidates: C, seqLen: N, profile: P, cross: X, context: Q };
  const schema = (opts.schema ?? requestSchema(dims)) as S;
  checkRequestSchema(schema, dims);
  const want = new Set(Object.keys(schema));
  const n = set.size;

  const slotGroups = new Int32Array(n * C);
  for (let r = 0; r < n; r++) slotGroups.fill(set.user[r]!, r * C, (r + 1) * C);
  const impressed = new Uint8Array(n * C);
  for (let i = 0; i < n * C; i++) impressed[i] = set.mask[i]! & set.impression[i]!;
  const ranking = new Float32Array(n * C);
  for (let i = 0; i < n * C; i++) ranking[i] = set.pImpression[i]! * set.pClick[i]!;
  const targets: EvalTarget[] = [
    { name: 'click', output: 'pClick', labels: set.click, valid: impressed, groups: slotGroups, trueProbability: set.pClick },
    {
      name: 'impression',
      output: 'pImpression',
      labels: set.impression,
      valid: set.mask,
      groups: slotGroups,
      trueProbability: set.pImpression,
    },
    { name: 'ranking', output: 'prob', labels: set.click, valid: set.mask, groups: slotGroups, trueProbability: ranking },
  ];
  const labels = new Uint8Array(n);
  for (let r = 0; r < n; r++)
    for (let k = 0; k < C; k++)
      if (set.click[r * C + k]) {
        labels[r] = 1;
        break;
      }

  function batch(indices: Int32Array): InputsOf<S> {
    const B = indices.length;
    for (let b = 0; b < B; b++) {
      const s = indices[b]!;
      if (!Number.isInteger(s) || s < 0 || s >= n)
        throw new RangeError(`batch: indices[${b}] is ${s}, out of range for a source of ${n} requests (valid 0..${n - 1})`);
    }
    const out: Record<string, HostTensor> = {};
    const put = (f: RequestFeature, dtype: DType, shape: number[], make: () => HostTensor['data']) => {
      if (want.has(f)) out[f] = { dtype, shape, data: make() } as HostTensor;
    };
    const perSlot =
      <A extends Int32Array | Float32Array | Uint8Array>(make: (len: number) => A, value: (i: number) => number) =>
      () => {
        const a = make(B * C);
        for (let b = 0; b < B; b++) {
          const o = indices[b]! * C;
          for (let k = 0; k < C; k++) if (set.mask[o + k]) a[b * C + k] = value(o + k);
        }
        return a;
      };
    const i32 = (len: number) => new Int32Array(len);
    put('user', 'int32', [B], () => Int32Array.from(indices, (s) => set.user[s]!));
    put('profile', 'int32', [B, P], () => {
      const a = i32(B * P);
      for (let b = 0; b < B; b++) for (let p = 0; p < P; p++) a[b * P + p] = log.profile[p]![set.user[indices[b]!]!]!;
      return a;
    });
    put(
      'cand',
      'int32',
      [B, C],
      perSlot(i32, (i) => set.item[i]! + 1),
    );
    put(
      'candCategory',
      'int32',
      [B, C],
      perSlot(i32, (i) => set.category[i]! + 1),
    );
    put(
      'candMask',
      'bool',
      [B, C],
      perSlot(
        (len) => new Uint8Array(len),
        () => 1,
      ),
    );
    put('candCross', 'int32', [B, C, X], () => {
      const a = i32(B * C * X);
      for (let b = 0; b < B; b++) a.set(set.cross.subarray(indices[b]! * C * X, (indices[b]! + 1) * C * X), b * C * X);
      return a;
    });
    put(
      'impression',
      'float32',
      [B, C],
      perSlot(
        (len) => new Float32Array(len),
        (i) => set.impression[i]!,
      ),
    );
    put(
      'click',
      'float32',
      [B, C],
      perSlot(
        (len) => new Float32Array(len),
        (i) => set.click[i]!,
      ),
    );
    if (want.has('seq') || want.has('seqCategory') || want.has('seqMask') || want.has('seqContext')) {
      const ids = i32(B * N),
        cats = i32(B * N),
        mask = new Uint8Array(B * N),
        ctxOut = i32(B * N * Q);
      for (let b = 0; b < B; b++) {
        const r = indices[b]!,
          end = set.historyEnd[r]!,
          first = ctx.userSourceFirst[set.user[r]!]!;
        const count = Math.min(N, end - first),
          start = end - count;
        for (let j = 0; j < count; j++) {
          const p = ctx.sourcePositions[start + j]!,
            o = b * N + j;
          ids[o] = log.item[p]! + 1;
          cats[o] = log.category[p]! + 1;
          mask[o] = 1;
          for (let q = 0; q < Q; q++) ctxOut[o * Q + q] = log.context[q]![p]!;
        }
      }
      put('seq', 'int32', [B, N], () => ids);
      put('seqCategory', 'int32', [B, N], () => cats);
      put('seqMask', 'bool', [B, N], () => mask);
      put('seqContext', 'int32', [B, N, Q], () => ctxOut);
    }
    const ordered: Record<string, HostTensor> = {};
    for (const k of Object.keys(schema)) ordered[k] = out[k]!;
    return ordered as InputsOf<S>;
  }

  return { schema, size: n, labels, groups: set.user, batch, targets, slots: C, requests: set, dims };
}
