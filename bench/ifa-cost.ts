#!/usr/bin/env tsx
/**
 * The cost of IFA's linear attention (issue 5, item 5): forward time of one serving request (one
 * user, C candidates, a full-length sequence of N events) for
 *   - ifa:           IFA's linear cross attention (fastAttn, O((N + C) d²)) + candidate self attention,
 *   - fullAttention: full softmax attention of every candidate over the whole sequence (DIN over the
 *                    whole sequence, O(C N d)), same request model otherwise (its candidate self
 *                    attention included: the three differ only in how candidates read the sequence),
 *   - simSoft:       SIM soft (GSU top-k over N, ESU attention over the k picked), the IFA request
 *                    model's 'simSoft' module when it is wired, else the lifelong family's SIM soft
 *                    serving graph (buildLifelong, module 'simSoft'; the output says which ran),
 * on ONNX Runtime (CPU provider, @lctr/backend-onnx OnnxSession, one session per graph, reused) and
 * tfjs (wasm, compileTfjs, one compiled model per graph). ifa and fullAttention are exported once
 * with symbolic 'cand' and 'seq'; SIM soft's top-k needs a static N, so it gets one graph per N.
 *
 * Grid: N in --ns at C = --c-fixed, and C in --cs at N = --n-fixed. Feeds are seeded, every
 * sequence position and candidate valid. Each point: --warmup runs (one more on a fresh session),
 * then k timed runs, k chosen from the warm-up so a point costs about --budget seconds on average
 * (k in [--min-runs, --max-runs]); the median is reported (quartiles and min in the JSON). The timed
 * runs are interleaved: k rounds, each running every (model, point) of a backend once in a seeded
 * random order, so load that comes and goes on a shared machine falls on every model and point
 * alike instead of tilting one slope.
 * Reports: a markdown table (ms per request, µs per candidate), the least-squares slopes of log time
 * vs log N and vs log C per model and backend (loglog.ts), results.json and chart.svg (log-log, one
 * line per model x backend) under --out. Exits 1 when, on some backend, IFA's slope vs N is not
 * below full attention's (the claim).
 *
 * The N sweep runs at C = 1000 by default: IFA costs O((N + C) d²) and full attention O(C N d), so
 * both are linear in N at a fixed C and differ in the cost per event, about C / d apart; at C = 100
 * and d = 32 that gap is inside this machine's noise (measured: slopes 0.95 vs 1.01 on ORT), at
 * C = 1000 it is not (0.44 vs 0.94).
 *
 *   npx tsx bench/ifa-cost.ts [--quick] [--ns 500,...,16000] [--cs 50,...,2000] [--c-fixed 1000]
 *        [--n-fixed 2000] [--models ifa,fullAttention,simSoft] [--backends ort,tfjs] [--budget 1.5]
 * [--warmup 2] [--min-runs 3] [--max-runs 100] [--stat median|min] [--kernel softplus|relu|elu1] [--threads 1] [--seed 1] [--out
 * out/bench/ifa-cost]
 *   --quick: N in {500, 2000, 8000}, C in {50, 100, 500}, budget 0.25 s (under a minute).
 *   --stat min: report the fastest run instead of the median (steadier on a loaded machine: load only adds time).
 *   --kernel: φ of the linear attentions (default softplus, the model's default; the candidate self attention of
 *             all three models uses it too); tfjs composes softplus from ~12 element-wise ops, ORT from ~6.
 *   --threads: ONNX Runtime intra-op threads (default 1, as tfjs wasm in Node is single-threaded; 0 = ORT's default).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import {
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type IfaConfig,
  type LifelongConfig,
  IFA_DEFAULTS,
  IFA_KERNELS,
  type IfaKernel,
  LIFELONG_DEFAULTS,
  buildIfa,
  buildLifelong,
  initWeights,
} from '@lctr/spec';
import { type FeedGen, ifaGens, lifelongGens, randomFeeds } from '@lctr/spec/testing';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { type LinearFit, type LogLogFit, linearFit, logLogChart, logLogSlope, sideBySide } from './loglog.ts';
import { PALETTE } from '@lctr/experiments/svg';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    quick: { type: 'boolean', default: false },
    ns: { type: 'string' },
    cs: { type: 'string' },
    'c-fixed': { type: 'string', default: '1000' },
    'n-fixed': { type: 'string', default: '2000' },
    models: { type: 'string', default: 'ifa,fullAttention,simSoft' },
    backends: { type: 'string', default: 'ort,tfjs' },
    budget: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    'min-runs': { type: 'string', default: '3' },
    'max-runs': { type: 'string', default: '100' },
    stat: { type: 'string', default: 'median' },
    kernel: { type: 'string', default: 'softplus' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'out/bench/ifa-cost' },
  },
});

function intList(flag: string, s: string): number[] {
  const v = s.split(',').map((x) => Number(x.trim()));
  v.forEach((x) => {
    if (!Number.isInteger(x) || x < 1) throw new Error(`--${flag}: expected a comma-separated list of positive integers, got '${s}'`);
  });
  if (new Set(v).size !== v.length) throw new Error(`--${flag}: values must be distinct, got '${s}'`);
  return v;
}
function num(flag: string, s: string, min: number, integer = false): number {
  const x = Number(s);
  if (!Number.isFinite(x) || x < min || (integer && !Number.isInteger(x)))
    throw new Error(`--${flag}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got '${s}'`);
  return x;
}
const MODELS = ['ifa', 'fullAttention', 'simSoft'] as const;
type ModelKey = (typeof MODELS)[number];
const BACKENDS = ['ort', 'tfjs'] as const;
type BackendKey = (typeof BACKENDS)[number];
function pick<T extends string>(flag: string, s: string, known: readonly T[]): T[] {
  const v = s.split(',').map((x) => x.trim());
  v.forEach((x) => {
    if (!known.includes(x as T)) throw new Error(`--${flag}: '${x}' is not one of ${known.join(', ')}`);
  });
  return v as T[];
}

const quick = values.quick!;
const NS = intList('ns', values.ns ?? (quick ? '500,2000,8000' : '500,1000,2000,4000,8000,16000'));
const CS = intList('cs', values.cs ?? (quick ? '50,100,500' : '50,100,200,500,1000,2000'));
const C_FIXED = num('c-fixed', values['c-fixed']!, 1, true),
  N_FIXED = num('n-fixed', values['n-fixed']!, 1, true);
const BUDGET_MS = 1000 * num('budget', values.budget ?? (quick ? '0.25' : '1.5'), 0);
const WARMUP = num('warmup', values.warmup!, 1, true),
  MIN_RUNS = num('min-runs', values['min-runs']!, 1, true),
  MAX_RUNS = num('max-runs', values['max-runs']!, 1, true);
if (MIN_RUNS > MAX_RUNS) throw new Error(`--min-runs (${MIN_RUNS}) must be <= --max-runs (${MAX_RUNS})`);
const THREADS = num('threads', values.threads!, 0, true),
  SEED = num('seed', values.seed!, 0, true);
const MODEL_KEYS = pick('models', values.models!, MODELS),
  BACKEND_KEYS = pick('backends', values.backends!, BACKENDS);
const OUT = resolve(values.out!);
if (values.stat !== 'median' && values.stat !== 'min') throw new Error(`--stat: expected 'median' or 'min', got '${values.stat}'`);
const STAT = values.stat as 'median' | 'min';
if (!(IFA_KERNELS as readonly string[]).includes(values.kernel!))
  throw new Error(`--kernel: expected one of ${IFA_KERNELS.join(', ')}, got '${values.kernel}'`);
if (NS.length < 2 || CS.length < 2)
  throw new Error(`--ns and --cs need at least 2 values each for a slope, got ${NS.length} and ${CS.length}`);

// ---------------------------------------------------------------------------------------------
// models

/** IFA's defaults (the synthetic world's sizes): d = 16 + 8 (+ 4 context), attention 32, towers 128-64; φ from --kernel. */
const IFA_BENCH: Partial<IfaConfig> = { ...IFA_DEFAULTS, kernel: values.kernel as IfaKernel };
/** SIM soft from the lifelong family with the same sizes as IFA_BENCH (fallback only): k = 50, GSU 16, attention 32. */
const lifelongBench = (N: number): Partial<LifelongConfig> => ({
  ...LIFELONG_DEFAULTS,
  module: 'simSoft',
  lifelongLen: N,
  users: IFA_BENCH.users!,
  targetItems: IFA_BENCH.targetItems!,
  sourceItems: IFA_BENCH.sourceItems!,
  categories: IFA_BENCH.categories!,
  profile: [...IFA_BENCH.profile!],
  dim: IFA_BENCH.dim!,
  categoryDim: IFA_BENCH.categoryDim!,
  context: [...IFA_BENCH.context!],
  contextDim: IFA_BENCH.contextDim!,
  hidden: [...IFA_BENCH.towers!],
  sequences: ['source'],
  simSoft: { k: 50, gsuDim: 16, attentionDim: IFA_BENCH.attnDim!, auxWeight: 1 },
  crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 },
});

