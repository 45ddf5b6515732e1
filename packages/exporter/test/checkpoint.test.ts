/**
 * Exporting TRAINED models: tiny din, lcn and sim-soft runs on the small synthetic world (trained
 * here through the trainer API), exported from their checkpoints, parity on held-out eval data,
 * and the errors (unknown model, missing or misshapen weight, foreign output dir, no checkpoint).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostTensor, buildDin, buildLifelong, checkWeights, graphFromJSON, readWeightsFile, serializeGraph } from '@lctr/spec';
import { decodeChecked, encodeChecked, getTrainModel, initTfjs, parseTrainConfig, train } from '@lctr/backend-tfjs';
import { type CheckpointReport, ExportError, PARITY_PAIRS, exportCheckpoint } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-export-ckpt-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const small = { dataset: 'synthetic', world: 'small', worldSeed: 3 };
const shortArch = { dim: 4, categoryDim: 2, seqLen: 8, hidden: [8], attention: [4] };
const lifelongArch = {
  ...shortArch, lifelongLen: 40, contextDim: 2,
  lap: { k1: 10, k2: 4, attentionDim: 4, heads: 2, headDim: 2, ffnDim: 8, outDim: 4 },
  simSoft: { k: 6, gsuDim: 4, attentionDim: 4 }, crp: { negatives: 16 },
};
const STEPS = 4;

interface Run { readonly runDir: string; readonly configPath: string }
const runs: Record<string, Run> = {};

async function trainTiny(name: string, model: Record<string, unknown>): Promise<Run> {
  const configPath = join(base, `${name}.json`);
  const json = { optimizer: { name: 'adam', lr: 0.01 }, batchSize: 32, steps: STEPS, seed: 1, model, data: small };
  writeFileSync(configPath, JSON.stringify(json));
  const config = parseTrainConfig(json, configPath);
  const m = getTrainModel(name);
  const graph = await m.buildTrain(config.model, configPath, config.data);
  const src = await m.source({ split: 'train', seed: config.seed, data: config.data, model: config.model, where: configPath });
  const runDir = join(base, 'runs', name);
  await train({ graph, train: src, config, outDir: runDir });
  return { runDir, configPath };
}

const step = (r: Run) => join(r.runDir, 'checkpoints', `step-${STEPS}`);
const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as CheckpointReport;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A copy of a checkpoint directory with its weights rewritten by `edit` (checksums kept valid). */
function tamperedWeights(from: string, to: string, edit: (w: Map<string, HostTensor>) => void): string {
  cpSync(from, to, { recursive: true });
  const path = join(to, 'weights.safetensors');
  const { tensors, metadata } = decodeChecked(readFileSync(path), path);
  const { sha256: _s, ...meta } = metadata;
  edit(tensors);
  writeFileSync(path, encodeChecked(tensors, meta));
  return to;
}

function expectParity(report: CheckpointReport): void {
  for (const p of PARITY_PAIRS) expect(report.parity.maxAbs[p], p).toBeLessThanOrEqual(1e-5);
  expect(report.parity.ok).toBe(true);
  expect(report.parity.probRange[1] - report.parity.probRange[0]).toBeGreaterThan(1e-3);
  expect(report.onnx.checker).toEqual({ ok: true, message: 'ok' });
}

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  runs['din'] = await trainTiny('din', shortArch);
  runs['lcn'] = await trainTiny('lcn', lifelongArch);
  runs['sim-soft'] = await trainTiny('sim-soft', lifelongArch);
});

