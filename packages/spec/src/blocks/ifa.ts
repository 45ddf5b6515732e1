/**
 * IFA's blocks (SPEC.md "IFA"; papers/ifa-2024.txt), written once in the DSL:
 *
 *   fastAttn(Q, K, V) = D⁻¹ φ(Q) (φ(K)ᵀ V),  D = diag(φ(Q) (φ(K)ᵀ 1)):
 *     kv = φ(K)ᵀ V  [R, d, dv],  z = Σ_n φ(K)_n  [R, d],  out = (φ(Q) kv) / (φ(Q)·z + ε).
 *     Cost O((Cq + Nk) d dv): no [Cq, Nk] tensor is ever built.
 *   crossAttention      A = fastAttn(Cf W_Q, S W_K, S W_V)        (Eq. 2; candidates x sequence)
 *   candidateSelfAttention R = fastAttn(Cf W'_Q, Cf W'_K, Cf W'_V)  (Eq. 3; padded candidates are masked keys)
 *   esmmLoss            L = BCE(y_imp, ŷ_imp) + BCE(y_click, ŷ_imp ŷ_clk) (+ extra objectives), Eq. 5
 *
 * Padding never counts: padded keys and values are zeroed with `where` before φ and before any
 * product, so outputs (and gradients) do not depend on what padding holds, NaN included; a key
 * set with no valid key gives exactly 0 (0 / (0 + ε)). Padded query rows (when a query mask is
 * given) output 0. Projections have no bias, as in the paper's formulas.
 */
import type { Bool, Float, GraphBuilder } from '../builder.ts';
import { dimEquals, formatShape } from '../dims.ts';
import type { FeatureSchema } from '../graph.ts';

type B = GraphBuilder<FeatureSchema>;

/** φ: softplus (default), relu, or elu + 1 (Katharopoulos et al.'s map). All are >= 0. */
export type IfaKernel = 'softplus' | 'relu' | 'elu1';
export const IFA_KERNELS: readonly IfaKernel[] = ['softplus', 'relu', 'elu1'];

export interface FastAttnOptions {
  kernel?: IfaKernel;
  /** ε in the degree normaliser; 1e-6 */
  eps?: number;
}

function lastDim(x: Float, what: string): number {
  const d = x.shape[x.shape.length - 1];
  if (typeof d !== 'number') throw new Error(`${what}: the last dim must be static, got ${formatShape(x.shape)}`);
  return d;
}

/** The feature map φ, element-wise. */
export function featureMap(b: B, x: Float, kernel: IfaKernel): Float {
  switch (kernel) {
    case 'softplus':
      return b.softplus(x);
    case 'relu':
      return b.relu(x);
    case 'elu1':
      return b.add(b.elu(x, 1), b.scalar(1));
    default:
      throw new Error(`fastAttn: kernel must be one of ${IFA_KERNELS.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kernel)}`);
  }
}

/**
 * Linear attention with degree normalisation. q [R, Cq, d], k [R, Nk, d], v [R, Nk, dv],
 * keyMask bool [R, Nk] (true = valid) -> [R, Cq, dv]. R and the lengths may be symbolic.
 */
