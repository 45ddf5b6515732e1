/**
 * The scoring server under careless and hostile input (issue 17, items 2, 6, 11, 12), on a tiny
 * untrained DIN directory (tiny-model-dir.ts): a failed export is refused at start; a non-finite
 * score is a 500; duplicate JSON keys a 400; bodies over the cap a 413 sent before the connection
 * closes; a dribbling body a 408; the body budget and a full queue a 503 before the body is read;
 * connections over the cap closed at accept; bearer token, Host allow-list and Content-Type.
 * Raw sockets where the client must misbehave; no assertion on durations.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ModelDirError,
  type RequestError,
  ScoringServer,
  SecurityError,
  type ServerOptions,
  checkBind,
  checkDuplicateKeys,
  exampleRequest,
  loadModelDir,
} from '../src/index.ts';
import { PASSED_REPORT, writeTinyModelDir } from './tiny-model-dir.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-server-hostile-'));
const dir = writeTinyModelDir(join(base, 'models', 'din'));
const JSON_HEADERS = { 'content-type': 'application/json' };

let open: ScoringServer[] = [];
async function serve(opts: Partial<ServerOptions> = {}): Promise<{ server: ScoringServer; url: string; port: number }> {
  const server = await ScoringServer.open({ modelDir: dir, provider: 'cpu', ...opts });
  open.push(server);
  const { url, port } = await server.listen(0);
  return { server, url, port };
}
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const body = (server: ScoringServer, candidates = 2, seed = 1) => JSON.stringify(exampleRequest(server.health(), { candidates, seed }));
async function post(url: string, text: string, headers: Record<string, string> = JSON_HEADERS) {
  const r = await fetch(`${url}/score`, { method: 'POST', headers, body: text });
  return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> };
}
const metrics = async (url: string) => (await fetch(`${url}/metrics.json`)).json() as Promise<Record<string, any>>;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  json: Record<string, unknown> | undefined;
  closed: boolean;
}

/** Parse one HTTP response out of what a raw socket received. */
function parseAnswer(text: string, closed: boolean): RawAnswer {
  const [head = '', ...rest] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const payload = rest.join('\r\n\r\n');
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    headers,
    json: payload ? (JSON.parse(payload) as Record<string, unknown>) : undefined,
    closed,
  };
}

/** A raw connection: write what a careless client writes, then wait for the server to close it. */
function rawClient(port: number): { socket: Socket; connected: Promise<void>; answer: Promise<RawAnswer> } {
  const socket = connect(port, '127.0.0.1');
  const connected = new Promise<void>((ok) => socket.once('connect', () => ok()));
  let received = '';
  socket.on('data', (d) => {
    received += String(d);
  });
  // a reset after the answer (the server closing with the body unread) is fine: the answer came first
  socket.on('error', () => {});
  const answer = new Promise<RawAnswer>((ok) => socket.once('close', () => ok(parseAnswer(received, true))));
  return { socket, connected, answer };
}

/** Poll /metrics until `ready` holds (bounded: 200 tries; a refused connection is one try). */
async function until(url: string, ready: (m: Record<string, any>) => boolean): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const m = await metrics(url).catch(() => undefined);
    if (m && ready(m)) return m;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  throw new Error('metrics never reached the expected state');
}

