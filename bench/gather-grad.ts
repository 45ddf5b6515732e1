/**
 * Timing of one training step through an embedding gather ([5000, 32] table), per backend, with
 * tfjs' built-in UnsortedSegmentSum (cpu only; wasm has none) and with ours.
 * Run: npx tsx bench/gather-grad.ts [--steps N] [--builtin]
 * (--builtin adds cpu with tfjs' own kernel: about a minute per step on 2 cores, so one step only.)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GraphBuilder, Rng, init } from '@lctr/spec';
import { compileTfjs, initTfjs, registerFastKernels } from '@lctr/backend-tfjs';

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1]) || 10;
const builtinCpu = tf.getKernel('UnsortedSegmentSum', 'cpu'); // before ours replaces it

function graph() {
  const b = new GraphBuilder('emb', {
    ids: { dtype: 'int32', shape: ['batch', 'seq'] },
    y: { dtype: 'float32', shape: ['batch'] },
  } as const);
  const table = b.param('table', [5000, 32], init.normal(0.1));
  const w = b.param('w', [32, 1]);
  const logit = b.reshape(b.matmul(b.reduceMean(b.gather(table, b.inputs.ids), 1), w), ['batch']);
  const d = b.sub(logit, b.inputs.y);
  return b.build({ loss: b.reduceMean(b.mul(d, d), 0) });
}

async function time(backend: 'cpu' | 'wasm', kernel: 'builtin' | 'ours'): Promise<void> {
  await initTfjs({ backend, log: () => {} });
  if (kernel === 'builtin') {
    tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(builtinCpu);
  }
  const m = compileTfjs(graph(), { seed: 1 });
  if (kernel === 'builtin') {
    // compileTfjs registered ours again: put the built-in back for this run
    tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(builtinCpu);
  }
  const rng = new Rng(2);
  const B = 64,
    L = 50;
  const inputs = {
    ids: { dtype: 'int32', shape: [B, L], data: Int32Array.from({ length: B * L }, () => rng.int(5000)) },
    y: { dtype: 'float32', shape: [B], data: new Float32Array(B).fill(1) },
  } as const;
  const opt = tf.train.adam(0.01);
  const n = kernel === 'builtin' ? 1 : steps;
  if (kernel === 'ours') m.trainStep(inputs, 'loss', opt); // warm-up; the built-in is too slow to repeat
  const t0 = performance.now();
  for (let i = 0; i < n; i++) m.trainStep(inputs, 'loss', opt);
  const ms = (performance.now() - t0) / n;
  console.log(
    `${backend.padEnd(5)} ${kernel.padEnd(8)} UnsortedSegmentSum: ${ms.toFixed(1)} ms per step (batch ${B} x ${L} ids, table [5000, 32], ` +
      `Adam)`,
  );
  m.dispose();
  opt.dispose();
  registerFastKernels();
}

if (process.argv.includes('--builtin')) await time('cpu', 'builtin');
await time('cpu', 'ours');
await time('wasm', 'ours');
