/**
 * relu's gradient in one pass on cpu/wasm: dy where x > 0, else 0 (relu'(0) = 0; NaN gives 0).
 * tfjs would build it from greater, zerosLike and a select: two full-size temporaries.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sameShape, sizeOf } from '@lctr/spec';
import { asCpu, asWasm, defineHostKernel, onHost, registerHostKernels } from './host.ts';
import { select } from './select.ts';

export const RELU_GRAD = 'LctrReluGrad';

function reluGradLoop(dy: Float32Array, x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = x[i]! > 0 ? dy[i]! : 0;
}

const reluGradCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const be = asCpu(backend);
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = new Float32Array(sizeOf(x.shape));
  reluGradLoop(be.data.get(dy.dataId).values as Float32Array, be.data.get(x.dataId).values as Float32Array, out);
  return be.makeTensorInfo([...x.shape], 'float32', out);
};

const reluGradWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const be = asWasm(backend);
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = be.makeOutput([...x.shape], 'float32');
  const heap = (t: tf.TensorInfo) => be.typedArrayFromHeap(t) as Float32Array;
  reluGradLoop(heap(dy), heap(x), heap(out));
  return out;
};

defineHostKernel(RELU_GRAD, reluGradCpu, reluGradWasm);

/** relu's gradient dy where x > 0, else 0 (relu'(0) = 0; NaN gives 0), in one pass on cpu/wasm. */
export function reluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (!onHost() || dy.dtype !== 'float32' || x.dtype !== 'float32' || !sameShape(dy.shape, x.shape)) {
    return select(tf.greater(x, tf.scalar(0)), dy, tf.zerosLike(dy));
  }
  registerHostKernels();
  return tf.engine().runKernel(RELU_GRAD, { dy, x }, {}) as tf.Tensor;
}
