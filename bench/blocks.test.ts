import { describe, expect, it } from 'vitest';
import { blockOf, replaceBlock } from './blocks.ts';

describe('benchmark blocks', () => {
  const doc = '# B\n\nprose before\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\nprose after\n';
  it('replaces the body between the markers and keeps the prose around them', () => {
    expect(replaceBlock(doc, 'a', 'new a\nline 2')).toBe(
      '# B\n\nprose before\n\n<!-- bench:a -->\nnew a\nline 2\n<!-- /bench:a -->\n\nprose after\n',
    );
    expect(blockOf(doc, 'a')).toBe('old a');
    expect(blockOf(replaceBlock(doc, 'a', 'x'), 'a')).toBe('x');
  });
  it('appends a block that is not there yet; an unknown block reads as undefined', () => {
    expect(replaceBlock(doc, 'b', 'b body')).toBe(`${doc.trimEnd()}\n\n<!-- bench:b -->\nb body\n<!-- /bench:b -->\n`);
    expect(blockOf(doc, 'b')).toBeUndefined();
    // a block id that is a prefix of another is not confused with it
    const two = replaceBlock(replaceBlock('# B\n', 'serve', 's'), 'serve-load', 'l');
    expect([blockOf(two, 'serve'), blockOf(two, 'serve-load')]).toEqual(['s', 'l']);
  });
});
