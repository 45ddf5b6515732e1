/**
 * Triton Inference Server model configuration (config.pbtxt, protobuf text format of
 * inference.ModelConfig) for an exported serving graph, run by Triton's ONNX Runtime backend
 * (platform "onnxruntime_onnx").
 *
 * Batching follows the graph's layout:
 * - batch layout (demo, avgpool, din): every input and output leads with the symbolic dim
 *   'batch'. That dim becomes Triton's batch dimension: max_batch_size > 0, dims without it,
 *   dynamic_batching on. A tensor that is nothing but the batch dim ([batch]) is declared as
 *   dims [ 1 ] with reshape { shape: [ ] }: Triton wants non-empty dims, the model sees [batch].
 * - any other layout (lifelong per-request: user side [1, ...], candidates ['cand']):
 *   max_batch_size 0, full dims. One inference request is one user with its candidates.
 * Every other symbolic dim ('seq', 'cand', ...) is -1.
 */
import { type DType, type Dim, type Graph, valueInfo } from '@lctr/spec';
import { ExportError } from './errors.ts';

export const TRITON_PLATFORM = 'onnxruntime_onnx';
/** The batch dim of batch-layout graphs. */
export const BATCH_DIM = 'batch';
/** The version directory the exporter writes (<repository>/<model>/1/model.onnx). */
export const TRITON_VERSION = 1;
export const DEFAULT_MAX_BATCH_SIZE = 1024;

/** inference.DataType names of the IR dtypes. */
export const TRITON_DTYPE: { readonly [D in DType]: string } = {
  float32: 'TYPE_FP32',
  int32: 'TYPE_INT32',
  int64: 'TYPE_INT64',
  bool: 'TYPE_BOOL',
};

export type TritonInstanceKind = 'KIND_CPU' | 'KIND_GPU';

export interface TritonOptions {
  /** batch-layout graphs only: Triton's max_batch_size (default 1024); ignored for other layouts (always 0) */
  readonly maxBatchSize?: number;
  /** instance_group kind (default KIND_CPU) */
  readonly instanceKind?: TritonInstanceKind;
  /** instances in the group (default 1) */
  readonly instanceCount?: number;
}

export interface TritonTensor {
  readonly name: string;
  readonly dataType: string;
  /** dims as Triton's inference API sees them (without the batch dim when max_batch_size > 0) */
  readonly dims: readonly number[];
  /** the shape the model sees (without the batch dim), where it differs from dims */
  readonly reshape?: readonly number[];
}

export interface TritonModelConfig {
  readonly name: string;
  readonly platform: typeof TRITON_PLATFORM;
  /** 0: no Triton batching (per-request layout); > 0: the leading 'batch' dim is Triton's */
  readonly maxBatchSize: number;
  readonly inputs: readonly TritonTensor[];
  readonly outputs: readonly TritonTensor[];
  readonly instanceGroup: { readonly kind: TritonInstanceKind; readonly count: number };
  readonly dynamicBatching: boolean;
}

/** A Triton model name: a directory name of the model repository. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function checkModelName(name: string, field = 'model name'): void {
  if (!MODEL_NAME.test(name)) {
    throw new ExportError(
      `${field}: expected a Triton model name (letters, digits, '_', '.', '-'; not starting with '.', '_' or '-'), got ` +
        `${JSON.stringify(name)}`,
    );
  }
}

/** True when every input and output of `g` leads with the symbolic dim 'batch'. */
export function hasBatchDim(g: Graph): boolean {
  const outputs = Object.values(g.outputs).map((id) => valueInfo(g, id).shape);
  return [...g.inputs.map((i) => i.shape), ...outputs].every((s) => s[0] === BATCH_DIM);
}

const tritonDims = (shape: readonly Dim[]): number[] => shape.map((d) => (typeof d === 'number' ? d : -1));

function tensor(name: string, dtype: DType, shape: readonly Dim[], batched: boolean): TritonTensor {
  const dataType = TRITON_DTYPE[dtype];
  if (!batched) return { name, dataType, dims: tritonDims(shape) };
  const rest = tritonDims(shape.slice(1));
  return rest.length > 0 ? { name, dataType, dims: rest } : { name, dataType, dims: [1], reshape: [] };
}

/** The Triton configuration of serving graph `g` as model `name`. */
export function tritonConfigOf(g: Graph, name: string, opts: TritonOptions = {}): TritonModelConfig {
  checkModelName(name);
  const batched = hasBatchDim(g);
  const maxBatchSize = opts.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new ExportError(`Triton max_batch_size: expected a positive integer, got ${JSON.stringify(maxBatchSize)}`);
  }
  const count = opts.instanceCount ?? 1;
  if (!Number.isInteger(count) || count < 1)
    throw new ExportError(`Triton instance_group count: expected a positive integer, got ${JSON.stringify(count)}`);
  const kind = opts.instanceKind ?? 'KIND_CPU';
  if (kind !== 'KIND_CPU' && kind !== 'KIND_GPU')
    throw new ExportError(`Triton instance_group kind: expected KIND_CPU or KIND_GPU, got ${JSON.stringify(kind)}`);
  return {
    name,
    platform: TRITON_PLATFORM,
    maxBatchSize: batched ? maxBatchSize : 0,
    inputs: g.inputs.map((i) => tensor(i.name, i.dtype, i.shape, batched)),
    outputs: Object.entries(g.outputs).map(([n, id]) => {
      const v = valueInfo(g, id);
      return tensor(n, v.dtype, v.shape, batched);
    }),
    instanceGroup: { kind, count },
    dynamicBatching: batched,
  };
}

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const list = (xs: readonly number[]): string => (xs.length ? `[ ${xs.join(', ')} ]` : '[ ]');

function tensorBlock(t: TritonTensor): string {
  const lines = [`    name: ${quote(t.name)}`, `    data_type: ${t.dataType}`, `    dims: ${list(t.dims)}`];
  if (t.reshape) lines.push(`    reshape: { shape: ${list(t.reshape)} }`);
  return `  {\n${lines.join('\n')}\n  }`;
}

/** config.pbtxt text; `comment` lines go on top as '#' comments. */
export function formatTritonConfig(c: TritonModelConfig, comment: readonly string[] = []): string {
  const parts = [
    ...comment.map((l) => `# ${l}`),
    `name: ${quote(c.name)}`,
    `platform: ${quote(c.platform)}`,
    `max_batch_size: ${c.maxBatchSize}`,
    `input [\n${c.inputs.map(tensorBlock).join(',\n')}\n]`,
    `output [\n${c.outputs.map(tensorBlock).join(',\n')}\n]`,
    `instance_group [\n  {\n    count: ${c.instanceGroup.count}\n    kind: ${c.instanceGroup.kind}\n  }\n]`,
    ...(c.dynamicBatching ? ['dynamic_batching { }'] : []),
  ];
  return parts.join('\n') + '\n';
}
