/**
 * The feature pipeline of a dataset, carried to serving (issue 18 item 4): `features.json` beside
 * model.onnx holds the checked dataset config (the column mapping: item, timestamp, category,
 * label, domain and context rules), its content key, the vocabulary (raw id -> row), the profile
 * rows per user, the item side table (datasets with an items file) and the sequence rules of the
 * trained model (length, which events, truncation and padding). `RawRequestMapper` turns a request
 * in the log's own terms (rows keyed by the event file's column names, ids as strings or integers,
 * histories of any length) into the dense, padded features the serving graph reads, exactly as the
 * sample builder (samples/log-source.ts) does for a log:
 * - a history is ordered by timestamp, ties in the order the request lists them (the log's arrival
 *   order rule), and every sequence keeps the latest `length` matching events, oldest first,
 *   right-padded with id 0 (category 0, context 0) and mask false;
 * - an id the vocabulary lacks takes the out-of-vocabulary row 0 where the vocabulary has one
 *   (`minCounts`); without one, a history event carrying it is left out and a candidate carrying
 *   it is refused (row 0 is a real id there). A context value the vocabulary lacks reads as 0
 *   (missing). Every unknown id is counted per feature (`MappedRawRequest.unknown`).
 * It cannot literally share the sample builder's code (that one reads a whole EventLog); the tests
 * check equality on every eval sample of real datasets (test/features.test.ts).
 */
import { RequestError } from '@lctr/spec';
import { SOURCE, TARGET, type Domain, type EventLog } from '../event-log.ts';
import { type Cell, ReaderError, cellText, forEachRow, isMissing, parseNumber } from '../readers/table.ts';
import { FeatureEncoder, IdMap, type Vocabulary } from '../readers/vocab.ts';
import type { EventFilter } from '../samples/schema.ts';
import type { DatasetConfig, FeatureConfig, LoadedDatasetConfig } from './config.ts';
import { type Dataset, expandFiles, openTable } from './load.ts';

export const FEATURES_FILE = 'features.json';
export const FEATURES_FORMAT = 'lctr-features';
export const FEATURES_VERSION = 1;

/** One history sequence of the serving graph: `length` 0 when the graph does not read it. */
export interface SequenceRule {
  readonly length: number;
  readonly events: EventFilter;
}

/** An item of the items file: its domain, raw category and the cells the context features read (FeaturePipeline.itemColumns order). */
export interface ItemEntry {
  readonly domain: Domain;
  readonly category: string;
  readonly cells: readonly (string | number | null)[];
}

export interface FeaturePipeline {
  readonly format: typeof FEATURES_FORMAT;
  readonly version: typeof FEATURES_VERSION;
  /** the dataset config (checked) and its content key (compile's datasetKey: config + every input file's sha256) */
  readonly dataset: { readonly name: string; readonly key: string; readonly config: DatasetConfig };
  readonly sequences: { readonly target: SequenceRule; readonly source: SequenceRule; readonly lifelong: SequenceRule };
  /** how a sequence is cut and padded, in words (the mapper's rule) */
  readonly rule: string;
  readonly vocabulary: Vocabulary;
  /** profile ids per dense user (vocabulary.users order), one per profile feature; absent without profile features */
  readonly profiles?: readonly (readonly number[])[];
  /** items-file datasets: the items file's columns the context features read, and each item by raw id */
  readonly itemColumns?: readonly string[];
  readonly items?: Readonly<Record<string, ItemEntry>>;
}

export const SEQUENCE_RULE =
  'each sequence holds the latest `length` matching events of the history, ordered by timestamp (ties in the order listed), oldest ' +
  'first, right-padded with id 0 and mask false';

const itemColumnsOf = (cfg: DatasetConfig): string[] => {
  const out: string[] = [];
  for (const f of Object.values(cfg.context))
    for (const c of [f.itemColumn, f.yearsSince]) if (c !== undefined && !out.includes(c)) out.push(c);
  return out;
};

