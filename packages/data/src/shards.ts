/**
 * Training samples as shards for many ranks (data-parallel training in another engine, e.g.
 * PyTorch DDP): the batches a trainer would use, already built by this package's sample sources
 * (time-correct sequences, CRP pairs and negatives included), so the reading side never
 * re-implements feature logic.
 *
 * Layout under `dir`:
 *   shards.json                        the manifest (written last, atomically): features, ranks, files with sha256
 *   rank-<r>/steps-<a>-<b>.safetensors  rank r's rows of global steps a..b-1; tensors `<step>/<feature>`
 *
 * Step k's global batch is `batchAt(k)` (the trainer's order: train's BatchOrder makes it a pure
 * function of (seed, k, size, batchSize)). Each rank gets its contiguous share of every global
 * batch along the 'batch' dim (`rankBounds`, the rule of backend-tfjs's shardBounds, which DDP's
 * gradient average needs: rank r holds rows [a_r, b_r) and the ranks together hold the batch in
 * order); inputs without a 'batch' dim (CRP's M negative pairs) go whole to every rank.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FeatureSchema,
  type HostTensor,
  asStorageError,
  atomicWriteFile,
  decodeSafetensors,
  encodeSafetensors,
  formatShape,
  sizeOf,
} from '@lctr/spec';
import type { SampleSource } from './source.ts';

export const SHARDS_FORMAT = 'lctr-shards';
export const SHARDS_VERSION = 1;
export const SHARDS_MANIFEST = 'shards.json';

export interface ShardFile {
  readonly rank: number;
  /** global steps [from, to) */
  readonly from: number;
  readonly to: number;
  /** relative to the shard directory */
  readonly path: string;
  readonly sha256: string;
}

export interface ShardManifest {
  readonly format: typeof SHARDS_FORMAT;
  readonly version: typeof SHARDS_VERSION;
  /** ranks of the whole run (every node) */
  readonly world: number;
  /** global steps [from, to) the files cover */
  readonly from: number;
  readonly to: number;
  /** steps per file */
  readonly chunkSteps: number;
  /** every feature the files hold, with the schema's dtype and shape ('batch' = the rank's rows) */
  readonly features: Readonly<Record<string, { readonly dtype: string; readonly shape: readonly (string | number)[] }>>;
  /** per global step: the rows of the global batch each rank holds, [start, end) per rank */
  readonly rows: Readonly<Record<string, ReadonlyArray<readonly [number, number]>>>;
  readonly files: readonly ShardFile[];
}

export interface WriteShardsOptions {
  /** ranks of the whole run */
  readonly world: number;
  /** global steps [from, to) */
  readonly from: number;
  readonly to: number;
  /** steps per file (default 64): one safetensors file per rank and chunk */
  readonly chunkSteps?: number;
  /** the ranks whose files this call writes (a node writes its own); default every rank */
  readonly ranks?: readonly number[];
}

/** Thrown for a plan that cannot be sharded (a batch with fewer rows than ranks, bad numbers). */
export class ShardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardError';
  }
}

/**
 * Contiguous near-equal shares of n rows for `world` ranks, the larger ones first: the rule of
 * backend-tfjs's shardBounds (kept here because data must not depend on a backend; a test in
 * train checks they agree). Every rank must get at least one row.
 */
