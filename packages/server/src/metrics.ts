/**
 * Server counters for GET /metrics: requests by outcome, candidates scored, latency of successful
 * /score requests (nearest-rank p50/p99 over the last `window` of them, measured from the first
 * byte of the request to the response written), and the process memory.
 */
export interface MetricsSnapshot {
  readonly uptimeS: number;
  /** every HTTP request, any route */
  readonly requests: number;
  /** POST /score requests, and how they ended */
  readonly score: {
    readonly requests: number;
    readonly ok: number;
    /** 4xx: rejected input (400, 413, 415), too slow a body (408), wrong method (405), refused host or token (403, 401) */
    readonly clientErrors: number;
    /** 503: queue full or body budget spent */
    readonly busy: number;
    /** 500: a run failed, or gave a non-finite score */
    readonly serverErrors: number;
    /** of serverErrors: runs whose output held a NaN or an infinity (never answered as 200) */
    readonly nonFinite: number;
    readonly candidates: number;
  };
  /** 4xx + 5xx over every route */
  readonly errors: number;
  readonly latencyMs: {
    readonly window: number;
    readonly count: number;
    readonly p50: number | null;
    readonly p99: number | null;
    readonly mean: number | null;
    readonly max: number | null;
  };
  readonly inflight: number;
  readonly queued: number;
  /** open TCP connections, the cap (--max-connections), and those closed at accept for being over it */
  readonly connections: { readonly open: number; readonly max: number; readonly dropped: number };
  /** request-body bytes held now (reserved from the first byte read until the answer), and the budget */
  readonly bodies: { readonly heldBytes: number; readonly budgetBytes: number };
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number; readonly externalBytes: number };
}

/** Nearest-rank percentile (q in (0, 1]) of ascending values. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

export class ServerMetrics {
  private readonly started = performance.now();
  private readonly latencies: Float64Array;
  private filled = 0;
  private next = 0;
  requests = 0;
  errors = 0;
  scoreRequests = 0;
  scoreOk = 0;
  scoreClientErrors = 0;
  scoreBusy = 0;
  scoreServerErrors = 0;
  scoreNonFinite = 0;
  candidates = 0;
  connectionsOpen = 0;
  connectionsDropped = 0;

  constructor(readonly window = 10_000) {
    this.latencies = new Float64Array(window);
  }

  recordLatency(ms: number): void {
    this.latencies[this.next] = ms;
    this.next = (this.next + 1) % this.window;
    this.filled = Math.min(this.filled + 1, this.window);
  }

  snapshot(
    queue: { inflight: number; queued: number },
    bodies: MetricsSnapshot['bodies'] = { heldBytes: 0, budgetBytes: 0 },
    maxConnections = 0,
  ): MetricsSnapshot {
    const lat = this.latencies.slice(0, this.filled).sort();
    const n = lat.length;
    const mem = process.memoryUsage();
    return {
      uptimeS: (performance.now() - this.started) / 1000,
      requests: this.requests,
      score: {
        requests: this.scoreRequests,
        ok: this.scoreOk,
        clientErrors: this.scoreClientErrors,
        busy: this.scoreBusy,
        serverErrors: this.scoreServerErrors,
        nonFinite: this.scoreNonFinite,
        candidates: this.candidates,
      },
      errors: this.errors,
      latencyMs: {
        window: this.window,
        count: n,
        p50: n ? percentile(lat, 0.5) : null,
        p99: n ? percentile(lat, 0.99) : null,
        mean: n ? lat.reduce((a, b) => a + b, 0) / n : null,
        max: n ? lat[n - 1]! : null,
      },
      inflight: queue.inflight,
      queued: queue.queued,
      connections: { open: this.connectionsOpen, max: maxConnections, dropped: this.connectionsDropped },
      bodies: { heldBytes: bodies.heldBytes, budgetBytes: bodies.budgetBytes },
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external },
    };
  }
}
