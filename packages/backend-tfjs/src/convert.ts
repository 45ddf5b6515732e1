/**
 * Host tensors <-> tf.Tensors. tfjs has no int64: int64 values travel as int32 (checked to fit) and
 * come back as BigInt64Array. bool travels as 0/1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type DType, type HostTensor, InputError, formatShape } from '@lctr/spec';

/** The tfjs dtype that carries an IR dtype. */
export function tfDtype(d: DType): 'float32' | 'int32' | 'bool' {
  switch (d) {
    case 'float32':
      return 'float32';
    case 'int32':
    case 'int64':
      return 'int32';
    case 'bool':
      return 'bool';
  }
}

const INT32_MIN = -2147483648,
  INT32_MAX = 2147483647;

/** int64 values as int32; throws when one does not fit (tfjs computes integers in int32). */
export function int64ToInt32(data: BigInt64Array, what: string): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < INT32_MIN || v > INT32_MAX) {
      throw new InputError(
        `${what}: int64 value ${v} at flat position ${i} does not fit in int32, which tfjs uses for int64 (tfjs has no int64; valid ` +
          `${INT32_MIN}..${INT32_MAX})`,
      );
    }
    out[i] = Number(v);
  }
  return out;
}

/** A tf.Tensor holding a host tensor (data copied; int64 narrowed to int32). */
export function toTensor(t: HostTensor, what: string): tf.Tensor {
  const shape = [...t.shape];
  switch (t.dtype) {
    case 'float32': {
      const d = t.data as Float32Array | Float64Array;
      return tf.tensor(d instanceof Float32Array ? d : Float32Array.from(d), shape, 'float32');
    }
    case 'int32':
      return tf.tensor(t.data as Int32Array, shape, 'int32');
    case 'int64':
      return tf.tensor(int64ToInt32(t.data as BigInt64Array, what), shape, 'int32');
    case 'bool':
      return tf.tensor(
        Uint8Array.from(t.data as Uint8Array, (v) => (v ? 1 : 0)),
        shape,
        'bool',
      );
  }
}

/** Copy a tensor to the host as the IR dtype says (float32 -> Float32Array, int64 -> BigInt64Array, bool -> 0/1). */
export function fromTensor(t: tf.Tensor, dtype: DType): HostTensor {
  const shape = [...t.shape];
  const want = tfDtype(dtype);
  if (t.dtype !== want) throw new Error(`internal: tensor of dtype ${t.dtype}${formatShape(shape)} cannot carry IR dtype ${dtype}`);
  const raw = t.dataSync();
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: Float32Array.from(raw as Float32Array) };
    case 'int32':
      return { dtype, shape, data: Int32Array.from(raw as Int32Array) };
    case 'int64':
      return { dtype, shape, data: BigInt64Array.from(raw as Int32Array, (v) => BigInt(v)) };
    case 'bool':
      return { dtype, shape, data: Uint8Array.from(raw as Uint8Array, (v) => (v ? 1 : 0)) };
  }
}

/** Values for a constant of an IR dtype, checked at compile time (int64 must fit int32). */
export function constantData(dtype: DType, values: readonly number[], what: string): Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'int32':
      return Int32Array.from(values);
    case 'int64': {
      const bad = values.findIndex((v) => v < INT32_MIN || v > INT32_MAX);
      if (bad >= 0)
        throw new InputError(
          `${what}: int64 value ${values[bad]} at flat position ${bad} does not fit in int32, which tfjs uses for int64 (tfjs has no ` +
            `int64)`,
        );
      return Int32Array.from(values);
    }
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
  }
}
