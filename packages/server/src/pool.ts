/**
 * A pool of ONNX Runtime sessions in worker threads (issue 21, item 4). onnxruntime-node 1.30 runs a
 * session synchronously on the JS thread, so one session serialises every request however many
 * cores the machine has. Here each worker thread owns one session; the main thread still reads,
 * parses and checks every request (and keeps every limit: the Limiter's queue, the body budget,
 * the timeouts) and only posts the checked feeds, their buffers transferred, to an idle worker.
 */
import { Worker } from 'node:worker_threads';
import { type HostTensor, InputError } from '@lctr/spec';
import type { ProviderRequest } from '@lctr/backend-onnx';
import type { PoolReply, PoolWorkerData } from './pool-worker.ts';

interface Pending {
  resolve(out: Record<string, HostTensor>): void;
  reject(e: Error): void;
}

/** A run's error as the worker saw it; InputError keeps its class (the server turns it into a 400). */
function errorOf(e: { name: string; message: string; stack?: string }): Error {
  const err = e.name === 'InputError' ? new InputError(e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

/** The worker's entry registers tsx's loader itself (see it), so workers start with no inherited flags (tsx's or vitest's). */
// built (dist/*.js): the worker module itself; from the sources: an entry that registers tsx first
const WORKER_URL = import.meta.url.endsWith('.js')
  ? new URL('./pool-worker.js', import.meta.url)
  : new URL('./pool-worker-entry.mjs', import.meta.url);

class PoolWorker {
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly worker: Worker,
    readonly index: number,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (msg: PoolReply) => {
      if (!('id' in msg)) return;
      const p = this.pending.get(msg.id)!;
      this.pending.delete(msg.id);
      if ('out' in msg) p.resolve(msg.out);
      else p.reject(errorOf(msg.error));
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`session worker ${index} exited (code ${code})`)));
  }

  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    // each buffer once (a transfer list with a buffer twice is a DataCloneError); the feeds are not used after the run
    const buffers = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, feeds }, buffers);
    });
  }
}

export class SessionPool {
  private readonly idle: PoolWorker[];
  private readonly waiting: Array<(w: PoolWorker) => void> = [];
  /** runs started per worker (index order): shows that requests in flight together went to different sessions */
  readonly runs: number[];

  private constructor(private readonly workers: readonly PoolWorker[]) {
    // popped from the end: worker 0 first
    this.idle = [...workers].reverse();
    this.runs = workers.map(() => 0);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Start `size` workers, each opening its session on `onnxPath`; resolves once every one is ready. */
  static async open(size: number, data: PoolWorkerData): Promise<SessionPool> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`workers must be an integer >= 1, got ${size}`);
    const started = Array.from({ length: size }, (_, i) => {
      const worker = new Worker(WORKER_URL, { workerData: data, execArgv: [] });
      return new Promise<PoolWorker>((resolve, reject) => {
        const onMessage = (msg: PoolReply) => {
          if ('ready' in msg) {
            worker.off('message', onMessage);
            resolve(new PoolWorker(worker, i));
          }
          if ('failed' in msg) reject(new Error(`session worker ${i}: ${msg.failed}`));
        };
        worker.on('message', onMessage);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`session worker ${i} exited (code ${code}) before its session opened`)));
      });
    });
    const results = await Promise.allSettled(started);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      for (const r of results) if (r.status === 'fulfilled') await r.value.worker.terminate();
      throw (failed as PromiseRejectedResult).reason;
    }
    return new SessionPool(results.map((r) => (r as PromiseFulfilledResult<PoolWorker>).value));
  }

  /** Run on an idle worker (waiting for one when all are busy: the server's Limiter bounds how many wait). */
  async run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const w = this.idle.pop() ?? (await new Promise<PoolWorker>((resolve) => this.waiting.push(resolve)));
    this.runs[w.index]!++;
    try {
      return await w.run(feeds);
    } finally {
      const next = this.waiting.shift();
      if (next) next(w);
      else this.idle.push(w);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map((w) => {
        w.worker.postMessage('close');
        // a worker stuck in a run is stopped anyway
        const stop = setTimeout(() => {
          void w.worker.terminate();
        }, 5_000);
        return w.exited.finally(() => clearTimeout(stop));
      }),
    );
  }
}
