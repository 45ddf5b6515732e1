/**
 * Column mappings from any Table (CSV, Parquet, ...) into an EventLog. An EventReader collects the
 * events of one or more files into shared vocabularies (raw ids -> dense ids; items per domain) and
 * finishes into an EventLog plus the Vocabulary to save.
 */
import { type Domain, type EventLog, EventLogBuilder, type EventLogMeta, SOURCE, TARGET } from '../event-log.ts';
import { type CsvOptions, openCsv } from './csv.ts';
import { type ParquetOptions, openParquet } from './parquet.ts';
import { type Cell, type ProgressCallback, ReaderError, Row, type Table, cellText, isMissing, parseNumber } from './table.ts';
import { FeatureEncoder, type FeatureDef, IdMap, type Vocabulary } from './vocab.ts';

/** A raw id or categorical value: a column name, or a rule computing it from the row. */
export type CellSource = string | { readonly rule: (row: Row) => Cell };

/** Which domain an event's item belongs to. */
export type DomainSpec =
  | { readonly constant: Domain }
  /** the cell's text is one of `target` -> TARGET, else SOURCE */
  | { readonly column: string; readonly target: readonly string[] }
  /** the cell's number is < targetBelow -> TARGET, else SOURCE (Taobao: category id < 2000) */
  | { readonly column: string; readonly targetBelow: number }
  | { readonly rule: (row: Row) => Domain };

/** The 0/1 label. */
export type LabelSpec =
  | { readonly constant: 0 | 1 }
  /** the cell must be 0 or 1 */
  | { readonly column: string }
  /** 1 when the cell's number is >= atLeast (rating >= 4) */
  | { readonly column: string; readonly atLeast: number }
  /** 1 when the cell's text is one of oneOf */
  | { readonly column: string; readonly oneOf: readonly string[] }
  | { readonly rule: (row: Row) => number };

/**
 * The event time: a numeric column (stored as is: seconds, or milliseconds if that is what the file has), an ISO 8601 column (stored as
 * epoch seconds), or a rule.
 */
export type TimestampSpec =
  | string
  | { readonly column: string; readonly format?: 'number' | 'iso' }
  | { readonly rule: (row: Row) => number };

export interface EventMapping {
  readonly user: CellSource;
  readonly item: CellSource;
  /** absent: every event of this file is in category 0 */
  readonly category?: CellSource;
  readonly domain: DomainSpec;
  readonly timestamp: TimestampSpec;
  readonly label: LabelSpec;
  /** cells of the reader's context features by feature name (numbers for bucket features); features not named here get 0 */
  readonly context?: Readonly<Record<string, CellSource>>;
}

export interface ProfileMapping {
  readonly user: CellSource;
  /** cells of the reader's profile features by feature name */
  readonly features: Readonly<Record<string, CellSource>>;
}

/** What to do with a raw id (or categorical value) the vocabulary does not have: add it, fail, or skip the row. */
export type UnknownIdPolicy = 'add' | 'error' | 'skip';
export type UnknownIds =
  | UnknownIdPolicy
  | {
      readonly users?: UnknownIdPolicy;
      readonly items?: UnknownIdPolicy;
      readonly categories?: UnknownIdPolicy;
      /** values of context/profile features (closed features always fail) */
      readonly values?: UnknownIdPolicy;
    };

export interface EventReaderOptions {
  /** context features (per event), in EventLogMeta.context order */
  readonly context?: readonly FeatureDef[];
  /** profile features (per user), in EventLogMeta.profile order */
  readonly profile?: readonly FeatureDef[];
  /**
   * start from a saved vocabulary (dense ids stay as saved); its features are used when `context`/`profile` are not given, and seed value
   * features of the same name when they are
   */
  readonly vocabulary?: Vocabulary;
  /** default 'add' */
  readonly unknownIds?: UnknownIds;
}

