#!/usr/bin/env tsx
/**
 * KEEP's tables (papers/keep-cikm2022.txt, Table 2 and the ablations) on the KEEP world of
 * @lctr/data: a rich super-domain and a sparse sub-domain (ads) of the same users. One command
 * trains the extractors, then the downstream DIN on the sub-domain in every variant, and writes
 * table.md and results.json (GAUC on the sub-domain's eval days, mean ± sample std over seeds).
 *
 * npx tsx experiments/src/keep.ts [--quick] [--world small|default] [--seeds 1,2,3] [--steps N] [--extractor-steps N] [--out DIR]
 * [--backend wasm|cpu]
 *   (--steps / --extractor-steps replace the downstream / extractor runs' epochs or steps; --world the
 *   world preset: default 'small' with --quick, the configs' 'default' without)
 *
 * Extractors (seed 1): 'keep' on the super-domain (KEEP), 'keep' on the sub-domain's own training
 * data with the sub-domain's clicks as behaviours (KEEP-C, co-trained on the same data, no super-domain input), 'keep-two-tower' and
 * 'keep-degenerate' on the
 * super-domain (decomposition, degeneration). Downstream (per seed): Base (keep-din-base), Sample
 * Merging (keep-din-base, merge), KEEP-C, KEEP (keep-din), the knowledge-type ablation K_u /
 * K_u + K_i / K_u + K_i + K_ui (parts of K(u, i)), and decomposition / degeneration: K(u, i) vs
 * [K̂_u, K̂_i, K̂_u ⊙ K̂_i] (two-tower) vs [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc] (+ degenerate).
 * Full runs take their configs from packages/train/configs/keep-*.json; --quick uses the
 * small world and tiny models (a smoke run of about a minute). Runs live in <out>/runs/<name>;
 * a run with a result.json is reused, anything else there is retrained from scratch.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { atomicWriteFile, displayPath } from '@lctr/spec';
import { gauc } from '@lctr/metrics';
import { initTfjs } from '@lctr/backend-tfjs';
import { ConfigError, TrainError, getTrainModel, parseTrainConfig, train } from '@lctr/train';

const ROOT = resolve(import.meta.dirname, '../..');
const CONFIGS = join(ROOT, 'packages/train/configs');
const USAGE =
  'usage: npx tsx experiments/src/keep.ts [--quick] [--world small|default] [--seeds 1,2,3] [--steps N] [--extractor-steps N] [--out ' +
  'DIR] [--backend wasm|cpu]';

type Json = Record<string, unknown>;
interface RunResult {
  name: string;
  model: string;
  seed: number;
  gauc: number;
  auc: number;
  logloss: number;
  samples: number;
  gaucUsers: number;
  bayesGauc: number;
  bayesAuc: number;
  seconds: number;
}

const readConfig = (f: string): Json => JSON.parse(readFileSync(join(CONFIGS, f), 'utf8')) as Json;

/** The run configs of both modes: extractors and the downstream base config (knowledge added per variant). */
function configs(quick: boolean, world?: string): Record<'keep' | 'keepC' | 'twoTower' | 'degenerate' | 'base' | 'merge' | 'din', Json> {
  if (!quick) {
    const full = {
      keep: readConfig('keep-super.json'),
      keepC: readConfig('keep-c.json'),
      twoTower: readConfig('keep-two-tower.json'),
      degenerate: readConfig('keep-degenerate.json'),
      base: readConfig('keep-din-base.json'),
      merge: readConfig('keep-din-merge.json'),
      din: readConfig('keep-din.json'),
    };
    if (world === undefined) return full;
    return Object.fromEntries(
      Object.entries(full).map(([k, c]) => [k, { ...c, data: { ...(c['data'] as Json), preset: world } }]),
    ) as unknown as typeof full;
  }
  const data = { preset: world ?? 'small', world: { seed: 1 } };
  const opt = { name: 'adam', lr: 0.01 };
  const ext = { userDim: 8, featureDim: 4, seqLen: 8, attention: [8], tower: [32, 16, 2] };
  const tt = { userDim: 8, featureDim: 4, seqLen: 8, userTower: [32, 16], itemTower: [32, 16] };
  const din = { dim: 8, categoryDim: 4, seqLen: 6, sequences: ['target'], hidden: [32, 16], attention: [8] };
  const run = (model: Json, d: Json, steps: number, batchSize = 128) => ({
    optimizer: opt,
    batchSize,
    steps,
    logEvery: 50,
    seed: 1,
    model,
    data: d,
  });
  return {
    keep: run(ext, { ...data, domain: 'super' }, 60),
    keepC: run(ext, { ...data, domain: 'sub', behaviours: 'sub' }, 30),
    twoTower: run(tt, { ...data, domain: 'super' }, 60),
    degenerate: run(ext, { ...data, domain: 'super' }, 60),
    base: run(din, data, 40),
    merge: run(din, { ...data, merge: true }, 40),
    din: run({ ...din, knowledge: { layer: 1, hidden: 16 } }, { ...data, knowledge: {} }, 40),
  };
}

