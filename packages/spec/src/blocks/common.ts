/**
 * Blocks shared by every model, written once in the DSL (backends only ever see the core ops).
 * Masks are bool, true = valid; padded positions never contribute and may hold anything, NaN
 * included, so blocks select with `where` before using a value.
 */
import { FLOAT32_MAX } from '../dtype.ts';
import { type Bool, type Float, type GraphBuilder, type Int, init } from '../builder.ts';
import type { Initializer } from '../graph.ts';
import type { FeatureSchema } from '../graph.ts';

type B = GraphBuilder<FeatureSchema>;

export interface DenseOptions {
  bias?: boolean;
  init?: Initializer;
}

/** x @ W + b with W stored (in, out) as SPEC.md fixes; parameters `<name>/w`, `<name>/b`. */
export function dense(b: B, name: string, x: Float, out: number, opts: DenseOptions = {}): Float {
  const inDim = x.shape[x.shape.length - 1];
  if (typeof inDim !== 'number') throw new Error(`dense '${name}': the last dim of the input must be static, got '${inDim}'`);
  return b.scope(name, () => {
    const y = b.matmul(x, b.param('w', [inDim, out], opts.init ?? init.xavierUniform()));
    return opts.bias === false ? y : b.add(y, b.param('b', [out], init.zeros()));
  });
}

/**
 * x W + bias as ONE product, [x, 1] [W ; bias] (x [.., k], W [k, n], bias [n] or any shape of n
 * values in row order). For serving graphs: ONNX Runtime's add over a large [.., n] output, or
 * its Gemm with the bias as C, cost more than the product's one extra row (DIN: 2.9 vs 4.2 ms;
 * FSA: the add 1.4 ms, the ones column 0.5).
 */
export function matmulBiasRow(b: B, x: Float, w: Float, bias: Float): Float {
  const lead = x.shape.slice(0, -1);
  const n = w.shape[w.shape.length - 1]!;
  const ones = b.expand(b.constant([1], [...lead.map(() => 1), 1]), [...lead, 1]);
  return b.matmul(b.concat([x, ones], -1), b.concat([w, b.reshape(bias, [1, n])], 0));
}

export type Activation = 'relu' | 'sigmoid' | 'tanh' | 'none';
export function activate(b: B, x: Float, act: Activation): Float {
  return act === 'none' ? x : b[act](x);
}

/**
 * What `mlp` calls after each layer (0-based index, the layer's output after its activation); its
 * return value replaces that output. KEEP's plug-in adds knowledge to h_m this way (blocks/keep.ts).
 */
export type MlpLayerHook = (layer: number, h: Float) => Float;

/**
 * A stack of dense layers `<name>/l<i>`; `act` after every layer but the last, `lastAct` after it.
 * `hook` (optional) sees and may replace each layer's output; without it the graph is exactly the
 * plain stack (no extra node, same ids).
 */
export function mlp(
  b: B,
  name: string,
  x: Float,
  sizes: readonly number[],
  act: Activation = 'relu',
  lastAct: Activation = 'none',
  hook?: MlpLayerHook,
): Float {
  return b.scope(name, () =>
    sizes.reduce((h, size, i) => {
      const y = activate(b, dense(b, `l${i}`, h, size), i === sizes.length - 1 ? lastAct : act);
      return hook ? hook(i, y) : y;
    }, x),
  );
}

/**
 * One input of mlpOverParts, in the order of the concatenation it stands for: `x` [.., w];
 * `perRequest` = the same for every candidate row of a request (the user's features), given
 * once per request with a size-1 candidate axis ([1, w] against candidate parts [C, w], or
 * [R, 1, w] against [R, C, w]).
 */
export interface MlpPart {
  x: Float;
  perRequest: boolean;
}

/**
 * mlp() over the concatenation of `parts` on the last axis (same parameters `<name>/l<i>/{w,b}`,
 * same value) without repeating the per-request parts per candidate: the first layer is a sum of
 * products over the rows of its weight, [u ‖ x] W + b = (u W_u + b) + x W_x, so u meets W_u once
 * per request and broadcasts over the candidates (SPEC: work that depends only on the user is
 * done once). The slices of W are of a parameter, so an export folds them.
 */
