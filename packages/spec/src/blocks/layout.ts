/**
 * The layouts a lifelong-sequence block runs in, so each block (CSA, MSA, FSA, SIM, TWIN) is
 * written once and serves training and per-request scoring (DESIGN.md, Serving layout):
 * - 'perSample' (training graphs): row r of the batch has its own sequence. Sequence tensors are
 *   [R, N, x], masks [R, N], queries [R, d]; R = 'batch'.
 * - 'shared' (serving graphs): one request, one user; every candidate row reads the same
 *   sequence. Sequence tensors are [N, x] (the request's leading 1 squeezed), masks [1, N] (they
 *   broadcast over the rows), queries [R, d]; R = 'cand'. Work on the sequence alone (embedding
 *   lookups, key/value projections) is done once per request, not once per candidate.
 * - 'perRequest' (training on requests, IFA's data): S requests per batch, each with C candidates
 *   (C static) and one sequence. The rows are the S·C candidates, request-major (row s·C + c is
 *   candidate c of request s: what reshaping [S, C, x] to [S·C, x] gives); queries [S·C, d],
 *   sequence tensors [S, N, x] and masks [S, N], per request, not repeated per candidate.
 *   Scores and pools are batched products per request ([S, C, d] x [S, d, N]).
 * After a top-k pick every layout gives [R, K, x]: what follows a pick is layout-free.
 * Rows are always the leading axis of queries, scores ([R, N]) and picks ([R, K, ...]); a
 * per-sequence tensor that meets scores elementwise (the mask in a top-k or a softmax, a per-item
 * bias, the item categories) goes through `perRow` first.
 */
import type { Bool, Float, GraphBuilder, Int, Value } from '../builder.ts';
import { type Dim, dimEquals, divDims, formatShape, mulDims } from '../dims.ts';
import type { DType } from '../dtype.ts';
import type { FeatureSchema } from '../graph.ts';

type B = GraphBuilder<FeatureSchema>;

export type SeqLayoutKind = 'perSample' | 'shared' | 'perRequest';

export interface SeqLayout {
  readonly kind: SeqLayoutKind;
  /** C, the candidates per request: set in 'perRequest' only */
  readonly candidates?: number;
  /**
   * Whether to project sequence rows before picking them: in 'shared' the N rows are projected
   * once for all candidates (cheaper than C x K projections); in 'perSample' each row's K picks are
   * projected after the pick (cheaper than R x N). 'perRequest' projects after the pick by
   * default (see SeqLayoutOptions.projectBeforePick). The same math either way: a projection acts
   * row by row.
   */
  readonly projectBeforePick: boolean;
  /** ⟨q_r, k_n⟩ for every row and sequence item: q [R, d], keys [R, N, d] | [N, d] | [S, N, d] → [R, N] */
  scores(q: Float, keys: Float): Float;
  /** Σ_n w[r, n] · values[n]: w [R, N], values [R, N, x] | [N, x] | [S, N, x] → [R, x] */
  pool(w: Float, values: Float): Float;
  /** values at each row's picked positions: values [R, N, ...] | [N, ...] | [S, N, ...], idx int32 [R, K] → [R, K, ...] */
  pick(values: Float, idx: Int): Float;
  /** the same for an integer sequence tensor (item ids, categories) */
  pickInt(values: Int, idx: Int): Int;
  /**
   * A per-sequence tensor (mask [S, N], categories, per-item scalars; any dtype, any trailing
   * dims) in a form that lines up with the rows of scores [R, N]: [S·C, N, ...] in 'perRequest'
   * (each request's copy repeated for its C candidates), the tensor itself in 'perSample' (already
   * [R, N]) and 'shared' ([1, N] or [N]: it broadcasts over the rows).
   */
  perRow<D extends DType>(x: Value<D>): Value<D>;
  /**
   * The leading dims of the sequence tensors that go with queries of `rows` rows: sequence
   * tensors are [...lead, N, x], masks [...lead, N] ([1, N] when lead is empty). perSample
   * [rows], shared [], perRequest [rows / C] (undefined when rows is not a multiple of C).
   */
  sequenceLead(rows: Dim): Dim[] | undefined;
}