/** The items file as the loader reads it (load.ts): domain, first category of the list, the context cells. */
async function readItems(loaded: LoadedDatasetConfig, columns: readonly string[]): Promise<Record<string, ItemEntry>> {
  const { config: cfg, dir, path } = loaded;
  const ic = cfg.items!;
  const list = (text: string): string[] => (ic.listSeparator === undefined ? [text] : text.split(ic.listSeparator).filter((x) => x !== ''));
  const targetValues = new Set(cfg.domain.target ?? []),
    targetCategories = new Set(cfg.domain.categories ?? []);
  const items: Record<string, ItemEntry> = Object.create(null) as Record<string, ItemEntry>;
  for (const file of expandFiles(ic.files, dir, 'config.items.files', path)) {
    await forEachRow(openTable(file, ic), (row) => {
      const id = row.text(ic.id);
      const category = ic.category ? (list(row.text(ic.category))[0] ?? '') : '';
      let domain: Domain = SOURCE;
      if (cfg.domain.itemColumn) domain = list(row.text(cfg.domain.itemColumn)).some((v) => targetValues.has(v)) ? TARGET : SOURCE;
      else if (cfg.domain.categories) domain = targetCategories.has(category) ? TARGET : SOURCE;
      items[id] = {
        domain,
        category,
        cells: columns.map((c) => {
          const v = row.get(c);
          return isMissing(v) ? null : typeof v === 'number' ? v : cellText(v);
        }),
      };
    });
  }
  return items;
}

/** The feature pipeline of a loaded dataset for a model whose sequences follow `sequences`. */
export async function buildFeaturePipeline(
  loaded: LoadedDatasetConfig,
  dataset: Dataset,
  key: string,
  sequences: FeaturePipeline['sequences'],
): Promise<FeaturePipeline> {
  const cfg = loaded.config,
    log: EventLog = dataset.log;
  const P = log.meta.profile.length;
  const profiles = P === 0 ? undefined : Array.from({ length: log.meta.users }, (_, u) => log.profile.map((col) => col[u]!));
  const itemColumns = cfg.items ? itemColumnsOf(cfg) : undefined;
  const items = cfg.items ? await readItems(loaded, itemColumns!) : undefined;
  return {
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    dataset: { name: cfg.name, key, config: cfg },
    sequences,
    rule: SEQUENCE_RULE,
    vocabulary: dataset.vocabulary,
    ...(profiles ? { profiles } : {}),
    ...(items ? { itemColumns: itemColumns!, items } : {}),
  };
}

/** A raw row: the event file's columns by name; ids as strings or integers. */
export type RawRow = Readonly<Record<string, string | number | boolean | null>>;

export interface RawRequest {
  /** the log's user id (profile features); optional when the model reads no profile */
  readonly user?: string | number;
  /** the user's events before the request, any length, any order of timestamps */
  readonly history: readonly RawRow[];
  /** target items to score: the item column (and the category column where the events carry it) */
  readonly candidates: readonly RawRow[];
}

/** Dense features of one request: user-side features (flat, row-major) and per-candidate ids. */
export interface MappedRawRequest {
  readonly user: Readonly<Record<string, Int32Array | Uint8Array>>;
  readonly candidate: Int32Array;
  readonly candidateCategory: Int32Array;
  /**
   * ids the vocabulary lacks, per feature ('user', 'history.item', 'history.category', 'candidate.item', 'candidate.category',
   * 'context.<name>')
   */
  readonly unknown: Readonly<Record<string, number>>;
  /** history events left out (an id without an out-of-vocabulary row) */
  readonly dropped: number;
}

interface Event {
  readonly t: number;
  readonly order: number;
  readonly domain: Domain;
  readonly item: number;
  readonly category: number;
  readonly label: number;
  readonly ctx: Int32Array;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'nothing (missing field)' : JSON.stringify(v));

/** Compiled once from a FeaturePipeline (id maps, encoders), then maps any number of requests. */
export class RawRequestMapper {
  private readonly users: IdMap;
  private readonly items: readonly [IdMap, IdMap];
  private readonly categories: IdMap;
  private readonly context: readonly { name: string; f: FeatureConfig; enc: FeatureEncoder; item: number }[];
  private readonly cfg: DatasetConfig;
  private readonly oovItems: boolean;
  private readonly oovCategories: boolean;

