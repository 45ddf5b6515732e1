/**
 * The Redis store: the scale-out option, same interface as the embedded store (ioredis client).
 *
 * Keys (prefix P, default 'gkc'):
 *   P:versions                list of version ids, oldest first (the registry)
 *   P:v:<id>:manifest         the version's manifest (JSON)
 *   P:v:<id>:<table>          hash: field '<key>' (user, item) or '<key>:<key2>' (pairs) -> float32 LE row bytes
 *   P:staging:<seq>:<table>   a load in progress (expires after an hour, so a crashed load vanishes)
 *   P:seq                     counter for registration order
 *   P:max-versions            the store's own bound on versions (written by every load; a reader never changes it)
 *   P:lock                    the loader holding the store (SET NX with a token, renewed while loading)
 * A load fills staging hashes with pipelined HSETs, then one MULTI/EXEC renames them into place,
 * writes the manifest, updates the registry and deletes the versions beyond the bound (WATCH on the
 * registry, retried when another client changed it). Readers never see staging keys, so a crash
 * mid-load leaves nothing visible. A lookup is one MULTI round trip: GET the manifest (an evicted
 * or replaced version is noticed in the same snapshot as the data) and one HMGET per table.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { GkcError } from './errors.ts';
import {
  type KnowledgeStore,
  type GkcMetrics,
  type LookupBatch,
  MissCounter,
  type PutOptions,
  type PutResult,
  type VersionManifest,
  DEFAULT_MAX_VERSIONS,
  assembleFromRows,
  checkBatch,
  checkOut,
  checkVersionId,
  commonDim,
  groupByVersion,
  parseManifest,
  prepareVersion,
  scatterRows,
  unknownVersionError,
} from './store.ts';
import { KEY_ARITY, KEY_FIELDS, type KnowledgeTables, type TableName, tablesOfParts } from './tables.ts';

export interface RedisStoreOptions {
  /**
   * The bound of a store that has none yet (default 5; the first load records it). A store that
   * records another bound refuses to open: a reader never changes it (a load does: PutOptions.maxVersions).
   */
  readonly maxVersions?: number;
  /** Key prefix (default 'gkc'); several stores can share one Redis under different prefixes. */
  readonly prefix?: string;
  /** Rows per HSET while loading (default 1000). */
  readonly chunkRows?: number;
}

const LOCK_MS = 120_000;
const STAGING_MS = 3_600_000;
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

interface CachedManifest {
  readonly raw: string;
  readonly manifest: VersionManifest;
}

export class RedisStore implements KnowledgeStore {
  readonly kind = 'redis' as const;
  readonly prefix: string;
  /** The store's bound as of open, the last versions() or the last load. */
  maxVersions: number;
  /** Keys the last load removed before writing (leftovers of crashed loads). */
  cleaned: string[] = [];
  private readonly redis: Redis;
  private readonly chunkRows: number;
  private readonly counter = new MissCounter();
  private readonly manifests = new Map<string, CachedManifest>();

