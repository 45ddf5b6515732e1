#!/usr/bin/env tsx
/**
 * Trained KEEP extractors -> the knowledge-table file a General Knowledge Center loads:
 * the two-tower checkpoint gives K̂_u (user table) and K̂_i (item table), the degenerate checkpoint
 * K̂_uc (user-category table), each over every user, item and (user, category) pair of the KEEP
 * world's impressions (@lctr/backend-tfjs keepKnowledgeTables). The world is the one of the
 * training config's `data` section (preset, world), i.e. the one the extractors were trained on.
 *
 *   npx tsx experiments/src/keep-tables.ts --config keep-two-tower.json --two-tower out/train/keep-two-tower \
 *     --degenerate out/train/keep-degenerate --out knowledge.safetensors [--backend cpu|wasm|...]
 *
 * File (safetensors): user.keys int32 [nu], user.values float32 [nu, du], item.keys int32 [ni],
 * item.values float32 [ni, di], userCategory.keys int32 [nuc, 2] (user, category),
 * userCategory.values float32 [nuc, duc]; metadata: format 'lctr-keep-knowledge', the checkpoints
 * (path, step) and the world config (JSON).
 */
import { readFileSync } from 'node:fs';
import { scriptArgs } from '@lctr/spec/cli';
import { initTfjs } from '@lctr/backend-tfjs';
import {
  ConfigError,
  keepDataConfig,
  keepKnowledgeTables,
  keepWorldOf,
  loadKeepCheckpoint,
  parseJsonText,
  parseTrainConfig,
  writeKnowledgeTables,
} from '@lctr/train';

const USAGE =
  'usage: npx tsx experiments/src/keep-tables.ts --config TRAIN.json --two-tower DIR --degenerate DIR --out FILE.safetensors [--backend ' +
  'NAME]';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = scriptArgs(import.meta.filename, {
      options: {
        config: { type: 'string' },
        'two-tower': { type: 'string' },
        degenerate: { type: 'string' },
        out: { type: 'string' },
        backend: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`export-tables: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  for (const k of ['config', 'two-tower', 'degenerate', 'out'] as const) {
    if (!values[k]) {
      console.error(`export-tables: --${k} is required\n${USAGE}`);
      return 2;
    }
  }
  const where = values.config!;
  let world, twoTower, degenerate;
  try {
    const config = parseTrainConfig(parseJsonText(readFileSync(where, 'utf8'), where), where);
    const { preset, world: w } = config.data as Record<string, unknown>;
    world = keepWorldOf(
      keepDataConfig({ ...(preset !== undefined ? { preset } : {}), ...(w !== undefined ? { world: w } : {}) }, where),
      where,
    );
    twoTower = loadKeepCheckpoint(values['two-tower']!, '--two-tower', where);
    degenerate = loadKeepCheckpoint(values.degenerate!, '--degenerate', where);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(
        e.message
          .split('\n')
          .map((l) => `export-tables: ${l}`)
          .join('\n'),
      );
      return 2;
    }
    throw e;
  }
  await initTfjs({ ...(values.backend ? { backend: values.backend, requestedFrom: '--backend' } : {}), log: (l) => console.error(l) });
  let tables;
  try {
    tables = keepKnowledgeTables(world, twoTower, degenerate, { where });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(
        e.message
          .split('\n')
          .map((l) => `export-tables: ${l}`)
          .join('\n'),
      );
      return 2;
    }
    throw e;
  }
  writeKnowledgeTables(values.out!, tables, {
    twoTower: JSON.stringify({ dir: twoTower.dir, step: twoTower.state.step }),
    degenerate: JSON.stringify({ dir: degenerate.dir, step: degenerate.state.step }),
    world: JSON.stringify(world.config),
  });
  console.log(
    `export-tables: wrote ${values.out}: ${tables.user.keys.length} users x ${tables.user.dim}, ${tables.item.keys.length} items x ` +
      `${tables.item.dim}, ${tables.userCategory.keys.length / 2} (user, category) pairs x ${tables.userCategory.dim}`,
  );
  return 0;
}

process.exitCode = await main();
