import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CsvParser, type CsvRecord, type ReadProgress, csvRecords, emptyRecords, forEachRow, openCsv } from '../src/index.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const tmp = mkdtempSync(join(tmpdir(), 'lctr-csv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

function parse(text: string, delimiter = ',', quote: string | null = '"'): CsvRecord[] {
  const out = emptyRecords();
  new CsvParser('t.csv', delimiter, quote).feed(text, true, out);
  return csvRecords(out);
}
const rec = (line: number, ...fields: string[]): CsvRecord => ({ fields, line });

describe('CsvParser (RFC 4180)', () => {
  it('splits plain, quoted, empty and multi-line fields and numbers records by their first physical line', () => {
    const text = 'a,b,c\r\n1,"x, y",\r\n"say ""hi""","",3\n\n"two\nlines",z,"\r\nq"\nlast,,';
    expect(parse(text)).toEqual([
      rec(1, 'a', 'b', 'c'),
      rec(2, '1', 'x, y', ''),
      rec(3, 'say "hi"', '', '3'),
      // line 4 is blank (skipped)
      rec(5, 'two\nlines', 'z', '\r\nq'),
      rec(8, 'last', '', ''),
    ]);
  });

  it('gives the same records however the text is split into chunks', () => {
    const texts = [readFileSync(fixture('events.csv'), 'utf8'), 'a,b\r\n"x""y","p\r\nq"\r\n,\r\n"",""\r\n"e"', 'h\n"a""""b"\n""""\n'];
    for (const text of texts) {
      const whole = parse(text);
      for (let k = 0; k <= text.length; k++) {
        const out = emptyRecords();
        const p = new CsvParser('t.csv');
        p.feed(text.slice(0, k), false, out);
        p.feed(text.slice(k), true, out);
        expect(csvRecords(out), `split at ${k}`).toEqual(whole);
      }
      const out = emptyRecords();
      const p = new CsvParser('t.csv');
      for (const ch of text) p.feed(ch, false, out);
      p.feed('', true, out);
      expect(csvRecords(out)).toEqual(whole);
    }
  });

  it('TSV without quoting keeps quote characters literal', () => {
    expect(parse('id\ttitle\n1\t"Quoted" Title\n', '\t', null)).toEqual([rec(1, 'id', 'title'), rec(2, '1', '"Quoted" Title')]);
  });

  it('a quote inside an unquoted field is literal', () => {
    expect(parse('a,b\n5" disk,x\n')).toEqual([rec(1, 'a', 'b'), rec(2, '5" disk', 'x')]);
  });

  it('reports an unterminated quoted field with the line it opened on', () => {
    expect(() => parse('a,b\n1,2\n3,"open\nstill open\n')).toThrow(
      't.csv:3: unterminated quoted field in column 2 (the file ends inside quotes)',
    );
  });

  it('reports text after a closing quote with its line', () => {
    expect(() => parse('a,b\n"x\ny"z,1\n')).toThrow(
      't.csv:3: unexpected character "z" after the closing quote of column 1; a quoted field must end at a delimiter or line end',
    );
  });

  it('rejects a bad delimiter or quote', () => {
    expect(() => new CsvParser('t.csv', ';;')).toThrow('t.csv: the delimiter must be one character other than a line break, got ";;"');
    expect(() => new CsvParser('t.csv', ',', ',')).toThrow('t.csv: the quote must be one character other than the delimiter, got ","');
  });
});

