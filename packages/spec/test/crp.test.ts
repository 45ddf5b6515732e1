/**
 * The CRP block's graph-level contract: schema and feature names, options and their errors, input
 * shape checks, no parameters of its own, scalar outputs, zero-weight terms pruned. Values against
 * a float64 oracle and backend parity live in packages/parity/test/crp.test.ts (they need ref-cpu).
 */
import { describe, expect, it } from 'vitest';
import {
  CRP_DEFAULTS,
  CRP_FEATURES,
  CRP_PAPER,
  type CrpInputs,
  GraphBuilder,
  crpInputsOf,
  crpLoss,
  crpSchema,
  graphFromJSON,
  init,
  lifelongConfig,
  resolveCrpOptions,
  serializeGraph,
  valueInfo,
  withoutCrpFeatures,
} from '../src/index.ts';

const M = 6;
function setup(m: number = M, dims: { vt?: number; vs?: number; d?: number; ds?: number } = {}) {
  const b = new GraphBuilder('crp', crpSchema(m));
  const tables = b.scope('emb', () => ({
    target: b.param('targetItem', [dims.vt ?? 7, dims.d ?? 4], init.normal(1)),
    source: b.param('sourceItem', [dims.vs ?? 9, dims.ds ?? dims.d ?? 4], init.normal(1)),
  }));
  return { b, inputs: crpInputsOf(b.inputs, tables.target, tables.source) };
}

describe('crp schema and options', () => {
  it('the twelve features: pairs int32, masks bool, batch symbolic, M static', () => {
    const s = crpSchema(5);
    expect(Object.keys(s)).toEqual([...CRP_FEATURES]);
    expect(s.crpPt).toEqual({ dtype: 'int32', shape: ['batch', 2] });
    expect(s.crpPcMask).toEqual({ dtype: 'bool', shape: ['batch'] });
    expect(s.crpPsNeg).toEqual({ dtype: 'int32', shape: [5, 2] });
    expect(s.crpPtNegMask).toEqual({ dtype: 'bool', shape: [5] });
    expect(() => crpSchema(0)).toThrow('crpSchema: the number of negatives must be a positive integer, got 0');
    expect(() => crpSchema(2.5)).toThrow('crpSchema: the number of negatives must be a positive integer, got 2.5');
  });

  it('withoutCrpFeatures drops exactly the CRP features', () => {
    const full = { label: { dtype: 'float32', shape: ['batch'] }, ...crpSchema(3) } as const;
    expect(withoutCrpFeatures(full)).toEqual({ label: { dtype: 'float32', shape: ['batch'] } });
  });

  it(
    'defaults: τ = 0.1, weights 1, printed denominator, λ_CRP = 0.1, log-mean-exp, not τ-scaled (issue 19); CRP_PAPER is the printed ' +
      'form',
    () => {
      const scaled = { meanNegatives: true, scaleByTemperature: false };
      expect(CRP_DEFAULTS).toEqual({ temperature: 0.1, weights: { pt: 1, ps: 1, pc: 1 }, infoNce: false, lambda: 0.1, ...scaled });
      expect(resolveCrpOptions({ infoNce: true, temperature: 0.5 })).toEqual({
        temperature: 0.5,
        weights: { pt: 1, ps: 1, pc: 1 },
        infoNce: true,
        lambda: 0.1,
        ...scaled,
      });
      expect(CRP_PAPER).toEqual({ ...CRP_DEFAULTS, meanNegatives: false, scaleByTemperature: false });
      expect(lifelongConfig({ targetItems: 7, sourceItems: 9, categories: 3, profile: [2] }).crp).toEqual({
        ...CRP_DEFAULTS,
        negatives: 256,
      });
    },
  );

  it('the scalings add nodes only when on: the paper form has no log-count and no τ multiply', () => {
    const count = (o: Partial<typeof CRP_DEFAULTS>, op: string) => {
      const { b, inputs } = setup();
      return b.build({ y: crpLoss(b, inputs, o).terms.pt }).nodes.filter((n) => n.op === op).length;
    };
    expect(count({}, 'log') - count(CRP_PAPER, 'log')).toBe(1);
    expect(count({}, 'mul') - count(CRP_PAPER, 'mul')).toBe(0);
    expect(count({ scaleByTemperature: true }, 'mul') - count(CRP_PAPER, 'mul')).toBe(1);
  });

  it('option errors name the option, the expectation and the value', () => {
    expect(() => resolveCrpOptions({ temperature: 0 })).toThrow('crp: temperature must be a positive number, got 0');
    expect(() => resolveCrpOptions({ temperature: NaN })).toThrow('crp: temperature must be a positive number, got NaN');
    expect(() => resolveCrpOptions({ weights: { pt: 1, ps: -1, pc: 1 } })).toThrow('crp: weights.ps must be a number >= 0, got -1');
    expect(() => resolveCrpOptions({ lambda: Infinity })).toThrow('crp: lambda must be a number >= 0, got Infinity');
    expect(() => resolveCrpOptions({ meanNegatives: 1 as unknown as boolean })).toThrow('crp: meanNegatives must be true or false, got 1');
    expect(() => resolveCrpOptions({ scaleByTemperature: 'yes' as unknown as boolean })).toThrow(
      'crp: scaleByTemperature must be true or false, got yes',
    );
    const { b, inputs } = setup();
    expect(() => crpLoss(b, inputs, { temperature: -1 })).toThrow('crp: temperature must be a positive number, got -1');
  });

  it('the lifelong config checks the new keys of its crp section, naming the key', () => {
    const sizes = { targetItems: 7, sourceItems: 9, categories: 3, profile: [2] };
    expect(() => lifelongConfig({ ...sizes, crp: { meanNegatives: 'no' } as never })).toThrow(
      'lifelong config: crp.meanNegatives must be true or false, got "no"',
    );
    expect(() => lifelongConfig({ ...sizes, crp: { scaleByTemperature: 0 } as never })).toThrow(
      'lifelong config: crp.scaleByTemperature must be true or false, got 0',
    );
  });
});

