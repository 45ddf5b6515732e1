/**
 * The scoring server: one model directory, ONE OnnxSession opened at start and reused by every
 * request (creating sessions is slow and leaks), node:http in front.
 *
 *   POST /score    score one request (request.ts: per-request or batch layout) -> { scores, model, provider }
 *   GET  /health   model, provider (the one that really runs, with the reasons for any fallback), inputs
 *   GET  /metrics  request counts, errors, latency p50/p99, memory (metrics.ts)
 *
 * Every request is checked against the graph's feature schema before it runs (request.ts), so bad
 * input is a 400 that names the field, never an ONNX Runtime error. Runs go through a Limiter: a
 * bounded queue in front of the session. Note: onnxruntime-node 1.30 runs a session synchronously
 * on the JS thread (its `run` is the native call inside a setImmediate), so runs of one session do
 * not overlap whatever the queue allows; parallelism comes from ONNX Runtime's intra-op threads.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HostTensor, InputError, formatShape } from '@lctr/spec';
import { OnnxSession, type Provider, type ProviderRequest } from '@lctr/backend-onnx';
import { type ModelDir, loadModelDir } from './model-dir.ts';
import { type FeatureSpec, type IdRange, type Layout, type RequestSchema, requestSchemaOf } from './schema.ts';
import { RequestError, parseScoreRequest } from './request.ts';
import { BusyError, Limiter } from './limiter.ts';
import { type MetricsSnapshot, ServerMetrics } from './metrics.ts';

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  provider: 'auto' as ProviderRequest,
  maxCandidates: 1000,
  maxBodyBytes: 1 << 20,
  maxInflight: 1,
  maxQueue: 1024,
  intraOpNumThreads: 1,
} as const;

export interface ServerOptions {
  /** a model directory written by the exporter (<repository>/<name>) */
  readonly modelDir: string;
  /** ONNX Runtime provider: 'auto' (CUDA when it really loads, else CPU), 'cpu' or 'cuda' */
  readonly provider?: ProviderRequest;
  /** most candidates (batch layout: samples) in one request */
  readonly maxCandidates?: number;
  /** largest request body accepted, in bytes */
  readonly maxBodyBytes?: number;
  /** runs at once (see the file comment: one session runs one at a time in onnxruntime-node 1.30) */
  readonly maxInflight?: number;
  /** requests waiting for a run before the server answers 503 */
  readonly maxQueue?: number;
  /**
   * ONNX Runtime intra-op threads (default 1; 0: ONNX Runtime's own default, one per core). Runs of
   * one session are serial anyway, and on a small graph a spinning pool costs more than it gives:
   * 1 thread served 289 vs 150 requests/s (lcn, C = 100) on a busy 2-core machine.
   */
  readonly intraOpNumThreads?: number;
  readonly log?: (line: string) => void;
}

export interface HealthInput {
  readonly name: string;
  readonly side: FeatureSpec['side'];
  /** where the value goes in a request: 'user.profile', 'candidates[].candidate', 'samples[].history' */
  readonly field: string;
  readonly dtype: string;
  /** the graph input's shape */
  readonly shape: readonly (number | string)[];
  /** the value's shape in a request (the graph shape without its leading dim) */
  readonly valueShape: readonly (number | string)[];
  /** embedding tables the values index: valid ids are 0..rows-1 (of one column of the last axis, when `column` is set) */
  readonly ids: readonly IdRange[];
  /** true: the server fills it (a candidate-set model's candidate mask), the request does not carry it */
  readonly filled?: boolean;
}

export interface HealthReport {
  readonly status: 'ok';
  readonly model: string;
  readonly graph: string;
  readonly version: number;
  readonly dir: string;
  readonly layout: Layout;
  readonly provider: Provider;
  readonly providerNotes: readonly string[];
  readonly output: string;
  readonly inputs: readonly HealthInput[];
  readonly limits: { readonly maxCandidates: number; readonly maxBodyBytes: number; readonly maxInflight: number; readonly maxQueue: number };
  /** ONNX Runtime intra-op threads; null: ONNX Runtime's default */
  readonly intraOpNumThreads: number | null;
}

