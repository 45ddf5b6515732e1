import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkWeights, graphFromJSON, initWeights, readWeightsFile, serializeGraph, buildDemo } from '@lctr/spec';
import { checkOnnxModels } from '@lctr/backend-onnx';
import { ExportError, exportModel } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');

describe('exporter', () => {
  const base = mkdtempSync(join(tmpdir(), 'lctr-export-'));

  it('writes a checked serving directory with a passing parity report', async () => {
    const lines: string[] = [];
    const res = await exportModel({ model: 'demo', out: join(base, 'models'), seed: 3, log: (l) => lines.push(l) });
    expect(res).toMatchObject({ dir: join(base, 'models', 'demo'), repository: join(base, 'models'), name: 'demo' });
    expect(readdirSync(res.dir).sort()).toEqual(['.lctr-export', '1', 'config.pbtxt', 'graph.json', 'report.json', 'weights.safetensors']);
    expect(res.files).toEqual(['config.pbtxt', '1/model.onnx', 'weights.safetensors', 'graph.json', 'report.json']);
    expect(res.parity.ok).toBe(true);
    expect(lines.at(-1)).toMatch(/^demo: tfjs-cpu fwd .* \| tfjs-wasm fwd .* \| onnx fwd .*OK$/);
    const g = graphFromJSON(readFileSync(join(res.dir, 'graph.json'), 'utf8'));
    expect(serializeGraph(g)).toBe(serializeGraph(buildDemo()));
    const { weights, metadata } = readWeightsFile(join(res.dir, 'weights.safetensors'));
    checkWeights(g, weights);
    expect(weights.get('mlp/l0/w')!.data).toEqual(initWeights(g, 3).get('mlp/l0/w')!.data);
    expect(metadata['seed']).toBe('3');
    const [check] = checkOnnxModels([readFileSync(join(res.dir, '1', 'model.onnx'))]);
    expect(check!.ok, check!.message).toBe(true);
    const report = JSON.parse(readFileSync(join(res.dir, 'report.json'), 'utf8'));
    expect(report.onnx.opset).toBe(17);
    expect(report.onnx.checker).toEqual({ ok: true, message: 'ok' });
    expect(lines).toContain('onnx checker (full_check, strict shape inference): ok');
    expect(report.parity.ok).toBe(true);
    expect(report.parameters).toBe(g.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0));
    expect(report.triton).toMatchObject({ name: 'demo', platform: 'onnxruntime_onnx', maxBatchSize: 1024, instanceKind: 'KIND_CPU' });
  });

  it('replaces its own earlier export but never a directory it did not write; leaves other models of the repository alone', async () => {
    const repo = join(base, 'again');
    mkdirSync(join(repo, 'other'), { recursive: true });
    writeFileSync(join(repo, 'other', 'config.pbtxt'), 'name: "other"\n');
    await exportModel({ model: 'demo', out: repo, seed: 1 });
    await exportModel({ model: 'demo', out: repo, seed: 2 });
    await exportModel({ model: 'demo', out: repo, name: 'demo-v2', seed: 3 });
    expect(JSON.parse(readFileSync(join(repo, 'demo', 'report.json'), 'utf8')).seed).toBe(2);
    expect(JSON.parse(readFileSync(join(repo, 'demo-v2', 'report.json'), 'utf8')).seed).toBe(3);
    expect(readFileSync(join(repo, 'demo-v2', 'config.pbtxt'), 'utf8')).toContain('name: "demo-v2"');
    expect(readdirSync(repo).sort()).toEqual(['demo', 'demo-v2', 'other']);
    expect(readFileSync(join(repo, 'other', 'config.pbtxt'), 'utf8')).toBe('name: "other"\n');
    await expect(exportModel({ model: 'demo', out: repo, name: 'other' })).rejects.toThrow(
      `output directory ${join(repo, 'other')} exists and was not written by the exporter (it holds config.pbtxt); pass --force to ` +
        `replace it or choose another --out`,
    );
    expect(readFileSync(join(repo, 'other', 'config.pbtxt'), 'utf8')).toBe('name: "other"\n');
    await exportModel({ model: 'demo', out: repo, name: 'other', force: true });
    expect(readdirSync(join(repo, 'other')).sort()).toEqual([
      '.lctr-export',
      '1',
      'config.pbtxt',
      'graph.json',
      'report.json',
      'weights.safetensors',
    ]);
    expect(readdirSync(base).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('names an unknown model', async () => {
    await expect(exportModel({ model: 'lcn-9000', out: join(base, 'x') })).rejects.toThrow(
      new ExportError("unknown model 'lcn-9000'; known models: demo"),
    );
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('runs as the nx target command and prints the parity line', () => {
    const out = join(base, 'cli');
    const r = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--model', 'demo', '--out', out, '--seed', '9'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/demo: tfjs-cpu fwd .* OK/);
    expect(r.stdout).toContain(`wrote config.pbtxt, 1/model.onnx, weights.safetensors, graph.json, report.json to ${join(out, 'demo')}`);
    const bad = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--model', 'nope'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("lctr export: unknown model 'nope'; known models: demo");
    const usage = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--model', 'demo', '--requests', '3'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('lctr export: --requests needs --checkpoint (or no --model: the default job)');
  });

  it('--help prints the usage and exits 0 before anything trains or writes (the default job trains first otherwise)', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'lctr-export-cwd-'));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const r = spawnSync(process.execPath, ['--import', tsx, join(root, 'packages/exporter/src/cli.ts'), '--help'], {
      cwd,
      encoding: 'utf8',
    });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^usage: lctr export {5,}the default job/);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('the README tour runs and its three backends agree', () => {
    const r = spawnSync('npx', ['tsx', 'examples/tour.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tfjs backend: wasm /m);
    const diffs = [...r.stdout.matchAll(/max \|diff\| ([0-9.e+-]+)/g)].map((m) => Number(m[1]));
    expect(diffs.length).toBe(2);
    for (const d of diffs) expect(d).toBeLessThan(1e-6);
  });
});
