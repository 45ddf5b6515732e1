/**
 * A dataset config to an EventLog, its Vocabulary and the train/test sample split, through the
 * generic readers (EventReader over CSV/TSV/RecBole/Parquet tables). Read order, which fixes the
 * dense ids: the items file (items per domain and categories in its row order), a profile file with
 * `users: 'add'` (users in its row order), the event files in the order given, then a profile file
 * with `users: 'skip'`.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '@lctr/spec';
import { type Domain, type EventLog, SOURCE, TARGET } from '../event-log.ts';
import { buildSampleIndex } from '../samples.ts';
import { openCsv } from '../readers/csv.ts';
import { type CellSource, type DomainSpec, EventReader, type FoldReport, type LabelSpec } from '../readers/events.ts';
import { openAtomic } from '../readers/movielens.ts';
import { openParquet } from '../readers/parquet.ts';
import {
  type Cell,
  type ProgressCallback,
  ReaderError,
  type Row,
  type Table,
  cellText,
  forEachRow,
  isMissing,
  parseNumber,
  requireColumns,
} from '../readers/table.ts';
import type { FeatureDef, Vocabulary } from '../readers/vocab.ts';
import type { DatasetConfig, FeatureConfig, FileFormat, FilesConfig, LoadedDatasetConfig } from './config.ts';
import { type NegativesReport, sampleNegatives } from './negatives.ts';

/** Bad rows skipped under `maxBadRows`, by reason (the message without its location and values). */
export interface RefusedRows {
  readonly total: number;
  readonly reasons: readonly { readonly reason: string; readonly count: number; readonly first: string }[];
}

export interface Dataset {
  readonly name: string;
  readonly log: EventLog;
  readonly vocabulary: Vocabulary;
  /** target events before `splitTime` (train samples) and at or after it (test samples), as event positions */
  readonly train: Int32Array;
  readonly test: Int32Array;
  readonly splitTime: number;
  readonly refused: RefusedRows;
  /** users dropped and ids folded into the out-of-vocabulary rows by `minCounts` (zeros without it) */
  readonly folded: FoldReport;
  /** what `negatives` added (null without it) */
  readonly negatives: NegativesReport | null;
  /** the files read, in order (paths as resolved) */
  readonly files: readonly string[];
}

export interface LoadOptions {
  readonly onProgress?: ProgressCallback;
}

const GLOB = /[*?]/;

