#!/usr/bin/env tsx
/**
 * Load benchmark of the scoring server (issue 7, item 4): 10,000 POST /score requests over
 * loopback, 8 at a time, against a served model directory (default: the default LCN export,
 * out/models/lcn; C = 100 candidates per request, the user-side length N whatever the model has).
 * The server runs in its own process (started here with `--model-dir`, or already running at
 * `--url`); requests are seeded random VALID bodies built from its GET /health (server's
 * exampleRequest: ids within their tables, masks a valid prefix), 32 distinct ones serialized
 * before the clock starts and cycled.
 *
 * Reports client-side latency p50/p99 (nearest rank, per request: send to last byte read),
 * throughput (requests/s, candidates/s), errors (any non-200 or transport error), the server's own
 * p50/p99 (GET /metrics.json) and the server's rss at start (model loaded, before any request), after
 * 1,000 requests and after all of them. Exits 1 on any error or when rss grows more than 20%
 * between 1k and the end.
 *
 *   npx tsx bench/serve-load.ts [--model-dir out/models/lcn | --url http://127.0.0.1:8080]
 *        [--requests 10000] [--concurrency 8] [--candidates 100] [--provider cpu] [--threads N] [--workers 1,2] [--json FILE]
 *   --provider, --threads: passed to the server it starts (--threads: its default, 1; 0: ONNX Runtime's default)
 *   --workers: the server's --workers (1: one session on the main thread; N: N sessions in worker
 *     threads); a list (1,2) runs the whole benchmark once per value, each on a fresh server, in one
 *     run, and prints them side by side (default: the server's own default, the machine's parallelism)
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { type HealthReport, type MetricsSnapshot, exampleRequest, spawnServer } from '@lctr/server';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    'model-dir': { type: 'string', default: 'out/models/lcn' },
    url: { type: 'string' },
    requests: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '8' },
    candidates: { type: 'string', default: '100' },
    provider: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'string' },
  },
});
const total = Number(values.requests),
  concurrency = Number(values.concurrency),
  candidates = Number(values.candidates);
const FIRST = Math.min(1000, total);
const root = resolve(import.meta.dirname, '..');

async function startServer(workers: string | undefined): Promise<{ url: string; child: ChildProcess }> {
  const args = [
    '--model-dir',
    resolve(root, values['model-dir']),
    '--port',
    '0',
    '--provider',
    values.provider,
    '--max-candidates',
    String(Math.max(1000, candidates)),
    ...(values.threads ? ['--threads', values.threads] : []),
    ...(workers ? ['--workers', workers] : []),
  ];
  const { url, child, output } = await spawnServer(args, root);
  for (const line of output().trim().split('\n')) console.log(`  ${line}`);
  return { url, child };
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

/** One HTTP exchange; resolves with the status and the body text. */
function exchange(url: string, method: 'GET' | 'POST', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

const getJson = async <T>(url: string): Promise<T> => JSON.parse((await exchange(url, 'GET')).text) as T;
const pct = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
const mib = (b: number) => b / (1 << 20);

/** One whole benchmark on a fresh server started with `--workers workers` (or the one at --url). */
async function measure(workers: string | undefined): Promise<{ exit: number; result: unknown }> {
  const started = values.url ? undefined : await startServer(workers);
  const base = values.url ?? started!.url;
  let exit = 0;
  let measured: unknown;
  try {
    const health = await getJson<HealthReport>(`${base}/health`);
    const longest = health.inputs.filter((i) => i.side === 'user' && i.valueShape.length > 0).map((i) => Number(i.valueShape[0]));
    const n = longest.length ? Math.max(...longest) : 0;
    const bodies = Array.from({ length: 32 }, (_, k) => JSON.stringify(exampleRequest(health, { candidates, seed: 1000 + k })));
    console.log(
      `serve-load: model '${health.model}' (${health.layout} layout, ${health.inputs.length} inputs, longest user-side sequence N = ${n}) on ONNX Runtime ${health.provider} (${health.workers} session(s)${health.workers > 1 ? ' in worker threads' : ''}, intra-op threads ${health.intraOpNumThreads ?? 'default'}); ` +
        `${total} requests x ${candidates} candidates, concurrency ${concurrency}, bodies ` +
        `${Math.round(Buffer.byteLength(bodies[0]!) / 1024)} KiB`,
    );
    const rssStart = (await getJson<MetricsSnapshot>(`${base}/metrics.json`)).memory.rssBytes;

    const latency = new Float64Array(total);
    const errors: string[] = [];
    /** requests from..end-1, `concurrency` in flight */
    const runPhase = async (from: number, end: number) => {
      let next = from;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < end) {
            const i = next++;
            const t0 = performance.now();
            try {
              const r = await exchange(`${base}/score`, 'POST', bodies[i % bodies.length]);
              if (r.status !== 200) errors.push(`request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
            } catch (e) {
              errors.push(`request ${i}: ${(e as Error).message}`);
            }
            latency[i] = performance.now() - t0;
          }
        }),
      );
    };
    const t0 = performance.now();
    await runPhase(0, FIRST);
    const rss1k = (await getJson<MetricsSnapshot>(`${base}/metrics.json`)).memory.rssBytes;
    await runPhase(FIRST, total);
    const seconds = (performance.now() - t0) / 1000;
    const server = await getJson<MetricsSnapshot>(`${base}/metrics.json`);
    const rssEnd = server.memory.rssBytes;
    const sorted = latency.slice().sort();
    const growth = (rssEnd - rss1k) / rss1k;
    const result = {
      workers: health.workers,
      model: health.model,
      layout: health.layout,
      provider: health.provider,
      threads: health.intraOpNumThreads,
      n,
      candidates,
      requests: total,
      concurrency,
      errors: errors.length,
      seconds,
      requestsPerS: total / seconds,
      candidatesPerS: (total * candidates) / seconds,
      clientMs: { p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), mean: sorted.reduce((a, b) => a + b, 0) / total, max: sorted[total - 1]! },
      serverMs: { p50: server.latencyMs.p50, p99: server.latencyMs.p99, window: server.latencyMs.count },
      rssMiB: { start: mib(rssStart), after1k: mib(rss1k), end: mib(rssEnd), growth1kToEnd: growth },
    };
    console.log(
      `  latency (client, ms): p50 ${result.clientMs.p50.toFixed(2)}, p99 ${result.clientMs.p99.toFixed(2)}, mean ` +
        `${result.clientMs.mean.toFixed(2)}, max ${result.clientMs.max.toFixed(2)}`,
    );
    console.log(
      `  latency (server, last ${server.latencyMs.count}, ms): p50 ${server.latencyMs.p50?.toFixed(2)}, p99 ` +
        `${server.latencyMs.p99?.toFixed(2)}`,
    );
    console.log(
      `  throughput: ${result.requestsPerS.toFixed(0)} requests/s, ${Math.round(result.candidatesPerS).toLocaleString('en-US')} ` +
        `candidates/s (${seconds.toFixed(1)} s)`,
    );
    console.log(
      `  server rss (MiB): start ${result.rssMiB.start.toFixed(1)}, after ${FIRST} ${result.rssMiB.after1k.toFixed(1)}, after ${total} ` +
        `${result.rssMiB.end.toFixed(1)} (${(growth * 100).toFixed(1)}% from ${FIRST})`,
    );
    console.log(`  errors: ${errors.length}${errors.length ? ` (first: ${errors[0]})` : ''}`);
    if (errors.length > 0) {
      console.log('serve-load: FAILED: requests failed');
      exit = 1;
    }
    if (growth > 0.2) {
      console.log(`serve-load: FAILED: rss grew ${(growth * 100).toFixed(1)}% between ${FIRST} and ${total} requests (bar 20%)`);
      exit = 1;
    }
    measured = result;
    if (exit === 0) console.log(`serve-load: OK${workers ? ` (--workers ${workers})` : ''}`);
  } finally {
    if (started) {
      const exited = new Promise((ok) => started.child.on('exit', ok));
      started.child.kill('SIGTERM');
      await exited;
    }
  }
  return { exit, result: measured };
}

const runs = values.url || !values.workers ? [undefined] : values.workers.split(',').map((w) => w.trim());
const results: unknown[] = [];
let exit = 0;
for (const workers of runs) {
  const r = await measure(workers);
  exit = Math.max(exit, r.exit);
  if (r.result) results.push(r.result);
}
agent.destroy();
if (results.length > 1) {
  console.log('serve-load: side by side (same machine, same run)');
  for (const r of results as Array<{ workers: number; requestsPerS: number; clientMs: { p50: number; p99: number } }>) {
    console.log(
      `  --workers ${r.workers}: ${r.requestsPerS.toFixed(0)} requests/s, client p50 ${r.clientMs.p50.toFixed(2)} ms, p99 ` +
        `${r.clientMs.p99.toFixed(2)} ms`,
    );
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify(results.length === 1 ? results[0] : results, null, 1) + '\n');
process.exitCode = exit;