async function trainRun(out: string, name: string, model: string, cfg: Json, log: (l: string) => void): Promise<RunResult> {
  const dir = join(out, 'runs', name);
  const resultPath = join(dir, 'result.json');
  if (existsSync(resultPath)) {
    const r = JSON.parse(readFileSync(resultPath, 'utf8')) as { config: Json; result: RunResult };
    if (JSON.stringify(r.config) === JSON.stringify(cfg)) {
      log(`${name}: reusing ${displayPath(resultPath)}`);
      return r.result;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const config = parseTrainConfig(cfg, name);
  const m = getTrainModel(model);
  const graph = await m.buildTrain(config.model, name, config.data);
  const req = (split: 'train' | 'eval') => ({ split, seed: config.seed, data: config.data, model: config.model, where: name });
  const trainSrc = await m.source(req('train')),
    evalSrc = await m.source(req('eval'));
  log(`${name}: training ${model} (${trainSrc.size} train / ${evalSrc.size} eval samples)`);
  const res = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: dir, log: (l) => log(`${name}: ${l}`) });
  const ev = res.evals.at(-1)!;
  const bayes = evalSrc.trueProbability ? gauc(evalSrc.labels, evalSrc.trueProbability, evalSrc.groups).gauc : NaN;
  const result: RunResult = {
    name,
    model,
    seed: config.seed,
    gauc: ev.gauc,
    auc: ev.auc,
    logloss: ev.logloss,
    samples: ev.samples,
    gaucUsers: ev.gaucUsers,
    bayesGauc: bayes,
    bayesAuc: ev.bayesAuc ?? NaN,
    seconds: (Date.now() - t0) / 1000,
  };
  atomicWriteFile(resultPath, `${JSON.stringify({ config: cfg, result }, null, 2)}\n`);
  log(`${name}: GAUC ${ev.gauc.toFixed(4)} (Bayes ${bayes.toFixed(4)}) in ${result.seconds.toFixed(0)} s`);
  return result;
}