  constructor(readonly pipeline: FeaturePipeline) {
    const v = pipeline.vocabulary;
    this.cfg = pipeline.dataset.config;
    this.users = new IdMap(v.users);
    this.items = [new IdMap(v.items.target), new IdMap(v.items.source)];
    this.categories = new IdMap(v.categories);
    this.oovItems = v.oov?.items === true;
    this.oovCategories = v.oov?.categories === true;
    const cols = pipeline.itemColumns ?? [];
    this.context = Object.entries(this.cfg.context).map(([name, f]) => ({
      name,
      f,
      enc: new FeatureEncoder({ name, ...v.context[name]! }),
      item: cols.indexOf(f.itemColumn ?? f.yearsSince ?? ''),
    }));
  }

  /** The raw request's columns, for documentation and errors. */
  get columns(): { readonly item: string; readonly timestamp: string; readonly category?: string } {
    const e = this.cfg.events;
    return { item: e.item, timestamp: e.timestamp, ...(e.category ? { category: e.category } : {}) };
  }

  map(body: unknown, path = 'raw'): MappedRawRequest {
    if (!isObject(body)) throw new RequestError(path, 'an object {"user", "history", "candidates"}', show(body));
    for (const k of Object.keys(body))
      if (!['user', 'history', 'candidates'].includes(k))
        throw new RequestError(`${path}.${k}`, 'no such field (raw requests have user, history, candidates)', show(body[k]));
    const history = body['history'] ?? [],
      candidates = body['candidates'];
    if (!Array.isArray(history)) throw new RequestError(`${path}.history`, 'an array of event rows (any length)', show(history));
    if (!Array.isArray(candidates) || candidates.length === 0)
      throw new RequestError(`${path}.candidates`, 'a non-empty array of candidate rows', show(candidates));
    const unknown: Record<string, number> = {};
    const count = (k: string) => {
      unknown[k] = (unknown[k] ?? 0) + 1;
    };
    const seq = this.pipeline.sequences;
    const user: Record<string, Int32Array | Uint8Array> = {};

    // profile
    const P = Object.keys(this.cfg.profile?.features ?? {}).length;
    if (P > 0) {
      const raw = body['user'];
      if (raw !== undefined && typeof raw !== 'string' && typeof raw !== 'number')
        throw new RequestError(`${path}.user`, "the log's user id (a string or an integer)", show(raw));
      const u = raw === undefined ? undefined : this.users.get(String(raw));
      if (u === undefined) count('user');
      user['profile'] = Int32Array.from({ length: P }, (_, k) => (u === undefined ? 0 : this.pipeline.profiles![u]![k]!));
    }

    // history: rows -> events (ids), then by timestamp (stable: ties keep the listed order)
    let dropped = 0;
    const events: Event[] = [];
    history.forEach((row: unknown, i: number) => {
      const ev = this.event(row, `${path}.history[${i}]`, i, count);
      if (ev) events.push(ev);
      else dropped++;
    });
    events.sort((a, b) => a.t - b.t || a.order - b.order);

    const C = this.context.length;
    const fill = (prefix: 'targetSeq' | 'sourceSeq' | 'lifelong', domain: Domain, rule: SequenceRule) => {
      const L = rule.length;
      if (L === 0) return;
      const match = events.filter((e) => e.domain === domain && (rule.events === 'all' || e.label === 1));
      const take = match.slice(Math.max(0, match.length - L));
      const ids = new Int32Array(L),
        cats = new Int32Array(L),
        mask = new Uint8Array(L);
      take.forEach((e, j) => {
        ids[j] = e.item;
        cats[j] = e.category;
        mask[j] = 1;
      });
      if (prefix === 'lifelong') {
        const ctx = new Int32Array(L * C);
        take.forEach((e, j) => ctx.set(e.ctx, j * C));
        Object.assign(user, { lifelongSeq: ids, lifelongSeqCategory: cats, lifelongMask: mask, lifelongContext: ctx });
      } else Object.assign(user, { [prefix]: ids, [`${prefix}Category`]: cats, [`${prefix}Mask`]: mask });
    };
    fill('targetSeq', TARGET, seq.target);
    fill('sourceSeq', SOURCE, seq.source);
    fill('lifelong', SOURCE, seq.lifelong);

    // candidates: target items
    const candidate = new Int32Array(candidates.length),
      candidateCategory = new Int32Array(candidates.length);
    candidates.forEach((row: unknown, c: number) => {
      const at = `${path}.candidates[${c}]`;
      const r = this.row(row, at);
      const rawItem = this.text(r, this.cfg.events.item, at, 'the item id');
      const entry = this.pipeline.items?.[rawItem];
      if (this.pipeline.items && entry && entry.domain !== TARGET)
        throw new RequestError(
          `${at}.${this.cfg.events.item}`,
          'a target-domain item (candidates are target items)',
          `${show(rawItem)}, a source-domain item of the items file`,
        );
      const item = this.items[TARGET].get(rawItem);
      if (item === undefined) {
        count('candidate.item');
        if (!this.oovItems)
          throw new RequestError(
            `${at}.${this.cfg.events.item}`,
            `a target item of the vocabulary (${this.items[TARGET].size} items; this model has no out-of-vocabulary row)`,
            show(rawItem),
          );
      }
      candidate[c] = item ?? 0;
      const cat = this.category(r, entry, at);
      if (cat === undefined) {
        count('candidate.category');
        if (!this.oovCategories)
          throw new RequestError(
            `${at}.${this.cfg.events.category ?? 'category'}`,
            `a category of the vocabulary (${this.categories.size} categories; this model has no out-of-vocabulary row)`,
            show(this.rawCategory(r, entry)),
          );
      }
      candidateCategory[c] = cat ?? 0;
    });
    return { user, candidate, candidateCategory, unknown, dropped };
  }

