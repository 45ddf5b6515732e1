/**
 * LAP parity: ref-cpu (float64) vs tfjs (cpu, wasm) vs ONNX Runtime, forward (the pooled output
 * and both levels' picks) and gradients of every LAP parameter, in both layouts, with padding
 * that holds NaN, rows shorter than K1/K2 and an all-padding row.
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  GraphBuilder,
  type HostTensor,
  type LapOptions,
  Rng,
  type SeqLayoutKind,
  type Value,
  type Weights,
  lap,
  seqLayout,
} from '@lctr/spec';
import { checkParity } from '../src/index.ts';

const N = 12,
  D = 4,
  C = 3;
const SMALL: Partial<LapOptions> = { k1: 6, k2: 3, attentionDim: 5, heads: 2, headDim: 3, ffnDim: 6, outDim: 4 };
/** full, 2 valid (< K2), none, 4 valid (between K2 and K1), scattered */
const MASKS = ['111111111111', '010000001000', '000000000000', '110100100000', '101101011010'];

function buildLap(kind: SeqLayoutKind, opts: Partial<LapOptions>): Graph {
  const schema =
    kind === 'perSample'
      ? ({
          items: { dtype: 'float32', shape: ['batch', N, D] },
          context: { dtype: 'float32', shape: ['batch', N, C] },
          mask: { dtype: 'bool', shape: ['batch', N] },
          query: { dtype: 'float32', shape: ['batch', D] },
        } as const)
      : ({
          items: { dtype: 'float32', shape: [N, D] },
          context: { dtype: 'float32', shape: [N, C] },
          mask: { dtype: 'bool', shape: [1, N] },
          query: { dtype: 'float32', shape: ['cand', D] },
        } as const);
  const b = new GraphBuilder(`lap-${kind}`, schema);
  const r = lap(b, 'lap', seqLayout(b, kind), b.inputs, opts);
  const outs: Record<string, Value> = { out: r.output };
  if (r.k1Picks) outs['k1'] = r.k1Picks;
  if (r.k2Picks) outs['k2'] = r.k2Picks;
  return b.build(outs);
}

/** Every parameter random, biases included (zero FFN biases would hide a missing mask). */
function randomWeights(g: Graph, seed: number): Weights {
  const rng = new Rng(seed);
  return new Map(
    g.params.map((p) => [
      p.name,
      {
        dtype: 'float32' as const,
        shape: p.shape,
        data: Float32Array.from({ length: p.shape.reduce((a, x) => a * x, 1) }, () => 0.5 * rng.normal()),
      },
    ]),
  );
}

/** `rows` sequences (one per mask string; 'shared' takes the first) with NaN in padded positions, and `queries` queries. */
function feeds(kind: SeqLayoutKind, masks: readonly string[], queries: number, seed: number): Record<string, HostTensor> {
  const rng = new Rng(seed);
  const seqs = kind === 'shared' ? masks.slice(0, 1) : masks;
  const valid = seqs.flatMap((m) => [...m].map((ch) => ch === '1'));
  const rows = (w: number) => Float32Array.from(valid.flatMap((v) => Array.from({ length: w }, () => (v ? rng.normal() : NaN))));
  const lead = kind === 'shared' ? [] : [seqs.length];
  return {
    items: { dtype: 'float32', shape: [...lead, N, D], data: rows(D) },
    context: { dtype: 'float32', shape: [...lead, N, C], data: rows(C) },
    mask: { dtype: 'bool', shape: kind === 'shared' ? [1, N] : [seqs.length, N], data: Uint8Array.from(valid, Number) },
    query: { dtype: 'float32', shape: [queries, D], data: Float32Array.from({ length: queries * D }, () => rng.normal()) },
  };
}

const CASES: ReadonlyArray<[string, SeqLayoutKind, Partial<LapOptions>, readonly string[]]> = [
  ['perSample defaults', 'perSample', SMALL, MASKS],
  ['shared defaults', 'shared', SMALL, [MASKS[4]!]],
  ['perSample none/none/sumThenFfn', 'perSample', { ...SMALL, csaNormalize: 'none', msaNormalize: 'none', fsaPool: 'sumThenFfn' }, MASKS],
  ['shared short sequence, MSA off', 'shared', { ...SMALL, k1: undefined }, [MASKS[1]!]],
  ['perSample FSA off', 'perSample', { ...SMALL, k2: undefined }, MASKS],
];

describe('LAP parity (ref-cpu vs tfjs cpu/wasm vs ONNX Runtime)', () => {
  for (const [name, kind, opts, masks] of CASES) {
    it(`${name}: forward and gradients`, async () => {
      const graph = buildLap(kind, opts);
      const r = await checkParity({
        name: `lap ${name}`,
        graph,
        weights: randomWeights(graph, 3),
        inputs: feeds(kind, masks, masks.length === 1 ? 3 : masks.length, 17),
        gradOutput: 'out',
      });
      expect(r.failures).toEqual([]);
      expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * graph.params.length);
      expect(r.entries.filter((e) => e.kind === 'output').length).toBe(3 * Object.keys(graph.outputs).length);
    });
  }
});
