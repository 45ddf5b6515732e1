import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { displayPath } from '../src/index.ts';

describe('displayPath', () => {
  const root = resolve('/srv/checkout');
  it('names a path inside the base relative to it, with / separators', () => {
    expect(displayPath(join(root, 'out', 'models', 'lcn'), root)).toBe('out/models/lcn');
    expect(displayPath('out/train/lcn-default', root)).toBe('out/train/lcn-default');
    expect(displayPath(root, root)).toBe('.');
    expect(displayPath(join(root, '..foo'), root)).toBe('..foo');
  });
  it('keeps a path outside the base absolute (a ../../ walk would say less)', () => {
    expect(displayPath(resolve('/tmp/run'), root)).toBe(resolve('/tmp/run'));
    expect(displayPath(resolve('/srv'), root)).toBe(resolve('/srv'));
    expect(displayPath(resolve('/srv/checkout-2/x'), root)).toBe(resolve('/srv/checkout-2/x'));
  });
  it('is relative to the current directory by default', () => {
    expect(displayPath(join(process.cwd(), 'a', 'b'))).toBe('a/b');
  });
});