  private row(row: unknown, at: string): Record<string, unknown> {
    if (!isObject(row)) throw new RequestError(at, "an object of the event file's columns", show(row));
    return row;
  }

  private text(r: Record<string, unknown>, column: string, at: string, what: string): string {
    const v = r[column];
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new RequestError(`${at}.${column}`, `${what} (a string or an integer)`, show(v));
    const t = String(v);
    if (t === '') throw new RequestError(`${at}.${column}`, `${what} (a non-empty string or an integer)`, '""');
    return t;
  }

  private number(r: Record<string, unknown>, column: string, at: string, what: string): number | undefined {
    try {
      return parseNumber(r[column] as Cell, at, `column '${column}'`);
    } catch (e) {
      if (e instanceof ReaderError) throw new RequestError(`${at}.${column}`, what, show(r[column]));
      throw e;
    }
  }

  private rawCategory(r: Record<string, unknown>, entry: ItemEntry | undefined): string {
    const col = this.cfg.events.category;
    if (col !== undefined) return cellText(r[col] as Cell);
    return entry?.category ?? '';
  }

  /** dense category; undefined: not in the vocabulary */
  private category(r: Record<string, unknown>, entry: ItemEntry | undefined, at: string): number | undefined {
    const col = this.cfg.events.category;
    if (col === undefined && !this.cfg.items?.category) return 0; // no category anywhere: the reader's category 0
    if (col !== undefined) this.text(r, col, at, 'the category');
    return this.categories.get(this.rawCategory(r, entry));
  }

