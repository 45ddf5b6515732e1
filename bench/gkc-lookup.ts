#!/usr/bin/env tsx
/**
 * General Knowledge Center lookup benchmark (issue 6, item 4): batched lookups of 1,000
 * (user, item, category, version) quadruples against both stores, with realistic table sizes.
 *
 * Tables (seeded): 100k users, 50k items, 300k user-category rows (3 categories per user), 64-d
 * parts, Eq. 6 layout (256-d vectors). Queries (seeded): users uniform in [0, 110k), items in
 * [0, 55k), categories in [0, 4), so about 9% of users, 9% of items and 32% of user-category
 * pairs are unknown (zeros, counted). One version per batch.
 *
 * Reports per store: the load time (validate, sort, write; Redis: pipelined HSETs + MULTI), the
 * first lookup after opening (embedded: reads the version file), then per-batch latency p50/p99
 * (nearest rank) over --batches timed batches after --warmup, and lookups/s (quadruples answered
 * per second of batch time, one batch in flight). The Redis store runs against --redis URL, or a
 * redis-server started here on a free port (no persistence) and stopped after; without
 * redis-server it is skipped, saying so.
 *
 *   npx tsx bench/gkc-lookup.ts [--users 100000] [--items 50000] [--uc-per-user 3] [--dim 64]
 *        [--batch 1000] [--batches 500] [--warmup 50] [--redis redis://127.0.0.1:6379] [--json FILE]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { EmbeddedStore, type KnowledgeStore, type KnowledgeTables, type LookupBatch, RedisStore } from '@lctr/gkc';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    users: { type: 'string', default: '100000' },
    items: { type: 'string', default: '50000' },
    'uc-per-user': { type: 'string', default: '3' },
    dim: { type: 'string', default: '64' },
    batch: { type: 'string', default: '1000' },
    batches: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '50' },
    redis: { type: 'string' },
    json: { type: 'string' },
  },
});
const NU = Number(values.users),
  NI = Number(values.items),
  UCP = Number(values['uc-per-user']),
  D = Number(values.dim);
const B = Number(values.batch),
  BATCHES = Number(values.batches),
  WARMUP = Number(values.warmup);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeTables(): KnowledgeTables {
  const r = rng(20221017);
  const vals = (n: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = r() * 2 - 1;
    return v;
  };
  const perm = (n: number) => {
    const k = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      const t = k[i]!;
      k[i] = k[j]!;
      k[j] = t;
    }
    return k;
  };
  const nuc = NU * UCP;
  const ucKeys = new Int32Array(2 * nuc);
  const order = perm(nuc); // unsorted, as an exporter might write them
  for (let i = 0; i < nuc; i++) {
    const x = order[i]!;
    ucKeys[2 * i] = Math.floor(x / UCP);
    ucKeys[2 * i + 1] = x % UCP;
  }
  return {
    parts: ['user', 'item', 'user*item', 'userCategory'],
    user: { keys: perm(NU), values: vals(NU * D), rows: NU, dim: D },
    item: { keys: perm(NI), values: vals(NI * D), rows: NI, dim: D },
    userCategory: { keys: ucKeys, values: vals(nuc * D), rows: nuc, dim: D },
  };
}

function makeBatches(count: number, version: string): LookupBatch[] {
  const r = rng(7);
  return Array.from({ length: count }, () => {
    const users = new Int32Array(B),
      items = new Int32Array(B),
      categories = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      users[i] = Math.floor(r() * NU * 1.1);
      items[i] = Math.floor(r() * NI * 1.1);
      categories[i] = Math.floor(r() * (UCP + 1));
    }
    return { users, items, categories, version };
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

interface StoreResult {
  store: string;
  loadS: number;
  firstLookupMs: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  lookupsPerS: number;
  batches: number;
  batchSize: number;
  missRates: Record<string, number>;
}

async function bench(
  name: string,
  store: KnowledgeStore,
  reopen: () => Promise<KnowledgeStore>,
  tables: KnowledgeTables,
): Promise<StoreResult> {
  const t0 = performance.now();
  await store.putVersion('bench', tables, { source: 'gkc-lookup bench' });
  const loadS = (performance.now() - t0) / 1000;
  await store.close();
  const s = await reopen(); // serving process after a restart
  const batches = makeBatches(WARMUP + BATCHES, 'bench');
  const out = new Float32Array(B * 4 * D);
  const f0 = performance.now();
  await s.lookup(batches[0]!, out);
  const firstLookupMs = performance.now() - f0;
  for (let i = 1; i < WARMUP; i++) await s.lookup(batches[i]!, out);
  s.resetMetrics();
  const times: number[] = [];
  for (let i = WARMUP; i < WARMUP + BATCHES; i++) {
    const a = performance.now();
    await s.lookup(batches[i]!, out);
    times.push(performance.now() - a);
  }
  const m = s.metrics();
  await s.close();
  const total = times.reduce((x, y) => x + y, 0);
  times.sort((x, y) => x - y);
  return {
    store: name,
    loadS,
    firstLookupMs,
    p50Ms: pct(times, 50),
    p99Ms: pct(times, 99),
    meanMs: total / times.length,
    lookupsPerS: (B * times.length) / (total / 1000),
    batches: times.length,
    batchSize: B,
    missRates: { user: m.misses.user / m.rows, item: m.misses.item / m.rows, userCategory: m.misses.userCategory / m.rows },
  };
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address() as { port: number };
      srv.close(() => res(a.port));
    });
  });
}

const tables = makeTables();
const results: StoreResult[] = [];
const notes: string[] = [];
process.stdout.write(
  `gkc-lookup: ${NU} users, ${NI} items, ${NU * UCP} user-category rows, ${D}-d parts (vector ${4 * D}-d); ${BATCHES} timed batches of ` +
    `${B} after ${WARMUP} warm-up; node ${process.version}, ${cpus().length} cpu(s) ${cpus()[0]?.model ?? ''}\n`,
);

const dir = mkdtempSync(join(tmpdir(), 'gkc-bench-'));
try {
  results.push(await bench('embedded', await EmbeddedStore.open(dir), () => EmbeddedStore.open(dir), tables));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

let server: ChildProcess | undefined;
let serverDir: string | undefined;
let url = values.redis;
let redisVersion = '';
if (!url) {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) notes.push('redis store skipped: redis-server not found (apt-get install -y redis-server), no --redis URL');
  else {
    redisVersion = probe.stdout.trim();
    const port = await freePort();
    serverDir = mkdtempSync(join(tmpdir(), 'gkc-bench-redis-'));
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', serverDir],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        const s = await RedisStore.open(url);
        await s.close();
        break;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
try {
  if (url) {
    const prefix = `bench${process.pid}`;
    const first = await RedisStore.open(url, { prefix });
    await first.clear();
    results.push(
      await bench(
        `redis (${url}${redisVersion ? `, ${redisVersion.split(' ').slice(0, 3).join(' ')}` : ''})`,
        first,
        () => RedisStore.open(url!, { prefix }),
        tables,
      ),
    );
    const cleanup = await RedisStore.open(url, { prefix });
    await cleanup.clear();
    await cleanup.close();
  }
} finally {
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
  if (serverDir) rmSync(serverDir, { recursive: true, force: true });
}

const fmt = (x: number, d = 2) => x.toFixed(d);
process.stdout.write(
  '\n| store | load (s) | first lookup after open (ms) | p50 / batch (ms) | p99 / batch (ms) | lookups/s | misses user / item / uc ' +
    '|\n|---|---|---|---|---|---|---|\n',
);
for (const r of results) {
  process.stdout.write(
    `| ${r.store} | ${fmt(r.loadS)} | ${fmt(r.firstLookupMs, 1)} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ` +
      `${Math.round(r.lookupsPerS).toLocaleString('en-US')} | ${fmt(100 * r.missRates.user!, 1)}% / ${fmt(100 * r.missRates.item!, 1)}% ` +
      `/ ${fmt(100 * r.missRates.userCategory!, 1)}% |\n`,
  );
}
for (const n of notes) process.stdout.write(`${n}\n`);
if (values.json)
  writeFileSync(
    values.json,
    JSON.stringify({ users: NU, items: NI, userCategoryRows: NU * UCP, dim: D, batch: B, results, notes }, null, 2) + '\n',
  );
