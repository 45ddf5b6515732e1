/**
 * The explain variant of LCN's serving graph (issue 21 item 5): its outputs per pyramid level, its
 * errors, and that it leaves the scoring graph alone (prob's subgraph is buildLifelong's, node for
 * node). Values (picks, weights, ties) are checked on ref-cpu and ONNX Runtime in
 * packages/parity/test/explain.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  LIFELONG_PRESETS,
  type LifelongConfig,
  buildLifelong,
  buildLifelongExplain,
  graphFromJSON,
  hasLifelongExplain,
  pruneGraph,
  serializeGraph,
  servingLayoutOf,
  valueInfo,
} from '../src/index.ts';
import { LIFELONG_TEST_CONFIG } from '../src/testing/index.ts';

const lap = (over: Partial<LifelongConfig['lap']>): Partial<LifelongConfig> => ({
  ...LIFELONG_TEST_CONFIG,
  lap: { ...LIFELONG_TEST_CONFIG.lap!, ...over },
});
const outputsOf = (g: Graph) =>
  Object.fromEntries(
    Object.keys(g.outputs).map((o) => {
      const v = valueInfo(g, (g.outputs as Record<string, string>)[o]!);
      return [o, `${v.dtype}[${v.shape.join(', ')}]`];
    }),
  );

describe('buildLifelongExplain', () => {
  it('LCN: prob plus positions, weights and validity of CSA (K1), MSA and FSA (K2) per candidate', () => {
    const g = buildLifelongExplain(LIFELONG_TEST_CONFIG);
    expect(outputsOf(g)).toEqual({
      prob: 'float32[cand]',
      csaPositions: 'int32[cand, 6]',
      csaWeights: 'float32[cand, 6]',
      csaValid: 'bool[cand, 6]',
      msaPositions: 'int32[cand, 3]',
      msaWeights: 'float32[cand, 3]',
      msaValid: 'bool[cand, 3]',
      fsaPositions: 'int32[cand, 3]',
      fsaWeights: 'float32[cand, 3]',
      fsaValid: 'bool[cand, 3]',
    });
    expect(g.name).toBe('lifelong-explain');
    expect(g.meta['variant']).toBe('explain');
    expect(g.meta['explain']).toEqual({ csa: 6, msa: 3, fsa: 3 });
    expect(servingLayoutOf(g)).toBe('request');
    // the request is the scoring graph's: same inputs, same parameters
    const serve = buildLifelong(LIFELONG_TEST_CONFIG);
    expect(g.inputs).toEqual(serve.inputs);
    expect(g.params).toEqual(serve.params);
    // and it round-trips through graph.json
    expect(serializeGraph(graphFromJSON(serializeGraph(g)))).toBe(serializeGraph(g));
  });

  it('a level switched off has no outputs: MSA off (CSA picks K2 for FSA), FSA off (CSA picks K1 for MSA, no K2)', () => {
    expect(Object.keys(buildLifelongExplain(lap({ k1: 0 })).outputs)).toEqual([
      'prob',
      'csaPositions',
      'csaWeights',
      'csaValid',
      'fsaPositions',
      'fsaWeights',
      'fsaValid',
    ]);
    expect(buildLifelongExplain(lap({ k1: 0 })).meta['explain']).toEqual({ csa: 3, fsa: 3 });
    expect(Object.keys(buildLifelongExplain(lap({ k2: 0 })).outputs)).toEqual(['prob', 'csaPositions', 'csaWeights', 'csaValid']);
    expect(buildLifelongExplain(lap({ k2: 0 })).meta['explain']).toEqual({ csa: 6 });
  });

  it("the scoring graph is untouched: prob of the explain graph is buildLifelong's subgraph, node for node", () => {
    const configs: Array<Partial<LifelongConfig>> = [
      LIFELONG_TEST_CONFIG,
      lap({ k1: 0 }),
      lap({ k2: 0 }),
      lap({ csaNormalize: 'none', msaNormalize: 'none', fsaPool: 'sumThenFfn' }),
      {},
    ];
    for (const c of configs) {
      const explain = buildLifelongExplain(c);
      const serve = buildLifelong(c);
      const scoring = pruneGraph({ ...explain, outputs: { prob: explain.outputs['prob']! } });
      expect(scoring.nodes).toEqual(serve.nodes);
      expect(scoring.params).toEqual(serve.params);
      // the explain nodes come after every scoring node
      expect(explain.nodes.slice(0, serve.nodes.length).map((n) => n.id)).toEqual(serve.nodes.map((n) => n.id));
    }
  });

  it('models without a pyramid have no explain variant: the error names the one that has', () => {
    for (const [preset, module] of [
      ['sim-soft', 'simSoft'],
      ['sim-hard', 'simHard'],
      ['twin', 'twin'],
    ] as const) {
      expect(() => buildLifelongExplain({ ...LIFELONG_TEST_CONFIG, ...LIFELONG_PRESETS[preset] })).toThrow(
        `lifelong explain: module '${module}' has no attention pyramid to explain; only module 'lap' (LCN, preset 'lcn') has an explain ` +
          `variant`,
      );
    }
    expect(() => buildLifelongExplain({ ...LIFELONG_TEST_CONFIG, module: 'none' })).toThrow(
      "lifelong explain: module 'none' has no attention pyramid",
    );
    expect(
      [
        LIFELONG_TEST_CONFIG,
        lap({ k1: 0 }),
        lap({ k2: 0 }),
        lap({ k1: 0, k2: 0 }),
        { ...LIFELONG_TEST_CONFIG, ...LIFELONG_PRESETS.twin },
      ].map((c) => hasLifelongExplain(c)),
    ).toEqual([true, true, true, false, false]);
    expect(() => buildLifelongExplain(lap({ k1: 0, k2: 0 }))).toThrow(
      'lifelong explain: lap.k1 and lap.k2 are both 0, so the pyramid picks nothing (CSA alone pools over the whole sequence); expected ' +
        'k1 or k2 > 0, got {"k1":0,"k2":0}',
    );
  });
});
