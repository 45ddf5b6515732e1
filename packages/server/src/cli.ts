/**
 * `lctr serve --model-dir out/models/lcn [--port 8080]` (also `nx run server:serve -- ...`) [--host 127.0.0.1] [--provider auto|cpu|cuda]
 * ...`
 * Loads one model directory, opens one ONNX Runtime session, serves until SIGINT/SIGTERM.
 * Exit codes: 0 stopped by a signal, 1 the model could not be loaded (a failed export included) or the
 * port not bound, 2 bad usage (a non-loopback --host without --token-file or --insecure included).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ProviderRequest } from '@lctr/backend-onnx';
import { DEFAULTS, ScoringServer } from './server.ts';
import { checkBind } from './security.ts';
import { UsageError, choiceFlag, intFlag, isMainModule, runCommand } from '@lctr/spec/cli';

const USAGE = `usage: lctr serve --model-dir DIR [--port ${DEFAULTS.port}] [--host ${DEFAULTS.host}] [--provider auto|cpu|cuda]
                                [--max-candidates ${DEFAULTS.maxCandidates}] [--max-body-bytes ${DEFAULTS.maxBodyBytes}] [--max-inflight ${DEFAULTS.maxInflight}]
                                [--max-queue ${DEFAULTS.maxQueue}] [--threads ${DEFAULTS.intraOpNumThreads}] [--workers N] [--body-budget-bytes ${DEFAULTS.bodyBudgetBytes}]
                                [--body-timeout-ms ${DEFAULTS.bodyTimeoutMs}] [--max-connections ${DEFAULTS.maxConnections}]
                                [--token-file FILE] [--insecure] [--allowed-hosts localhost,127.0.0.1,::1]
  --model-dir       a model directory written by the exporter: graph.json and 1/model.onnx (e.g. out/models/lcn)
  --port, --host    where to listen (port 0: any free port; the chosen one is printed)
  --provider        ONNX Runtime provider: auto (CUDA when it really loads, else CPU; default), cpu, cuda (fails without CUDA)
  --max-candidates  most candidates (batch-layout models: samples) in one request
  --max-body-bytes  largest request body (bigger ones get 413)
  --max-inflight    runs at once (one session runs one request at a time in onnxruntime-node 1.30)
  --max-queue       requests waiting for a run before the server answers 503
  --threads         ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core)
  --workers         ONNX Runtime sessions, each in a worker thread (default: the machine's parallelism; 1: one session on the main thread)
  --body-budget-bytes  request-body bytes held at once over all requests (a new one past it: 503 before its body is read)
  --body-timeout-ms    a body (or headers) not received within this time: 408, connection closed
  --max-connections    open connections; a new one over it is closed at accept
  --token-file      a file holding a bearer token every request must send (Authorization: Bearer <token>)
  --insecure        allow a non-loopback --host without --token-file
  --allowed-hosts   Host header values accepted, comma-separated ('*': any; default: loopback names and --host)`;

/** The token of --token-file: its text without surrounding whitespace (a trailing newline is common). */
function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--token-file ${path}: expected a readable file holding the bearer token, got ` +
        `${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`--token-file ${path}: expected a non-empty bearer token, got an empty file`);
  return token;
}

export const SERVE = {
  name: 'lctr serve',
  usage: USAGE,
  options: {
    'model-dir': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    provider: { type: 'string' },
    'max-candidates': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'max-inflight': { type: 'string' },
    'max-queue': { type: 'string' },
    threads: { type: 'string' },
    workers: { type: 'string' },
    'body-budget-bytes': { type: 'string' },
    'body-timeout-ms': { type: 'string' },
    'max-connections': { type: 'string' },
    'token-file': { type: 'string' },
    insecure: { type: 'boolean' },
    'allowed-hosts': { type: 'string' },
  },
} as const;

/** `lctr serve ...` (also `nx run server:serve -- ...`): resolves with the exit code once the server stops. */
export function main(argv: readonly string[]): Promise<number> {
  return runCommand(SERVE, argv, async ({ values }) => {
    if (!values['model-dir']) throw new UsageError('--model-dir is required');
    const provider = choiceFlag('provider', values.provider, ['auto', 'cpu', 'cuda'] as const) ?? (DEFAULTS.provider as ProviderRequest);
    const port = intFlag('port', values.port, 0, 65535) ?? DEFAULTS.port;
    const host = values.host ?? DEFAULTS.host;
    const maxCandidates = intFlag('max-candidates', values['max-candidates'], 1);
    const maxBodyBytes = intFlag('max-body-bytes', values['max-body-bytes'], 1);
    const maxInflight = intFlag('max-inflight', values['max-inflight'], 1);
    const maxQueue = intFlag('max-queue', values['max-queue'], 0);
    const threads = intFlag('threads', values.threads, 0);
    // one session per core: onnxruntime-node's run blocks its thread, so more would only queue
    const workers = intFlag('workers', values.workers, 1) ?? availableParallelism();
    const bodyBudgetBytes = intFlag('body-budget-bytes', values['body-budget-bytes'], 1);
    const bodyTimeoutMs = intFlag('body-timeout-ms', values['body-timeout-ms'], 1);
    const maxConnections = intFlag('max-connections', values['max-connections'], 1);
    const token = values['token-file'] === undefined ? undefined : readToken(values['token-file']);
    const insecure = values.insecure ?? false;
    try {
      checkBind(host, token !== undefined, insecure);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const allowedHosts = values['allowed-hosts']
      ?.split(',')
      .map((h) => h.trim())
      .filter((h) => h !== '');
    if (allowedHosts?.length === 0)
      throw new UsageError(`--allowed-hosts must name at least one host ('*': any), got '${values['allowed-hosts']}'`);
    return serve(
      {
        modelDir: values['model-dir'],
        provider,
        log: (l: string) => console.log(`server: ${l}`),
        ...(maxCandidates === undefined ? {} : { maxCandidates }),
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        ...(maxInflight === undefined ? {} : { maxInflight }),
        ...(maxQueue === undefined ? {} : { maxQueue }),
        ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
        workers,
        ...(bodyBudgetBytes === undefined ? {} : { bodyBudgetBytes }),
        ...(bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs }),
        ...(maxConnections === undefined ? {} : { maxConnections }),
        ...(token === undefined ? {} : { token }),
        ...(allowedHosts === undefined ? {} : { allowedHosts }),
        insecure,
      },
      port,
      host,
    );
  });
}

async function serve(opts: Parameters<typeof ScoringServer.open>[0], port: number, host: string): Promise<number> {
  // a model directory that cannot be served (a failed export, a missing file) is a named error: one line, exit 1
  const server = await ScoringServer.open(opts);
  let address;
  try {
    address = await server.listen(port, host);
  } catch (e) {
    console.error(`lctr serve: cannot listen on ${host}:${port}: ${(e as Error).message}`);
    await server.close();
    return 1;
  }
  console.log(
    `server: listening on ${address.url} (POST /score, POST /v2/models/${server.model.name}/infer, GET /health, GET /metrics, GET ` +
      `/metrics.json)`,
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      console.log(`server: ${signal}: closing`);
      server.close().then(
        () => resolve(0),
        (e: Error) => {
          console.error(`lctr serve: close failed: ${e.message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

if (isMainModule(import.meta.filename)) process.exitCode = await main(process.argv.slice(2));
