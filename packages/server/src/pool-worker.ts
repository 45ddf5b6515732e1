/**
 * One worker thread of the session pool (pool.ts): opens ONE ONNX Runtime session on the model the
 * pool hands it and runs the feeds it is posted, one at a time. Outputs go back with their buffers
 * transferred (copied out of ONNX Runtime's first, so the buffer is plainly ours to transfer).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type HostTensor, graphFromJSON } from '@lctr/spec';
import { OnnxSession, type ProviderRequest } from '@lctr/backend-onnx';

export interface PoolWorkerData {
  readonly onnxPath: string;
  /** the graph's spec JSON text (graph.json) */
  readonly graphJson: string;
  readonly provider: ProviderRequest;
  readonly intraOpNumThreads?: number;
}

export type PoolRequest = { readonly id: number; readonly feeds: Record<string, HostTensor> };
export type PoolReply =
  | { readonly id: number; readonly out: Record<string, HostTensor> }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly stack?: string } }
  | { readonly ready: true }
  | { readonly failed: string };

const data = workerData as PoolWorkerData;
const port = parentPort!;
try {
  const graph = graphFromJSON(data.graphJson, 'graph.json');
  const session = await OnnxSession.create(data.onnxPath, graph, {
    provider: data.provider,
    ...(data.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: data.intraOpNumThreads }),
  });
  port.on('message', (msg: PoolRequest | 'close') => {
    if (msg === 'close') {
      void session.release().then(() => port.close());
      return;
    }
    session.run(msg.feeds).then(
      (out) => {
        const copied: Record<string, HostTensor> = {};
        const buffers: ArrayBuffer[] = [];
        for (const [name, t] of Object.entries(out as Record<string, HostTensor>)) {
          const d = t.data.slice();
          buffers.push(d.buffer as ArrayBuffer);
          copied[name] = { ...t, data: d } as HostTensor;
        }
        port.postMessage({ id: msg.id, out: copied } satisfies PoolReply, buffers);
      },
      (e: Error) =>
        port.postMessage({
          id: msg.id,
          error: { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) },
        } satisfies PoolReply),
    );
  });
  port.postMessage({ ready: true } satisfies PoolReply);
} catch (e) {
  port.postMessage({ failed: (e as Error).message } satisfies PoolReply);
}