const ones: FeedGen = (_rng, shape) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);

interface ModelSpec {
  readonly key: ModelKey;
  /** which graph runs (builder and module), for the report */
  source: string;
  /** one graph for every N (symbolic 'seq'), or one per N */
  symbolicSeq: boolean;
  graph(N: number): Graph<FeatureSchema, string>;
  feeds(g: Graph<FeatureSchema, string>, N: number, C: number): Record<string, HostTensor>;
}

const ifaFeedGens = { ...ifaGens(IFA_BENCH), candMask: ones, seqMask: ones };
const ifaFeeds = (g: Graph<FeatureSchema, string>, N: number, C: number) =>
  randomFeeds(g, { cand: C, seq: N }, SEED, ifaFeedGens) as Record<string, HostTensor>;

function ifaModel(key: 'ifa' | 'fullAttention'): ModelSpec {
  const g = buildIfa({ ...IFA_BENCH, module: key });
  const seqDim = g.inputs.find((i) => i.name === 'seq')!.shape[1];
  if (seqDim !== 'seq') throw new Error(`ifa-cost: the '${key}' serving graph should take a symbolic 'seq' dim, got ${String(seqDim)}`);
  return { key, source: `buildIfa({ module: '${key}' }), symbolic 'cand' and 'seq'`, symbolicSeq: true, graph: () => g, feeds: ifaFeeds };
}

