/**
 * LCN's consistency analysis (paper Figure 5): how much of what the last attention level (FSA)
 * would attend to over the WHOLE lifelong sequence the earlier levels hand it.
 *   real set: FSA's top-`top` positions over all N valid items, scored with the trained lap/fsa
 *             weights on [e^h ‖ e^c] (items and context embeddings): per head
 *             s_h,k = (e^v W^Q_h)·([e^h_k ‖ e^c_k] W^K_h) / √dh, softmax over the valid items
 *             per head, averaged over the heads ('softmax', default) or the logits averaged
 *             ('logit');
 *   test sets: CSA's top-K1 (the K1 picks), the K2 picks of CSA → MSA (what FSA really reads),
 *             and, for reference, CSA's top-K2 directly (what FSA would read with MSA off).
 * The probe graphs are built with the spec builder and the spec's own csa()/lap() blocks, so the
 * picks are the trained model's; the embeddings are looked up exactly as models/lifelong.ts does
 * (items and the candidate carry their category embedding when categoryDim > 0).
 */
import {
  type Bool,
  type FeatureSchema,
  type Float,
  type Graph,
  GraphBuilder,
  type HostTensor,
  type LifelongConfig,
  type Weights,
  csa,
  lap,
  maskedSoftmax,
  pickedMask,
  seqLayout,
  weightsFor,
} from '@lctr/spec';
import { foundShare } from './rows.ts';

export type FsaScore = 'softmax' | 'logit';

/** The inputs a probe reads (names and dtypes of the lifelong training schema, batch-leading). */
export function probeSchema(c: LifelongConfig): FeatureSchema {
  const N = c.lifelongLen;
  const s: Record<string, FeatureSchema[string]> = {
    candidate: { dtype: 'int32', shape: ['batch'] },
    lifelongSeq: { dtype: 'int32', shape: ['batch', N] },
    lifelongMask: { dtype: 'bool', shape: ['batch', N] },
    lifelongContext: { dtype: 'int32', shape: ['batch', N, c.context.length] },
  };
  if (c.categoryDim > 0) {
    s['candidateCategory'] = { dtype: 'int32', shape: ['batch'] };
    s['lifelongSeqCategory'] = { dtype: 'int32', shape: ['batch', N] };
  }
  return s;
}

type B = GraphBuilder<FeatureSchema>;

/** e^v [R, itemDim], e^h [R, N, itemDim], e^c [R, N, C·contextDim], mask [R, N]: the lookups of models/lifelong.ts. */
function embeddings(b: B, c: LifelongConfig) {
  const int = (n: string) => b.expectDtype(b.value(n), 'int32');
  const t = b.scope('emb', () => ({
    target: b.param('targetItem', [c.targetItems, c.dim]),
    source: b.param('sourceItem', [c.sourceItems, c.dim]),
    category: c.categoryDim > 0 ? b.param('category', [c.categories, c.categoryDim]) : undefined,
    context: c.context.map((card, k) => b.param(`context${k}`, [card, c.contextDim])),
  }));
  const withCategory = (e: Float, ids: string) => (t.category ? b.concat([e, b.gather(t.category, int(ids))], -1) : e);
  const query = withCategory(b.gather(t.target, int('candidate')), 'candidateCategory');
  const items = withCategory(b.gather(t.source, int('lifelongSeq')), 'lifelongSeqCategory');
  const ctx = int('lifelongContext');
  const cols = t.context.map((table, k) => b.gather(table, b.gather(ctx, b.constant(k, [], 'int32'), 2)));
  const context = cols.length === 1 ? cols[0]! : b.concat(cols, -1);
  const mask = b.expectDtype(b.value('lifelongMask'), 'bool') as Bool;
  return { query, items, context, mask };
}

function checkLap(c: LifelongConfig, what: string): void {
  if (c.module !== 'lap') throw new Error(`${what}: the checkpoint's model has module '${c.module}', expected 'lap' (an LCN checkpoint)`);
  if (c.context.length === 0) throw new Error(`${what}: the checkpoint's model has no context columns; LAP needs them`);
  if (c.lap.k2 === undefined)
    throw new Error(`${what}: the checkpoint's LCN was trained with FSA off (lap.k2 unset), so there are no lap/fsa weights to probe`);
  if (c.lap.k1 === undefined)
    throw new Error(
      `${what}: the checkpoint's LCN was trained with MSA off (lap.k1 unset), so there are no lap/msa weights to pick the K2 items with`,
    );
}

/**
 * The K1-independent probe: outputs fsaTop / fsaTopValid [batch, top] (the real set) and csaTopK2 /
 * csaTopK2Valid [batch, k2] (CSA's own top-K2).
 */
