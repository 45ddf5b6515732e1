/**
 * One shard of a data-parallel training step (parallel.ts), in a worker thread: holds a compiled
 * copy of the training graph, takes the current weights, returns the loss and the gradients of one
 * shard of the batch. Messages: init { graph, backend } -> { ready }; step { weights?, inputs } ->
 * { loss, grads } (buffers transferred); errors come back as { error }.
 */
import { parentPort } from 'node:worker_threads';
import { type HostTensor, type Weights, graphFromJSON } from '@lctr/spec';
import { initTfjs } from './backend.ts';
import { type TfjsModel, compileTfjs } from './model.ts';

type Message =
  | { kind: 'init'; graph: string; backend: string }
  | { kind: 'step'; weights?: Array<[string, number[], Float32Array]>; inputs: Record<string, HostTensor>; output: string };

let model: TfjsModel | undefined;
const port = parentPort!;

port.on('message', async (m: Message) => {
  try {
    if (m.kind === 'init') {
      await initTfjs({ backend: m.backend, requestedFrom: 'a data-parallel worker', log: () => {} });
      model = compileTfjs(graphFromJSON(m.graph));
      port.postMessage({ ready: true });
      return;
    }
    if (!model) throw new Error('data-parallel worker: step before init');
    if (m.weights) {
      const w: Weights = new Map(
        m.weights.map(([name, shape, data]) => [name, { dtype: 'float32', shape, data } as HostTensor<'float32'>]),
      );
      model.setWeights(w);
    }
    const { value, grads } = model.gradients(m.inputs as never, m.output);
    const list = [...grads].map(([name, g]) => [name, Float32Array.from(g.data as Float32Array)] as [string, Float32Array]);
    port.postMessage(
      { loss: Number(value.data[0]), grads: list },
      list.map(([, d]) => d.buffer as ArrayBuffer),
    );
  } catch (e) {
    port.postMessage({ error: (e as Error).stack ?? String(e) });
  }
});
