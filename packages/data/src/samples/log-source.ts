/**
 * A SampleSource over an EventLog: batches are built lazily, per call, from the log's columns.
 *
 * Time correctness: a sample is one event at position p of the log; its user's events are
 * positions userStart[u] .. userStart[u + 1] - 1 in (timestamp, arrival) order, so every history
 * sequence takes only events at positions userStart[u] .. p - 1: events with a smaller timestamp,
 * or the same timestamp and an earlier arrival (the order a reader pushed them). An event with the
 * same timestamp that arrived later, and any later event, is never part of the sample's history.
 *
 * Cost: for each sequence kind (target / source / lifelong, each with its event filter) the source
 * keeps the positions of the matching events, grouped by user, and each user's first index into
 * them. A sequence is then one binary search inside the user's matches plus a copy of at most L
 * entries: O(log n_u + L) per sample, never a scan of the whole history. These per-filter arrays
 * (4 bytes per matching event + 4 per user) are shared by every source built on the same log.
 */
import type { FeatureSchema, HostTensor, InputsOf } from '@lctr/spec';
import { type EventLog, SOURCE, TARGET } from '../event-log.ts';
import type { SampleSource, SampleFeature } from '../source.ts';
import {
  type EventFilter,
  type ResolvedSequenceOptions,
  type SequenceOptions,
  checkSampleSchema,
  resolveSequenceOptions,
} from './schema.ts';
import type { SampleIndex } from './sample-index.ts';

export interface SampleSourceOptions extends SequenceOptions {
  /**
   * The true click probability of every event of the log (length log.size, indexed by event
   * position), when the data is synthetic: gathered per sample into `trueProbability`.
   */
  readonly eventProbability?: Float32Array;
}

/** A SampleSource over an EventLog; also says which event each sample is and the options it uses. */
export interface LogSampleSource<S extends FeatureSchema = FeatureSchema> extends SampleSource<S> {
  /** event position (into the log) of each sample */
  readonly positions: Int32Array;
  /** the options in force, defaults filled in */
  readonly options: ResolvedSequenceOptions;
}

/** The events of one domain that pass a filter: their positions, and each user's first index into them. */
interface FilteredEvents {
  /** positions of the matching events, ascending (so grouped by user, time-ordered within a user) */
  readonly positions: Int32Array;
  /** user u's matching events are positions[userFirst[u] .. userFirst[u + 1] - 1] */
  readonly userFirst: Int32Array;
}

const filterCache = new WeakMap<EventLog, Map<string, FilteredEvents>>();

function filteredEvents(log: EventLog, domain: typeof TARGET | typeof SOURCE, filter: EventFilter): FilteredEvents {
  let perLog = filterCache.get(log);
  if (!perLog) {
    perLog = new Map();
    filterCache.set(log, perLog);
  }
  const key = `${domain}:${filter}`;
  const hit = perLog.get(key);
  if (hit) return hit;
  const d = log.domain,
    lab = log.label,
    n = log.size,
    users = log.meta.users,
    userStart = log.userStart;
  const positive = filter === 'positive';
  let count = 0;
  for (let i = 0; i < n; i++) if (d[i] === domain && (!positive || lab[i] === 1)) count++;
  const positions = new Int32Array(count);
  const userFirst = new Int32Array(users + 1);
  let k = 0;
  for (let u = 0; u < users; u++) {
    userFirst[u] = k;
    for (let i = userStart[u]!, end = userStart[u + 1]!; i < end; i++)
      if (d[i] === domain && (!positive || lab[i] === 1)) positions[k++] = i;
  }
  userFirst[users] = k;
  const made = { positions, userFirst };
  perLog.set(key, made);
  return made;
}

interface SequenceOut {
  ids?: Int32Array;
  cats?: Int32Array;
  mask?: Uint8Array;
  ctx?: Int32Array;
}

/**
 * Write the (at most L) most recent matching events of user u before position p into row b of
 * the outputs, oldest first; the rest of the row stays padding (zeros, mask false).
 */
