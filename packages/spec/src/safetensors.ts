/**
 * safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}, __metadata__: {string: string}}, then the raw little-endian buffers. PyTorch's
 * safetensors package reads what this writes. Tensors are written in name order so files repeat.
 *
 * Reading validates the header the way the reference implementation does, so a changed header
 * cannot hand out other bytes than the ones written for a tensor: a sane header length, no
 * duplicate names, dtype x shape = the byte length of data_offsets, every range inside the data
 * section, and the ranges contiguous and non-overlapping, covering the data section exactly.
 * A swap of two same-size tensors' offsets still passes: only a checksum over the whole file
 * (the trainer's checkpoints keep one) catches that.
 */
import { type DType, type HostTensor, sizeOf } from './dtype.ts';

const TO_ST: Record<DType, string> = { float32: 'F32', int32: 'I32', int64: 'I64', bool: 'BOOL' };
const BYTES: Record<string, number> = { F32: 4, F64: 8, I32: 4, I64: 8, BOOL: 1 };

/** The largest header a reader accepts (the reference implementation's limit, 100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
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

/** One tensor's header entry, validated. */
export interface SafetensorsEntry {
  readonly name: string;
  /** the file's dtype code: F32, F64, I32, I64 or BOOL */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** [begin, end) in the data section */
  readonly offsets: readonly [number, number];
}

export interface SafetensorsHeader {
  /** in the header's order */
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** byte offset of the data section in the file (8 + header length) */
  readonly dataStart: number;
}

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/**
 * The keys of the top-level object of a JSON text that JSON.parse accepted, duplicates kept
 * (JSON.parse keeps the last of two equal keys silently, so a duplicate must be found in the text).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (text[k] === ' ' || text[k] === '\t' || text[k] === '\n' || text[k] === '\r') k++;
        if (text[k] === ':') keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

/** Read and validate the header (see the file comment); `source` names the file in errors. */
export function readSafetensorsHeader(bytes: Uint8Array, source = 'safetensors data'): SafetensorsHeader {
  const bad = (msg: string) => new SafetensorsError(`${source}: ${msg}`);
  if (bytes.length < 8) throw bad(`too short (${bytes.length} bytes) to hold a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawLen = view.getBigUint64(0, true);
  if (rawLen > BigInt(SAFETENSORS_MAX_HEADER_BYTES))
    throw bad(`header length ${rawLen} is over the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit (not a safetensors file, or a corrupt one)`);
  const headLen = Number(rawLen);
  if (headLen > bytes.length - 8) throw bad(`header length ${headLen} runs past the end of the file (${bytes.length} bytes)`);
  const text = Buffer.from(bytes.subarray(8, 8 + headLen)).toString('utf8');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw bad(k === '__metadata__' ? `header holds '__metadata__' twice` : `header names tensor '${k}' twice`);
    seen.add(k);
  }
  const dataStart = 8 + headLen;
  const dataLen = bytes.length - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
        throw bad(`'__metadata__' must be an object of strings, got ${JSON.stringify(entry)}`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`'__metadata__' must map strings to strings, got '${k}': ${JSON.stringify(v)}`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const st = e?.dtype;
    if (typeof st !== 'string' || !(st in BYTES))
      throw bad(`tensor '${name}' has dtype ${JSON.stringify(st)}; supported: F32, F64, I32, I64, BOOL`);
    if (!Array.isArray(e!.shape) || !e!.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw bad(`tensor '${name}' has a bad shape ${JSON.stringify(e!.shape)}`);
    const offs = e!.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o)))
      throw bad(`tensor '${name}' has bad data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const shape = e!.shape as number[];
    const need = sizeOf(shape) * BYTES[st]!;
    if (end - begin !== need)
      throw bad(
        `tensor '${name}' ${st}[${shape.join(', ')}] needs ${need} bytes, but its data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    if (begin < 0 || end > dataLen)
      throw bad(`tensor '${name}' data_offsets [${begin}, ${end}] lie outside the data section (${dataLen} bytes)`);
    entries.push({ name, dtype: st, shape, offsets: [begin, end] });
  }
  // contiguous and non-overlapping, from byte 0 to the end: what the reference implementation requires
  const byStart = [...entries].sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
  let prev: SafetensorsEntry | undefined;
  for (const t of byStart) {
    const [begin, end] = t.offsets;
    const pos = prev ? prev.offsets[1] : 0;
    const after = prev ? `tensor '${prev.name}' [${prev.offsets.join(', ')}]` : 'the start of the data section';
    if (begin < pos) throw bad(`tensor '${t.name}' data_offsets [${begin}, ${end}] overlap ${after}`);
    if (begin > pos) throw bad(`tensor '${t.name}' data_offsets [${begin}, ${end}] leave a gap of ${begin - pos} bytes after ${after}`);
    prev = t;
  }
  const covered = prev ? prev.offsets[1] : 0;
  if (covered !== dataLen) {
    throw bad(
      `${dataLen - covered} bytes of the data section (${dataLen} bytes) follow ` +
        `${prev ? `the last tensor '${prev.name}' [${prev.offsets.join(', ')}]` : 'a header without tensors'} and belong to no tensor`,
    );
  }
  return { entries, metadata, dataStart };
}

/** Decode; `source` names the file in errors. F64 tensors are read as float32 data in a Float64Array. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, HostTensor>();
  for (const { name, dtype: st, shape, offsets } of entries) {
    const n = sizeOf(shape);
    const at = dataStart + offsets[0];
    let t: HostTensor;
    if (st === 'F32') {
      const d = new Float32Array(n);
      for (let i = 0; i < n; i++) d[i] = view.getFloat32(at + 4 * i, true);
      t = { dtype: 'float32', shape: [...shape], data: d };
    } else if (st === 'F64') {
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = view.getFloat64(at + 8 * i, true);
      t = { dtype: 'float32', shape: [...shape], data: d };
    } else if (st === 'I32') {
      const d = new Int32Array(n);
      for (let i = 0; i < n; i++) d[i] = view.getInt32(at + 4 * i, true);
      t = { dtype: 'int32', shape: [...shape], data: d };
    } else if (st === 'I64') {
      const d = new BigInt64Array(n);
      for (let i = 0; i < n; i++) d[i] = view.getBigInt64(at + 8 * i, true);
      t = { dtype: 'int64', shape: [...shape], data: d };
    } else {
      t = { dtype: 'bool', shape: [...shape], data: Uint8Array.from(bytes.subarray(at, at + n)) };
    }
    tensors.set(name, t);
  }
  return { tensors, metadata };
}
