/**
 * A synthetic world on disk (format documented in packages/data/README.md):
 *   world.json          format tag, seed, full config, EventLog meta, split time, stats (Bayes AUC per split)
 *   events.safetensors  the event log columns, the true click probabilities, the noise flags, the split positions
 *   truth.safetensors   the latent truth (topic vectors, item topics/vectors/biases, user interests, ...)
 * Every file is written atomically (temp file + rename); world.json last, so a directory holding
 * world.json holds a complete world.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostTensor, atomicWriteFile, decodeSafetensors, encodeSafetensors } from '@lctr/spec';
import type { EventLog, EventLogMeta } from '../event-log.ts';
import { resolveWorldConfig } from './config.ts';
import type { SplitStats, World, WorldTruth } from './world.ts';

export const WORLD_FORMAT = 'lctr-synthetic-world';
export const WORLD_FORMAT_VERSION = 1;
export const WORLD_FILES = Object.freeze({ json: 'world.json', events: 'events.safetensors', truth: 'truth.safetensors' });

export class WorldFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorldFileError';
  }
}

/** The contents of world.json. */
export interface WorldJson {
  readonly format: typeof WORLD_FORMAT;
  readonly version: typeof WORLD_FORMAT_VERSION;
  readonly seed: number;
  readonly config: World['config'];
  readonly meta: EventLogMeta;
  readonly splitTime: number;
  readonly stats: World['stats'];
  readonly files: typeof WORLD_FILES;
}

const i32 = (data: Int32Array, shape: readonly number[] = [data.length]): HostTensor => ({ dtype: 'int32', shape, data });
const f32 = (data: Float32Array, shape: readonly number[] = [data.length]): HostTensor => ({ dtype: 'float32', shape, data });
const bool = (data: Uint8Array, shape: readonly number[] = [data.length]): HostTensor => ({ dtype: 'bool', shape, data });

/** Timestamps as int32 seconds: the world generator only makes such, anything else is refused. */
function timestampsI32(ts: Float64Array): Int32Array {
  const out = new Int32Array(ts.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    if (!Number.isInteger(t) || t < -(2 ** 31) || t > 2 ** 31 - 1)
      throw new WorldFileError(`writeWorld: timestamp of event ${i} must be an integer in int32 range to be stored, got ${t}`);
    out[i] = t;
  }
  return out;
}

/** Write `world` into `dir` (created if missing): events.safetensors, truth.safetensors, then world.json. */
export function writeWorld(world: World, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const { log, truth, config: c } = world;
  const events = new Map<string, HostTensor>([
    ['user', i32(log.user)],
    ['item', i32(log.item)],
    ['category', i32(log.category)],
    ['domain', bool(log.domain)],
    ['timestamp', i32(timestampsI32(log.timestamp))],
    ['label', bool(log.label)],
    ['userStart', i32(log.userStart)],
    ['trueProbability', f32(world.trueProbability)],
    ['noise', bool(truth.noise)],
    ['train', i32(world.train)],
    ['test', i32(world.test)],
  ]);
  log.meta.context.forEach((s, k) => events.set(`context.${s.name}`, i32(log.context[k]!)));
  log.meta.profile.forEach((s, k) => events.set(`profile.${s.name}`, i32(log.profile[k]!)));
  const T = c.topics,
    D = c.topicDim;
  const truthT = new Map<string, HostTensor>([
    ['topicVectors', f32(truth.topicVectors, [T, D])],
    ['targetItemTopic', i32(truth.targetItemTopic)],
    ['sourceItemTopic', i32(truth.sourceItemTopic)],
    ['targetItemVector', f32(truth.targetItemVector, [c.targetItems, D])],
    ['sourceItemVector', f32(truth.sourceItemVector, [c.sourceItems, D])],
    ['targetItemBias', f32(truth.targetItemBias)],
    ['topicCategory', i32(truth.topicCategory)],
    ['userInterest', f32(truth.userInterest, [c.users, T])],
    ['userDormant', bool(truth.userDormant, [c.users, T])],
    ['userDrift', i32(truth.userDrift)],
    ['userBias', f32(truth.userBias)],
  ]);
  const tag = { format: WORLD_FORMAT, version: String(WORLD_FORMAT_VERSION), seed: String(world.seed) };
  atomicWriteFile(join(dir, WORLD_FILES.events), encodeSafetensors(events, tag));
  atomicWriteFile(join(dir, WORLD_FILES.truth), encodeSafetensors(truthT, tag));
  const json: WorldJson = {
    format: WORLD_FORMAT,
    version: WORLD_FORMAT_VERSION,
    seed: world.seed,
    config: c,
    meta: log.meta,
    splitTime: world.splitTime,
    stats: world.stats,
    files: WORLD_FILES,
  };
  atomicWriteFile(join(dir, WORLD_FILES.json), JSON.stringify(json, null, 2) + '\n');
  return [WORLD_FILES.events, WORLD_FILES.truth, WORLD_FILES.json];
}