function fillSequence(log: EventLog, ev: FilteredEvents, u: number, p: number, L: number, b: number, out: SequenceOut): void {
  const pos = ev.positions;
  const lo = ev.userFirst[u]!;
  // first index in [lo, hi) whose event is at or after p: the user's matches before p are [lo, end)
  let a = lo,
    z = ev.userFirst[u + 1]!;
  while (a < z) {
    const m = (a + z) >>> 1;
    if (pos[m]! < p) a = m + 1;
    else z = m;
  }
  const end = a;
  const count = Math.min(L, end - lo),
    start = end - count,
    base = b * L;
  if (out.ids) {
    const ids = out.ids,
      item = log.item;
    for (let j = 0; j < count; j++) ids[base + j] = item[pos[start + j]!]!;
  }
  if (out.cats) {
    const cats = out.cats,
      cat = log.category;
    for (let j = 0; j < count; j++) cats[base + j] = cat[pos[start + j]!]!;
  }
  if (out.mask) out.mask.fill(1, base, base + count);
  if (out.ctx) {
    const ctx = out.ctx,
      C = log.context.length;
    for (let c = 0; c < C; c++) {
      const col = log.context[c]!;
      for (let j = 0; j < count; j++) ctx[(base + j) * C + c] = col[pos[start + j]!]!;
    }
  }
}

/**
 * A lazily batched SampleSource over `log` for the samples at event positions `sampleIndex`
 * (from buildSampleIndex, or any target-domain event positions), typed by a model's schema.
 * The schema must be a subset of SAMPLE_FEATURES with the shapes of `sampleSchema(log.meta, opts)`;
 * anything else throws FeatureSchemaError ('feature schema mismatch: ...').
 */
