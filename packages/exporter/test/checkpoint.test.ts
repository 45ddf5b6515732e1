/**
 * Exporting TRAINED models: tiny din, lcn and sim-soft runs on the small synthetic world (trained
 * here through the trainer API), exported from their checkpoints into a Triton model repository,
 * parity on held-out eval data, the latency summary, and the errors (unknown model, missing or
 * misshapen weight, foreign output dir, no checkpoint).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostTensor,
  buildDin,
  buildLifelong,
  checkWeights,
  encodeSafetensors,
  graphFromJSON,
  readWeightsFile,
  serializeGraph,
} from '@lctr/spec';
import { initTfjs } from '@lctr/backend-tfjs';
import { decodeChecked, encodeChecked, trainModelNames } from '@lctr/train';
import { type CheckpointReport, ExportError, ONNX_FILE, PARITY_PAIRS, exportCheckpoint, exportWeights } from '../src/index.ts';
import { type Run, STEPS, lifelongArch, shortArch, stepDir as step, trainTiny } from './tiny-runs.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-export-ckpt-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const runs: Record<string, Run> = {};
/** the Triton model repository the exports below share */
const repo = join(base, 'models');

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
  runs['din'] = await trainTiny(base, 'din', shortArch);
  runs['lcn'] = await trainTiny(base, 'lcn', lifelongArch);
  runs['sim-soft'] = await trainTiny(base, 'sim-soft', lifelongArch);
});

