/**
 * What the LCN serving benchmarks (serve-floor, profile-serve, serve-ab) share: the LCN-200-50
 * configuration of issue 8, full sequence masks (a user with a full lifelong history), and the
 * reading of an ONNX Runtime profile.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { onnx } from '@lctr/backend-onnx';
import { type LifelongConfig, LIFELONG_DEFAULTS } from '@lctr/spec';
import { lifelongGens } from '@lctr/spec/testing';

/** LCN with LAP (K1, K2) over N lifelong items of width d, no CRP (serving drops it). */
export function lcnServingConfig(opts: { n?: number; dim?: number; k1?: number; k2?: number } = {}): Partial<LifelongConfig> {
  return {
    ...LIFELONG_DEFAULTS,
    module: 'lap',
    dim: opts.dim ?? 64,
    lifelongLen: opts.n ?? 2000,
    users: 1000,
    targetItems: 2000,
    sourceItems: 20000,
    categories: 32,
    lap: { ...LIFELONG_DEFAULTS.lap, k1: opts.k1 ?? 200, k2: opts.k2 ?? 50 },
    crp: { ...LIFELONG_DEFAULTS.crp, lambda: 0 },
  };
}

/** randomFeeds generators with every sequence mask all valid. */
export function fullMaskGens(cfg: Partial<LifelongConfig>) {
  const full = (_rng: unknown, shape: readonly number[]) => new Uint8Array(shape.reduce((p, d) => p * d, 1)).fill(1);
  return { ...lifelongGens(cfg), lifelongMask: full, targetSeqMask: full, sourceSeqMask: full };
}

/** One ONNX node's kernel time in one run. */
export interface KernelEvent {
  node: string;
  op: string;
  us: number;
}

/**
 * The kernel times of the profile onnxruntime-node wrote under `prefix` in the working folder
 * (`file` when endProfiling named it), after `warmup` of `runs` runs (every node runs once per
 * run); the file is removed. An If is left out: its time is its branch's nodes', listed themselves.
 */
export function readOrtProfile(prefix: string, runs: number, warmup: number, file?: unknown): KernelEvent[] {
  const path =
    typeof file === 'string' && file
      ? file
      : readdirSync('.')
          .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
          .sort()
          .pop()!;
  const events = (
    JSON.parse(readFileSync(path, 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>
  ).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  rmSync(path, { force: true });
  return events
    .slice(Math.round((events.length / runs) * warmup))
    .map((e) => ({ node: e.name.replace(/_kernel_time$/, ''), op: e.args?.op_name ?? '?', us: e.dur }))
    .filter((e) => e.op !== 'If');
}

/**
 * An ONNX model of one TopK (descending, `sorted` or not) of k over x [rows, n] held as an
 * initializer: no inputs, and each output's first element out, so no large copy enters or leaves
 * ONNX Runtime. Run it with graph optimisations off, or ONNX Runtime folds it at load.
 */
export function topkOnlyModel(x: Float32Array, rows: number, n: number, k: number, sorted: boolean): Uint8Array {
  if (x.length !== rows * n) throw new Error(`topkOnlyModel: x must hold rows x n = ${rows * n} values, got ${x.length}`);
  const ints = (name: string, v: number[]) => onnx.TensorProto.create({ name, dataType: 7, dims: [v.length], int64Data: v });
  const g = onnx.GraphProto.create({
    name: 'topk',
    initializer: [
      onnx.TensorProto.create({ name: 'x', dataType: 1, dims: [rows, n], rawData: new Uint8Array(x.buffer, x.byteOffset, x.byteLength) }),
      ints('k', [k]),
      ints('start', [0, 0]),
      ints('end', [1, 1]),
    ],
    node: [
      onnx.NodeProto.create({
        opType: 'TopK',
        input: ['x', 'k'],
        output: ['v', 'i'],
        attribute: [
          { name: 'axis', type: 2, i: -1 },
          { name: 'sorted', type: 2, i: sorted ? 1 : 0 },
        ],
      }),
      onnx.NodeProto.create({ opType: 'Slice', input: ['v', 'start', 'end'], output: ['v0'] }),
      onnx.NodeProto.create({ opType: 'Slice', input: ['i', 'start', 'end'], output: ['i0'] }),
    ],
    output: [
      onnx.ValueInfoProto.create({ name: 'v0', type: { tensorType: { elemType: 1 } } }),
      onnx.ValueInfoProto.create({ name: 'i0', type: { tensorType: { elemType: 7 } } }),
    ],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: g })).finish();
}

/** What serve-floor measured for one C, in milliseconds. */
export interface ServingTimes {
  /** the floor: the model's FLOPs at ONNX Runtime's matmul rate on the same-size MatMul model */
  floorMs: number;
  /** the model's p50 */
  p50: number;
  /** the same-size MatMul model: the serving graph's products alone */
  productsMs: number;
  /** the K1 top-k over [C, N] as the exporter emits it (sorted, at ortTopkWidth's k) */
  topkMs: number;
  /** the fastest TopK over [C, N] with k >= K1 on this machine (any exact K1 selection runs one) */
  topkFastestMs: number;
}

/**
 * Where the time of a serving request stands against `goal` x the floor: the products alone and
 * the K1 top-k are measured, the rest (every other kernel) is what is left of the p50. The budget
 * the rest would have at the goal, with the K1 TopK as emitted (sorted: SPEC's K2 tie rule reads
 * the K1 order) and with the fastest TopK ONNX Runtime has for a k >= K1 (nothing in ONNX opset
 * 17 selects the top K1 of a row without a TopK over that row).
 */
export function servingBudget(t: ServingTimes, goal = 2) {
  const share = (ms: number) => ms / t.floorMs;
  const restMs = t.p50 - t.productsMs - t.topkMs;
  const restBudgetMs = goal * t.floorMs - t.productsMs - t.topkMs;
  const restBudgetFastestMs = goal * t.floorMs - t.productsMs - t.topkFastestMs;
  return {
    goal,
    restMs,
    restBudgetMs,
    restBudgetFastestMs,
    shares: {
      products: share(t.productsMs),
      topk: share(t.topkMs),
      topkFastest: share(t.topkFastestMs),
      rest: share(restMs),
      restBudget: share(restBudgetMs),
      restBudgetFastest: share(restBudgetFastestMs),
    },
  };
}

/** Fixed pseudo-random scores in [-1, 1) (a hash of the position): a TopK's input of any size, the same in every run. */
export function pseudoScores(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
}