export function createSampleSource<S extends FeatureSchema>(
  log: EventLog,
  sampleIndex: SampleIndex,
  schema: S,
  opts: SampleSourceOptions = {},
): LogSampleSource<S> {
  const o = resolveSequenceOptions(opts);
  checkSampleSchema(schema, log.meta, o);
  const size = sampleIndex.length;
  const positions = Int32Array.from(sampleIndex);
  const labels = new Uint8Array(size),
    groups = new Int32Array(size);
  for (let s = 0; s < size; s++) {
    const p = positions[s]!;
    if (!Number.isInteger(p) || p < 0 || p >= log.size)
      throw new RangeError(
        `createSampleSource: sample ${s} is event position ${p}, out of range for a log of ${log.size} events (valid 0..${log.size - 1})`,
      );
    if (log.domain[p] !== TARGET)
      throw new RangeError(
        `createSampleSource: sample ${s} is event ${p}, a source-domain event (samples must be target-domain events: the candidate is a ` +
          `target item)`,
      );
    labels[s] = log.label[p]!;
    groups[s] = log.user[p]!;
  }
  let trueProbability: Float32Array | undefined;
  if (opts.eventProbability !== undefined) {
    const ep = opts.eventProbability;
    if (!(ep instanceof Float32Array) || ep.length !== log.size) {
      throw new RangeError(
        `createSampleSource: eventProbability must be a Float32Array with one value per event (${log.size}), got ` +
          `${ep instanceof Float32Array ? `length ${ep.length}` : ((ep as object)?.constructor?.name ?? typeof ep)}`,
      );
    }
    trueProbability = new Float32Array(size);
    for (let s = 0; s < size; s++) trueProbability[s] = ep[positions[s]!]!;
  }

  const want = new Set(Object.keys(schema) as SampleFeature[]);
  const has = (...f: SampleFeature[]) => f.some((x) => want.has(x));
  const target = has('targetSeq', 'targetSeqCategory', 'targetSeqMask') ? filteredEvents(log, TARGET, o.targetEvents) : undefined;
  const source = has('sourceSeq', 'sourceSeqCategory', 'sourceSeqMask') ? filteredEvents(log, SOURCE, o.sourceEvents) : undefined;
  const lifelong = has('lifelongSeq', 'lifelongSeqCategory', 'lifelongMask', 'lifelongContext')
    ? filteredEvents(log, SOURCE, o.lifelongEvents)
    : undefined;
  const P = log.meta.profile.length,
    C = log.context.length;

  function batch(indices: Int32Array): InputsOf<S> {
    const B = indices.length;
    const ps = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const s = indices[b]!;
      if (!Number.isInteger(s) || s < 0 || s >= size)
        throw new RangeError(`batch: indices[${b}] is ${s}, out of range for a source of ${size} samples (valid 0..${size - 1})`);
      ps[b] = positions[s]!;
    }
    const i32 = (n: number) => new Int32Array(n);
    const out: Partial<Record<SampleFeature, HostTensor>> = {};
    const put = (f: SampleFeature, t: HostTensor) => {
      if (want.has(f)) out[f] = t;
    };
    const opt = <T>(f: SampleFeature, make: () => T): T | undefined => (want.has(f) ? make() : undefined);
    const perSample = (f: SampleFeature, col: Int32Array) =>
      opt(f, () => {
        const a = i32(B);
        for (let b = 0; b < B; b++) a[b] = col[ps[b]!]!;
        return a;
      });

    const user = perSample('user', log.user),
      candidate = perSample('candidate', log.item),
      candidateCategory = perSample('candidateCategory', log.category);
    const label = opt('label', () => {
      const a = new Float32Array(B);
      for (let b = 0; b < B; b++) a[b] = log.label[ps[b]!]!;
      return a;
    });
    const profile = opt('profile', () => {
      const a = i32(B * P);
      for (let b = 0; b < B; b++) {
        const u = log.user[ps[b]!]!;
        for (let k = 0; k < P; k++) a[b * P + k] = log.profile[k]![u]!;
      }
      return a;
    });
    const seqOut = (ids: SampleFeature, cats: SampleFeature, mask: SampleFeature, L: number, ctx?: SampleFeature): SequenceOut => ({
      ids: opt(ids, () => i32(B * L)),
      cats: opt(cats, () => i32(B * L)),
      mask: opt(mask, () => new Uint8Array(B * L)),
      ctx: ctx === undefined ? undefined : opt(ctx, () => i32(B * L * C)),
    });
    const tOut = seqOut('targetSeq', 'targetSeqCategory', 'targetSeqMask', o.targetLength);
    const sOut = seqOut('sourceSeq', 'sourceSeqCategory', 'sourceSeqMask', o.sourceLength);
    const lOut = seqOut('lifelongSeq', 'lifelongSeqCategory', 'lifelongMask', o.lifelongLength, 'lifelongContext');
    for (let b = 0; b < B; b++) {
      const p = ps[b]!,
        u = log.user[p]!;
      if (target) fillSequence(log, target, u, p, o.targetLength, b, tOut);
      if (source) fillSequence(log, source, u, p, o.sourceLength, b, sOut);
      if (lifelong) fillSequence(log, lifelong, u, p, o.lifelongLength, b, lOut);
    }

    const t = <D extends HostTensor['dtype']>(dtype: D, shape: number[], data: HostTensor<D>['data'] | undefined): HostTensor => ({
      dtype,
      shape,
      data: data!,
    });
    put('user', t('int32', [B], user));
    put('profile', t('int32', [B, P], profile));
    put('candidate', t('int32', [B], candidate));
    put('candidateCategory', t('int32', [B], candidateCategory));
    put('targetSeq', t('int32', [B, o.targetLength], tOut.ids));
    put('targetSeqCategory', t('int32', [B, o.targetLength], tOut.cats));
    put('targetSeqMask', t('bool', [B, o.targetLength], tOut.mask));
    put('sourceSeq', t('int32', [B, o.sourceLength], sOut.ids));
    put('sourceSeqCategory', t('int32', [B, o.sourceLength], sOut.cats));
    put('sourceSeqMask', t('bool', [B, o.sourceLength], sOut.mask));
    put('lifelongSeq', t('int32', [B, o.lifelongLength], lOut.ids));
    put('lifelongSeqCategory', t('int32', [B, o.lifelongLength], lOut.cats));
    put('lifelongMask', t('bool', [B, o.lifelongLength], lOut.mask));
    put('lifelongContext', t('int32', [B, o.lifelongLength, C], lOut.ctx));
    put('label', t('float32', [B], label));
    // keep the schema's key order in the record
    const ordered: Record<string, HostTensor> = {};
    for (const k of Object.keys(schema)) ordered[k] = out[k as SampleFeature]!;
    return ordered as InputsOf<S>;
  }

  const src: LogSampleSource<S> = { schema, size, labels, groups, positions, options: o, batch };
  return trueProbability ? { ...src, trueProbability } : src;
}