export interface AddOptions {
  readonly onProgress?: ProgressCallback;
  /**
   * fail on a timestamp earlier than the previous row's ('file') or the same user's previous row's ('user'); default: any order (the
   * EventLog sorts)
   */
  readonly requireSorted?: 'file' | 'user';
  /** this file's policy (default: the reader's) */
  readonly unknownIds?: UnknownIds;
  /** rows for which it returns false are skipped (counted in `skipped`) */
  readonly filter?: (row: Row) => boolean;
  /**
   * A row whose cells are bad (unparseable number, missing field, unknown closed value ...) is passed
   * here and skipped (counted in `refused`) instead of failing the read; the callback may throw to
   * stop (a dataset's `maxBadRows`). Errors of the file itself (field count, encoding) still fail.
   */
  readonly onBadRow?: (error: ReaderError, where: string) => void;
  /**
   * Timestamps must lie in [from, to) (either end optional); a row outside is a bad row (an error
   * with file:line, or passed to `onBadRow`). `name` is how the message names the range (default
   * 'timeRange'; a dataset passes its config key).
   */
  readonly timeRange?: { readonly from?: number; readonly to?: number; readonly name?: string };
}

/**
 * Minimum counts applied by `finish()`, in this order: users with fewer than `minUserEvents` events
 * are dropped with their events (and their profile rows); then, over the remaining events, items
 * (per domain) seen fewer than `minItemCount` times and categories seen fewer than
 * `minCategoryCount` times share one out-of-vocabulary row. When a rule is on for a kind, dense id 0
 * of that kind is the out-of-vocabulary row (its vocabulary list starts with '' at index 0, a value
 * no raw id can take, and `Vocabulary.oov` names the kind) and the kept ids are 1.. in their order
 * of first appearance; without a rule the ids are exactly as read.
 */
export interface VocabularyRules {
  readonly minUserEvents?: number;
  readonly minItemCount?: number;
  readonly minCategoryCount?: number;
}

/** What the rules of `finish()` dropped and folded (ids and the events that carry them). */
export interface FoldReport {
  readonly users: { readonly dropped: number; readonly events: number };
  readonly items: {
    readonly target: { readonly folded: number; readonly events: number };
    readonly source: { readonly folded: number; readonly events: number };
  };
  readonly categories: { readonly folded: number; readonly events: number };
}

/** The value at index 0 of a vocabulary list whose id 0 is the out-of-vocabulary row. */
export const OOV_VALUE = '';

export interface AddReport {
  readonly file: string;
  /** data rows read */
  readonly rows: number;
  /** events (or profiles) taken */
  readonly taken: number;
  /** rows skipped by `filter` or by the 'skip' policy */
  readonly skipped: number;
  /** bad rows passed to `onBadRow` and skipped (absent without `onBadRow`) */
  readonly refused?: number;
}

export interface ReadResult {
  readonly log: EventLog;
  readonly vocabulary: Vocabulary;
  readonly reports: readonly AddReport[];
  /** what `finish(rules)` dropped and folded (all zeros without rules) */
  readonly folded: FoldReport;
}

type Policies = { users: UnknownIdPolicy; items: UnknownIdPolicy; categories: UnknownIdPolicy; values: UnknownIdPolicy };
const policies = (p: UnknownIds | undefined, base: Policies): Policies =>
  p === undefined ? base : typeof p === 'string' ? { users: p, items: p, categories: p, values: p } : { ...base, ...p };

const describe = (s: CellSource): string => (typeof s === 'string' ? `column '${s}'` : 'rule');

/** compile a CellSource against a header: a column becomes an index read */
function cellOf(s: CellSource, row: Row, usedFor: string): (row: Row) => Cell {
  if (typeof s === 'string') {
    const k = row.column(s, usedFor);
    return (r: Row) => r.at(k);
  }
  return s.rule;
}

class Growable {
  cap = 1024;
  n = 0;
  user = new Int32Array(this.cap);
  item = new Int32Array(this.cap);
  category = new Int32Array(this.cap);
  domain = new Uint8Array(this.cap);
  timestamp = new Float64Array(this.cap);
  label = new Uint8Array(this.cap);
  context: Int32Array[];
  constructor(contexts: number) {
    this.context = Array.from({ length: contexts }, () => new Int32Array(this.cap));
  }
  reserve(): number {
    if (this.n === this.cap) {
      this.cap *= 2;
      const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(this.cap);
        b.set(a);
        return b;
      };
      this.user = g(this.user);
      this.item = g(this.item);
      this.category = g(this.category);
      this.domain = g(this.domain);
      this.timestamp = g(this.timestamp);
      this.label = g(this.label);
      this.context = this.context.map(g);
    }
    return this.n++;
  }
  /** drop the columns (after they were copied into the EventLogBuilder) */
  release(): void {
    this.cap = 0;
    this.user = this.item = this.category = new Int32Array(0);
    this.domain = this.label = new Uint8Array(0);
    this.timestamp = new Float64Array(0);
    this.context = this.context.map(() => new Int32Array(0));
  }
}

