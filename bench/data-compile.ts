/**
 * Scale of the dataset path (issue 18, item 7): a seeded CSV event log with string ids (default
 * 10,000,000 events: 20,000 users x 500, 20,000 target and 200,000 source items, 1,000
 * categories, a behaviour column) is written to a temp folder, compiled with `compileDataset` in a
 * child process under `/usr/bin/time -v` (its "Maximum resident set size" is the peak; the child
 * also samples process.memoryUsage().rss every 50 ms and reports getrusage's maxRSS), and then
 * batches are built from the compiled form for an LCN-like schema (target and source sequences of
 * 50, a lifelong sequence of 500 with its context, CRP pairs with M = 256, batches of 256 in
 * shuffled order), the trainer's data path. Goals: compile peak under 2 GB, batch building at least
 * 10x the fastest training rate (about 1,000-2,000 samples/s for LCN here, BENCHMARKS.md "Data vs
 * training throughput"), timed after 10 warm-up batches; the process exits 1 when a goal is missed.
 *   npx tsx bench/data-compile.ts [--users 20000] [--events-per-user 500] [--batches 100] [--seed 1] [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { Rng } from '@lctr/spec';
import { compileDataset, createSampleSource, readCompiledDataset, readDatasetConfig, sampleSchema, withCrpPairs } from '@lctr/data';

const MB = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
const LIMIT = 2 * 1024 ** 3;
const FASTEST_TRAINING = 2_000; // samples/s, the upper end of LCN training here (BENCHMARKS.md)

// the child: compile one config, sampling RSS, and print one JSON line
if (process.argv[2] === '--child-compile') {
  const [cfgPath, outDir] = [process.argv[3]!, process.argv[4]!];
  let sampled = 0;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 50);
  const t0 = performance.now();
  let rows = 0;
  const r = await compileDataset(readDatasetConfig(cfgPath), outDir, {
    onProgress: (p) => {
      rows = p.rows;
      sampled = Math.max(sampled, process.memoryUsage().rss);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sampled = Math.max(sampled, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      dir: r.dir,
      seconds,
      rows,
      sampledPeakRss: sampled,
      maxRss: process.resourceUsage().maxRSS * 1024,
      events: r.report.events,
      train: r.report.split.train.samples,
    }),
  );
  process.exit(0);
}

const { values } = scriptArgs(import.meta.filename, {
  options: {
    users: { type: 'string', default: '20000' },
    'events-per-user': { type: 'string', default: '500' },
    batches: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
});
const users = Number(values.users),
  perUser = Number(values['events-per-user']),
  batches = Number(values.batches),
  seed = Number(values.seed);
const TARGET_ITEMS = 20_000,
  SOURCE_ITEMS = 200_000,
  CATEGORIES = 1_000,
  TARGET_CATEGORIES = 100;
const dir = mkdtempSync(join(tmpdir(), 'lctr-data-compile-'));

// 1. the CSV: rounds over users (as a time-ordered export would interleave them), timestamps rising per round
const csv = join(dir, 'events.csv');
let t0 = performance.now();
{
  const rng = new Rng(seed);
  const userId = (u: number) => `user-${((u * 2654435761) >>> 0).toString(36)}`; // string ids, not canonical integers
  const fd = openSync(csv, 'w');
  writeSync(fd, 'user_id,item_id,category,behaviour,ts\n');
  const BEHAVIOURS = ['pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'cart', 'fav', 'buy'];
  let chunk = '';
  for (let step = 0; step < perUser; step++) {
    for (let u = 0; u < users; u++) {
      const r = rng.nextUint32(),
        r2 = rng.nextUint32();
      const target = (r & 1023) < 102; // 10% target-domain events
      const cat = target ? r2 % TARGET_CATEGORIES : TARGET_CATEGORIES + (r2 % (CATEGORIES - TARGET_CATEGORIES));
      const item = target ? `t${(r >>> 10) % TARGET_ITEMS}-${cat}` : `s${(r >>> 10) % SOURCE_ITEMS}x`;
      chunk += `${userId(u)},${item},cat${cat},${BEHAVIOURS[(r2 >>> 16) % 10]},${1_500_000_000 + step * 1000 + ((r2 >>> 20) % 1000)}\n`;
      if (chunk.length > 1 << 20) {
        writeSync(fd, chunk);
        chunk = '';
      }
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}
const genSeconds = (performance.now() - t0) / 1000;
const cfgPath = join(dir, 'dataset.json');
writeFileSync(
  cfgPath,
  JSON.stringify({
    name: 'bench',
    events: {
      files: ['events.csv'],
      user: 'user_id',
      item: 'item_id',
      category: 'category',
      timestamp: 'ts',
      label: { column: 'behaviour', oneOf: ['cart', 'fav', 'buy'] },
    },
    domain: { categories: Array.from({ length: TARGET_CATEGORIES }, (_, c) => `cat${c}`) },
    context: { behaviour: { column: 'behaviour', values: ['pv', 'cart', 'fav', 'buy'], closed: true } },
    sequences: { target: 50, source: 50, lifelong: 500 },
    split: { testFraction: 0.2 },
  }),
);
console.log(
  `generated ${(users * perUser).toLocaleString('en-US')} events (${users.toLocaleString('en-US')} users x ${perUser}), ` +
    `${MB(statSync(csv).size)} CSV in ${genSeconds.toFixed(1)} s (${dir})`,
);

// 2. compile in a child process under /usr/bin/time -v
const out = join(dir, 'compiled');
const self = resolve(import.meta.filename);
const node = [process.execPath, '--import', 'tsx', self, '--child-compile', cfgPath, out];
const timed = existsSync('/usr/bin/time');
const child = spawnSync(timed ? '/usr/bin/time' : node[0]!, timed ? ['-v', ...node] : node.slice(1), {
  encoding: 'utf8',
  maxBuffer: 1 << 26,
});
if (child.status !== 0) {
  console.error(child.stderr);
  throw new Error(`the compile child failed with status ${child.status}`);
}
const res = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
  dir: string;
  seconds: number;
  sampledPeakRss: number;
  maxRss: number;
  events: { total: number; target: number };
  train: number;
};
const timeMaxKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(child.stderr)?.[1];
const timePeak = timeMaxKb === undefined ? NaN : Number(timeMaxKb) * 1024;
const peak = Math.max(res.maxRss, Number.isNaN(timePeak) ? 0 : timePeak);
console.log(
  `compile: ${res.events.total.toLocaleString('en-US')} events (${res.events.target.toLocaleString('en-US')} target) in ${res.seconds.toFixed(1)} s; ` +
    `peak RSS ${timed ? `${MB(timePeak)} (/usr/bin/time -v), ` : ''}${MB(res.maxRss)} (getrusage), ${MB(res.sampledPeakRss)} ` +
    `(memoryUsage sampled every 50 ms); limit ${MB(LIMIT)}: ${peak < LIMIT ? 'OK' : 'OVER'}`,
);
console.log(`compiled form: ${execFileSync('du', ['-sh', res.dir], { encoding: 'utf8' }).split('\t')[0]} on disk`);

// 3. batch building from the compiled form: an LCN-like schema, shuffled batches of 256 with CRP pairs
t0 = performance.now();
const d = readCompiledDataset(res.dir);
const readSeconds = (performance.now() - t0) / 1000;
const opts = { targetLength: 50, sourceLength: 50, lifelongLength: 500 };
const schema = sampleSchema(d.log.meta, opts, [
  'user',
  'candidate',
  'candidateCategory',
  'targetSeq',
  'targetSeqCategory',
  'targetSeqMask',
  'sourceSeq',
  'sourceSeqCategory',
  'sourceSeqMask',
  'lifelongSeq',
  'lifelongSeqCategory',
  'lifelongMask',
  'lifelongContext',
  'label',
]);
const M = 256,
  B = 256;
const source = withCrpPairs(createSampleSource(d.log, d.train, schema, opts), { negatives: M, seed: 1 });
const rng = new Rng(2);
const order = Int32Array.from({ length: source.size }, (_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = rng.int(i + 1);
  [order[i], order[j]] = [order[j]!, order[i]!];
}
// warm-up: the first batches run at a third of the steady rate or less (JIT), measured on this machine
const WARM = 10;
for (let k = 0; k < WARM; k++) source.batch(order.subarray(k * B, (k + 1) * B));
t0 = performance.now();
let valid = 0;
for (let k = WARM; k < WARM + batches; k++) {
  const b = source.batch(order.subarray(k * B, (k + 1) * B));
  valid += b.lifelongMask.data.reduce((a: number, v: number) => a + v, 0);
}
const rate = (batches * B) / ((performance.now() - t0) / 1000);
console.log(
  `read compiled: ${readSeconds.toFixed(2)} s; batch building (LCN-like: L 50/50, lifelong 500 + context, CRP M ${M}, batch ${B}, ${batches} shuffled batches after ${WARM} warm-up): ` +
    `${Math.round(rate).toLocaleString('en-US')} samples/s, ${(valid / (batches * B)).toFixed(0)} valid lifelong events per sample; ` +
    `${(rate / FASTEST_TRAINING).toFixed(1)}x the fastest LCN training rate (${FASTEST_TRAINING.toLocaleString('en-US')}/s): ` +
    `${rate >= 10 * FASTEST_TRAINING ? 'OK' : 'UNDER 10x'}`,
);
console.log(`reader process peak RSS ${MB(process.resourceUsage().maxRSS * 1024)}`);
console.log(
  JSON.stringify({
    events: res.events.total,
    csvBytes: statSync(csv).size,
    generateSeconds: genSeconds,
    compileSeconds: res.seconds,
    peakRssTime: timePeak,
    peakRssGetrusage: res.maxRss,
    peakRssSampled: res.sampledPeakRss,
    batchSamplesPerSecond: rate,
  }),
);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
if (peak >= LIMIT || rate < 10 * FASTEST_TRAINING) process.exitCode = 1;
