#!/usr/bin/env tsx
/**
 * LCN's analyses (papers/lcn-kdd2024.txt) as commands on the synthetic world. Each writes
 * table.md, results.json and chart.svg into its output folder (default out/experiments/<command>/,
 * out/experiments-quick/<command>/ with --quick) and trains its runs into <out>/runs/ (see runs.ts:
 * a finished run with the same config and graph is reused, also from a sibling command's folder;
 * an interrupted one is resumed).
 *
 *   npx tsx experiments/src/lcn.ts table1   CRP ablation (Table 1): λ_CRP = 0 / PT + PS / PT + PS + PC
 *   npx tsx experiments/src/lcn.ts table3   K1 x K2 grid (Table 3)            [--k1s 0,100,200] [--k2s 0,25,50]
 *   npx tsx experiments/src/lcn.ts table5   model comparison (Table 5)        [--models lcn,sim-soft,sim-hard,twin,din]
 *   npx tsx experiments/src/lcn.ts figure5  consistency vs K1 (Figure 5b)     [--checkpoint DIR] [--k1s ...] [--k2 N]
 *                                             [--top 50] [--samples 300] [--probe tfjs|ref] [--fsa-score softmax|logit]
 *   npx tsx experiments/src/lcn.ts ifa-table2  IFA vs its baselines on candidate-set requests (IFA paper Table 2)
 *   npx tsx experiments/src/lcn.ts ifa-table3  IFA's ablation (IFA paper Table 3)
 * (The IFA commands share the run machinery; their runs train the request models of
 * packages/train/src/requests.ts, ESMM loss, metrics per objective.)
 * Common: [--world small|default] [--users N] [--steps N | --epochs N] [--seeds 1,2] [--lifelong-len N]
 *         [--backend wasm|cpu] [--out DIR] [--max-train N] [--quick]
 * Exit codes: 0 done (runs left pending by --max-train or Ctrl-C are listed), 1 a training or probe
 * error, 2 bad flags or config.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  type LifelongConfig,
  Rng,
  atomicWriteFile,
  displayPath,
  hashSeed,
  lifelongConfig,
} from '@lctr/spec';
import { runRef, toHost } from '@lctr/ref-cpu';
import { type TfjsModel, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { CheckpointError, ConfigError, TrainError, getTrainModel, latestCheckpointDir, readCheckpoint } from '@lctr/train';
import { type FsaScore, buildFsaProbe, buildPicksProbe, probeWeights, rowShares } from './consistency.ts';
import { type MetricRow, type Summary, formatDelta, formatSummary, markdownTable, metricRow, summarize } from './rows.ts';
import {
  type Json,
  type JsonObject,
  type Overrides,
  type RunContext,
  type RunOutcome,
  type RunPlan,
  type Variant,
  adoptRun,
  ensureRun,
  planRun,
  readRunRecord,
  runDir,
} from './runs.ts';
import { barChart, lineChart } from './svg.ts';

const COMMANDS = ['table1', 'table3', 'table5', 'figure5', 'ifa-table2', 'ifa-table3'] as const;
type Command = (typeof COMMANDS)[number];
const ROOT = resolve(import.meta.dirname, '../..');
const CONFIGS = join(ROOT, 'packages/train/configs');

const USAGE = `usage: npx tsx experiments/src/lcn.ts <${COMMANDS.join('|')}> [flags]
  table1    CRP ablation (paper Table 1): none (crp.lambda 0) / PT+PS (crp.weights.pc 0) / PT+PS+PC
  table3    K1 x K2 grid (paper Table 3), 0 = level off:     --k1s 0,100,200  --k2s 0,25,50
  table5    model comparison (paper Table 5):                 --models ${'lcn,sim-soft,sim-hard,twin,din'} (also lcn-no-crp, din-600)
  figure5   consistency of the levels vs K1 (paper Figure 5b) --checkpoint DIR (a run or checkpoint dir; default: train LCN here)
            --k1s 50,100,200,400,800  --k2 N (default: the checkpoint's)  --top 50  --samples 300
            --probe tfjs|ref  --fsa-score softmax|logit
  ifa-table2  IFA vs the request baselines (IFA paper Table 2): AvgPooling, full attention, SIM hard, SIM soft, TWIN, IFA,
              all trained ESMM-style on the same requests (ifa-synthetic.json); AUC per objective
  ifa-table3  IFA ablation (IFA paper Table 3): IFA / without full-sequence modelling (the last 50 events) / also
              without relation-aware modelling (no candidate self attention)
common:
  --world small|default   synthetic world size (default: the configs' world, 'default')
  --users N               config.data.worldUsers (0 = the world preset's)
  --steps N | --epochs N  training length (default: the configs', 2 epochs)
  --seeds 1,2             training seeds (config.seed); tables show mean ± sample standard deviation
  --lifelong-len N        config.model.lifelongLen of the lifelong models (default: the configs', 1000)
  --backend wasm|cpu      tfjs backend (default: LCTR_TFJS_BACKEND or the best available)
  --out DIR               output folder (default out/experiments/<command>, out/experiments-quick/<command> with --quick)
  --adopt ID=DIR,...      adopt finished trainer-CLI runs (nx run train:train -- --out DIR) as variant ID's
                          run when their checkpoint holds the same graph and config (else an error says what differs)
  --max-train N           start at most N new trainings (0: only tabulate finished runs); the rest are listed as pending
  --quick                 smoke run: small world, 5 steps, lifelong length 400 (the small world's longest history), 200 probe samples`;

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

// ---- flags ----

function parseAdopt(v: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of (v ?? '').split(',').filter((x) => x.trim())) {
    const at = item.indexOf('=');
    if (at < 1 || at === item.length - 1) throw new UsageError(`--adopt: expected ID=DIR pairs separated by commas, got '${item}'`);
    out.set(item.slice(0, at).trim(), item.slice(at + 1).trim());
  }
  return out;
}

function posInt(flag: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${flag}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

function intList(flag: string, v: string, min: number): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (!parts.length || parts.some((p) => p === ''))
    throw new UsageError(`--${flag}: expected a comma-separated list of integers >= ${min}, got '${v}'`);
  const out = parts.map((p) => posInt(flag, p, min)!);
  if (new Set(out).size !== out.length) throw new UsageError(`--${flag}: expected distinct values, got '${v}'`);
  return out;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag}: expected one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

interface Flags {
  readonly command: Command;
  readonly overrides: Overrides;
  readonly seeds: readonly number[];
  readonly backend?: string;
  readonly out: string;
  readonly quick: boolean;
  readonly maxTrain: number;
  /** variant id -> a finished trainer-CLI run directory to adopt instead of training it */
  readonly adopt: ReadonlyMap<string, string>;
  readonly k1s?: readonly number[];
  readonly k2s?: readonly number[];
  readonly models?: readonly string[];
  readonly checkpoint?: string;
  readonly k2?: number;
  readonly top: number;
  readonly samples: number;
  readonly probe: 'tfjs' | 'ref';
  readonly fsaScore: FsaScore;
}

