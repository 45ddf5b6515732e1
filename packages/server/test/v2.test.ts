/**
 * The Open Inference Protocol (KServe v2) routes and the Prometheus /metrics, on small untrained
 * models of each layout (lcn: per-request, din: batch, ifa: candidate-set) served in-process on
 * port 0: metadata equal to the config.pbtxt the exporter writes (tritonConfigOf), the same request
 * scoring equal to /score and to ref-cpu, every refusal's exact `{ error }` and status, and exact
 * counter values after a known number of requests; and the Python client example
 * (examples/python/lctr_client.py, Debian's /usr/bin/python3) against the live server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Graph, type HostTensor, readWeightsFile } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { tritonConfigOf } from '@lctr/exporter';
import { type HealthReport, ScoringServer, exampleRequest } from '../src/index.ts';
import { tinyGraphs, writeGraphModelDir } from './tiny-model-dir.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-server-v2-'));
const servers: Record<'lcn' | 'din' | 'ifa', { server: ScoringServer; url: string }> = {} as never;

beforeAll(async () => {
  for (const name of ['lcn', 'din', 'ifa'] as const) {
    const dir = writeGraphModelDir(join(base, name), tinyGraphs[name]());
    const server = await ScoringServer.open({ modelDir: dir, provider: 'cpu', maxCandidates: 20 });
    servers[name] = { server, url: (await server.listen(0)).url };
  }
}, 60_000);

afterAll(async () => {
  for (const s of Object.values(servers)) await s.server.close();
  rmSync(base, { recursive: true, force: true });
});

type Json = number | boolean | Json[];
const DATATYPE: Record<string, string> = { float32: 'FP32', int32: 'INT32', int64: 'INT64', bool: 'BOOL' };
const shapeOf = (v: Json): number[] => (Array.isArray(v) ? [v.length, ...shapeOf(v[0]!)] : []);

/** The v2 infer body of a /score body, built here from /health alone (independently of the server's code). */
function v2BodyOf(
  h: HealthReport,
  body: Record<string, any>,
): { inputs: Array<{ name: string; datatype: string; shape: number[]; data: Json[] }> } {
  const n = (body['candidates'] ?? body['samples']).length as number;
  return {
    inputs: h.inputs.map((i) => {
      const rows: Json[] =
        i.side === 'user'
          ? [body['user'][i.name]]
          : i.filled
            ? Array(n).fill(true)
            : (body['candidates'] ?? body['samples']).map((c: Record<string, Json>) => c[i.name]);
      const inner = shapeOf(rows[0]!);
      const shape =
        h.layout === 'batch'
          ? [n, ...(inner.length ? inner : [1])]
          : i.side === 'user'
            ? [1, ...inner]
            : h.layout === 'candidateSet'
              ? [1, n, ...inner]
              : [n, ...inner];
      return { name: i.name, datatype: DATATYPE[i.dtype]!, shape, data: (rows as unknown[]).flat(Infinity) as Json[] };
    }),
  };
}

