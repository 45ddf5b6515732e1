/**
 * Exports are all or nothing (issue 17): a failed parity check leaves the previous model directory
 * untouched; a re-export replaces only what the exporter wrote (the manifest in the marker) and
 * keeps the rest; files in the way are refused, naming them; leftovers of a killed export are
 * undone by the next one. The untrained demo model keeps these fast (about 1 s per export).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDemo, initWeights } from '@lctr/spec';
import { EXPORT_MARKER, type ExportManifest, ExportError, SERVING_FILES, exportModel } from '../src/index.ts';
import { snapshot } from './snapshot.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-export-aon-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, EXPORT_MARKER), 'utf8')) as ExportManifest;
const seedOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { seed: number }).seed;
/** demo weights with one weight perturbed to a non-finite value: parity must fail */
function perturbedWeights(seed: number) {
  const w = initWeights(buildDemo(), seed);
  (w.get('mlp/l0/w')!.data as Float32Array)[0] = Number.NaN;
  return w;
}
const leftovers = (repo: string) => readdirSync(repo).filter((e) => e.startsWith('.'));

describe('all or nothing', () => {
  it('writes a manifest of its files (path, bytes, sha256) into the marker', async () => {
    const res = await exportModel({ model: 'demo', out: join(base, 'm'), seed: 1 });
    expect(res.written).toBe(true);
    const m = manifestOf(res.dir);
    expect(m).toMatchObject({ producer: 'lctr-exporter', model: 'demo', name: 'demo', seed: 1 });
    expect(Object.keys(m.files)).toEqual([...SERVING_FILES]);
    const snap = snapshot(res.dir);
    for (const f of SERVING_FILES) {
      expect(m.files[f]!.sha256, f).toBe(snap[f]);
      expect(m.files[f]!.bytes, f).toBe(readFileSync(join(res.dir, f)).length);
    }
  });

  it('a perturbed (non-finite) weight fails parity: not written, the previous export untouched, no temp directory left', async () => {
    const repo = join(base, 'gate');
    await exportModel({ model: 'demo', out: repo, seed: 1 });
    const before = snapshot(join(repo, 'demo'));
    const lines: string[] = [];
    const res = await exportModel({ model: 'demo', out: repo, seed: 2, weights: perturbedWeights(2), log: (l) => lines.push(l) });
    expect(res.parity.ok).toBe(false);
    expect(res).toMatchObject({ written: false, files: [], kept: [] });
    expect(res.nonFinite.map((w) => [w.name, w.index, w.value])).toEqual([['mlp/l0/w', 0, Number.NaN]]);
    expect(lines.at(-1)).toBe(`not exported: a weight is not finite and parity failed; ${join(repo, 'demo')} left as it was`);
    expect(snapshot(join(repo, 'demo'))).toEqual(before);
    expect(seedOf(join(repo, 'demo'))).toBe(1);
    expect(readdirSync(repo)).toEqual(['demo']);
    // a first export that fails creates nothing
    const fresh = await exportModel({ model: 'demo', out: join(base, 'gate-new'), weights: perturbedWeights(1) });
    expect(fresh.written).toBe(false);
    expect(readdirSync(join(base, 'gate-new'))).toEqual([]);
  });

  it(
    'a re-export keeps what the exporter did not write (notes.txt, a 2/ version folder, a file inside 1/) and says Triton serves ' + '2/',
    async () => {
      const repo = join(base, 'keep');
      const dir = join(repo, 'demo');
      await exportModel({ model: 'demo', out: repo, seed: 1 });
      writeFileSync(join(dir, 'notes.txt'), 'keep me');
      mkdirSync(join(dir, '2'));
      writeFileSync(join(dir, '2', 'model.onnx'), 'a model of the user');
      writeFileSync(join(dir, '1', 'README'), 'about version 1');
      const lines: string[] = [];
      const res = await exportModel({ model: 'demo', out: repo, seed: 2, log: (l) => lines.push(l) });
      expect(res).toMatchObject({ written: true, files: [...SERVING_FILES], kept: ['1/README', '2/', 'notes.txt'] });
      expect(seedOf(dir)).toBe(2);
      expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
      expect(readFileSync(join(dir, '2', 'model.onnx'), 'utf8')).toBe('a model of the user');
      expect(readFileSync(join(dir, '1', 'README'), 'utf8')).toBe('about version 1');
      expect(lines.slice(-2)).toEqual([
        `kept what the exporter did not write in ${dir}: 1/README, 2/, notes.txt`,
        `kept 2/ (not written by the exporter): Triton's default version policy serves the highest version, 2, not the 1 just exported`,
      ]);
      // the manifest still lists only the exporter's files, so the user's stay foreign next time
      expect(Object.keys(manifestOf(dir).files)).toEqual([...SERVING_FILES]);
      expect(leftovers(repo)).toEqual([]);
    },
  );

  it(
    'refuses, naming them, an exporter file changed since it was written and a foreign file where it writes; --force replaces just ' +
      'those',
    async () => {
      const repo = join(base, 'way');
      const dir = join(repo, 'demo');
      await exportModel({ model: 'demo', out: repo, seed: 1 });
      writeFileSync(join(dir, 'config.pbtxt'), 'name: "demo"\n# tuned by hand\n');
      writeFileSync(join(dir, 'notes.txt'), 'keep me');
      const before = snapshot(dir);
      const msg =
        `model directory ${dir} holds files in the way of the export: config.pbtxt (changed since the exporter wrote it); move ` +
        `them away, or pass --force to replace them (other files the exporter did not write are kept)`;
      await expect(exportModel({ model: 'demo', out: repo, seed: 2 })).rejects.toThrow(new ExportError(msg));
      expect(snapshot(dir)).toEqual(before);
      // a manifest that does not list weights.safetensors: that file is the user's, and in the way
      const m = manifestOf(dir);
      const { 'weights.safetensors': _w, ...files } = m.files;
      writeFileSync(
        join(dir, EXPORT_MARKER),
        JSON.stringify({
          ...m,
          files: {
            ...files,
            'config.pbtxt': {
              bytes: 0,
              sha256: createHash('sha256')
                .update(readFileSync(join(dir, 'config.pbtxt')))
                .digest('hex'),
            },
          },
        }),
      );
      await expect(exportModel({ model: 'demo', out: repo, seed: 2 })).rejects.toThrow(
        new ExportError(
          `model directory ${dir} holds files in the way of the export: weights.safetensors (not written by the exporter); move them away, ` +
            `or pass --force to replace them (other files the exporter did not write are kept)`,
        ),
      );
      const res = await exportModel({ model: 'demo', out: repo, seed: 2, force: true });
      expect(res.kept).toEqual(['notes.txt']);
      expect(seedOf(dir)).toBe(2);
      expect(readFileSync(join(dir, 'config.pbtxt'), 'utf8')).toContain('written by lctr-exporter');
      expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
      expect(Object.keys(manifestOf(dir).files)).toEqual([...SERVING_FILES]);
    },
  );

  it("an export from before the manifest (a marker without files): its five files are the exporter's, the rest is kept", async () => {
    const repo = join(base, 'legacy');
    const dir = join(repo, 'demo');
    await exportModel({ model: 'demo', out: repo, seed: 1 });
    writeFileSync(join(dir, EXPORT_MARKER), JSON.stringify({ model: 'demo', name: 'demo', seed: 1 }) + '\n');
    writeFileSync(join(dir, 'notes.txt'), 'keep me');
    const res = await exportModel({ model: 'demo', out: repo, seed: 2 });
    expect(res.kept).toEqual(['notes.txt']);
    expect(readdirSync(dir).sort()).toEqual([
      EXPORT_MARKER,
      '1',
      'config.pbtxt',
      'graph.json',
      'notes.txt',
      'report.json',
      'weights.safetensors',
    ]);
  });

  it('undoes what a killed export left: a backup without the directory is renamed back, temp directories are removed', async () => {
    const repo = join(base, 'recover');
    const dir = join(repo, 'demo');
    await exportModel({ model: 'demo', out: repo, seed: 1 });
    const before = snapshot(dir);
    // a process that is gone: killed between the swap's two renames
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    renameSync(dir, join(repo, `.demo.old-${dead}`));
    cpSync(join(repo, `.demo.old-${dead}`), join(repo, `.demo.tmp-${dead}`), { recursive: true });
    rmSync(join(repo, `.demo.tmp-${dead}`, 'report.json'));
    const lines: string[] = [];
    // a failing export: recovery happens before it starts, the gate then leaves the restored directory alone
    const res = await exportModel({ model: 'demo', out: repo, seed: 2, weights: perturbedWeights(2), log: (l) => lines.push(l) });
    expect(res.written).toBe(false);
    expect(lines.slice(0, 2)).toEqual([
      `restored ${dir} from .demo.old-${dead}, the backup of an export killed while swapping it in (process ${dead})`,
      `removed .demo.tmp-${dead}, left by an interrupted export (process ${dead})`,
    ]);
    expect(snapshot(dir)).toEqual(before);
    expect(leftovers(repo)).toEqual([]);
    // a live process's temp directory is not touched
    mkdirSync(join(repo, `.demo.tmp-${process.ppid}`));
    await exportModel({ model: 'demo', out: repo, seed: 3 });
    expect(leftovers(repo)).toEqual([`.demo.tmp-${process.ppid}`]);
    expect(existsSync(join(dir, 'report.json'))).toBe(true);
  });
});