const STRING_FLAGS = [
  'adopt',
  'world',
  'users',
  'steps',
  'epochs',
  'seeds',
  'backend',
  'out',
  'max-train',
  'lifelong-len',
  'k1s',
  'k2s',
  'models',
  'checkpoint',
  'k2',
  'top',
  'samples',
  'probe',
  'fsa-score',
] as const;
const COMMAND_FLAGS: Record<Command, readonly string[]> = {
  table1: [],
  table3: ['k1s', 'k2s'],
  table5: ['models'],
  figure5: ['k1s', 'checkpoint', 'k2', 'top', 'samples', 'probe', 'fsa-score'],
  'ifa-table2': [],
  'ifa-table3': [],
};

function parseFlags(argv: readonly string[]): Flags | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }])),
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values as Partial<Record<(typeof STRING_FLAGS)[number], string>> & { quick?: boolean; help?: boolean };
  if (v.help) return 'help';
  if (parsed.positionals.length !== 1)
    throw new UsageError(
      `expected one command (${COMMANDS.join(', ')}), got ` +
        `${parsed.positionals.length ? parsed.positionals.map((p) => `'${p}'`).join(' ') : 'none'}`,
    );
  if (!COMMANDS.includes(parsed.positionals[0] as Command))
    throw new UsageError(`command: expected one of ${COMMANDS.join(', ')}, got '${parsed.positionals[0]}'`);
  const command = parsed.positionals[0] as Command;
  for (const f of ['k1s', 'k2s', 'models', 'checkpoint', 'k2', 'top', 'samples', 'probe', 'fsa-score'] as const) {
    if (v[f] !== undefined && !COMMAND_FLAGS[command].includes(f))
      throw new UsageError(
        `--${f}: not a flag of '${command}' (its own flags: ${COMMAND_FLAGS[command].map((x) => `--${x}`).join(', ') || 'none'})`,
      );
  }
  if (v.steps !== undefined && v.epochs !== undefined)
    throw new UsageError(`--steps and --epochs: give at most one, got both ('${v.steps}', '${v.epochs}')`);
  const quick = v.quick === true;
  const world = oneOf('world', v.world, ['small', 'default'] as const) ?? (quick ? 'small' : undefined);
  const steps = posInt('steps', v.steps) ?? (quick && v.epochs === undefined ? 5 : undefined);
  const epochs = posInt('epochs', v.epochs);
  const users = posInt('users', v.users, 0);
  const lifelongLen = posInt('lifelong-len', v['lifelong-len']) ?? (quick ? 400 : undefined);
  const overrides: Overrides = {
    ...(world !== undefined ? { world } : {}),
    ...(users !== undefined ? { users } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(epochs !== undefined ? { epochs } : {}),
    ...(lifelongLen !== undefined ? { lifelongLen } : {}),
  };
  const seeds = v.seeds === undefined ? [1] : intList('seeds', v.seeds, 0);
  const backend = oneOf('backend', v.backend, ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const);
  const maxTrain = posInt('max-train', v['max-train'], 0) ?? Infinity;
  const out = resolve(v.out ?? join(ROOT, quick ? 'out/experiments-quick' : 'out/experiments', command));
  const models = v.models === undefined ? undefined : v.models.split(',').map((s) => s.trim());
  if (models) {
    const bad = models.filter((m) => !(m in TABLE5_MODELS));
    if (bad.length || !models.length)
      throw new UsageError(`--models: expected a comma-separated list of ${Object.keys(TABLE5_MODELS).join(', ')}, got '${v.models}'`);
    if (new Set(models).size !== models.length) throw new UsageError(`--models: expected distinct models, got '${v.models}'`);
  }
  return {
    command,
    overrides,
    seeds,
    ...(backend ? { backend } : {}),
    out,
    quick,
    maxTrain,
    adopt: parseAdopt(v['adopt']),
    ...(v.k1s !== undefined ? { k1s: intList('k1s', v.k1s, command === 'figure5' ? 1 : 0) } : {}),
    ...(v.k2s !== undefined ? { k2s: intList('k2s', v.k2s, 0) } : {}),
    ...(models ? { models } : {}),
    ...(v.checkpoint !== undefined ? { checkpoint: resolve(v.checkpoint) } : {}),
    ...(v.k2 !== undefined ? { k2: posInt('k2', v.k2)! } : {}),
    top: posInt('top', v.top) ?? 50,
    samples: posInt('samples', v.samples) ?? (quick ? 200 : 300),
    probe: oneOf('probe', v.probe, ['tfjs', 'ref'] as const) ?? 'tfjs',
    fsaScore: oneOf('fsa-score', v['fsa-score'], ['softmax', 'logit'] as const) ?? 'softmax',
  };
}

// ---- variants ----

const lcnConfigJson = (): JsonObject => JSON.parse(readFileSync(join(CONFIGS, 'lcn-synthetic.json'), 'utf8')) as JsonObject;

/** Table 5's models; `paper`: the paper's industrial AUC (Table 5) where it reports the model. */
const TABLE5_MODELS: Record<string, { variant: () => Variant; paper?: number }> = {
  lcn: {
    variant: () => {
      const lap = ((lcnConfigJson()['model'] as JsonObject)['lap'] ?? {}) as JsonObject;
      return { id: 'lcn', label: `LCN-${String(lap['k1'])}-${String(lap['k2'])}`, model: 'lcn', configFile: 'lcn-synthetic.json' };
    },
    paper: 0.7294,
  },
  'lcn-no-crp': {
    variant: () => ({
      id: 'lcn-no-crp',
      label: 'LCN w/o CRP',
      model: 'lcn',
      configFile: 'lcn-synthetic.json',
      patch: { model: { crp: { lambda: 0 } } },
      expect: [{ path: 'crp.lambda', value: 0, meaning: 'CRP off' }],
    }),
    paper: 0.7237,
  },
  'sim-soft': {
    variant: () => ({ id: 'sim-soft', label: 'SIM soft', model: 'sim-soft', configFile: 'sim-soft-synthetic.json' }),
    paper: 0.7196,
  },
  'sim-hard': { variant: () => ({ id: 'sim-hard', label: 'SIM hard', model: 'sim-hard', configFile: 'sim-hard-synthetic.json' }) },
  twin: { variant: () => ({ id: 'twin', label: 'TWIN', model: 'twin', configFile: 'twin-synthetic.json' }), paper: 0.7212 },
  din: { variant: () => ({ id: 'din', label: 'DIN (last 50 events)', model: 'din', configFile: 'din-synthetic.json' }) },
  'din-600': {
    variant: () => ({ id: 'din-600', label: 'DIN (last 600 source events)', model: 'din', configFile: 'din-600-synthetic.json' }),
  },
};