function simSoftModel(): ModelSpec {
  const cache = new Map<number, Graph<FeatureSchema, string>>();
  const cached = (N: number, make: () => Graph<FeatureSchema, string>) => {
    if (!cache.has(N)) cache.set(N, make());
    return cache.get(N)!;
  };
  try {
    const probe = buildIfa({ ...IFA_BENCH, module: 'simSoft', seqLen: NS[0]! });
    const symbolic = probe.inputs.find((i) => i.name === 'seq')!.shape[1] === 'seq';
    return {
      key: 'simSoft',
      source: `buildIfa({ module: 'simSoft' }) (${symbolic ? "symbolic 'seq'" : 'static N: one graph per N'})`,
      symbolicSeq: symbolic,
      graph: (N) => (symbolic ? probe : cached(N, () => buildIfa({ ...IFA_BENCH, module: 'simSoft', seqLen: N }))),
      feeds: ifaFeeds,
    };
  } catch (e) {
    if (!/not wired/.test((e as Error).message)) throw e;
    const gens = { ...lifelongGens(lifelongBench(1)), lifelongMask: ones, sourceSeqMask: ones, targetSeqMask: ones };
    return {
      key: 'simSoft',
      symbolicSeq: false,
      source:
        "buildLifelong({ module: 'simSoft', lifelongLen: N }) (the IFA request model's 'simSoft' is not wired yet; " +
        "lifelong family's SIM soft serving graph: shared layout, + DIN over 50 short source events; static N: one graph per N)",
      graph: (N) => cached(N, () => buildLifelong(lifelongBench(N)) as Graph<FeatureSchema, string>),
      feeds: (g, _N, C) => randomFeeds(g, { cand: C }, SEED, gens) as Record<string, HostTensor>,
    };
  }
}