export interface SeqLayoutOptions {
  /** C, the (static) candidates per request: required by 'perRequest', refused by the others */
  candidates?: number;
  /**
   * 'perRequest' only: project the S·N sequence rows before the pick, or the S·C·K picked rows
   * after it (default false). Counting matmul rows, before the pick wins when N < C·K; but the
   * pick itself (a gather forward, a scatter-add backward) costs more than the matmul on tfjs, and
   * before the pick it runs once per projection (SIM's ESU: keys and values) on da-wide rows,
   * after it once on the raw d-wide rows. Measured on tfjs wasm (S = 16, C = 10, K = 50, d = 32,
   * forward + backward, medians of 5 on 2 shared, busy cores): N = 50-100 no consistent winner;
   * N = 500 after the pick 1.35x faster (SIM soft 89 vs 66 ms, TWIN 86 vs 63 ms); N = 1,000 1.4-1.6x;
   * N = 2,000 1.75x for SIM soft, a tie for TWIN (its keys are projected for all N anyway). The
   * lifelong sequences here run to 1,000-2,000 events, so after the pick is the default; pass
   * true for N well below C·K.
   */
  projectBeforePick?: boolean;
}

function lastDim(x: Float, what: string): number {
  const d = x.shape[x.shape.length - 1];
  if (typeof d !== 'number') throw new Error(`${what}: the last dim must be static, got [${x.shape.join(', ')}]`);
  return d;
}

const PER_SAMPLE: Omit<SeqLayout, 'scores' | 'pool' | 'pick' | 'pickInt' | 'perRow' | 'sequenceLead'> = {
  kind: 'perSample',
  projectBeforePick: false,
};

/**
 * The layout of kind `kind` over builder `b`; 'perRequest' needs `{ candidates: C }`, e.g.
 * `seqLayout(b, 'perRequest', { candidates: 20 })`.
 */
export function seqLayout(b: B, kind: SeqLayoutKind, opts: SeqLayoutOptions = {}): SeqLayout {
  if (kind !== 'perSample' && kind !== 'shared' && kind !== 'perRequest') {
    throw new Error(`seqLayout: kind must be one of 'perSample', 'shared', 'perRequest', got ${JSON.stringify(kind)}`);
  }
  if (kind === 'perRequest') return perRequest(b, opts);
  for (const key of ['candidates', 'projectBeforePick'] as const) {
    if (opts[key] !== undefined)
      throw new Error(`seqLayout ${kind}: option ${key} is for the perRequest layout only, got ${JSON.stringify(opts[key])}`);
  }
  const identity = <D extends DType>(x: Value<D>): Value<D> => x;
  if (kind === 'perSample') {
    return {
      ...PER_SAMPLE,
      scores(q, keys) {
        if (keys.shape.length !== 3 || q.shape.length !== 2)
          throw new Error(
            `seqLayout perSample scores: q must be [R, d] and keys [R, N, d], got [${q.shape.join(', ')}] and [${keys.shape.join(', ')}]`,
          );
        // a multiply and a sum over d, not a batch of [1, d] x [d, N] products (slow on tfjs wasm)
        return b.reduceSum(b.mul(keys, b.reshape(q, [q.shape[0]!, 1, lastDim(q, 'seqLayout scores')])), [2]);
      },
      pool(w, values) {
        if (values.shape.length !== 3 || w.shape.length !== 2)
          throw new Error(
            `seqLayout perSample pool: w must be [R, N] and values [R, N, x], got [${w.shape.join(', ')}] and [${values.shape.join(', ')}]`,
          );
        return b.reduceSum(b.mul(values, b.reshape(w, [...w.shape, 1])), [1]);
      },
      pick: (values, idx) => b.gatherAlongAxis(values, idx, 1),
      pickInt: (values, idx) => b.gatherAlongAxis(values, idx, 1),
      perRow: identity,
      sequenceLead: (rows) => [rows],
    };
  }
  return {
    kind: 'shared',
    projectBeforePick: true,
    scores(q, keys) {
      if (keys.shape.length !== 2 || q.shape.length !== 2)
        throw new Error(
          `seqLayout shared scores: q must be [R, d] and keys [N, d], got [${q.shape.join(', ')}] and [${keys.shape.join(', ')}]`,
        );
      return b.matmul(q, b.transpose(keys, [1, 0]));
    },
    pool(w, values) {
      if (values.shape.length !== 2 || w.shape.length !== 2)
        throw new Error(
          `seqLayout shared pool: w must be [R, N] and values [N, x], got [${w.shape.join(', ')}] and [${values.shape.join(', ')}]`,
        );
      return b.matmul(w, values);
    },
    pick: (values, idx) => b.gather(values, idx, 0),
    pickInt: (values, idx) => b.gather(values, idx, 0),
    perRow: identity,
    sequenceLead: () => [],
  };
}