// ---- output ----

interface Output {
  readonly markdown: string;
  readonly json: JsonObject;
  readonly svg: string;
}

function describeSetup(f: Flags): string {
  const o = f.overrides;
  const parts = [
    `world ${o.world ?? 'of the configs'}`,
    ...(o.users !== undefined ? [`${o.users} users`] : []),
    o.steps !== undefined ? `${o.steps} steps` : o.epochs !== undefined ? `${o.epochs} epochs` : "the configs' length",
    ...(o.lifelongLen !== undefined ? [`lifelong length ${o.lifelongLen}`] : []),
    `seeds ${f.seeds.join(', ')}`,
    `tfjs ${tf.getBackend()}`,
    ...(f.quick ? ['QUICK smoke run: not a result'] : []),
  ];
  return parts.join(', ');
}

function runsJson(outcomes: readonly RunOutcome[]): Json[] {
  return outcomes.map((o) => {
    const r = o.record?.result;
    return {
      variant: o.variant.id,
      seed: o.seed,
      status: o.status,
      dir: displayPath(o.dir, ROOT),
      ...(o.record ? { configHash: o.record.configHash, graphSha256: o.record.graphSha256, model: o.record.model } : {}),
      ...(r
        ? {
            step: r.step,
            totalSteps: r.totalSteps,
            auc: r.final.auc,
            gauc: r.final.gauc,
            logloss: r.final.logloss,
            ...(r.final.bayesAuc !== undefined ? { bayesAuc: r.final.bayesAuc } : {}),
            samples: r.final.samples,
            backend: r.backend,
            trainSize: r.trainSize,
            batchSize: r.batchSize,
            msPerStep: Number.isFinite(r.msPerStep) ? r.msPerStep : null,
            wallSeconds: r.wallSeconds,
            evalSeconds: r.evalSeconds,
          }
        : {}),
    };
  });
}

/** Timing of the finished runs: what a longer run would take is steps x ms/step + evals. */
function timingTable(outcomes: readonly RunOutcome[]): string {
  const done = outcomes.filter((o) => o.record?.result);
  if (!done.length) return '';
  const rows = done.map((o) => {
    const r = o.record!.result!;
    return [
      `${o.variant.id}-seed${o.seed}`,
      o.status,
      `${r.totalSteps}`,
      Number.isFinite(r.msPerStep) ? r.msPerStep.toFixed(0) : '–',
      r.evalSeconds.toFixed(1),
      r.wallSeconds.toFixed(1),
      r.backend,
    ];
  });
  return `\n### Runs\n\n${markdownTable(['run', 'status', 'steps', 'ms/step (train)', 'eval s', 'wall s (this process)', 'backend'], rows, ['left', 'left', 'right', 'right', 'right', 'right', 'left'])}`;
}

function pendingNote(outcomes: readonly RunOutcome[]): string {
  const p = outcomes.filter((o) => o.status === 'pending');
  return p.length
    ? `\n**Pending (not trained yet, left out of the rows):** ${p.map((o) => `${o.variant.id}-seed${o.seed}`).join(', ')}. Run the ` +
        `command again to train them (finished runs are reused).\n`
    : '';
}

/** Rows (finished seeds only) of a metric table. */
function metricRows(variants: readonly Variant[], outcomes: readonly RunOutcome[]): MetricRow[] {
  return variants.map((v) =>
    metricRow(
      v.id,
      v.label,
      outcomes.filter((o) => o.variant.id === v.id && o.record?.result).map((o) => ({ seed: o.seed, metrics: o.record!.result!.final })),
    ),
  );
}

