/**
 * The scoring server on tiny TRAINED exports: an lcn (per-request layout) and a din (batch layout)
 * trained a few steps through the trainer API (the exporter tests' tiny runs) and exported with the
 * exporter's API into a Triton model repository; each served in-process on an ephemeral port.
 * Scores against ref-cpu and a separate ONNX Runtime session, every bad input's exact 400, 200
 * concurrent requests, a bounded load run, the model-dir errors and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Graph, type HostTensor, readWeightsFile } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { OnnxSession } from '@lctr/backend-onnx';
import { initTfjs } from '@lctr/backend-tfjs';
import { exportCheckpoint } from '@lctr/exporter';
import { lifelongArch, shortArch, trainTiny } from '../../exporter/test/tiny-runs.ts';
import { type HealthReport, ModelDirError, ScoringServer, exampleRequest, loadModelDir, spawnServer } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-server-'));
const repo = join(base, 'models');
const MAX_CANDIDATES = 50;
const MAX_BODY = 64 * 1024;

let lcn: ScoringServer, din: ScoringServer;
let lcnUrl: string, dinUrl: string;

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  const lcnRun = await trainTiny(base, 'lcn', lifelongArch);
  const dinRun = await trainTiny(base, 'din', shortArch);
  await exportCheckpoint({ checkpoint: lcnRun.runDir, out: repo, requests: 1, candidates: 4, latencyRequests: 0, log: () => {} });
  await exportCheckpoint({ checkpoint: dinRun.runDir, out: repo, samples: 8, latencyRequests: 0, log: () => {} });
  const opts = { provider: 'cpu' as const, maxCandidates: MAX_CANDIDATES, maxBodyBytes: MAX_BODY };
  lcn = await ScoringServer.open({ modelDir: join(repo, 'lcn'), ...opts });
  din = await ScoringServer.open({ modelDir: join(repo, 'din'), ...opts });
  lcnUrl = (await lcn.listen(0)).url;
  dinUrl = (await din.listen(0)).url;
});

afterAll(async () => {
  await lcn?.close();
  await din?.close();
  rmSync(base, { recursive: true, force: true });
});

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}
const get = async (url: string, path: string) => (await fetch(`${url}${path}`)).json() as Promise<Record<string, unknown>>;

/** The request's feeds, built here independently of the server: nested arrays flattened, rows stacked. */
function feedsOf(graph: Graph, body: Record<string, any>): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const i of graph.inputs) {
    const rows: unknown[] =
      i.shape[0] === 1
        ? [body['user'][i.name]]
        : i.shape[0] === 'cand'
          ? body['candidates'].map((c: Record<string, unknown>) => c[i.name])
          : body['samples'].map((s: Record<string, unknown>) => s[i.name]);
    const flat = (rows as unknown[]).flat(Infinity) as Array<number | boolean>;
    const shape = [rows.length, ...i.shape.slice(1).map(Number)];
    const data =
      i.dtype === 'float32'
        ? Float32Array.from(flat as number[])
        : i.dtype === 'int32'
          ? Int32Array.from(flat as number[])
          : i.dtype === 'bool'
            ? Uint8Array.from(flat, (v) => (v ? 1 : 0))
            : BigInt64Array.from(flat, (v) => BigInt(v as number));
    feeds[i.name] = { dtype: i.dtype, shape, data } as HostTensor;
  }
  return feeds;
}

/** Scores of ref-cpu (float64, the serving weights) and of a separate ONNX Runtime session for the same request. */
async function references(server: ScoringServer, body: Record<string, unknown>): Promise<{ ref: number[]; onnx: number[] }> {
  const { graph, dir, onnx } = server.model;
  const feeds = feedsOf(graph, body);
  const { weights } = readWeightsFile(join(dir, 'weights.safetensors'));
  const ref = Array.from(runRef(graph, weights, feeds)['prob']!.data as Float64Array);
  const session = await OnnxSession.create(onnx, graph, { provider: 'cpu' });
  try {
    return { ref, onnx: Array.from((await session.run(feeds))['prob']!.data as Float32Array) };
  } finally {
    await session.release();
  }
}

