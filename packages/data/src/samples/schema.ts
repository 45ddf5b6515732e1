/**
 * The shapes a log-backed sample source produces for each of SAMPLE_FEATURES, and the check of a
 * model's feature schema against them ('feature schema mismatch' errors name the feature, what was
 * expected and what the schema declares).
 */
import { type DType, type Dim, type FeatureSchema, formatShape } from '@lctr/spec';
import type { EventLogMeta } from '../event-log.ts';
import { SAMPLE_FEATURES, type SampleFeature } from '../source.ts';

/** Which events of a domain a history sequence keeps: all of them, or only those with label 1. */
export type EventFilter = 'all' | 'positive';

/** Lengths and event filters of the sequences a sample source builds (defaults: DESIGN.md, Data). */
export interface SequenceOptions {
  /** short-term target sequence length L (targetSeq*): default 50 */
  readonly targetLength?: number;
  /** short-term source sequence length L (sourceSeq*): default 50 */
  readonly sourceLength?: number;
  /** lifelong source sequence length N (lifelong*): default 2000 */
  readonly lifelongLength?: number;
  /** which target-domain events enter targetSeq: default 'positive' (clicked / liked) */
  readonly targetEvents?: EventFilter;
  /** which source-domain events enter sourceSeq: default 'all' */
  readonly sourceEvents?: EventFilter;
  /** which source-domain events enter the lifelong sequence: default 'all' */
  readonly lifelongEvents?: EventFilter;
}

export type ResolvedSequenceOptions = { readonly [K in keyof SequenceOptions]-?: NonNullable<SequenceOptions[K]> };

export const DEFAULT_SEQUENCE_OPTIONS: ResolvedSequenceOptions = {
  targetLength: 50,
  sourceLength: 50,
  lifelongLength: 2000,
  targetEvents: 'positive',
  sourceEvents: 'all',
  lifelongEvents: 'all',
};

export class FeatureSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeatureSchemaError';
  }
}

/** Fill in defaults and check lengths (positive integers) and filters ('all' | 'positive'). */
export function resolveSequenceOptions(opts: SequenceOptions = {}): ResolvedSequenceOptions {
  const r = { ...DEFAULT_SEQUENCE_OPTIONS };
  for (const k of ['targetLength', 'sourceLength', 'lifelongLength'] as const) {
    const v = opts[k];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`sample options: ${k} must be a positive integer, got ${String(v)}`);
    r[k] = v;
  }
  for (const k of ['targetEvents', 'sourceEvents', 'lifelongEvents'] as const) {
    const v = opts[k];
    if (v === undefined) continue;
    if (v !== 'all' && v !== 'positive') throw new RangeError(`sample options: ${k} must be 'all' or 'positive', got ${JSON.stringify(v)}`);
    r[k] = v;
  }
  return r;
}

/** The dtype of each sample feature (SAMPLE_FEATURES in source.ts). */
export const SAMPLE_DTYPES = {
  user: 'int32',
  profile: 'int32',
  candidate: 'int32',
  candidateCategory: 'int32',
  targetSeq: 'int32',
  targetSeqCategory: 'int32',
  targetSeqMask: 'bool',
  sourceSeq: 'int32',
  sourceSeqCategory: 'int32',
  sourceSeqMask: 'bool',
  lifelongSeq: 'int32',
  lifelongSeqCategory: 'int32',
  lifelongMask: 'bool',
  lifelongContext: 'int32',
  label: 'float32',
} as const satisfies Record<SampleFeature, DType>;

/** The schema of all sample features, dtypes typed exactly (so InputsOf gives Int32Array, Uint8Array, ...). */
export type SampleSchema = { readonly [K in SampleFeature]: { readonly dtype: (typeof SAMPLE_DTYPES)[K]; readonly shape: readonly Dim[] } };

const isSampleFeature = (name: string): name is SampleFeature => (SAMPLE_FEATURES as readonly string[]).includes(name);

interface Expected {
  readonly dtype: DType;
  readonly shape: readonly Dim[] /** what the non-batch dims are, for errors */;
  readonly dims: readonly string[];
}

