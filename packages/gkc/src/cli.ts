#!/usr/bin/env tsx
/**
 * Load a knowledge version from a knowledge-table file (what a trained extractor is exported to)
 * into a General Knowledge Center store, and say what it holds and what got evicted.
 *
 *   npx nx run gkc:load -- --tables FILE --version V [--store DIR | --redis URL] [--force] [--source TEXT]
 *                          [--prefix P] [--max-versions 5]
 *   npx nx run gkc:load -- --list [--store DIR | --redis URL]
 *
 * --store defaults to out/gkc (the embedded store). An existing version id is refused unless
 * --force. Exit 0 on success, 1 on any error (message on stderr), 2 on bad arguments.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GkcError } from './errors.ts';
import { openStore } from './open.ts';
import type { KnowledgeStore, VersionManifest } from './store.ts';
import { readKnowledgeTables } from './tables.ts';

const USAGE = 'usage: gkc load --tables FILE --version V [--store DIR | --redis URL] [--force] [--source TEXT] [--prefix P] [--max-versions N]\n       gkc load --list [--store DIR | --redis URL]';

function describe(m: VersionManifest): string {
  const tables = Object.entries(m.tables).map(([t, s]) => `${t} ${s!.rows} x ${s!.dim}`).join(', ');
  const layout = m.slots.map((s) => `${s.part}[${s.offset}:${s.offset + s.dim}]`).join(' ');
  return `version '${m.version}' (seq ${m.seq}, ${m.createdAt}): ${tables}; vector ${m.dim}-d = ${layout}; sha256 ${m.sha256}${m.source ? `; source ${m.source}` : ''}`;
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: {
      tables: { type: 'string' }, version: { type: 'string' }, store: { type: 'string' }, redis: { type: 'string' },
      force: { type: 'boolean', default: false }, source: { type: 'string' }, prefix: { type: 'string' },
      'max-versions': { type: 'string' }, list: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    } }));
  } catch (e) {
    process.stderr.write(`gkc load: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const bad = (msg: string) => { process.stderr.write(`gkc load: ${msg}\n${USAGE}\n`); return 2; };
  if (values.store && values.redis) return bad('give --store DIR or --redis URL, not both');
  if (!values.list && (!values.tables || !values.version)) return bad(`--tables and --version are required (got ${values.tables ? '' : 'no --tables'}${!values.tables && !values.version ? ', ' : ''}${values.version ? '' : 'no --version'})`);
  const maxVersions = values['max-versions'] === undefined ? undefined : Number(values['max-versions']);
  if (maxVersions !== undefined && (!Number.isInteger(maxVersions) || maxVersions < 1)) return bad(`--max-versions must be an integer >= 1; got ${values['max-versions']}`);
  if (values.redis && !/^rediss?:\/\//.test(values.redis)) return bad(`--redis must be a redis:// URL; got ${values.redis}`);
  const target = values.redis ?? resolve(values.store ?? 'out/gkc');
  const where = values.redis ? `redis ${values.redis} (prefix '${values.prefix ?? 'gkc'}')` : `embedded store ${target}`;
  let store: KnowledgeStore | undefined;
  const storeOptions = { ...(maxVersions ? { maxVersions } : {}), ...(values.prefix ? { prefix: values.prefix } : {}) };
  try {
    if (values.list) {
      store = await openStore(target, storeOptions);
      const versions = await store.versions();
      process.stdout.write(`${where}: ${versions.length} version(s), oldest first\n`);
      for (const m of versions) process.stdout.write(`  ${describe(m)}\n`);
      return 0;
    }
    const file = resolve(values.tables!);
    const t0 = performance.now();
    const { tables, metadata } = readKnowledgeTables(file); // a bad file fails before any store is touched
    store = await openStore(target, storeOptions);
    const source = values.source ?? [file, ...Object.entries(metadata).map(([k, v]) => `${k}=${v}`)].join(' ');
    const result = await store.putVersion(values.version!, tables, { force: values.force, source });
    const ms = performance.now() - t0;
    process.stdout.write(`loaded into ${where} in ${(ms / 1000).toFixed(2)} s\n  ${describe(result.manifest)}\n`);
    process.stdout.write(`  replaced: ${result.replaced ? `yes (the earlier '${values.version}' is gone)` : 'no'}\n`);
    process.stdout.write(`  evicted: ${result.evicted.length ? result.evicted.join(', ') : 'none'}\n`);
    process.stdout.write(`  versions now (oldest first): ${result.versions.join(', ')}\n`);
    return 0;
  } catch (e) {
    if (e instanceof GkcError) { process.stderr.write(`gkc load: ${e.message}\n`); return 1; }
    throw e;
  } finally {
    await store?.close();
  }
}

if (import.meta.url === `file://${process.argv[1] ? resolve(process.argv[1]) : ''}`) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
}
