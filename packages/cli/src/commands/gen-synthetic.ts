/**
 * Generate a synthetic world and write it to disk (format: packages/data/README.md, "Synthetic world").
 *   lctr data generate [--preset small|full] [--seed 1] [--config cfg.json] [--set users=2000 ...] [--out DIR] [--force]
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError, runCommand } from '@lctr/spec/cli';
// the synthetic module alone (what @lctr/data re-exports), so the CLI does not load the readers
import { SMALL_WORLD_CONFIG, WORLD_FILES, WorldConfigError, type WorldConfig, generateWorld, writeWorld } from '@lctr/data';

const PRESETS: Record<string, Partial<WorldConfig>> = { small: SMALL_WORLD_CONFIG, full: {} };
export const GEN_SYNTHETIC = {
  name: 'lctr data generate',
  usage: `usage: lctr data generate [--preset small|full] [--seed N] [--config FILE.json] [--set field=value]... [--out DIR] [--force]
  --preset  small (500 users) or full (the default world); --config/--set override its fields
  --out     the output folder (default out/synthetic-<preset>-<seed>); a folder holding something else needs --force`,
  options: {
    preset: { type: 'string' },
    seed: { type: 'string' },
    config: { type: 'string' },
    set: { type: 'string', multiple: true },
    out: { type: 'string' },
    force: { type: 'boolean' },
  },
} as const;

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(GEN_SYNTHETIC, argv, (parsed) => {
    const values = { preset: 'small', seed: '1', set: [] as string[], force: false, ...parsed.values };
    const preset = PRESETS[values.preset];
    if (!preset) throw new UsageError(`unknown preset '${values.preset}'; known presets: ${Object.keys(PRESETS).join(', ')}`);
    const seed = Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new UsageError(`--seed must be an integer in 0..4294967295, got '${values.seed}'`);
    let config: Record<string, unknown> = { ...preset };
    if (values.config) {
      if (!existsSync(values.config)) throw new UsageError(`config file not found: ${values.config}`);
      let j: unknown;
      try {
        j = JSON.parse(readFileSync(values.config, 'utf8'));
      } catch (e) {
        throw new UsageError(`${values.config}: not valid JSON (${(e as Error).message})`);
      }
      if (j === null || typeof j !== 'object' || Array.isArray(j))
        throw new UsageError(`${values.config}: must hold a JSON object of world config fields`);
      config = { ...config, ...(j as Record<string, unknown>) };
    }
    for (const kv of values.set) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set takes field=value, got '${kv}'`);
      const raw = kv.slice(eq + 1);
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch {
        throw new UsageError(`--set ${kv}: value must be JSON (a number, true/false, an array), got '${raw}'`);
      }
      config[kv.slice(0, eq)] = v;
    }
    const out = resolve(values.out ?? `out/synthetic-${values.preset}-${seed}`);
    if (existsSync(out) && !existsSync(join(out, WORLD_FILES.json)) && readdirSync(out).length > 0 && !values.force) {
      throw new UsageError(`${out} exists and does not hold a synthetic world; pass --force to write into it`);
    }
    const t0 = performance.now();
    let world;
    try {
      world = generateWorld(config as Partial<WorldConfig>, seed);
    } catch (e) {
      if (e instanceof WorldConfigError) throw new UsageError(e.message);
      throw e;
    }
    const genS = (performance.now() - t0) / 1000;
    const s = world.stats,
      c = world.config,
      fmt = (x: number) => x.toLocaleString('en-US');
    console.log(
      `synthetic world (seed ${seed}, preset ${values.preset}): ${fmt(c.users)} users, ${fmt(s.events)} events ` +
        `(${fmt(s.sourceEvents)} source, ${fmt(s.noiseEvents)} of them noise; ${fmt(s.targetEvents)} target impressions) in ` +
        `${genS.toFixed(1)} s`,
    );
    for (const k of ['train', 'test'] as const) {
      const x = s[k];
      console.log(
        `${k}: ${fmt(x.impressions)} impressions, CTR ${x.ctr.toFixed(3)}, Bayes AUC ${x.bayesAuc.toFixed(4)} ` +
          `(oracles: without dormant interests ${x.withoutDormantAuc.toFixed(4)}, biases only ${x.biasOnlyAuc.toFixed(4)})`,
      );
    }
    const files = writeWorld(world, out);
    console.log(`wrote ${files.join(', ')} to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  });
}
