/**
 * The knowledge-table file (safetensors) a trained extractor is exported to: round trip, and a
 * bad file gives an error naming the tensor, the expected and the actual shape or dtype.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostTensor, encodeSafetensors } from '@lctr/spec';
import { describe, expect, it } from 'vitest';
import {
  EQ6_PARTS,
  GkcError,
  KeyIndex,
  decodeKnowledgeTables,
  encodeKnowledgeTables,
  findRow,
  readKnowledgeTables,
  sortTable,
  writeKnowledgeTables,
} from '../src/index.ts';
import { handTables, tempDir } from './helpers.ts';

const F = 'tables.safetensors';
/** A file holding the hand tables as raw tensors, with `edit` applied (what another exporter might write). */
function raw(edit: (m: Map<string, HostTensor>) => void = () => {}, metadata: Record<string, string> = {}): Uint8Array {
  const t = handTables();
  const m = new Map<string, HostTensor>([
    ['user.keys', { dtype: 'int32', shape: [2], data: t.user!.keys }],
    ['user.values', { dtype: 'float32', shape: [2, 2], data: t.user!.values }],
    ['item.keys', { dtype: 'int32', shape: [3], data: t.item!.keys }],
    ['item.values', { dtype: 'float32', shape: [3, 2], data: t.item!.values }],
    ['userCategory.keys', { dtype: 'int32', shape: [3, 2], data: t.userCategory!.keys }],
    ['userCategory.values', { dtype: 'float32', shape: [3, 3], data: t.userCategory!.values }],
  ]);
  edit(m);
  return encodeSafetensors(m, metadata);
}
const bad = (bytes: Uint8Array, message: string) => expect(() => decodeKnowledgeTables(bytes, F)).toThrow(new GkcError(message));

