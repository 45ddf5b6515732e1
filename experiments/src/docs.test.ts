/**
 * The repository's documents stand alone: no absolute path of the checkout that produced them, and
 * every relative link of the front page and of docs/ leads to a file or folder of the repository.
 * (Lives in this Nx project because it is the one that owns committed results, not library code.)
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCS = join(ROOT, 'docs');
const docPages = readdirSync(DOCS)
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const pages = ['README.md', 'BENCHMARKS.md', 'EXPERIMENTS.md', 'PARITY.md', ...docPages];

/** Relative link targets of a markdown page ([text](target), no scheme, no pure #anchor), without their #anchor. */
function relativeLinks(md: string): string[] {
  return [...md.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#'))
    .map((t) => t.split('#')[0]!);
}

describe('documents', () => {
  it('include the docs pages the front page links to', () => {
    const linked = ['README', 'design', 'spec', 'training', 'serving', 'adding-an-op', 'proofs'].map((n) => `docs/${n}.md`);
    expect(pages).toEqual(expect.arrayContaining(linked));
  });
  it.each(pages)('%s names no absolute path of the checkout', (page) => {
    const md = readFileSync(join(ROOT, page), 'utf8');
    expect(md.includes(`${ROOT}/`)).toBe(false);
    expect(md.match(/(?:^|[\s(`'"])\/(?:home|tmp|root|work|srv|Users|mnt)\/\S*/gm) ?? []).toEqual([]);
  });
  it.each(pages.filter((p) => p === 'README.md' || p.startsWith('docs/')))('%s links only to paths that exist', (page) => {
    const md = readFileSync(join(ROOT, page), 'utf8');
    const missing = relativeLinks(md).filter((t) => !existsSync(resolve(dirname(join(ROOT, page)), t)));
    expect(missing).toEqual([]);
  });
});