describe('item 2: a failed export is never served', () => {
  const variant = (name: string, report: unknown) => writeTinyModelDir(join(base, 'variants', name), report);

  it('refuses a directory whose report.json says parity failed, or the ONNX checker failed, or is not JSON', () => {
    const parity = variant('parity', {
      ...PASSED_REPORT,
      parity: { ok: false, failures: ['onnx vs ref: max |Δprob| 0.31 > 1e-4', 'tfjs vs ref: NaN'] },
    });
    expect(() => loadModelDir(parity)).toThrow(
      new ModelDirError(
        `model dir ${parity}: report.json says the export failed: parity.ok: expected true, got false (onnx vs ref: max |Δprob| 0.31 > ` +
          `1e-4; tfjs vs ref: NaN); refusing to serve it (re-export, and check the exporter's log)`,
      ),
    );
    const checker = variant('checker', {
      ...PASSED_REPORT,
      onnx: { checker: { ok: false, message: 'Node (n3) has input size 1 not in range [min=2, max=2]' } },
    });
    expect(() => loadModelDir(checker)).toThrow(
      new ModelDirError(
        `model dir ${checker}: report.json says the export failed: onnx.checker.ok: expected true, got false (Node (n3) has input size 1 ` +
          `not in range [min=2, max=2]); refusing to serve it (re-export, and check the exporter's log)`,
      ),
    );
    const noParity = variant('no-parity', { producer: 'lctr-exporter' });
    expect(() => loadModelDir(noParity)).toThrow(
      `model dir ${noParity}: report.json says the export failed: parity.ok: expected true, got nothing (no parity record)`,
    );
    const broken = variant('broken', '{"parity": ');
    expect(() => loadModelDir(broken)).toThrow(`model dir ${broken}: cannot load report.json: not valid JSON (`);
  });

  it('serves a passed export (checker not run is fine) and one without report.json; /health says which', async () => {
    expect(
      loadModelDir(variant('not-run', { ...PASSED_REPORT, onnx: { checker: { ok: null, message: 'python3-onnx missing' } } })).exportChecks,
    ).toEqual({ parity: true, checker: null });
    expect(loadModelDir(variant('no-report', null)).exportChecks).toBeNull();
    const { server } = await serve();
    expect(server.health().exportChecks).toEqual({ parity: true, checker: true });
  });

  it('the CLI exits 1 on a failed export, naming it', () => {
    const parity = variant('cli-parity', { ...PASSED_REPORT, parity: { ok: false, failures: [] } });
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'packages/server/src/cli.ts', '--model-dir', parity, '--port', '0'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `lctr serve: model dir ${parity}: report.json says the export failed: parity.ok: expected true, got false; refusing to serve it ` +
        `(re-export, and check the exporter's log)\n`,
    );
  });

  it('a non-finite score is a 500 (never 200 with nulls), counted in /metrics; the next request is served', async () => {
    const lines: string[] = [];
    const { server, url } = await serve({ log: (l) => lines.push(l) });
    const real = server.session.run.bind(server.session);
    vi.spyOn(server.session, 'run').mockImplementationOnce(async (feeds) => {
      const out = await real(feeds);
      (out['prob']!.data as Float32Array)[1] = Number.NaN;
      return out;
    });
    const r = await post(url, body(server, 3));
    expect(r).toMatchObject({
      status: 500,
      json: { error: "scoring failed: output 'prob' is NaN for sample 1 of 3; a non-finite score is never served" },
    });
    expect(lines.at(-1)).toBe("error: scoring failed: output 'prob' is NaN for sample 1 of 3; a non-finite score is never served");
    const m = await metrics(url);
    expect(m['score']).toMatchObject({ requests: 1, ok: 0, serverErrors: 1, nonFinite: 1, candidates: 0 });
    const ok = await post(url, body(server, 3));
    expect(ok.status).toBe(200);
    expect((ok.json['scores'] as number[]).every(Number.isFinite)).toBe(true);
  });
});

