/**
 * mlpOverParts (blocks/common.ts): the MLP over [per-request parts ‖ candidate parts] with the
 * per-request parts given once per request scores exactly what mlp() scores over the
 * concatenation with those parts repeated per candidate (ref-cpu, float64), with the same
 * parameters; and its build-time errors.
 */
import { describe, expect, it } from 'vitest';
import { type Dim, type Float, GraphBuilder, type HostTensor, type MlpPart, initWeights, mlp, mlpOverParts } from '@lctr/spec';
import { randomFeeds } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';

type Part = { name: string; width: number; perRequest: boolean };

/** Both graphs over the same inputs: parts [R, 1, w] (per request) or [R, C, w]; `lead` = false drops R (LCN's [1, w] / [C, w]). */
function graphs(parts: readonly Part[], sizes: number[], lead: boolean) {
  const schema = Object.fromEntries(
    parts.map((p) => [
      p.name,
      {
        dtype: 'float32' as const,
        shape: (lead ? [2, p.perRequest ? 1 : 'cand', p.width] : [p.perRequest ? 1 : 'cand', p.width]) as Dim[],
      },
    ]),
  );
  const split = new GraphBuilder('split', schema);
  const splitParts: MlpPart[] = parts.map((p) => ({ x: split.inputs[p.name] as Float, perRequest: p.perRequest }));
  const splitGraph = split.build({ y: mlpOverParts(split, 'mlp', splitParts, sizes) });
  const full = new GraphBuilder('full', schema);
  const rows: Dim[] = lead ? [2, 'cand'] : ['cand'];
  const repeated = parts.map((p) => {
    const x = full.inputs[p.name] as Float;
    return p.perRequest ? full.expand(x, [...rows, p.width]) : x;
  });
  const fullGraph = full.build({ y: mlp(full, 'mlp', full.concat(repeated, -1), sizes) });
  return { splitGraph, fullGraph };
}

describe('mlpOverParts', () => {
  const cases: ReadonlyArray<[string, Part[], number[], boolean]> = [
    [
      'user first, then the candidate columns (LCN: [1, u] and [C, x])',
      [
        { name: 'u', width: 3, perRequest: true },
        { name: 'x', width: 5, perRequest: false },
      ],
      [4, 3, 1],
      false,
    ],
    [
      'per-request parts apart, several of each (IFA avgPool: U, Cf, X, A, self)',
      [
        { name: 'u', width: 3, perRequest: true },
        { name: 'cf', width: 2, perRequest: false },
        { name: 'x', width: 4, perRequest: false },
        { name: 'a', width: 2, perRequest: true },
        { name: 'self', width: 1, perRequest: false },
      ],
      [6, 1],
      true,
    ],
    [
      'one layer: the affine map itself',
      [
        { name: 'x', width: 2, perRequest: false },
        { name: 'u', width: 3, perRequest: true },
      ],
      [2],
      true,
    ],
  ];
  for (const [label, parts, sizes, lead] of cases) {
    it(`${label}: the same parameters and the same value as mlp over the repeated concatenation`, () => {
      const { splitGraph, fullGraph } = graphs(parts, sizes, lead);
      expect(splitGraph.params.map((p) => `${p.name} [${p.shape.join(', ')}]`)).toEqual(
        fullGraph.params.map((p) => `${p.name} [${p.shape.join(', ')}]`),
      );
      const weights = initWeights(fullGraph, 3);
      for (const [name, t] of weights)
        if (name.endsWith('/b')) for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = 0.1 * (i + 1); // non-zero biases
      const feeds = randomFeeds(splitGraph, { cand: 4 }, 11) as Record<string, HostTensor>;
      const split = runRef(splitGraph, weights, feeds as never).y,
        full = runRef(fullGraph, weights, feeds as never).y;
      expect(split.shape).toEqual([...(lead ? [2] : []), 4, sizes[sizes.length - 1]]);
      expect(split.shape).toEqual(full.shape);
      for (let i = 0; i < full.data.length; i++) expect(split.data[i]!).toBeCloseTo(full.data[i]!, 12);
      expect(new Set(Array.from(full.data)).size).toBeGreaterThan(1); // rows differ: not a constant
    });
  }

  it('names the part with a symbolic width, and a missing kind of part', () => {
    const b = new GraphBuilder('e', {
      u: { dtype: 'float32', shape: [1, 3] },
      x: { dtype: 'float32', shape: ['cand', 'w'] },
      y: { dtype: 'float32', shape: ['cand', 2] },
    });
    expect(() =>
      mlpOverParts(
        b,
        'mlp',
        [
          { x: b.inputs.u, perRequest: true },
          { x: b.inputs.x, perRequest: false },
        ],
        [2],
      ),
    ).toThrow("mlpOverParts 'mlp': the last dim of part 1 must be static, got 'w'");
    expect(() => mlpOverParts(b, 'towers', [{ x: b.inputs.y, perRequest: false }], [2])).toThrow(
      "mlpOverParts 'towers': needs at least one per-request part and one candidate part, got candidate",
    );
  });
});
