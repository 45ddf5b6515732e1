#!/usr/bin/env tsx
/**
 * Check a finished training run against a bar, from its metrics.jsonl (the last eval):
 *   npx tsx tools/check-run.ts <run-dir> [--min-gap 0.7] [--beats <other-run-dir>]
 * --min-gap: the share of the gap between 0.5 and the Bayes AUC the run must close (synthetic
 * data only: the eval source knows the true probabilities); --beats: its AUC must exceed the other
 * run's. Prints one line per run and per check; exits 1 when a check fails, 2 on bad arguments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Eval { step: number; auc: number; gauc: number; logloss: number; bayesAuc?: number }

function lastEval(dir: string): Eval {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) throw new Error(`${path}: no such file (is ${dir} a training run's output directory?)`);
  const evals = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { kind: string } & Eval).filter((r) => r.kind === 'eval');
  if (!evals.length) throw new Error(`${path}: holds no eval record yet`);
  return evals.at(-1)!;
}

const share = (e: Eval) => (e.bayesAuc === undefined ? NaN : (e.auc - 0.5) / (e.bayesAuc - 0.5));
const show = (dir: string, e: Eval) =>
  `${dir}: step ${e.step}, AUC ${e.auc.toFixed(4)}, GAUC ${e.gauc.toFixed(4)}, log loss ${e.logloss.toFixed(4)}` +
  (e.bayesAuc === undefined ? '' : `, Bayes AUC ${e.bayesAuc.toFixed(4)}, gap closed ${(100 * share(e)).toFixed(1)}%`);

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { 'min-gap': { type: 'string' }, beats: { type: 'string' } } });
  } catch (e) {
    console.error(`check-run: ${(e as Error).message}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) { console.error(`check-run: expected one run directory, got ${positionals.length}`); return 2; }
  const minGap = values['min-gap'] === undefined ? undefined : Number(values['min-gap']);
  if (minGap !== undefined && !(minGap > 0 && minGap <= 1)) { console.error(`check-run: --min-gap must be a number in (0, 1], got '${values['min-gap']}'`); return 2; }
  let ok = true;
  try {
    const run = positionals[0]!;
    const e = lastEval(run);
    console.log(show(run, e));
    if (minGap !== undefined) {
      if (e.bayesAuc === undefined) throw new Error(`${run}: its eval has no Bayes AUC (not synthetic data), so --min-gap cannot be checked`);
      const pass = share(e) >= minGap;
      ok &&= pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}: closes ${(100 * share(e)).toFixed(1)}% of the gap, needs ${(100 * minGap).toFixed(1)}%`);
    }
    if (values.beats !== undefined) {
      const o = lastEval(values.beats);
      console.log(show(values.beats, o));
      const pass = e.auc > o.auc;
      ok &&= pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}: AUC ${e.auc.toFixed(4)} vs ${o.auc.toFixed(4)} (${e.auc - o.auc >= 0 ? '+' : ''}${(e.auc - o.auc).toFixed(4)})`);
    }
  } catch (e) {
    console.error(`check-run: ${(e as Error).message}`);
    return 2;
  }
  return ok ? 0 : 1;
}

process.exitCode = main();