  private event(row: unknown, at: string, order: number, count: (k: string) => void): Event | undefined {
    const r = this.row(row, at),
      cfg = this.cfg,
      ev = cfg.events;
    const rawItem = this.text(r, ev.item, at, 'the item id');
    let t: number;
    if (ev.timestampFormat === 'iso' && typeof r[ev.timestamp] === 'string') {
      t = Date.parse(r[ev.timestamp] as string) / 1000;
      if (Number.isNaN(t)) throw new RequestError(`${at}.${ev.timestamp}`, 'an ISO 8601 timestamp', show(r[ev.timestamp]));
    } else {
      const n = this.number(r, ev.timestamp, at, 'the timestamp (a number)');
      if (n === undefined) throw new RequestError(`${at}.${ev.timestamp}`, 'the timestamp (a number)', show(r[ev.timestamp]));
      t = n;
    }
    const entry = this.pipeline.items?.[rawItem];
    // domain
    let domain: Domain;
    const d = cfg.domain;
    if (d.itemColumn !== undefined) {
      if (!entry) {
        count('history.item');
        return undefined;
      } // no items-file row: its domain is unknown
      domain = entry.domain;
    } else if (d.categories) {
      domain = new Set(d.categories).has(this.rawCategory(r, entry)) ? TARGET : SOURCE;
    } else if (d.targetBelow !== undefined) {
      const v = this.number(r, d.column!, at, 'a number (the domain column)');
      if (v === undefined) throw new RequestError(`${at}.${d.column}`, 'a number (the domain column)', show(r[d.column!]));
      domain = v < d.targetBelow ? TARGET : SOURCE;
    } else {
      if (isMissing(r[d.column!] as Cell)) throw new RequestError(`${at}.${d.column}`, 'the domain column', show(r[d.column!]));
      domain = new Set(d.target).has(cellText(r[d.column!] as Cell)) ? TARGET : SOURCE;
    }
    // label
    const lab = ev.label;
    let label: number;
    if (lab.constant !== undefined) label = lab.constant;
    else if (lab.oneOf) {
      if (isMissing(r[lab.column!] as Cell))
        throw new RequestError(`${at}.${lab.column}`, `the label column (1 when one of ${lab.oneOf.join(', ')})`, show(r[lab.column!]));
      label = lab.oneOf.includes(cellText(r[lab.column!] as Cell)) ? 1 : 0;
    } else {
      const v = this.number(r, lab.column!, at, 'a number (the label column)');
      if (v === undefined) throw new RequestError(`${at}.${lab.column}`, 'a number (the label column)', show(r[lab.column!]));
      label = lab.atLeast !== undefined ? (v >= lab.atLeast ? 1 : 0) : v;
    }
    // ids
    const item = this.items[domain].get(rawItem);
    if (item === undefined) {
      count('history.item');
      if (!this.oovItems) return undefined;
    }
    const category = this.category(r, entry, at);
    if (category === undefined) {
      count('history.category');
      if (!this.oovCategories) return undefined;
    }
    const ctx = new Int32Array(this.context.length);
    this.context.forEach((c, k) => {
      let cell: Cell;
      if (c.f.column !== undefined) cell = r[c.f.column] as Cell;
      else cell = entry ? entry.cells[c.item] : null;
      if (c.f.missing && c.f.missing.includes(cellText(cell))) cell = null;
      const field = c.f.column ?? c.name;
      if (c.f.yearsSince !== undefined && !isMissing(cell)) {
        const year = this.number({ [field]: cell }, field, at, `a year (the items file's '${c.f.yearsSince}')`)!;
        cell = new Date(t * 1000).getUTCFullYear() - year;
      }
      if (c.enc.buckets) {
        const v = this.number({ [field]: cell }, field, at, `a number (context '${c.name}')`);
        ctx[k] = v === undefined ? 0 : c.enc.bucket(v);
        return;
      }
      const text = cellText(cell);
      if (text === '') {
        ctx[k] = 0;
        return;
      }
      const id = c.enc.vocab!.get(text);
      if (id === undefined) count(`context.${c.name}`);
      ctx[k] = id === undefined ? 0 : id + 1;
    });
    return { t, order, domain, item: item ?? 0, category: category ?? 0, label, ctx };
  }
}

/** Nest a flat row-major array into the JSON arrays of `shape` (a pre-mapped request's value). */
export function nestValues(flat: ArrayLike<number>, shape: readonly number[], bool = false): unknown {
  let k = 0;
  const go = (d: number): unknown => {
    if (d === shape.length) {
      const v = flat[k++]!;
      return bool ? v !== 0 : v;
    }
    return Array.from({ length: shape[d]! }, () => go(d + 1));
  };
  return go(0);
}