type Shaped = { readonly shape: readonly Dim[] };
type Requests = (what: string, rowsName: string, rowsT: Shaped, seqName: string, seq: Shaped) => Dim;

/**
 * 'perRequest': rows [S·C] over sequences [S, N, ...]. Every method reshapes the rows to
 * [S, C, ...] and works per request: scores and pools are batched matmuls ([S, C, d] x [S, d, N],
 * [S, C, N] x [S, N, x]); a pick gathers C·K positions of each request's sequence at once.
 */
function perRequest(b: B, opts: SeqLayoutOptions): SeqLayout {
  const c = opts.candidates;
  if (c === undefined || !Number.isInteger(c) || c < 1) {
    throw new Error(
      `seqLayout perRequest: options.candidates (C, the candidates per request) must be a positive integer, got ${JSON.stringify(c)}`,
    );
  }
  if (opts.projectBeforePick !== undefined && typeof opts.projectBeforePick !== 'boolean') {
    throw new Error(`seqLayout perRequest: options.projectBeforePick must be a boolean, got ${JSON.stringify(opts.projectBeforePick)}`);
  }
  const show = (x: { shape: readonly Dim[] }) => formatShape(x.shape);
  /** S, the requests of sequence tensor `seq`, checked against the S·C rows of `rowsT` */
  const requests: Requests = (what, rowsName, rowsT, seqName, seq) => {
    const s = seq.shape[0]!,
      want = mulDims(s, c),
      rows = rowsT.shape[0]!;
    if (!dimEquals(rows, want)) {
      throw new Error(
        `seqLayout perRequest ${what}: ${rowsName} ${show(rowsT)} must have S·C = ${want} rows (${seqName} ${show(seq)} holds S = ${s} ` +
          `requests, C = ${c}), got ${rows}`,
      );
    }
    return s;
  };
  return {
    kind: 'perRequest',
    candidates: c,
    projectBeforePick: opts.projectBeforePick ?? false,
    scores(q, keys) {
      if (keys.shape.length !== 3 || q.shape.length !== 2)
        throw new Error(`seqLayout perRequest scores: q must be [S·C, d] and keys [S, N, d], got ${show(q)} and ${show(keys)}`);
      const s = requests('scores', 'q', q, 'keys', keys);
      const q3 = b.reshape(q, [s, c, lastDim(q, 'seqLayout scores')]);
      return b.reshape(b.matmul(q3, b.transpose(keys, [0, 2, 1])), [q.shape[0]!, keys.shape[1]!]); // [S, C, N] → [S·C, N]
    },
    pool(w, values) {
      if (values.shape.length !== 3 || w.shape.length !== 2)
        throw new Error(`seqLayout perRequest pool: w must be [S·C, N] and values [S, N, x], got ${show(w)} and ${show(values)}`);
      const s = requests('pool', 'w', w, 'values', values);
      return b.reshape(b.matmul(b.reshape(w, [s, c, w.shape[1]!]), values), [w.shape[0]!, values.shape[2]!]); // [S, C, x] → [S·C, x]
    },
    pick: (values, idx) => pickPerRequest(b, c, values, idx, requests),
    pickInt: (values, idx) => pickPerRequest(b, c, values, idx, requests),
    perRow<D extends DType>(x: Value<D>): Value<D> {
      if (x.shape.length < 2) throw new Error(`seqLayout perRequest perRow: x must be [S, N, ...], got ${show(x)}`);
      const [s, ...rest] = x.shape as [Dim, ...Dim[]];
      const repeated = b.expand(b.reshape(x, [s, 1, ...rest]), [s, c, ...rest]); // [S, C, N, ...]
      return b.reshape(repeated, [mulDims(s, c), ...rest]);
    },
    sequenceLead(rows) {
      const s = divDims(rows, c);
      return s === undefined ? undefined : [s];
    },
  };
}

