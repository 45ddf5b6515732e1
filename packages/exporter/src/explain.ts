/**
 * The explain variant of a model with an attention pyramid (LCN: spec's buildLifelongExplain),
 * exported beside its scoring model, in the same model directory and the same all-or-nothing
 * staging (its files are in the marker's manifest):
 *
 *   <name>/explain/1/model.onnx   the explain graph in ONNX: `prob` plus each level's picked
 *                                 positions, weights and validity per candidate (float32 whatever
 *                                 --precision: its picks are the reference's; folded like 1/model.onnx)
 *   <name>/explain/graph.json     its spec JSON (output shapes; meta.explain: each level's K)
 *
 * Not a Triton model: Triton would need a model directory of its own with a config.pbtxt, and it
 * ignores a non-numeric subdirectory of a model. The scoring server loads it as a plain file
 * (same inputs as the scoring model) for its explain route; the scoring file is unchanged by it.
 *
 * Checked on the held-out requests of the parity check: its `prob` against the scoring file's
 * (ONNX Runtime both; the bar of the export's ONNX pairs) gates the export; its picks against
 * ref-cpu's explain graph (positions and validity per candidate row, max |Δweight|) are reported.
 */
import {
  type FeatureSchema,
  type Graph,
  type HostData,
  type HostTensor,
  type InputsOf,
  type Weights,
  buildLifelongExplain,
  hasLifelongExplain,
  serializeGraph,
  weightsFor,
} from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { OnnxSession } from '@lctr/backend-onnx';
import { ExportError } from './errors.ts';
import { type HeldOutRequest, type HeldOutSource, servingFeedsOf } from './heldout.ts';
import { type ServingOnnxOptions, servingOnnx } from './optimise.ts';
import type { ServingSpec } from './serving.ts';
import type { CheckerRecord } from './serving-dir.ts';
import { type FileRecord, fileRecord } from './staging.ts';

/** Where the explain files sit inside a model directory. */
export const EXPLAIN_ONNX_FILE = 'explain/1/model.onnx';
export const EXPLAIN_GRAPH_FILE = 'explain/graph.json';

/** The explain graph of a serving spec, or undefined when the model has no pyramid (SIM, TWIN, DIN, IFA ...). */
export function explainGraphOf(spec: ServingSpec, where: string): Graph<FeatureSchema, string> | undefined {
  if (spec.model !== 'lifelong' || !hasLifelongExplain(spec.config)) return undefined;
  try {
    return buildLifelongExplain(spec.config);
  } catch (e) {
    throw new ExportError(`${where}: meta.config does not build the explain graph: ${(e as Error).message}`);
  }
}

export interface ExplainExport {
  readonly graph: Graph<FeatureSchema, string>;
  readonly weights: Weights;
  /** the files to stage, keyed by their path in the model directory */
  readonly files: Readonly<Record<typeof EXPLAIN_ONNX_FILE | typeof EXPLAIN_GRAPH_FILE, string | Uint8Array>>;
  readonly onnxNodes: number;
}

/** The explain files of `graph` with the checkpoint's weights (float32; `opts.fold` as the scoring file). */
export function explainExport(
  graph: Graph<FeatureSchema, string>,
  checkpointWeights: Weights,
  opts: Pick<ServingOnnxOptions, 'fold'>,
): ExplainExport {
  let weights: Weights;
  try {
    weights = weightsFor(graph, checkpointWeights);
  } catch (e) {
    throw new ExportError(`explain graph '${graph.name}': ${(e as Error).message}`);
  }
  const { bytes, optimisations } = servingOnnx(graph, weights, { ...opts, precision: 'float32' });
  return {
    graph,
    weights,
    files: { [EXPLAIN_ONNX_FILE]: bytes, [EXPLAIN_GRAPH_FILE]: serializeGraph(graph) + '\n' },
    onnxNodes: optimisations.onnxNodes,
  };
}

/** One pyramid level over the held-out requests: ONNX Runtime's explain file vs ref-cpu's explain graph. */
export interface ExplainLevelParity {
  readonly k: number;
  /** candidate rows compared */
  readonly rows: number;
  /** rows whose positions or validity differ */
  readonly rowsDiffer: number;
  readonly maxAbsWeight: number;
}

export interface ExplainParity {
  readonly ok: boolean;
  /** the bar of prob against the scoring file (the export's ONNX bar) */
  readonly tolerance: number;
  /** max |Δprob| of the explain file vs the scoring file (ONNX Runtime both) */
  readonly maxAbsProb: number;
  readonly levels: Readonly<Record<string, ExplainLevelParity>>;
  readonly failures: readonly string[];
}