export function mlpOverParts(
  b: B,
  name: string,
  parts: readonly MlpPart[],
  sizes: readonly number[],
  act: Activation = 'relu',
  lastAct: Activation = 'none',
): Float {
  const widths = parts.map((p, i) => {
    const w = p.x.shape[p.x.shape.length - 1];
    if (typeof w !== 'number') throw new Error(`mlpOverParts '${name}': the last dim of part ${i} must be static, got '${w}'`);
    return w;
  });
  if (!parts.some((p) => p.perRequest) || !parts.some((p) => !p.perRequest)) {
    throw new Error(
      `mlpOverParts '${name}': needs at least one per-request part and one candidate part, got ` +
        `${parts.map((p) => (p.perRequest ? 'perRequest' : 'candidate')).join(', ')}`,
    );
  }
  return b.scope(name, () => {
    const first = b.scope('l0', () => {
      const w = b.param('w', [widths.reduce((s, x) => s + x, 0), sizes[0]!], init.xavierUniform());
      const bias = b.param('b', [sizes[0]!], init.zeros());
      // each side: its parts concatenated, against the rows of W they meet in the concatenation
      const side = (perRequest: boolean): Float => {
        const xs: Float[] = [],
          rows: Float[] = [];
        let at = 0;
        parts.forEach((p, i) => {
          if (p.perRequest === perRequest) {
            xs.push(p.x);
            rows.push(b.slice(w, [at], [at + widths[i]!], [0]));
          }
          at += widths[i]!;
        });
        return b.matmul(xs.length === 1 ? xs[0]! : b.concat(xs, -1), rows.length === 1 ? rows[0]! : b.concat(rows, 0));
      };
      const once = b.add(side(true), bias);
      return b.add(side(false), once);
    });
    let h = activate(b, first, sizes.length === 1 ? lastAct : act);
    for (let i = 1; i < sizes.length; i++) h = activate(b, dense(b, `l${i}`, h, sizes[i]!), i === sizes.length - 1 ? lastAct : act);
    return h;
  });
}

/** An embedding table `<name>` of [vocab, dim] looked up by ids. */
export function embed(b: B, name: string, ids: Int, vocab: number, dim: number, initializer: Initializer = init.normal(0.05)): Float {
  return b.gather(b.param(name, [vocab, dim], initializer), ids);
}

/**
 * Softmax over `axis` of the valid positions only; padded weights are exactly 0, and a row
 * with no valid position gives all zeros (no NaN, forward or backward). `mask` has the shape of
 * `scores` (or broadcasts to it).
 */
export function maskedSoftmax(b: B, scores: Float, mask: Bool, axis = -1): Float {
  const ax = axis < 0 ? axis + scores.shape.length : axis;
  // max over valid positions; -FLOAT32_MAX when none is valid, then replaced by 0
  const rawMax = b.reduceMax(b.where(mask, scores, b.scalar(-FLOAT32_MAX)), [ax], true);
  const rowMax = b.stopGradient(b.where(b.greater(rawMax, b.scalar(-1e38)), rawMax, b.scalar(0)));
  // exp(-inf) = 0 at padding, whose gradient is 0 too (no inf * 0)
  const e = b.exp(b.where(mask, b.sub(scores, rowMax), b.scalar(-Infinity)));
  const sum = b.reduceSum(e, [ax], true);
  return b.div(e, b.maximum(sum, b.scalar(1e-30)));
}

/** Mean over `axis` (the sequence axis) of the valid rows of x [.., N, d] with mask [.., N]; zeros when none is valid. */
export function maskedMean(b: B, x: Float, mask: Bool, axis = -2): Float {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const m = b.reshape(mask, [...mask.shape, 1]);
  const sum = b.reduceSum(b.where(m, x, b.scalar(0)), [ax]);
  const count = b.reduceSum(b.cast(m, 'float32'), [ax]);
  return b.div(sum, b.maximum(count, b.scalar(1)));
}

/** Numerically stable mean binary cross-entropy on logits: softplus(z) - y z. */
export function bceWithLogits(b: B, logits: Float, labels: Float): Float {
  const perSample = b.sub(b.softplus(logits), b.mul(labels, logits));
  return b.reduceMean(
    perSample,
    perSample.shape.map((_, i) => i),
  );
}
