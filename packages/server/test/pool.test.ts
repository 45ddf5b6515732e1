/**
 * The session pool (issue 21, item 4): N ONNX Runtime sessions in worker threads. Scores through the
 * pool are exactly those of the one main-thread session; two requests in flight together run on two
 * different sessions; a run's InputError comes back as one (the server's 400); and the server with
 * --workers 2 keeps its limits (maxInflight defaults to the pool size, /health says the size).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostTensor, InputError, parseScoreRequest, serializeGraph } from '@lctr/spec';
import { ScoringServer, SessionPool, exampleRequest } from '../src/index.ts';
import { tinyGraphs, writeGraphModelDir } from './tiny-model-dir.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-server-pool-'));
let single: ScoringServer;
let pooled: ScoringServer;

beforeAll(async () => {
  const dir = writeGraphModelDir(join(base, 'lcn'), tinyGraphs.lcn());
  single = await ScoringServer.open({ modelDir: dir, provider: 'cpu' });
  pooled = await ScoringServer.open({ modelDir: dir, provider: 'cpu', workers: 2 });
}, 60_000);

afterAll(async () => {
  await single?.close();
  await pooled?.close();
  rmSync(base, { recursive: true, force: true });
});

describe('SessionPool', () => {
  it('two runs in flight together go to the two sessions; scores equal the main-thread session exactly', async () => {
    const pool = await SessionPool.open(2, {
      onnxPath: single.model.onnxPath,
      graphJson: serializeGraph(single.model.graph),
      provider: 'cpu',
    });
    try {
      const bodies = [1, 2, 3].map((seed) => exampleRequest(single.health(), { candidates: 4, seed }));
      const feedsOf = (b: unknown) => parseScoreRequest(b, single.schema, { maxCandidates: 10 }, 'lcn').feeds;
      const want = await Promise.all(
        bodies.map(async (b) => Array.from((await single.session.run(feedsOf(b)))['prob']!.data as Float32Array)),
      );
      const got = await Promise.all(bodies.map(async (b) => Array.from((await pool.run(feedsOf(b)))['prob']!.data as Float32Array)));
      expect(got).toEqual(want);
      // worker 0 took the first, worker 1 the second; the third waited and went to the first one freed
      expect(pool.runs.reduce((a, b) => a + b, 0)).toBe(3);
      expect(pool.runs.every((n) => n >= 1)).toBe(true);
      // a run refused by checkFeeds inside the worker comes back as spec's InputError
      const bad = feedsOf(bodies[0]);
      bad['lifelongSeq'] = { dtype: 'int32', shape: [1, 3], data: Int32Array.from([1, 2, 3]) } as HostTensor;
      const e = await pool.run(bad).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(/^input 'lifelongSeq'/);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('a pool size below 1 is refused', async () => {
    await expect(SessionPool.open(0, { onnxPath: 'x', graphJson: '{}', provider: 'cpu' })).rejects.toThrow(
      'workers must be an integer >= 1, got 0',
    );
  });
});

describe('ScoringServer with --workers 2', () => {
  it('scores exactly as the single session, 40 requests at once; maxInflight follows the pool', async () => {
    const bodies = Array.from({ length: 40 }, (_, i) => exampleRequest(single.health(), { candidates: 5, seed: i }));
    const want = await Promise.all(bodies.map((b) => single.score(b)));
    const got = await Promise.all(bodies.map((b) => pooled.score(b)));
    expect(got.map((r) => r.scores)).toEqual(want.map((r) => r.scores));
    expect(pooled.health().workers).toBe(2);
    expect(pooled.health().limits.maxInflight).toBe(2);
    expect(single.health().workers).toBe(1);
    expect(single.health().limits.maxInflight).toBe(1);
  }, 60_000);
});
