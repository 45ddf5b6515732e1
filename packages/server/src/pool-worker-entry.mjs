// The worker thread's entry (pool.ts): Node cannot run a .ts worker by itself, and a loader given as
// `--import tsx` in a worker's execArgv was not applied there (Node 20.20), so the worker registers
// tsx's loader itself, then loads the real worker. Plain JS on purpose: it runs before any loader.
import { register } from 'tsx/esm/api';

register();
await import('./pool-worker.ts');