const maxAbs = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('health', () => {
  it('names the model, the provider that runs, and every input with dtype, shape and id range', async () => {
    const h = (await get(lcnUrl, '/health')) as unknown as HealthReport;
    expect(h).toMatchObject({
      status: 'ok',
      model: 'lcn',
      graph: 'lifelong',
      version: 1,
      layout: 'request',
      provider: 'cpu',
      output: 'prob',
    });
    expect(h.limits).toEqual({
      maxCandidates: MAX_CANDIDATES,
      maxBodyBytes: MAX_BODY,
      maxInflight: 1,
      maxQueue: 1024,
      bodyBudgetBytes: 32 << 20,
      bodyTimeoutMs: 10_000,
      maxConnections: 1024,
    });
    expect([h.auth, h.exportChecks?.parity]).toEqual(['none', true]);
    expect(h.intraOpNumThreads).toBe(1);
    const by = Object.fromEntries(h.inputs.map((i) => [i.name, i]));
    expect(by['lifelongSeq']).toMatchObject({ side: 'user', field: 'user.lifelongSeq', dtype: 'int32', shape: [1, 40], valueShape: [40] });
    expect(by['lifelongSeq']!.ids).toEqual([{ table: 'emb/sourceItem', rows: expect.any(Number) }]);
    expect(by['candidate']).toMatchObject({ side: 'candidate', field: 'candidates[].candidate', shape: ['cand'], valueShape: [] });
    expect(by['lifelongMask']).toMatchObject({ dtype: 'bool', ids: [] });
    // columns checkFeeds does not follow: each context / profile column against its own table
    expect(by['lifelongContext']!.valueShape).toEqual([40, 2]);
    expect(by['lifelongContext']!.ids.map((r) => r.column)).toEqual([0, 1]);
    const d = (await get(dinUrl, '/health')) as unknown as HealthReport;
    expect(d).toMatchObject({ model: 'din', graph: 'din', layout: 'batch', provider: 'cpu' });
    expect(d.inputs.every((i) => i.side === 'sample' && i.shape[0] === 'batch' && i.field === `samples[].${i.name}`)).toBe(true);
  });
});

