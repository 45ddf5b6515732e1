/**
 * What the LCN serving benchmarks (serve-floor, profile-serve, serve-ab) share: the LCN-200-50
 * configuration of issue 8, full sequence masks (a user with a full lifelong history), and the
 * reading of an ONNX Runtime profile.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { type LifelongConfig, LIFELONG_DEFAULTS } from '@lctr/spec';
import { lifelongGens } from '@lctr/spec/testing';

/** LCN with LAP (K1, K2) over N lifelong items of width d, no CRP (serving drops it). */
export function lcnServingConfig(opts: { n?: number; dim?: number; k1?: number; k2?: number } = {}): Partial<LifelongConfig> {
  return {
    ...LIFELONG_DEFAULTS, module: 'lap', dim: opts.dim ?? 64, lifelongLen: opts.n ?? 2000, users: 1000, targetItems: 2000, sourceItems: 20000, categories: 32,
    lap: { ...LIFELONG_DEFAULTS.lap, k1: opts.k1 ?? 200, k2: opts.k2 ?? 50 }, crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 },
  };
}

/** randomFeeds generators with every sequence mask all valid. */
export function fullMaskGens(cfg: Partial<LifelongConfig>) {
  const full = (_rng: unknown, shape: readonly number[]) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);
  return { ...lifelongGens(cfg), lifelongMask: full, targetSeqMask: full, sourceSeqMask: full };
}

/** One ONNX node's kernel time in one run. */
export interface KernelEvent { node: string; op: string; us: number }

/**
 * The kernel times of the profile onnxruntime-node wrote under `prefix` in the working folder
 * (`file` when endProfiling named it), after `warmup` of `runs` runs (every node runs once per
 * run); the file is removed. An If is left out: its time is its branch's nodes', listed themselves.
 */
export function readOrtProfile(prefix: string, runs: number, warmup: number, file?: unknown): KernelEvent[] {
  const path = typeof file === 'string' && file ? file : readdirSync('.').filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort().pop()!;
  const events = (JSON.parse(readFileSync(path, 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>)
    .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  rmSync(path, { force: true });
  return events.slice(Math.round(events.length / runs * warmup))
    .map((e) => ({ node: e.name.replace(/_kernel_time$/, ''), op: e.args?.op_name ?? '?', us: e.dur }))
    .filter((e) => e.op !== 'If');
}