describe('knowledge-table file', () => {
  it('round-trips tables, their part list and extra metadata', () => {
    const t = handTables();
    const { tables, metadata } = decodeKnowledgeTables(encodeKnowledgeTables(t, { extractor: 'keep-decomposed step 1200' }));
    expect(metadata).toEqual({ extractor: 'keep-decomposed step 1200' });
    expect(tables.parts).toEqual(EQ6_PARTS);
    for (const name of ['user', 'item', 'userCategory'] as const) {
      expect(Array.from(tables[name]!.keys)).toEqual(Array.from(t[name]!.keys));
      expect(Array.from(tables[name]!.values)).toEqual(Array.from(t[name]!.values));
      expect([tables[name]!.rows, tables[name]!.dim]).toEqual([t[name]!.rows, t[name]!.dim]);
    }
    const dir = tempDir('rt');
    writeKnowledgeTables(join(dir, F), t, { step: '3' });
    expect(readKnowledgeTables(join(dir, F)).metadata).toEqual({ step: '3' });
    expect(Array.from(readKnowledgeTables(join(dir, F)).tables.userCategory!.values)).toEqual(Array.from(t.userCategory!.values));
    expect(() => writeKnowledgeTables(join(dir, 'x.safetensors'), { parts: ['user'] })).toThrow(
      new GkcError("knowledge tables: table 'user' is missing; parts user need user"),
    );
    const custom = decodeKnowledgeTables(encodeKnowledgeTables({ parts: ['item', 'user'], user: t.user!, item: t.item! }));
    expect(custom.tables.parts).toEqual(['item', 'user']);
    expect(custom.tables.userCategory).toBeUndefined();
  });

  it('reads a plain safetensors file without gkc metadata as the Eq. 6 layout', () => {
    const { tables } = decodeKnowledgeTables(raw());
    expect(tables.parts).toEqual(['user', 'item', 'user*item', 'userCategory']);
    const dir = tempDir('file');
    writeFileSync(join(dir, F), raw());
    expect(readKnowledgeTables(join(dir, F)).tables.item!.rows).toBe(3);
    expect(() => readKnowledgeTables(join(dir, 'nope.safetensors'))).toThrow(
      `knowledge tables ${join(dir, 'nope.safetensors')}: cannot read the file (ENOENT`,
    );
  });

  it('names the tensor, the expected and the actual shape or dtype', () => {
    bad(
      raw((m) => m.delete('item.keys')),
      `${F}: tensor 'item.keys' is missing; expected int32 [n] (parts user, item, user*item, userCategory need the item table)`,
    );
    bad(
      raw((m) => m.delete('userCategory.values')),
      `${F}: tensor 'userCategory.values' is missing; expected float32 [n, d] (parts user, item, user*item, userCategory need the ` +
        `userCategory table)`,
    );
    bad(
      raw((m) => m.set('user.keys', { dtype: 'float32', shape: [2], data: Float32Array.of(7, 3) })),
      `${F}: tensor 'user.keys' must be int32 [n]; got float32 [2]`,
    );
    bad(
      raw((m) => m.set('user.keys', { dtype: 'int64', shape: [2], data: BigInt64Array.of(7n, 3n) })),
      `${F}: tensor 'user.keys' must be int32 [n]; got int64 [2]`,
    );
    bad(
      raw((m) => m.set('userCategory.keys', { dtype: 'int32', shape: [6], data: Int32Array.of(7, 200, 3, 100, 7, 100) })),
      `${F}: tensor 'userCategory.keys' must be int32 [n, 2]; got int32 [6]`,
    );
    bad(
      raw((m) => m.set('userCategory.keys', { dtype: 'int32', shape: [2, 3], data: Int32Array.of(7, 200, 3, 100, 7, 100) })),
      `${F}: tensor 'userCategory.keys' must be int32 [n, 2]; got int32 [2, 3]`,
    );
    bad(
      raw((m) => m.set('item.values', { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) })),
      `${F}: tensor 'item.values' must be float32 [3, d] with d >= 1 (rows of item.keys [3]); got float32 [2, 2]`,
    );
    bad(
      raw((m) => m.set('item.values', { dtype: 'float32', shape: [6], data: new Float32Array(6) })),
      `${F}: tensor 'item.values' must be float32 [3, d] with d >= 1 (rows of item.keys [3]); got float32 [6]`,
    );
    bad(
      raw((m) => m.set('item.values', { dtype: 'int32', shape: [3, 2], data: new Int32Array(6) })),
      `${F}: tensor 'item.values' must be float32 [3, d] with d >= 1 (rows of item.keys [3]); got int32 [3, 2]`,
    );
    bad(
      raw((m) => m.set('item.values', { dtype: 'float32', shape: [3, 3], data: new Float32Array(9) })),
      `${F}: part 'user*item' needs equal user and item dims; got user 2, item 3`,
    );
    bad(
      raw((m) => m.set('user.vals', { dtype: 'float32', shape: [1], data: new Float32Array(1) })),
      `${F}: unexpected tensor 'user.vals'; a knowledge-table file holds user.keys, user.values, item.keys, item.values, ` +
        `userCategory.keys, userCategory.values`,
    );
    bad(
      raw(() => {}, { 'gkc.parts': '["user", "shop"]' }),
      `${F}: metadata 'gkc.parts': unknown part "shop"; known parts: user, item, user*item, userCategory, userItem`,
    );
    bad(
      raw(() => {}, { 'gkc.parts': '["user"]' }),
      `${F}: tensor 'item.keys' is present but no part uses the item table (parts: user)`,
    );
    bad(
      raw(() => {}, { 'gkc.parts': 'user,item' }),
      `${F}: metadata 'gkc.parts' is not JSON: "user,item"`,
    );
    bad(
      raw((m) => m.set('user.values', { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, Infinity, 4) })),
      `${F}: tensor 'user.values' holds a non-finite value (Infinity) at row 1, column 0`,
    );
    bad(Uint8Array.of(1, 2, 3), `${F}: too short (3 bytes) to hold a header`);
  });

  it('float64 values are refused (the file must hold float32)', () => {
    // write an F64 tensor by hand: spec's encoder has no float64 dtype
    const header = JSON.stringify({
      'user.keys': { dtype: 'I32', shape: [1], data_offsets: [0, 4] },
      'user.values': { dtype: 'F64', shape: [1, 1], data_offsets: [4, 12] },
      __metadata__: { 'gkc.parts': '["user"]' },
    });
    const head = Buffer.from(header);
    const bytes = Buffer.alloc(8 + head.length + 12);
    bytes.writeBigUInt64LE(BigInt(head.length), 0);
    head.copy(bytes, 8);
    bad(bytes, `${F}: tensor 'user.values' must be float32 [1, d] with d >= 1 (rows of user.keys [1]); got float64 [1, 1]`);
  });

  it('sorts pairs lexicographically and finds rows by binary search', () => {
    const t = sortTable('userCategory', {
      keys: Int32Array.of(5, 1, -2, 9, 5, 0, -2, 3),
      values: Float32Array.of(0, 1, 2, 3),
      rows: 4,
      dim: 1,
    });
    expect(Array.from(t.keys)).toEqual([-2, 3, -2, 9, 5, 0, 5, 1]);
    expect(Array.from(t.values)).toEqual([3, 1, 2, 0]);
    expect(
      [
        [-2, 3],
        [-2, 9],
        [5, 0],
        [5, 1],
        [5, 2],
        [-3, 0],
        [6, 0],
      ].map(([a, b]) => findRow(t.keys, 4, 2, a!, b!)),
    ).toEqual([0, 1, 2, 3, -1, -1, -1]);
    const u = sortTable('user', { keys: Int32Array.of(2147483647, -2147483648, 0), values: Float32Array.of(1, 2, 3), rows: 3, dim: 1 });
    expect(Array.from(u.keys)).toEqual([-2147483648, 0, 2147483647]);
    expect([-2147483648, 0, 2147483647, 1].map((k) => findRow(u.keys, 3, 1, k))).toEqual([0, 1, 2, -1]);
  });

  it('the hash index finds every key and only those (200k pairs and ids, against a Map), and refuses repeats', () => {
    let seed = 1;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const n = 200_000;
    const pairs = new Int32Array(2 * n),
      ids = new Int32Array(n);
    const want = new Map<string, number>(),
      wantIds = new Map<number, number>();
    for (let r = 0; r < n; r++) {
      let a: number, b: number;
      do {
        a = (rnd() % 50_000) - 1000;
        b = rnd() % 40;
      } while (want.has(`${a}:${b}`));
      pairs[2 * r] = a;
      pairs[2 * r + 1] = b;
      want.set(`${a}:${b}`, r);
      let k: number;
      do {
        k = rnd() | 0;
      } while (wantIds.has(k));
      ids[r] = k;
      wantIds.set(k, r);
    }
    const pi = new KeyIndex(pairs, n, 2),
      ii = new KeyIndex(ids, n, 1);
    let bad = 0;
    for (let q = 0; q < 300_000; q++) {
      const a = (rnd() % 52_000) - 1000,
        b = rnd() % 44;
      if (pi.find(a, b) !== (want.get(`${a}:${b}`) ?? -1)) bad++;
    }
    for (let r = 0; r < n; r++) if (ii.find(ids[r]!) !== r) bad++;
    for (let q = 0; q < 100_000; q++) {
      const k = rnd() | 0;
      if (ii.find(k) !== (wantIds.get(k) ?? -1)) bad++;
    }
    expect(bad).toBe(0);
    expect(new KeyIndex(new Int32Array(0), 0, 1).find(0)).toBe(-1);
    expect(() => new KeyIndex(Int32Array.of(1, 2, 3, 4, 1, 2), 3, 2, 'f', 'userCategory')).toThrow(
      new GkcError("f: tensor 'userCategory.keys' repeats the key (1, 2) (rows 0 and 2)"),
    );
  });
});