describe('POST /score', () => {
  it('lcn: one user, 7 candidates: the scores of ref-cpu (1e-6) and exactly those of a separate ONNX Runtime session', async () => {
    const body = exampleRequest(lcn.health(), { candidates: 7, seed: 1 });
    const r = await post(lcnUrl, body);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ model: 'lcn', provider: 'cpu' });
    const scores = r.json['scores'] as number[];
    expect(scores).toHaveLength(7);
    const { ref, onnx } = await references(lcn, body);
    expect(maxAbs(scores, ref)).toBeLessThan(1e-6);
    expect(scores).toEqual(onnx);
    expect(Math.max(...scores) - Math.min(...scores)).toBeGreaterThan(0);
    // masks as 0/1 score the same as booleans
    const user = (body as { user: Record<string, unknown> }).user;
    const numeric = { ...body, user: { ...user, lifelongMask: (user['lifelongMask'] as boolean[]).map(Number) } };
    expect((await post(lcnUrl, numeric)).json['scores']).toEqual(scores);
  });

  it('din (batch layout): 9 samples: the scores of ref-cpu (1e-6) and of a separate session', async () => {
    const body = exampleRequest(din.health(), { candidates: 9, seed: 2 });
    const r = await post(dinUrl, body);
    expect(r.status).toBe(200);
    const scores = r.json['scores'] as number[];
    const { ref, onnx } = await references(din, body);
    expect(scores).toHaveLength(9);
    expect(maxAbs(scores, ref)).toBeLessThan(1e-6);
    expect(scores).toEqual(onnx);
  });

  describe('refuses bad input with a 400 that names the field, the expected and the actual value', () => {
    const good = () =>
      structuredClone(exampleRequest(lcn.health(), { candidates: 3, seed: 3 })) as {
        user: Record<string, any>;
        candidates: Array<Record<string, any>>;
      };
    const rows = (name: string) => lcn.health().inputs.find((i) => i.name === name)!.ids[0]!.rows;
    const cases: Array<[string, () => unknown, string | (() => string)]> = [
      ['bad JSON', () => '{"user": ', 'body: expected a JSON object, got invalid JSON (Unexpected end of JSON input)'],
      ['not an object', () => [1, 2], 'body: expected a JSON object {"user": {...}, "candidates": [{...}, ...]}, got an array of 2'],
      [
        'a batch-layout body',
        () => ({ samples: [] }),
        `samples: expected only the fields "user" and "candidates" (per-request model 'lcn'), got unknown field 'samples'`,
      ],
      [
        'no user',
        () => {
          const b = good();
          delete (b as any).user;
          return b;
        },
        'user: expected an object with the user-side features profile, targetSeq, targetSeqCategory, targetSeqMask, sourceSeq, ' +
          'sourceSeqCategory, sourceSeqMask, lifelongSeq, lifelongSeqCategory, lifelongMask, lifelongContext, got nothing (missing ' +
          'field)',
      ],
      [
        'unknown user field',
        () => {
          const b = good();
          b.user['age'] = 3;
          return b;
        },
        'user.age: expected one of the user-side features profile, targetSeq, targetSeqCategory, targetSeqMask, sourceSeq, ' +
          "sourceSeqCategory, sourceSeqMask, lifelongSeq, lifelongSeqCategory, lifelongMask, lifelongContext, got unknown field 'age'",
      ],
      [
        'a candidate feature in user',
        () => {
          const b = good();
          b.user['candidate'] = 1;
          return b;
        },
        'user.candidate: expected one of the user-side features profile, targetSeq, targetSeqCategory, targetSeqMask, sourceSeq, ' +
          "sourceSeqCategory, sourceSeqMask, lifelongSeq, lifelongSeqCategory, lifelongMask, lifelongContext; 'candidate' is a candidate " +
          "feature: it goes in each candidates[i], got unknown field 'candidate'",
      ],
      [
        'missing feature',
        () => {
          const b = good();
          delete b.user['lifelongSeq'];
          return b;
        },
        'user.lifelongSeq: expected an array of 40 (int32[40]), got nothing (missing field)',
      ],
      [
        'wrong type',
        () => {
          const b = good();
          b.user['lifelongSeq'] = 'abc';
          return b;
        },
        'user.lifelongSeq: expected an array of 40 (int32[40]), got "abc"',
      ],
      [
        'wrong length',
        () => {
          const b = good();
          b.user['lifelongSeq'].pop();
          return b;
        },
        'user.lifelongSeq: expected an array of 40 (int32[40]), got an array of 39',
      ],
      [
        'wrong inner length',
        () => {
          const b = good();
          b.user['lifelongContext'][5] = [1];
          return b;
        },
        'user.lifelongContext[5]: expected an array of 2 (int32[2]), got an array of 1',
      ],
      [
        'not an integer',
        () => {
          const b = good();
          b.user['lifelongSeq'][3] = 1.5;
          return b;
        },
        () => `user.lifelongSeq[3]: expected an int32 id in 0..${rows('lifelongSeq') - 1} (rows of emb/sourceItem), got 1.5`,
      ],
      [
        'id out of range',
        () => {
          const b = good();
          b.user['lifelongSeq'][5] = rows('lifelongSeq');
          return b;
        },
        () =>
          `user.lifelongSeq[5]: expected an int32 id in 0..${rows('lifelongSeq') - 1} (rows of emb/sourceItem), got ${rows('lifelongSeq')}`,
      ],
      [
        'negative id',
        () => {
          const b = good();
          b.user['targetSeq'][0] = -1;
          return b;
        },
        () => `user.targetSeq[0]: expected an int32 id in 0..${rows('targetSeq') - 1} (rows of emb/targetItem), got -1`,
      ],
      [
        'profile column out of range',
        () => {
          const b = good();
          b.user['profile'][1] = 99;
          return b;
        },
        () =>
          `user.profile[1]: expected an int32 id in 0..${lcn.health().inputs.find((i) => i.name === 'profile')!.ids[1]!.rows - 1} (rows ` +
          `of emb/profile1), got 99`,
      ],
      [
        'context column out of range',
        () => {
          const b = good();
          b.user['lifelongContext'][2][0] = 1000;
          return b;
        },
        () =>
          `user.lifelongContext[2][0]: expected an int32 id in ` +
          `0..${lcn.health().inputs.find((i) => i.name === 'lifelongContext')!.ids[0]!.rows - 1} (rows of emb/context0), got 1000`,
      ],
      [
        'bad mask value',
        () => {
          const b = good();
          b.user['lifelongMask'][0] = 2;
          return b;
        },
        'user.lifelongMask[0]: expected true, false, 0 or 1 (bool), got 2',
      ],
      [
        'no candidates',
        () => {
          const b = good();
          b.candidates = [];
          return b;
        },
        `candidates: expected an array of 1..${MAX_CANDIDATES} candidate objects (--max-candidates ${MAX_CANDIDATES}), got an array of 0`,
      ],
      [
        'too many candidates',
        () => {
          const b = good();
          b.candidates = Array.from({ length: MAX_CANDIDATES + 1 }, () => b.candidates[0]);
          return b;
        },
        `candidates: expected an array of 1..${MAX_CANDIDATES} candidate objects (--max-candidates ${MAX_CANDIDATES}), got an array of ` +
          `${MAX_CANDIDATES + 1}`,
      ],
      [
        'candidates not an array',
        () => {
          const b = good();
          (b as any).candidates = { candidate: 1 };
          return b;
        },
        `candidates: expected an array of 1..${MAX_CANDIDATES} candidate objects (--max-candidates ${MAX_CANDIDATES}), got an object`,
      ],
      [
        'a candidate not an object',
        () => {
          const b = good();
          b.candidates[2] = 7 as any;
          return b;
        },
        'candidates[2]: expected an object with the candidate features candidate, candidateCategory, got 7',
      ],
      [
        'a candidate missing a feature',
        () => {
          const b = good();
          delete b.candidates[1]!['candidateCategory'];
          return b;
        },
        () =>
          `candidates[1].candidateCategory: expected an int32 id in 0..${rows('candidateCategory') - 1} (rows of emb/category), got ` +
          `nothing (missing field)`,
      ],
      [
        'a user feature in a candidate',
        () => {
          const b = good();
          b.candidates[0]!['profile'] = [0, 0];
          return b;
        },
        "candidates[0].profile: expected one of the candidate features candidate, candidateCategory; 'profile' is a user-side feature: " +
          "it goes in user, got unknown field 'profile'",
      ],
      [
        'candidate id out of range',
        () => {
          const b = good();
          b.candidates[0]!['candidate'] = 1e9;
          return b;
        },
        () => `candidates[0].candidate: expected an int32 id in 0..${rows('candidate') - 1} (rows of emb/targetItem), got 1000000000`,
      ],
      [
        'candidate id a string',
        () => {
          const b = good();
          b.candidates[0]!['candidate'] = '3';
          return b;
        },
        () => `candidates[0].candidate: expected an int32 id in 0..${rows('candidate') - 1} (rows of emb/targetItem), got "3"`,
      ],
    ];
    it.each(cases)('%s', async (_, body, expectedMessage) => {
      const message = typeof expectedMessage === 'string' ? expectedMessage : expectedMessage();
      const r = await post(lcnUrl, body());
      expect(r.status).toBe(400);
      expect(r.json['error']).toBe(message);
      expect(Object.keys(r.json)).toEqual(['error', 'field', 'expected', 'actual']);
      expect(message).toBe(`${r.json['field']}: expected ${r.json['expected']}, got ${r.json['actual']}`);
    });

    it('din: a short sequence of the wrong length, a per-request body', async () => {
      const b = structuredClone(exampleRequest(din.health(), { candidates: 2, seed: 4 })) as { samples: Array<Record<string, any>> };
      b.samples[1]!['targetSeqMask'].push(true);
      const r = await post(dinUrl, b);
      expect(r).toEqual({
        status: 400,
        json: {
          error: 'samples[1].targetSeqMask: expected an array of 8 (bool[8]), got an array of 9',
          field: 'samples[1].targetSeqMask',
          expected: 'an array of 8 (bool[8])',
          actual: 'an array of 9',
        },
      });
      expect((await post(dinUrl, { user: {}, candidates: [] })).json['error']).toBe(
        `user: expected only the fields "samples" (batch-layout model 'din'), got unknown field 'user'`,
      );
    });

    it('a body over --max-body-bytes: 413; wrong method: 405 with Allow; unknown path: 404', async () => {
      const big = JSON.stringify({ user: { pad: 'x'.repeat(MAX_BODY) }, candidates: [] });
      const r = await post(lcnUrl, big);
      expect(r).toEqual({
        status: 413,
        json: {
          error: `body: expected at most ${MAX_BODY} bytes (--max-body-bytes), got ${Buffer.byteLength(big)} bytes`,
          field: 'body',
          expected: `at most ${MAX_BODY} bytes (--max-body-bytes)`,
          actual: `${Buffer.byteLength(big)} bytes`,
        },
      });
      const m = await fetch(`${lcnUrl}/score`);
      expect(m.status).toBe(405);
      expect(m.headers.get('allow')).toBe('POST');
      expect(await m.json()).toEqual({
        error: 'method: expected POST for /score, got GET',
        field: 'method',
        expected: 'POST for /score',
        actual: 'GET',
      });
      const h = await fetch(`${lcnUrl}/health`, { method: 'DELETE' });
      expect([h.status, h.headers.get('allow')]).toEqual([405, 'GET']);
      const n = await fetch(`${lcnUrl}/predict`, { method: 'POST', body: '{}' });
      expect(n.status).toBe(404);
      expect(await n.json()).toMatchObject({
        error:
          'path: expected one of POST /score, POST /explain, GET /explain.html, GET /explain/example, GET /health, GET /metrics, GET /metrics.json, GET /v2/health/live, GET /v2/health/ready, ' +
          "GET /v2/models/lcn, GET /v2/models/lcn/ready, POST /v2/models/lcn/infer, got '/predict'",
        field: 'path',
      });
    });
  });

  it('drops a client that hangs up mid-body, and goes on serving', async () => {
    const before = (await get(lcnUrl, '/metrics.json')) as any;
    const { port } = new URL(lcnUrl);
    await new Promise<void>((ok) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write('POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"user": {');
        setTimeout(() => {
          sock.destroy();
          ok();
        }, 50);
      });
    });
    await new Promise((ok) => setTimeout(ok, 50));
    const after = (await get(lcnUrl, '/metrics.json')) as any;
    expect(after.score.clientErrors - before.score.clientErrors).toBe(1);
    expect(after.score.serverErrors).toBe(0);
    expect((await post(lcnUrl, exampleRequest(lcn.health(), { candidates: 2, seed: 5 }))).status).toBe(200);
  });

  it('serves 200 concurrent requests, each with its own answer', async () => {
    const bodies = Array.from({ length: 10 }, (_, k) => exampleRequest(lcn.health(), { candidates: 1 + k, seed: 100 + k }));
    const expected: unknown[] = [];
    for (const b of bodies) expected.push((await post(lcnUrl, b)).json['scores']);
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => post(lcnUrl, bodies[i % 10])));
    expect(all.filter((r) => r.status !== 200)).toEqual([]);
    all.forEach((r, i) => expect(r.json['scores']).toEqual(expected[i % 10]));
  });

  it('load: 1,000 requests of 20 candidates, 8 at a time, no errors; /metrics counts them (timing: bench/serve-load.ts)', async () => {
    const before = (await get(lcnUrl, '/metrics.json')) as any;
    const bodies = Array.from({ length: 16 }, (_, k) => JSON.stringify(exampleRequest(lcn.health(), { candidates: 20, seed: 200 + k })));
    let next = 0,
      failed = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < 1000) {
          const i = next++;
          const r = await fetch(`${lcnUrl}/score`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: bodies[i % bodies.length],
          });
          if (r.status !== 200) failed++;
          await r.arrayBuffer();
        }
      }),
    );
    expect(failed).toBe(0);
    const m = (await get(lcnUrl, '/metrics.json')) as any;
    expect(m.score.ok - before.score.ok).toBe(1000);
    expect(m.score.candidates - before.score.candidates).toBe(20_000);
    expect(m.score.serverErrors).toBe(0);
    expect(m.score.clientErrors).toBeGreaterThan(0);
    expect(m.errors).toBeGreaterThanOrEqual(m.score.clientErrors);
    expect(0 < m.latencyMs.p50 && m.latencyMs.p50 <= m.latencyMs.p99).toBe(true);
    expect(m.memory.rssBytes).toBeGreaterThan(0);
    expect(m.inflight + m.queued).toBe(0);
  });
});

