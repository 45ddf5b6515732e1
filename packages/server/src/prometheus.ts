/**
 * GET /metrics in the Prometheus text format, with prom-client (issue 21): requests and errors by
 * route and status, latency histograms by route, queue depth, runs in flight, candidates scored,
 * non-finite scores, connections and held body bytes, and prom-client's default process metrics
 * (resident memory, heap, event-loop lag, ...). One Registry per server, not prom-client's global
 * one: a process (a test) may run several servers, and each must count only its own requests.
 *
 * Routes are labelled by their pattern (`/v2/models/{name}/infer`), unknown paths as `other`, so a
 * client cannot grow the number of series. Requests carry ids, not raw values, so out of vocabulary
 * means an id outside its embedding table: a 400, counted per input (the graph's input names only).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the gauges read at scrape time. */
export interface PromSources {
  readonly inflight: () => number;
  readonly queued: () => number;
  readonly connections: () => number;
  readonly heldBodyBytes: () => number;
}

export type RouteLabel = string;

/** Latency buckets in seconds: the server's runs take 1-30 ms, queueing can add a second or more. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PromMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly errors: Counter<'route' | 'status'>;
  private readonly latency: Histogram<'route'>;
  readonly candidates: Counter<'route'>;
  readonly nonFinite: Counter;
  readonly dropped: Counter;
  readonly idsOutOfRange: Counter<'route' | 'input'>;
  readonly rawUnknown: Counter<'feature'>;
  readonly rawDropped: Counter;

  constructor(sources: PromSources) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'lctr_http_requests_total',
      help: 'HTTP requests answered, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.errors = new Counter({
      name: 'lctr_http_errors_total',
      help: 'HTTP requests answered with a 4xx or 5xx status, by route and status',
      labelNames: ['route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'lctr_http_request_duration_seconds',
      help: 'from the arrival of a request to its answer written, by route',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers,
    });
    this.candidates = new Counter({
      name: 'lctr_candidates_scored_total',
      help: 'candidates (batch layout: samples) scored, by route',
      labelNames: ['route'],
      registers,
    });
    this.nonFinite = new Counter({
      name: 'lctr_non_finite_scores_total',
      help: 'runs with a NaN or infinite output (answered 500, never served)',
      registers,
    });
    this.idsOutOfRange = new Counter({
      name: 'lctr_ids_out_of_range_total',
      help: 'requests refused (400) for an id outside its embedding table: out of vocabulary, by route and input',
      labelNames: ['route', 'input'],
      registers,
    });
    this.rawUnknown = new Counter({
      name: 'lctr_raw_unknown_ids_total',
      help: 'raw requests: ids the exported vocabulary lacks (mapped to the out-of-vocabulary row, or left out), by feature',
      labelNames: ['feature'],
      registers,
    });
    this.rawDropped = new Counter({
      name: 'lctr_raw_history_events_dropped_total',
      help: 'raw requests: history events left out (an unknown id and no out-of-vocabulary row)',
      registers,
    });
    this.dropped = new Counter({
      name: 'lctr_connections_dropped_total',
      help: 'connections closed at accept, over --max-connections',
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('lctr_queue_depth', 'scoring runs waiting for the session (--max-queue bounds it)', sources.queued);
    gauge('lctr_runs_inflight', 'scoring runs in progress', sources.inflight);
    gauge('lctr_connections_open', 'open TCP connections', sources.connections);
    gauge('lctr_request_body_bytes_held', 'request-body bytes reserved now (--body-budget-bytes bounds it)', sources.heldBodyBytes);
    collectDefaultMetrics({ register: this.registry });
  }

  /** One answered request. `latencyS`: observed in the route's histogram when given. */
  record(route: RouteLabel, method: string, status: number, latencyS?: number): void {
    const s = String(status);
    this.requests.inc({ route, method, status: s });
    if (status >= 400) this.errors.inc({ route, status: s });
    if (latencyS !== undefined) this.latency.observe({ route }, latencyS);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