describe('exporting a trained checkpoint', () => {
  it('din (batch layout): from the run directory, parity on 64 held-out eval samples', async () => {
    const lines: string[] = [];
    const res = await exportCheckpoint({
      checkpoint: runs['din']!.runDir,
      config: runs['din']!.configPath,
      out: repo,
      latencyRequests: 4,
      latencyCandidates: 20,
      log: (l) => lines.push(l),
    });
    const out = join(repo, 'din');
    expect(res).toMatchObject({ dir: out, repository: repo, name: 'din' });
    expect(readdirSync(out).sort()).toEqual(['.lctr-export', '1', 'config.pbtxt', 'graph.json', 'report.json', 'weights.safetensors']);
    expect(readdirSync(join(out, '1'))).toEqual(['model.onnx']);
    expect(res.files).toEqual(['config.pbtxt', '1/model.onnx', 'weights.safetensors', 'graph.json', 'report.json']);
    const report = readReport(out);
    expectParity(report);
    expect(report).toMatchObject({
      model: 'din',
      servingModel: 'din',
      layout: 'batch',
      checkpoint: { dir: step(runs['din']!), step: STEPS },
      droppedParameters: [],
    });
    expect(report.config).toEqual({ source: runs['din']!.configPath, sameAsCheckpoint: true });
    expect(report.parity.samples).toHaveLength(64);
    expect(report.parity.tfjsBackend).toBe('wasm');
    expect(report.triton).toEqual({ name: 'din', platform: 'onnxruntime_onnx', maxBatchSize: 1024, instanceKind: 'KIND_CPU' });
    // latency: 4 timed batches of 20 eval samples after 5 warm-up ones, on the CPU provider
    expect(report.latency).toMatchObject({ layout: 'batch', provider: 'cpu', requests: 4, candidates: 20, warmup: 5 });
    const l = report.latency!;
    expect(0 < l.minMs && l.minMs <= l.p50Ms && l.p50Ms <= l.p99Ms && l.p99Ms <= l.maxMs && l.meanMs <= l.maxMs).toBe(true);
    expect(lines.slice(-2)).toEqual([res.line, res.latencyLine]);
    expect(res.latencyLine).toMatch(
      /^latency \(ONNX Runtime cpu, 5 warm-up requests not counted\): 4 batches of 20 eval samples: p50 [0-9.]+ ms, p99 [0-9.]+ ms, mean [0-9.]+ ms$/,
    );
    expect(res.line).toMatch(
      /^din step 4: 64 held-out eval samples \| max \|Δprob\| onnx-vs-tfjs [0-9.e+-]+, onnx-vs-tfjs-train .* \(bar 1e-5\) {2}OK$/,
    );
    // the serving graph is the spec's, weights are the checkpoint's, hashes are the files'
    const g = graphFromJSON(readFileSync(join(out, 'graph.json'), 'utf8'));
    const trained = graphFromJSON(readFileSync(join(step(runs['din']!), 'graph.json'), 'utf8'));
    expect(serializeGraph(g)).toBe(serializeGraph(buildDin(trained.meta['config'] as Parameters<typeof buildDin>[0])));
    const { weights, metadata } = readWeightsFile(join(out, 'weights.safetensors'));
    checkWeights(g, weights);
    expect(metadata).toMatchObject({ model: 'din', step: String(STEPS) });
    const ckptWeights = readWeightsFile(join(step(runs['din']!), 'weights.safetensors')).weights;
    expect(weights.get('mlp/l0/w')!.data).toEqual(ckptWeights.get('mlp/l0/w')!.data);
    for (const f of ['config.pbtxt', ONNX_FILE, 'weights.safetensors', 'graph.json'] as const)
      expect(report.files[f].sha256).toBe(sha(readFileSync(join(out, f))));
    expect(report.nodes).toBe(g.nodes.length);
    expect(report.parameters).toBe(g.params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0));
  });

  it('lcn (per-request layout): from a step directory with the config of its state.json, 4 requests x 16 candidates', async () => {
    const res = await exportCheckpoint({
      checkpoint: step(runs['lcn']!),
      out: repo,
      name: 'lcn-tiny',
      instanceKind: 'KIND_GPU',
      latencyRequests: 3,
      latencyCandidates: 16,
    });
    const out = join(repo, 'lcn-tiny');
    expect(res.dir).toBe(out);
    const report = readReport(out);
    expect(report.triton).toEqual({ name: 'lcn-tiny', platform: 'onnxruntime_onnx', maxBatchSize: 0, instanceKind: 'KIND_GPU' });
    expect(report.latency).toMatchObject({ layout: 'request', provider: 'cpu', requests: 3, candidates: 16 });
    expect(res.latencyLine).toMatch(
      /^latency \(ONNX Runtime cpu, 5 warm-up requests not counted\): 3 requests x 16 candidates, 1 user each: p50 /,
    );
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

  it(
    'lcn: model.onnx is the folded graph (DIN attention weight recombination) and float16 passes its own bar; graph.json stays the spec ' +
      'form',
    async () => {
      const folded = readReport(join(repo, 'lcn-tiny')).optimisations;
      expect(folded.precision).toBe('float32');
      expect(folded.onnxTolerance).toBe(1e-5);
      // per DIN attention (target and source sequences): 4 row slices of the first-layer weight,
      // their add and sub, and the serving form's reshapes of W_p and of the sub; FSA's first FFN
      // layer with its bias as one more row (a reshape and a concat); the main MLP's first weight
      // split into the user's and the candidates' rows (2 slices)
      expect(folded.constantFolding).toMatchObject({ enabled: true, foldedNodes: 20 });
      expect(folded.constantFolding.nodesAfter).toBe(folded.constantFolding.nodesBefore - 20);
      expect(folded.constantFolding.parametersAfter).toBeLessThan(folded.constantFolding.parametersBefore);
      expect(
        folded.constantFolding.addedParameters.every((n) =>
          ['folded/din/', 'folded/lap/fsa/ffn/l0/', 'folded/mlp/l0/'].some((p) => n.startsWith(p)),
        ),
      ).toBe(true);

      const res16 = await exportCheckpoint({
        checkpoint: step(runs['lcn']!),
        out: repo,
        name: 'lcn-f16',
        precision: 'float16',
        latencyRequests: 0,
      });
      const r16 = readReport(res16.dir);
      expect(r16.optimisations).toMatchObject({ precision: 'float16', onnxTolerance: 2e-2 });
      expect(r16.parity.ok).toBe(true);
      expect(r16.parity.onnxTolerance).toBe(2e-2);
      expect(r16.parity.tolerance).toBe(1e-5);
      expect(r16.parity.maxAbs['tfjs-vs-ref-cpu']).toBeLessThanOrEqual(1e-5);
      // really half precision: ONNX Runtime differs from the float32 reference by more than float32 rounding
      expect(r16.parity.maxAbs['onnx-vs-ref-cpu']).toBeGreaterThan(1e-6);
      expect(r16.parity.maxAbs['onnx-vs-ref-cpu']).toBeLessThanOrEqual(2e-2);
      expect(res16.line).toMatch(/\(bar 1e-5, with onnx 2e-2\) {2}OK$/);
      expect(r16.onnx.checker).toEqual({ ok: true, message: 'ok' });
      // the spec form is the same as the float32 export's
      for (const f of ['graph.json', 'weights.safetensors'] as const)
        expect(r16.files[f].sha256).toBe(readReport(join(repo, 'lcn-tiny')).files[f].sha256);

      const resNoFold = await exportCheckpoint({
        checkpoint: step(runs['lcn']!),
        out: repo,
        name: 'lcn-nofold',
        fold: false,
        latencyRequests: 0,
      });
      expect(readReport(resNoFold.dir).optimisations.constantFolding).toMatchObject({ enabled: false, foldedNodes: 0 });
      expectParity(readReport(resNoFold.dir));
    },
  );

  it("sim-soft: the serving weights leave the training-only auxiliary head 'simSoft/aux/*' behind", async () => {
    const res = await exportCheckpoint({ checkpoint: runs['sim-soft']!.runDir, out: repo, requests: 2, candidates: 8, latencyRequests: 0 });
    const out = join(repo, 'sim-soft');
    const report = readReport(out);
    expect(report.latency).toBeUndefined();
    expect(res.latencyLine).toBeUndefined();
    // one repository, one directory per model, nothing else left behind
    expect(readdirSync(repo).sort()).toEqual(['din', 'lcn-f16', 'lcn-nofold', 'lcn-tiny', 'sim-soft']);
    expectParity(report);
    expect(report.model).toBe('sim-soft');
    expect(report.parity.scored).toBe(16);
    expect(report.droppedParameters.length).toBeGreaterThan(0);
    expect(report.droppedParameters.every((n) => n.startsWith('simSoft/aux/'))).toBe(true);
    const { weights } = readWeightsFile(join(out, 'weights.safetensors'));
    expect([...weights.keys()].filter((k) => k.startsWith('simSoft/aux/'))).toEqual([]);
    expect(report.parameters).toBeLessThan(report.trainingParameters);
  });

  it('--weights: weights trained elsewhere export with the same parity; missing or misshapen serving weights are named', async () => {
    const { weights } = readWeightsFile(join(step(runs['sim-soft']!), 'weights.safetensors'));
    // a plain safetensors file (no checkpoint around it), without the training-only auxiliary head
    const plain = new Map([...weights].filter(([k]) => !k.startsWith('simSoft/aux/')));
    const file = join(base, 'sim-soft-weights.safetensors');
    writeFileSync(file, encodeSafetensors(plain));
    const cfg = runs['sim-soft']!.configPath;
    const res = await exportWeights({
      weights: file,
      model: 'sim-soft',
      config: cfg,
      out: repo,
      name: 'sim-soft-weights',
      latencyRequests: 0,
    });
    const report = readReport(res.dir);
    expectParity(report);
    expect(report.checkpoint).toMatchObject({ dir: `weights ${file}`, step: 0 });
    // the same weights through the checkpoint give the same ONNX file
    const viaCheckpoint = readReport(join(repo, 'sim-soft'));
    expect(report.files[ONNX_FILE].sha256).toBe(viaCheckpoint.files[ONNX_FILE].sha256);

    const missing = new Map(plain);
    missing.delete('simSoft/gsu/wq');
    missing.delete('mlp/l0/b');
    writeFileSync(file, encodeSafetensors(missing));
    await expect(exportWeights({ weights: file, model: 'sim-soft', config: cfg, out: join(base, 'w2') })).rejects.toThrow(
      /^--weights .*sim-soft-weights\.safetensors: serving graph 'lifelong' of trainer model 'sim-soft': weights for graph 'lifelong' miss 2 parameter\(s\): (simSoft\/gsu\/wq, mlp\/l0\/b|mlp\/l0\/b, simSoft\/gsu\/wq)$/,
    );
    const wrong = new Map(plain);
    wrong.set('mlp/l0/b', { dtype: 'float32', shape: [3], data: new Float32Array(3) });
    writeFileSync(file, encodeSafetensors(wrong));
    await expect(exportWeights({ weights: file, model: 'sim-soft', config: cfg, out: join(base, 'w2') })).rejects.toThrow(
      /: weight 'mlp\/l0\/b': expected shape \[8\], got \[3\]$/,
    );
    await expect(
      exportWeights({ weights: join(base, 'nope.safetensors'), model: 'sim-soft', config: cfg, out: join(base, 'w2') }),
    ).rejects.toThrow(
      `--weights ${join(base, 'nope.safetensors')} does not exist (expected a safetensors file of weights keyed by parameter path)`,
    );
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
      new ExportError(`${graphPath}: unknown model 'din-9000' in meta.model; the exporter knows demo, avgpool, din, lifelong, ifa`),
    );
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('names a missing weight and a weight of the wrong shape, with the file', async () => {
    const missing = tamperedWeights(step(runs['din']!), join(base, 'tampered-missing'), (w) => {
      w.delete('mlp/l0/w');
    });
    await expect(exportCheckpoint({ checkpoint: missing, out: join(base, 'x') })).rejects.toThrow(
      `${join(missing, 'weights.safetensors')}: weights for graph 'din-train' miss 1 parameter(s): mlp/l0/w`,
    );
    const shaped = tamperedWeights(step(runs['din']!), join(base, 'tampered-shape'), (w) => {
      w.set('mlp/l0/b', { dtype: 'float32', shape: [7], data: new Float32Array(7) });
    });
    await expect(exportCheckpoint({ checkpoint: shaped, out: join(base, 'x') })).rejects.toThrow(
      `${join(shaped, 'weights.safetensors')}: weight 'mlp/l0/b': expected shape [8], got [7]`,
    );
    expect(existsSync(join(base, 'x'))).toBe(false);
  });

  it('refuses a foreign output directory without --force, a missing checkpoint, and a trainer model that does not fit', async () => {
    const mine = join(base, 'mine');
    mkdirSync(join(mine, 'din'), { recursive: true });
    writeFileSync(join(mine, 'din', 'notes.txt'), 'keep me');
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, out: mine })).rejects.toThrow(
      `output directory ${join(mine, 'din')} exists and was not written by the exporter (it holds notes.txt); pass --force to replace it ` +
        `or choose another --out`,
    );
    expect(readFileSync(join(mine, 'din', 'notes.txt'), 'utf8')).toBe('keep me');
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, out: repo, name: '../escape' })).rejects.toThrow(
      new ExportError(
        `--name (the Triton model name): expected a Triton model name (letters, digits, '_', '.', '-'; not starting with '.', '_' or '-'), ` +
          `got "../escape"`,
      ),
    );
    // a serving directory of the earlier flat layout is not taken for a repository
    const flat = join(base, 'flat');
    mkdirSync(flat);
    writeFileSync(join(flat, '.lctr-export'), '{}\n');
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, out: flat })).rejects.toThrow(
      new ExportError(
        `--out ${flat}: expected a Triton model repository (one directory per model), got a serving directory of the earlier flat layout ` +
          `(it holds .lctr-export); remove it or choose another --out`,
      ),
    );
    expect(readdirSync(flat)).toEqual(['.lctr-export']);
    const nowhere = join(base, 'no-such-run');
    await expect(exportCheckpoint({ checkpoint: nowhere, out: join(base, 'x') })).rejects.toThrow(
      new ExportError(
        `checkpoint ${nowhere} does not exist (expected a training run directory holding checkpoints/, or a checkpoint directory holding ` +
          `state.json)`,
      ),
    );
    await expect(exportCheckpoint({ checkpoint: base, out: join(base, 'x') })).rejects.toThrow(
      `${base} is neither a training run directory (no checkpoints/) nor a checkpoint directory (no state.json)`,
    );
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, model: 'avgpool', out: join(base, 'x') })).rejects.toThrow(
      new ExportError(
        `trainer model 'avgpool' rejects the config ${join(step(runs['din']!), 'state.json')}:\n  ` +
          `${join(step(runs['din']!), 'state.json')}: config.model.attention: unknown key (expected one of dim, categoryDim, seqLen, ` +
          `sourceSeqLen, sequences, hidden, l2)`,
      ),
    );
    // a config that fits the trainer model but not the checkpoint
    const wider = join(base, 'din-wider.json');
    writeFileSync(
      wider,
      JSON.stringify({ ...JSON.parse(readFileSync(runs['din']!.configPath, 'utf8')), model: { ...shortArch, hidden: [9] } }),
    );
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, config: wider, out: join(base, 'x') })).rejects.toThrow(
      `${wider}: trainer model 'din' with this config does not rebuild the checkpoint's training graph; checkpoint ${step(runs['din']!)} ` +
        `was written for a different model than 'din-train':\n  parameter 'mlp/l0/w' is [26, 8] in the checkpoint, [26, 9] in the ` +
        `model\n  parameter 'mlp/l0/b' is [8] in the checkpoint, [9] in the model`,
    );
    await expect(exportCheckpoint({ checkpoint: runs['din']!.runDir, model: 'nope', out: join(base, 'x') })).rejects.toThrow(
      new ExportError(`--model: unknown trainer model 'nope'; known: ${trainModelNames().join(', ')}`),
    );
    expect(trainModelNames()).toEqual(expect.arrayContaining(['avgpool', 'demo', 'din', 'lcn', 'sim-hard', 'sim-soft', 'twin']));
    expect(existsSync(join(base, 'x'))).toBe(false);
    expect(readdirSync(base).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('runs as the nx target command: prints the parity line, exits 1 on an error', () => {
    const out = join(base, 'cli');
    const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
    const r = spawnSync(
      'npx',
      [
        'tsx',
        'packages/exporter/src/cli.ts',
        '--checkpoint',
        runs['din']!.runDir,
        '--config',
        runs['din']!.configPath,
        '--out',
        out,
        '--samples',
        '16',
        '--latency-requests',
        '2',
        '--latency-candidates',
        '8',
        '--max-batch-size',
        '64',
        '--gpu',
      ],
      { cwd: root, encoding: 'utf8', env },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^din step 4: 16 held-out eval samples \| .* OK\nlatency \(ONNX Runtime cpu, 5 warm-up requests not counted\): 2 batches of 8 eval samples: p50 .* ms$/m,
    );
    expect(r.stdout).toContain(`wrote config.pbtxt, 1/model.onnx, weights.safetensors, graph.json, report.json to ${join(out, 'din')}`);
    expect(r.stdout).toContain(`serve it: tritonserver --model-repository ${out} (model 'din')`);
    expect(readReport(join(out, 'din')).triton).toMatchObject({ maxBatchSize: 64, instanceKind: 'KIND_GPU' });
    const bad = spawnSync('npx', ['tsx', 'packages/exporter/src/cli.ts', '--checkpoint', join(base, 'no-such-run')], {
      cwd: root,
      encoding: 'utf8',
      env,
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`lctr export: checkpoint ${join(base, 'no-such-run')} does not exist`);
  });

  it('prints the paths inside the current directory relative to it (output that can be pasted into docs)', () => {
    const r = spawnSync(
      join(root, 'node_modules', '.bin', 'tsx'),
      [
        join(root, 'packages/exporter/src/cli.ts'),
        '--checkpoint',
        runs['din']!.runDir,
        '--config',
        runs['din']!.configPath,
        '--out',
        'cli-relative',
        '--samples',
        '4',
        '--latency-requests',
        '1',
        '--latency-candidates',
        '2',
      ],
      { cwd: base, encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
    );
    expect(r.status, r.stderr).toBe(0);
    const ckpt = step(runs['din']!).slice(base.length + 1);
    expect(r.stdout).toContain(`checkpoint ${ckpt} (step ${STEPS}): trainer model 'din'`);
    expect(r.stdout).toContain(`wrote config.pbtxt, 1/model.onnx, weights.safetensors, graph.json, report.json to cli-relative/din in `);
    expect(r.stdout).toContain(`serve it: tritonserver --model-repository cli-relative (model 'din')`);
  });
});
