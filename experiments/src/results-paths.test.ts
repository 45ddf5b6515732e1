/**
 * The committed results (<analysis>/results.json and table.md) name their output folder, run
 * directories and checkpoints relative to the repository root, so they read the same on every
 * checkout; lcn.ts writes them through displayPath(p, ROOT).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const EXPERIMENTS = resolve(import.meta.dirname, '..');
const folders = readdirSync(EXPERIMENTS, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(EXPERIMENTS, e.name, 'results.json')))
  .map((e) => e.name)
  .sort();

/** Every string under a key that holds a path (`out`, `dir`, `checkpoint`), with its JSON path. */
function pathValues(v: unknown, at: string, out: Array<[string, string]>): Array<[string, string]> {
  if (Array.isArray(v)) v.forEach((x, i) => pathValues(x, `${at}[${i}]`, out));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' && ['out', 'dir', 'checkpoint'].includes(k)) out.push([`${at}.${k}`, x]);
      else pathValues(x, `${at}.${k}`, out);
    }
  }
  return out;
}

describe('committed experiment results', () => {
  it('cover the analyses LCN and IFA report', () => {
    expect(folders).toEqual(expect.arrayContaining(['figure5', 'ifa-table2', 'ifa-table3', 'table1', 'table3', 'table5']));
  });
  it.each(folders)('%s names every path relative to the repository root', (name) => {
    const results = JSON.parse(readFileSync(join(EXPERIMENTS, name, 'results.json'), 'utf8')) as unknown;
    const paths = pathValues(results, name, []);
    expect(paths.filter(([, p]) => isAbsolute(p))).toEqual([]);
    const md = existsSync(join(EXPERIMENTS, name, 'table.md')) ? readFileSync(join(EXPERIMENTS, name, 'table.md'), 'utf8') : '';
    expect(md.includes(ROOT)).toBe(false);
    expect(md.match(/(?:^|[\s(`'"])\/(?:home|tmp|root|work|srv|Users|mnt)\/\S*/gm) ?? []).toEqual([]);
  });
  it("name the analyses' own output folders as lcn.ts writes them (out/experiments/<command>)", () => {
    // lcn.ts's commands (keep.ts and zoo.ts write their own layouts)
    for (const name of folders.filter((n) => ['figure5', 'ifa-table2', 'ifa-table3', 'table1', 'table3', 'table5'].includes(n))) {
      const setup = (JSON.parse(readFileSync(join(EXPERIMENTS, name, 'results.json'), 'utf8')) as { setup?: { out?: string } }).setup;
      expect(setup?.out).toBe(`out/experiments/${name}`);
    }
  });
});
