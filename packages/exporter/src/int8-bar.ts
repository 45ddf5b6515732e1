/**
 * The bar of an int8 export (issue 22, item 2), on held-out data: the eval split scored by the
 * float32 export and by the int8 file as staged, grouped into requests (per-request layout: the
 * eval samples of one user, that user's side once, their candidates on 'cand'; batch layout: one
 * batch). Test AUC of the int8 file within INT8_AUC_BAR of the float32 export's; the largest
 * |Δprob| reported. Top-k picks may differ on near ties: the graph's serving outputs do not expose
 * them, so a sibling of each model with every top-k's indices added as outputs (same weights, same
 * quantization) says how often each level's picks differ, per candidate row and per request.
 */
import type { Graph, HostTensor, InputsOf, FeatureSchema, Weights } from '@lctr/spec';
import { Rng, hashSeed, sizeOf } from '@lctr/spec';
import { OnnxSession } from '@lctr/backend-onnx';
import { auc } from '@lctr/metrics';
import { ExportError } from './errors.ts';
import { type HeldOutSource, servingLayoutOf } from './heldout.ts';
import { type ServingOnnxOptions, servingOnnx } from './optimise.ts';

/** Test AUC of the int8 file may move at most this far from the float32 export's. */
export const INT8_AUC_BAR = 1e-3;
/** Eval samples scored at most (a seeded subset beyond it). */
export const INT8_BAR_SAMPLES = 2000;

/** How often one top-k level's picks differ between float32 and int8 (compared as sets). */
export interface PickDifference {
  /** the IR topk node */
  readonly node: string;
  readonly k: number;
  /** rows (one per candidate) compared, and those whose pick sets differ */
  readonly rows: number;
  readonly rowsDiffer: number;
  /** requests with at least one row whose picks differ */
  readonly requestsDiffer: number;
}

export interface Int8Bar {
  readonly ok: boolean;
  readonly bar: number;
  readonly samples: number;
  readonly requests: number;
  readonly positives: number;
  readonly auc: { readonly float32: number; readonly int8: number; readonly delta: number };
  /** largest and mean |Δprob| of the int8 file against the float32 export */
  readonly maxAbsProb: number;
  readonly meanAbsProb: number;
  /** one entry per top-k of the graph (empty: it has none) */
  readonly picks: readonly PickDifference[];
  readonly failures: readonly string[];
}

type Feeds = Record<string, HostTensor>;
/** A typed array of any dtype, seen through the two methods a row copy needs. */
interface Rows {
  set(src: Rows, offset: number): void;
  subarray(begin: number, end: number): Rows;
}

/** The rows `rows` of t (along axis 0), with a leading dim of rows.length. */
function rowsOf(t: HostTensor, rows: readonly number[]): HostTensor {
  const rs = sizeOf(t.shape.slice(1));
  const src = t.data as unknown as Rows;
  const data = new (t.data.constructor as new (n: number) => Rows)(rows.length * rs);
  rows.forEach((r, i) => data.set(src.subarray(r * rs, (r + 1) * rs), i * rs));
  return { dtype: t.dtype, shape: [rows.length, ...t.shape.slice(1)], data: data as unknown as HostTensor['data'] } as HostTensor;
}

/** The graph with every topk's indices as an extra output 'picks:<node id>'. */
function withPicks(g: Graph): { graph: Graph; picks: Array<{ name: string; node: string; k: number }> } {
  const picks = g.nodes
    .filter((n) => n.op === 'topk')
    .map((n) => ({ name: `picks:${n.id}`, node: n.id, id: n.outputs[1]!.id, k: (n.attrs as { k: number }).k }));
  const outputs = { ...g.outputs, ...Object.fromEntries(picks.map((p) => [p.name, p.id])) } as Graph['outputs'];
  return { graph: { ...g, outputs }, picks: picks.map(({ name, node, k }) => ({ name, node, k })) };
}

