import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkWeights, graphFromJSON, initWeights, readWeightsFile, serializeGraph, buildDemo } from '@lctr/spec';
import { checkOnnxModels } from '@lctr/backend-onnx';
import { ExportError, exportModel } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');

describe('exporter', () => {
  const base = mkdtempSync(join(tmpdir(), 'lctr-export-'));

  it('writes a checked serving directory with a passing parity report', async () => {
    const lines: string[] = [];
    const res = await exportModel({ model: 'demo', out: join(base, 'demo'), seed: 3, log: (l) => lines.push(l) });
    expect(readdirSync(res.dir).sort()).toEqual(['.lctr-export', 'graph.json', 'model.onnx', 'report.json', 'weights.safetensors']);
    expect(res.parity.ok).toBe(true);
    expect(lines.at(-1)).toMatch(/^demo: tfjs-cpu fwd .* \| tfjs-wasm fwd .* \| onnx fwd .*OK$/);
    const g = graphFromJSON(readFileSync(join(res.dir, 'graph.json'), 'utf8'));
    expect(serializeGraph(g)).toBe(serializeGraph(buildDemo()));
    const { weights, metadata } = readWeightsFile(join(res.dir, 'weights.safetensors'));
    checkWeights(g, weights);
    expect(weights.get('mlp/l0/w')!.data).toEqual(initWeights(g, 3).get('mlp/l0/w')!.data);
    expect(metadata['seed']).toBe('3');
    const [check] = checkOnnxModels([readFileSync(join(res.dir, 'model.onnx'))]);
    expect(check!.ok, check!.message).toBe(true);
    const report = JSON.parse(readFileSync(join(res.dir, 'report.json'), 'utf8'));
    expect(report.onnx.opset).toBe(17);
    expect(report.onnx.checker).toEqual({ ok: true, message: 'ok' });
    expect(lines).toContain('onnx checker (full_check, strict shape inference): ok');
    expect(report.parity.ok).toBe(true);
    expect(report.parameters).toBe(g.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0));
  });

  it('replaces its own earlier export but never a directory it did not write', async () => {
    const dir = join(base, 'again');
    await exportModel({ model: 'demo', out: dir, seed: 1 });
    await exportModel({ model: 'demo', out: dir, seed: 2 });
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).seed).toBe(2);
    const mine = join(base, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    await expect(exportModel({ model: 'demo', out: mine })).rejects.toThrow(
      `output directory ${mine} exists and was not written by the exporter (it holds notes.txt); pass --force to replace it or choose another --out`);
    expect(readFileSync(join(mine, 'notes.txt'), 'utf8')).toBe('keep me');
    expect(readdirSync(base).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('names an unknown model', async () => {
    await expect(exportModel({ model: 'lcn-9000', out: join(base, 'x') })).rejects.toThrow(new ExportError("unknown model 'lcn-9000'; known models: demo"));
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('runs as the nx target command and prints the parity line', () => {
    const out = join(base, 'cli');
    const r = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--out', out, '--seed', '9'], { cwd: root, encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/demo: tfjs-cpu fwd .* OK/);
    expect(r.stdout).toContain(`wrote model.onnx, weights.safetensors, graph.json, report.json to ${out}`);
    const bad = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--model', 'nope'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("exporter: unknown model 'nope'; known models: demo");
  });

  it('the README tour runs and its three backends agree', () => {
    const r = spawnSync('npx', ['tsx', 'tools/examples/tour.ts'], { cwd: root, encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tfjs backend: wasm /m);
    const diffs = [...r.stdout.matchAll(/max \|diff\| ([0-9.e+-]+)/g)].map((m) => Number(m[1]));
    expect(diffs.length).toBe(2);
    for (const d of diffs) expect(d).toBeLessThan(1e-6);
  });
});