describe('exporting a trained checkpoint', () => {
  it('din (batch layout): from the run directory, parity on 64 held-out eval samples', async () => {
    const lines: string[] = [];
    const out = join(base, 'din');
    const res = await exportCheckpoint({ checkpoint: runs['din']!.runDir, config: runs['din']!.configPath, out, log: (l) => lines.push(l) });
    expect(readdirSync(out).sort()).toEqual(['.lctr-export', 'graph.json', 'model.onnx', 'report.json', 'weights.safetensors']);
    const report = readReport(out);
    expectParity(report);
    expect(report).toMatchObject({ model: 'din', servingModel: 'din', layout: 'batch', checkpoint: { dir: step(runs['din']!), step: STEPS }, droppedParameters: [] });
    expect(report.config).toEqual({ source: runs['din']!.configPath, sameAsCheckpoint: true });
    expect(report.parity.samples).toHaveLength(64);
    expect(report.parity.tfjsBackend).toBe('wasm');
    expect(lines.at(-1)).toBe(res.line);
    expect(res.line).toMatch(/^din step 4: 64 held-out eval samples \| max \|Δprob\| onnx-vs-tfjs [0-9.e+-]+, onnx-vs-tfjs-train .* \(bar 1e-5\) {2}OK$/);
    // the serving graph is the spec's, weights are the checkpoint's, hashes are the files'
    const g = graphFromJSON(readFileSync(join(out, 'graph.json'), 'utf8'));
    const trained = graphFromJSON(readFileSync(join(step(runs['din']!), 'graph.json'), 'utf8'));
    expect(serializeGraph(g)).toBe(serializeGraph(buildDin(trained.meta['config'] as Parameters<typeof buildDin>[0])));
    const { weights, metadata } = readWeightsFile(join(out, 'weights.safetensors'));
    checkWeights(g, weights);
    expect(metadata).toMatchObject({ model: 'din', step: String(STEPS) });
    const ckptWeights = readWeightsFile(join(step(runs['din']!), 'weights.safetensors')).weights;
    expect(weights.get('mlp/l0/w')!.data).toEqual(ckptWeights.get('mlp/l0/w')!.data);
    for (const f of ['model.onnx', 'weights.safetensors', 'graph.json'] as const) expect(report.files[f].sha256).toBe(sha(readFileSync(join(out, f))));
    expect(report.nodes).toBe(g.nodes.length);
    expect(report.parameters).toBe(g.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0));
  });

  it('lcn (per-request layout): from a step directory with the config of its state.json, 4 requests x 16 candidates', async () => {
    const out = join(base, 'lcn');
    const res = await exportCheckpoint({ checkpoint: step(runs['lcn']!), out });
    const report = readReport(out);
    expectParity(report);
    expect(report).toMatchObject({ model: 'lcn', servingModel: 'lifelong', layout: 'request', droppedParameters: [] });
    expect(report.config).toEqual({ source: join(step(runs['lcn']!), 'state.json'), sameAsCheckpoint: true });
    expect(report.parity.requests).toHaveLength(4);
    expect(report.parity.scored).toBe(64);
    expect(res.line).toMatch(/^lcn step 4: 4 held-out requests x 16 candidates \| .* OK$/);
    const g = graphFromJSON(readFileSync(join(out, 'graph.json'), 'utf8'));
    expect(g.inputs.find((i) => i.name === 'candidate')!.shape).toEqual(['cand']);
    expect(g.inputs.find((i) => i.name === 'lifelongSeq')!.shape).toEqual([1, 40]);
    expect(g.inputs.some((i) => i.name.startsWith('crp'))).toBe(false);
    const trained = graphFromJSON(readFileSync(join(step(runs['lcn']!), 'graph.json'), 'utf8'));
    expect(serializeGraph(g)).toBe(serializeGraph(buildLifelong(trained.meta['config'] as Parameters<typeof buildLifelong>[0])));
  });

  it("sim-soft: the serving weights leave the training-only auxiliary head 'simSoft/aux/*' behind", async () => {
    const out = join(base, 'sim-soft');
    await exportCheckpoint({ checkpoint: runs['sim-soft']!.runDir, out, requests: 2, candidates: 8 });
    const report = readReport(out);
    expectParity(report);
    expect(report.model).toBe('sim-soft');
    expect(report.parity.scored).toBe(16);
    expect(report.droppedParameters.length).toBeGreaterThan(0);
    expect(report.droppedParameters.every((n) => n.startsWith('simSoft/aux/'))).toBe(true);
    const { weights } = readWeightsFile(join(out, 'weights.safetensors'));
    expect([...weights.keys()].filter((k) => k.startsWith('simSoft/aux/'))).toEqual([]);
    expect(report.parameters).toBeLessThan(report.trainingParameters);
  });

  it('names an unknown model in the checkpoint graph', async () => {
    const dir = join(base, 'tampered-model');
    cpSync(step(runs['din']!), dir, { recursive: true });
    const graphPath = join(dir, 'graph.json');
    const json = JSON.parse(readFileSync(graphPath, 'utf8')) as { meta: Record<string, unknown> };
    expect(json.meta['model']).toBe('din');
    const text = JSON.stringify({ ...json, meta: { ...json.meta, model: 'din-9000' } }, null, 1) + '\n';
    writeFileSync(graphPath, text);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, graphSha256: sha(Buffer.from(text)) }));
    await expect(exportCheckpoint({ checkpoint: dir, out: join(base, 'x') })).rejects.toThrow(
      new ExportError(`${graphPath}: unknown model 'din-9000' in meta.model; the exporter knows demo, avgpool, din, lifelong`));
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('names a missing weight and a weight of the wrong shape, with the file', async () => {
    const missing = tamperedWeights(step(runs['din']!), join(base, 'tampered-missing'), (w) => { w.delete('mlp/l0/w'); });
    await expect(exportCheckpoint({ checkpoint: missing, out: join(base, 'x') })).rejects.toThrow(
      `${join(missing, 'weights.safetensors')}: weights for graph 'din-train' miss 1 parameter(s): mlp/l0/w`);
    const shaped = tamperedWeights(step(runs['din']!), join(base, 'tampered-shape'), (w) => {
      w.set('mlp/l0/b', { dtype: 'float32', shape: [7], data: new Float32Array(7) });
    });
    await expect(exportCheckpoint({ checkpoint: shaped, out: join(base, 'x') })).rejects.toThrow(
      `${join(shaped, 'weights.safetensors')}: weight 'mlp/l0/b': expected shape [8], got [7]`);
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('refuses a foreign output directory without --force, a missing checkpoint, and a trainer model that does not fit', async () => {
    const mine = join(base, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, out: mine })).rejects.toThrow(
      `output directory ${mine} exists and was not written by the exporter (it holds notes.txt); pass --force to replace it or choose another --out`);
    expect(readFileSync(join(mine, 'notes.txt'), 'utf8')).toBe('keep me');
    const nowhere = join(base, 'no-such-run');
    await expect(exportCheckpoint({ checkpoint: nowhere, out: join(base, 'x') })).rejects.toThrow(new ExportError(
      `checkpoint ${nowhere} does not exist (expected a training run directory holding checkpoints/, or a checkpoint directory holding state.json)`));
    await expect(exportCheckpoint({ checkpoint: base, out: join(base, 'x') })).rejects.toThrow(
      `${base} is neither a training run directory (no checkpoints/) nor a checkpoint directory (no state.json)`);
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, model: 'avgpool', out: join(base, 'x') })).rejects.toThrow(
      new ExportError(`trainer model 'avgpool' rejects the config ${join(step(runs['din']!), 'state.json')}:\n  ${join(step(runs['din']!), 'state.json')}: config.model.attention: unknown key (expected one of dim, categoryDim, seqLen, sourceSeqLen, sequences, hidden, l2)`));
    // a config that fits the trainer model but not the checkpoint
    const wider = join(base, 'din-wider.json');
    writeFileSync(wider, JSON.stringify({ ...JSON.parse(readFileSync(runs['din']!.configPath, 'utf8')), model: { ...shortArch, hidden: [9] } }));
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, config: wider, out: join(base, 'x') })).rejects.toThrow(
      `${wider}: trainer model 'din' with this config does not rebuild the checkpoint's training graph; checkpoint ${step(runs['din']!)} was written for a different model than 'din-train':\n  parameter 'mlp/l0/w' is [26, 8] in the checkpoint, [26, 9] in the model\n  parameter 'mlp/l0/b' is [8] in the checkpoint, [9] in the model`);
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, model: 'nope', out: join(base, 'x') })).rejects.toThrow(
      /^--model: unknown trainer model 'nope'; known: avgpool, demo, din, lcn, sim-hard, sim-soft, twin$/);
    expect(existsSync(join(base, 'x'))).toBe(false);
    expect(readdirSync(base).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('runs as the nx target command: prints the parity line, exits 1 on an error', () => {
    const out = join(base, 'cli');
    const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
    const r = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--checkpoint', runs['din']!.runDir, '--config', runs['din']!.configPath, '--out', out, '--samples', '16'],
      { cwd: root, encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^din step 4: 16 held-out eval samples \| .* OK$/m);
    expect(r.stdout).toContain(`wrote model.onnx, weights.safetensors, graph.json, report.json to ${out}`);
    const bad = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--checkpoint', join(base, 'no-such-run')], { cwd: root, encoding: 'utf8', env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`exporter: checkpoint ${join(base, 'no-such-run')} does not exist`);
  });
});
