import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { KnowledgeTables } from '../src/index.ts';

/**
 * Hand-made tables (du = di = 2, duc = 3), keys deliberately unsorted:
 *   U[7] = [1, 2], U[3] = [3, 4]
 *   I[10] = [0.5, -1], I[20] = [2, 0.25], I[30] = [-3, 1]
 *   UC[(3, 100)] = [1, 1, 1], UC[(7, 100)] = [2, 2, 2], UC[(7, 200)] = [3, 3, 3]
 * `scale` multiplies every value (distinct versions in the eviction tests).
 */
export function handTables(scale = 1): KnowledgeTables {
  const f = (xs: number[]) => Float32Array.from(xs.map((x) => x * scale));
  return {
    parts: ['user', 'item', 'user*item', 'userCategory'],
    user: { keys: Int32Array.from([7, 3]), values: f([1, 2, 3, 4]), rows: 2, dim: 2 },
    item: { keys: Int32Array.from([20, 10, 30]), values: f([2, 0.25, 0.5, -1, -3, 1]), rows: 3, dim: 2 },
    userCategory: { keys: Int32Array.from([7, 200, 3, 100, 7, 100]), values: f([3, 3, 3, 1, 1, 1, 2, 2, 2]), rows: 3, dim: 3 },
  };
}

/** Seeded random tables of the given sizes (mulberry32). */
export function randomTables(seed: number, nu: number, ni: number, nuc: number, d: number, duc = d): KnowledgeTables {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const vals = (n: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rnd() * 2 - 1;
    return v;
  };
  const ucKeys = new Int32Array(2 * nuc);
  for (let i = 0; i < nuc; i++) {
    ucKeys[2 * i] = i % nu;
    ucKeys[2 * i + 1] = Math.floor(i / nu);
  }
  return {
    parts: ['user', 'item', 'user*item', 'userCategory'],
    user: { keys: Int32Array.from({ length: nu }, (_, i) => i), values: vals(nu * d), rows: nu, dim: d },
    item: { keys: Int32Array.from({ length: ni }, (_, i) => ni - 1 - i), values: vals(ni * d), rows: ni, dim: d },
    userCategory: { keys: ucKeys, values: vals(nuc * duc), rows: nuc, dim: duc },
  };
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `gkc-${tag}-`));
}

async function freePort(): Promise<number> {
  return new Promise((resolveP, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolveP((a as { port: number }).port));
    });
  });
}

/** The redis-server binary the tests start (env REDIS_SERVER overrides; default from PATH). */
export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? 'redis-server';

export function redisServerAvailable(): boolean {
  return !spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).error;
}

/**
 * Whether the Redis tests run here: when CI=true a missing redis-server is an error (the suite
 * must fail, not skip); elsewhere they skip and say why.
 */
export function redisSkipReason(): string | null {
  if (redisServerAvailable()) return null;
  if (process.env['CI'] === 'true') {
    throw new Error(
      `${REDIS_SERVER} not found, and CI=true: the Redis store tests must run in CI. Install Debian's redis-server (apt-get install -y ` +
        `redis-server), as .ci/run does.`,
    );
  }
  return `${REDIS_SERVER} not found (apt-get install -y redis-server); the Redis store tests are SKIPPED outside CI`;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A private redis-server on a free port with a temp dir and no persistence; stop() kills it. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('redis');
  const proc: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not start (exit ${proc.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