function metricTable(rows: readonly MetricRow[], seeds: number, extra: { header: string; cell: (r: MetricRow) => string }[]): string {
  return markdownTable(
    ['variant', 'seeds', 'AUC', 'GAUC', 'logloss', 'Bayes AUC', 'gap closed %', ...extra.map((e) => e.header)],
    rows.map((r) => [
      r.label,
      `${r.seeds.length}/${seeds}`,
      formatSummary(r.auc),
      formatSummary(r.gauc),
      formatSummary(r.logloss),
      formatSummary(r.bayesAuc),
      formatSummary(r.gapShare, 1, 100),
      ...extra.map((e) => e.cell(r)),
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', ...extra.map(() => 'right' as const)],
  );
}

const deltaVs = (ref: MetricRow | undefined) => (r: MetricRow) =>
  ref && ref.auc.n && r.auc.n ? formatDelta(r.auc.mean - ref.auc.mean) : '–';
const spreadOrZero = (s: Summary) => (Number.isFinite(s.spread) ? s.spread : 0);

function summaryJson(s: Summary): Json {
  const f = (x: number) => (Number.isFinite(x) ? x : null);
  return { n: s.n, mean: f(s.mean), spread: f(s.spread), min: f(s.min), max: f(s.max) };
}
function rowJson(r: MetricRow): Json {
  return {
    variant: r.variant,
    label: r.label,
    seeds: [...r.seeds],
    auc: summaryJson(r.auc),
    gauc: summaryJson(r.gauc),
    logloss: summaryJson(r.logloss),
    bayesAuc: summaryJson(r.bayesAuc),
    gapShare: summaryJson(r.gapShare),
  };
}

function aucChart(title: string, subtitle: string, rows: readonly MetricRow[], xLabel: string): string {
  const bayes = summarize(rows.filter((r) => r.bayesAuc.n).map((r) => r.bayesAuc.mean));
  return barChart({
    title,
    subtitle,
    xLabel,
    yLabel: 'test AUC / GAUC',
    groups: rows.map((r) => r.label),
    series: [
      { name: 'AUC', values: rows.map((r) => r.auc.mean), errors: rows.map((r) => spreadOrZero(r.auc)) },
      { name: 'GAUC', values: rows.map((r) => r.gauc.mean), errors: rows.map((r) => spreadOrZero(r.gauc)) },
    ],
    ...(bayes.n ? { reference: { label: `Bayes AUC ${bayes.mean.toFixed(4)}`, value: bayes.mean } } : {}),
  });
}

async function runAll(ctx: RunContext, variants: readonly Variant[], seeds: readonly number[]): Promise<RunOutcome[]> {
  const plans: RunPlan[] = [];
  for (const seed of seeds) for (const v of variants) plans.push(await planRun(ctx, v, seed));
  const out: RunOutcome[] = [];
  for (const p of plans) {
    const src = ctx.adopt.get(p.variant.id);
    const own = readRunRecord(runDir(ctx.outDir, p.variant, p.seed));
    const done = own?.finished && own.configHash === p.configHash && own.graphSha256 === p.graphSha256;
    out.push(src !== undefined && !done && p.seed === seeds[0] ? adoptRun(ctx, p, src) : await ensureRun(ctx, p));
  }
  return out;
}

// ---- commands ----

async function table1(f: Flags, ctx: RunContext): Promise<Output> {
  const variants: Variant[] = [
    {
      id: 'crp-none',
      label: 'none (λ_CRP = 0)',
      model: 'lcn',
      configFile: 'lcn-synthetic.json',
      patch: { model: { crp: { lambda: 0 } } },
      expect: [{ path: 'crp.lambda', value: 0, meaning: 'CRP off' }],
    },
    {
      id: 'crp-pt-ps',
      label: 'PT + PS (w_PC = 0)',
      model: 'lcn',
      configFile: 'lcn-synthetic.json',
      patch: { model: { crp: { weights: { pc: 0 } } } },
      expect: [{ path: 'crp.weights.pc', value: 0, meaning: 'no cross-domain term' }],
    },
    { id: 'crp-all', label: 'PT + PS + PC', model: 'lcn', configFile: 'lcn-synthetic.json' },
  ];
  const paper: Record<string, number> = { 'crp-none': 0.7237, 'crp-pt-ps': 0.725, 'crp-all': 0.7294 };
  const outcomes = await runAll(ctx, variants, f.seeds);
  const rows = metricRows(variants, outcomes);
  const setup = describeSetup(f);
  const md =
    `## LCN Table 1: CRP ablation\n\nLCN (lcn-synthetic.json) with the CRP loss off (λ_CRP = 0: no pair inputs, no CRP term), with the in-domain terms only (PT + PS: the cross-domain weight w_PC = 0) and with all three; everything else fixed. ${setup}. ± = sample standard deviation over seeds; gap closed = (AUC − 0.5) / (Bayes AUC − 0.5); paper = Table 1's AUC (industrial data, for the direction only).\n\n` +
    metricTable(rows, f.seeds.length, [
      { header: 'Δ AUC vs none', cell: deltaVs(rows[0]) },
      { header: 'paper AUC', cell: (r) => paper[r.variant]?.toFixed(4) ?? '' },
    ]) +
    pendingNote(outcomes) +
    timingTable(outcomes);
  return {
    markdown: md,
    json: { rows: rows.map(rowJson), runs: runsJson(outcomes), paperAuc: paper },
    svg: aucChart('LCN: CRP ablation (Table 1)', setup, rows, 'CRP loss terms'),
  };
}

async function table3(f: Flags, ctx: RunContext): Promise<Output> {
  const k1s = f.k1s ?? [0, 100, 200],
    k2s = f.k2s ?? [0, 25, 50];
  for (const a of k1s)
    for (const b of k2s) {
      if (a > 0 && b > a)
        throw new UsageError(
          `--k1s / --k2s: every K2 must be <= every K1 that is on (FSA picks among MSA's K1 survivors), got K1 ${a} with K2 ${b}`,
        );
    }
  const off = (k: number) => (k === 0 ? 'off' : String(k));
  const variants: Variant[] = k1s.flatMap((a) =>
    k2s.map((b) => ({
      id: `k1-${a}-k2-${b}`,
      label: `K1 ${off(a)}, K2 ${off(b)}`,
      model: 'lcn',
      configFile: 'lcn-synthetic.json',
      patch: { model: { lap: { k1: a, k2: b } } },
      expect: [
        { path: 'lap.k1', value: a, meaning: a === 0 ? 'MSA off' : `MSA over the top ${a}` },
        { path: 'lap.k2', value: b, meaning: b === 0 ? 'FSA off' : `FSA over the top ${b}` },
      ],
    })),
  );
  // Table 3's AUC where the paper has the same pool sizes (its "- -" row is SIM soft, not CSA alone)
  const paper: Record<string, number> = {
    'k1-0-k2-50': 0.7297,
    'k1-50-k2-0': 0.7266,
    'k1-100-k2-50': 0.7279,
    'k1-200-k2-50': 0.7294,
    'k1-200-k2-100': 0.7296,
    'k1-100-k2-30': 0.7271,
    'k1-200-k2-30': 0.7286,
    'k1-500-k2-30': 0.7288,
    'k1-500-k2-50': 0.7295,
    'k1-500-k2-100': 0.7297,
  };
  const outcomes = await runAll(ctx, variants, f.seeds);
  const rows = metricRows(variants, outcomes);
  const setup = describeSetup(f);
  const ref = rows.find((r) => r.variant === 'k1-0-k2-0');
  const grid = markdownTable(
    ['K1 \\ K2', ...k2s.map(off)],
    k1s.map((a) => [off(a), ...k2s.map((b) => formatSummary(rows.find((r) => r.variant === `k1-${a}-k2-${b}`)!.auc))]),
    ['left', ...k2s.map(() => 'right' as const)],
  );
  const md =
    `## LCN Table 3: pool sizes K1 (MSA) x K2 (FSA)\n\nLCN (lcn-synthetic.json, CRP on) with MSA over CSA's top-K1 and FSA over MSA's top-K2; 0 switches a level off (left out of IR_LAP; with MSA off FSA takes CSA's top-K2). ${setup}. ± = sample standard deviation over seeds.\n\nAUC:\n\n${grid}\n` +
    metricTable(rows, f.seeds.length, [
      { header: 'Δ AUC vs CSA only', cell: deltaVs(ref) },
      { header: 'paper AUC', cell: (r) => paper[r.variant]?.toFixed(4) ?? '' },
    ]) +
    pendingNote(outcomes) +
    timingTable(outcomes);
  const svg = barChart({
    title: 'LCN: pool sizes K1 x K2 (Table 3)',
    subtitle: setup,
    xLabel: 'K1 (MSA pool; off = MSA left out)',
    yLabel: 'test AUC',
    groups: k1s.map((a) => `K1 ${off(a)}`),
    series: k2s.map((b) => {
      const cells = k1s.map((a) => rows.find((r) => r.variant === `k1-${a}-k2-${b}`)!);
      return { name: `K2 ${off(b)}`, values: cells.map((r) => r.auc.mean), errors: cells.map((r) => spreadOrZero(r.auc)) };
    }),
  });
  return { markdown: md, json: { k1s: [...k1s], k2s: [...k2s], rows: rows.map(rowJson), runs: runsJson(outcomes), paperAuc: paper }, svg };
}

async function table5(f: Flags, ctx: RunContext): Promise<Output> {
  const names = f.models ?? ['lcn', 'sim-soft', 'sim-hard', 'twin', 'din'];
  const variants = names.map((m) => TABLE5_MODELS[m]!.variant());
  const outcomes = await runAll(ctx, variants, f.seeds);
  const rows = metricRows(variants, outcomes);
  const setup = describeSetup(f);
  const ref = rows.find((r) => r.variant === 'din');
  const md =
    `## LCN Table 5: model comparison\n\nEach model with its own config (packages/train/configs/<model>-synthetic.json; lcn, sim-soft, sim-hard and twin share every architecture key and differ only in the lifelong module, CRP on for LCN only). DIN is the \`din\` model with din-synthetic.json: the same network as the lifelong family's base with module 'none' (same parameters, same initialisation, op for op) but reachable through the trainer registry, so its runs are the ones BENCHMARKS.md reports; it reads only the last 50 target and source events. ${setup}. ± = sample standard deviation over seeds; gap closed = (AUC − 0.5) / (Bayes AUC − 0.5); paper = Table 5's industrial AUC.\n\n` +
    metricTable(rows, f.seeds.length, [
      ...(ref ? [{ header: 'Δ AUC vs DIN', cell: deltaVs(ref) }] : []),
      { header: 'paper AUC', cell: (r) => TABLE5_MODELS[r.variant]?.paper?.toFixed(4) ?? '' },
    ]) +
    pendingNote(outcomes) +
    timingTable(outcomes);
  return {
    markdown: md,
    json: { models: [...names], rows: rows.map(rowJson), runs: runsJson(outcomes) },
    svg: aucChart('LCN vs lifelong baselines (Table 5)', setup, rows, 'model'),
  };
}

// ---- IFA (papers/ifa-2024.txt): the request models, trained ESMM-style on the same requests ----

/** Per-objective AUCs of the finished runs of a variant (the headline click metrics are the usual fields). */
function objectiveSummary(outcomes: readonly RunOutcome[], variant: string, objective: string, field: 'auc' | 'bayesAuc' = 'auc'): Summary {
  return summarize(
    outcomes
      .filter((o) => o.variant.id === variant && o.record?.result)
      .map((o) => {
        const obj = (o.record!.result!.final as { objectives?: Record<string, { auc: number; bayesAuc?: number }> }).objectives?.[
          objective
        ];
        return obj?.[field] ?? NaN;
      })
      .filter(Number.isFinite),
  );
}

function ifaTable(
  rows: readonly MetricRow[],
  outcomes: readonly RunOutcome[],
  seeds: number,
  extra: { header: string; cell: (r: MetricRow) => string }[],
): string {
  return markdownTable(
    [
      'model',
      'seeds',
      'click AUC',
      'click GAUC',
      'click logloss',
      'impression AUC',
      'ranking AUC (p_imp · p_click)',
      'Bayes click AUC',
      'gap closed %',
      ...extra.map((e) => e.header),
    ],
    rows.map((r) => [
      r.label,
      `${r.seeds.length}/${seeds}`,
      formatSummary(r.auc),
      formatSummary(r.gauc),
      formatSummary(r.logloss),
      formatSummary(objectiveSummary(outcomes, r.variant, 'impression')),
      formatSummary(objectiveSummary(outcomes, r.variant, 'ranking')),
      formatSummary(r.bayesAuc),
      formatSummary(r.gapShare, 1, 100),
      ...extra.map((e) => e.cell(r)),
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', ...extra.map(() => 'right' as const)],
  );
}

const IFA_SETUP =
  'Requests of the synthetic world (packages/data synthetic/requests.ts): one user, up to C = 20 target candidates, impressions drawn by ' +
  'a noisy exposure policy, clicks among the impressed with a redundancy effect (a click is less likely when other impressed ' +
  'candidates share its topic); N = 500 most recent source events. Every model is the same request model (packages/spec models/ifa.ts: ' +
  'user, candidate and cross-feature embeddings, impression and click towers, ESMM loss) with one sequence module switched; click AUC ' +
  '= p(click | impression) over impressed candidates (the headline), impression AUC over all candidates, ranking AUC = p_imp · p_click ' +
  'vs click over all candidates';

const IFA_TABLE2: ReadonlyArray<{ id: string; label: string; model: string; paper?: number }> = [
  { id: 'ifa-avgpool', label: 'AvgPooling', model: 'ifa-avgpool' },
  {
    id: 'ifa-full-attention',
    label: 'full attention (DIN-style, softmax over the whole sequence)',
    model: 'ifa-full-attention',
    paper: 0.9498,
  },
  { id: 'ifa-sim-hard', label: 'SIM hard', model: 'ifa-sim-hard' },
  { id: 'ifa-sim-soft', label: 'SIM soft', model: 'ifa-sim-soft', paper: 0.9566 },
  { id: 'ifa-twin', label: 'TWIN', model: 'ifa-twin', paper: 0.9632 },
  { id: 'ifa', label: 'IFA', model: 'ifa', paper: 0.9815 },
];

async function ifaTable2(f: Flags, ctx: RunContext): Promise<Output> {
  const variants: Variant[] = IFA_TABLE2.map((m) => ({ id: m.id, label: m.label, model: m.model, configFile: 'ifa-synthetic.json' }));
  const outcomes = await runAll(ctx, variants, f.seeds);
  const rows = metricRows(variants, outcomes);
  const setup = describeSetup(f);
  const ref = rows.find((r) => r.variant === 'ifa-full-attention');
  const md =
    `## IFA Table 2: IFA vs the request baselines\n\n${IFA_SETUP}. The paper's "DIN" row is full target attention over the sequence; its numbers (industrial data, click AUC) give the direction only. ${setup}. ± = sample standard deviation over seeds; gap closed = (AUC − 0.5) / (Bayes AUC − 0.5).\n\n` +
    ifaTable(rows, outcomes, f.seeds.length, [
      ...(ref ? [{ header: 'Δ click AUC vs full attention', cell: deltaVs(ref) }] : []),
      { header: 'paper click AUC', cell: (r) => IFA_TABLE2.find((m) => m.id === r.variant)?.paper?.toFixed(4) ?? '' },
    ]) +
    pendingNote(outcomes) +
    timingTable(outcomes);
  const json: JsonObject = {
    rows: rows.map((r) => ({
      ...(rowJson(r) as JsonObject),
      impressionAuc: summaryJson(objectiveSummary(outcomes, r.variant, 'impression')),
      rankingAuc: summaryJson(objectiveSummary(outcomes, r.variant, 'ranking')),
    })),
    runs: runsJson(outcomes),
    paperClickAuc: Object.fromEntries(IFA_TABLE2.filter((m) => m.paper).map((m) => [m.id, m.paper!])),
  };
  return { markdown: md, json, svg: aucChart('IFA vs request baselines (IFA Table 2)', setup, rows, 'model (click AUC / GAUC)') };
}

async function ifaTable3(f: Flags, ctx: RunContext): Promise<Output> {
  const variants: Variant[] = [
    { id: 'ifa', label: 'IFA', model: 'ifa', configFile: 'ifa-synthetic.json' },
    {
      id: 'ifa-no-full-sequence',
      label: 'w/o full-sequence modelling (the last 50 events)',
      model: 'ifa',
      configFile: 'ifa-synthetic.json',
      patch: { model: { fullSequence: false } },
      expect: [{ path: 'fullSequence', value: false, meaning: 'the model reads only the last shortLen events' }],
    },
    {
      id: 'ifa-no-full-sequence-no-relation',
      label: 'also w/o relation-aware modelling (no candidate self attention)',
      model: 'ifa',
      configFile: 'ifa-synthetic.json',
      patch: { model: { fullSequence: false, relationAware: false } },
      expect: [
        { path: 'fullSequence', value: false, meaning: 'short sequence' },
        { path: 'relationAware', value: false, meaning: 'no candidate self attention' },
      ],
    },
  ];
  const outcomes = await runAll(ctx, variants, f.seeds);
  const rows = metricRows(variants, outcomes);
  const setup = describeSetup(f);
  const md =
    `## IFA Table 3: ablation\n\n${IFA_SETUP}. IFA as in Table 2; then reading only the last 50 events (the same model with N = 50); then also without the candidate self attention (each candidate scored alone). ${setup}. ± = sample standard deviation over seeds.\n\n` +
    ifaTable(rows, outcomes, f.seeds.length, [{ header: 'Δ click AUC vs IFA', cell: deltaVs(rows[0]) }]) +
    pendingNote(outcomes) +
    timingTable(outcomes);
  return {
    markdown: md,
    json: { rows: rows.map(rowJson), runs: runsJson(outcomes) },
    svg: aucChart('IFA ablation (IFA Table 3)', setup, rows, 'variant (click AUC / GAUC)'),
  };
}

// ---- figure 5 ----

interface ProbeCurve {
  readonly checkpoint: string;
  readonly seed: number;
  readonly trainedK1?: number;
  readonly k2: number;
  readonly samples: number;
  readonly meanValid: number;
  /** per K1: mean over samples of the share of FSA's top-`top` found by CSA's K1 picks / the K2 picks */
  readonly k1Share: ReadonlyMap<number, number>;
  readonly k2Share: ReadonlyMap<number, number>;
  /** CSA's own top-K2 (MSA off): independent of K1 */
  readonly csaK2Share: number;
  /** what K random valid picks would find: the mean over samples of min(1, K / valid length), per K1 and for K2 */
  readonly chanceK1: ReadonlyMap<number, number>;
  readonly chanceK2: number;
}

const meanFinite = (xs: readonly number[]) => {
  const v = xs.filter(Number.isFinite);
  return v.length ? v.reduce((s, x) => s + x, 0) / v.length : NaN;
};

interface Runner {
  run(
    g: Graph<FeatureSchema, string>,
    w: ReadonlyMap<string, HostTensor<'float32'>>,
    inputs: Record<string, HostTensor>,
  ): Record<string, ArrayLike<number>>;
  dispose(): void;
}

/** ref-cpu (float64 interpreter) or tfjs (each graph compiled once, with its weights, on first use). */
function makeRunner(kind: 'tfjs' | 'ref'): Runner {
  if (kind === 'ref') {
    return {
      run: (g, w, inputs) =>
        Object.fromEntries(
          Object.entries(runRef(g, w, inputs as InputsOf<FeatureSchema>)).map(([k, t]) => [k, toHost(t).data as ArrayLike<number>]),
        ),
      dispose: () => {},
    };
  }
  const compiled = new Map<Graph<FeatureSchema, string>, TfjsModel<FeatureSchema, string>>();
  return {
    run(g, w, inputs) {
      let m = compiled.get(g);
      if (!m) {
        m = compileTfjs(g, { weights: w });
        compiled.set(g, m);
      }
      return Object.fromEntries(Object.entries(m.run(inputs as InputsOf<FeatureSchema>)).map(([k, t]) => [k, t.data as ArrayLike<number>]));
    },
    dispose() {
      for (const m of compiled.values()) m.dispose();
      compiled.clear();
    },
  };
}

async function probeCheckpoint(f: Flags, dir: string, seed: number, k1s: readonly number[], log: (l: string) => void): Promise<ProbeCurve> {
  const ckpt = readCheckpoint(dir);
  const meta = ckpt.graph.meta as { model?: unknown; config?: unknown };
  if (meta.model !== 'lifelong' || meta.config === null || typeof meta.config !== 'object') {
    throw new UsageError(
      `--checkpoint: ${dir} holds graph '${ckpt.graph.name}' (meta.model ${JSON.stringify(meta.model)}), expected an LCN training ` +
        `checkpoint (meta.model 'lifelong', module 'lap')`,
    );
  }
  const cfg: LifelongConfig = lifelongConfig(meta.config as Partial<LifelongConfig>);
  if (cfg.module !== 'lap')
    throw new UsageError(`--checkpoint: ${dir} is a lifelong model with module '${cfg.module}', expected 'lap' (LCN)`);
  const k2 = f.k2 ?? cfg.lap.k2;
  if (k2 === undefined) throw new UsageError(`--checkpoint: ${dir} was trained with FSA off (lap.k2 unset): there is no lap/fsa to probe`);
  const N = cfg.lifelongLen;
  if (f.top > N) throw new UsageError(`--top: expected at most the lifelong length ${N}, got ${f.top}`);
  if (k2 > N) throw new UsageError(`--k2: expected at most the lifelong length ${N}, got ${k2}`);
  const usable = k1s.filter((k) => k <= N && k >= k2);
  const dropped = k1s.filter((k) => !usable.includes(k));
  if (dropped.length) log(`figure5: K1 ${dropped.join(', ')} left out (K1 must be in [K2 = ${k2}, N = ${N}])`);
  if (!usable.length) throw new UsageError(`--k1s: no K1 in [K2 = ${k2}, lifelong length ${N}], got ${k1s.join(',')}`);

  const source = await getTrainModel('lcn').source({
    split: 'eval',
    seed: ckpt.state.config.seed,
    data: ckpt.state.config.data,
    model: ckpt.state.config.model,
    where: join(dir, 'state.json'),
  });
  const n = Math.min(f.samples, source.size);
  const order = Int32Array.from({ length: source.size }, (_, i) => i);
  // the same samples for every checkpoint (the spread over seeds is the training's, not the sample's)
  const rng = new Rng(hashSeed('lcn-figure5', 'samples'));
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const picked = order.slice(0, n).sort();

  const runner = makeRunner(f.probe);
  const fsaGraph = buildFsaProbe(cfg, { top: f.top, k2, score: f.fsaScore });
  const fsaW = probeWeights(fsaGraph, ckpt.weights);
  const picks = new Map(usable.map((k1) => [k1, buildPicksProbe(cfg, k1, k2)] as const));
  const picksW = new Map([...picks].map(([k1, g]) => [k1, probeWeights(g, ckpt.weights)] as const));
  const k1Rows = new Map(usable.map((k) => [k, [] as number[]])),
    k2Rows = new Map(usable.map((k) => [k, [] as number[]]));
  const csaRows: number[] = [];
  const validLengths: number[] = [];
  const BATCH = 100;
  const t0 = performance.now();
  try {
    for (let s = 0; s < n; s += BATCH) {
      const idx = picked.subarray(s, Math.min(n, s + BATCH));
      const all = source.batch(idx) as Record<string, HostTensor>;
      const feed = (g: Graph) => Object.fromEntries(g.inputs.map((i) => [i.name, all[i.name]!]));
      const R = idx.length;
      const mask = all['lifelongMask']!.data as ArrayLike<number>;
      for (let r = 0; r < R; r++) {
        let v = 0;
        for (let i = r * N; i < (r + 1) * N; i++) v += mask[i] ? 1 : 0;
        validLengths.push(v);
      }
      const base = runner.run(fsaGraph, fsaW, feed(fsaGraph));
      csaRows.push(...rowShares(R, base['fsaTop']!, base['fsaTopValid']!, base['csaTopK2']!, base['csaTopK2Valid']!));
      for (const [k1, g] of picks) {
        const p = runner.run(g, picksW.get(k1)!, feed(g));
        k1Rows.get(k1)!.push(...rowShares(R, base['fsaTop']!, base['fsaTopValid']!, p['k1Picks']!, p['k1Valid']!));
        k2Rows.get(k1)!.push(...rowShares(R, base['fsaTop']!, base['fsaTopValid']!, p['k2Picks']!, p['k2Valid']!));
      }
    }
  } finally {
    runner.dispose();
  }
  log(`figure5: probed ${displayPath(dir)} on ${n} eval samples with ${f.probe} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // a sample whose real set is empty (no valid item) counts in no share, and in no chance either
  const chance = (k: number) => meanFinite(validLengths.map((v) => (v > 0 ? Math.min(1, k / v) : NaN)));
  return {
    checkpoint: displayPath(dir, ROOT),
    seed,
    ...(cfg.lap.k1 !== undefined ? { trainedK1: cfg.lap.k1 } : {}),
    k2,
    samples: n,
    meanValid: validLengths.reduce((a, b) => a + b, 0) / n,
    chanceK1: new Map(usable.map((k) => [k, chance(k)])),
    chanceK2: chance(k2),
    k1Share: new Map([...k1Rows].map(([k, v]) => [k, meanFinite(v)])),
    k2Share: new Map([...k2Rows].map(([k, v]) => [k, meanFinite(v)])),
    csaK2Share: meanFinite(csaRows),
  };
}

async function figure5(f: Flags, ctx: RunContext): Promise<Output> {
  const k1s = f.k1s ?? [50, 100, 200, 400, 800];
  let outcomes: RunOutcome[] = [];
  const checkpoints: Array<{ dir: string; seed: number }> = [];
  if (f.checkpoint) {
    const dir = existsSync(join(f.checkpoint, 'state.json')) ? f.checkpoint : latestCheckpointDir(f.checkpoint);
    if (!dir)
      throw new UsageError(
        `--checkpoint: ${f.checkpoint} is neither a checkpoint directory (state.json) nor a run directory with checkpoints/latest`,
      );
    checkpoints.push({ dir, seed: readCheckpoint(dir).state.config.seed });
  } else {
    const variant: Variant = { id: 'lcn', label: 'LCN', model: 'lcn', configFile: 'lcn-synthetic.json' };
    outcomes = await runAll(ctx, [variant], f.seeds);
    for (const o of outcomes) {
      if (o.status === 'pending') continue;
      const dir = latestCheckpointDir(o.dir);
      if (!dir) throw new CheckpointError(`${o.dir}: a finished run without checkpoints/latest`);
      checkpoints.push({ dir, seed: o.seed });
    }
  }
  const curves: ProbeCurve[] = [];
  for (const c of checkpoints) curves.push(await probeCheckpoint(f, c.dir, c.seed, k1s, ctx.log));
  const setup =
    `${describeSetup(f)}; probe: ${f.probe}, FSA score ` +
    `${f.fsaScore === 'softmax' ? 'softmax per head averaged over heads' : 'logits averaged over heads'}, top ${f.top}`;
  const usable = curves.length ? [...curves[0]!.k1Share.keys()] : [];
  const k2 = curves[0]?.k2;
  const at = (pick: (c: ProbeCurve) => number) => summarize(curves.map(pick).filter(Number.isFinite));
  const rows = usable.map((k1) => ({
    k1,
    k1Share: at((c) => c.k1Share.get(k1)!),
    k2Share: at((c) => c.k2Share.get(k1)!),
    chanceK1: at((c) => c.chanceK1.get(k1)!),
  }));
  const csa = at((c) => c.csaK2Share);
  const chanceK2 = at((c) => c.chanceK2);
  const pct = (s: Summary) => formatSummary(s, 1, 100);
  const trained = [...new Set(curves.map((c) => c.trainedK1))].join(', ');
  const table = markdownTable(
    [
      'K1',
      `CSA's top-K1 (the K1 picks) %`,
      `chance, K1 random picks %`,
      `K2 picks (CSA → MSA top-${k2}) %`,
      `CSA's top-${k2} directly (MSA off) %`,
      `chance, ${k2} random picks %`,
    ],
    rows.map((r) => [String(r.k1), pct(r.k1Share), pct(r.chanceK1), pct(r.k2Share), pct(csa), pct(chanceK2)]),
    ['right', 'right', 'right', 'right', 'right', 'right'],
  );
  const md =
    `## LCN Figure 5 (b): consistency of the attention levels vs K1\n\n` +
    `Share of FSA's top-${f.top} over the whole lifelong sequence (FSA's trained query/key weights on [item ‖ context] embeddings of all N valid items, ${f.fsaScore === 'softmax' ? 'attention softmax per head averaged over the heads' : 'attention logits averaged over the heads'}) that the earlier levels hand on: CSA's K1 picks, and the K2 = ${k2} picks FSA really reads (MSA's top-K2 among the K1 picks). K1 is varied at probe time on the trained weights (trained with K1 = ${trained || '?'}); "CSA's top-${k2} directly" is what FSA would read with MSA off; "chance" is what as many random valid positions would find (min(1, K / valid length)). Mean over ${curves.map((c) => c.samples).join(', ')} eval samples per checkpoint (mean valid history length ${curves.map((c) => c.meanValid.toFixed(0)).join(', ')}), ± = sample standard deviation over ${curves.length} checkpoint(s). ${setup}.\n\n` +
    (curves.length ? table : '_No trained checkpoint yet (see pending runs)._\n') +
    pendingNote(outcomes) +
    timingTable(outcomes) +
    `\nCheckpoints: ${curves.map((c) => c.checkpoint).join(', ') || 'none'}\n`;
  const svg = lineChart({
    title: `LCN: share of FSA's top-${f.top} found by earlier levels (Figure 5b)`,
    subtitle: setup,
    xLabel: 'K1 (MSA pool size)',
    yLabel: `share of FSA's top-${f.top}`,
    yRange: [0, 1],
    xTicks: usable,
    series: [
      { name: `CSA top-K1 (K1 picks)`, points: rows.map((r) => ({ x: r.k1, y: r.k1Share.mean, error: spreadOrZero(r.k1Share) })) },
      { name: `CSA → MSA top-${k2} (K2 picks)`, points: rows.map((r) => ({ x: r.k1, y: r.k2Share.mean, error: spreadOrZero(r.k2Share) })) },
      { name: `CSA top-${k2} (MSA off)`, dashed: true, points: rows.map((r) => ({ x: r.k1, y: csa.mean })) },
      { name: `chance, K1 picks`, dashed: true, points: rows.map((r) => ({ x: r.k1, y: r.chanceK1.mean })) },
      { name: `chance, ${k2} picks`, dashed: true, points: rows.map((r) => ({ x: r.k1, y: chanceK2.mean })) },
    ],
  });
  const json: JsonObject = {
    top: f.top,
    k2: k2 ?? null,
    probe: f.probe,
    fsaScore: f.fsaScore,
    samples: f.samples,
    rows: rows.map((r) => ({
      k1: r.k1,
      k1PicksShare: summaryJson(r.k1Share),
      k2PicksShare: summaryJson(r.k2Share),
      chanceK1: summaryJson(r.chanceK1),
    })),
    csaTopK2Share: summaryJson(csa),
    chanceK2: summaryJson(chanceK2),
    curves: curves.map((c) => ({
      checkpoint: c.checkpoint,
      seed: c.seed,
      trainedK1: c.trainedK1 ?? null,
      k2: c.k2,
      samples: c.samples,
      meanValid: c.meanValid,
      csaTopK2Share: c.csaK2Share,
      chanceK2: c.chanceK2,
      chanceK1: Object.fromEntries([...c.chanceK1].map(([k, v]) => [String(k), v])),
      k1PicksShare: Object.fromEntries([...c.k1Share].map(([k, v]) => [String(k), v])),
      k2PicksShare: Object.fromEntries([...c.k2Share].map(([k, v]) => [String(k), v])),
    })),
    runs: runsJson(outcomes),
  };
  return { markdown: md, json, svg };
}

// ---- main ----

async function main(argv: readonly string[]): Promise<number> {
  let flags: Flags | 'help';
  try {
    flags = parseFlags(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`lcn: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (flags === 'help') {
    console.log(USAGE);
    return 0;
  }
  const f = flags;
  const log = (l: string) => console.error(l);
  try {
    await initTfjs({ ...(f.backend ? { backend: f.backend, requestedFrom: '--backend' } : {}), log });
  } catch (e) {
    console.error(`lcn: ${(e as Error).message}`);
    return 2;
  }
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    if (abort.signal.aborted) process.exit(130);
    log(
      `${sig}: stopping after the current step (a checkpoint is written); the tables are written with the finished runs. Send it again ` +
        `to quit at once`,
    );
    abort.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const ctx: RunContext = {
    outDir: f.out,
    configsDir: CONFIGS,
    overrides: f.overrides,
    budget: { remaining: f.maxTrain },
    signal: abort.signal,
    log,
    adopt: f.adopt,
  };
  const t0 = performance.now();
  try {
    const run = { table1, table3, table5, figure5, 'ifa-table2': ifaTable2, 'ifa-table3': ifaTable3 }[f.command];
    const out = await run(f, ctx);
    mkdirSync(f.out, { recursive: true });
    const json: JsonObject = {
      format: 'lctr-experiment',
      version: 1,
      command: f.command,
      createdAt: new Date().toISOString(),
      argv: [...argv],
      setup: {
        overrides: { ...f.overrides } as JsonObject,
        seeds: [...f.seeds],
        backend: tf.getBackend(),
        quick: f.quick,
        out: displayPath(f.out, ROOT),
      },
      ...out.json,
    };
    atomicWriteFile(join(f.out, 'table.md'), out.markdown);
    atomicWriteFile(join(f.out, 'results.json'), JSON.stringify(json, null, 1) + '\n');
    atomicWriteFile(join(f.out, 'chart.svg'), out.svg);
    console.log(out.markdown);
    log(
      `lcn ${f.command}: wrote ${displayPath(join(f.out, 'table.md'))}, results.json, chart.svg in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`lcn: ${e.message}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      console.error(
        e.message
          .split('\n')
          .map((l) => `lcn: ${l}`)
          .join('\n'),
      );
      return 2;
    }
    if (e instanceof TrainError || e instanceof CheckpointError) {
      console.error(`lcn: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