/**
 * Collects events from several tables into one EventLog with shared vocabularies.
 *
 *   const r = new EventReader({ context: [{ name: 'device' }] });
 * await r.add(openCsv('clicks.csv'), { user: 'uid', item: 'ad', domain: { constant: TARGET }, timestamp: 'ts', label: { column: 'clk' },
 * context: { device: 'dev' } });
 *   const { log, vocabulary } = r.finish();
 */
export class EventReader {
  readonly users: IdMap;
  /** items[TARGET], items[SOURCE] */
  readonly items: readonly [IdMap, IdMap];
  readonly categories: IdMap;
  readonly context: readonly FeatureEncoder[];
  readonly profile: readonly FeatureEncoder[];
  private readonly policy: Policies;
  private readonly ev: Growable;
  private profileValues: Int32Array[];
  private profileSet: Uint8Array;
  private readonly reports: AddReport[] = [];
  private finished = false;

  constructor(options: EventReaderOptions = {}) {
    const v = options.vocabulary;
    this.users = new IdMap(v?.users);
    this.items = [new IdMap(v?.items.target), new IdMap(v?.items.source)];
    this.categories = new IdMap(v?.categories);
    const features = (defs: readonly FeatureDef[] | undefined, saved: Vocabulary['context'] | undefined): FeatureEncoder[] => {
      if (!defs) return Object.entries(saved ?? {}).map(([name, f]) => new FeatureEncoder({ name, ...f }));
      const seen = new Set<string>();
      return defs.map((d) => {
        if (seen.has(d.name)) throw new Error(`feature '${d.name}' is defined twice`);
        seen.add(d.name);
        const s = saved?.[d.name];
        if (s && 'values' in s && !('buckets' in d))
          return new FeatureEncoder({ ...d, values: [...s.values, ...(d.values ?? []).filter((x) => !s.values.includes(x))] });
        return new FeatureEncoder(d);
      });
    };
    this.context = features(options.context, v?.context);
    this.profile = features(options.profile, v?.profile);
    this.policy = policies(options.unknownIds, { users: 'add', items: 'add', categories: 'add', values: 'add' });
    this.ev = new Growable(this.context.length);
    this.profileValues = this.profile.map(() => new Int32Array(Math.max(16, this.users.size)));
    this.profileSet = new Uint8Array(Math.max(16, this.users.size));
  }

  /** events read so far */
  get size(): number {
    return this.ev.n;
  }

  /** room for user u's profile (users may also be added through `users` directly) */
  private profileRoom(u: number): void {
    if (u < this.profileSet.length) return;
    const cap = Math.max(2 * this.profileSet.length, u + 1);
    const g = <T extends Int32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.profileSet = g(this.profileSet);
    this.profileValues = this.profileValues.map(g);
  }