/** values [S, N, ...] at idx [S·C, K] → [S·C, K, ...]: one gather of C·K positions per request. */
function pickPerRequest<D extends DType>(b: B, c: number, values: Value<D>, idx: Int, requests: Requests): Value<D> {
  const k = idx.shape[1];
  if (values.shape.length < 2 || idx.shape.length !== 2 || typeof k !== 'number') {
    throw new Error(
      `seqLayout perRequest pick: values must be [S, N, ...] and idx [S·C, K] with a static K, got ${formatShape(values.shape)} and ` +
        `${formatShape(idx.shape)}`,
    );
  }
  const s = requests('pick', 'idx', idx, 'values', values);
  const picked = b.gatherAlongAxis(values, b.reshape(idx, [s, c * k]), 1); // [S, C·K, ...]
  return b.reshape(picked, [idx.shape[0]!, k, ...values.shape.slice(2)]);
}

/**
 * Candidate-side tensor x [S, C, ...] (one request per row of the batch: embeddings of `cand`,
 * `candCategory`) as the rows of a 'perRequest' layout: [S·C, ...], request-major.
 */
export function candidateRows<D extends DType>(b: B, layout: SeqLayout, x: Value<D>): Value<D> {
  const c = layout.candidates;
  if (layout.kind !== 'perRequest' || c === undefined) throw new Error(`candidateRows: the layout must be perRequest, got ${layout.kind}`);
  if (x.shape.length < 2 || !dimEquals(x.shape[1]!, c))
    throw new Error(`candidateRows: x must be [S, ${c}, ...] (C = ${c} candidates per request), got ${formatShape(x.shape)}`);
  const [s, , ...rest] = x.shape as [Dim, Dim, ...Dim[]];
  return b.reshape(x, [mulDims(s, c), ...rest]);
}

/** The inverse of candidateRows: rows y [S·C, ...] of a 'perRequest' layout as [S, C, ...]. */
export function requestCandidates<D extends DType>(b: B, layout: SeqLayout, y: Value<D>): Value<D> {
  const c = layout.candidates;
  if (layout.kind !== 'perRequest' || c === undefined)
    throw new Error(`requestCandidates: the layout must be perRequest, got ${layout.kind}`);
  const s = y.shape.length ? layout.sequenceLead(y.shape[0]!)?.[0] : undefined;
  if (s === undefined)
    throw new Error(`requestCandidates: y must be [S·C, ...] (C = ${c} candidates per request), got ${formatShape(y.shape)}`);
  return b.reshape(y, [s, c, ...y.shape.slice(1)]);
}

/** Valid-pick mask of a masked top-k: padding picks carry -Infinity values (ops.ts topk). */
export function pickedMask(b: B, topkValues: Float): Bool {
  return b.greater(topkValues, b.scalar(-Infinity));
}