describe('the model directory', () => {
  it('refuses what is not one, naming what is wrong', () => {
    const lcnDir = join(repo, 'lcn');
    expect(() => loadModelDir(join(base, 'nope'))).toThrow(
      new ModelDirError(
        `model dir ${join(base, 'nope')} does not exist; expected a model directory written by the exporter (nx run exporter:onnx): ` +
          `graph.json and 1/model.onnx`,
      ),
    );
    expect(() => loadModelDir(join(lcnDir, 'graph.json'))).toThrow(`model dir ${join(lcnDir, 'graph.json')} is a file, not a directory`);
    expect(() => loadModelDir(repo)).toThrow(
      `model dir ${repo} is a model repository, not a model directory: pass one of its models, e.g. --model-dir ${join(repo, 'din')} ` +
        `(models there: din, lcn)`,
    );
    const empty = join(base, 'empty');
    mkdirSync(empty);
    expect(() => loadModelDir(empty)).toThrow(`model dir ${empty} is not a model directory (it holds nothing)`);
    const noGraph = join(base, 'no-graph');
    cpSync(lcnDir, noGraph, { recursive: true });
    rmSync(join(noGraph, 'graph.json'));
    expect(() => loadModelDir(noGraph)).toThrow(`model dir ${noGraph} has no graph.json (the serving graph's spec JSON)`);
    const noOnnx = join(base, 'no-onnx');
    cpSync(lcnDir, noOnnx, { recursive: true });
    rmSync(join(noOnnx, '1'), { recursive: true });
    expect(() => loadModelDir(noOnnx)).toThrow(`model dir ${noOnnx} has no <version>/model.onnx (expected 1/model.onnx)`);
    const graph = JSON.parse(readFileSync(join(lcnDir, 'graph.json'), 'utf8'));
    const v2 = join(base, 'v2');
    cpSync(lcnDir, v2, { recursive: true });
    writeFileSync(join(v2, 'graph.json'), JSON.stringify({ ...graph, version: 2 }));
    expect(() => loadModelDir(v2)).toThrow(
      `model dir ${v2}: cannot load graph.json: ${join(v2, 'graph.json')}: graph format version 2 is not supported (this reader supports ` +
        `version 1)`,
    );
    writeFileSync(join(v2, 'graph.json'), JSON.stringify({ ...graph, format: 'onnx' }));
    expect(() => loadModelDir(v2)).toThrow(
      `model dir ${v2}: cannot load graph.json: ${join(v2, 'graph.json')}: format is "onnx", expected "lctr-graph"`,
    );
    writeFileSync(join(v2, 'graph.json'), '{');
    expect(() => loadModelDir(v2)).toThrow(`model dir ${v2}: cannot load graph.json: ${join(v2, 'graph.json')}: not valid JSON`);
  });

  it('takes the highest version directory, as Triton does', () => {
    const two = join(base, 'two-versions');
    cpSync(join(repo, 'lcn'), two, { recursive: true });
    cpSync(join(two, '1'), join(two, '2'), { recursive: true });
    expect(loadModelDir(two)).toMatchObject({ name: 'two-versions', version: 2, onnxPath: join(two, '2', 'model.onnx') });
  });
});