describe('item 11: duplicate keys and oversized bodies', () => {
  it('checkDuplicateKeys names the first duplicate with its JSON path; escapes are decoded; equal keys in sibling objects are fine', () => {
    const dup = (text: string) => {
      try {
        checkDuplicateKeys(text);
        return undefined;
      } catch (e) {
        return (e as RequestError).message;
      }
    };
    expect(dup('{"samples": [], "samples": []}')).toBe(
      "samples: expected each key at most once in an object, got a duplicate key 'samples'",
    );
    expect(dup('{"samples": [{"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": [3, "x\\"y"], "c": 4}}]}')).toBe(
      "samples[1].b.c: expected each key at most once in an object, got a duplicate key 'c'",
    );
    expect(dup('{"a\\u0062": 1, "ab": 2}')).toBe("ab: expected each key at most once in an object, got a duplicate key 'ab'");
    expect(dup('{"a": {"k": "\\\\"}, "b": {"k": "}{,"}, "s": ["k", "k"], "\\"k": 1, "k": 2}')).toBeUndefined();
    expect(dup('[1, 2, {}]')).toBeUndefined();
  });

  it('a body with a duplicate key is a 400 naming it', async () => {
    const { server, url } = await serve();
    const good = body(server, 2);
    const twice = `${good.slice(0, -1)}, "samples": []}`;
    expect(JSON.parse(twice)).toEqual({ samples: [] }); // what JSON.parse alone made of it
    const r = await post(url, twice);
    expect(r).toEqual({
      status: 400,
      headers: expect.anything(),
      json: {
        error: "samples: expected each key at most once in an object, got a duplicate key 'samples'",
        field: 'samples',
        expected: 'each key at most once in an object',
        actual: "a duplicate key 'samples'",
      },
    });
    const inner = good.replace('"candidate":', '"candidate":1,"candidate":');
    expect((await post(url, inner)).json['error']).toBe(
      "samples[0].candidate: expected each key at most once in an object, got a duplicate key 'candidate'",
    );
  });

  it('a declared length over the cap (even 70 MB): 413 before a byte of the body is read, then the connection closes', async () => {
    const { port, url } = await serve({ maxBodyBytes: 4096 });
    const c = rawClient(port);
    await c.connected;
    c.socket.write(
      'POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 70000000\r\n\r\n{"samples": [',
    );
    const a = await c.answer;
    expect(a).toMatchObject({ status: 413, closed: true, headers: { connection: 'close' } });
    expect(a.json).toEqual({
      error: 'body: expected at most 4096 bytes (--max-body-bytes), got 70000000 bytes',
      field: 'body',
      expected: 'at most 4096 bytes (--max-body-bytes)',
      actual: '70000000 bytes',
    });
    expect((await metrics(url))['bodies']).toEqual({ heldBytes: 0, budgetBytes: 32 << 20 });
  });

  it('a client that sends a 65 MiB body anyway reads the 413 (it used to get a connection reset), over fetch and raw sockets', async () => {
    const { url, port } = await serve({ maxBodyBytes: 4096 });
    const size = 65 << 20;
    const r = await fetch(`${url}/score`, { method: 'POST', headers: JSON_HEADERS, body: ' '.repeat(size) });
    expect([r.status, ((await r.json()) as Record<string, unknown>)['error']]).toEqual([
      413,
      `body: expected at most 4096 bytes (--max-body-bytes), got ${size} bytes`,
    ]);
    const answers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = rawClient(port);
        await c.connected;
        c.socket.write(`POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${8 << 20}\r\n\r\n`);
        c.socket.write(' '.repeat(8 << 20));
        return c.answer;
      }),
    );
    for (const a of answers)
      expect([a.status, a.json?.['error']]).toEqual([413, `body: expected at most 4096 bytes (--max-body-bytes), got ${8 << 20} bytes`]);
  });

  it('a chunked body: 413 as soon as it passes the cap, then the connection closes', async () => {
    const { port, url } = await serve({ maxBodyBytes: 4096 });
    const c = rawClient(port);
    await c.connected;
    c.socket.write('POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
    const chunk = ' '.repeat(3000);
    c.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    c.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const a = await c.answer;
    expect(a).toMatchObject({ status: 413, closed: true });
    expect(a.json!['error']).toBe('body: expected at most 4096 bytes (--max-body-bytes), got more than 4096 bytes (a chunked body)');
    const m = await metrics(url);
    expect(m['score']).toMatchObject({ requests: 1, clientErrors: 1 });
    expect(m['bodies']['heldBytes']).toBe(0);
  });
});