const modelSpecs: ModelSpec[] = MODEL_KEYS.map((k) => (k === 'simSoft' ? simSoftModel() : ifaModel(k)));

// ---------------------------------------------------------------------------------------------
// backends: a runner per graph, made once and reused for every point of that graph

interface Runner {
  run(feeds: Record<string, HostTensor>): Promise<unknown>;
  release(): Promise<void>;
}
interface Backend {
  readonly key: BackendKey;
  describe: string;
  open(g: Graph<FeatureSchema, string>): Promise<Runner>;
}

async function ortBackend(): Promise<Backend> {
  const opts = { provider: 'cpu' as const, ...(THREADS > 0 ? { intraOpNumThreads: THREADS } : {}) };
  return {
    key: 'ort',
    describe: `ONNX Runtime (onnxruntime-node) cpu provider, ${THREADS > 0 ? `${THREADS} intra-op thread(s)` : 'default threads'}`,
    async open(g) {
      // provider 'cpu' asked explicitly: the session runs on the CPU or create() throws
      const s = await OnnxSession.create(exportOnnx(g, initWeights(g, SEED)), g, opts);
      return { run: (f) => s.run(f as never), release: () => s.release() };
    },
  };
}

async function tfjsBackend(): Promise<Backend> {
  const init = await initTfjs({ backend: 'wasm', log: () => {} });
  return {
    key: 'tfjs',
    describe: `tfjs ${init.engineBackend} (${init.reason})`,
    async open(g) {
      const m = compileTfjs(g, { weights: initWeights(g, SEED) });
      return { run: async (f) => m.run(f as never), release: async () => m.dispose() };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// timing

interface Point {
  backend: BackendKey;
  model: ModelKey;
  N: number;
  C: number;
  /** median ms per request */
  ms: number;
  q1Ms: number;
  q3Ms: number;
  minMs: number;
  runs: number;
  /** median µs per candidate */
  usPerCandidate: number;
}

const quantile = (sorted: readonly number[], q: number) => {
  const at = (sorted.length - 1) * q,
    lo = Math.floor(at),
    hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
};

const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { ms: STAT === 'min' ? s[0]! : quantile(s, 0.5), q1Ms: quantile(s, 0.25), q3Ms: quantile(s, 0.75), minMs: s[0]!, runs: s.length };
};

/** Seeded Fisher-Yates (mulberry32): the order of the timed runs inside a round. */
function shuffler(seed: number): <T>(xs: T[]) => T[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (xs) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
}

/** The grid: N sweep at C_FIXED, C sweep at N_FIXED (a shared point once). */
const grid: Array<{ N: number; C: number }> = [];
for (const N of NS) grid.push({ N, C: C_FIXED });
for (const C of CS) if (!grid.some((p) => p.N === N_FIXED && p.C === C)) grid.push({ N: N_FIXED, C });

/**
 * Per backend, every (model, point) is timed in interleaved rounds: each round runs every
 * combination once, in a seeded random order, so load that comes and goes on this shared machine
 * falls on every model and point alike instead of biasing one point (and so a slope). k rounds,
 * k from the warm-up so the whole sweep costs about --budget s per point.
 */
const t0 = performance.now();
const points: Point[] = [];
const backends: Backend[] = [];
const shuffle = shuffler(SEED);
for (const bk of BACKEND_KEYS) {
  const be = bk === 'ort' ? await ortBackend() : await tfjsBackend();
  backends.push(be);
  const runners = new Map<Graph<FeatureSchema, string>, Runner>();
  const combos: Array<{
    model: ModelKey;
    N: number;
    C: number;
    graph: Graph<FeatureSchema, string>;
    run: () => Promise<unknown>;
    ms: number[];
  }> = [];
  for (const m of modelSpecs) {
    for (const { N, C } of grid) {
      const g = m.graph(N);
      if (!runners.has(g)) runners.set(g, await be.open(g));
      const runner = runners.get(g)!;
      const feeds = m.feeds(g, N, C);
      combos.push({ model: m.key, N, C, graph: g, run: () => runner.run(feeds), ms: [] });
    }
  }
  // warm-up: WARMUP runs per combination (one more on the first use of each session / compiled model)
  const warmed = new Set<Graph<FeatureSchema, string>>();
  let round = 0;
  for (const c of combos) {
    const extra = warmed.has(c.graph) ? 0 : 1;
    warmed.add(c.graph);
    let last = 0;
    for (let i = 0; i < WARMUP + extra; i++) {
      const t = performance.now();
      await c.run();
      last = performance.now() - t;
    }
    round += last;
  }
  const k = Math.max(MIN_RUNS, Math.min(MAX_RUNS, Math.floor((BUDGET_MS * combos.length) / Math.max(round, 1e-3))));
  console.error(`${bk}: ${combos.length} combinations, one round about ${round.toFixed(0)} ms, ${k} rounds`);
  for (let r = 0; r < k; r++) {
    for (const c of shuffle([...combos])) {
      const t = performance.now();
      await c.run();
      c.ms.push(performance.now() - t);
    }
  }
  for (const c of combos) {
    const r = summary(c.ms);
    points.push({ backend: bk, model: c.model, N: c.N, C: c.C, ...r, usPerCandidate: (1000 * r.ms) / c.C });
    console.error(
      `${bk} ${c.model} N ${c.N} C ${c.C}: ${r.ms.toFixed(2)} ms (IQR ${r.q1Ms.toFixed(2)}-${r.q3Ms.toFixed(2)}, min ` +
        `${r.minMs.toFixed(2)})`,
    );
  }
  for (const r of runners.values()) await r.release();
}
const elapsedS = (performance.now() - t0) / 1000;

// ---------------------------------------------------------------------------------------------
// slopes, report, files

/** fits on the reported statistic (STAT), and the log-log slopes on the fastest run of each point (load only adds time) */
interface Slopes {
  backend: BackendKey;
  model: ModelKey;
  vsN: LogLogFit;
  vsC: LogLogFit;
  linN: LinearFit;
  linC: LinearFit;
  vsNMin: LogLogFit;
  vsCMin: LogLogFit;
}
const at = (bk: BackendKey, mk: ModelKey, N: number, C: number) =>
  points.find((p) => p.backend === bk && p.model === mk && p.N === N && p.C === C)!;
const slopes: Slopes[] = [];
for (const bk of BACKEND_KEYS)
  for (const mk of MODEL_KEYS) {
    const nPts = NS.map((N) => at(bk, mk, N, C_FIXED)),
      cPts = CS.map((C) => at(bk, mk, N_FIXED, C));
    slopes.push({
      backend: bk,
      model: mk,
      vsN: logLogSlope(
        NS,
        nPts.map((p) => p.ms),
      ),
      vsC: logLogSlope(
        CS,
        cPts.map((p) => p.ms),
      ),
      linN: linearFit(
        NS,
        nPts.map((p) => p.ms),
      ),
      linC: linearFit(
        CS,
        cPts.map((p) => p.ms),
      ),
      vsNMin: logLogSlope(
        NS,
        nPts.map((p) => p.minMs),
      ),
      vsCMin: logLogSlope(
        CS,
        cPts.map((p) => p.minMs),
      ),
    });
  }

const claim = BACKEND_KEYS.map((bk) => {
  const ifa = slopes.find((s) => s.backend === bk && s.model === 'ifa'),
    full = slopes.find((s) => s.backend === bk && s.model === 'fullAttention');
  if (!ifa || !full) return { backend: bk, checked: false, holds: true, ifaSlopeN: NaN, fullSlopeN: NaN };
  return { backend: bk, checked: true, holds: ifa.vsN.slope < full.vsN.slope, ifaSlopeN: ifa.vsN.slope, fullSlopeN: full.vsN.slope };
});

const LABEL: Record<ModelKey, string> = { ifa: 'IFA', fullAttention: 'full attention', simSoft: 'SIM soft' };
const BLABEL: Record<BackendKey, string> = { ort: 'ORT', tfjs: 'tfjs' };
const f2 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const cols = BACKEND_KEYS.flatMap((bk) => MODEL_KEYS.map((mk) => ({ bk, mk })));
const cell = (p: Point) => `${f2(p.ms)} (${f2(p.usPerCandidate)})`;
const fit = (f: LogLogFit) =>
  `${f.slope.toFixed(2)}${Number.isFinite(f.slopeStdErr) ? ` ± ${f.slopeStdErr.toFixed(2)}` : ''} (R² ${f.r2.toFixed(3)})`;

const md: string[] = [];
md.push(
  `Forward time of one request: ${STAT} ms per request (µs per candidate); ${grid.length} grid points x ${MODEL_KEYS.length} models x ` +
    `${BACKEND_KEYS.length} backends in ${elapsedS.toFixed(0)} s.`,
);
md.push('');
md.push(`N sweep at C = ${C_FIXED}:`);
md.push('');
md.push(`| N | ${cols.map((c) => `${LABEL[c.mk]} · ${BLABEL[c.bk]}`).join(' | ')} |`);
md.push(`|---|${cols.map(() => '---').join('|')}|`);
for (const N of NS) md.push(`| ${N} | ${cols.map((c) => cell(at(c.bk, c.mk, N, C_FIXED))).join(' | ')} |`);
md.push('');
md.push(`C sweep at N = ${N_FIXED}:`);
md.push('');
md.push(`| C | ${cols.map((c) => `${LABEL[c.mk]} · ${BLABEL[c.bk]}`).join(' | ')} |`);
md.push(`|---|${cols.map(() => '---').join('|')}|`);
for (const C of CS) md.push(`| ${C} | ${cols.map((c) => cell(at(c.bk, c.mk, N_FIXED, C))).join(' | ')} |`);
md.push('');
md.push(
  `Log-log slopes (least squares, ± standard error) of time per request vs N at C = ${C_FIXED} (per-candidate time has the same slope) ` +
    `and vs C at N = ${N_FIXED} (per-candidate slope = that - 1); a linear fit time = fixed + marginal x (N sweep: µs per 1,000 events ` +
    `at C = ${C_FIXED}; C sweep: µs per extra candidate at N = ${N_FIXED}); the log-log slopes again on each point's fastest run:`,
);
md.push('');
md.push(
  `| backend | model | slope vs N | slope vs C | per-candidate slope vs C | fixed ms + µs / 1k events (N sweep) | µs / extra candidate ` +
    `(C sweep) | slopes vs N, C on the fastest runs |`,
);
md.push('|---|---|---|---|---|---|---|---|');
for (const s of slopes) {
  md.push(
    `| ${BLABEL[s.backend]} | ${LABEL[s.model]} | ${fit(s.vsN)} | ${fit(s.vsC)} | ${(s.vsC.slope - 1).toFixed(2)} | ` +
      `${f2(s.linN.intercept)} + ${f2(1e6 * s.linN.slope)} (R² ${s.linN.r2.toFixed(3)}) | ${f2(1e3 * s.linC.slope)} (R² ` +
      `${s.linC.r2.toFixed(3)}) | ${s.vsNMin.slope.toFixed(2)}, ${s.vsCMin.slope.toFixed(2)} |`,
  );
}
md.push('');
for (const c of claim) {
  md.push(
    c.checked
      ? `Claim on ${BLABEL[c.backend]}: IFA's slope vs N ${c.ifaSlopeN.toFixed(3)} ${c.holds ? '<' : '>='} full attention's ` +
          `${c.fullSlopeN.toFixed(3)}: ${c.holds ? 'holds' : 'FAILS'}.`
      : `Claim on ${BLABEL[c.backend]}: not checked (needs both ifa and fullAttention in --models).`,
  );
}
const relIqr = points.map((p) => (p.q3Ms - p.q1Ms) / p.ms).sort((a, b) => a - b);
md.push(
  `Noise: interquartile range / ${STAT} over the points: median ${quantile(relIqr, 0.5).toFixed(2)}, max ` +
    `${relIqr[relIqr.length - 1]!.toFixed(2)}.`,
);
const table = md.join('\n');

const setup = {
  machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown cpu'}`,
  node: process.version,
  quick,
  backends: backends.map((b) => ({ key: b.key, describe: b.describe })),
  models: modelSpecs.map((m) => ({ key: m.key, source: m.source, symbolicSeq: m.symbolicSeq })),
  config: IFA_BENCH,
  ns: NS,
  cs: CS,
  cFixed: C_FIXED,
  nFixed: N_FIXED,
  budgetMs: BUDGET_MS,
  warmup: WARMUP,
  minRuns: MIN_RUNS,
  maxRuns: MAX_RUNS,
  stat: STAT,
  threads: THREADS,
  seed: SEED,
  feeds: 'randomFeeds(seed), every sequence position and candidate valid',
  elapsedS,
};

const series = (x: 'N' | 'C') =>
  cols.map((c) => ({
    name: `${LABEL[c.mk]} · ${BLABEL[c.bk]}`,
    dashed: c.bk === 'tfjs',
    color: PALETTE[MODELS.indexOf(c.mk)]!,
    points: (x === 'N' ? NS.map((N) => at(c.bk, c.mk, N, C_FIXED)) : CS.map((C) => at(c.bk, c.mk, N_FIXED, C))).map((p) => ({
      x: x === 'N' ? p.N : p.C,
      y: p.ms,
    })),
  }));
const sub = (x: 'N' | 'C') =>
  slopes.map((s) => `${LABEL[s.model]} · ${BLABEL[s.backend]} ${(x === 'N' ? s.vsN : s.vsC).slope.toFixed(2)}`).join(', ');
const svg = sideBySide([
  logLogChart({
    title: `Forward time vs sequence length N (C = ${C_FIXED})`,
    subtitle: `log-log slopes: ${sub('N')}`,
    xLabel: 'N (sequence events)',
    yLabel: `ms per request (${STAT})`,
    xTicks: NS,
    series: series('N'),
  }),
  logLogChart({
    title: `Forward time vs candidates C (N = ${N_FIXED})`,
    subtitle: `log-log slopes: ${sub('C')}`,
    xLabel: 'C (candidates per request)',
    yLabel: `ms per request (${STAT})`,
    xTicks: CS,
    series: series('C'),
  }),
]);

mkdirSync(OUT, { recursive: true });
writeFileSync(resolve(OUT, 'table.md'), table + '\n');
writeFileSync(resolve(OUT, 'results.json'), JSON.stringify({ setup, points, slopes, claim }, null, 2) + '\n');
writeFileSync(resolve(OUT, 'chart.svg'), svg);

console.log(`IFA cost benchmark: ${setup.machine}, node ${setup.node}`);
for (const b of backends) console.log(`- ${b.key}: ${b.describe}`);
for (const m of modelSpecs) console.log(`- ${m.key}: ${m.source}`);
console.log(
  `- IFA config: dim ${IFA_BENCH.dim}, categoryDim ${IFA_BENCH.categoryDim}, context ${IFA_BENCH.context!.length} x ` +
    `${IFA_BENCH.contextDim}, attnDim ${IFA_BENCH.attnDim}, kernel ${IFA_BENCH.kernel}, towers ${IFA_BENCH.towers!.join('-')}, ` +
    `relationAware ${IFA_BENCH.relationAware}; SIM soft ` +
    `${JSON.stringify((IFA_BENCH as Record<string, unknown>)['simSoft'] ?? 'lifelong defaults')}`,
);
console.log(
  `- timing: ${WARMUP} warm-up runs, then k in [${MIN_RUNS}, ${MAX_RUNS}] interleaved rounds for about ${BUDGET_MS / 1000} s per point ` +
    `(one more warm-up run on a fresh session), ${STAT}`,
);
console.log('');
console.log(table);
console.log('');
console.log(`wrote ${resolve(OUT, 'table.md')}, results.json, chart.svg`);
if (claim.some((c) => c.checked && !c.holds)) process.exitCode = 1;