const meanStd = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : NaN;
  return { mean: m, std: sd };
};
const fmt = (xs: number[]) => {
  const { mean, std } = meanStd(xs);
  return Number.isNaN(std) ? mean.toFixed(4) : `${mean.toFixed(4)} ± ${std.toFixed(4)}`;
};

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = scriptArgs(import.meta.filename, {
      options: {
        quick: { type: 'boolean', default: false },
        seeds: { type: 'string', default: '1' },
        steps: { type: 'string' },
        'extractor-steps': { type: 'string' },
        world: { type: 'string' },
        out: { type: 'string' },
        backend: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`keep: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seeds = values.seeds!.split(',').map((s) => Number(s));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    console.error(`keep: --seeds must be non-negative integers separated by commas, got '${values.seeds}'\n${USAGE}`);
    return 2;
  }
  const quick = values.quick!;
  if (values.world !== undefined && values.world !== 'small' && values.world !== 'default') {
    console.error(`keep: --world must be small or default, got '${values.world}'\n${USAGE}`);
    return 2;
  }
  const out = resolve(values.out ?? join(ROOT, quick ? 'out/experiments-quick/keep' : 'out/experiments/keep'));
  mkdirSync(out, { recursive: true });
  const log = (l: string) => console.error(l);
  await initTfjs({ ...(values.backend ? { backend: values.backend, requestedFrom: '--backend' } : {}), log });
  const c = configs(quick, values.world);
  const stepsOf = (flag: 'steps' | 'extractor-steps'): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError([`--${flag}: expected an integer >= 1, got '${v}'`]);
    return n;
  };
  const withSteps = (cfg: Json, n: number | undefined): Json => {
    if (n === undefined) return cfg;
    const { epochs: _e, steps: _s, ...rest } = cfg;
    return { ...rest, steps: n };
  };
  let dinSteps: number | undefined, extSteps: number | undefined;
  try {
    dinSteps = stepsOf('steps');
    extSteps = stepsOf('extractor-steps');
  } catch (e) {
    console.error(`keep: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  for (const k of ['keep', 'keepC', 'twoTower', 'degenerate'] as const) c[k] = withSteps(c[k], extSteps);
  for (const k of ['base', 'merge', 'din'] as const) c[k] = withSteps(c[k], dinSteps);
  const runDir = (n: string) => join(out, 'runs', n);

  try {
    // extractors (seed of their configs)
    const extractors = {
      keep: await trainRun(out, 'extractor-keep', 'keep', c.keep, log),
      keepC: await trainRun(out, 'extractor-keep-c', 'keep', c.keepC, log),
      twoTower: await trainRun(out, 'extractor-two-tower', 'keep-two-tower', c.twoTower, log),
      degenerate: await trainRun(out, 'extractor-degenerate', 'keep-degenerate', c.degenerate, log),
    };
    const dinData = (c.din['data'] ?? {}) as Json;
    const withKnowledge = (knowledge: Json): Json => ({ ...c.din, data: { ...dinData, knowledge } });
    const keepK = (checkpoint: string, parts?: string[]) =>
      withKnowledge({ checkpoint: runDir(checkpoint), kind: 'keep', ...(parts ? { parts } : {}) });
    const served = (parts?: string[]) =>
      withKnowledge({
        checkpoint: runDir('extractor-two-tower'),
        kind: 'served',
        userCategoryCheckpoint: runDir('extractor-degenerate'),
        ...(parts ? { parts } : {}),
      });
    const variants: Array<{ id: string; label: string; model: string; cfg: Json }> = [
      { id: 'base', label: 'Base (DIN on the sub-domain)', model: 'keep-din-base', cfg: c.base },
      { id: 'merge', label: 'Sample Merging', model: 'keep-din-base', cfg: c.merge },
      { id: 'keep-c', label: 'KEEP-C (extractor co-trained on the sub-domain)', model: 'keep-din', cfg: keepK('extractor-keep-c') },
      { id: 'keep', label: 'KEEP (extractor pre-trained on the super-domain)', model: 'keep-din', cfg: keepK('extractor-keep') },
      { id: 'k-u', label: 'K_u', model: 'keep-din', cfg: keepK('extractor-keep', ['user']) },
      { id: 'k-u-i', label: 'K_u + K_i', model: 'keep-din', cfg: keepK('extractor-keep', ['user', 'item']) },
      { id: 'decomposition', label: 'decomposition: [K̂_u, K̂_i, K̂_u ⊙ K̂_i]', model: 'keep-din', cfg: served(['user', 'item', 'userItem']) },
      { id: 'served', label: 'decomposition + degeneration: [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc]', model: 'keep-din', cfg: served() },
    ];
    const results = new Map<string, RunResult[]>();
    for (const v of variants) {
      const rs: RunResult[] = [];
      for (const seed of seeds) rs.push(await trainRun(out, `${v.id}-seed${seed}`, v.model, { ...v.cfg, seed }, log));
      results.set(v.id, rs);
    }
    const g = (id: string) => results.get(id)!.map((r) => r.gauc);
    const baseMean = meanStd(g('base')).mean;
    const row = (id: string, label: string) => {
      const d = meanStd(g(id)).mean - baseMean;
      return `| ${label} | ${fmt(g(id))} | ${id === 'base' ? '' : `${d >= 0 ? '+' : ''}${d.toFixed(4)}`} |`;
    };
    const label = (id: string) => variants.find((v) => v.id === id)!.label;
    const head = '| variant | GAUC | Δ vs Base |\n|---|---|---|';
    const r0 = results.get('base')![0]!;
    const md = [
      `# KEEP on the synthetic world (${String((c.base['data'] as Json)['preset'] ?? 'small')} ` +
        `world${quick ? ', quick: tiny models' : ''})`,
      '',
      `Sub-domain eval: ${r0.samples} impressions, GAUC over ${r0.gaucUsers} users with both labels; Bayes GAUC (true click ` +
        `probabilities) ${r0.bayesGauc.toFixed(4)}. Seeds: ${seeds.join(', ')}.`,
      '',
      '## Table 2: knowledge transfer',
      '',
      head,
      ...['base', 'merge', 'keep-c', 'keep'].map((id) => row(id, label(id))),
      '',
      '## Knowledge types (parts of K(u, i))',
      '',
      head,
      row('base', 'none (Base)'),
      row('k-u', 'K_u'),
      row('k-u-i', 'K_u + K_i'),
      row('keep', 'K_u + K_i + K_ui (KEEP)'),
      '',
      '## Decomposition and degeneration',
      '',
      head,
      row('keep', 'K(u, i) (KEEP)'),
      row('decomposition', label('decomposition')),
      row('served', label('served')),
      '',
      '## Extractors (GAUC on their own eval split)',
      '',
      '| extractor | domain | GAUC | AUC | Bayes GAUC |',
      '|---|---|---|---|---|',
      ...(
        [
          ['KEEP', extractors.keep, 'super'],
          ['KEEP-C', extractors.keepC, 'sub'],
          ['two-tower', extractors.twoTower, 'super'],
          ['degenerate', extractors.degenerate, 'super'],
        ] as const
      ).map(([n, r, dom]) => `| ${n} | ${dom} | ${r.gauc.toFixed(4)} | ${r.auc.toFixed(4)} | ${r.bayesGauc.toFixed(4)} |`),
      '',
    ].join('\n');
    atomicWriteFile(join(out, 'table.md'), md);
    atomicWriteFile(
      join(out, 'results.json'),
      `${JSON.stringify({ quick, seeds, extractors, variants: variants.map((v) => ({ id: v.id, label: v.label, runs: results.get(v.id) })) }, null, 2)}\n`,
    );
    console.log(md);
    console.error(`keep: wrote ${displayPath(join(out, 'table.md'))} and results.json`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof TrainError) {
      console.error(`keep: ${e.message}`);
      return e instanceof ConfigError ? 2 : 1;
    }
    throw e;
  }
}

process.exitCode = await main();
