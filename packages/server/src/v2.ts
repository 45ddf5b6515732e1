/**
 * The Open Inference Protocol (KServe v2, the HTTP/REST protocol Triton speaks), JSON tensors only:
 *
 *   GET  /v2/health/live, /v2/health/ready            { live: true } / { ready: true }
 *   GET  /v2/models/{name}[/versions/{v}]             model metadata: inputs and outputs with datatype and shape
 *   GET  /v2/models/{name}[/versions/{v}]/ready       { name, ready: true }
 *   POST /v2/models/{name}[/versions/{v}]/infer       { inputs: [{ name, datatype, shape, data }], outputs?: [{ name }] }
 *
 * Names, datatypes and shapes are those of the config.pbtxt the exporter writes beside the model
 * (exporter/src/triton.ts), so one request body works here and under Triton serving the same model
 * directory: the batch layout's 'batch' is Triton's batch dim (a [batch] tensor goes as [batch, 1]),
 * other layouts send the graph's full shapes (max_batch_size 0), symbolic dims as -1 in metadata.
 * A candidate-set model's candMask is an input like any other here (Triton requires it).
 * Values are checked by spec's serving contract (parseTensorRequest): the same element, id-range
 * and padding rules as /score. Errors are the protocol's `{ "error": "<message>" }`.
 * The binary tensor extension (an `Inference-Header-Content-Length` header, `binary_data` parameters)
 * is refused with a 400 that says so.
 */
import {
  type DType,
  type Graph,
  type HostTensor,
  type RequestSchema,
  type ServingLayout,
  type TensorInput,
  RequestError,
  describeJson,
  outputTensorShapeOf,
  tensorShapeOf,
  valueInfo,
} from '@lctr/spec';

/** The protocol's datatype names of the IR dtypes (config.pbtxt's TYPE_FP32 is FP32 on the wire). */
export const V2_DATATYPE: { readonly [D in DType]: string } = { float32: 'FP32', int32: 'INT32', int64: 'INT64', bool: 'BOOL' };

export const TRITON_PLATFORM = 'onnxruntime_onnx';

export interface V2Tensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

export interface V2ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly V2Tensor[];
  readonly outputs: readonly V2Tensor[];
}

export interface V2Output {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: ReadonlyArray<number | boolean>;
}

export interface V2InferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
  readonly outputs: readonly V2Output[];
}

export interface V2Request {
  readonly id?: string;
  readonly inputs: readonly TensorInput[];
  /** the outputs asked for, in order; every graph output when the request names none */
  readonly outputs: readonly string[];
}

/** Metadata shape: symbolic dims are -1, as Triton reports them. */
const metaShape = (shape: readonly (number | string)[]) => shape.map((d) => (typeof d === 'number' ? d : -1));