/** Per-request (grouped by user side) or batch feeds, with the eval rows each request scores. */
function requestsOf(serving: Graph, batch: Readonly<Record<string, HostTensor>>, n: number): Array<{ feeds: Feeds; rows: number[] }> {
  const feature = (name: string): HostTensor => {
    const t = batch[name];
    if (!t) throw new ExportError(`int8 bar: the eval source has no feature '${name}' that graph '${serving.name}' reads`);
    return t;
  };
  const layout = servingLayoutOf(serving);
  if (layout === 'batch')
    return [
      { feeds: Object.fromEntries(serving.inputs.map((i) => [i.name, feature(i.name)])), rows: Array.from({ length: n }, (_, i) => i) },
    ];
  if (layout !== 'request')
    throw new ExportError(
      `int8 bar: graph '${serving.name}' has the ${layout} layout; the held-out AUC bar scores batch and per-request layouts (export ` +
        `this model float32 or float16)`,
    );
  const user = serving.inputs.filter((i) => i.shape[0] === 1);
  const groups = new Map<string, number[]>();
  for (let r = 0; r < n; r++) {
    const key = user.map((i) => Buffer.from(rowsOf(feature(i.name), [r]).data.buffer).toString('base64')).join('|');
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((rows) => ({
    rows,
    feeds: Object.fromEntries(serving.inputs.map((i) => [i.name, rowsOf(feature(i.name), i.shape[0] === 1 ? [rows[0]!] : rows)])),
  }));
}

/**
 * Score the held-out split with the float32 export and the staged int8 file; AUC, |Δprob| and the
 * top-k pick differences. `int8` is the staged file; the float32 export and the two pick siblings
 * are written here with `exportOptions` (fold, int8 options) as the exporter wrote the file.
 */
export async function int8Bar(
  args: {
    readonly serving: Graph;
    readonly weights: Weights;
    readonly int8: Uint8Array;
    readonly source: HeldOutSource;
    readonly exportOptions: Omit<ServingOnnxOptions, 'precision' | 'onnxTolerance'>;
  },
  opts: { readonly seed: number; readonly samples?: number; readonly bar?: number; readonly log?: (line: string) => void },
): Promise<Int8Bar> {
  const bar = opts.bar ?? INT8_AUC_BAR;
  const size = args.source.size;
  const n = Math.min(opts.samples ?? INT8_BAR_SAMPLES, size);
  const rng = new Rng(hashSeed(opts.seed, 'exporter', 'int8-bar'));
  let indices = Array.from({ length: size }, (_, i) => i);
  if (n < size) {
    for (let i = 0; i < n; i++) {
      const j = i + rng.int(size - i);
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
    }
    indices = indices.slice(0, n).sort((a, b) => a - b);
  }
  const batch = args.source.batch(Int32Array.from(indices));
  const labelT = batch['label'];
  if (!labelT) throw new ExportError(`int8 bar: the eval source has no 'label' (it has ${Object.keys(batch).join(', ')})`);
  const requests = requestsOf(args.serving, batch, n);
  const labels = new Float64Array(n),
    p32 = new Float64Array(n),
    p8 = new Float64Array(n);
  requests
    .flatMap((q) => q.rows)
    .forEach((r, i) => {
      labels[i] = Number(labelT.data[r]);
    });

  const { graph: sibling, picks } = withPicks(args.serving);
  const score = async (bytes: Uint8Array, graph: Graph, into: Float64Array): Promise<Array<Record<string, HostTensor>>> => {
    const session = await OnnxSession.create(bytes, graph, { provider: 'cpu' });
    const outs: Array<Record<string, HostTensor>> = [];
    try {
      let o = 0;
      for (const q of requests) {
        const out = (await session.run(q.feeds as InputsOf<FeatureSchema>)) as Record<string, HostTensor>;
        into.set(Float64Array.from(out['prob']!.data as Float32Array), o);
        o += q.rows.length;
        outs.push(out);
      }
    } finally {
      await session.release();
    }
    return outs;
  };
  const float32 = servingOnnx(args.serving, args.weights, { ...args.exportOptions, precision: 'float32' }).bytes;
  await score(float32, args.serving, p32);
  await score(args.int8, args.serving, p8);

  const differences: PickDifference[] = [];
  if (picks.length > 0) {
    const scratch = new Float64Array(n);
    const a = await score(servingOnnx(sibling, args.weights, { ...args.exportOptions, precision: 'float32' }).bytes, sibling, scratch);
    const b = await score(servingOnnx(sibling, args.weights, { ...args.exportOptions, precision: 'int8' }).bytes, sibling, scratch);
    for (const p of picks) {
      let rows = 0,
        rowsDiffer = 0,
        requestsDiffer = 0;
      a.forEach((out, q) => {
        const x = out[p.name]!,
          y = b[q]![p.name]!;
        const width = Number(x.shape[x.shape.length - 1]);
        let differ = false;
        for (let r = 0; r * width < x.data.length; r++) {
          const sa = Array.from(x.data.slice(r * width, (r + 1) * width) as Int32Array).sort((u, v) => u - v);
          const sb = Array.from(y.data.slice(r * width, (r + 1) * width) as Int32Array).sort((u, v) => u - v);
          rows++;
          if (sa.some((v, i) => v !== sb[i])) {
            rowsDiffer++;
            differ = true;
          }
        }
        if (differ) requestsDiffer++;
      });
      differences.push({ node: p.node, k: p.k, rows, rowsDiffer, requestsDiffer });
    }
  }

  let maxAbsProb = 0,
    sum = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(p32[i]! - p8[i]!);
    sum += d;
    if (!(d <= maxAbsProb)) maxAbsProb = d;
  }
  const positives = labels.reduce((s, l) => s + (l > 0.5 ? 1 : 0), 0);
  const a32 = auc(labels, p32),
    a8 = auc(labels, p8);
  const delta = Math.abs(a8 - a32);
  const failures: string[] = [];
  if (positives === 0 || positives === n)
    failures.push(`int8 bar: the ${n} held-out samples have one class only (${positives} positives): the AUC is undefined`);
  else if (!(delta <= bar))
    failures.push(
      `int8 bar: test AUC ${a8.toFixed(4)} (int8) vs ${a32.toFixed(4)} (float32): |Δ| ${delta.toExponential(2)} exceeds ` +
        `${bar.toExponential(0)}`,
    );
  return {
    ok: failures.length === 0,
    bar,
    samples: n,
    requests: requests.length,
    positives,
    auc: { float32: a32, int8: a8, delta },
    maxAbsProb,
    meanAbsProb: sum / n,
    picks: differences,
    failures,
  };
}

const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;

/** `int8 bar: 812 held-out samples in 153 requests | test AUC 0.6931 int8 vs 0.6935 float32 (|Δ| 4.0e-4, bar 1e-3); ...  OK` */
export function formatInt8Bar(b: Int8Bar): string {
  const picks =
    b.picks.length === 0
      ? 'the graph has no top-k'
      : b.picks
          .map(
            (p) => `${p.node} (k ${p.k}) differ in ${pct(p.rowsDiffer, p.rows)} of rows, ${pct(p.requestsDiffer, b.requests)} of requests`,
          )
          .join('; ');
  return (
    `int8 bar: ${b.samples} held-out samples in ${b.requests} request${b.requests === 1 ? '' : 's'} | test AUC ${b.auc.int8.toFixed(4)} int8 vs ${b.auc.float32.toFixed(4)} float32 ` +
    `(|Δ| ${b.auc.delta.toExponential(1)}, bar ${b.bar.toExponential(0)}); max |Δprob| ${b.maxAbsProb.toExponential(2)} (mean ` +
    `${b.meanAbsProb.toExponential(1)}); picks: ${picks}  ${b.ok ? 'OK' : 'FAIL'}`
  );
}
