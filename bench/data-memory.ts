/**
 * Memory of the data path at 10 million events: a seeded log of 20,000 users x 500 events
 * (10% target, 90% source, 2 context and 2 profile columns), its sample index, a sample source
 * for every sample feature with the default lengths (50 / 50 / 2,000) and a few batches of 256.
 * Prints process RSS, V8 heapUsed and arrayBuffers after each stage, and the peak RSS, which
 * must stay under 2 GB (exit code 1 otherwise).
 * Run: node --expose-gc --import tsx bench/data-memory.ts [--users 20000] [--events-per-user 500] [--batches 20]
 * (--expose-gc lets it collect the builder's arrays before measuring the next stage; without it
 * the numbers include garbage not yet collected.)
 */
import { Rng } from '@lctr/spec';
import { type EventLogMeta, EventLogBuilder, SOURCE, TARGET, buildSampleIndex, createSampleSource, sampleSchema } from '@lctr/data';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const users = arg('users', 20_000),
  perUser = arg('events-per-user', 500),
  batches = arg('batches', 20),
  B = 256;
const LIMIT = 2 * 1024 ** 3;

const gc = (globalThis as { gc?: () => void }).gc;
const MB = (n: number) => `${(n / 1024 ** 2).toFixed(0).padStart(5)} MB`;
const rows: Array<{ stage: string; rss: number; heapUsed: number; arrayBuffers: number; seconds: number }> = [];
let t0 = performance.now();
async function stage(name: string): Promise<void> {
  const seconds = (performance.now() - t0) / 1000;
  if (gc) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
  } // array buffers are freed a moment after collection
  const m = process.memoryUsage();
  rows.push({ stage: name, rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, seconds });
  console.log(
    `${name.padEnd(58)} rss ${MB(m.rss)}  heapUsed ${MB(m.heapUsed)}  arrayBuffers ${MB(m.arrayBuffers)}  heap+buffers ` +
      `${MB(m.heapUsed + m.arrayBuffers)}  (${seconds.toFixed(1)} s)`,
  );
  t0 = performance.now();
}

const meta: EventLogMeta = {
  users,
  items: { target: 2_000, source: 20_000 },
  categories: 32,
  context: [
    { name: 'watchBucket', cardinality: 5 },
    { name: 'behaviour', cardinality: 3 },
  ],
  profile: [
    { name: 'age', cardinality: 6 },
    { name: 'gender', cardinality: 2 },
  ],
};

console.log(
  `data memory: ${users} users x ${perUser} events = ${(users * perUser).toLocaleString('en')} events, batch ${B}, lengths 50 / 50 / ` +
    `2000, gc ${gc ? 'forced between stages' : 'not exposed (run with --expose-gc)'}`,
);
await stage('start');
async function makeLog() {
  const builder = new EventLogBuilder(meta, users * perUser);
  // round robin over users, as a reader of a time-ordered file would push them; timestamps rise per user
  const rng = new Rng(20240607);
  const ctx = [0, 0];
  for (let step = 0; step < perUser; step++) {
    for (let u = 0; u < users; u++) {
      const r = rng.nextUint32();
      const domain = (r & 1023) < 102 ? TARGET : SOURCE;
      const item = (r >>> 10) % (domain === TARGET ? 2_000 : 20_000);
      ctx[0] = (r >>> 3) % 5;
      ctx[1] = (r >>> 7) % 3;
      builder.push({
        user: u,
        item,
        category: item % 32,
        domain,
        timestamp: step * 1000 + ((r >>> 20) % 1000),
        label: r >>> 27 < 10 ? 1 : 0,
        context: ctx,
      });
    }
  }
  for (let u = 0; u < users; u++) builder.setProfile(u, [u % 6, u % 2]);
  await stage('builder filled (10M pushes)');
  const log = builder.finish();
  await stage('log finished (builder arrays still alive)');
  return log;
}
const log = await makeLog();
await stage('builder collected: the log alone');

const index = buildSampleIndex(log);
await stage(`sample index (${index.length.toLocaleString('en')} samples)`);
const train = buildSampleIndex(log, { to: perUser * 0.8 * 1000 });
const test = buildSampleIndex(log, { from: perUser * 0.8 * 1000 });
await stage(`time split (${train.length.toLocaleString('en')} train / ${test.length.toLocaleString('en')} test)`);

const schema = sampleSchema(meta);
const source = createSampleSource(log, index, schema);
await stage('sample source (all features)');
const trainSource = createSampleSource(log, train, schema),
  testSource = createSampleSource(log, test, schema);
await stage(`train + test sources (${(trainSource.size + testSource.size).toLocaleString('en')} samples, shared lists)`);

const rng = new Rng(7);
let last: ReturnType<typeof source.batch> | undefined;
let built = 0;
const tb = performance.now();
for (let k = 0; k < batches; k++) {
  const idx = Int32Array.from({ length: B }, () => rng.int(source.size));
  last = source.batch(idx);
  built += B;
}
const batchSeconds = (performance.now() - tb) / 1000;
const validLifelong = last!.lifelongMask.data.reduce((a, v) => a + v, 0) / B;
await stage(`${batches} batches of ${B} (last kept)`);
console.log(
  `batch building: ${(built / batchSeconds).toFixed(0)} samples/s (${((1000 * batchSeconds) / batches).toFixed(1)} ms per batch of ` +
    `${B}); last batch: ${validLifelong.toFixed(0)} valid lifelong events per sample on average`,
);

const peak = process.resourceUsage().maxRSS * 1024;
console.log(`peak RSS ${MB(peak)} (limit ${MB(LIMIT)}): ${peak < LIMIT ? 'OK' : 'OVER'}`);
console.log(JSON.stringify({ events: log.size, samples: index.length, peakRss: peak, stages: rows }));
if (peak >= LIMIT) process.exitCode = 1;