export function buildFsaProbe(
  c: LifelongConfig,
  opts: { readonly top: number; readonly k2: number; readonly score: FsaScore },
): Graph<FeatureSchema, string> {
  checkLap(c, 'buildFsaProbe');
  const N = c.lifelongLen;
  for (const [name, k] of [
    ['top', opts.top],
    ['k2', opts.k2],
  ] as const) {
    if (!Number.isInteger(k) || k < 1 || k > N)
      throw new Error(`buildFsaProbe: ${name} must be an integer in [1, ${N}] (the lifelong length), got ${k}`);
  }
  const b = new GraphBuilder('lcn-consistency-fsa', probeSchema(c));
  const layout = seqLayout(b, 'perSample');
  const { query, items, context, mask } = embeddings(b, c);
  const { heads: l, headDim: dh } = c.lap;
  const itemDim = c.dim + c.categoryDim,
    ctxDim = c.context.length * c.contextDim;
  const fsaW = b.scope('lap', () =>
    b.scope('fsa', () => ({ wq: b.param('wq', [itemDim, l * dh]), wk: b.param('wk', [itemDim + ctxDim, l * dh]) })),
  );
  const rows = b.where(b.reshape(mask, ['batch', N, 1]), b.concat([items, context], -1), b.scalar(0)); // [R, N, d + c], padding zeroed
  const q = b.reshape(b.matmul(query, fsaW.wq), ['batch', 1, l, dh]);
  const keys = b.reshape(b.matmul(rows, fsaW.wk), ['batch', N, l, dh]);
  const logits = b.div(b.reduceSum(b.mul(keys, q), [3]), b.scalar(Math.sqrt(dh))); // [R, N, l]
  const perHead = opts.score === 'softmax' ? maskedSoftmax(b, logits, b.reshape(mask, ['batch', N, 1]), 1) : logits;
  const score = b.reduceMean(perHead, [2]); // [R, N]
  const fsaTop = b.topk(score, opts.top, mask);
  const coarse = csa(b, 'csa', layout, { items, mask, query }, { normalize: c.lap.csaNormalize });
  const csaTop = b.topk(coarse.scores, opts.k2, mask);
  return b.build(
    {
      fsaTop: fsaTop.indices,
      fsaTopValid: pickedMask(b, fsaTop.values),
      csaTopK2: csaTop.indices,
      csaTopK2Valid: pickedMask(b, csaTop.values),
    },
    { probe: 'fsa', top: opts.top, k2: opts.k2, score: opts.score },
  );
}

/**
 * The picks of the trained pyramid at probe-time pool sizes (k1, k2): outputs k1Picks / k1Valid
 * [batch, k1] and k2Picks / k2Valid [batch, k2], from the spec's lap() block (FSA and the pooled
 * outputs are pruned away: only the picks are computed).
 */
export function buildPicksProbe(c: LifelongConfig, k1: number, k2: number): Graph<FeatureSchema, string> {
  checkLap(c, 'buildPicksProbe');
  const b = new GraphBuilder('lcn-consistency-picks', probeSchema(c));
  const layout = seqLayout(b, 'perSample');
  const { query, items, context, mask } = embeddings(b, c);
  const out = lap(b, 'lap', layout, { items, context, mask, query }, { ...c.lap, k1, k2 });
  return b.build(
    { k1Picks: out.k1Picks!, k1Valid: out.k1Valid!, k2Picks: out.k2Picks!, k2Valid: out.k2Valid! },
    { probe: 'picks', k1, k2 },
  );
}

/** The graph's weights out of a training checkpoint's (checked: every parameter present with its shape). */
export function probeWeights(g: Graph, trained: Weights): Map<string, HostTensor<'float32'>> {
  return weightsFor(g, trained);
}

/**
 * Per-row share of the valid real picks (`real` [R, kr]) found among the valid test picks ([R, kt]); NaN for a row without valid real
 * picks.
 */
export function rowShares(
  rows: number,
  real: ArrayLike<number>,
  realValid: ArrayLike<boolean | number>,
  test: ArrayLike<number>,
  testValid: ArrayLike<boolean | number>,
): number[] {
  const kr = real.length / rows,
    kt = test.length / rows;
  if (!Number.isInteger(kr) || !Number.isInteger(kt))
    throw new RangeError(`rowShares: ${real.length} real and ${test.length} test picks do not split into ${rows} rows`);
  const part = (a: ArrayLike<number | boolean>, k: number, r: number) => Array.from({ length: k }, (_, i) => a[r * k + i]!);
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(foundShare(part(real, kr, r) as number[], part(test, kt, r) as number[], part(realValid, kr, r), part(testValid, kt, r)));
  }
  return out;
}