describe('item 6: memory under concurrent and slow bodies', () => {
  it('a client dribbling its body is cut off with a 408 after --body-timeout-ms, and the budget is given back', async () => {
    const { port, url } = await serve({ bodyTimeoutMs: 200 });
    const c = rawClient(port);
    await c.connected;
    c.socket.write('POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"samples":');
    const a = await c.answer;
    expect(a).toMatchObject({ status: 408, closed: true, headers: { connection: 'close' } });
    expect(a.json).toEqual({
      error: 'body: expected the whole body within 200 ms (--body-timeout-ms), got 11 of 1000 bytes',
      field: 'body',
      expected: 'the whole body within 200 ms (--body-timeout-ms)',
      actual: '11 of 1000 bytes',
    });
    const m = await metrics(url);
    expect(m['score']).toMatchObject({ requests: 1, clientErrors: 1 });
    expect(m['bodies']['heldBytes']).toBe(0);
  });

  it('over the body budget: 503 with Retry-After before the body is read; the held bytes are given back', async () => {
    const { server, port, url } = await serve({ maxBodyBytes: 4096, bodyBudgetBytes: 4096 });
    const slow = rawClient(port);
    await slow.connected;
    const text = body(server, 1);
    slow.socket.write(
      `POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ` +
        `${text.length}\r\n\r\n${text.slice(0, 10)}`,
    );
    expect((await until(url, (m) => m['bodies']['heldBytes'] > 0))['bodies']).toEqual({ heldBytes: text.length, budgetBytes: 4096 });
    const c = rawClient(port);
    await c.connected;
    c.socket.write(`POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n\r\n`);
    const a = await c.answer;
    expect(a).toMatchObject({ status: 503, closed: true, headers: { 'retry-after': '1', connection: 'close' } });
    expect(a.json).toEqual({
      error: `server busy: request bodies of ${text.length} bytes held, 4000 more would pass the budget of 4096 bytes (--body-budget-bytes)`,
    });
    // a small one still fits, and the slow one completes
    expect((await post(url, '{}')).json['error']).toBe(
      'samples: expected an array of 1..1000 sample objects (--max-candidates 1000), got nothing (missing field)',
    );
    slow.socket.write(text.slice(10));
    expect(await slow.answer).toMatchObject({ status: 200 });
    const m = await metrics(url);
    expect(m['bodies']['heldBytes']).toBe(0);
    expect(m['score']).toMatchObject({ requests: 3, ok: 1, busy: 1, clientErrors: 1 });
  });

  it('a full queue: 503 before the body is read', async () => {
    const { server, port, url } = await serve({ maxInflight: 1, maxQueue: 0 });
    let release!: () => void;
    const gate = new Promise<void>((ok) => {
      release = ok;
    });
    const real = server.session.run.bind(server.session);
    vi.spyOn(server.session, 'run').mockImplementationOnce(async (feeds) => {
      await gate;
      return real(feeds);
    });
    const first = post(url, body(server, 2));
    await until(url, (m) => m['inflight'] === 1);
    const c = rawClient(port);
    await c.connected;
    // headers only: the answer cannot wait for a body that never comes
    c.socket.write('POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n');
    const a = await c.answer;
    expect(a).toMatchObject({
      status: 503,
      closed: true,
      headers: { 'retry-after': '1' },
      json: { error: 'server busy: 1 run(s) in flight and 0 queued (--max-inflight 1, --max-queue 0)' },
    });
    release();
    expect((await first).status).toBe(200);
  });

  it('connections over --max-connections are closed at accept, unread, and counted', async () => {
    const { server, port } = await serve({ maxConnections: 2 });
    // the server accepts in arrival order, so both are counted before the third is looked at
    const held = [rawClient(port), rawClient(port)];
    await Promise.all(held.map((h) => h.connected));
    const over = rawClient(port);
    over.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    expect(await over.answer).toEqual({ status: 0, headers: {}, json: undefined, closed: true });
    // read without HTTP: a /metrics request would itself be over the cap
    expect(server.metricsSnapshot().connections).toEqual({ open: 2, max: 2, dropped: 1 });
    for (const h of held) h.socket.destroy();
  });
});

