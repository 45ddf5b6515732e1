/** The events.csv fixture, its mapping and its hand-computed EventLog (shared by the CSV and Parquet tests). */
import { join } from 'node:path';
import { expect } from 'vitest';
import { type EventLog, type EventMapping, type FeatureDef, SOURCE, TARGET, type Vocabulary } from '../src/index.ts';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const EVENTS = join(FIXTURES, 'events.csv');

export const MAPPING: EventMapping = {
  user: 'user',
  item: 'item',
  category: 'genre',
  domain: { column: 'shelf', target: ['target'] },
  timestamp: 'ts',
  label: { column: 'rating', atLeast: 4 },
  context: { device: 'device', watch: 'watch' },
};
export const CONTEXT: FeatureDef[] = [{ name: 'device' }, { name: 'watch', buckets: [60, 600] }];

/** events.csv by hand: rows in file order 0..7, grouped by user and stably sorted by time -> rows 0,5,2 | 1,4 | 3,6 | 7 */
export function expectEventsCsv(log: EventLog, vocabulary: Vocabulary): void {
  expect(log.meta).toEqual({
    users: 4,
    items: { target: 1, source: 3 },
    categories: 3,
    context: [
      { name: 'device', cardinality: 4 },
      { name: 'watch', cardinality: 4 },
    ],
    profile: [],
  });
  expect(log.size).toBe(8);
  expect(Array.from(log.userStart)).toEqual([0, 3, 5, 7, 8]);
  expect(Array.from(log.user)).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
  expect(Array.from(log.item)).toEqual([0, 0, 1, 0, 0, 0, 2, 1]);
  expect(Array.from(log.domain)).toEqual([TARGET, SOURCE, SOURCE, SOURCE, TARGET, TARGET, SOURCE, SOURCE]);
  expect(Array.from(log.category)).toEqual([0, 1, 1, 1, 0, 0, 2, 1]);
  expect(Array.from(log.timestamp)).toEqual([100, 100, 110, 105, 120, 110, 130, 140].map((t) => 1494000000 + t));
  expect(Array.from(log.label)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
  expect(Array.from(log.context[0]!)).toEqual([1, 1, 0, 2, 3, 1, 2, 1]); // mobile 1, desktop 2, tablet 3, empty 0
  expect(Array.from(log.context[1]!)).toEqual([3, 1, 2, 1, 3, 1, 2, 0]); // watch: <60 1, 60..599 2, >=600 3, empty 0
  expect(vocabulary).toEqual({
    users: ['alice', 'bob', 'carol', 'dave'],
    items: { target: ['i1'], source: ['i2', 'i3', 'i4'] },
    categories: ['drama', 'comedy', 'horror'],
    context: { device: { values: ['mobile', 'desktop', 'tablet'] }, watch: { buckets: [60, 600] } },
    profile: {},
  });
}
