/**
 * safetensors header validation: every tampered header is refused with the tensor's name
 * (offsets swapped or shifted, overlapping ranges, gaps, dtype x shape mismatches, duplicate
 * names, header lengths past the file or absurd).
 */
import { describe, expect, it } from 'vitest';
import { type HostTensor, decodeSafetensors, encodeSafetensors, readSafetensorsHeader } from '../src/index.ts';

const F = 'w.safetensors';
/** a: F32[4] at [0, 16], b: F32[2, 2] at [16, 32], c: I32[2] at [32, 40] (name order) */
const tensors = new Map<string, HostTensor>([
  ['a', { dtype: 'float32', shape: [4], data: Float32Array.from([1, 2, 3, 4]) }],
  ['b', { dtype: 'float32', shape: [2, 2], data: Float32Array.from([5, 6, 7, 8]) }],
  ['c', { dtype: 'int32', shape: [2], data: Int32Array.from([9, 10]) }],
]);
const good = encodeSafetensors(tensors, { note: 'a "}{" b', step: '3' });

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
/** `good` with its header rewritten (as an object or as raw JSON text) and the same data section. */
function withHeader(edit: (h: Header) => void | string): Uint8Array {
  const len = Number(new DataView(good.buffer).getBigUint64(0, true));
  const h = JSON.parse(Buffer.from(good.subarray(8, 8 + len)).toString()) as Header;
  const text = edit(h) ?? JSON.stringify(h);
  const head = Buffer.from(text);
  const data = good.subarray(8 + len);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}
const refuse = (bytes: Uint8Array, msg: string) => expect(() => decodeSafetensors(bytes, F)).toThrow(`${F}: ${msg}`);

describe('safetensors header validation', () => {
  it('accepts what the writer writes (a metadata string holding quotes and braces is not a key)', () => {
    const back = decodeSafetensors(good, F);
    expect(back.metadata).toEqual({ note: 'a "}{" b', step: '3' });
    expect(back.tensors.get('c')!.data).toEqual(Int32Array.from([9, 10]));
    expect(readSafetensorsHeader(good, F).entries.map((e) => [e.name, e.dtype, e.offsets])).toEqual([
      ['a', 'F32', [0, 16]],
      ['b', 'F32', [16, 32]],
      ['c', 'I32', [32, 40]],
    ]);
  });

  it('refuses offsets shifted by 4 bytes, naming the tensor', () => {
    refuse(
      withHeader((h) => {
        h.a!.data_offsets = [4, 20];
      }),
      "tensor 'a' data_offsets [4, 20] leave a gap of 4 bytes after the start of the data section",
    );
    refuse(
      withHeader((h) => {
        h.b!.data_offsets = [20, 36];
      }),
      "tensor 'b' data_offsets [20, 36] leave a gap of 4 bytes after tensor 'a' [0, 16]",
    );
    refuse(
      withHeader((h) => {
        h.b!.data_offsets = [12, 28];
      }),
      "tensor 'b' data_offsets [12, 28] overlap tensor 'a' [0, 16]",
    );
    refuse(
      withHeader((h) => {
        h.c!.data_offsets = [36, 44];
      }),
      "tensor 'c' data_offsets [36, 44] lie outside the data section (40 bytes)",
    );
    refuse(
      withHeader((h) => {
        h.a!.data_offsets = [-4, 12];
      }),
      "tensor 'a' data_offsets [-4, 12] lie outside the data section (40 bytes)",
    );
  });

  it('refuses overlapping ranges and a tail no tensor owns', () => {
    refuse(
      withHeader((h) => {
        h.b!.data_offsets = [0, 16];
      }),
      "tensor 'b' data_offsets [0, 16] overlap tensor 'a' [0, 16]",
    );
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    refuse(longer, "4 bytes of the data section (44 bytes) follow the last tensor 'c' [32, 40] and belong to no tensor");
    refuse(
      withHeader(() => '{}'),
      '40 bytes of the data section (40 bytes) follow a header without tensors and belong to no tensor',
    );
  });

  it('refuses swapped offsets of tensors of different sizes (dtype x shape = byte length); a same-size swap needs a checksum', () => {
    refuse(
      withHeader((h) => {
        h.b!.data_offsets = [32, 40];
        h.c!.data_offsets = [16, 32];
      }),
      "tensor 'b' F32[2, 2] needs 16 bytes, but its data_offsets [32, 40] span 8",
    );
    refuse(
      withHeader((h) => {
        h.a!.shape = [5];
      }),
      "tensor 'a' F32[5] needs 20 bytes, but its data_offsets [0, 16] span 16",
    );
    refuse(
      withHeader((h) => {
        h.c!.dtype = 'I64';
      }),
      "tensor 'c' I64[2] needs 16 bytes, but its data_offsets [32, 40] span 8",
    );
    refuse(
      withHeader((h) => {
        h.c!.dtype = 'F16';
      }),
      `tensor 'c' has dtype "F16"; supported: F32, F64, I32, I64, BOOL`,
    );
    // structurally valid: the values come out exchanged (the trainer's whole-file checksum refuses this)
    const swapped = decodeSafetensors(
      withHeader((h) => {
        h.a!.data_offsets = [16, 32];
        h.b!.data_offsets = [0, 16];
      }),
      F,
    );
    expect(swapped.tensors.get('a')!.data).toEqual(Float32Array.from([5, 6, 7, 8]));
  });

  it('refuses a name given twice in the header text (JSON.parse would keep the last silently)', () => {
    const a = '{"dtype":"F32","shape":[4],"data_offsets":[0,16]}';
    refuse(
      withHeader(
        () =>
          `{"a":${a},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]},"c":{"dtype":"I32","shape":[2],"data_offsets":[32,40]},"a" ` +
          `:${a}}`,
      ),
      "header names tensor 'a' twice",
    );
    refuse(
      withHeader(() => `{"__metadata__":{},"__metadata__":{},"a":${a}}`),
      "header holds '__metadata__' twice",
    );
    refuse(
      withHeader((h) => {
        (h as Record<string, unknown>)['__metadata__'] = { step: 3 };
      }),
      `'__metadata__' must map strings to strings, got 'step': 3`,
    );
  });

  it('refuses a header length past the end of the file or beyond any sane size', () => {
    const b = Uint8Array.from(good);
    new DataView(b.buffer).setBigUint64(0, 1000n, true);
    refuse(b, `header length 1000 runs past the end of the file (${good.length} bytes)`);
    new DataView(b.buffer).setBigUint64(0, 0xffff_ffff_ffff_fff0n, true);
    refuse(b, 'header length 18446744073709551600 is over the 100000000-byte limit (not a safetensors file, or a corrupt one)');
  });
});
