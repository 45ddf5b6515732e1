import { describe, expect, it } from 'vitest';
import { addDims, broadcastShapes, canonicalDim, divDims, dimEquals, mulDims, productOf, resolveDim, resolveShape } from '../src/index.ts';

describe('symbolic dims', () => {
  it('keeps one canonical form for products', () => {
    expect(canonicalDim('seq*4')).toBe('4*seq');
    expect(canonicalDim('seq*batch')).toBe('batch*seq');
    expect(canonicalDim(7)).toBe(7);
    expect(dimEquals('2*seq*2', '4*seq')).toBe(true);
    expect(() => canonicalDim('seq+1')).toThrow("bad symbolic dim 'seq+1'");
    expect(() => canonicalDim(-1)).toThrow('bad dim -1');
  });
  it('multiplies, divides exactly and adds like terms', () => {
    expect(mulDims('batch', 'seq')).toBe('batch*seq');
    expect(mulDims(3, 'seq')).toBe('3*seq');
    expect(mulDims(0, 'seq')).toBe(0);
    expect(divDims('batch*seq', 'batch')).toBe('seq');
    expect(divDims('12*seq', 4)).toBe('3*seq');
    expect(divDims('seq', 'batch')).toBeUndefined();
    expect(divDims('3*seq', 2)).toBeUndefined();
    expect(addDims('seq', 'seq')).toBe('2*seq');
    expect(addDims(3, 4)).toBe(7);
    expect(addDims('seq', 4)).toBeUndefined();
    expect(productOf(['batch', 'seq', 4])).toBe('4*batch*seq');
  });
  it('broadcasts numpy style', () => {
    expect(broadcastShapes(['batch', 1, 4], [3, 1])).toEqual(['batch', 3, 4]);
    expect(broadcastShapes(['batch', 4], ['batch', 4])).toEqual(['batch', 4]);
    expect(broadcastShapes([2, 3], [4, 3])).toBeUndefined();
    expect(broadcastShapes(['batch'], ['seq'])).toBeUndefined();
  });
  it('resolves under bindings and names a missing symbol', () => {
    expect(resolveDim('4*batch*seq', { batch: 2, seq: 5 })).toBe(40);
    expect(resolveShape(['batch', 3], { batch: 2 })).toEqual([2, 3]);
    expect(() => resolveDim('seq', { batch: 2 })).toThrow("symbolic dim 'seq' has no value at run time");
  });
});
