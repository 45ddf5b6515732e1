/**
 * The model zoo on a dataset config, through the same path a user takes (`lctr train` on a
 * dataset config), with model selection on a validation split carved from the training period
 * (the test set is scored once, on the best validation epoch's weights) and several seeds.
 *
 *   npx tsx experiments/src/zoo.ts [--dataset datasets/ml-100k.json] [--seeds 1,2] [--models din,...] [--epochs 3] [--out out/zoo]
 *
 * Writes <out>/table.md and <out>/results.json (paths relative to the repository) and prints the table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';

const ROOT = resolve(import.meta.dirname, '../..');
const { values } = scriptArgs(import.meta.filename, {
  options: {
    dataset: { type: 'string', default: 'datasets/ml-100k.json' },
    seeds: { type: 'string', default: '1,2' },
    models: { type: 'string', default: 'avgpool,din,sim-soft,sim-hard,twin,lcn' },
    epochs: { type: 'string', default: '3' },
    out: { type: 'string', default: 'out/zoo' },
  },
});

const base = JSON.parse(readFileSync(join(ROOT, 'packages/train/configs/lcn-ml100k.json'), 'utf8')) as Record<string, unknown>;
const arch = base.model as Record<string, unknown>;
const DIN_KEYS = ['dim', 'categoryDim', 'seqLen', 'sequences', 'hidden', 'attention'];
const AVGPOOL_KEYS = ['dim', 'categoryDim', 'seqLen', 'sequences', 'hidden'];
const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, arch[k]]));

function configOf(model: string, seed: number): Record<string, unknown> {
  const modelSection =
    model === 'din' ? pick(DIN_KEYS) : model === 'avgpool' ? pick(AVGPOOL_KEYS) : model === 'lcn' ? arch : { ...arch, crp: { lambda: 0 } };
  return {
    optimizer: base.optimizer,
    batchSize: base.batchSize,
    epochs: Number(values.epochs),
    seed,
    evalEvery: 'epoch',
    logEvery: 49,
    validation: { fraction: 0.15, metric: 'auc' },
    model: modelSection,
    data: { dataset: 'file', config: values.dataset },
  };
}

interface Row {
  model: string;
  seed: number;
  bestStep: number;
  auc: number;
  gauc: number;
  logloss: number;
}
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
const rows: Row[] = [];
for (const model of values.models.split(',')) {
  for (const seed of values.seeds.split(',').map(Number)) {
    const dir = join(out, `${model}-seed${seed}`);
    const cfgPath = join(out, `${model}-seed${seed}.json`);
    writeFileSync(cfgPath, JSON.stringify(configOf(model, seed), null, 1));
    if (!existsSync(join(dir, 'metrics.jsonl')) || !readFileSync(join(dir, 'metrics.jsonl'), 'utf8').includes('"kind":"test"')) {
      const r = spawnSync(
        process.execPath,
        [
          join(ROOT, 'packages/cli/bin/lctr.js'),
          'train',
          '--model',
          model,
          '--config',
          cfgPath,
          '--out',
          dir,
          ...(existsSync(dir) ? ['--resume'] : []),
        ],
        { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
      );
      if (r.status !== 0) throw new Error(`${model} seed ${seed}: lctr train exited ${r.status}`);
    }
    const test = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .find((r) => r.kind === 'test')!;
    rows.push({
      model,
      seed,
      bestStep: Number(test.bestStep),
      auc: Number(test.auc),
      gauc: Number(test.gauc),
      logloss: Number(test.logloss),
    });
  }
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const spread = (a: number[]) => (a.length > 1 ? Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)) : NaN);
const lines = [
  `Test AUC on ${values.dataset} (best epoch of ${values.epochs} chosen on a validation split: the latest 15% of the training period; ` +
    `the test set scored once), seeds ${values.seeds}; ± = sample standard deviation over seeds.`,
  '',
  '| model | AUC | GAUC | logloss | per seed (AUC) |',
  '| --- | ---: | ---: | ---: | --- |',
  ...values.models.split(',').map((m) => {
    const r = rows.filter((x) => x.model === m);
    const f = (k: 'auc' | 'gauc' | 'logloss') => `${mean(r.map((x) => x[k])).toFixed(4)} ± ${spread(r.map((x) => x[k])).toFixed(4)}`;
    return `| ${m} | ${f('auc')} | ${f('gauc')} | ${f('logloss')} | ${r.map((x) => x.auc.toFixed(4)).join(', ')} |`;
  }),
];
writeFileSync(join(out, 'table.md'), `${lines.join('\n')}\n`);
writeFileSync(join(out, 'results.json'), `${JSON.stringify({ dataset: values.dataset, out: relative(ROOT, out), rows }, null, 1)}\n`);
console.log(lines.join('\n'));