export interface ScoreResponse {
  readonly scores: number[];
  readonly model: string;
  readonly provider: Provider;
}

/** The client went away before its request body ended: nothing to answer. */
class ClientGoneError extends Error {
  constructor() { super('the client closed the connection before the request body ended'); this.name = 'ClientGoneError'; }
}

const ROUTES: Readonly<Record<string, string>> = { '/score': 'POST', '/health': 'GET', '/metrics': 'GET' };

function positiveInt(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

const fieldOf = (f: FeatureSpec) => (f.side === 'user' ? `user.${f.name}` : f.side === 'candidate' ? `candidates[].${f.name}` : `samples[].${f.name}`);

export class ScoringServer {
  readonly metrics = new ServerMetrics();
  private readonly limiter: Limiter;
  private http: Server | undefined;

  private constructor(
    readonly model: ModelDir,
    readonly schema: RequestSchema,
    readonly session: OnnxSession,
    private readonly limits: HealthReport['limits'],
    private readonly threads: number | null,
    private readonly log: (line: string) => void,
  ) {
    this.limiter = new Limiter(limits.maxInflight, limits.maxQueue);
  }

  /** Load the model directory and open its one session; logs the provider that really runs. */
  static async open(opts: ServerOptions): Promise<ScoringServer> {
    const log = opts.log ?? (() => {});
    const limits = {
      maxCandidates: positiveInt('maxCandidates', opts.maxCandidates ?? DEFAULTS.maxCandidates),
      maxBodyBytes: positiveInt('maxBodyBytes', opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes),
      maxInflight: positiveInt('maxInflight', opts.maxInflight ?? DEFAULTS.maxInflight),
      maxQueue: positiveInt('maxQueue', opts.maxQueue ?? DEFAULTS.maxQueue, 0),
    };
    const threads = positiveInt('intraOpNumThreads', opts.intraOpNumThreads ?? DEFAULTS.intraOpNumThreads, 0) || null;
    const model = loadModelDir(opts.modelDir);
    const schema = requestSchemaOf(model.graph);
    const session = await OnnxSession.create(model.onnx, model.graph, {
      provider: opts.provider ?? DEFAULTS.provider,
      ...(threads === null ? {} : { intraOpNumThreads: threads }),
    });
    const server = new ScoringServer(model, schema, session, limits, threads, log);
    const names = (side: FeatureSpec['side']) => schema.features.filter((f) => f.side === side).map((f) => f.name).join(', ');
    const inputs = schema.layout !== 'batch' ? `user: ${names('user')}; candidates: ${names('candidate')}` : `samples: ${names('sample')}`;
    const words = { request: 'per-request', candidateSet: 'candidate-set', batch: 'batch' }[schema.layout];
    log(`model '${model.name}' (graph '${model.graph.name}', version ${model.version}, ${words} layout; ${inputs}; scores from '${schema.output}') from ${model.dir}`);
    log(`ONNX Runtime provider: ${session.provider}${session.providerNotes.length ? ` (${session.providerNotes.join('; ')})` : ''}; intra-op threads: ${threads ?? 'ONNX Runtime default'}`);
    return server;
  }

  health(): HealthReport {
    return {
      status: 'ok', model: this.model.name, graph: this.model.graph.name, version: this.model.version, dir: this.model.dir,
      layout: this.schema.layout, provider: this.session.provider, providerNotes: this.session.providerNotes, output: this.schema.output,
      inputs: this.schema.features.map((f) => ({
        name: f.name, side: f.side, field: fieldOf(f), dtype: f.dtype, shape: [...f.graphShape], valueShape: [...f.shape], ids: f.ids, ...(f.filled ? { filled: true } : {}),
      })),
      limits: this.limits,
      intraOpNumThreads: this.threads,
    };
  }

  metricsSnapshot(): MetricsSnapshot {
    return this.metrics.snapshot(this.limiter);
  }

  /** Score a decoded request body (no HTTP): throws RequestError (bad input), BusyError (queue full) or the run's error. */
  async score(body: unknown): Promise<ScoreResponse> {
    const { feeds, count } = parseScoreRequest(body, this.schema, this.limits, this.model.name);
    const out = await this.limiter.run(async () => {
      try {
        return await this.session.run(feeds);
      } catch (e) {
        // checkFeeds (inside run) still refuses what the JSON checks cannot see (e.g. a top-k k above the candidate count)
        if (e instanceof InputError) throw new RequestError('body', `inputs graph '${this.model.graph.name}' accepts`, e.message);
        throw e;
      }
    });
    const scores = (out as Record<string, HostTensor>)[this.schema.output]!;
    if (scores.data.length !== count) throw new Error(`output '${this.schema.output}' has ${scores.data.length} values for ${count} ${this.schema.layout === 'batch' ? 'samples' : 'candidates'} (shape ${formatShape(scores.shape)})`);
    this.metrics.candidates += count;
    return { scores: Array.from(scores.data as Float32Array), model: this.model.name, provider: this.session.provider };
  }

  /** Start listening (port 0: an ephemeral port); resolves with the address really bound. */
  async listen(port: number = DEFAULTS.port, host: string = DEFAULTS.host): Promise<{ host: string; port: number; url: string }> {
    if (this.http) throw new Error('the server is already listening');
    const http = createServer((req, res) => { void this.handle(req, res); });
    this.http = http;
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => { http.off('error', reject); resolve(); });
      });
    } catch (e) {
      this.http = undefined;
      throw e;
    }
    const a = http.address() as AddressInfo;
    const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${shown}:${a.port}` };
  }

  /** Stop listening, drop idle keep-alive connections, release the session. */
  async close(): Promise<void> {
    const http = this.http;
    this.http = undefined;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      await closed;
    }
    await this.session.release();
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    this.metrics.requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    const isScore = path === '/score';
    if (isScore) this.metrics.scoreRequests++;
    const fail = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.metrics.errors++;
      if (isScore) {
        if (status === 503) this.metrics.scoreBusy++;
        else if (status >= 500) this.metrics.scoreServerErrors++;
        else this.metrics.scoreClientErrors++;
      }
      this.send(res, status, body, headers);
    };
    try {
      const method = ROUTES[path];
      if (method === undefined) {
        req.resume();
        return fail(404, new RequestError('path', `one of ${Object.entries(ROUTES).map(([p, m]) => `${m} ${p}`).join(', ')}`, `'${path}'`, 404).toJSON());
      }
      if (req.method !== method) {
        req.resume();
        return fail(405, new RequestError('method', `${method} for ${path}`, String(req.method), 405).toJSON(), { allow: method });
      }
      if (path === '/health') return this.send(res, 200, this.health());
      if (path === '/metrics') return this.send(res, 200, this.metricsSnapshot());
      const text = await this.readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw new RequestError('body', 'a JSON object', `invalid JSON (${(e as Error).message})`);
      }
      const result = await this.score(body);
      this.send(res, 200, result);
      this.metrics.scoreOk++;
      this.metrics.recordLatency(performance.now() - t0);
    } catch (e) {
      if (e instanceof RequestError) return fail(e.status, e.toJSON());
      if (e instanceof BusyError) return fail(503, { error: e.message }, { 'retry-after': '1' });
      if (e instanceof ClientGoneError || req.destroyed) { this.metrics.errors++; if (isScore) this.metrics.scoreClientErrors++; return; }
      this.log(`error: ${isScore ? 'scoring' : path} failed: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) fail(500, { error: `scoring failed: ${(e as Error).message}` });
      else res.destroy();
    }
  }

  /** The body as text; a body over the limit is read to its end and dropped, then refused with 413. */
  private readBody(req: IncomingMessage): Promise<string> {
    const limit = this.limits.maxBodyBytes;
    // past this much, stop draining and cut the connection
    const hardLimit = Math.max(limit * 16, 64 << 20);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= limit) chunks.push(c);
        else if (size > hardLimit) req.destroy();
      });
      req.on('end', () => {
        ended = true;
        if (size > limit) reject(new RequestError('body', `at most ${limit} bytes (--max-body-bytes)`, `${size} bytes`, 413));
        else resolve(Buffer.concat(chunks, size).toString('utf8'));
      });
      req.on('error', reject);
      req.on('close', () => { if (!ended) reject(new ClientGoneError()); });
    });
  }
}