describe('item 12: who may talk to the server', () => {
  it('with --token-file: every route needs the bearer token (401 with WWW-Authenticate, never echoing it)', async () => {
    const { server, url } = await serve({ token: 's3cret-token' });
    expect(server.health().auth).toBe('bearer');
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'nothing (no Authorization header)'],
      [{ authorization: 'Bearer wrong' }, 'a token that does not match'],
      [{ authorization: 'Basic czNjcmV0LXRva2Vu' }, "a 'Basic' credential"],
    ];
    for (const [headers, actual] of cases) {
      const r = await post(url, body(server), { ...JSON_HEADERS, ...headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      expect(r.json).toEqual({
        error: `authorization: expected a bearer token (Authorization: Bearer <the --token-file token>), got ${actual}`,
        field: 'authorization',
        expected: 'a bearer token (Authorization: Bearer <the --token-file token>)',
        actual,
      });
    }
    expect((await fetch(`${url}/health`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'bearer s3cret-token' } })).status).toBe(200);
    expect((await post(url, body(server), { ...JSON_HEADERS, authorization: 'Bearer s3cret-token' })).status).toBe(200);
  });

  it('a Host header outside the allow-list is a 403 (DNS rebinding); loopback names with any port pass', async () => {
    const { server, port, url } = await serve();
    const c = rawClient(port);
    await c.connected;
    c.socket.write('GET /health HTTP/1.1\r\nhost: evil.example:8080\r\nconnection: close\r\n\r\n');
    expect(await c.answer).toMatchObject({
      status: 403,
      json: {
        error: "host: expected one of localhost, 127.0.0.1, ::1 (--allowed-hosts), got 'evil.example:8080'",
        field: 'host',
        expected: 'one of localhost, 127.0.0.1, ::1 (--allowed-hosts)',
        actual: "'evil.example:8080'",
      },
    });
    for (const host of [`localhost:${port}`, 'LOCALHOST', `[::1]:${port}`]) {
      const ok = rawClient(port);
      await ok.connected;
      ok.socket.write(`GET /health HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
      expect((await ok.answer).status).toBe(200);
    }
    expect((await post(url, body(server))).status).toBe(200); // fetch sends Host: 127.0.0.1:<port>
    const any = await serve({ allowedHosts: ['*'] });
    const a = rawClient(any.port);
    await a.connected;
    a.socket.write('GET /health HTTP/1.1\r\nhost: scoring.internal\r\nconnection: close\r\n\r\n');
    expect((await a.answer).status).toBe(200);
  });

  it('a POST body that is not application/json is a 415', async () => {
    const { server, url } = await serve();
    const text = body(server);
    const plain = await post(url, text, { 'content-type': 'text/plain' });
    expect(plain).toMatchObject({
      status: 415,
      json: { error: "content-type: expected application/json, got 'text/plain'", field: 'content-type' },
    });
    const none = await fetch(`${url}/score`, { method: 'POST', body: new Blob([text]) });
    expect([none.status, ((await none.json()) as Record<string, unknown>)['error']]).toEqual([
      415,
      'content-type: expected application/json, got nothing (no Content-Type header)',
    ]);
    expect((await post(url, text, { 'content-type': 'Application/JSON; charset=utf-8' })).status).toBe(200);
  });

  it('binding a non-loopback address needs a token or an explicit --insecure', async () => {
    const message =
      '--host 0.0.0.0: expected a loopback address (127.0.0.1, ::1, localhost) unless --token-file is given (bearer-token auth) or ' +
      '--insecure says so explicitly, got a non-loopback address without either';
    expect(() => checkBind('0.0.0.0', false, false)).toThrow(new SecurityError(message));
    for (const loopback of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(() => checkBind(loopback, false, false)).not.toThrow();
    expect(() => checkBind('0.0.0.0', true, false)).not.toThrow();
    expect(() => checkBind('0.0.0.0', false, true)).not.toThrow();
    const server = await ScoringServer.open({ modelDir: dir, provider: 'cpu' });
    open.push(server);
    await expect(server.listen(0, '0.0.0.0')).rejects.toThrow(message);
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'packages/server/src/cli.ts', '--model-dir', dir, '--port', '0', ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const r = cli(['--host', '0.0.0.0']);
    expect([r.status, r.stderr.split('\n')[0]]).toEqual([2, `lctr serve: ${message}`]);
    const empty = join(base, 'empty-token');
    writeFileSync(empty, '\n');
    const e = cli(['--token-file', empty]);
    expect([e.status, e.stderr.split('\n')[0]]).toEqual([
      2,
      `lctr serve: --token-file ${empty}: expected a non-empty bearer token, got an empty file`,
    ]);
  });

  it('/health shows no absolute filesystem path', async () => {
    const { url } = await serve();
    const text = await (await fetch(`${url}/health`)).text();
    expect(text).not.toContain(base);
    expect(text).not.toMatch(/"\/[a-z]/i);
    expect(Object.keys(JSON.parse(text) as object)).not.toContain('dir');
    // a provider note naming a library that failed to load keeps only the file name
    const { server } = await serve();
    Object.defineProperty(server.session, 'providerNotes', {
      value: ['cuda skipped: /usr/lib/x86_64-linux-gnu/libcudnn.so.8: cannot open shared object file (see /opt/ort/lib)'],
    });
    expect(server.health().providerNotes).toEqual(['cuda skipped: libcudnn.so.8: cannot open shared object file (see lib)']);
  });
});