const json = async (url: string, path: string, init: RequestInit = {}) => {
  const r = await fetch(`${url}${path}`, init);
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};
const infer = (url: string, name: string, body: unknown, headers: Record<string, string> = {}) =>
  json(url, `/v2/models/${name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const score = (url: string, body: unknown) =>
  json(url, '/score', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** ref-cpu's prob (float64) on the server's model for a v2 body's tensors. */
function refProb(server: ScoringServer, v2: ReturnType<typeof v2BodyOf>): number[] {
  const g: Graph = server.model.graph;
  const feeds: Record<string, HostTensor> = {};
  for (const i of g.inputs) {
    const t = v2.inputs.find((x) => x.name === i.name)!;
    const shape = t.shape.slice(0, i.shape.length);
    const d = t.data;
    feeds[i.name] = (
      i.dtype === 'float32'
        ? { dtype: i.dtype, shape, data: Float32Array.from(d as number[]) }
        : i.dtype === 'bool'
          ? { dtype: i.dtype, shape, data: Uint8Array.from(d, (v) => (v ? 1 : 0)) }
          : { dtype: 'int32', shape, data: Int32Array.from(d as number[]) }
    ) as HostTensor;
  }
  const { weights } = readWeightsFile(join(server.model.dir, 'weights.safetensors'));
  return Array.from(runRef(g, weights, feeds)['prob']!.data as Float64Array);
}

const maxAbs = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('Open Inference Protocol (KServe v2)', () => {
  it('health and model readiness', async () => {
    const { url } = servers.lcn;
    expect(await json(url, '/v2/health/live')).toEqual({ status: 200, body: { live: true } });
    expect(await json(url, '/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
    expect(await json(url, '/v2/models/lcn/ready')).toEqual({ status: 200, body: { name: 'lcn', ready: true } });
    expect(await json(url, '/v2/models/lcn/versions/1/ready')).toEqual({ status: 200, body: { name: 'lcn', ready: true } });
  });

  it.each(['lcn', 'din', 'ifa'] as const)(
    "%s: metadata names, datatypes and shapes as the exporter's config.pbtxt declares them",
    async (name) => {
      const { server, url } = servers[name];
      const cfg = tritonConfigOf(server.model.graph, name);
      // Triton's metadata: the batch dim as -1 in front when max_batch_size > 0, dims otherwise
      const shape = (dims: readonly number[]) => (cfg.maxBatchSize > 0 ? [-1, ...dims] : [...dims]);
      const { status, body } = await json(url, `/v2/models/${name}`);
      expect(status).toBe(200);
      expect(body).toEqual({
        name,
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: cfg.inputs.map((t) => ({ name: t.name, datatype: t.dataType.replace('TYPE_', ''), shape: shape(t.dims) })),
        outputs: cfg.outputs.map((t) => ({ name: t.name, datatype: t.dataType.replace('TYPE_', ''), shape: shape(t.dims) })),
      });
    },
  );

  it.each([
    ['lcn', 7],
    ['din', 5],
    ['ifa', 6],
  ] as const)('%s: the same request scores equal to /score (exactly) and to ref-cpu (1e-6)', async (name, n) => {
    const { server, url } = servers[name];
    const health = server.health();
    const body = exampleRequest(health, { candidates: n, seed: 3 });
    const s = await score(url, body);
    expect(s.status).toBe(200);
    const v2 = v2BodyOf(health, body);
    const r = await infer(url, name, { id: 'req-1', ...v2, outputs: [{ name: 'prob' }] });
    expect(r.status).toBe(200);
    const shape = name === 'din' ? [n, 1] : name === 'ifa' ? [1, n] : [n];
    expect(r.body).toEqual({
      model_name: name,
      model_version: '1',
      id: 'req-1',
      outputs: [{ name: 'prob', datatype: 'FP32', shape, data: s.body['scores'] }],
    });
    expect(maxAbs(s.body['scores'], refProb(server, v2))).toBeLessThan(1e-6);
    expect(Math.max(...s.body['scores']) - Math.min(...s.body['scores'])).toBeGreaterThan(0);
    // the same body against the versioned route; nested data is accepted as the protocol allows
    const nested = { inputs: v2.inputs.map((t) => (t.name === 'profile' && name !== 'din' ? { ...t, data: [t.data] } : t)) };
    const all = await json(url, `/v2/models/${name}/versions/1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(nested),
    });
    expect(all.body['outputs'].map((o: { name: string }) => o.name)).toEqual(Object.keys(server.model.graph.outputs));
    expect(all.body['outputs'].find((o: { name: string }) => o.name === 'prob').data).toEqual(s.body['scores']);
  });

  describe("refusals: the protocol's { error } with the input, the expected and the actual value", () => {
    const good = () => v2BodyOf(servers.lcn.server.health(), exampleRequest(servers.lcn.server.health(), { candidates: 3, seed: 4 }));
    const names = () =>
      servers.lcn.server
        .health()
        .inputs.map((i) => i.name)
        .join(', ');
    const rows = (n: string) => servers.lcn.server.health().inputs.find((i) => i.name === n)!.ids[0]!.rows;
    const cases: Array<[string, () => { path?: string; body: unknown; headers?: Record<string, string> }, number, () => string]> = [
      [
        'wrong datatype',
        () => {
          const b = good();
          b.inputs.find((t) => t.name === 'lifelongSeq')!.datatype = 'FP32';
          return { body: b };
        },
        400,
        () => 'inputs.lifelongSeq.datatype: expected "INT32" (TYPE_INT32 in config.pbtxt: int32), got "FP32"',
      ],
      [
        'wrong shape',
        () => {
          const b = good();
          b.inputs.find((t) => t.name === 'lifelongSeq')!.shape = [40];
          return { body: b };
        },
        400,
        () => 'inputs.lifelongSeq.shape: expected shape [1, 40] (int32[1, 40]), got [40]',
      ],
      [
        'missing input',
        () => {
          const b = good();
          b.inputs = b.inputs.filter((t) => t.name !== 'candidate');
          return { body: b };
        },
        400,
        () => "inputs.candidate: expected an input 'candidate' of shape [cand] (int32), got nothing (missing input)",
      ],
      [
        'unknown input',
        () => {
          const b = good();
          b.inputs.push({ name: 'age', datatype: 'INT32', shape: [1], data: [3] });
          return { body: b };
        },
        400,
        () => `inputs[${good().inputs.length}].name: expected one of the inputs ${names()}, got unknown input 'age'`,
      ],
      [
        'id out of range',
        () => {
          const b = good();
          b.inputs.find((t) => t.name === 'candidate')!.data[1] = rows('candidate');
          return { body: b };
        },
        400,
        () =>
          `inputs.candidate.data[1]: expected an int32 id in 0..${rows('candidate') - 1} (rows of emb/targetItem), got ` +
          `${rows('candidate')}`,
      ],
      [
        'binary extension body',
        () => ({ body: good(), headers: { 'inference-header-content-length': '120' } }),
        400,
        () =>
          "inference-header-content-length: expected no such header: a JSON body (the binary tensor extension is not supported), got '120'",
      ],
      [
        'binary output asked for',
        () => ({ body: { ...good(), outputs: [{ name: 'prob', parameters: { binary_data: true } }] } }),
        400,
        () =>
          'outputs[0].parameters.binary_data: expected false or absent (a JSON tensor body (the binary tensor extension is not ' +
          'supported)), got true',
      ],
      [
        'unknown output',
        () => ({ body: { ...good(), outputs: [{ name: 'logit' }] } }),
        400,
        () => "outputs[0].name: expected one of the outputs prob, got unknown output 'logit'",
      ],
      [
        'unknown model',
        () => ({ path: '/v2/models/twin/infer', body: good() }),
        404,
        () => "model: expected 'lcn' (the model this server serves), got 'twin'",
      ],
      [
        'unknown version',
        () => ({ path: '/v2/models/lcn/versions/2/infer', body: good() }),
        404,
        () => "version: expected 1 (the version of model 'lcn' served), got '2'",
      ],
    ];
    it.each(cases)('%s', async (_, make, status, message) => {
      const { path, body, headers } = make();
      const r = await json(servers.lcn.url, path ?? '/v2/models/lcn/infer', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      expect(r).toEqual({ status, body: { error: message() } });
    });

    it('unknown model metadata and unknown v2 paths: 404', async () => {
      expect(await json(servers.lcn.url, '/v2/models/din')).toEqual({
        status: 404,
        body: { error: "model: expected 'lcn' (the model this server serves), got 'din'" },
      });
      expect((await json(servers.lcn.url, '/v2/repository/index')).status).toBe(404);
    });
  });
});

