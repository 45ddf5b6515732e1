/**
 * broadcastTo without Tile. tfjs lowers broadcastTo (and the broadcasting inside tf.where) to Tile,
 * which walks every element through generic index arithmetic (measured on 2 cores, [256, 200, 32]
 * float32: wasm Tile 94 ms; an elementwise add of the same size 0.4 ms). Adding a float32 zeros
 * tensor of the target shape broadcasts through the fast elementwise kernels instead (x + 0 keeps
 * every value, NaN and infinities too; only the sign of a -0 is lost).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sameShape } from '@lctr/spec';

/** x broadcast to shape (numpy rules), without Tile. */
export function broadcastTo(x: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (sameShape(x.shape, shape)) return x;
  // bool goes through float32 (0/1 are exact): wasm's broadcasting int32 add is as slow as Tile
  if (x.dtype === 'bool') return tf.notEqual(tf.add(tf.cast(x, 'float32'), tf.zeros(shape as number[])), tf.scalar(0));
  // int32 values may not fit float32 exactly: keep tfjs' own broadcast (rare, small tensors here)
  if (x.dtype === 'int32') return tf.broadcastTo(x, shape as number[]);
  return tf.add(x, tf.zeros(shape as number[]));
}
