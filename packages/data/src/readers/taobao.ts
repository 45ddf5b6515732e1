/**
 * The public Taobao display-ad dataset (Alimama, "Ad Display/Click Data on Taobao.com"):
 * - raw_sample.csv: user, time_stamp, adgroup_id, pid, nonclk, clk   (ad impressions and clicks)
 * - ad_feature.csv: adgroup_id, cate_id, campaign_id, customer, brand, price
 * - user_profile.csv: userid, cms_segid, cms_group_id, final_gender_code, age_level, pvalue_level,
 *   shopping_level, occupation, new_user_class_level
 * - behavior_log.csv: user, time_stamp, btag, cate, brand   (pv / cart / fav / buy)
 * mapped to the cross-domain setting: an impression is a target-domain event when its ad's
 * category id is below 2000 (settable), otherwise a source-domain event; behaviour-log events are
 * source-domain behaviours.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SOURCE, TARGET } from '../event-log.ts';
import { type CsvOptions, openCsv } from './csv.ts';
import { EventReader, type ReadResult, type UnknownIdPolicy } from './events.ts';
import { type ProgressCallback, type Row, type Table, forEachRow, requireColumns } from './table.ts';

export interface TaobaoFiles {
  readonly rawSample: string;
  readonly adFeature: string;
  readonly userProfile?: string;
  readonly behaviorLog?: string;
}

export interface TaobaoOptions {
  /** an ad whose cate_id is below this is a target-domain item (default 2000) */
  readonly targetCategoryBelow?: number;
  /** behaviour-log rows of users who have no raw_sample row: 'skip' (default) or 'add' them as users */
  readonly behaviourUsers?: 'skip' | 'add';
  /** btag values with label 1 (default all: pv, cart, fav, buy; every logged behaviour is an interaction) */
  readonly positiveBehaviours?: readonly string[];
  /** raw_sample rows whose adgroup_id ad_feature lacks: 'error' (default) or 'skip' */
  readonly unknownAds?: 'error' | 'skip';
  readonly onProgress?: ProgressCallback;
  readonly csv?: Pick<CsvOptions, 'chunkBytes'>;
}

export const TAOBAO_BTAGS = ['pv', 'cart', 'fav', 'buy'] as const;
export const TAOBAO_PROFILE_COLUMNS = [
  'cms_segid',
  'cms_group_id',
  'final_gender_code',
  'age_level',
  'pvalue_level',
  'shopping_level',
  'occupation',
  'new_user_class_level',
] as const;

/**
 * Read the Taobao files (a directory holding them under their usual names, or explicit paths;
 * user_profile and behavior_log are optional).
 *
 * EventLog mapping:
 * - raw_sample rows: item 'ad:<adgroup_id>' (per domain), category = the ad's cate_id, label = clk
 *   (clk and nonclk must be 0/1 and sum to 1), timestamp = time_stamp (seconds), context pid.
 * - behavior_log rows: SOURCE domain, item 'brand:<brand>' ('cate:<cate>' when brand is empty or
 *   NULL), category = cate, label = btag in positiveBehaviours, context btag.
 * - context features: btag (0 = an ad impression, 1 pv, 2 cart, 3 fav, 4 buy; closed), pid
 *   (0 = a behaviour event, then by first appearance).
 * - profile features: the eight user_profile columns, each by first appearance (0 = missing or no
 *   profile; the features exist, all 0, when there is no user_profile file).
 * Categories are shared by both files (raw cate ids), users are by first appearance in raw_sample.
 */