  /** Read a table's events. */
  async add(table: Table, mapping: EventMapping, options: AddOptions = {}): Promise<AddReport> {
    if (this.finished) throw new Error('EventReader: add() after finish()');
    const header = await table.open();
    const row: Row = new Row(table.file, header, table.headerWhere);
    const pol = policies(options.unknownIds, this.policy);

    const userOf = cellOf(mapping.user, row, 'mapping.user');
    const itemOf = cellOf(mapping.item, row, 'mapping.item');
    const catOf = mapping.category === undefined ? undefined : cellOf(mapping.category, row, 'mapping.category');
    const domainOf = compileDomain(mapping.domain, row);
    const timeOf = compileTimestamp(mapping.timestamp, row);
    const labelOf = compileLabel(mapping.label, row);
    const ctxMap = mapping.context ?? {};
    for (const name of Object.keys(ctxMap)) {
      if (!this.context.some((f) => f.name === name))
        throw new ReaderError(
          `${table.headerWhere}: mapping.context names '${name}', which is not a context feature of this reader ` +
            `(${this.context.map((f) => f.name).join(', ') || 'none'})`,
        );
    }
    const ctxOf = this.context.map((f) => {
      const s = ctxMap[f.name];
      return s === undefined
        ? undefined
        : {
            get: cellOf(s, row, `mapping.context.${f.name}`),
            desc: describe(s),
            what: typeof s === 'string' ? `column '${s}'` : `the rule of context '${f.name}'`,
          };
    });
    const userDesc = describe(mapping.user),
      itemDesc = describe(mapping.item),
      catDesc = mapping.category === undefined ? '' : describe(mapping.category);
    const tsDesc =
      typeof mapping.timestamp === 'string'
        ? `column '${mapping.timestamp}'`
        : 'column' in mapping.timestamp
          ? `column '${mapping.timestamp.column}'`
          : 'rule';

    const ev = this.ev;
    const ctxIds = new Int32Array(this.context.length);
    const ctxNew: (string | undefined)[] = new Array(this.context.length);
    let lastTs = -Infinity,
      lastWhere = '';
    const tFrom = options.timeRange?.from ?? -Infinity,
      tTo = options.timeRange?.to ?? Infinity,
      rangeName = options.timeRange?.name ?? 'timeRange';
    const rangeText = `[${options.timeRange?.from ?? '-inf'}, ${options.timeRange?.to ?? 'inf'})`;
    let lastByUser = new Float64Array(0);
    let rows = 0,
      taken = 0,
      skipped = 0,
      refused = 0;
    const onBadRow = options.onBadRow;

    const unknown = (policy: UnknownIdPolicy, what: string, raw: string, desc: string): boolean => {
      if (policy === 'error') row.fail(`unknown ${what} '${raw}' (${desc}): not in the vocabulary`);
      return policy === 'skip';
    };

    for await (const batch of table.batches(options.onProgress)) {
      row.batch = batch;
      for (let r = 0; r < batch.length; r++) {
        row.r = r;
        rows++;
        try {
          if (options.filter && !options.filter(row)) {
            skipped++;
            continue;
          }
          // look everything up first, add to vocabularies only when the row is taken
          const rawUser = cellText(userOf(row));
          if (rawUser === '') row.fail(`missing user id (${userDesc})`);
          const u0 = this.users.get(rawUser);
          if (u0 === undefined && unknown(pol.users, 'user id', rawUser, userDesc)) {
            skipped++;
            continue;
          }
          const d = domainOf(row);
          const items = this.items[d];
          const rawItem = cellText(itemOf(row));
          if (rawItem === '') row.fail(`missing item id (${itemDesc})`);
          const i0 = items.get(rawItem);
          if (i0 === undefined && unknown(pol.items, `${d === TARGET ? 'target' : 'source'} item id`, rawItem, itemDesc)) {
            skipped++;
            continue;
          }
          let rawCat = '',
            c0: number | undefined = 0;
          if (catOf) {
            rawCat = cellText(catOf(row));
            if (rawCat === '') row.fail(`missing category (${catDesc})`);
            c0 = this.categories.get(rawCat);
            if (c0 === undefined && unknown(pol.categories, 'category', rawCat, catDesc)) {
              skipped++;
              continue;
            }
          }
          const ts = timeOf(row);
          if (ts === undefined) row.fail(`missing timestamp (${tsDesc})`);
          if (!(ts >= tFrom && ts < tTo)) row.fail(`timestamp ${ts} is outside ${rangeName} ${rangeText} (${tsDesc})`);
          const label = labelOf(row);
          let skip = false;
          for (let k = 0; k < ctxOf.length; k++) {
            const src = ctxOf[k];
            ctxNew[k] = undefined;
            if (!src) {
              ctxIds[k] = 0;
              continue;
            }
            const f = this.context[k]!;
            const cell = src.get(row);
            if (f.buckets) {
              const v = parseNumber(cell, row.where, src.what);
              ctxIds[k] = v === undefined ? 0 : f.bucket(v);
              continue;
            }
            const text = cellText(cell);
            if (text === '') {
              ctxIds[k] = 0;
              continue;
            }
            const id = f.vocab!.get(text);
            if (id !== undefined) {
              ctxIds[k] = id + 1;
              continue;
            }
            if (f.closed)
              row.fail(`unknown value '${text}' for context '${f.name}' (${src.desc}); known values: ${f.vocab!.values.join(', ')}`);
            if (unknown(pol.values, `value for context '${f.name}'`, text, src.desc)) {
              skip = true;
              break;
            }
            ctxNew[k] = text;
          }
          if (skip) {
            skipped++;
            continue;
          }
          if (options.requireSorted === 'file') {
            if (ts < lastTs)
              row.fail(
                `timestamp ${ts} is earlier than ${lastTs} on the previous row (${lastWhere}); this input must be sorted by time ` +
                  `(requireSorted: 'file')`,
              );
            lastTs = ts;
            lastWhere = row.where;
          }
          // commit
          const u = u0 ?? this.users.add(rawUser);
          if (options.requireSorted === 'user') {
            if (u >= lastByUser.length) {
              const b = new Float64Array(Math.max(1024, 2 * u + 2)).fill(-Infinity);
              b.set(lastByUser);
              lastByUser = b;
            }
            if (ts < lastByUser[u]!)
              row.fail(
                `timestamp ${ts} is earlier than ${lastByUser[u]}, the previous event of user '${rawUser}'; this input must be sorted by ` +
                  `time within each user (requireSorted: 'user')`,
              );
            lastByUser[u] = ts;
          }
          const i = ev.reserve();
          ev.user[i] = u;
          ev.item[i] = i0 ?? items.add(rawItem);
          ev.category[i] = c0 ?? this.categories.add(rawCat);
          ev.domain[i] = d;
          ev.timestamp[i] = ts;
          ev.label[i] = label;
          for (let k = 0; k < ctxIds.length; k++)
            ev.context[k]![i] = ctxNew[k] === undefined ? ctxIds[k]! : this.context[k]!.vocab!.add(ctxNew[k]!) + 1;
          taken++;
        } catch (e) {
          // every check above runs before the commit, so a refused row leaves no trace in the vocabularies or columns
          if (!onBadRow || !(e instanceof ReaderError)) throw e;
          refused++;
          onBadRow(e, row.where);
        }
      }
    }
    const report = { file: table.file, rows, taken, skipped, ...(onBadRow ? { refused } : {}) };
    this.reports.push(report);
    return report;
  }