function readBytes(path: string): Buffer {
  if (!existsSync(path)) throw new WorldFileError(`synthetic world file not found: ${path}`);
  return readFileSync(path);
}

/** Read a world written by writeWorld; errors name the file and the tensor or field at fault. */
export function readWorld(dir: string): World {
  const jsonPath = join(dir, WORLD_FILES.json);
  let j: WorldJson;
  try {
    j = JSON.parse(readBytes(jsonPath).toString('utf8')) as WorldJson;
  } catch (e) {
    if (e instanceof WorldFileError) throw e;
    throw new WorldFileError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
  }
  if (j?.format !== WORLD_FORMAT)
    throw new WorldFileError(`${jsonPath}: format must be '${WORLD_FORMAT}', got ${JSON.stringify(j?.format)}`);
  if (j.version !== WORLD_FORMAT_VERSION)
    throw new WorldFileError(`${jsonPath}: version must be ${WORLD_FORMAT_VERSION}, got ${JSON.stringify(j.version)}`);
  const config = resolveWorldConfig(j.config);
  const meta = j.meta;
  const n = j.stats.events,
    U = meta.users;

  const open = (file: string) => {
    const path = join(dir, file);
    const { tensors } = decodeSafetensors(readBytes(path), path);
    const get = <D extends HostTensor['dtype']>(name: string, dtype: D, shape: readonly number[]): HostTensor<D>['data'] => {
      const t = tensors.get(name);
      if (!t) throw new WorldFileError(`${path}: missing tensor '${name}'`);
      if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
        throw new WorldFileError(`${path}: tensor '${name}' must be ${dtype}[${shape.join(', ')}], got ${t.dtype}[${t.shape.join(', ')}]`);
      }
      return t.data as HostTensor<D>['data'];
    };
    return { path, get, tensors };
  };
  const ev = open(WORLD_FILES.events);
  const I = (name: string, len: number) => ev.get(name, 'int32', [len]) as Int32Array;
  const B = (name: string, len: number) => ev.get(name, 'bool', [len]) as Uint8Array;
  const splitLen = (name: string) => ev.tensors.get(name)?.shape[0] ?? 0;
  const ts = I('timestamp', n);
  const log: EventLog = {
    meta,
    size: n,
    user: I('user', n),
    item: I('item', n),
    category: I('category', n),
    domain: B('domain', n),
    timestamp: Float64Array.from(ts),
    label: B('label', n),
    context: meta.context.map((s) => I(`context.${s.name}`, n)),
    userStart: I('userStart', U + 1),
    profile: meta.profile.map((s) => I(`profile.${s.name}`, U)),
  };
  const trueProbability = ev.get('trueProbability', 'float32', [n]) as Float32Array;
  const noise = B('noise', n);
  const train = I('train', splitLen('train')),
    test = I('test', splitLen('test'));

  const tr = open(WORLD_FILES.truth);
  const T = config.topics,
    D = config.topicDim;
  const F = (name: string, shape: number[]) => tr.get(name, 'float32', shape) as Float32Array;
  const truth: WorldTruth = {
    topicVectors: F('topicVectors', [T, D]),
    targetItemTopic: tr.get('targetItemTopic', 'int32', [config.targetItems]) as Int32Array,
    sourceItemTopic: tr.get('sourceItemTopic', 'int32', [config.sourceItems]) as Int32Array,
    targetItemVector: F('targetItemVector', [config.targetItems, D]),
    sourceItemVector: F('sourceItemVector', [config.sourceItems, D]),
    targetItemBias: F('targetItemBias', [config.targetItems]),
    topicCategory: tr.get('topicCategory', 'int32', [T]) as Int32Array,
    userInterest: F('userInterest', [U, T]),
    userDormant: tr.get('userDormant', 'bool', [U, T]) as Uint8Array,
    userDrift: tr.get('userDrift', 'int32', [U]) as Int32Array,
    userBias: F('userBias', [U]),
    noise,
  };
  // JSON writes an undefined AUC (one class only) or CTR (no impressions) as null: read it back as NaN
  const split = (x: SplitStats): SplitStats =>
    Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v === null ? NaN : v])) as unknown as SplitStats;
  const stats: World['stats'] = { ...j.stats, train: split(j.stats.train), test: split(j.stats.test) };
  return { config, seed: j.seed, log, trueProbability, splitTime: j.splitTime, train, test, stats, truth };
}
