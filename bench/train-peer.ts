#!/usr/bin/env tsx
/**
 * tfjs training vs a peer (issue 8, item 3): the same LCN training step (the lcn trainer model with
 * packages/train/configs/lcn-synthetic.json at lifelong length N, batch 256, a real batch of
 * the synthetic world with its CRP pairs) on tfjs wasm, tfjs cpu and PyTorch (bench/peer/
 * lcn_peer.py, Debian's python3-torch with OpenBLAS loaded as TOOLCHAIN.md describes), timed side by
 * side in one run; samples/s and the ratio to PyTorch. First, a check that the peer computes the
 * same model: its forward pass on a 32-sample batch with the same weights against ref-cpu (float64).
 * The runtimes take turns: `rounds` rounds, each timing every runtime once (see the runners below).
 *
 *   npx tsx bench/train-peer.ts [--n 500] [--batch 256] [--steps 5] [--rounds 3] [--world default|small] [--backends wasm,cpu] [--shards 2]
 *     [--out out/bench/peer] [--json FILE]
 * Needs python3-torch (apt-get install python3-torch); OpenBLAS is fetched into <out>/openblas with
 * `apt-get download libopenblas0-pthread` when missing (falls back to torch's own BLAS, reported).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { type Graph, type HostTensor, encodeSafetensors, initWeights } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { Adam, DataParallel, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel, parseTrainConfig } from '@lctr/train';
import { PY_SAFETENSORS, torchSource } from '@lctr/backend-torch';

const { values } = scriptArgs(import.meta.filename, {
  options: {
    n: { type: 'string', default: '500' },
    batch: { type: 'string', default: '256' },
    steps: { type: 'string', default: '5' },
    world: { type: 'string', default: 'default' },
    backends: { type: 'string', default: 'wasm,cpu' },
    shards: { type: 'string', default: '2' },
    out: { type: 'string', default: 'out/bench/peer' },
    json: { type: 'string' },
    rounds: { type: 'string', default: '3' },
  },
});
const root = resolve(import.meta.dirname, '..');
const out = resolve(root, values.out!);
const N = Number(values.n),
  batchSize = Number(values.batch),
  steps = Number(values.steps),
  rounds = Number(values.rounds);
mkdirSync(out, { recursive: true });

const configPath = join(root, 'packages/train/configs/lcn-synthetic.json');
const raw = JSON.parse(readFileSync(configPath, 'utf8')) as { model: Record<string, unknown>; data: Record<string, unknown> } & Record<
  string,
  unknown
>;
const cfg = parseTrainConfig(
  { ...raw, batchSize, model: { ...raw.model, lifelongLen: N }, data: { ...raw.data, world: values.world } },
  configPath,
);
const lcn = getTrainModel('lcn');
const graph = (await lcn.buildTrain(cfg.model, configPath, cfg.data)) as Graph;
const src = await lcn.source({ split: 'train', seed: cfg.seed, data: cfg.data, model: cfg.model, where: configPath });
const weights = initWeights(graph, 1);
const batchOf = (n: number) => src.batch(Int32Array.from({ length: n }, (_, i) => (i * 7919) % src.size)) as Record<string, HostTensor>;

function writeCase(dir: string, batch: Record<string, HostTensor>, withRef: boolean): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(graph.meta['config']));
  writeFileSync(join(dir, 'weights.safetensors'), encodeSafetensors(weights));
  writeFileSync(join(dir, 'batch.safetensors'), encodeSafetensors(new Map(Object.entries(batch))));
  if (withRef) {
    const r = runRef(graph, weights, batch as never) as Record<string, { data: ArrayLike<number> }>;
    writeFileSync(join(dir, 'ref.json'), JSON.stringify({ prob: Array.from(r['prob']!.data), loss: r['loss']!.data[0] }));
  }
}

/** LD_LIBRARY_PATH for OpenBLAS (pthread build), fetched with apt-get download when missing; undefined when that fails. */
function openblasDir(): string | undefined {
  const dir = join(out, 'openblas');
  const lib = join(dir, 'usr/lib/x86_64-linux-gnu/openblas-pthread');
  if (existsSync(join(lib, 'libblas.so.3'))) return lib;
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('apt-get', ['download', 'libopenblas0-pthread'], { cwd: dir, stdio: 'ignore' });
    const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
    if (!deb) return undefined;
    execFileSync('dpkg', ['-x', join(dir, deb), dir], { stdio: 'ignore' });
    return existsSync(join(lib, 'libblas.so.3')) ? lib : undefined;
  } catch {
    return undefined;
  }
}