  /** Read per-user profile features from a table (one row per user; a second row for a user is an error). */
  async addProfiles(
    table: Table,
    mapping: ProfileMapping,
    options: {
      readonly onProgress?: ProgressCallback;
      readonly unknownUsers?: UnknownIdPolicy;
      readonly unknownValues?: UnknownIdPolicy;
    } = {},
  ): Promise<AddReport> {
    if (this.finished) throw new Error('EventReader: addProfiles() after finish()');
    const header = await table.open();
    const row: Row = new Row(table.file, header, table.headerWhere);
    const userOf = cellOf(mapping.user, row, 'mapping.user');
    const userDesc = describe(mapping.user);
    for (const name of Object.keys(mapping.features)) {
      if (!this.profile.some((f) => f.name === name))
        throw new ReaderError(
          `${table.headerWhere}: mapping.features names '${name}', which is not a profile feature of this reader ` +
            `(${this.profile.map((f) => f.name).join(', ') || 'none'})`,
        );
    }
    const srcs = this.profile.map((f) => {
      const s = mapping.features[f.name];
      return s === undefined
        ? undefined
        : {
            get: cellOf(s, row, `mapping.features.${f.name}`),
            desc: describe(s),
            what: typeof s === 'string' ? `column '${s}'` : `the rule of profile '${f.name}'`,
          };
    });
    const unknownUsers = options.unknownUsers ?? 'skip';
    const unknownValues = options.unknownValues ?? this.policy.values;
    const ids = new Int32Array(this.profile.length);
    const fresh: (string | undefined)[] = new Array(this.profile.length);
    let rows = 0,
      taken = 0,
      skipped = 0;
    for await (const batch of table.batches(options.onProgress)) {
      row.batch = batch;
      rows_: for (let r = 0; r < batch.length; r++) {
        row.r = r;
        rows++;
        const raw = cellText(userOf(row));
        if (raw === '') row.fail(`missing user id (${userDesc})`);
        const u0 = this.users.get(raw);
        if (u0 === undefined) {
          if (unknownUsers === 'error') row.fail(`unknown user id '${raw}' (${userDesc}): not in the vocabulary`);
          if (unknownUsers === 'skip') {
            skipped++;
            continue;
          }
        }
        for (let k = 0; k < srcs.length; k++) {
          const src = srcs[k];
          fresh[k] = undefined;
          if (!src) {
            ids[k] = 0;
            continue;
          }
          const f = this.profile[k]!;
          const cell = src.get(row);
          if (f.buckets) {
            const v = parseNumber(cell, row.where, src.what);
            ids[k] = v === undefined ? 0 : f.bucket(v);
            continue;
          }
          const text = cellText(cell);
          if (text === '') {
            ids[k] = 0;
            continue;
          }
          const id = f.vocab!.get(text);
          if (id !== undefined) {
            ids[k] = id + 1;
            continue;
          }
          if (f.closed || unknownValues === 'error')
            row.fail(`unknown value '${text}' for profile '${f.name}' (${src.desc}); known values: ${f.vocab!.values.join(', ')}`);
          if (unknownValues === 'skip') {
            skipped++;
            continue rows_;
          }
          fresh[k] = text;
        }
        const u = u0 ?? this.users.add(raw);
        this.profileRoom(u);
        if (this.profileSet[u]) row.fail(`a second profile row for user '${raw}'`);
        this.profileSet[u] = 1;
        for (let k = 0; k < ids.length; k++)
          this.profileValues[k]![u] = fresh[k] === undefined ? ids[k]! : this.profile[k]!.vocab!.add(fresh[k]!) + 1;
        taken++;
      }
    }
    const report = { file: table.file, rows, taken, skipped };
    this.reports.push(report);
    return report;
  }

