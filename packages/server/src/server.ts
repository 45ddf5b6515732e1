/**
 * The scoring server: one model directory, ONE OnnxSession opened at start and reused by every
 * request (creating sessions is slow and leaks), node:http in front.
 *
 *   POST /score         score one request (per-request or batch layout) -> { scores, model, provider }
 *   GET  /health        model, provider (the one that really runs, with the reasons for any fallback), inputs
 *   GET  /metrics       Prometheus text (prometheus.ts): requests and errors by route and status, latency, queue, memory
 *   GET  /metrics.json  request counts, errors, latency p50/p99, memory (metrics.ts)
 *   /v2/...             the Open Inference Protocol (KServe v2, Triton's): health, model metadata, infer (v2.ts)
 *
 * Every request is checked against the graph's feature schema before it runs (spec's serving.ts), so bad
 * input is a 400 that names the field, never an ONNX Runtime error. Runs go through a Limiter: a
 * bounded queue in front of the session. Note: onnxruntime-node 1.30 runs a session synchronously
 * on the JS thread (its `run` is the native call inside a setImmediate), so runs of one session do
 * not overlap whatever the queue allows; parallelism comes from ONNX Runtime's intra-op threads.
 *
 * Careless and hostile clients (issue 17): every /score request is checked in this order, each
 * refusal BEFORE the body is read: Host allow-list (403), bearer token (401), route (404, 405),
 * Content-Type (415), declared length (413), queue full (503), body budget (503); then the body is
 * read with a cap (413) and a timeout (408), parsed (400, duplicate keys included) and scored; a
 * non-finite score is a 500, never a 200 with nulls. Over --max-connections, Node closes a new
 * connection at accept.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  type FeatureSpec,
  type HostTensor,
  type IdRange,
  type RequestSchema,
  type ServingLayout,
  IdOutOfRangeError,
  InputError,
  RequestError,
  formatShape,
  parseScoreRequest,
  parseTensorRequest,
  requestSchemaOf,
  serializeGraph,
} from '@lctr/spec';
import { OnnxSession, type Provider, type ProviderRequest } from '@lctr/backend-onnx';
import { type ModelDir, loadModelDir } from './model-dir.ts';
import { BusyError, Limiter } from './limiter.ts';
import { type MetricsSnapshot, ServerMetrics } from './metrics.ts';
import { PromMetrics } from './prometheus.ts';
import { type V2InferResponse, type V2ModelMetadata, readV2Request, v2Metadata, v2Output } from './v2.ts';
import { BodyBudget, ClientGoneError, bodyTooLarge, declaredLength, readBody } from './body.ts';
import { checkDuplicateKeys } from './json-keys.ts';
import { type RawScoring, rawScoring } from './raw.ts';
import { type ExplainResponse, Explainer, explainPageHtml, noExplainError } from './explain.ts';
import { exampleRequest } from './example.ts';
import { SessionPool } from './pool.ts';
import { TokenAuth, checkBind, checkHostHeader, checkJsonContentType, defaultAllowedHosts, isLoopbackHost } from './security.ts';

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  provider: 'auto' as ProviderRequest,
  maxCandidates: 1000,
  maxBodyBytes: 1 << 20,
  maxInflight: 1,
  maxQueue: 1024,
  intraOpNumThreads: 1,
  /** 32 bodies of the default 1 MiB cap, or about 3,200 of the default LCN's 10 KiB requests */
  bodyBudgetBytes: 32 << 20,
  bodyTimeoutMs: 10_000,
  maxConnections: 1024,
  /** 1: one session on the main thread; N > 1: N sessions in worker threads (pool.ts; the CLI's default is os.availableParallelism()) */
  workers: 1,
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
  /** request-body bytes held at once over all requests (body.ts); at least maxBodyBytes */
  readonly bodyBudgetBytes?: number;
  /** a body not received within this many ms after its headers gets 408 and the connection closed */
  readonly bodyTimeoutMs?: number;
  /** open TCP connections; over it Node closes a new connection at accept */
  readonly maxConnections?: number;
  /**
   * ONNX Runtime sessions (pool.ts): 1 (default) runs the one session on the main thread; N > 1 runs N
   * sessions in worker threads, so N requests run at once (maxInflight defaults to N then).
   */
  readonly workers?: number;
  /** bearer token every request must carry (`Authorization: Bearer <token>`); none: no auth */
  readonly token?: string;
  /** allow listening on a non-loopback address without a token */
  readonly insecure?: boolean;
  /** Host header values accepted ('*': any); default: localhost, 127.0.0.1, ::1 and the bound address */
  readonly allowedHosts?: readonly string[];
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
  readonly layout: ServingLayout;
  readonly provider: Provider;
  readonly providerNotes: readonly string[];
  readonly output: string;
  readonly inputs: readonly HealthInput[];
  readonly limits: {
    readonly maxCandidates: number;
    readonly maxBodyBytes: number;
    readonly maxInflight: number;
    readonly maxQueue: number;
    readonly bodyBudgetBytes: number;
    readonly bodyTimeoutMs: number;
    readonly maxConnections: number;
  };
  /** 'bearer': every request needs the token */
  readonly auth: 'bearer' | 'none';
  /** what the export's report.json says (a failed export is never served); null: no report.json */
  readonly exportChecks: { readonly parity: true; readonly checker: true | null } | null;
  /** ONNX Runtime intra-op threads; null: ONNX Runtime's default */
  readonly intraOpNumThreads: number | null;
  /** scoring sessions: 1 on the main thread, or that many worker threads (pool.ts) */
  readonly workers: number;
}

