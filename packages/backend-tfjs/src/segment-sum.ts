/**
 * A plain-JS UnsortedSegmentSum kernel for the cpu and wasm backends. Gradients of gather scatter-add
 * through this kernel: wasm has none at all (training fails) and cpu's built-in one is composed of
 * many small ops (one small training step took 3.3 s; with this kernel 42 ms on cpu, 7 ms on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';

type Numeric = Float32Array | Int32Array;

/**
 * out[s, ...] = sum of x[i, ...] over every i with ids[i] = s, for x of shape ids.shape + inner.
 * Ids outside [0, numSegments) are dropped (TensorFlow's rule). dtype follows x (float32 or int32).
 * inner (the size of one row) only needs giving when there are no ids.
 */
export function unsortedSegmentSumJs(
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  numSegments: number,
  dtype: 'float32' | 'int32' = 'float32',
  inner: number = ids.length === 0 ? 0 : x.length / ids.length,
): Numeric {
  const n = ids.length;
  if (!Number.isInteger(inner) || n * inner !== x.length)
    throw new Error(`UnsortedSegmentSum: ${x.length} values do not split into ${n} rows of ${inner}`);
  const out = dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  // Accumulate in float64 for float32 data, like a careful reference would, then round once.
  const acc = dtype === 'int32' ? out : new Float64Array(numSegments * inner);
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    if (!(s >= 0 && s < numSegments)) continue;
    const src = i * inner,
      dst = s * inner;
    for (let j = 0; j < inner; j++) acc[dst + j]! += x[src + j]!;
  }
  if (acc !== out) out.set(acc);
  return out;
}

interface HostBackend {
  readSync(dataId: object): tf.BackendValues;
  write(values: tf.BackendValues, shape: number[], dtype: tf.DataType): object;
}

const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs['x'];
  const segmentIds = inputs['segmentIds'];
  const numSegments = attrs?.['numSegments'];
  if (!x || !segmentIds || typeof numSegments !== 'number')
    throw new Error('UnsortedSegmentSum: needs inputs x, segmentIds and attribute numSegments');
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}`);
  const rank = segmentIds.shape.length;
  if (!segmentIds.shape.every((d, i) => d === x.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape.join(', ')}] must be a prefix of x shape [${x.shape.join(', ')}]`,
    );
  }
  const be = backend as HostBackend;
  const values = be.readSync(x.dataId) as Numeric;
  const ids = be.readSync(segmentIds.dataId) as Numeric;
  const shape = [numSegments, ...x.shape.slice(rank)];
  const out = unsortedSegmentSumJs(
    values,
    ids,
    numSegments,
    x.dtype,
    shape.slice(1).reduce((p, d) => p * d, 1),
  );
  return { dataId: be.write(out, shape, x.dtype), shape, dtype: x.dtype };
};

const FAST_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Register the JS UnsortedSegmentSum for cpu and wasm (replacing cpu's built-in one). Idempotent;
 * works before or after the backends are initialised (the registry is keyed by backend name).
 */
export function registerFastKernels(): void {
  for (const backendName of FAST_KERNEL_BACKENDS) {
    const existing = tf.getKernel('UnsortedSegmentSum', backendName);
    if (existing?.kernelFunc === unsortedSegmentSumKernel) continue;
    if (existing) tf.unregisterKernel('UnsortedSegmentSum', backendName);
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName, kernelFunc: unsortedSegmentSumKernel });
  }
}

/** Whether our UnsortedSegmentSum is the one registered for a backend. */
export function hasFastKernels(backendName: string): boolean {
  return tf.getKernel('UnsortedSegmentSum', backendName)?.kernelFunc === unsortedSegmentSumKernel;
}
