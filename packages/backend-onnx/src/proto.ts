/**
 * The ONNX protobuf classes. onnx-proto is CommonJS: in Node ESM and tsx the named import
 * `import { onnx } from 'onnx-proto'` fails, the default import works (see TOOLCHAIN.md).
 */
import p from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';
import type { DType } from '@lctr/spec';

export const { onnx } = p;

/** The one ONNX version this package targets: ONNX IR 8, default-domain opset 17. */
export const IR_VERSION = 8;
export const DEFAULT_OPSET = 17;
export type SupportedOpset = 17;

/** ONNX TensorProto.DataType codes of the IR dtypes. */
export const ONNX_DTYPE: { readonly [D in DType]: number } = {
  float32: 1, // FLOAT
  int32: 6, // INT32
  int64: 7, // INT64
  bool: 9, // BOOL
};

/** Little-endian raw bytes of values in a dtype (ONNX raw_data is little-endian on every host). */
export function rawBytes(dtype: DType, values: ArrayLike<number | bigint>): Uint8Array {
  const n = values.length;
  const width = dtype === 'int64' ? 8 : dtype === 'bool' ? 1 : 4;
  const buf = new Uint8Array(n * width);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'float32':
        view.setFloat32(i * 4, Number(v), true);
        break;
      case 'int32':
        view.setInt32(i * 4, Number(v), true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)), true);
        break;
      case 'bool':
        buf[i] = v ? 1 : 0;
        break;
    }
  }
  return buf;
}

/** The nodes of a list and of every subgraph under them (If branches), depth first. */
export function* nodesWithin(nodes: readonly O.INodeProto[]): Generator<O.INodeProto> {
  for (const n of nodes) {
    yield n;
    for (const a of n.attribute ?? []) {
      if (a.g) yield* nodesWithin(a.g.node ?? []);
      for (const g of a.graphs ?? []) yield* nodesWithin(g.node ?? []);
    }
  }
}