  private constructor(redis: Redis, options: RedisStoreOptions) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'gkc';
    this.maxVersions = options.maxVersions ?? DEFAULT_MAX_VERSIONS;
    this.chunkRows = options.chunkRows ?? 1000;
    if (!Number.isInteger(this.maxVersions) || this.maxVersions < 1)
      throw new GkcError(`redis store: maxVersions must be an integer >= 1; got ${this.maxVersions}`);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(this.prefix))
      throw new GkcError(`redis store: prefix must be 1-64 of letters, digits, '.', '_', '-'; got ${JSON.stringify(this.prefix)}`);
  }

  /** Connect to `url` (redis://host:port/db); fails with the url named when Redis cannot be reached. */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      retryStrategy: (n) => (n > 3 ? null : 100 * n),
    });
    redis.on('error', () => {
      /* surfaced through the command that fails */
    });
    try {
      await redis.connect();
      await redis.ping();
    } catch (e) {
      redis.disconnect();
      throw new GkcError(`redis store: cannot reach ${url} (${(e as Error).message})`);
    }
    try {
      const store = new RedisStore(redis, options);
      const bound = await store.storedBound();
      if (bound !== null && options.maxVersions !== undefined && options.maxVersions !== bound) {
        throw new GkcError(
          `redis store '${store.prefix}' keeps at most ${bound} versions (key ${store.key('max-versions')}); got maxVersions ` +
            `${options.maxVersions}: opening a store never changes its bound, a load does (putVersion with maxVersions; CLI: a load with ` +
            `--max-versions)`,
        );
      }
      if (bound !== null) store.maxVersions = bound;
      return store;
    } catch (e) {
      redis.disconnect();
      throw e;
    }
  }

  /** The bound the store records (null before its first load). */
  private async storedBound(): Promise<number | null> {
    const raw = await this.redis.get(this.key('max-versions'));
    if (raw === null) return null;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new GkcError(`redis store '${this.prefix}': ${this.key('max-versions')} must be an integer >= 1; got ${JSON.stringify(raw)}`);
    return n;
  }

  private key(...parts: (string | number)[]): string {
    return [this.prefix, ...parts].join(':');
  }

  async versions(): Promise<VersionManifest[]> {
    this.maxVersions = (await this.storedBound()) ?? this.maxVersions;
    const ids = await this.redis.lrange(this.key('versions'), 0, -1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => this.key('v', id, 'manifest')));
    const out: VersionManifest[] = [];
    ids.forEach((id, i) => {
      const raw = raws[i];
      if (raw) out.push(this.remember(id, raw));
    });
    return out;
  }

  async manifest(version: string): Promise<VersionManifest> {
    const raw = await this.redis.get(this.key('v', version, 'manifest'));
    if (!raw) throw await this.unknown(version);
    return this.remember(version, raw);
  }

  async putVersion(version: string, tables: KnowledgeTables, options: PutOptions = {}): Promise<PutResult> {
    checkVersionId(version);
    if (options.maxVersions !== undefined && (!Number.isInteger(options.maxVersions) || options.maxVersions < 1)) {
      throw new GkcError(`putVersion: maxVersions must be an integer >= 1; got ${options.maxVersions}`);
    }
    const r = this.redis;
    const lockKey = this.key('lock'),
      token = `${process.pid}:${randomUUID()}`;
    if ((await r.set(lockKey, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      throw new GkcError(
        `redis store '${this.prefix}': another loader holds ${lockKey} (${await r.get(lockKey)}); try again when it is done`,
      );
    }
    const renew = async () => {
      if ((await r.eval(RENEW, 1, lockKey, token, LOCK_MS)) !== 1)
        throw new GkcError(`redis store '${this.prefix}': lost the load lock ${lockKey}`);
    };
    try {
      this.cleaned = await this.unlinkMatching(this.key('staging', '*'));
      const existingRaw = await r.get(this.key('v', version, 'manifest'));
      if (existingRaw && !options.force) {
        const old = parseManifest(existingRaw, `redis ${this.key('v', version, 'manifest')}`);
        throw new GkcError(
          `knowledge version '${version}' already exists in redis '${this.prefix}' (registered ${old.createdAt}, sha256 ` +
            `${old.sha256.slice(0, 12)}); pass force: true (CLI: --force) to replace it`,
        );
      }
      const seq = await r.incr(this.key('seq'));
      const { sorted, manifest } = prepareVersion(version, tables, seq, options.source ?? '');
      const names = tablesOfParts(manifest.parts);
      for (const t of names) {
        const tab = sorted[t]!,
          arity = KEY_ARITY[t],
          d = tab.dim;
        const staging = this.key('staging', seq, t);
        const bytes = Buffer.from(tab.values.buffer, tab.values.byteOffset, tab.values.byteLength);
        for (let start = 0; start < tab.rows; start += this.chunkRows * 16) {
          const p = r.pipeline();
          for (let c = start; c < Math.min(tab.rows, start + this.chunkRows * 16); c += this.chunkRows) {
            const args: (string | Buffer)[] = [];
            for (let i = c; i < Math.min(tab.rows, c + this.chunkRows); i++) {
              args.push(
                arity === 1 ? String(tab.keys[i]) : `${tab.keys[2 * i]}:${tab.keys[2 * i + 1]}`,
                toLE(bytes, tab.values, i * d * 4, d),
              );
            }
            p.hset(staging, ...args);
          }
          p.pexpire(staging, STAGING_MS);
          failed(await p.exec(), `loading table '${t}' of version '${version}'`);
          await renew();
        }
        await options.onStep?.(`table:${t}`);
      }
      // register: one transaction, retried if the registry changed under us
      let evicted: string[] = [],
        bound = this.maxVersions;
      for (let attempt = 0; ; attempt++) {
        if (attempt === 10) throw new GkcError(`redis store '${this.prefix}': the registry kept changing while registering '${version}'`);
        await renew();
        await r.watch(this.key('versions'), this.key('max-versions'));
        bound = options.maxVersions ?? (await this.storedBound()) ?? this.maxVersions;
        const ids = await r.lrange(this.key('versions'), 0, -1);
        const after = [...ids.filter((id) => id !== version), version];
        evicted = after.slice(0, Math.max(0, after.length - bound));
        const oldRaw = await r.get(this.key('v', version, 'manifest'));
        const oldTables = oldRaw ? tablesOfParts(parseManifest(oldRaw, version).parts) : [];
        const m = r.multi();
        for (const t of names) {
          const dest = this.key('v', version, t);
          if (sorted[t]!.rows > 0) {
            m.rename(this.key('staging', seq, t), dest);
            m.persist(dest);
          } else m.unlink(dest);
        }
        for (const t of oldTables) if (!names.includes(t)) m.unlink(this.key('v', version, t));
        m.set(this.key('v', version, 'manifest'), JSON.stringify(manifest));
        m.set(this.key('max-versions'), String(bound));
        m.lrem(this.key('versions'), 0, version);
        m.rpush(this.key('versions'), version);
        for (const e of evicted) {
          m.lrem(this.key('versions'), 0, e);
          m.unlink(this.key('v', e, 'manifest'));
          for (const t of ['user', 'item', 'userCategory', 'userItem']) m.unlink(this.key('v', e, t));
        }
        const res = await m.exec();
        if (res === null) continue; // WATCH fired
        failed(res, `registering version '${version}'`);
        break;
      }
      this.maxVersions = bound;
      for (const e of evicted) {
        await this.unlinkMatching(this.key('v', e, '*'));
        this.manifests.delete(e);
      }
      this.manifests.delete(version);
      await options.onStep?.('registered');
      const versions = await r.lrange(this.key('versions'), 0, -1);
      return { manifest, evicted, replaced: existingRaw !== null, versions };
    } finally {
      await r.eval(RELEASE, 1, lockKey, token).catch(() => undefined);
    }
  }

  async lookup(batch: LookupBatch, out?: Float32Array): Promise<Float32Array> {
    const n = checkBatch(batch);
    if (typeof batch.version === 'string') return this.lookupOne(batch, n, out, true);
    const groups = groupByVersion(batch as LookupBatch & { version: readonly string[] }, n);
    const manifests: VersionManifest[] = [];
    for (const g of groups) manifests.push(await this.cachedManifest(g.version));
    const dim = commonDim(manifests);
    const result = checkOut(out, n, dim);
    for (const g of groups) scatterRows(await this.lookupOne(g.batch, g.rows.length, undefined, true), g.rows, dim, result);
    return result;
  }

  private async lookupOne(batch: LookupBatch, n: number, out: Float32Array | undefined, retry: boolean): Promise<Float32Array> {
    const version = batch.version as string;
    const cached = this.manifests.get(version);
    const m0 = cached ? cached.manifest : await this.cachedManifest(version);
    if (n === 0) {
      this.counter.batches++;
      return checkOut(out, 0, m0.dim);
    } // HMGET needs a field
    const names = tablesOfParts(m0.parts);
    const tx = this.redis.multi();
    tx.get(this.key('v', version, 'manifest'));
    for (const t of names) {
      const [f0, f1] = KEY_FIELDS[t];
      const a = batch[f0!],
        b = KEY_ARITY[t] === 2 ? batch[f1!] : null;
      const fields = new Array<string>(n);
      for (let r = 0; r < n; r++) fields[r] = b ? `${a[r]}:${b[r]}` : String(a[r]);
      tx.hmgetBuffer(this.key('v', version, t), ...fields);
    }
    const res = failed(await tx.exec(), `looking up version '${version}'`);
    const raw = res[0] as string | null;
    if (raw === null) {
      this.manifests.delete(version);
      throw await this.unknown(version);
    }
    let m = m0;
    if (raw !== this.manifests.get(version)?.raw) {
      m = this.remember(version, raw); // replaced (force) since we cached it
      const now = tablesOfParts(m.parts);
      if (now.join() !== names.join()) {
        if (!retry) throw new GkcError(`redis store '${this.prefix}': version '${version}' keeps changing its tables`);
        return this.lookupOne(batch, n, out, false);
      }
    }
    const result = checkOut(out, n, m.dim);
    const rowsOf: Partial<Record<TableName, (Float32Array | null)[]>> = {};
    names.forEach((t, k) => {
      const bufs = res[k + 1] as (Buffer | null)[];
      const d = m.tables[t]!.dim;
      const rows = new Array<Float32Array | null>(n);
      let miss = 0;
      for (let r = 0; r < n; r++) {
        const buf = bufs[r];
        if (!buf) {
          rows[r] = null;
          miss++;
          continue;
        }
        if (buf.length !== 4 * d)
          throw new GkcError(
            `redis store '${this.prefix}': ${this.key('v', version, t)} holds a row of ${buf.length} bytes; the manifest says ${d} floats`,
          );
        rows[r] = fromLE(buf, d);
      }
      this.counter.misses[t] += miss;
      rowsOf[t] = rows;
    });
    assembleFromRows(m, rowsOf, n, result);
    this.counter.batches++;
    this.counter.rows += n;
    return result;
  }

  metrics(): GkcMetrics {
    return this.counter.snapshot();
  }
  resetMetrics(): void {
    this.counter.reset();
  }
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Delete every key of this store (tests, benches). */
  async clear(): Promise<number> {
    return (await this.unlinkMatching(this.key('*'))).length;
  }

  // ---------------------------------------------------------------- internals

  private async cachedManifest(version: string): Promise<VersionManifest> {
    if (typeof version !== 'string') throw new GkcError(`lookup: batch.version must be a string; got ${typeof version}`);
    return this.manifests.get(version)?.manifest ?? this.manifest(version);
  }

  private remember(version: string, raw: string): VersionManifest {
    const manifest = parseManifest(raw, `redis ${this.key('v', version, 'manifest')}`);
    this.manifests.set(version, { raw, manifest });
    return manifest;
  }

  private async unknown(version: string): Promise<GkcError> {
    this.counter.unknownVersions++;
    return unknownVersionError(version, await this.redis.lrange(this.key('versions'), 0, -1));
  }

  private async unlinkMatching(pattern: string): Promise<string[]> {
    const removed: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) {
        await this.redis.unlink(...keys);
        removed.push(...keys);
      }
    } while (cursor !== '0');
    return removed;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Row i's bytes, little-endian (a view on little-endian hosts). */
function toLE(bytes: Buffer, values: Float32Array, byteStart: number, d: number): Buffer {
  if (LITTLE_ENDIAN) return bytes.subarray(byteStart, byteStart + 4 * d);
  const out = Buffer.alloc(4 * d);
  for (let j = 0; j < d; j++) out.writeFloatLE(values[byteStart / 4 + j]!, 4 * j);
  return out;
}

function fromLE(buf: Buffer, d: number): Float32Array {
  if (LITTLE_ENDIAN && buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, d);
  const out = new Float32Array(d);
  for (let j = 0; j < d; j++) out[j] = buf.readFloatLE(4 * j);
  return out;
}

/** The replies of a pipeline or transaction, throwing on the first command error. */
function failed(res: [Error | null, unknown][] | null, what: string): unknown[] {
  if (res === null) throw new GkcError(`redis: ${what}: the transaction was aborted`);
  const out: unknown[] = [];
  for (const [err, value] of res) {
    if (err) throw new GkcError(`redis: ${what}: ${err.message}`);
    out.push(value);
  }
  return out;
}
