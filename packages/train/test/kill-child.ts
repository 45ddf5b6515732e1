/**
 * Child process of the SIGKILL test: trains the tiny model (wasm unless told) with a checkpoint after every
 * step, resuming from whatever the previous (killed) child left. Prints "training" once the first
 * step is done. Usage: node --import tsx kill-child.ts OUT_DIR [BACKEND]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initTfjs } from '@lctr/backend-tfjs';
import { train } from '../src/index.ts';
import { KILL_SETUP } from './kill-setup.ts';

tf.env().set('IS_TEST', true);
await initTfjs({ backend: process.argv[3] ?? 'wasm', log: () => {} });
const { graph, source, config } = KILL_SETUP();
let said = false;
const res = await train({
  graph,
  train: source,
  config: { ...config, checkpointEvery: 1 },
  outDir: process.argv[2]!,
  resume: true,
  onProgress: () => {
    if (!said) process.stdout.write('training\n');
    said = true;
  },
});
process.stdout.write(`done ${res.step}\n`);
