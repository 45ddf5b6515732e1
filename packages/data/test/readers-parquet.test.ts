import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ReadProgress, forEachRow, openParquet, readCsvEvents, readParquetEvents } from '../src/index.ts';
import { CONTEXT, EVENTS, FIXTURES, MAPPING, expectEventsCsv } from './readers-fixtures.ts';

// events.csv written by pyarrow 25 (make-parquet.py) and DuckDB 1.5.6 (make-parquet-duckdb.mjs)
const SPARK = join(FIXTURES, 'events-spark.parquet'); // Spark flavour: INT96 timestamps, snappy, row groups of 3
const GZIP = join(FIXTURES, 'events-int64-gzip.parquet'); // int64 epoch seconds, gzip, row groups of 4
const DUCKDB = join(FIXTURES, 'events-duckdb.parquet'); // TIMESTAMP (INT64 micros), zstd, one row group

describe('Parquet', () => {
  it('Spark-, pyarrow- and DuckDB-written files give the same EventLog as the CSV they came from', async () => {
    const csv = await readCsvEvents(EVENTS, MAPPING, { context: CONTEXT });
    for (const file of [SPARK, GZIP, DUCKDB]) {
      const pq = await readParquetEvents(file, MAPPING, { context: CONTEXT });
      expectEventsCsv(pq.log, pq.vocabulary);
      expect(pq.log).toEqual(csv.log);
      expect(pq.reports).toEqual([{ file, rows: 8, taken: 8, skipped: 0 }]);
    }
  });

  it('streams one row group at a time with progress per row group', async () => {
    const batches: number[] = [];
    const progress: ReadProgress[] = [];
    const table = openParquet(SPARK);
    expect(await table.open()).toEqual(['user', 'item', 'genre', 'shelf', 'ts', 'rating', 'watch', 'device', 'note']);
    for await (const b of table.batches((p) => progress.push(p))) batches.push(b.length);
    expect(batches).toEqual([3, 3, 2]);
    const size = statSync(SPARK).size;
    expect(progress.map((p) => [p.rows, p.done])).toEqual([
      [3, false],
      [6, false],
      [8, false],
      [8, true],
    ]);
    for (let i = 1; i < 3; i++) expect(progress[i]!.bytes).toBeGreaterThan(progress[i - 1]!.bytes);
    expect(progress[2]!.bytes).toBeLessThan(size);
    expect(progress[3]).toEqual({ file: SPARK, bytes: size, totalBytes: size, rows: 8, lines: 8, done: true });
  });

  it('delivers typed cells: strings, numbers, int64 as bigint, timestamps as epoch seconds, null when missing', async () => {
    const cells: unknown[][] = [];
    await forEachRow(openParquet(GZIP, { columns: ['ts', 'rating', 'watch', 'device', 'note'] }), (row) => {
      cells.push(['ts', 'rating', 'watch', 'device', 'note'].map((c) => row.get(c)));
    });
    expect(cells[2]).toEqual([1494000110n, 4, 300, null, 'two\nlines']);
    expect(cells[7]).toEqual([1494000140n, 2, null, 'mobile', 'y']);
    const ts: unknown[] = [];
    await forEachRow(openParquet(SPARK, { columns: ['ts'] }), (row) => ts.push(row.get('ts')));
    await forEachRow(openParquet(DUCKDB, { columns: ['ts'] }), (row) => ts.push(row.get('ts')));
    const want = [100, 105, 110, 110, 120, 100, 130, 140].map((t) => 1494000000 + t);
    expect(ts).toEqual([...want, ...want]);
  });

  it('names file and row in errors; lists the columns when one is missing', async () => {
    await expect(readParquetEvents(SPARK, { ...MAPPING, label: { column: 'genre', atLeast: 4 } }, { context: CONTEXT })).rejects.toThrow(
      `${SPARK}:row 0: bad number in column 'genre': 'drama'`,
    );
    await expect(readParquetEvents(SPARK, { ...MAPPING, label: { column: 'clk' } }, { context: CONTEXT })).rejects.toThrow(
      `${SPARK}: missing column 'clk' (mapping.label); the header has: user, item, genre, shelf, ts, rating, watch, device, note`,
    );
    await expect(readParquetEvents(SPARK, { ...MAPPING, timestamp: 'watch' }, { context: CONTEXT })).rejects.toThrow(
      `${SPARK}:row 7: missing timestamp (column 'watch')`,
    );
    await expect(openParquet(SPARK, { columns: ['user', 'clk'] }).open()).rejects.toThrow(
      `${SPARK}: missing column 'clk' (options.columns); the file has: user, item, genre, shelf, ts, rating, watch, device, note`,
    );
    await expect(openParquet(EVENTS).open()).rejects.toThrow(`${EVENTS}: cannot read Parquet metadata: `);
  });
});
