#!/usr/bin/env tsx
/**
 * Generate a synthetic world and write it to disk (format: packages/data/README.md, "Synthetic world").
 *   npx tsx tools/gen-synthetic.ts [--preset small|full] [--seed 1] [--config cfg.json] [--set users=2000 ...] [--out DIR] [--force]
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
// the synthetic module alone (what @lctr/data re-exports), so the CLI does not load the readers
import { SMALL_WORLD_CONFIG, WORLD_FILES, WorldConfigError, type WorldConfig, generateWorld, writeWorld } from '@lctr/data';

const PRESETS: Record<string, Partial<WorldConfig>> = { small: SMALL_WORLD_CONFIG, full: {} };
const USAGE = 'usage: npx tsx tools/gen-synthetic.ts [--preset small|full] [--seed N] [--config FILE.json] [--set field=value]... [--out DIR] [--force]';

function fail(msg: string): number {
  console.error(`gen-synthetic: ${msg}`);
  return 2;
}

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        preset: { type: 'string', default: 'small' },
        seed: { type: 'string', default: '1' },
        config: { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        out: { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    return fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) { console.log(USAGE); return 0; }
  const preset = PRESETS[values.preset!];
  if (!preset) return fail(`unknown preset '${values.preset}'; known presets: ${Object.keys(PRESETS).join(', ')}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) return fail(`--seed must be an integer in 0..4294967295, got '${values.seed}'`);
  let config: Record<string, unknown> = { ...preset };
  if (values.config) {
    if (!existsSync(values.config)) return fail(`config file not found: ${values.config}`);
    try {
      const j: unknown = JSON.parse(readFileSync(values.config, 'utf8'));
      if (j === null || typeof j !== 'object' || Array.isArray(j)) return fail(`${values.config}: must hold a JSON object of world config fields`);
      config = { ...config, ...(j as Record<string, unknown>) };
    } catch (e) {
      return fail(`${values.config}: not valid JSON (${(e as Error).message})`);
    }
  }
  for (const kv of values.set!) {
    const eq = kv.indexOf('=');
    if (eq <= 0) return fail(`--set takes field=value, got '${kv}'`);
    const raw = kv.slice(eq + 1);
    let v: unknown;
    try { v = JSON.parse(raw); } catch { return fail(`--set ${kv}: value must be JSON (a number, true/false, an array), got '${raw}'`); }
    config[kv.slice(0, eq)] = v;
  }
  const out = resolve(values.out ?? `out/synthetic-${values.preset}-${seed}`);
  if (existsSync(out) && !existsSync(join(out, WORLD_FILES.json)) && readdirSync(out).length > 0 && !values.force) {
    return fail(`${out} exists and does not hold a synthetic world; pass --force to write into it`);
  }
  const t0 = performance.now();
  let world;
  try {
    world = generateWorld(config as Partial<WorldConfig>, seed);
  } catch (e) {
    if (e instanceof WorldConfigError) return fail(e.message);
    throw e;
  }
  const genS = (performance.now() - t0) / 1000;
  const s = world.stats, c = world.config, fmt = (x: number) => x.toLocaleString('en-US');
  console.log(`synthetic world (seed ${seed}, preset ${values.preset}): ${fmt(c.users)} users, ${fmt(s.events)} events `
    + `(${fmt(s.sourceEvents)} source, ${fmt(s.noiseEvents)} of them noise; ${fmt(s.targetEvents)} target impressions) in ${genS.toFixed(1)} s`);
  for (const k of ['train', 'test'] as const) {
    const x = s[k];
    console.log(`${k}: ${fmt(x.impressions)} impressions, CTR ${x.ctr.toFixed(3)}, Bayes AUC ${x.bayesAuc.toFixed(4)} `
      + `(oracles: without dormant interests ${x.withoutDormantAuc.toFixed(4)}, biases only ${x.biasOnlyAuc.toFixed(4)})`);
  }
  const files = writeWorld(world, out);
  console.log(`wrote ${files.join(', ')} to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

process.exitCode = main();