export function rankBounds(n: number, world: number): Array<[number, number]> {
  if (!Number.isInteger(world) || world < 1) throw new ShardError(`world must be an integer >= 1, got ${world}`);
  if (n < world) throw new ShardError(`a batch of ${n} samples cannot be split over ${world} ranks (every rank needs at least one sample)`);
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let k = 0; k < world; k++) {
    const size = Math.floor(n / world) + (k < n % world ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

const isBatch = (shape: readonly (string | number)[]) => shape[0] === 'batch';

/** Rows [a, b) of a tensor with a leading batch dim. */
function rowsOf(t: HostTensor, a: number, b: number): HostTensor {
  const row = sizeOf(t.shape.slice(1) as number[]);
  return { ...t, shape: [b - a, ...t.shape.slice(1)], data: t.data.slice(a * row, b * row) } as HostTensor;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Write rank files for steps [from, to) of `batchAt` over `source`, then the manifest. A storage
 * refusal (disk full, read-only) throws spec's StorageError after removing what this call wrote.
 */
export function writeShards<S extends FeatureSchema>(
  source: SampleSource<S>,
  batchAt: (step: number) => Int32Array,
  dir: string,
  opts: WriteShardsOptions,
): ShardManifest {
  const { world, from, to } = opts;
  const chunk = opts.chunkSteps ?? 64;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to <= from)
    throw new ShardError(`steps must be integers with 0 <= from < to, got [${from}, ${to})`);
  if (!Number.isInteger(chunk) || chunk < 1) throw new ShardError(`chunkSteps must be an integer >= 1, got ${chunk}`);
  const ranks = opts.ranks ?? Array.from({ length: world }, (_, r) => r);
  for (const r of ranks) if (!Number.isInteger(r) || r < 0 || r >= world) throw new ShardError(`rank ${r} is outside [0, ${world})`);
  const schema = source.schema as FeatureSchema;
  const features = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, { dtype: v.dtype, shape: [...v.shape] }]));
  const written: string[] = [];
  const files: ShardFile[] = [];
  const rows: Record<string, Array<[number, number]>> = {};
  try {
    for (let a = from; a < to; a += chunk) {
      const b = Math.min(to, a + chunk);
      const perRank = new Map<number, Map<string, HostTensor>>(ranks.map((r) => [r, new Map()]));
      for (let step = a; step < b; step++) {
        const indices = batchAt(step);
        const bounds = rankBounds(indices.length, world);
        rows[String(step)] = bounds;
        const batch = source.batch(indices) as Record<string, HostTensor>;
        for (const [name, decl] of Object.entries(schema)) {
          const t = batch[name];
          if (!t) throw new ShardError(`the source's batch of step ${step} has no feature '${name}' (its schema lists it)`);
          for (const r of ranks) {
            const [x, y] = bounds[r]!;
            perRank.get(r)!.set(`${step}/${name}`, isBatch(decl.shape) ? rowsOf(t, x, y) : t);
          }
        }
      }
      for (const r of ranks) {
        const rel = join(`rank-${r}`, `steps-${a}-${b}.safetensors`);
        const bytes = encodeSafetensors(perRank.get(r)!, {
          format: SHARDS_FORMAT,
          rank: String(r),
          world: String(world),
          from: String(a),
          to: String(b),
        });
        mkdirSync(join(dir, `rank-${r}`), { recursive: true });
        written.push(join(dir, rel));
        atomicWriteFile(join(dir, rel), bytes);
        files.push({ rank: r, from: a, to: b, path: rel, sha256: sha256(bytes) });
      }
    }
    const manifest: ShardManifest = {
      format: SHARDS_FORMAT,
      version: SHARDS_VERSION,
      world,
      from,
      to,
      chunkSteps: chunk,
      features,
      rows,
      files,
    };
    written.push(join(dir, SHARDS_MANIFEST));
    atomicWriteFile(join(dir, SHARDS_MANIFEST), JSON.stringify(manifest) + '\n');
    return manifest;
  } catch (e) {
    for (const f of written) rmSync(f, { force: true });
    throw asStorageError(e, 'write shards', dir) ?? e;
  }
}

/** The manifest of a shard directory; errors name the file and what is wrong. */
export function readShardManifest(dir: string): ShardManifest {
  const path = join(dir, SHARDS_MANIFEST);
  let m: ShardManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ShardManifest;
  } catch (e) {
    throw new ShardError(`${path}: cannot read the shard manifest (${(e as Error).message})`);
  }
  if (m?.format !== SHARDS_FORMAT || m.version !== SHARDS_VERSION)
    throw new ShardError(
      `${path}: expected format '${SHARDS_FORMAT}' version ${SHARDS_VERSION}, got ${JSON.stringify(m?.format)} version ` +
        `${JSON.stringify(m?.version)}`,
    );
  return m;
}

/** Rank `rank`'s inputs of global step `step` (checked against the manifest's sha256 and schema). */
export function readShardStep(
  dir: string,
  rank: number,
  step: number,
  manifest: ShardManifest = readShardManifest(dir),
): Record<string, HostTensor> {
  const f = manifest.files.find((x) => x.rank === rank && x.from <= step && step < x.to);
  if (!f)
    throw new ShardError(
      `${dir}: no shard file holds rank ${rank}, step ${step} (the files cover steps [${manifest.from}, ${manifest.to}) of ranks ` +
        `${[...new Set(manifest.files.map((x) => x.rank))].join(', ')})`,
    );
  const path = join(dir, f.path);
  const bytes = readFileSync(path);
  const got = sha256(bytes);
  if (got !== f.sha256) throw new ShardError(`${path}: sha256 is ${got}, ${SHARDS_MANIFEST} says ${f.sha256}`);
  const { tensors } = decodeSafetensors(bytes, path);
  const out: Record<string, HostTensor> = {};
  for (const [name, decl] of Object.entries(manifest.features)) {
    const t = tensors.get(`${step}/${name}`);
    if (!t) throw new ShardError(`${path}: no tensor '${step}/${name}'`);
    if (t.dtype !== decl.dtype)
      throw new ShardError(`${path}: tensor '${step}/${name}' is ${t.dtype}${formatShape(t.shape)}, the manifest says ${decl.dtype}`);
    out[name] = t;
  }
  return out;
}
