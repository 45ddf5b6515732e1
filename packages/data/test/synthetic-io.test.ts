import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '@lctr/spec';
import { type World, WORLD_FILES, WorldFileError, generateWorld, readWorld, writeWorld } from '../src/synthetic/index.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY = { users: 12, targetItems: 40, sourceItems: 96, minSourceEvents: 120, maxSourceEvents: 160 } as const;
const tmp = mkdtempSync(join(tmpdir(), 'lctr-synthetic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PY = '/usr/bin/python3';
const hasSklearn = spawnSync(PY, ['-c', 'import numpy, sklearn'], { encoding: 'utf8' }).status === 0;

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameWorld(a: World, b: World): void {
  expect(a.config).toEqual(b.config);
  expect([a.seed, a.splitTime]).toEqual([b.seed, b.splitTime]);
  expect(a.stats).toEqual(b.stats);
  expect(a.log.meta).toEqual(b.log.meta);
  const cols = (x: World) => ({
    user: x.log.user,
    item: x.log.item,
    category: x.log.category,
    domain: x.log.domain,
    timestamp: x.log.timestamp,
    label: x.log.label,
    userStart: x.log.userStart,
    ...Object.fromEntries(x.log.context.map((c, k) => [`context${k}`, c])),
    ...Object.fromEntries(x.log.profile.map((c, k) => [`profile${k}`, c])),
    trueProbability: x.trueProbability,
    train: x.train,
    test: x.test,
    ...x.truth,
  });
  const ca = cols(a),
    cb = cols(b);
  expect(Object.keys(ca)).toEqual(Object.keys(cb));
  for (const [k, v] of Object.entries(ca)) {
    expect(v.constructor, k).toBe((cb as Record<string, ArrayBufferView>)[k]!.constructor);
    expect(bytes(v).equals(bytes((cb as Record<string, ArrayBufferView>)[k]!)), k).toBe(true);
  }
}

describe('synthetic world files', () => {
  it('writeWorld then readWorld gives back the same world, bit for bit', () => {
    const w = generateWorld(TINY, 3);
    const dir = join(tmp, 'roundtrip');
    expect(writeWorld(w, dir)).toEqual(['events.safetensors', 'truth.safetensors', 'world.json']);
    expectSameWorld(readWorld(dir), w);
    const json = JSON.parse(readFileSync(join(dir, WORLD_FILES.json), 'utf8'));
    expect([json.format, json.version, json.seed, json.config.users]).toEqual(['lctr-synthetic-world', 1, 3, 12]);
    expect(json.stats.test.bayesAuc).toBe(w.stats.test.bayesAuc);
    const ev = decodeSafetensors(readFileSync(join(dir, WORLD_FILES.events)));
    expect(ev.metadata).toEqual({ format: 'lctr-synthetic-world', version: '1', seed: '3' });
    expect([...ev.tensors.keys()].sort()).toEqual([
      'category',
      'context.behaviourType',
      'context.watchBucket',
      'domain',
      'item',
      'label',
      'noise',
      'profile.age',
      'profile.gender',
      'test',
      'timestamp',
      'train',
      'trueProbability',
      'user',
      'userStart',
    ]);
    expect(ev.tensors.get('trueProbability')!.shape).toEqual([w.log.size]);
  });

  it('an undefined AUC (a split with one class or none) is null in world.json and NaN when read back', () => {
    const w = generateWorld(
      { users: 3, targetItems: 32, sourceItems: 32, minSourceEvents: 1, maxSourceEvents: 1, targetImpressionsMean: 1 },
      4,
    );
    expect(w.stats.test.impressions).toBe(0);
    const dir = join(tmp, 'empty-test');
    writeWorld(w, dir);
    expect(JSON.parse(readFileSync(join(dir, WORLD_FILES.json), 'utf8')).stats.test).toEqual({
      impressions: 0,
      clicks: 0,
      ctr: null,
      bayesAuc: null,
      withoutDormantAuc: null,
      biasOnlyAuc: null,
    });
    const back = readWorld(dir);
    expect(back.stats.test.bayesAuc).toBeNaN();
    expectSameWorld(back, w);
  });

  it('names the file and the tensor at fault', () => {
    const w = generateWorld(TINY, 3);
    const dir = join(tmp, 'broken');
    expect(() => readWorld(dir)).toThrow(new WorldFileError(`synthetic world file not found: ${join(dir, 'world.json')}`));
    writeWorld(w, dir);
    const evPath = join(dir, WORLD_FILES.events);
    const ev = decodeSafetensors(readFileSync(evPath));
    ev.tensors.delete('noise');
    writeFileSync(evPath, encodeSafetensors(ev.tensors));
    expect(() => readWorld(dir)).toThrow(`${evPath}: missing tensor 'noise'`);
    ev.tensors.set('noise', { dtype: 'int32', shape: [3], data: new Int32Array(3) });
    writeFileSync(evPath, encodeSafetensors(ev.tensors));
    expect(() => readWorld(dir)).toThrow(`${evPath}: tensor 'noise' must be bool[${w.log.size}], got int32[3]`);
    const jsonPath = join(dir, WORLD_FILES.json);
    writeFileSync(jsonPath, JSON.stringify({ format: 'other' }));
    expect(() => readWorld(dir)).toThrow(`${jsonPath}: format must be 'lctr-synthetic-world', got "other"`);
  });

  // an outside reader (numpy over the documented layout) and an independent AUC (scikit-learn) agree with world.json
  // CI installs python3-sklearn (.ci/run): a missing oracle fails this test rather than skipping it
  it('numpy reads events.safetensors and scikit-learn gives the same Bayes AUC', () => {
    expect(hasSklearn, 'python3-sklearn is missing: apt-get install -y python3-sklearn').toBe(true);
    const w = generateWorld({ ...TINY, users: 60 }, 4);
    const dir = join(tmp, 'python');
    writeWorld(w, dir);
    const script = `
import json, struct, sys, numpy as np
from sklearn.metrics import roc_auc_score
b = open(sys.argv[1] + '/events.safetensors', 'rb').read()
n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
dt = {'F32': '<f4', 'I32': '<i4', 'BOOL': '?'}
t = {k: np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=dt[v['dtype']]) for k, v in h.items() if k != '__metadata__'}
p, y, src = t['trueProbability'], t['label'], t['domain']
assert np.isnan(p[src]).all() and not np.isnan(p[~src]).any()
print(json.dumps({s: roc_auc_score(y[t[s]], p[t[s]]) for s in ('train', 'test')}))
`;
    const r = spawnSync(PY, ['-c', script, dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const auc = JSON.parse(r.stdout) as { train: number; test: number };
    expect(auc.train).toBeCloseTo(w.stats.train.bayesAuc, 12);
    expect(auc.test).toBeCloseTo(w.stats.test.bayesAuc, 12);
  }, 60_000);
});