export interface ScoreResponse {
  readonly scores: number[];
  readonly model: string;
  readonly provider: Provider;
  /** raw requests: ids the vocabulary lacks per feature, and history events left out (raw.ts) */
  readonly raw?: { readonly unknown: Readonly<Record<string, number>>; readonly dropped: number };
}

/** A run whose output holds a NaN or an infinity: a 500, never a 200 with nulls (JSON has no NaN). */
export class NonFiniteScoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteScoreError';
  }
}

/** Absolute paths in a provider note (a CUDA library that failed to load) cut to their last part: /health shows no path. */
const withoutPaths = (note: string) => note.replace(/(?<![\w.])\/(?:[^\s/'"():;,]+\/)+([^\s/'"():;,]+)/g, '$1');

type RouteKind =
  | 'score'
  | 'explain'
  | 'explainPage'
  | 'explainExample'
  | 'health'
  | 'metrics'
  | 'metricsJson'
  | 'v2Live'
  | 'v2Ready'
  | 'v2Model'
  | 'v2ModelReady'
  | 'v2Infer';

interface Route {
  readonly kind: RouteKind;
  readonly method: 'GET' | 'POST';
  /** the path pattern: the `route` label of /metrics */
  readonly label: string;
}

const ROUTES: readonly Route[] = [
  { kind: 'score', method: 'POST', label: '/score' },
  { kind: 'explain', method: 'POST', label: '/explain' },
  { kind: 'explainPage', method: 'GET', label: '/explain.html' },
  { kind: 'explainExample', method: 'GET', label: '/explain/example' },
  { kind: 'health', method: 'GET', label: '/health' },
  { kind: 'metrics', method: 'GET', label: '/metrics' },
  { kind: 'metricsJson', method: 'GET', label: '/metrics.json' },
  { kind: 'v2Live', method: 'GET', label: '/v2/health/live' },
  { kind: 'v2Ready', method: 'GET', label: '/v2/health/ready' },
  { kind: 'v2Model', method: 'GET', label: '/v2/models/{name}' },
  { kind: 'v2ModelReady', method: 'GET', label: '/v2/models/{name}/ready' },
  { kind: 'v2Infer', method: 'POST', label: '/v2/models/{name}/infer' },
];
const FIXED = new Map(ROUTES.filter((r) => !r.label.includes('{')).map((r) => [r.label, r]));
const V2_MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

function positiveInt(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

const fieldOf = (f: FeatureSpec) =>
  f.side === 'user' ? `user.${f.name}` : f.side === 'candidate' ? `candidates[].${f.name}` : `samples[].${f.name}`;

export class ScoringServer {
  readonly metrics = new ServerMetrics();
  readonly prometheus: PromMetrics;
  private readonly limiter: Limiter;
  private readonly budget: BodyBudget;
  private allowedHosts: readonly string[] = [];
  private http: Server | undefined;
  private readonly raw: RawScoring | undefined;
  /** the explain variant's session (explain.ts); undefined: the model has no pyramid */
  private explainer: Explainer | undefined;
  /** the worker-thread sessions (pool.ts) that score when --workers > 1; undefined: `session` scores */
  private pool: SessionPool | undefined;

  private constructor(
    readonly model: ModelDir,
    readonly schema: RequestSchema,
    readonly session: OnnxSession,
    private readonly limits: HealthReport['limits'],
    private readonly threads: number | null,
    private readonly log: (line: string) => void,
    private readonly auth: TokenAuth | undefined,
    private readonly access: Pick<ServerOptions, 'insecure' | 'allowedHosts'>,
  ) {
    this.limiter = new Limiter(limits.maxInflight, limits.maxQueue);
    this.raw = model.features ? rawScoring(model.features, schema) : undefined;
    this.budget = new BodyBudget(limits.bodyBudgetBytes);
    this.prometheus = new PromMetrics({
      inflight: () => this.limiter.inflight,
      queued: () => this.limiter.queued,
      connections: () => this.metrics.connectionsOpen,
      heldBodyBytes: () => this.budget.heldBytes,
    });
  }

  /** Load the model directory and open its one session; logs the provider that really runs. */
  static async open(opts: ServerOptions): Promise<ScoringServer> {
    const log = opts.log ?? (() => {});
    const limits = {
      maxCandidates: positiveInt('maxCandidates', opts.maxCandidates ?? DEFAULTS.maxCandidates),
      maxBodyBytes: positiveInt('maxBodyBytes', opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes),
      maxInflight: positiveInt('maxInflight', opts.maxInflight ?? Math.max(DEFAULTS.maxInflight, opts.workers ?? DEFAULTS.workers)),
      maxQueue: positiveInt('maxQueue', opts.maxQueue ?? DEFAULTS.maxQueue, 0),
      bodyBudgetBytes: positiveInt('bodyBudgetBytes', opts.bodyBudgetBytes ?? DEFAULTS.bodyBudgetBytes),
      bodyTimeoutMs: positiveInt('bodyTimeoutMs', opts.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs),
      maxConnections: positiveInt('maxConnections', opts.maxConnections ?? DEFAULTS.maxConnections),
    };
    // a budget below the per-body cap would refuse a body the cap allows, forever
    if (limits.bodyBudgetBytes < limits.maxBodyBytes) {
      throw new RangeError(
        `bodyBudgetBytes (--body-budget-bytes) must be at least maxBodyBytes (--max-body-bytes, ${limits.maxBodyBytes}), got ` +
          `${limits.bodyBudgetBytes}`,
      );
    }
    // an empty token fails here, before the session opens
    const auth = opts.token === undefined ? undefined : new TokenAuth(opts.token);
    const access = { insecure: opts.insecure ?? false, ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}) };
    const workers = positiveInt('workers', opts.workers ?? DEFAULTS.workers);
    const threads = positiveInt('intraOpNumThreads', opts.intraOpNumThreads ?? DEFAULTS.intraOpNumThreads, 0) || null;
    const model = loadModelDir(opts.modelDir);
    const schema = requestSchemaOf(model.graph);
    const session = await OnnxSession.create(model.onnx, model.graph, {
      provider: opts.provider ?? DEFAULTS.provider,
      ...(threads === null ? {} : { intraOpNumThreads: threads }),
    });
    const server = new ScoringServer(model, schema, session, limits, threads, log, auth, access);
    server.explainer = await Explainer.open(model, {
      provider: opts.provider ?? DEFAULTS.provider,
      ...(threads === null ? {} : { intraOpNumThreads: threads }),
    });
    if (workers > 1) {
      // the workers open the provider the main session really got (no second fallback decision)
      try {
        server.pool = await SessionPool.open(workers, {
          onnxPath: model.onnxPath,
          graphJson: serializeGraph(model.graph),
          provider: session.provider,
          ...(threads === null ? {} : { intraOpNumThreads: threads }),
        });
      } catch (e) {
        await server.close();
        throw e;
      }
      log(
        `scoring on ${workers} ONNX Runtime sessions in worker threads (--workers ${workers}), at most ${limits.maxInflight} runs at once`,
      );
    }
    if (server.explainer)
      log(`explain variant (explain/): levels ${JSON.stringify(server.explainer.levels)}; POST /explain, page GET /explain.html`);
    const names = (side: FeatureSpec['side']) =>
      schema.features
        .filter((f) => f.side === side)
        .map((f) => f.name)
        .join(', ');
    const inputs = schema.layout !== 'batch' ? `user: ${names('user')}; candidates: ${names('candidate')}` : `samples: ${names('sample')}`;
    const words = { request: 'per-request', candidateSet: 'candidate-set', batch: 'batch' }[schema.layout];
    log(
      `model '${model.name}' (graph '${model.graph.name}', version ${model.version}, ${words} layout; ${inputs}; scores from ` +
        `'${schema.output}') from ${model.dir}`,
    );
    log(
      `export checks (report.json): ` +
        `${model.exportChecks === null ? 'none (no report.json)' : `parity ok, ONNX checker ${model.exportChecks.checker ? 'ok' : 'not run'}`}`,
    );
    log(
      `ONNX Runtime provider: ${session.provider}${session.providerNotes.length ? ` (${session.providerNotes.join('; ')})` : ''}; ` +
        `intra-op threads: ${threads ?? 'ONNX Runtime default'}`,
    );
    return server;
  }

  health(): HealthReport {
    return {
      status: 'ok',
      model: this.model.name,
      graph: this.model.graph.name,
      version: this.model.version,
      layout: this.schema.layout,
      provider: this.session.provider,
      providerNotes: this.session.providerNotes.map(withoutPaths),
      output: this.schema.output,
      inputs: this.schema.features.map((f) => ({
        name: f.name,
        side: f.side,
        field: fieldOf(f),
        dtype: f.dtype,
        shape: [...f.graphShape],
        valueShape: [...f.shape],
        ids: f.ids,
        ...(f.filled ? { filled: true } : {}),
      })),
      limits: this.limits,
      auth: this.auth ? 'bearer' : 'none',
      exportChecks: this.model.exportChecks,
      intraOpNumThreads: this.threads,
      workers: this.pool?.size ?? 1,
    };
  }

  metricsSnapshot(): MetricsSnapshot {
    return this.metrics.snapshot(
      this.limiter,
      { heldBytes: this.budget.heldBytes, budgetBytes: this.budget.budgetBytes },
      this.limits.maxConnections,
    );
  }

  /** Score a decoded request body (no HTTP): throws RequestError (bad input), BusyError (queue full) or the run's error. */
  async score(body: unknown): Promise<ScoreResponse> {
    // a raw request (the log's own ids) becomes the pre-mapped request, then takes the same checks
    let raw: ScoreResponse['raw'];
    if (body !== null && typeof body === 'object' && !Array.isArray(body) && Object.hasOwn(body, 'raw')) {
      if (!this.raw)
        throw new RequestError(
          'raw',
          `a model directory exported with its feature pipeline (${'features.json'}: training data read through a dataset config)`,
          `model '${this.model.name}' without one`,
        );
      const mapped = this.raw.map(body as Record<string, unknown>);
      for (const [feature, n] of Object.entries(mapped.unknown)) this.prometheus.rawUnknown.inc({ feature }, n);
      if (mapped.dropped) this.prometheus.rawDropped.inc(mapped.dropped);
      body = mapped.body;
      raw = { unknown: mapped.unknown, dropped: mapped.dropped };
    }
    const { feeds, count } = parseScoreRequest(body, this.schema, this.limits, this.model.name);
    const out = await this.run(feeds, count, [this.schema.output]);
    this.metrics.candidates += count;
    this.prometheus.candidates.inc({ route: '/score' }, count);
    return {
      scores: Array.from(out[this.schema.output]!.data as Float32Array),
      model: this.model.name,
      provider: this.session.provider,
      ...(raw ? { raw } : {}),
    };
  }

  /** What the pyramid picked per candidate for a decoded /score body (explain.ts); 404 RequestError on a model without one. */
  async explain(body: unknown): Promise<ExplainResponse> {
    const explainer = this.explainer;
    if (!explainer) throw noExplainError(this.model);
    const { feeds, count } = parseScoreRequest(body, this.schema, this.limits, this.model.name);
    const out = (await this.limiter.run(async () => {
      try {
        return await explainer.session.run(feeds);
      } catch (e) {
        // as run(): what checkFeeds refuses is the request's fault
        if (e instanceof InputError) throw new RequestError('body', `inputs graph '${explainer.graph.name}' accepts`, e.message);
        throw e;
      }
    })) as Record<string, HostTensor>;
    const bad = (out['prob']!.data as Float32Array).findIndex((v) => !Number.isFinite(v));
    if (bad !== -1)
      throw new NonFiniteScoreError(
        `output 'prob' of the explain variant is ${out['prob']!.data[bad]} for candidate ${bad} of ${count}; a non-finite score is never ` +
          `served`,
      );
    return explainer.answer(feeds, out, this.model.name);
  }

  /** The Open Inference Protocol's model metadata (v2.ts): names, datatypes and shapes of config.pbtxt. */
  v2Metadata(): V2ModelMetadata {
    return v2Metadata(this.model.graph, this.schema, this.model.name, this.model.version);
  }

  /** Run a decoded Open Inference Protocol infer body (no HTTP); throws as score() does. */
  async infer(body: unknown): Promise<V2InferResponse> {
    const request = readV2Request(body, this.schema, this.model.graph);
    const { feeds, count } = parseTensorRequest(request.inputs, this.schema, this.limits);
    const out = await this.run(feeds, count, request.outputs);
    this.prometheus.candidates.inc({ route: '/v2/models/{name}/infer' }, count);
    return {
      model_name: this.model.name,
      model_version: String(this.model.version),
      ...(request.id === undefined ? {} : { id: request.id }),
      outputs: request.outputs.map((o) => v2Output(this.model.graph, o, out[o]!, this.schema.layout)),
    };
  }

  /** One run through the queue; the scoring output must hold one value per candidate, every output returned must be finite. */
  private async run(feeds: Record<string, HostTensor>, count: number, outputs: readonly string[]): Promise<Record<string, HostTensor>> {
    const out = (await this.limiter.run(async () => {
      try {
        return await (this.pool ? this.pool.run(feeds) : this.session.run(feeds));
      } catch (e) {
        // checkFeeds (inside run) still refuses what the JSON checks cannot see (e.g. a top-k k above the candidate count)
        if (e instanceof InputError) throw new RequestError('body', `inputs graph '${this.model.graph.name}' accepts`, e.message);
        throw e;
      }
    })) as Record<string, HostTensor>;
    const scores = out[this.schema.output]!;
    const what = this.schema.layout === 'batch' ? 'sample' : 'candidate';
    if (scores.data.length !== count)
      throw new Error(
        `output '${this.schema.output}' has ${scores.data.length} values for ${count} ${what}s (shape ${formatShape(scores.shape)})`,
      );
    for (const name of outputs) {
      const t = out[name]!;
      if (t.dtype !== 'float32') continue;
      const values = t.data as Float32Array;
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad === -1) continue;
      this.metrics.scoreNonFinite++;
      this.prometheus.nonFinite.inc();
      const at = values.length === count ? `${what} ${bad} of ${count}` : `value ${bad} of ${values.length}`;
      throw new NonFiniteScoreError(`output '${name}' is ${values[bad]} for ${at}; a non-finite score is never served`);
    }
    return out;
  }

  /** Start listening (port 0: an ephemeral port); resolves with the address really bound. */
  async listen(port: number = DEFAULTS.port, host: string = DEFAULTS.host): Promise<{ host: string; port: number; url: string }> {
    if (this.http) throw new Error('the server is already listening');
    checkBind(host, this.auth !== undefined, this.access.insecure ?? false);
    if (!isLoopbackHost(host) && !this.auth)
      this.log(`warning: listening on ${host} without a token (--insecure): anyone who can reach it can use it`);
    this.allowedHosts = this.access.allowedHosts ?? defaultAllowedHosts(host);
    const timeout = this.limits.bodyTimeoutMs;
    // headers get the body's timeout too (a client dribbling its headers is cut off by Node with a
    // 408); requestTimeout is only a backstop behind readBody's own timer, which answers in JSON
    const http = createServer(
      { headersTimeout: timeout, requestTimeout: 2 * timeout, connectionsCheckingInterval: Math.min(30_000, timeout) },
      (req, res) => {
        void this.handle(req, res);
      },
    );
    http.maxConnections = this.limits.maxConnections;
    http.on('connection', (socket: Socket) => {
      this.metrics.connectionsOpen++;
      socket.once('close', () => {
        this.metrics.connectionsOpen--;
      });
    });
    http.on('drop', () => {
      this.metrics.connectionsDropped++;
      this.prometheus.dropped.inc();
    });
    this.http = http;
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
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
    await this.explainer?.release();
    await this.pool?.close();
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** The route of `path`; a 404 for an unknown path, or a v2 path naming another model or version (with its route, for the label). */
  private routeOf(path: string): { route?: Route; error?: RequestError } {
    const fixed = FIXED.get(path);
    if (fixed) return { route: fixed };
    const m = V2_MODEL_PATH.exec(path);
    if (!m) {
      // the explain routes are offered only where there is something to explain
      const all = ROUTES.filter((r) => this.explainer || !r.kind.startsWith('explain'))
        .map((r) => `${r.method} ${r.label.replace('{name}', this.model.name)}`)
        .join(', ');
      return { error: new RequestError('path', `one of ${all}`, `'${path}'`, 404) };
    }
    const kind: RouteKind = m[3] === '/ready' ? 'v2ModelReady' : m[3] === '/infer' ? 'v2Infer' : 'v2Model';
    const route = ROUTES.find((r) => r.kind === kind)!;
    let name = m[1]!;
    try {
      name = decodeURIComponent(name);
    } catch {
      /* shown as sent */
    }
    if (name !== this.model.name)
      return { route, error: new RequestError('model', `'${this.model.name}' (the model this server serves)`, `'${name}'`, 404) };
    if (m[2] !== undefined && m[2] !== String(this.model.version)) {
      return {
        route,
        error: new RequestError('version', `${this.model.version} (the version of model '${name}' served)`, `'${m[2]}'`, 404),
      };
    }
    return { route };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    this.metrics.requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    const { route, error: notFound } = this.routeOf(path);
    const label = route?.label ?? 'other';
    const isScore = route?.kind === 'score';
    // the Open Inference Protocol's error body is { error } alone
    const v2 = path.startsWith('/v2/');
    if (isScore) this.metrics.scoreRequests++;
    let bodyRead = false;
    let reserved = 0;
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.send(res, status, body, headers);
      this.prometheus.record(label, String(req.method), status, (performance.now() - t0) / 1000);
    };
    const fail = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.metrics.errors++;
      if (isScore) {
        if (status === 503) this.metrics.scoreBusy++;
        else if (status >= 500) this.metrics.scoreServerErrors++;
        else this.metrics.scoreClientErrors++;
      }
      // refused before (or while) its body was read: close rather than read or keep the rest
      const unread = !bodyRead && declaredLength(req) !== 0;
      reply(status, body, unread ? { ...headers, connection: 'close' } : headers);
    };
    const refuse = (e: RequestError, headers: Record<string, string> = {}) =>
      fail(e.status, v2 ? { error: e.message } : e.toJSON(), headers);
    try {
      checkHostHeader(req.headers.host, this.allowedHosts);
      this.auth?.check(req.headers.authorization);
      if (notFound || !route) return refuse(notFound!);
      if (req.method !== route.method) {
        return refuse(new RequestError('method', `${route.method} for ${path}`, String(req.method), 405), { allow: route.method });
      }
      switch (route.kind) {
        case 'health':
          return reply(200, this.health());
        case 'metricsJson':
          return reply(200, this.metricsSnapshot());
        case 'metrics': {
          const text = await this.prometheus.text();
          res.writeHead(200, { 'content-type': this.prometheus.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
          this.prometheus.record(label, String(req.method), 200, (performance.now() - t0) / 1000);
          return;
        }
        case 'v2Live':
          return reply(200, { live: true });
        case 'v2Ready':
          return reply(200, { ready: true });
        case 'v2Model':
          return reply(200, this.v2Metadata());
        case 'v2ModelReady':
          return reply(200, { name: this.model.name, ready: true });
        case 'explainPage': {
          const html = explainPageHtml();
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
          res.end(html);
          this.prometheus.record(label, String(req.method), 200, (performance.now() - t0) / 1000);
          return;
        }
        case 'explainExample':
          return reply(200, exampleRequest(this.health(), { candidates: 3, seed: 1 }));
        // a model without a pyramid is refused before its body is read
        case 'explain':
          if (!this.explainer) return refuse(noExplainError(this.model));
          break;
        case 'score':
        case 'v2Infer':
          break;
      }
      const binary = req.headers['inference-header-content-length'];
      if (route.kind === 'v2Infer' && binary !== undefined) {
        throw new RequestError(
          'inference-header-content-length',
          'no such header: a JSON body (the binary tensor extension is not supported)',
          `'${String(binary)}'`,
        );
      }
      checkJsonContentType(req.headers['content-type']);
      const limit = this.limits.maxBodyBytes;
      const declared = declaredLength(req);
      if (declared !== 'chunked' && declared > limit) throw bodyTooLarge(limit, `${declared} bytes`);
      if (this.limiter.full) throw this.limiter.busyError();
      const want = declared === 'chunked' ? limit : declared;
      if (!this.budget.tryReserve(want)) {
        throw new BusyError(
          `server busy: request bodies of ${this.budget.heldBytes} bytes held, ${want} more would pass the budget of ` +
            `${this.budget.budgetBytes} bytes (--body-budget-bytes)`,
        );
      }
      reserved = want;
      const text = await readBody(req, limit, this.limits.bodyTimeoutMs);
      bodyRead = true;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw new RequestError('body', 'a JSON object', `invalid JSON (${(e as Error).message})`);
      }
      checkDuplicateKeys(text);
      if (route.kind === 'v2Infer') return reply(200, await this.infer(body));
      if (route.kind === 'explain') return reply(200, await this.explain(body));
      const result = await this.score(body);
      reply(200, result);
      this.metrics.scoreOk++;
      this.metrics.recordLatency(performance.now() - t0);
    } catch (e) {
      if (e instanceof IdOutOfRangeError) this.prometheus.idsOutOfRange.inc({ route: label, input: e.input });
      if (e instanceof RequestError) return refuse(e, e.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      if (e instanceof BusyError) return fail(503, { error: e.message }, { 'retry-after': '1' });
      // not req.destroyed: on Node 20 a request is destroyed once its body is read, so a run failing
      // after that went unanswered (the client hung until its own timeout); the socket tells
      if (e instanceof ClientGoneError || req.socket.destroyed) {
        this.metrics.errors++;
        if (isScore) this.metrics.scoreClientErrors++;
        // nginx's "client closed request": no answer was written
        this.prometheus.record(label, String(req.method), 499);
        return;
      }
      // a non-finite score is the model's fault, not the request's: logged without a stack
      const what = isScore ? 'scoring' : route?.kind === 'v2Infer' ? 'inference' : path;
      this.log(`error: ${what} failed: ${e instanceof NonFiniteScoreError ? e.message : ((e as Error).stack ?? String(e))}`);
      if (!res.headersSent) fail(500, { error: `${route?.kind === 'v2Infer' ? 'inference' : 'scoring'} failed: ${(e as Error).message}` });
      else res.destroy();
    } finally {
      this.budget.release(reserved);
    }
  }
}
