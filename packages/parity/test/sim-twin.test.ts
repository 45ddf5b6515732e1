/**
 * SIM soft, SIM hard and TWIN parity: ref-cpu (float64) vs tfjs cpu + wasm vs ONNX Runtime,
 * forward (outputs, picks, pick masks) and gradients of every parameter, in both layouts, with
 * padding (NaN in it), a short row and an all-padding row.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  GraphBuilder,
  type HostTensor,
  type SeqLayoutKind,
  type Value,
  initWeights,
  seqLayout,
  simHard,
  simSoft,
  twin,
} from '@lctr/spec';
import { gen, randomFeeds } from '@lctr/spec/testing';
import { checkParity } from '../src/index.ts';

const N = 12,
  D = 4,
  DQ = 3,
  C = 2;
type Block = 'simSoft' | 'simHard' | 'twin';

function graph(block: Block, kind: SeqLayoutKind) {
  const ps = kind === 'perSample';
  const R = ps ? 'batch' : 'cand';
  const s: Record<string, FeatureSchema[string]> = {
    items: { dtype: 'float32', shape: ps ? [R, N, D] : [N, D] },
    mask: { dtype: 'bool', shape: ps ? [R, N] : [1, N] },
    query: { dtype: 'float32', shape: [R, DQ] },
  };
  if (block === 'simHard') {
    s['itemCategory'] = { dtype: 'int32', shape: ps ? [R, N] : [N] };
    s['queryCategory'] = { dtype: 'int32', shape: [R] };
  }
  if (block === 'twin') s['context'] = { dtype: 'float32', shape: ps ? [R, N, C] : [N, C] };
  const b = new GraphBuilder(`${block}-${kind}`, s as FeatureSchema);
  const layout = seqLayout(b, kind);
  const i = b.inputs as Record<string, Value>;
  const base = {
    items: b.expectDtype(i['items']!, 'float32'),
    mask: b.expectDtype(i['mask']!, 'bool'),
    query: b.expectDtype(i['query']!, 'float32'),
  };
  if (block === 'simSoft') {
    const o = simSoft(b, 'sim', layout, base, { k: 5, gsuDim: 3, attentionDim: 4 });
    // gsuPooled joins the differentiated output so the GSU projections' gradients are compared too
    return b.build({ y: b.concat([o.output, o.gsuPooled], 1), picks: o.picks, valid: o.pickedMask });
  }
  if (block === 'simHard') {
    const o = simHard(
      b,
      'sim',
      layout,
      { ...base, itemCategory: b.expectDtype(i['itemCategory']!, 'int32'), queryCategory: b.expectDtype(i['queryCategory']!, 'int32') },
      { k: 5, attentionDim: 4 },
    );
    return b.build({ y: o.output, picks: o.picks, valid: o.pickedMask });
  }
  const o = twin(b, 'twin', layout, { ...base, context: b.expectDtype(i['context']!, 'float32') }, { k: 5, heads: 2, headDim: 3 });
  return b.build({ y: o.output, picks: o.picks, valid: o.pickedMask });
}

/** Masks: perSample rows full / short (3 valid) / all padding / holes / random; shared: one sequence with holes. */
function feeds(block: Block, kind: SeqLayoutKind, g: ReturnType<typeof graph>): Record<string, HostTensor> {
  const rows = kind === 'perSample' ? 5 : 4;
  const f = randomFeeds(g, kind === 'perSample' ? { batch: rows } : { cand: rows }, 17, {
    itemCategory: gen.ints(3),
    queryCategory: gen.ints(3),
  }) as Record<string, HostTensor>;
  const holes = [1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0];
  const mask =
    kind === 'perSample'
      ? [
          new Array(N).fill(1),
          [1, 1, 1, ...new Array(N - 3).fill(0)],
          new Array(N).fill(0),
          holes,
          [0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1],
        ].flat()
      : holes;
  f['mask'] = { dtype: 'bool', shape: f['mask']!.shape, data: Uint8Array.from(mask) };
  // NaN wherever the mask is false: no backend may let it through, forward or backward
  for (const name of ['items', 'context']) {
    const t = f[name];
    if (!t) continue;
    const data = Float32Array.from(t.data as Float32Array);
    const width = t.shape[t.shape.length - 1]!;
    mask.forEach((m, p) => {
      if (!m) data.fill(NaN, p * width, (p + 1) * width);
    });
    f[name] = { dtype: 'float32', shape: t.shape, data };
  }
  return f;
}

describe('SIM / TWIN parity across backends', () => {
  for (const block of ['simSoft', 'simHard', 'twin'] as const) {
    for (const kind of ['perSample', 'shared'] as const) {
      it(`${block} (${kind})`, async () => {
        const g = graph(block, kind);
        const weights = initWeights(g, 11);
        const r = await checkParity({ name: `${block}-${kind}`, graph: g, weights, inputs: feeds(block, kind, g), gradOutput: 'y' });
        expect(r.failures).toEqual([]);
        expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * g.params.length);
      });
    }
  }
});