function expectedFeatures(meta: EventLogMeta, o: ResolvedSequenceOptions): Record<SampleFeature, Expected> {
  const P = meta.profile.length,
    C = meta.context.length;
  const names = (specs: EventLogMeta['context']) => specs.map((s) => s.name).join(', ');
  const profileDim = `the number of profile columns of the log, ${P}${P ? ` (${names(meta.profile)})` : ''}`;
  const contextDim = `the number of context columns of the log, ${C}${C ? ` (${names(meta.context)})` : ''}`;
  const seq = (len: number, what: string): Omit<Expected, 'dtype'> => ({ shape: ['batch', len], dims: [what] });
  const t = seq(o.targetLength, `the target sequence length, options.targetLength = ${o.targetLength}`);
  const s = seq(o.sourceLength, `the source sequence length, options.sourceLength = ${o.sourceLength}`);
  const l = seq(o.lifelongLength, `the lifelong sequence length, options.lifelongLength = ${o.lifelongLength}`);
  const scalar: Omit<Expected, 'dtype'> = { shape: ['batch'], dims: [] };
  const dims: Record<SampleFeature, Omit<Expected, 'dtype'>> = {
    user: scalar,
    profile: { shape: ['batch', P], dims: [profileDim] },
    candidate: scalar,
    candidateCategory: scalar,
    targetSeq: t,
    targetSeqCategory: t,
    targetSeqMask: t,
    sourceSeq: s,
    sourceSeqCategory: s,
    sourceSeqMask: s,
    lifelongSeq: l,
    lifelongSeqCategory: l,
    lifelongMask: l,
    lifelongContext: { shape: ['batch', o.lifelongLength, C], dims: [l.dims[0]!, contextDim] },
    label: scalar,
  };
  const out = {} as Record<SampleFeature, Expected>;
  for (const f of SAMPLE_FEATURES) out[f] = { dtype: SAMPLE_DTYPES[f], ...dims[f] };
  return out;
}

/**
 * The schema a sample source over logs with this meta provides, for the features named (default:
 * all of SAMPLE_FEATURES), with dtypes and shapes ('batch' symbolic, everything else static). A
 * model's schema is any subset of it, e.g. `sampleSchema(meta, {}, ['candidate', 'lifelongSeq', 'lifelongMask', 'label'])`.
 */
export function sampleSchema<K extends SampleFeature = SampleFeature>(
  meta: EventLogMeta,
  opts: SequenceOptions = {},
  features?: readonly K[],
): Pick<SampleSchema, K> {
  const e = expectedFeatures(meta, resolveSequenceOptions(opts));
  const names = (features ?? SAMPLE_FEATURES) as readonly SampleFeature[];
  const out: Record<string, { dtype: DType; shape: readonly Dim[] }> = {};
  for (const f of names) {
    if (!isSampleFeature(f))
      throw new FeatureSchemaError(
        `feature schema mismatch: feature '${String(f)}' is unknown to the sample source (known features: ${SAMPLE_FEATURES.join(', ')})`,
      );
    out[f] = { dtype: e[f].dtype, shape: e[f].shape };
  }
  return out as Pick<SampleSchema, K>;
}

/**
 * Check a model's feature schema against what a sample source over logs with this meta provides:
 * every input must be one of SAMPLE_FEATURES with its dtype, rank, the symbolic batch dim 'batch'
 * and the static lengths of the options. Throws FeatureSchemaError ('feature schema mismatch: ...')
 * naming the feature, the expected and the declared dtype/shape.
 */
export function checkSampleSchema(schema: FeatureSchema, meta: EventLogMeta, opts: SequenceOptions = {}): void {
  if (schema === null || typeof schema !== 'object')
    throw new FeatureSchemaError(`feature schema mismatch: a feature schema must be an object of { dtype, shape }, got ${String(schema)}`);
  const expected = expectedFeatures(meta, resolveSequenceOptions(opts));
  for (const name of Object.keys(schema)) {
    const pre = `feature schema mismatch: feature '${name}'`;
    if (!isSampleFeature(name))
      throw new FeatureSchemaError(`${pre} is unknown to the sample source (known features: ${SAMPLE_FEATURES.join(', ')})`);
    const want = expected[name];
    const wantText = `${want.dtype} ${formatShape(want.shape)}`;
    const decl = schema[name]!;
    const shape = decl?.shape;
    if (!Array.isArray(shape))
      throw new FeatureSchemaError(`${pre} must be ${wantText}, got a declaration without a shape array: ${JSON.stringify(decl)}`);
    const gotText = `${String(decl.dtype)} ${formatShape(shape)}`;
    if (decl.dtype !== want.dtype) throw new FeatureSchemaError(`${pre} must be ${wantText}, got dtype ${String(decl.dtype)} (${gotText})`);
    if (shape.length !== want.shape.length)
      throw new FeatureSchemaError(`${pre} must be ${wantText}, got rank ${shape.length} (${gotText}), expected rank ${want.shape.length}`);
    if (shape[0] !== 'batch')
      throw new FeatureSchemaError(
        `${pre} must be ${wantText}, got ${gotText} (dim 0 must be the symbolic dim 'batch', got ${JSON.stringify(shape[0])})`,
      );
    for (let i = 1; i < want.shape.length; i++) {
      if (shape[i] !== want.shape[i]) {
        throw new FeatureSchemaError(
          `${pre} must be ${wantText}, got ${gotText} (dim ${i} must be ${want.dims[i - 1]}, got ${JSON.stringify(shape[i])})`,
        );
      }
    }
  }
}