function python(args: string[], blas: string | undefined): Record<string, unknown> {
  const env = {
    ...process.env,
    ...(blas ? { LD_LIBRARY_PATH: `${blas}${process.env['LD_LIBRARY_PATH'] ? `:${process.env['LD_LIBRARY_PATH']}` : ''}` } : {}),
  };
  const r = spawnSync('/usr/bin/python3', [join(root, 'bench/peer/lcn_peer.py'), ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{'))
    throw new Error(`lcn_peer.py ${args[0]} failed (exit ${r.status}): ${r.stderr.slice(-3000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

const blas = openblasDir();
console.log(
  `LCN training step: lifelong N ${N}, batch ${batchSize}, ${values.world} world, lcn-synthetic.json architecture; ${cpus().length} ` +
    `cores (${cpus()[0]?.model ?? ''})`,
);
writeCase(join(out, 'check'), batchOf(32), true);
const check = python(['check', join(out, 'check')], blas) as {
  float64: { maxAbsProb: number; absLoss: number };
  float32: { maxAbsProb: number; absLoss: number };
};
console.log(
  `peer check (32 samples, same weights) vs ref-cpu: float64 max |Δprob| ${check.float64.maxAbsProb.toExponential(1)}, |Δloss| ${check.float64.absLoss.toExponential(1)}; ` +
    `float32 max |Δprob| ${check.float32.maxAbsProb.toExponential(1)}, |Δloss| ${check.float32.absLoss.toExponential(1)}`,
);
if (!(check.float64.maxAbsProb < 1e-9 && check.float32.maxAbsProb < 1e-5)) {
  console.error('the peer does not compute the same model (bars: 1e-9 in float64, 1e-5 in float32)');
  process.exitCode = 1;
}

const benchBatch = batchOf(batchSize);
writeCase(join(out, 'bench'), benchBatch, false);

/**
 * Every runtime is timed once per round (`steps` steps after warm-up), rounds one after another,
 * so a busy spell of this shared machine lands on all of them; per runtime the median over rounds.
 */
type Runner = { runtime: string; time: () => Promise<number>; dispose?: () => Promise<void> };
const runners: Runner[] = [];
for (const backend of values.backends!.split(',')) {
  runners.push({
    runtime: `tfjs ${backend}`,
    async time() {
      await initTfjs({ backend, log: () => {} });
      const model = compileTfjs(graph);
      model.setWeights(weights);
      const opt = new Adam(model.variables, cfg.optimizer);
      try {
        for (let i = 0; i < 2; i++) model.trainStep(benchBatch as never, 'loss', opt);
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) model.trainStep(benchBatch as never, 'loss', opt);
        return (performance.now() - t0) / steps;
      } finally {
        opt.dispose();
        model.dispose();
      }
    },
  });
}
// tfjs wasm with data-parallel shards over worker threads (one wasm thread each; --shards 1 skips it)
const shards = Number(values.shards);
if (shards > 1) {
  await initTfjs({ backend: 'wasm', log: () => {} });
  const dp = await DataParallel.create(graph, weights, cfg.optimizer, { shards, backend: 'wasm' });
  runners.push({
    runtime: `tfjs wasm, ${shards} data-parallel shards (worker threads)`,
    async time() {
      await initTfjs({ backend: 'wasm', log: () => {} });
      for (let i = 0; i < 2; i++) await dp.step(benchBatch as never);
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) await dp.step(benchBatch as never);
      return (performance.now() - t0) / steps;
    },
    dispose: () => dp.dispose(),
  });
}
// PyTorch at 1 intra-op thread and at every core (OpenBLAS runs its own threads either way; on a busy
// machine torch's OpenMP threads on top of them can oversubscribe the cores): the faster is the peer
type PeerRun = { msPerStep: number; samplesPerSec: number; threads: number; torch: string };
let torchVersion = '';
for (const t of [...new Set([1, cpus().length])]) {
  runners.push({
    runtime: `PyTorch (${t} intra-op thread${t > 1 ? 's' : ''}, ${blas ? 'OpenBLAS' : 'its own BLAS: OpenBLAS could not be fetched'})`,
    async time() {
      const p = python(['bench', join(out, 'bench'), String(steps), String(t)], blas) as PeerRun;
      torchVersion = p.torch;
      return p.msPerStep;
    },
  });
}
// the module @lctr/backend-torch generates from the same graph (float32, torch.optim.Adam), on the same batch and weights
const GENERATED_BENCH = String.raw`
import importlib.util, json, struct, sys, time
import torch
${PY_SAFETENSORS}
spec = importlib.util.spec_from_file_location("lctr_generated", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
case, steps, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
m = mod.Model()
m.load_spec_weights(read_safetensors(case + "/weights.safetensors"))
b = read_safetensors(case + "/batch.safetensors")
inputs = {n: b[n].clone() for n in mod.Model.INPUTS}
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
def step():
    opt.zero_grad(set_to_none=True)
    loss = m(**inputs)["loss"]
    loss.backward()
    opt.step()
for _ in range(2):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
ms = (time.perf_counter() - t0) / steps * 1000
print(json.dumps({"msPerStep": ms, "torch": torch.__version__}))
`;
writeFileSync(join(out, 'generated.py'), torchSource(graph, { dtype: 'float32' }));
writeFileSync(join(out, 'generated_bench.py'), GENERATED_BENCH);
for (const t of [...new Set([1, cpus().length])]) {
  runners.push({
    runtime: `generated module (${t} intra-op thread${t > 1 ? 's' : ''}, ${blas ? 'OpenBLAS' : 'its own BLAS'})`,
    async time() {
      const env = { ...process.env, ...(blas ? { LD_LIBRARY_PATH: blas } : {}) };
      const r = spawnSync(
        '/usr/bin/python3',
        [join(out, 'generated_bench.py'), join(out, 'generated.py'), join(out, 'bench'), String(steps), String(t)],
        { env, encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      const line = r.stdout.trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !line.startsWith('{'))
        throw new Error(`generated module bench failed (exit ${r.status}): ${r.stderr.slice(-3000)}`);
      return (JSON.parse(line) as { msPerStep: number }).msPerStep;
    },
  });
}
const times: number[][] = runners.map(() => []);
for (let r = 0; r < rounds; r++) for (let i = 0; i < runners.length; i++) times[i]!.push(await runners[i]!.time());
for (const r of runners) await r.dispose?.();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rows = runners.map((r, i) => {
  const ms = median(times[i]!);
  return {
    runtime: r.runtime.replace(/^PyTorch/, `PyTorch ${torchVersion}`),
    msPerStep: ms,
    samplesPerSec: (1000 * batchSize) / ms,
    rounds: times[i]!,
  };
});
const peers = rows.filter((r) => r.runtime.startsWith('PyTorch'));
const peer = peers.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a));
console.log(`${rounds} rounds of ${steps} steps (after 2 warm-up steps each), every runtime once per round; medians over rounds`);
console.log(
  `| runtime | ms / step | samples/s | vs PyTorch (best: ${peer.runtime.match(/\((\d+) intra/)?.[1] ?? '?'} thread) | ms per round ` +
    `|\n|---|---:|---:|---:|---|`,
);
for (const r of rows)
  console.log(
    `| ${r.runtime} | ${r.msPerStep.toFixed(0)} | ${r.samplesPerSec.toFixed(0)} | ${(r.samplesPerSec / peer.samplesPerSec).toFixed(2)} | ` +
      `${r.rounds.map((x) => x.toFixed(0)).join(', ')} |`,
  );
if (values.json)
  writeFileSync(values.json, JSON.stringify({ N, batchSize, steps, rounds, world: values.world, check, rows }, null, 2) + '\n');