export function v2Metadata(g: Graph, schema: RequestSchema, name: string, version: number): V2ModelMetadata {
  return {
    name,
    versions: [String(version)],
    platform: TRITON_PLATFORM,
    inputs: schema.features.map((f) => ({
      name: f.name,
      datatype: V2_DATATYPE[f.dtype],
      shape: metaShape(tensorShapeOf(f, schema.layout)),
    })),
    outputs: Object.entries(g.outputs as Record<string, string>).map(([o, id]) => ({
      name: o,
      datatype: V2_DATATYPE[valueInfo(g, id).dtype],
      shape: metaShape(outputTensorShapeOf(g, o, schema.layout)),
    })),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A JSON tensor's data: flat, or nested arrays (flattened row-major), as the protocol allows. */
function flatData(v: unknown[]): unknown[] {
  return v.some(Array.isArray) ? (v as unknown[]).flat(Infinity) : v;
}

const BINARY = 'a JSON tensor body (the binary tensor extension is not supported)';

/**
 * Read an infer request's JSON object (already decoded): the wire format, each input's name and
 * datatype against the schema. Shapes and values are left to parseTensorRequest.
 */
export function readV2Request(body: unknown, schema: RequestSchema, g: Graph): V2Request {
  const shapeOf = new Map(schema.features.map((f) => [f.name, f]));
  if (!isObject(body)) {
    throw new RequestError('body', 'a JSON object {"inputs": [{"name", "datatype", "shape", "data"}, ...]}', describeJson(body));
  }
  for (const k of Object.keys(body)) {
    if (k !== 'id' && k !== 'parameters' && k !== 'inputs' && k !== 'outputs') {
      const fields = 'only the fields "id", "parameters", "inputs" and "outputs" (an Open Inference Protocol infer request)';
      throw new RequestError(k, fields, `unknown field '${k}'`);
    }
  }
  const id = body['id'];
  if (id !== undefined && typeof id !== 'string') throw new RequestError('id', 'a string', describeJson(id));
  const params = body['parameters'];
  if (params !== undefined && !isObject(params)) throw new RequestError('parameters', 'an object', describeJson(params));
  if (isObject(params) && params['binary_data_output'] !== undefined && params['binary_data_output'] !== false) {
    throw new RequestError('parameters.binary_data_output', `false or absent (${BINARY})`, describeJson(params['binary_data_output']));
  }
  const list = body['inputs'];
  const names = schema.features.map((f) => f.name).join(', ');
  if (!Array.isArray(list)) throw new RequestError('inputs', `an array of the inputs ${names}`, describeJson(list));
  const seen = new Set<string>();
  const inputs = list.map((t: unknown, i): TensorInput => {
    if (!isObject(t)) throw new RequestError(`inputs[${i}]`, 'an object {"name", "datatype", "shape", "data"}', describeJson(t));
    const name = t['name'];
    if (typeof name !== 'string') throw new RequestError(`inputs[${i}].name`, 'a string', describeJson(name));
    const field = `inputs.${name}`;
    const f = shapeOf.get(name);
    if (!f) throw new RequestError(`inputs[${i}].name`, `one of the inputs ${names}`, `unknown input '${name}'`);
    if (seen.has(name)) throw new RequestError(`inputs[${i}].name`, 'each input at most once', `'${name}' a second time`);
    seen.add(name);
    const tp = t['parameters'];
    if (isObject(tp) && tp['binary_data_size'] !== undefined) {
      throw new RequestError(`${field}.parameters.binary_data_size`, `absent (${BINARY})`, describeJson(tp['binary_data_size']));
    }
    const want = V2_DATATYPE[f.dtype];
    if (t['datatype'] !== want) {
      throw new RequestError(
        `${field}.datatype`,
        `${JSON.stringify(want)} (TYPE_${want} in config.pbtxt: ${f.dtype})`,
        describeJson(t['datatype']),
      );
    }
    const shape = t['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RequestError(`${field}.shape`, 'an array of non-negative integers', describeJson(shape));
    }
    const data = t['data'];
    if (!Array.isArray(data)) throw new RequestError(`${field}.data`, 'an array of values (flat row-major, or nested)', describeJson(data));
    return { name, shape: shape as number[], data: flatData(data), field };
  });
  const outs = body['outputs'];
  let outputs = Object.keys(g.outputs);
  if (outs !== undefined) {
    if (!Array.isArray(outs)) throw new RequestError('outputs', 'an array of {"name"} objects', describeJson(outs));
    outputs = outs.map((o: unknown, i) => {
      const name = isObject(o) ? o['name'] : undefined;
      if (typeof name !== 'string' || !(name in g.outputs)) {
        const actual = typeof name === 'string' ? `unknown output '${name}'` : describeJson(name);
        throw new RequestError(`outputs[${i}].name`, `one of the outputs ${Object.keys(g.outputs).join(', ')}`, actual);
      }
      const op = (o as Record<string, unknown>)['parameters'];
      if (isObject(op) && op['binary_data'] !== undefined && op['binary_data'] !== false) {
        throw new RequestError(`outputs[${i}].parameters.binary_data`, `false or absent (${BINARY})`, describeJson(op['binary_data']));
      }
      return name;
    });
  }
  return { ...(typeof id === 'string' ? { id } : {}), inputs, outputs };
}

/** An output tensor in the protocol's JSON form, shaped as config.pbtxt declares it. */
export function v2Output(g: Graph, name: string, t: HostTensor, layout: ServingLayout): V2Output {
  const declared = outputTensorShapeOf(g, name, layout);
  const shape = declared.length > t.shape.length ? [...t.shape, 1] : [...t.shape];
  const data =
    t.dtype === 'bool'
      ? Array.from(t.data as Uint8Array, (v) => v !== 0)
      : t.dtype === 'int64'
        ? Array.from(t.data as BigInt64Array, Number)
        : Array.from(t.data as Float32Array | Int32Array);
  return { name, datatype: V2_DATATYPE[t.dtype], shape, data };
}
