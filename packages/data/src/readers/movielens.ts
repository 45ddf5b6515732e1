/**
 * MovieLens in RecBole's atomic layout (tab-separated, no quoting, header names with type suffixes
 * such as `user_id:token`): <name>.inter (user_id, item_id, rating, timestamp), <name>.item
 * (item_id, movie_title, release_year, class or genre: genres separated by spaces) and <name>.user
 * (user_id, age, gender, occupation, zip_code), mapped to the cross-domain setting of
 * ../shared/data/README.md.
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Domain, SOURCE, TARGET } from '../event-log.ts';
import { type CsvOptions, openCsv } from './csv.ts';
import { EventReader, type ReadResult } from './events.ts';
import { type ProgressCallback, type Row, type Table, forEachRow, requireColumns } from './table.ts';

/** A RecBole atomic file as a Table: tab-separated, no quoting, type suffixes stripped from the header. */
export function openAtomic(path: string, options: Pick<CsvOptions, 'chunkBytes'> = {}): Table {
  return openCsv(path, { ...options, delimiter: '\t', quote: null, atomicHeader: true });
}

export interface MovieLensOptions {
  /** file prefix (default: the name of the directory's only .inter file, else the directory's base name, e.g. 'ml-100k') */
  readonly name?: string;
  /** label = rating >= positiveRating (default 4) */
  readonly positiveRating?: number;
  /** a movie with any of these genres is a target-domain item, every other movie a source-domain item (default Animation, Children's) */
  readonly targetGenres?: readonly string[];
  /** category of a movie (default: its first genre as listed) */
  readonly category?: (genres: readonly string[], item: string) => string;
  readonly onProgress?: ProgressCallback;
}

/** Context features of the MovieLens log (both independent of the rating): ids 0 = unknown release year. */
export const MOVIELENS_CONTEXT = [
  /** release year: 1 before 1950, 2 1950s, 3 1960s, 4 1970s, 5 1980s, 6 1990-94, 7 1995 and later */
  { name: 'releaseYear', buckets: [1950, 1960, 1970, 1980, 1990, 1995] },
  /** year of the rating minus release year: 1 under 1 (new release), 2 one or two, 3 three to nine, 4 ten and more */
  { name: 'movieAge', buckets: [1, 3, 10] },
] as const;

/**
 * Profile features: age bucket as in MovieLens 1M (1 under 18, 2 18-24, 3 25-34, 4 35-44, 5 45-49, 6 50-55, 7 56+), gender and occupation
 * by first appearance in the .user file.
 */
export const MOVIELENS_PROFILE = [{ name: 'age', buckets: [18, 25, 35, 45, 50, 56] }, { name: 'gender' }, { name: 'occupation' }] as const;

interface Movie {
  readonly domain: Domain;
  readonly category: string;
  readonly year: number | undefined;
}

/**
 * Read <dir>/<name>.{item,user,inter} into an EventLog: users in .user order, items per domain in
 * .item order, categories in order of first appearance in .item; an id in .inter that .user or
 * .item lacks is an error. Events with equal timestamps keep file order.
 */
export async function readMovieLens(dir: string, options: MovieLensOptions = {}): Promise<ReadResult> {
  let name = options.name;
  if (name === undefined) {
    let inters: string[] = [];
    try {
      inters = readdirSync(dir).filter((f) => f.endsWith('.inter'));
    } catch {
      /* reported when the file is opened */
    }
    name = inters.length === 1 ? inters[0]!.slice(0, -'.inter'.length) : basename(dir);
  }
  const itemFile = join(dir, `${name}.item`),
    userFile = join(dir, `${name}.user`),
    interFile = join(dir, `${name}.inter`);
  const targetGenres = new Set(options.targetGenres ?? ['Animation', "Children's"]);
  const threshold = options.positiveRating ?? 4;
  const reader = new EventReader({
    context: MOVIELENS_CONTEXT,
    profile: MOVIELENS_PROFILE,
    unknownIds: { users: 'error', items: 'error', categories: 'error', values: 'add' },
  });

  const movies = new Map<string, Movie>();
  const itemTable = openAtomic(itemFile);
  const itemHeader = await itemTable.open();
  const genreColumn = itemHeader.includes('class') ? 'class' : 'genre';
  await requireColumns(itemTable, ['item_id', 'release_year', genreColumn], `${name}.item`);
  const userTable = openAtomic(userFile),
    interTable = openAtomic(interFile);
  await requireColumns(userTable, ['user_id', 'age', 'gender', 'occupation'], `${name}.user`);
  await requireColumns(interTable, ['user_id', 'item_id', 'rating', 'timestamp'], `${name}.inter`);
  await forEachRow(
    itemTable,
    (row) => {
      const id = row.text('item_id');
      if (id === '') row.fail(`missing item id (column 'item_id')`);
      if (movies.has(id)) row.fail(`item id '${id}' is listed twice`);
      const genres = row
        .text(genreColumn)
        .split(' ')
        .filter((g) => g !== '');
      const domain = genres.some((g) => targetGenres.has(g)) ? TARGET : SOURCE;
      let category: string;
      if (options.category) category = options.category(genres, id);
      else {
        if (genres.length === 0) row.fail(`movie '${id}' has no genres (column '${genreColumn}')`);
        category = genres[0]!;
      }
      const y = row.text('release_year');
      movies.set(id, { domain, category, year: /^\d{4}$/.test(y) ? Number(y) : undefined });
      reader.items[domain].add(id);
      reader.categories.add(category);
    },
    options.onProgress,
  );

  await reader.addProfiles(
    userTable,
    { user: 'user_id', features: { age: 'age', gender: 'gender', occupation: 'occupation' } },
    { unknownUsers: 'add', onProgress: options.onProgress },
  );

  let lastId = '',
    last: Movie | undefined;
  const movie = (row: Row): Movie => {
    const id = row.text('item_id');
    if (id === lastId && last) return last;
    const m = movies.get(id);
    if (!m) row.fail(`unknown item id '${id}' (column 'item_id'): not in ${name}.item`);
    lastId = id;
    last = m;
    return m;
  };
  await reader.add(
    interTable,
    {
      user: 'user_id',
      item: 'item_id',
      domain: { rule: (row) => movie(row).domain },
      category: { rule: (row) => movie(row).category },
      timestamp: 'timestamp',
      label: { column: 'rating', atLeast: threshold },
      context: {
        releaseYear: { rule: (row) => movie(row).year ?? null },
        movieAge: {
          rule: (row) => {
            const y = movie(row).year;
            return y === undefined ? null : new Date(row.number('timestamp') * 1000).getUTCFullYear() - y;
          },
        },
      },
    },
    { onProgress: options.onProgress },
  );
  return reader.finish();
}
