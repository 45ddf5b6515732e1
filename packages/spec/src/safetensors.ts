/**
 * safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}, __metadata__: {string: string}}, then the raw little-endian buffers. PyTorch's
 * safetensors package reads what this writes. Tensors are written in name order so files repeat.
 */
import { type DType, type HostTensor, sizeOf } from './dtype.ts';

const TO_ST: Record<DType, string> = { float32: 'F32', int32: 'I32', int64: 'I64', bool: 'BOOL' };
const BYTES: Record<string, number> = { F32: 4, F64: 8, I32: 4, I64: 8, BOOL: 1 };

export class SafetensorsError extends Error {
  constructor(message: string) { super(message); this.name = 'SafetensorsError'; }
}

export function encodeSafetensors(tensors: ReadonlyMap<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = sizeOf(t.shape) * BYTES[TO_ST[t.dtype]]!;
    header[name] = { dtype: TO_ST[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.data.length;
    if (t.dtype === 'float32') for (let i = 0; i < n; i++, pos += 4) view.setFloat32(pos, t.data[i] as number, true);
    else if (t.dtype === 'int32') for (let i = 0; i < n; i++, pos += 4) view.setInt32(pos, t.data[i] as number, true);
    else if (t.dtype === 'int64') for (let i = 0; i < n; i++, pos += 8) view.setBigInt64(pos, t.data[i] as bigint, true);
    else for (let i = 0; i < n; i++, pos += 1) out[pos] = (t.data[i] as number) ? 1 : 0;
  }
  return out;
}

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** Decode; `source` names the file in errors. F64 tensors are read as float32 data in a Float64Array. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const bad = (msg: string) => new SafetensorsError(`${source}: ${msg}`);
  if (bytes.length < 8) throw bad(`too short (${bytes.length} bytes) to hold a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headLen = Number(view.getBigUint64(0, true));
  if (headLen > bytes.length - 8) throw bad(`header length ${headLen} runs past the end of the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headLen)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const base = 8 + headLen;
  const dataLen = bytes.length - base;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = entry as Record<string, string>; continue; }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const st = e?.dtype;
    if (typeof st !== 'string' || !(st in BYTES)) throw bad(`tensor '${name}' has dtype ${JSON.stringify(st)}; supported: F32, F64, I32, I64, BOOL`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`tensor '${name}' has a bad shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o))) throw bad(`tensor '${name}' has bad data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const shape = e.shape as number[];
    const n = sizeOf(shape);
    if (end - begin !== n * BYTES[st]! || begin < 0 || end > dataLen) {
      throw bad(`tensor '${name}' ${st}[${shape.join(', ')}] needs ${n * BYTES[st]!} bytes, offsets [${begin}, ${end}] with ${dataLen} data bytes`);
    }
    const at = base + begin;
    let t: HostTensor;
    if (st === 'F32') { const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = view.getFloat32(at + 4 * i, true); t = { dtype: 'float32', shape, data: d }; }
    else if (st === 'F64') { const d = new Float64Array(n); for (let i = 0; i < n; i++) d[i] = view.getFloat64(at + 8 * i, true); t = { dtype: 'float32', shape, data: d }; }
    else if (st === 'I32') { const d = new Int32Array(n); for (let i = 0; i < n; i++) d[i] = view.getInt32(at + 4 * i, true); t = { dtype: 'int32', shape, data: d }; }
    else if (st === 'I64') { const d = new BigInt64Array(n); for (let i = 0; i < n; i++) d[i] = view.getBigInt64(at + 8 * i, true); t = { dtype: 'int64', shape, data: d }; }
    else { t = { dtype: 'bool', shape, data: Uint8Array.from(bytes.subarray(at, at + n)) }; }
    tensors.set(name, t);
  }
  return { tensors, metadata };
}