describe('crpLoss graph', () => {
  it('scalar loss and terms, no parameters of its own, nodes scoped crp/', () => {
    const { b, inputs } = setup();
    const { loss, terms } = crpLoss(b, inputs);
    const g = b.build({ loss, pt: terms.pt, ps: terms.ps, pc: terms.pc });
    for (const o of ['loss', 'pt', 'ps', 'pc']) expect(valueInfo(g, g.outputs[o as 'loss'])).toEqual({ dtype: 'float32', shape: [] });
    expect(g.params.map((p) => p.name)).toEqual(['emb/targetItem', 'emb/sourceItem']);
    expect(g.nodes.every((n) => n.id.startsWith('crp/'))).toBe(true);
    expect(g.nodes.some((n) => n.id.startsWith('crp/pc/'))).toBe(true);
    // round-trips through JSON like every graph
    expect(graphFromJSON(serializeGraph(g))).toEqual(g);
  });

  it('a zero-weight term is left out of the loss (pruned), still available as a term', () => {
    const { b, inputs } = setup();
    const { loss, terms } = crpLoss(b, inputs, { weights: { pt: 1, ps: 0, pc: 2 } });
    const g = b.build({ loss });
    expect(g.nodes.some((n) => n.id.startsWith('crp/ps/'))).toBe(false);
    expect(g.nodes.some((n) => n.id.startsWith('crp/pc/'))).toBe(true);
    expect(b.build({ ps: terms.ps }).nodes.some((n) => n.id.startsWith('crp/ps/'))).toBe(true);
  });

  it('infoNce builds a per-positive denominator ([batch, M] exp), the printed one a single [1, M] row', () => {
    const shapesOfExp = (infoNce: boolean) => {
      const { b, inputs } = setup();
      const g = b.build({ y: crpLoss(b, inputs, { infoNce }).terms.pt });
      return g.nodes.filter((n) => n.op === 'exp').map((n) => n.outputs[0]!.shape);
    };
    expect(shapesOfExp(false)).toEqual([[1, M]]);
    expect(shapesOfExp(true)).toEqual([
      ['batch', M],
      ['batch', 1],
    ]);
  });

  it('input errors: pair width, mask length, table widths, dynamic M', () => {
    const { b, inputs } = setup();
    const bad = (patch: Partial<CrpInputs>) => () => crpLoss(b, { ...inputs, ...patch });
    expect(bad({ pt: b.slice(inputs.pt, [0], [1], [1]) })).toThrow('crp: pt must be [rows, 2] item ids, got int32[batch, 1]');
    expect(bad({ psNegMask: b.slice(inputs.psNegMask, [0], [3], [0]) })).toThrow(
      `crp: psNegMask must be [${M}] (one flag per row of psNeg [${M}, 2]), got bool[3]`,
    );
    expect(bad({ pcMask: inputs.ptNegMask })).toThrow(`crp: pcMask must be [batch] (one flag per row of pc [batch, 2]), got bool[${M}]`);
    expect(bad({ ptNeg: inputs.pt, ptNegMask: inputs.ptMask })).toThrow('crp: ptNeg must have a static number of rows M, got [batch, 2]');
    const narrow = setup(M, { ds: 3 });
    expect(() => crpLoss(narrow.b, narrow.inputs)).toThrow(
      'crp: targetTable and sourceTable must share a static width d (PC compares a target with a source item), got [7, 4] and [9, 3]',
    );
  });
});
