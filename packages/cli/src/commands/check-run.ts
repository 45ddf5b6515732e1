/**
 * Check a finished training run against a bar, from its metrics.jsonl (the last eval):
 *   lctr check-run <run-dir> [--min-gap 0.7] [--beats <other-run-dir>]
 * --min-gap: the share of the gap between 0.5 and the Bayes AUC the run must close (synthetic
 * data only: the eval source knows the true probabilities); --beats: its AUC must exceed the other
 * run's. Prints one line per run and per check; exits 1 when a check fails, 2 on bad arguments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, numberFlag, runCommand } from '@lctr/spec/cli';

interface Eval {
  step: number;
  auc: number;
  gauc: number;
  logloss: number;
  bayesAuc?: number;
}

function lastEval(dir: string): Eval {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) throw new Error(`${path}: no such file (is ${dir} a training run's output directory?)`);
  const evals = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { kind: string } & Eval)
    .filter((r) => r.kind === 'eval');
  if (!evals.length) throw new Error(`${path}: holds no eval record yet`);
  return evals.at(-1)!;
}

const share = (e: Eval) => (e.bayesAuc === undefined ? NaN : (e.auc - 0.5) / (e.bayesAuc - 0.5));
const show = (dir: string, e: Eval) =>
  `${dir}: step ${e.step}, AUC ${e.auc.toFixed(4)}, GAUC ${e.gauc.toFixed(4)}, log loss ${e.logloss.toFixed(4)}` +
  (e.bayesAuc === undefined ? '' : `, Bayes AUC ${e.bayesAuc.toFixed(4)}, gap closed ${(100 * share(e)).toFixed(1)}%`);

export const CHECK_RUN = {
  name: 'lctr check-run',
  usage: `usage: lctr check-run <run-dir> [--min-gap 0.7] [--beats <other-run-dir>]
  --min-gap  share of the gap between 0.5 and the Bayes AUC the last eval must close (synthetic data)
  --beats    another run directory whose last eval AUC this run must exceed
Exit codes: 0 every check passed, 1 a check failed, 2 bad arguments or a run without metrics.`,
  options: { 'min-gap': { type: 'string' }, beats: { type: 'string' } },
  allowPositionals: true,
} as const;

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(CHECK_RUN, argv, ({ values, positionals }) => {
    if (positionals.length !== 1) throw new UsageError(`expected one run directory, got ${positionals.length}`);
    const minGap = numberFlag('min-gap', values['min-gap']);
    if (minGap !== undefined && !(minGap > 0 && minGap <= 1))
      throw new UsageError(`--min-gap must be a number in (0, 1], got '${values['min-gap']}'`);
    let ok = true;
    const run = positionals[0]!;
    let e: Eval;
    try {
      e = lastEval(run);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    console.log(show(run, e));
    if (minGap !== undefined) {
      if (e.bayesAuc === undefined)
        throw new UsageError(`${run}: its eval has no Bayes AUC (not synthetic data), so --min-gap cannot be checked`);
      const pass = share(e) >= minGap;
      ok &&= pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}: closes ${(100 * share(e)).toFixed(1)}% of the gap, needs ${(100 * minGap).toFixed(1)}%`);
    }
    if (values.beats !== undefined) {
      let o: Eval;
      try {
        o = lastEval(values.beats);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      console.log(show(values.beats, o));
      const pass = e.auc > o.auc;
      ok &&= pass;
      console.log(
        `${pass ? 'PASS' : 'FAIL'}: AUC ${e.auc.toFixed(4)} vs ${o.auc.toFixed(4)} ` +
          `(${e.auc - o.auc >= 0 ? '+' : ''}${(e.auc - o.auc).toFixed(4)})`,
      );
    }
    return ok ? 0 : 1;
  });
}