  /** The vocabulary as it stands (JSON-ready). */
  vocabulary(): Vocabulary {
    const obj = (fs: readonly FeatureEncoder[]) => Object.fromEntries(fs.map((f) => [f.name, f.toJSON()]));
    return {
      users: [...this.users.values],
      items: { target: [...this.items[TARGET].values], source: [...this.items[SOURCE].values] },
      categories: [...this.categories.values],
      context: obj(this.context),
      profile: obj(this.profile),
    };
  }

  /**
   * Sort into the EventLog (by user, then time, ties in reading order), after the minimum-count
   * `rules` (see VocabularyRules; none: ids exactly as read). The reader cannot be used afterwards.
   */
  finish(rules: VocabularyRules = {}): ReadResult {
    if (this.finished) throw new Error('EventReader: finish() called twice');
    this.finished = true;
    const ev = this.ev,
      n = ev.n,
      C = this.context.length;
    const minUser = rules.minUserEvents ?? 0,
      minItem = rules.minItemCount ?? 0,
      minCat = rules.minCategoryCount ?? 0;
    // old id -> new id (-1: dropped); identity when no rule is on for the kind
    let userMap: Int32Array | undefined,
      droppedUsers = 0,
      droppedEvents = 0;
    if (minUser > 0) {
      const count = new Int32Array(this.users.size);
      for (let i = 0; i < n; i++) count[ev.user[i]!]!++;
      userMap = new Int32Array(this.users.size);
      let next = 0;
      for (let u = 0; u < count.length; u++) {
        if (count[u]! >= minUser) userMap[u] = next++;
        else {
          userMap[u] = -1;
          droppedUsers++;
          droppedEvents += count[u]!;
        }
      }
    }
    const kept = (i: number) => userMap === undefined || userMap[ev.user[i]!]! >= 0;
    /** ids seen fewer than k times (among kept events) -> 0, the others -> 1.. in their order */
    const fold = (size: number, column: Int32Array, k: number, inDomain?: Domain) => {
      const count = new Int32Array(size);
      for (let i = 0; i < n; i++) if ((inDomain === undefined || ev.domain[i] === inDomain) && kept(i)) count[column[i]!]!++;
      const map = new Int32Array(size);
      let next = 1,
        folded = 0,
        events = 0;
      for (let x = 0; x < size; x++) {
        if (count[x]! >= k) map[x] = next++;
        else if (count[x]! > 0) {
          folded++;
          events += count[x]!;
        } // ids only dropped users had are gone, not folded
      }
      return { map, folded, events };
    };
    const none = { map: undefined, folded: 0, events: 0 };
    const itemFold = [TARGET, SOURCE].map((d) => (minItem > 0 ? fold(this.items[d].size, ev.item, minItem, d as Domain) : none));
    const catFold = minCat > 0 ? fold(this.categories.size, ev.category, minCat) : none;
    /** the vocabulary list after a fold: '' (the OOV row) first, then the kept values */
    const keptValues = (values: readonly string[], map: Int32Array | undefined) =>
      map === undefined ? [...values] : [OOV_VALUE, ...values.filter((_, x) => map[x]! > 0)];
    const users = userMap === undefined ? [...this.users.values] : this.users.values.filter((_, u) => userMap![u]! >= 0);
    const itemValues = [
      keptValues(this.items[TARGET].values, itemFold[TARGET]!.map),
      keptValues(this.items[SOURCE].values, itemFold[SOURCE]!.map),
    ] as const;
    const categoryValues = keptValues(this.categories.values, catFold.map);

    const meta: EventLogMeta = {
      users: users.length,
      items: { target: itemValues[TARGET].length, source: itemValues[SOURCE].length },
      categories: Math.max(1, categoryValues.length),
      context: this.context.map((f) => ({ name: f.name, cardinality: f.cardinality })),
      profile: this.profile.map((f) => ({ name: f.name, cardinality: f.cardinality })),
    };
    const b = new EventLogBuilder(meta, n - droppedEvents);
    const ctx = new Array<number>(C);
    const tMap = itemFold[TARGET]!.map,
      sMap = itemFold[SOURCE]!.map,
      cMap = catFold.map;
    for (let i = 0; i < n; i++) {
      const u = userMap === undefined ? ev.user[i]! : userMap[ev.user[i]!]!;
      if (u < 0) continue;
      for (let k = 0; k < C; k++) ctx[k] = ev.context[k]![i]!;
      const d = ev.domain[i] as Domain,
        item = ev.item[i]!,
        cat = ev.category[i]!;
      const map = d === TARGET ? tMap : sMap;
      b.push({
        user: u,
        item: map ? map[item]! : item,
        category: cMap ? cMap[cat]! : cat,
        domain: d,
        timestamp: ev.timestamp[i]!,
        label: ev.label[i]!,
        context: ctx,
      });
    }
    ev.release(); // peak memory: two copies of the columns, not three
    this.profileRoom(this.users.size);
    if (this.profile.length) {
      const vals = new Array<number>(this.profile.length);
      for (let u = 0; u < this.users.size; u++) {
        const v = userMap === undefined ? u : userMap[u]!;
        if (!this.profileSet[u] || v < 0) continue;
        for (let k = 0; k < vals.length; k++) vals[k] = this.profileValues[k]![u]!;
        b.setProfile(v, vals);
      }
    }
    const features = (fs: readonly FeatureEncoder[]) => Object.fromEntries(fs.map((f) => [f.name, f.toJSON()]));
    const oov = { ...(minItem > 0 ? { items: true } : {}), ...(minCat > 0 ? { categories: true } : {}) };
    const vocabulary: Vocabulary = {
      users,
      items: { target: itemValues[TARGET], source: itemValues[SOURCE] },
      categories: categoryValues,
      context: features(this.context),
      profile: features(this.profile),
      ...(Object.keys(oov).length ? { oov } : {}),
    };
    const folded: FoldReport = {
      users: { dropped: droppedUsers, events: droppedEvents },
      items: {
        target: { folded: itemFold[TARGET]!.folded, events: itemFold[TARGET]!.events },
        source: { folded: itemFold[SOURCE]!.folded, events: itemFold[SOURCE]!.events },
      },
      categories: { folded: catFold.folded, events: catFold.events },
    };
    return { log: b.finish(), vocabulary, reports: [...this.reports], folded };
  }
}

