/**
 * SIM soft, SIM hard and TWIN in the 'perRequest' layout (S requests of C candidates, one
 * sequence per request): ref-cpu (float64) vs tfjs cpu + wasm vs ONNX Runtime, forward (outputs,
 * picks, pick masks) and the gradients of every parameter, for both projectBeforePick settings,
 * with NaN in the padding, a short sequence (< K valid), one with holes and an all-padding one.
 * The rows are built in the graph from [batch, C, ...] candidate inputs by candidateRows (the
 * symbolic 3*batch dim goes through reshape, batched matmul, gatherAlongAxis and expand on every
 * backend).
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  GraphBuilder,
  type HostTensor,
  type Value,
  candidateRows,
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
  CTX = 2,
  CAND = 3,
  K = 5;
type Block = 'simSoft' | 'simHard' | 'twin';

function graph(block: Block, projectBeforePick: boolean) {
  const s: Record<string, FeatureSchema[string]> = {
    items: { dtype: 'float32', shape: ['batch', N, D] },
    mask: { dtype: 'bool', shape: ['batch', N] },
    query: { dtype: 'float32', shape: ['batch', CAND, DQ] },
  };
  if (block === 'simHard') {
    s['itemCategory'] = { dtype: 'int32', shape: ['batch', N] };
    s['queryCategory'] = { dtype: 'int32', shape: ['batch', CAND] };
  }
  if (block === 'twin') s['context'] = { dtype: 'float32', shape: ['batch', N, CTX] };
  const b = new GraphBuilder(`${block}-perRequest-${projectBeforePick}`, s as FeatureSchema);
  const layout = seqLayout(b, 'perRequest', { candidates: CAND, projectBeforePick });
  const i = b.inputs as Record<string, Value>;
  const base = {
    items: b.expectDtype(i['items']!, 'float32'),
    mask: b.expectDtype(i['mask']!, 'bool'),
    query: candidateRows(b, layout, b.expectDtype(i['query']!, 'float32')),
  };
  if (block === 'simSoft') {
    const o = simSoft(b, 'sim', layout, base, { k: K, gsuDim: 3, attentionDim: 4 });
    // gsuPooled joins the differentiated output so the GSU projections' gradients are compared too
    return b.build({ y: b.concat([o.output, o.gsuPooled], 1), picks: o.picks, valid: o.pickedMask });
  }
  if (block === 'simHard') {
    const queryCategory = candidateRows(b, layout, b.expectDtype(i['queryCategory']!, 'int32'));
    const o = simHard(
      b,
      'sim',
      layout,
      { ...base, itemCategory: b.expectDtype(i['itemCategory']!, 'int32'), queryCategory },
      { k: K, attentionDim: 4 },
    );
    return b.build({ y: o.output, picks: o.picks, valid: o.pickedMask });
  }
  const o = twin(b, 'twin', layout, { ...base, context: b.expectDtype(i['context']!, 'float32') }, { k: K, heads: 2, headDim: 3 });
  return b.build({ y: o.output, picks: o.picks, valid: o.pickedMask });
}

/** 4 requests: full / short (3 valid) / holes / all padding; NaN wherever the mask is false. */
function feeds(g: ReturnType<typeof graph>): Record<string, HostTensor> {
  const f = randomFeeds(g, { batch: 4 }, 23, { itemCategory: gen.ints(3), queryCategory: gen.ints(3) }) as Record<string, HostTensor>;
  const mask = [
    new Array(N).fill(1),
    [1, 1, 1, ...new Array(N - 3).fill(0)],
    [1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0],
    new Array(N).fill(0),
  ].flat();
  f['mask'] = { dtype: 'bool', shape: f['mask']!.shape, data: Uint8Array.from(mask) };
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

describe('SIM / TWIN parity across backends in the perRequest layout', () => {
  for (const block of ['simSoft', 'simHard', 'twin'] as const) {
    for (const projectBeforePick of [true, false]) {
      it(`${block} (perRequest, projectBeforePick ${projectBeforePick})`, async () => {
        const g = graph(block, projectBeforePick);
        const weights = initWeights(g, 11);
        const r = await checkParity({
          name: `${block}-perRequest-${projectBeforePick}`,
          graph: g,
          weights,
          inputs: feeds(g),
          gradOutput: 'y',
        });
        expect(r.failures).toEqual([]);
        expect(r.entries.filter((e) => e.kind === 'output').length).toBe(3 * 3);
        expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * g.params.length); // tfjs cpu + wasm (ORT runs forward only)
      });
    }
  }
});