/** The value of sample `name{labels}` in a Prometheus text exposition; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length)
      return Number(m[3]);
  }
  return undefined;
}

describe('GET /metrics (Prometheus text, prom-client)', () => {
  it('counts requests and errors by route and status exactly, with latency histograms, queue depth and process memory', async () => {
    const dir = writeGraphModelDir(join(base, 'fresh'), tinyGraphs.din());
    const server = await ScoringServer.open({ modelDir: dir, provider: 'cpu' });
    const { url } = await server.listen(0);
    try {
      const body = exampleRequest(server.health(), { candidates: 4, seed: 9 });
      for (let i = 0; i < 5; i++) expect((await score(url, body)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await infer(url, 'fresh', v2BodyOf(server.health(), body))).status).toBe(200);
      expect((await score(url, { samples: [] })).status).toBe(400);
      const oov = structuredClone(body) as { samples: Array<Record<string, unknown>> };
      oov.samples[1]!['candidate'] = 10_000;
      expect((await score(url, oov)).status).toBe(400);
      expect((await infer(url, 'nope', {})).status).toBe(404);
      expect((await fetch(`${url}/predict`)).status).toBe(404);
      const r = await fetch(`${url}/metrics`);
      expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await r.text();
      const req = (route: string, method: string, status: string) => sample(text, 'lctr_http_requests_total', { route, method, status });
      expect(req('/score', 'POST', '200')).toBe(5);
      expect(req('/score', 'POST', '400')).toBe(2);
      expect(sample(text, 'lctr_ids_out_of_range_total', { route: '/score', input: 'candidate' })).toBe(1);
      expect(req('/v2/models/{name}/infer', 'POST', '200')).toBe(3);
      expect(req('/v2/models/{name}/infer', 'POST', '404')).toBe(1);
      expect(req('other', 'GET', '404')).toBe(1);
      expect(sample(text, 'lctr_http_errors_total', { route: '/score', status: '400' })).toBe(2);
      expect(sample(text, 'lctr_http_errors_total', { route: 'other', status: '404' })).toBe(1);
      expect(sample(text, 'lctr_http_errors_total', { route: '/score', status: '200' })).toBeUndefined();
      expect(sample(text, 'lctr_candidates_scored_total', { route: '/score' })).toBe(20);
      expect(sample(text, 'lctr_candidates_scored_total', { route: '/v2/models/{name}/infer' })).toBe(12);
      expect(sample(text, 'lctr_http_request_duration_seconds_count', { route: '/score' })).toBe(7);
      expect(sample(text, 'lctr_http_request_duration_seconds_bucket', { route: '/score', le: '+Inf' })).toBe(7);
      expect(sample(text, 'lctr_queue_depth')).toBe(0);
      expect(sample(text, 'lctr_runs_inflight')).toBe(0);
      expect(sample(text, 'lctr_non_finite_scores_total')).toBe(0);
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
      // the JSON snapshot stays at /metrics.json
      expect((await json(url, '/metrics.json')).body['score']).toMatchObject({ requests: 7, ok: 5, clientErrors: 2 });
    } finally {
      await server.close();
    }
  });
});

describe('the Python client (examples/python/lctr_client.py)', () => {
  // async: the server answers from this process's event loop while python runs
  const python = (args: string[]) =>
    promisify(execFile)('/usr/bin/python3', [join(root, 'examples/python/lctr_client.py'), ...args], { cwd: root });

  it.each([
    ['lcn', 6],
    ['din', 4],
    ['ifa', 5],
  ] as const)('%s: its /score and v2 infer scores equal ref-cpu (1e-6)', async (name, n) => {
    const { server, url } = servers[name];
    const body = exampleRequest(server.health(), { candidates: n, seed: 21 });
    const file = join(base, `${name}-request.json`);
    writeFileSync(file, JSON.stringify(body));
    const { stdout } = await python(['--url', url, '--model', name, '--request', file]);
    const out = JSON.parse(stdout) as { score: number[]; v2: number[] };
    const ref = refProb(server, v2BodyOf(server.health(), body));
    expect(out.score).toHaveLength(n);
    expect(maxAbs(out.score, ref)).toBeLessThan(1e-6);
    expect(out.v2).toEqual(out.score);
  });

  it("a refusal: exit 1 with the server's message", async () => {
    const file = join(base, 'refused-request.json');
    writeFileSync(file, JSON.stringify(exampleRequest(servers.lcn.server.health(), { candidates: 2, seed: 22 })));
    const r = await python(['--url', servers.lcn.url, '--model', 'nope', '--request', file, '--v2-only']).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(r?.code).toBe(1);
    expect(r?.stderr).toBe("lctr_client: HTTP 404: model: expected 'lcn' (the model this server serves), got 'nope'\n");
  });
});
