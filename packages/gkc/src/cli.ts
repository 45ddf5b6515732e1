/**
 * Load a knowledge version from a knowledge-table file (what a trained extractor is exported to)
 * into a General Knowledge Center store, and say what it holds and what got evicted.
 *
 *   lctr gkc load --tables FILE   (also npx nx run gkc:load -- ...)
 *   lctr gkc load --tables FILE --version V [--store DIR | --redis URL] [--force] [--source TEXT]
 *                          [--prefix P] [--max-versions 5]
 *   npx nx run gkc:load -- --list [--store DIR | --redis URL]
 *
 * --store defaults to out/gkc (the embedded store). An existing version id is refused unless
 * --force. --max-versions sets the store's own bound (kept in the store) on a load; --list only
 * reads, so it refuses the flag rather than evict. Exit codes (spec's EXIT_CODES): 0 success, 1 any
 * error (message on stderr), 2 bad arguments, 3 the storage refused a write (disk full, read-only,
 * ...): one line, the load's temp files removed, the store as it was.
 */
import { resolve } from 'node:path';
import { EXIT_CODES, StorageError, asStorageError } from '@lctr/spec';
import { UsageError, intFlag, isMainModule, runCommand } from '@lctr/spec/cli';
import { GkcError } from './errors.ts';
import { openStore } from './open.ts';
import type { KnowledgeStore, VersionManifest } from './store.ts';
import { readKnowledgeTables } from './tables.ts';

const USAGE =
  'usage: lctr gkc load --tables FILE --version V [--store DIR | --redis URL] [--force] [--source TEXT] [--prefix P] [--max-versions ' +
  'N]\n       lctr gkc load --list [--store DIR | --redis URL]';

export const GKC_LOAD = {
  name: 'lctr gkc load',
  usage: USAGE,
  options: {
    tables: { type: 'string' },
    version: { type: 'string' },
    store: { type: 'string' },
    redis: { type: 'string' },
    force: { type: 'boolean' },
    source: { type: 'string' },
    prefix: { type: 'string' },
    'max-versions': { type: 'string' },
    list: { type: 'boolean' },
  },
} as const;

function describe(m: VersionManifest): string {
  const tables = Object.entries(m.tables)
    .map(([t, s]) => `${t} ${s!.rows} x ${s!.dim}`)
    .join(', ');
  const layout = m.slots.map((s) => `${s.part}[${s.offset}:${s.offset + s.dim}]`).join(' ');
  return (
    `version '${m.version}' (seq ${m.seq}, ${m.createdAt}): ${tables}; vector ${m.dim}-d = ${layout}; sha256 ${m.sha256}` +
    `${m.source ? `; source ${m.source}` : ''}`
  );
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(GKC_LOAD, argv, async ({ values }) => {
    if (values.store && values.redis) throw new UsageError('give --store DIR or --redis URL, not both');
    if (!values.list && (!values.tables || !values.version))
      throw new UsageError(
        `--tables and --version are required (got ` +
          `${values.tables ? '' : 'no --tables'}${!values.tables && !values.version ? ', ' : ''}${values.version ? '' : 'no --version'})`,
      );
    if (values.list && values['max-versions'] !== undefined)
      throw new UsageError(
        `--list only reads and never evicts; --max-versions sets the store's bound on a load (got --max-versions ` +
          `${values['max-versions']})`,
      );
    const maxVersions = intFlag('max-versions', values['max-versions'], 1);
    if (values.redis && !/^rediss?:\/\//.test(values.redis)) throw new UsageError(`--redis must be a redis:// URL; got ${values.redis}`);
    return load(values, maxVersions);
  });
}

type LoadFlags = {
  readonly [K in keyof typeof GKC_LOAD.options]?: (typeof GKC_LOAD.options)[K] extends { type: 'boolean' } ? boolean : string;
};

async function load(values: LoadFlags, maxVersions: number | undefined): Promise<number> {
  const target = values.redis ?? resolve(values.store ?? 'out/gkc');
  const where = values.redis ? `redis ${values.redis} (prefix '${values.prefix ?? 'gkc'}')` : `embedded store ${target}`;
  let store: KnowledgeStore | undefined;
  // the bound is the store's own: it is not an open option here but a load's (putVersion maxVersions)
  const storeOptions = values.prefix ? { prefix: values.prefix } : {};
  try {
    if (values.list) {
      store = await openStore(target, storeOptions);
      const versions = await store.versions();
      process.stdout.write(`${where}: ${versions.length} version(s), oldest first, at most ${store.maxVersions} kept\n`);
      for (const m of versions) process.stdout.write(`  ${describe(m)}\n`);
      return EXIT_CODES.ok;
    }
    const file = resolve(values.tables!);
    const t0 = performance.now();
    const { tables, metadata } = readKnowledgeTables(file); // a bad file fails before any store is touched
    store = await openStore(target, storeOptions);
    const source = values.source ?? [file, ...Object.entries(metadata).map(([k, v]) => `${k}=${v}`)].join(' ');
    const result = await store.putVersion(values.version!, tables, {
      force: values.force ?? false,
      source,
      ...(maxVersions ? { maxVersions } : {}),
    });
    const ms = performance.now() - t0;
    process.stdout.write(`loaded into ${where} in ${(ms / 1000).toFixed(2)} s\n  ${describe(result.manifest)}\n`);
    process.stdout.write(`  replaced: ${result.replaced ? `yes (the earlier '${values.version}' is gone)` : 'no'}\n`);
    process.stdout.write(`  evicted: ${result.evicted.length ? result.evicted.join(', ') : 'none'}\n`);
    process.stdout.write(`  versions now (oldest first): ${result.versions.join(', ')} (at most ${store.maxVersions} kept)\n`);
    return EXIT_CODES.ok;
  } catch (e) {
    if (e instanceof GkcError) {
      process.stderr.write(`lctr gkc load: ${e.message}\n`);
      return EXIT_CODES.failure;
    }
    const storage = e instanceof StorageError ? e : asStorageError(e, 'write to the knowledge store', target);
    if (storage) {
      process.stderr.write(`lctr gkc load: ${storage.message}\n`);
      return EXIT_CODES.storage;
    }
    throw e;
  } finally {
    await store?.close();
  }
}

if (isMainModule(import.meta.filename)) process.exitCode = await main(process.argv.slice(2));