describe('openCsv', () => {
  it('streams a file in chunks, reporting bytes, rows and lines', async () => {
    const path = fixture('events.csv');
    const size = readFileSync(path).length;
    const progress: ReadProgress[] = [];
    const users: string[] = [];
    const lines: string[] = [];
    const n = await forEachRow(
      openCsv(path, { chunkBytes: 64 }),
      (row) => {
        users.push(row.text('user'));
        lines.push(row.where);
      },
      (p) => progress.push(p),
    );
    expect(n).toBe(8);
    expect(users).toEqual(['alice', 'bob', 'alice', 'carol', 'bob', 'alice', 'carol', 'dave']);
    expect(lines).toEqual([2, 3, 4, 6, 7, 8, 9, 10].map((l) => `${path}:${l}`));
    expect(progress.length).toBe(Math.ceil(size / 64) + 1); // one per chunk, then the end
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.bytes).toBeGreaterThanOrEqual(progress[i - 1]!.bytes);
    expect(progress.at(-1)).toEqual({ file: path, bytes: size, totalBytes: size, rows: 8, lines: 10, done: true });
    expect(progress.slice(0, -1).every((p) => !p.done)).toBe(true);
  });

  it('drops a byte-order mark, trims header names, strips RecBole type suffixes on request', async () => {
    const p = write('bom.tsv', '\uFEFFuser_id:token\t item_id:token \trating:float\n1\t2\t3\n');
    expect(await openCsv(p).open()).toEqual(['user_id:token', 'item_id:token', 'rating:float']);
    expect(await openCsv(p, { atomicHeader: true }).open()).toEqual(['user_id', 'item_id', 'rating']);
  });

  it('a multi-byte character split across chunks decodes intact', async () => {
    const p = write('utf8.csv', 'name\n' + 'ü'.repeat(50) + '\n');
    const got: string[] = [];
    await forEachRow(openCsv(p, { chunkBytes: 7 }), (row) => got.push(row.text('name')));
    expect(got).toEqual(['ü'.repeat(50)]);
  });

  it('invalid UTF-8 fails with the line of the bad byte, in any chunk size; a file cut inside a character fails too', async () => {
    const p = join(tmp, 'bad-utf8.csv');
    const lines = ['name', 'ü'.repeat(20), 'ok', 'x'];
    writeFileSync(p, Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from([0x61, 0xc3, 0x28, 0x0a])]));
    const size = Buffer.byteLength(lines.join('\n') + '\n');
    for (const chunkBytes of [3, 7, 1 << 20]) {
      await expect(
        forEachRow(openCsv(p, { chunkBytes }), () => {}),
        `chunkBytes ${chunkBytes}`,
      ).rejects.toThrow(`${p}:5: invalid UTF-8 (byte 0xc3 at file offset ${size + 1}); the file must be UTF-8 encoded`);
    }
    const cut = join(tmp, 'cut-utf8.csv');
    writeFileSync(cut, Buffer.concat([Buffer.from('name\nab'), Buffer.from([0xe2, 0x82])]));
    await expect(forEachRow(openCsv(cut), () => {})).rejects.toThrow(
      `${cut}:2: invalid UTF-8 (the file ends inside a multi-byte character); the file must be UTF-8 encoded`,
    );
  });

  it('fails with file and line on a wrong field count, a duplicate column, an empty or missing file', async () => {
    const short = write('short.csv', 'a,b,c\n1,2,3\n4,5\n');
    await expect(forEachRow(openCsv(short), () => {})).rejects.toThrow(`${short}:3: expected 3 fields as in the header, got 2`);
    const dup = write('dup.csv', 'a,b,a\n');
    await expect(openCsv(dup).open()).rejects.toThrow(`${dup}:1: duplicate column 'a' in the header`);
    const empty = write('empty.csv', '');
    await expect(openCsv(empty).open()).rejects.toThrow(`${empty}: empty file (no header line)`);
    const none = join(tmp, 'nope.csv');
    await expect(openCsv(none).open()).rejects.toThrow(`${none}: cannot open: ENOENT`);
  });

  it('Row accessors name file, line and column', async () => {
    const p = write('row.csv', 'a,b\n1,x\n2,\n');
    const seen: number[] = [];
    await expect(
      forEachRow(openCsv(p), (row) => {
        seen.push(row.number('a'));
        row.number('b');
      }),
    ).rejects.toThrow(`${p}:2: bad number in column 'b': 'x'`);
    await expect(
      forEachRow(openCsv(p), (row) => {
        if (row.text('a') === '2') row.number('b');
      }),
    ).rejects.toThrow(`${p}:3: missing value in column 'b'`);
    await expect(
      forEachRow(openCsv(p), (row) => {
        row.get('c');
      }),
    ).rejects.toThrow(`${p}:2: missing column 'c'; the header has: a, b`);
    expect(seen).toEqual([1]);
  });
});
