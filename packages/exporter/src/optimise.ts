/**
 * The serving ONNX file of a graph, with the optimisations that keep parity (issue 7, item 3):
 * parameter-only subgraphs folded (fold.ts) and, on request, float16 tensors inside the graph
 * (backend-onnx float16.ts) or int8 products by wide weights (backend-onnx int8.ts; folding first
 * turns the MLP's and FSA's weight-with-bias-row blocks into initializers the pass can quantize). graph.json and weights.safetensors of a
 * serving directory stay the
 * UNoptimised spec form; the parity report compares this file against that form on tfjs and
 * ref-cpu, which is the proof each optimisation keeps the numbers.
 */
import type { Graph, Weights } from '@lctr/spec';
import {
  type Int8Options,
  type Int8Summary,
  type Precision,
  Int8QuantizationError,
  PRECISIONS,
  lowerModel,
  onnx,
} from '@lctr/backend-onnx';
import { foldParameters } from './fold.ts';
import { ExportError } from './serving-dir.ts';
import { HELD_OUT_TOLERANCE } from './heldout.ts';

/**
 * The bar of a float16 export against the float32 reference (max |Δprob|). float16 rounds each value
 * to 11 significant bits (relative 4.9e-4): without a top-k that moves trained probabilities by
 * about 4e-4 (DIN over 600 events); with one, near-tied scores can swap a pick, and a swapped pick
 * moves a probability by up to about 1e-2 (measured on trained checkpoints: TWIN 7.4e-3, LCN with
 * two pick levels 1.0e-2; BENCHMARKS.md "Serving optimisations"). Where exact picks matter, export
 * float32.
 */
export const FLOAT16_TOLERANCE = 2e-2;

/**
 * The bar of an int8 export's parity pairs (max |Δprob| against tfjs and ref-cpu in float32/64): a
 * bound against a broken file, not the accuracy bar. That is the held-out AUC (int8-bar.ts,
 * INT8_AUC_BAR), since dynamic quantization moves every probability a little (3.9e-4 at most on
 * LCN-200-50 with seeded weights, C = 1,000) and a swapped top-k pick moves one by more.
 */
export const INT8_TOLERANCE = 5e-2;

export interface ServingOptimisations {
  readonly precision: Precision;
  /** max |Δprob| the ONNX file must hold against the float32 reference */
  readonly onnxTolerance: number;
  readonly constantFolding: {
    readonly enabled: boolean;
    readonly foldedNodes: number;
    /** IR nodes and parameter scalars before and after folding */
    readonly nodesBefore: number;
    readonly nodesAfter: number;
    readonly parametersBefore: number;
    readonly parametersAfter: number;
    readonly addedParameters: readonly string[];
    readonly droppedParameters: readonly string[];
  };
  /** nodes of the ONNX graph written */
  readonly onnxNodes: number;
  /** int8: the products quantized (node, weight, shape) and the weight bytes before and after */
  readonly int8?: Int8Summary;
}

export interface ServingOnnxOptions {
  /** fold parameter-only subgraphs (default true) */
  readonly fold?: boolean;
  /** default 'float32' */
  readonly precision?: Precision;
  /** overrides the precision's default bar */
  readonly onnxTolerance?: number;
  /** options of the int8 pass (which products are worth quantizing) */
  readonly int8?: Int8Options;
}

const scalars = (g: Graph) => g.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);

/** ONNX bytes of `graph` with `weights`, optimised for serving, and what was done. */
export function servingOnnx(
  graph: Graph,
  weights: Weights,
  opts: ServingOnnxOptions = {},
): { bytes: Uint8Array; optimisations: ServingOptimisations } {
  const precision = opts.precision ?? 'float32';
  if (!PRECISIONS.includes(precision))
    throw new ExportError(`--precision: expected one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(precision)}`);
  const enabled = opts.fold ?? true;
  const folded = enabled ? foldParameters(graph, weights) : undefined;
  const g = folded?.graph ?? graph;
  let lowered: ReturnType<typeof lowerModel>;
  try {
    lowered = lowerModel(g, folded?.weights ?? weights, { precision, ...(opts.int8 ? { int8: opts.int8 } : {}) });
  } catch (e) {
    if (e instanceof Int8QuantizationError) throw new ExportError(e.message);
    throw e;
  }
  const bytes = onnx.ModelProto.encode(lowered.model).finish();
  return {
    bytes,
    optimisations: {
      precision,
      onnxTolerance:
        opts.onnxTolerance ?? (precision === 'float16' ? FLOAT16_TOLERANCE : precision === 'int8' ? INT8_TOLERANCE : HELD_OUT_TOLERANCE),
      constantFolding: {
        enabled,
        foldedNodes: folded?.foldedNodes.length ?? 0,
        nodesBefore: graph.nodes.length,
        nodesAfter: g.nodes.length,
        parametersBefore: scalars(graph),
        parametersAfter: scalars(g),
        addedParameters: folded?.addedParameters ?? [],
        droppedParameters: folded?.droppedParameters ?? [],
      },
      onnxNodes: lowered.model.graph?.node?.length ?? 0,
      ...(lowered.int8 ? { int8: lowered.int8 } : {}),
    },
  };
}

/** `optimised: 12 parameter-only nodes folded (212 -> 200 IR nodes, 2 parameters replaced by 4), float32` */
export function formatOptimisations(o: ServingOptimisations): string {
  const f = o.constantFolding;
  const fold = !f.enabled
    ? 'constant folding off'
    : `${f.foldedNodes} parameter-only nodes folded (${f.nodesBefore} -> ${f.nodesAfter} IR nodes, ${f.parametersBefore} -> ` +
      `${f.parametersAfter} parameter scalars)`;
  const q = o.int8;
  const int8 = q
    ? ` (${q.products.length} products quantized, ${q.floatMatmuls} MatMuls left float32; weights ${q.weightBytesBefore} -> ` +
      `${q.weightBytesAfter} bytes)`
    : '';
  return (
    `optimised: ${fold}; ${o.precision}${int8}` +
    `${o.precision !== 'float32' ? ` (checked against the float32 reference to ${o.onnxTolerance.toExponential(0)})` : ''}; ` +
    `${o.onnxNodes} ONNX nodes`
  );
}