function compileDomain(spec: DomainSpec, row: Row): (row: Row) => Domain {
  if ('constant' in spec) {
    if (spec.constant !== TARGET && spec.constant !== SOURCE)
      throw new ReaderError(`${row.where}: mapping.domain.constant must be 0 (target) or 1 (source), got ${String(spec.constant)}`);
    const d = spec.constant;
    return () => d;
  }
  if ('rule' in spec) {
    const f = spec.rule;
    return (r: Row) => {
      const d = f(r);
      if (d !== TARGET && d !== SOURCE) r.fail(`the domain rule returned ${String(d)}; expected 0 (target) or 1 (source)`);
      return d;
    };
  }
  const k = row.column(spec.column, 'mapping.domain'),
    col = spec.column,
    what = `column '${col}'`;
  if ('target' in spec) {
    const t = new Set(spec.target);
    return (r: Row) => {
      const v = r.at(k);
      if (isMissing(v)) r.fail(`missing domain (column '${col}')`);
      return t.has(cellText(v)) ? TARGET : SOURCE;
    };
  }
  const below = spec.targetBelow;
  return (r: Row) => {
    const v = parseNumber(r.at(k), r.where, what);
    if (v === undefined) r.fail(`missing domain (column '${col}')`);
    return v < below ? TARGET : SOURCE;
  };
}