export async function readTaobao(files: string | TaobaoFiles, options: TaobaoOptions = {}): Promise<ReadResult> {
  const f: TaobaoFiles =
    typeof files === 'string'
      ? {
          rawSample: join(files, 'raw_sample.csv'),
          adFeature: join(files, 'ad_feature.csv'),
          ...(existsSync(join(files, 'user_profile.csv')) ? { userProfile: join(files, 'user_profile.csv') } : {}),
          ...(existsSync(join(files, 'behavior_log.csv')) ? { behaviorLog: join(files, 'behavior_log.csv') } : {}),
        }
      : files;
  const below = options.targetCategoryBelow ?? 2000;
  const csv = options.csv ?? {};
  const progress = options.onProgress;

  const open = async (path: string, columns: readonly string[], what: string): Promise<Table> => {
    const t = openCsv(path, csv);
    await requireColumns(t, columns, `Taobao ${what}`);
    return t;
  };

  // ads: adgroup_id -> cate_id (text) and domain
  const ads = new Map<string, { cate: string; target: boolean }>();
  await forEachRow(
    await open(f.adFeature, ['adgroup_id', 'cate_id'], 'ad_feature'),
    (row) => {
      const id = row.text('adgroup_id');
      if (id === '') row.fail(`missing adgroup_id`);
      if (ads.has(id)) row.fail(`adgroup_id '${id}' is listed twice`);
      const cate = row.number('cate_id');
      ads.set(id, { cate: row.text('cate_id'), target: cate < below });
    },
    progress,
  );

  const reader = new EventReader({
    context: [{ name: 'btag', values: TAOBAO_BTAGS, closed: true }, { name: 'pid' }],
    profile: TAOBAO_PROFILE_COLUMNS.map((name) => ({ name })),
  });

  let lastId = '',
    last: { cate: string; target: boolean } | undefined;
  const ad = (row: Row) => {
    const id = row.text('adgroup_id');
    if (id === lastId && last) return last;
    const a = ads.get(id);
    if (!a) row.fail(`unknown adgroup_id '${id}': not in ${f.adFeature}`);
    lastId = id;
    last = a;
    return a;
  };
  await reader.add(
    await open(f.rawSample, ['user', 'time_stamp', 'adgroup_id', 'pid', 'nonclk', 'clk'], 'raw_sample'),
    {
      user: 'user',
      item: { rule: (row) => `ad:${row.text('adgroup_id')}` },
      domain: { rule: (row) => (ad(row).target ? TARGET : SOURCE) },
      category: { rule: (row) => ad(row).cate },
      timestamp: 'time_stamp',
      label: {
        rule: (row) => {
          const clk = row.number('clk'),
            nonclk = row.number('nonclk');
          if ((clk !== 0 && clk !== 1) || clk + nonclk !== 1)
            row.fail(`clk and nonclk must be 0/1 and sum to 1, got clk=${clk} nonclk=${nonclk}`);
          return clk;
        },
      },
      context: { pid: 'pid' },
    },
    {
      onProgress: progress,
      ...(options.unknownAds === 'skip' ? { filter: (row: Row) => ads.has(row.text('adgroup_id')) } : {}),
    },
  );

  if (f.behaviorLog) {
    const users: UnknownIdPolicy = options.behaviourUsers ?? 'skip';
    await reader.add(
      await open(f.behaviorLog, ['user', 'time_stamp', 'btag', 'cate', 'brand'], 'behavior_log'),
      {
        user: 'user',
        item: {
          rule: (row) => {
            const brand = row.text('brand');
            return brand === '' || brand === 'NULL' ? `cate:${row.text('cate')}` : `brand:${brand}`;
          },
        },
        domain: { constant: SOURCE },
        category: 'cate',
        timestamp: 'time_stamp',
        label: { column: 'btag', oneOf: options.positiveBehaviours ?? TAOBAO_BTAGS },
        context: { btag: 'btag' },
      },
      { onProgress: progress, unknownIds: { users } },
    );
  }

  if (f.userProfile) {
    await reader.addProfiles(
      await open(f.userProfile, ['userid', ...TAOBAO_PROFILE_COLUMNS], 'user_profile'),
      {
        user: 'userid',
        features: Object.fromEntries(TAOBAO_PROFILE_COLUMNS.map((c) => [c, c])),
      },
      { unknownUsers: 'skip', onProgress: progress },
    );
  }
  return reader.finish();
}