/** What report.json records of the explain variant. */
export interface ExplainRecord {
  readonly files: Readonly<Record<typeof EXPLAIN_ONNX_FILE | typeof EXPLAIN_GRAPH_FILE, FileRecord>>;
  readonly outputs: readonly string[];
  readonly precision: 'float32';
  readonly onnxNodes: number;
  readonly checker: CheckerRecord;
  readonly parity: ExplainParity;
}

const numbers = (d: HostData): number[] => Array.from(d as ArrayLike<number | bigint>, Number);

/**
 * Run the explain file (staged bytes) and the scoring file on the held-out requests (the parity
 * check's), and the explain graph on ref-cpu: prob vs the scoring file gates, picks are compared.
 */
export async function explainParity(
  args: {
    readonly serving: Graph;
    readonly scoringOnnx: Uint8Array;
    readonly explain: ExplainExport;
    readonly explainOnnx: Uint8Array;
    readonly source: HeldOutSource;
    readonly requests: readonly HeldOutRequest[];
  },
  opts: { readonly tolerance: number },
): Promise<ExplainParity> {
  const { graph, weights } = args.explain;
  const levels = (graph.meta['explain'] ?? {}) as Readonly<Record<string, number>>;
  const result: Record<string, { k: number; rows: number; rowsDiffer: number; maxAbsWeight: number }> = Object.fromEntries(
    Object.entries(levels).map(([l, k]) => [l, { k, rows: 0, rowsDiffer: 0, maxAbsWeight: 0 }]),
  );
  let maxAbsProb = 0;
  const explainSession = await OnnxSession.create(args.explainOnnx, graph, { provider: 'cpu' });
  const scoringSession = await OnnxSession.create(args.scoringOnnx, args.serving, { provider: 'cpu' });
  try {
    for (const q of args.requests) {
      const feeds = servingFeedsOf(
        graph,
        args.source.batch(Int32Array.from({ length: q.candidates }, (_, i) => q.start + i)),
      ) as InputsOf<FeatureSchema>;
      const ort: Record<string, HostTensor> = await explainSession.run(feeds);
      const ref = runRef(graph, weights, feeds) as Record<string, { data: HostData }>;
      const scored = numbers(((await scoringSession.run(feeds)) as Record<string, HostTensor>)['prob']!.data);
      numbers(ort['prob']!.data).forEach((p, i) => {
        maxAbsProb = Math.max(maxAbsProb, Math.abs(p - scored[i]!));
      });
      for (const [level, r] of Object.entries(result)) {
        const pair = (o: string) => [numbers(ort[level + o]!.data), numbers(ref[level + o]!.data)] as const;
        const [pos, ok, w] = [pair('Positions'), pair('Valid'), pair('Weights')];
        for (let row = 0; row < q.candidates; row++) {
          const span = (x: readonly number[]) => x.slice(row * r.k, (row + 1) * r.k).join(',');
          r.rows++;
          if (span(pos[0]) !== span(pos[1]) || span(ok[0]) !== span(ok[1])) r.rowsDiffer++;
        }
        w[0].forEach((x, i) => {
          r.maxAbsWeight = Math.max(r.maxAbsWeight, Math.abs(x - w[1][i]!));
        });
      }
    }
  } finally {
    await explainSession.release();
    await scoringSession.release();
  }
  const failures =
    maxAbsProb <= opts.tolerance
      ? []
      : [`explain-vs-scoring: max |Δprob| ${maxAbsProb.toExponential(2)} exceeds ${opts.tolerance.toExponential(0)}`];
  return { ok: failures.length === 0, tolerance: opts.tolerance, maxAbsProb, levels: result, failures };
}

/**
 * `explain (explain/1/model.onnx): prob vs the scoring file max |Δ| 0.0e+0 (bar 1e-5); picks vs ref-cpu: csa (k 10) 0 of 64 rows differ,
 * max |Δweight| 3.0e-8; ...  OK`
 */
export function formatExplainLine(p: ExplainParity): string {
  const levels = Object.entries(p.levels)
    .map(([l, r]) => `${l} (k ${r.k}) ${r.rowsDiffer} of ${r.rows} rows differ, max |Δweight| ${r.maxAbsWeight.toExponential(1)}`)
    .join('; ');
  return (
    `explain (${EXPLAIN_ONNX_FILE}): prob vs the scoring file max |Δ| ${p.maxAbsProb.toExponential(1)} (bar ` +
    `${p.tolerance.toExponential(0)}); picks vs ref-cpu: ${levels}  ${p.ok ? 'OK' : 'FAIL'}`
  );
}