/** The files of a section: paths relative to the config's directory, `*`/`?` in the file name matched in sorted order. */
export function expandFiles(files: readonly string[], dir: string, path: string, source: string): string[] {
  const out: string[] = [];
  files.forEach((f, k) => {
    const full = resolve(dir, f);
    if (!GLOB.test(basename(full))) {
      out.push(full);
      return;
    }
    if (GLOB.test(dirname(full)))
      throw new ConfigError([`${source}: ${path}[${k}]: '*' and '?' are allowed in the file name only, got ${JSON.stringify(f)}`]);
    const re = new RegExp(
      `^${basename(full)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    let names: string[] = [];
    try {
      names = readdirSync(dirname(full))
        .filter((n) => re.test(n))
        .sort();
    } catch {
      /* no folder: no match */
    }
    if (names.length === 0) throw new ConfigError([`${source}: ${path}[${k}]: ${JSON.stringify(f)} matches no file (in ${dirname(full)})`]);
    for (const n of names) out.push(join(dirname(full), n));
  });
  return out;
}

function formatOf(file: string, format: FileFormat | undefined): FileFormat {
  if (format) return format;
  if (/\.parquet$/i.test(file)) return 'parquet';
  if (/\.(inter|item|user)$/i.test(file)) return 'atomic';
  if (/\.(tsv|tab)$/i.test(file)) return 'tsv';
  return 'csv';
}

export function openTable(file: string, f: FilesConfig): Table {
  const format = formatOf(file, f.format);
  if (format === 'parquet') return openParquet(file);
  if (format === 'atomic') return openAtomic(file);
  return openCsv(file, { delimiter: format === 'tsv' ? '\t' : ',', ...(f.header ? { header: f.header } : {}) });
}

function featureDef(name: string, f: FeatureConfig): FeatureDef {
  if (f.buckets) return { name, buckets: f.buckets };
  return { name, ...(f.values ? { values: f.values } : {}), ...(f.closed !== undefined ? { closed: f.closed } : {}) };
}

interface ItemRow {
  readonly domain: Domain;
  readonly category: string;
  readonly cells: readonly Cell[];
}

const reasonOf = (message: string, where: string): string =>
  (message.startsWith(`${where}: `) ? message.slice(where.length + 2) : message)
    .replace(/: '[^']*'/g, ": '…'")
    .replace(/(value|id) '[^']*'/g, "$1 '…'")
    .replace(/^timestamp \S+ is outside/, 'timestamp … is outside');

/**
 * Read a dataset: the EventLog, its vocabulary and the split; a bad config or bad data is a ConfigError / ReaderError naming the key or
 * file:line.
 */
export async function loadDataset(loaded: LoadedDatasetConfig, options: LoadOptions = {}): Promise<Dataset> {
  const { config: cfg, dir, path: source } = loaded;
  const progress = options.onProgress;
  const files: string[] = [];
  const itemColumns: string[] = []; // items-file columns the context features read
  for (const f of Object.values(cfg.context))
    for (const c of [f.itemColumn, f.yearsSince]) if (c !== undefined && !itemColumns.includes(c)) itemColumns.push(c);

  const reader = new EventReader({
    context: Object.entries(cfg.context).map(([n, f]) => featureDef(n, f)),
    profile: Object.entries(cfg.profile?.features ?? {}).map(([n, f]) => featureDef(n, f)),
  });

  // the items file: domain, category and attributes per item, registered in file order
  let items: Map<string, ItemRow> | undefined;
  let itemsFile = '';
  if (cfg.items) {
    const ic = cfg.items;
    items = new Map();
    const domainColumn = cfg.domain.itemColumn;
    const targetValues = new Set(cfg.domain.target ?? []);
    const targetCategories = new Set(cfg.domain.categories ?? []);
    const list = (text: string): string[] =>
      ic.listSeparator === undefined ? [text] : text.split(ic.listSeparator).filter((x) => x !== '');
    for (const file of expandFiles(ic.files, dir, 'config.items.files', source)) {
      files.push(file);
      itemsFile = basename(file);
      const table = openTable(file, ic);
      await requireColumns(
        table,
        [ic.id, ...(ic.category ? [ic.category] : []), ...(domainColumn ? [domainColumn] : []), ...itemColumns],
        'config.items',
      );
      await forEachRow(
        table,
        (row) => {
          const id = row.text(ic.id);
          if (id === '') row.fail(`missing item id (column '${ic.id}')`);
          if (items!.has(id)) row.fail(`item id '${id}' is listed twice`);
          let category = '';
          if (ic.category) {
            const cats = list(row.text(ic.category));
            if (cats.length === 0) row.fail(`item '${id}' has no category (column '${ic.category}')`);
            category = cats[0]!;
          }
          let domain: Domain = SOURCE;
          if (domainColumn) domain = list(row.text(domainColumn)).some((v) => targetValues.has(v)) ? TARGET : SOURCE;
          else if (cfg.domain.categories) domain = targetCategories.has(category) ? TARGET : SOURCE;
          items!.set(id, { domain, category, cells: itemColumns.map((c) => row.get(c)) });
          if (domainColumn || cfg.domain.categories) reader.items[domain].add(id);
          if (ic.category) reader.categories.add(category);
        },
        progress,
      );
    }
  }

  const profileMapping = () => ({
    user: cfg.profile!.user,
    features: Object.fromEntries(Object.entries(cfg.profile!.features).map(([n, f]) => [n, withMissing(f.column!, f)])),
  });
  const readProfiles = async () => {
    const pc = cfg.profile!;
    for (const file of expandFiles(pc.files, dir, 'config.profile.files', source)) {
      files.push(file);
      await reader.addProfiles(openTable(file, pc), profileMapping(), {
        unknownUsers: pc.users,
        ...(progress ? { onProgress: progress } : {}),
      });
    }
  };
  if (cfg.profile?.users === 'add') await readProfiles();

  // the events
  const ev = cfg.events;
  let last: { id: string; item: ItemRow } | undefined;
  const itemOf = (row: Row): ItemRow => {
    const id = row.text(ev.item);
    if (last && last.id === id) return last.item;
    const it = items!.get(id);
    if (!it) row.fail(`unknown item id '${id}' (column '${ev.item}'): not in the items file ${itemsFile}`);
    last = { id, item: it };
    return it;
  };
  const categoryOf: CellSource | undefined = ev.category ?? (cfg.items?.category ? { rule: (row) => itemOf(row).category } : undefined);
  const domain = domainSpec(cfg, categoryOf, itemOf);
  const label: LabelSpec =
    ev.label.constant !== undefined
      ? { constant: ev.label.constant as 0 | 1 }
      : ev.label.atLeast !== undefined
        ? { column: ev.label.column!, atLeast: ev.label.atLeast }
        : ev.label.oneOf
          ? { column: ev.label.column!, oneOf: ev.label.oneOf }
          : { column: ev.label.column! };
  const timeOf = (row: Row): number => {
    if (ev.timestampFormat === 'iso') {
      const t = Date.parse(row.text(ev.timestamp));
      if (Number.isNaN(t)) row.fail(`bad timestamp in column '${ev.timestamp}': '${row.text(ev.timestamp)}' (expected ISO 8601)`);
      return t / 1000;
    }
    return row.number(ev.timestamp);
  };
  const context: Record<string, CellSource> = {};
  for (const [name, f] of Object.entries(cfg.context)) {
    if (f.column !== undefined) {
      context[name] = withMissing(f.column, f);
      continue;
    }
    const k = itemColumns.indexOf((f.itemColumn ?? f.yearsSince)!);
    const missing = new Set(f.missing ?? []);
    const cell = (row: Row): Cell => {
      const c = itemOf(row).cells[k];
      return missing.has(cellText(c)) ? null : c;
    };
    if (f.itemColumn !== undefined) {
      context[name] = { rule: cell };
      continue;
    }
    const col = f.yearsSince!;
    context[name] = {
      rule: (row) => {
        const c = cell(row);
        if (isMissing(c)) return null;
        const year = parseNumber(c, row.where, `column '${col}' of the items file ${itemsFile}`)!;
        return new Date(timeOf(row) * 1000).getUTCFullYear() - year;
      },
    };
  }

  const reasons = new Map<string, { count: number; first: string }>();
  let refused = 0;
  const onBadRow =
    cfg.maxBadRows > 0
      ? (e: ReaderError, where: string) => {
          refused++;
          if (refused > cfg.maxBadRows)
            throw new ReaderError(`${e.message} (bad row ${refused}; the config allows maxBadRows = ${cfg.maxBadRows})`);
          const reason = reasonOf(e.message, where);
          const r = reasons.get(reason);
          if (r) r.count++;
          else reasons.set(reason, { count: 1, first: where });
        }
      : undefined;

  for (const file of expandFiles(ev.files, dir, 'config.events.files', source)) {
    files.push(file);
    await reader.add(
      openTable(file, ev),
      {
        user: ev.user,
        item: ev.item,
        ...(categoryOf ? { category: categoryOf } : {}),
        domain,
        timestamp: { column: ev.timestamp, format: ev.timestampFormat },
        label,
        context,
      },
      {
        ...(progress ? { onProgress: progress } : {}),
        ...(onBadRow ? { onBadRow } : {}),
        ...(cfg.timeRange ? { timeRange: { ...cfg.timeRange, name: 'config.timeRange' } } : {}),
      },
    );
  }
  if (cfg.profile && cfg.profile.users === 'skip') await readProfiles();
  const mc = cfg.minCounts;
  const read = reader.finish(
    mc
      ? {
          ...(mc.userEvents ? { minUserEvents: mc.userEvents } : {}),
          ...(mc.items ? { minItemCount: mc.items } : {}),
          ...(mc.categories ? { minCategoryCount: mc.categories } : {}),
        }
      : {},
  );
  const { vocabulary, folded } = read;
  let log = read.log,
    negatives: NegativesReport | null = null;
  if (cfg.negatives) ({ log, report: negatives } = sampleNegatives(log, cfg.negatives, vocabulary.oov?.items ? 1 : 0));
  const { train, test, splitTime } = splitDataset(log, cfg, source);
  return {
    name: cfg.name,
    log,
    vocabulary,
    train,
    test,
    splitTime,
    files,
    folded,
    negatives,
    refused: { total: refused, reasons: [...reasons].map(([reason, r]) => ({ reason, ...r })).sort((a, b) => b.count - a.count) },
  };
}

/** a column whose `missing` cells read as empty (id 0) */
function withMissing(column: string, f: FeatureConfig): CellSource {
  if (!f.missing) return column;
  const missing = new Set(f.missing);
  return {
    rule: (row) => {
      const c = row.get(column);
      return missing.has(cellText(c)) ? null : c;
    },
  };
}

function domainSpec(cfg: DatasetConfig, categoryOf: CellSource | undefined, itemOf: (row: Row) => ItemRow): DomainSpec {
  const d = cfg.domain;
  if (d.itemColumn !== undefined) return { rule: (row) => itemOf(row).domain };
  if (d.categories) {
    if (!categoryOf)
      throw new ConfigError([`config.domain.categories: needs a category: give config.events.category or config.items.category`]);
    const target = new Set(d.categories);
    const cat = typeof categoryOf === 'string' ? (row: Row) => row.text(categoryOf) : (row: Row) => cellText(categoryOf.rule(row));
    return { rule: (row) => (target.has(cat(row)) ? TARGET : SOURCE) };
  }
  return d.targetBelow !== undefined ? { column: d.column!, targetBelow: d.targetBelow } : { column: d.column!, target: d.target! };
}

/**
 * The split of the config: the cut time is the timestamp of the first test event (`testFraction`:
 * the target event at position floor(n (1 - f)) by time; `testFrom`: as given); train samples are
 * the target events before it, test samples those at or after it. A split that leaves no target
 * events, an empty side or one label class is a ConfigError naming the key.
 */
export function splitDataset(
  log: EventLog,
  cfg: DatasetConfig,
  source: string,
): { train: Int32Array; test: Int32Array; splitTime: number } {
  const times: number[] = [];
  let positives = 0;
  for (let i = 0; i < log.size; i++)
    if (log.domain[i] === TARGET) {
      times.push(log.timestamp[i]!);
      positives += log.label[i]!;
    }
  if (times.length === 0)
    throw new ConfigError([
      `${source}: config.domain: no target-domain events (expected at least one; ${log.size} events were read, all in the source domain)`,
    ]);
  if (positives === 0 || positives === times.length) {
    throw new ConfigError([
      `${source}: config.events.label: every target event has label ${positives ? 1 : 0} (expected both classes among the ` +
        `${times.length} target events)`,
    ]);
  }
  times.sort((a, b) => a - b);
  const f = cfg.split.testFraction;
  const splitTime = f !== undefined ? times[Math.floor(times.length * (1 - f))]! : cfg.split.testFrom!;
  const key = f !== undefined ? `config.split.testFraction` : 'config.split.testFrom';
  const train = buildSampleIndex(log, { to: splitTime }),
    test = buildSampleIndex(log, { from: splitTime });
  const range = `target events run from ${times[0]} to ${times[times.length - 1]}`;
  if (test.length === 0)
    throw new ConfigError([
      `${source}: ${key}: the test split is empty (expected at least one target event at or after ${splitTime}; ${range})`,
    ]);
  if (train.length === 0)
    throw new ConfigError([
      `${source}: ${key}: the train split is empty (expected at least one target event before ${splitTime}; ${range})`,
    ]);
  return { train, test, splitTime };
}