describe('the CLI (nx run server:serve)', () => {
  // node with tsx's loader, not npx: the signal below reaches the server process itself
  const cli = ['--import', 'tsx', 'packages/server/src/cli.ts'];
  const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };

  it('serves a model dir on the port it prints, logs the provider, stops on SIGTERM', async () => {
    const { url, child, output } = await spawnServer(['--model-dir', join(repo, 'lcn'), '--port', '0', '--provider', 'cpu'], root);
    const out = output();
    expect(out).toContain(`server: model 'lcn' (graph 'lifelong', version 1, per-request layout; user: profile,`);
    expect(out).toContain('server: ONNX Runtime provider: cpu; intra-op threads: 1\n');
    expect(await get(url, '/health')).toMatchObject({ model: 'lcn', provider: 'cpu' });
    const exited = new Promise<number | null>((ok) => child.on('exit', ok));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('server: SIGTERM: closing');
  });

  it('exits 1 naming a bad model dir, 2 on bad usage', () => {
    const bad = spawnSync(process.execPath, [...cli, '--model-dir', join(base, 'nope')], { cwd: root, env, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`lctr serve: model dir ${join(base, 'nope')} does not exist`);
    const usage = spawnSync(process.execPath, [...cli, '--model-dir', join(repo, 'lcn'), '--provider', 'gpu'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("lctr serve: --provider must be one of auto, cpu, cuda, got 'gpu'");
  });
});