export function fastAttn(b: B, name: string, q: Float, k: Float, v: Float, keyMask: Bool, opts: FastAttnOptions = {}): Float {
  const kernel = opts.kernel ?? 'softplus';
  const eps = opts.eps ?? 1e-6;
  const what = `fastAttn '${name}'`;
  if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3 || keyMask.shape.length !== 2) {
    throw new Error(
      `${what}: expected q [R, Cq, d], k [R, Nk, d], v [R, Nk, dv], keyMask [R, Nk], got q ${formatShape(q.shape)}, k ` +
        `${formatShape(k.shape)}, v ${formatShape(v.shape)}, keyMask ${formatShape(keyMask.shape)}`,
    );
  }
  const d = lastDim(q, `${what} q`);
  if (lastDim(k, `${what} k`) !== d)
    throw new Error(`${what}: q and k must have the same last dim, got q ${formatShape(q.shape)}, k ${formatShape(k.shape)}`);
  if (!dimEquals(k.shape[1]!, v.shape[1]!) || !dimEquals(k.shape[1]!, keyMask.shape[1]!)) {
    throw new Error(
      `${what}: k, v and keyMask must share the key axis Nk, got k ${formatShape(k.shape)}, v ${formatShape(v.shape)}, keyMask ` +
        `${formatShape(keyMask.shape)}`,
    );
  }
  if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${what}: eps must be a finite number > 0, got ${eps}`);
  return b.scope(name, () => {
    const m = b.reshape(keyMask, [...keyMask.shape, 1]); // [R, Nk, 1]
    const zero = b.scalar(0);
    // zero padding before φ (no NaN reaches φ or its gradient) and after (φ(0) != 0 for softplus, elu1)
    const phiK = b.where(m, featureMap(b, b.where(m, k, zero), kernel), zero); // [R, Nk, d]
    const v0 = b.where(m, v, zero); // [R, Nk, dv]
    const phiQ = featureMap(b, q, kernel); // [R, Cq, d]
    const kv = b.matmul(b.transpose(phiK, [0, 2, 1]), v0); // [R, d, dv]
    const z = b.reduceSum(phiK, [1], true); // [R, 1, d]
    const num = b.matmul(phiQ, kv); // [R, Cq, dv]
    const den = b.add(b.reduceSum(b.mul(phiQ, z), [2], true), b.scalar(eps)); // [R, Cq, 1]
    return b.div(num, den);
  });
}

export interface IfaAttentionOptions extends FastAttnOptions {
  /** width d of the query/key projections */
  attnDim: number;
  /** width dv of the value projection (default attnDim) */
  valueDim?: number;
}

/** Zero the rows of x [R, C, w] whose mask [R, C] is false. */
function zeroRows(b: B, x: Float, mask: Bool): Float {
  return b.where(b.reshape(mask, [...mask.shape, 1]), x, b.scalar(0));
}

function checkRows(what: string, x: Float, mask: Bool, xName: string, maskName: string): void {
  if (
    x.shape.length !== 3 ||
    mask.shape.length !== 2 ||
    !dimEquals(x.shape[0]!, mask.shape[0]!) ||
    !dimEquals(x.shape[1]!, mask.shape[1]!)
  ) {
    throw new Error(
      `${what}: expected ${xName} [R, L, w] and ${maskName} [R, L], got ${xName} ${formatShape(x.shape)}, ${maskName} ` +
        `${formatShape(mask.shape)}`,
    );
  }
}

/**
 * Cross attention (Eq. 2): candidates [R, C, dc] attend over the sequence [R, N, ds] with mask
 * [R, N]. Parameters `<name>/w_q` [dc, d], `<name>/w_k` [ds, d], `<name>/w_v` [ds, dv]. When
 * candMask [R, C] is given, padded candidates (whose features may hold anything) output 0.
 * -> [R, C, dv]
 */
export function crossAttention(
  b: B,
  name: string,
  cand: Float,
  seq: Float,
  seqMask: Bool,
  opts: IfaAttentionOptions,
  candMask?: Bool,
): Float {
  const what = `crossAttention '${name}'`;
  checkRows(what, seq, seqMask, 'seq', 'seqMask');
  if (candMask) checkRows(what, cand, candMask, 'cand', 'candMask');
  else if (cand.shape.length !== 3) throw new Error(`${what}: expected cand [R, C, dc], got ${formatShape(cand.shape)}`);
  const dc = lastDim(cand, `${what} cand`),
    ds = lastDim(seq, `${what} seq`);
  const dv = opts.valueDim ?? opts.attnDim;
  return b.scope(name, () => {
    const c = candMask ? zeroRows(b, cand, candMask) : cand;
    const s = zeroRows(b, seq, seqMask);
    const q = b.matmul(c, b.param('w_q', [dc, opts.attnDim]));
    const k = b.matmul(s, b.param('w_k', [ds, opts.attnDim]));
    const v = b.matmul(s, b.param('w_v', [ds, dv]));
    const out = fastAttn(b, 'attn', q, k, v, seqMask, opts);
    return candMask ? zeroRows(b, out, candMask) : out;
  });
}

/**
 * Candidate self attention (Eq. 3): each candidate attends over the request's valid candidates
 * (itself included). cand [R, C, dc], candMask [R, C]; parameters `<name>/w_q`, `w_k` [dc, d],
 * `w_v` [dc, dv]. Padded candidates are masked keys and output 0. -> [R, C, dv]
 */
export function candidateSelfAttention(b: B, name: string, cand: Float, candMask: Bool, opts: IfaAttentionOptions): Float {
  const what = `candidateSelfAttention '${name}'`;
  checkRows(what, cand, candMask, 'cand', 'candMask');
  const dc = lastDim(cand, `${what} cand`);
  const dv = opts.valueDim ?? opts.attnDim;
  return b.scope(name, () => {
    const c = zeroRows(b, cand, candMask);
    const q = b.matmul(c, b.param('w_q', [dc, opts.attnDim]));
    const k = b.matmul(c, b.param('w_k', [dc, opts.attnDim]));
    const v = b.matmul(c, b.param('w_v', [dc, dv]));
    return zeroRows(b, fastAttn(b, 'attn', q, k, v, candMask, opts), candMask);
  });
}

/** An extra conditional objective of the ESMM loss: ŷ = σ(impLogit) σ(logit) against label. */
export interface EsmmExtra {
  logit: Float;
  label: Float;
}

/**
 * log(1 - σ(a) σ(b)), stably, from
 *   1 - σ(a)σ(b) = (e^-a + e^-b + e^-(a+b)) / ((1 + e^-a)(1 + e^-b))
 *   => log(1 - σ(a)σ(b)) = softplus(softplus(a) - b) - softplus(a) - softplus(-b),
 * every term a softplus of finite arguments (no log of a difference, no overflow).
 */
export function logOneMinusSigmoidProduct(b: B, a: Float, c: Float): Float {
  const spA = b.softplus(a);
  return b.sub(b.sub(b.softplus(b.sub(spA, c)), spA), b.softplus(b.neg(c)));
}

/**
 * BCE(y, σ(a) σ(c)) per element, stably:
 *   log p = log σ(a) + log σ(c) = -softplus(-a) - softplus(-c);  log(1 - p) as above;
 *   BCE = -y log p - (1 - y) log(1 - p).
 */
export function bceOfSigmoidProduct(b: B, a: Float, c: Float, y: Float): Float {
  const logP = b.neg(b.add(b.softplus(b.neg(a)), b.softplus(b.neg(c))));
  const log1mP = logOneMinusSigmoidProduct(b, a, c);
  return b.neg(b.add(b.mul(y, logP), b.mul(b.sub(b.scalar(1), y), log1mP)));
}

/**
 * The ESMM loss (Eq. 5) over valid candidates: impLogit, clickLogit [R, C] (logits of
 * p(impression) and p(click | impression)), labels impression, click [R, C], candMask [R, C]:
 *   L = mean over valid candidates of [ BCE(y_imp, σ(a)) + BCE(y_click, σ(a)σ(b)) + Σ_x BCE(y_x, σ(a)σ(b_x)) ].
 * BCE(y, σ(a)) = softplus(a) - y a. Padded candidates (logits and labels may hold anything) do not
 * count; no valid candidate gives 0. -> scalar []
 */
export function esmmLoss(
  b: B,
  impLogit: Float,
  clickLogit: Float,
  labels: { impression: Float; click: Float },
  candMask: Bool,
  extra: readonly EsmmExtra[] = [],
): Float {
  const all: Array<[string, Float]> = [
    ['impLogit', impLogit],
    ['clickLogit', clickLogit],
    ['labels.impression', labels.impression],
    ['labels.click', labels.click],
    ...extra.flatMap(
      (x, i): Array<[string, Float]> => [
        [`extra[${i}].logit`, x.logit],
        [`extra[${i}].label`, x.label],
      ],
    ),
  ];
  for (const [n, x] of all) {
    if (x.shape.length !== candMask.shape.length || !x.shape.every((d, i) => dimEquals(d, candMask.shape[i]!))) {
      throw new Error(`esmmLoss: ${n} must have candMask's shape ${formatShape(candMask.shape)}, got ${formatShape(x.shape)}`);
    }
  }
  return b.scope('esmm', () => {
    const zero = b.scalar(0);
    const clean = (x: Float) => b.where(candMask, x, zero);
    const a = clean(impLogit);
    const yImp = clean(labels.impression);
    let per = b.sub(b.softplus(a), b.mul(yImp, a));
    per = b.add(per, bceOfSigmoidProduct(b, a, clean(clickLogit), clean(labels.click)));
    for (const x of extra) per = b.add(per, bceOfSigmoidProduct(b, a, clean(x.logit), clean(x.label)));
    const axes = per.shape.map((_, i) => i);
    const total = b.reduceSum(clean(per), axes);
    const count = b.reduceSum(b.cast(candMask, 'float32'), axes);
    return b.div(total, b.maximum(count, b.scalar(1)));
  });
}