function compileTimestamp(spec: TimestampSpec, row: Row): (row: Row) => number | undefined {
  if (typeof spec !== 'string' && 'rule' in spec) {
    const f = spec.rule;
    return (r: Row) => {
      const t = f(r);
      if (typeof t !== 'number' || !Number.isFinite(t)) r.fail(`the timestamp rule returned ${String(t)}; expected a finite number`);
      return t;
    };
  }
  const col = typeof spec === 'string' ? spec : spec.column;
  const k = row.column(col, 'mapping.timestamp'),
    what = `column '${col}'`;
  if (typeof spec !== 'string' && spec.format === 'iso') {
    return (r: Row) => {
      const v = r.at(k);
      if (isMissing(v)) return undefined;
      if (typeof v === 'number') return v;
      const t = Date.parse(cellText(v));
      if (Number.isNaN(t)) r.fail(`bad timestamp in column '${col}': '${cellText(v)}' (expected ISO 8601)`);
      return t / 1000;
    };
  }
  return (r: Row) => parseNumber(r.at(k), r.where, what);
}

function compileLabel(spec: LabelSpec, row: Row): (row: Row) => 0 | 1 {
  if ('constant' in spec) {
    if (spec.constant !== 0 && spec.constant !== 1)
      throw new ReaderError(`${row.where}: mapping.label.constant must be 0 or 1, got ${String(spec.constant)}`);
    const l = spec.constant;
    return () => l;
  }
  if ('rule' in spec) {
    const f = spec.rule;
    return (r: Row) => {
      const l = f(r);
      if (l !== 0 && l !== 1) r.fail(`the label rule returned ${String(l)}; expected 0 or 1`);
      return l;
    };
  }
  const col = spec.column,
    k = row.column(col, 'mapping.label'),
    what = `column '${col}'`;
  if ('atLeast' in spec) {
    const t = spec.atLeast;
    return (r: Row) => {
      const v = parseNumber(r.at(k), r.where, what);
      if (v === undefined) r.fail(`missing label (column '${col}')`);
      return v >= t ? 1 : 0;
    };
  }
  if ('oneOf' in spec) {
    const s = new Set(spec.oneOf);
    return (r: Row) => {
      const v = r.at(k);
      if (isMissing(v)) r.fail(`missing label (column '${col}')`);
      return s.has(cellText(v)) ? 1 : 0;
    };
  }
  return (r: Row) => {
    const v = parseNumber(r.at(k), r.where, what);
    if (v === undefined) r.fail(`missing label (column '${col}')`);
    if (v !== 0 && v !== 1) r.fail(`label in column '${col}' must be 0 or 1, got ${cellText(r.at(k))}`);
    return v;
  };
}

export interface ReadEventsOptions extends EventReaderOptions, AddOptions {}

/** One CSV/TSV file -> EventLog + Vocabulary. */
export async function readCsvEvents(
  path: string,
  mapping: EventMapping,
  options: ReadEventsOptions & { readonly csv?: CsvOptions } = {},
): Promise<ReadResult> {
  const reader = new EventReader(options);
  await reader.add(openCsv(path, options.csv), mapping, options);
  return reader.finish();
}

/** One Parquet file -> EventLog + Vocabulary. */
export async function readParquetEvents(
  path: string,
  mapping: EventMapping,
  options: ReadEventsOptions & { readonly parquet?: ParquetOptions } = {},
): Promise<ReadResult> {
  const reader = new EventReader(options);
  await reader.add(openParquet(path, options.parquet), mapping, options);
  return reader.finish();
}
