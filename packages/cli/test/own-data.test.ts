/**
 * Your own data, end to end (issue 18 item 6), through the `lctr` commands a user types: inspect ->
 * compile -> train a few steps -> export with parity (features.json beside model.onnx) -> `lctr
 * serve` -> raw requests in the log's own ids. Each raw request (built from the raw CSV rows) must
 * score EXACTLY as the same request pre-mapped by the training pipeline (the trainer's eval source).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, nestValues, readDatasetConfig } from '@lctr/data';
import { getTrainModel } from '@lctr/train';

const root = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-own-data-'));
let server: ChildProcess | undefined;
afterAll(() => {
  if (server?.pid) process.kill(server.pid, 'SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});
const lctr = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'packages/cli/bin/lctr.js'), ...args], { cwd: root, encoding: 'utf8' });

const TRAIN = {
  optimizer: { name: 'adam', lr: 0.003 },
  batchSize: 128,
  steps: 4,
  evalEvery: 0,
  logEvery: 2,
  seed: 1,
  model: {
    dim: 16,
    categoryDim: 8,
    seqLen: 50,
    sequences: ['target', 'source'],
    hidden: [32, 16],
    attention: [16, 8],
    lifelongLen: 300,
    contextDim: 4,
    lap: { k1: 100, k2: 25, attentionDim: 16, heads: 2, headDim: 8, ffnDim: 32, outDim: 16 },
    crp: { lambda: 0.1, negatives: 64 },
  },
  data: { dataset: 'file', config: 'datasets/taobao-sample.json' },
};
const USER_SIDE = [
  'targetSeq',
  'targetSeqCategory',
  'targetSeqMask',
  'sourceSeq',
  'sourceSeqCategory',
  'sourceSeqMask',
  'lifelongSeq',
  'lifelongSeqCategory',
  'lifelongMask',
  'lifelongContext',
];

describe('lctr on the Taobao UserBehavior sample: raw file to a served score', () => {
  it('inspect, compile, train, export with parity, serve; raw requests score exactly as the pre-mapped ones', async () => {
    const dataset = 'datasets/taobao-sample.json';
    const inspect = lctr('data', 'inspect', dataset);
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain('split at 2017-12-02T05:36:48Z (1512193008): train 756 samples (label rate 4.1%), test 189 (3.7%)');
    const compile = lctr('data', 'compile', dataset, '--out', join(tmp, 'compiled'), '--quiet');
    expect(compile.status, compile.stderr).toBe(0);
    expect(compile.stdout).toMatch(
      /compiled .*taobao-sample-[0-9a-f]{16} \(key [0-9a-f]{16}; 4,320 events, 756 train \/ 189 test samples\)/,
    );

    const cfg = join(tmp, 'lcn-taobao.json');
    writeFileSync(cfg, JSON.stringify(TRAIN));
    const train = lctr('train', '--model', 'lcn', '--config', cfg, '--out', join(tmp, 'run'));
    expect(train.status, train.stderr).toBe(0);
    expect(train.stdout).toContain('done: step 4/4');

    const exp = lctr(
      'export',
      '--checkpoint',
      join(tmp, 'run'),
      '--out',
      join(tmp, 'models'),
      '--name',
      'taobao-lcn',
      '--requests',
      '4',
      '--candidates',
      '8',
      '--latency-requests',
      '0',
    );
    expect(exp.status, exp.stderr + exp.stdout).toBe(0);
    expect(exp.stdout).toMatch(/features\.json: the feature pipeline of dataset 'taobao-sample' \(key [0-9a-f]{12}\)/);
    const dir = join(tmp, 'models', 'taobao-lcn');
    const manifest = JSON.parse(readFileSync(join(dir, '.lctr-export'), 'utf8'));
    expect(Object.keys(manifest.files)).toContain('features.json');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.features.sequences).toEqual({
      target: { length: 50, events: 'positive' },
      source: { length: 50, events: 'all' },
      lifelong: { length: 300, events: 'all' },
    });

    server = spawn(process.execPath, [join(root, 'packages/cli/bin/lctr.js'), 'serve', '--model-dir', dir, '--port', '0'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((ok, fail) => {
      let out = '';
      server!.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) ok(m[1]!);
      });
      server!.once('exit', (code) => fail(new Error(`lctr serve exited ${code}: ${out}`)));
    });
    const score = async (body: unknown) => {
      const r = await fetch(`${url}/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return {
        status: r.status,
        json: (await r.json()) as { scores: number[]; raw?: { unknown: Record<string, number>; dropped: number } },
      };
    };

    // the pre-mapped requests: the trainer's own eval source (what parity and the eval metrics read)
    const source = await getTrainModel('lcn').source({ split: 'eval', seed: 1, data: TRAIN.data, model: TRAIN.model, where: cfg });
    const ds = await loadDataset(readDatasetConfig(join(root, dataset)));
    // the raw rows: the CSV split on commas, the refused out-of-range row left out, each user's rows in file order
    const header = ['user_id', 'item_id', 'category_id', 'behavior_type', 'timestamp'];
    const byUser = new Map<string, Record<string, string | number>[]>();
    for (const line of readFileSync(join(root, '../shared/data/taobao-userbehavior-sample/UserBehavior.csv'), 'utf8').split('\n')) {
      if (line === '') continue;
      const r: Record<string, string | number> = Object.fromEntries(line.split(',').map((c, k) => [header[k]!, c]));
      r['timestamp'] = Number(r['timestamp']);
      if (r['timestamp'] < 1511539200 || r['timestamp'] >= 1512316800) continue;
      if (!byUser.has(r['user_id'] as string)) byUser.set(r['user_id'] as string, []);
      byUser.get(r['user_id'] as string)!.push(r);
    }
    const samples = [0, 1, 50, 100, 150, 188];
    for (const s of samples) {
      const p = ds.test[s]!,
        u = ds.log.user[p]!;
      const rows = byUser.get(ds.vocabulary.users[u]!)!;
      const sorted = rows
        .map((r, i) => ({ r, i }))
        .sort((a, b) => (a.r['timestamp'] as number) - (b.r['timestamp'] as number) || a.i - b.i)
        .map((x) => x.r);
      const k = p - ds.log.userStart[u]!;
      const history = rows.filter((r) => sorted.indexOf(r) < k);
      const raw = await score({
        raw: {
          user: ds.vocabulary.users[u],
          history,
          candidates: [{ item_id: sorted[k]!['item_id'], category_id: sorted[k]!['category_id'] }],
        },
      });
      expect(raw.status, JSON.stringify(raw.json)).toBe(200);
      expect(raw.json.raw).toEqual({ unknown: {}, dropped: 0 });

      const b = source.batch(Int32Array.of(s)) as Record<string, { data: ArrayLike<number>; shape: readonly number[]; dtype: string }>;
      const user = Object.fromEntries(USER_SIDE.map((f) => [f, nestValues(b[f]!.data, b[f]!.shape.slice(1), b[f]!.dtype === 'bool')]));
      const pre = await score({
        user,
        candidates: [{ candidate: b['candidate']!.data[0], candidateCategory: b['candidateCategory']!.data[0] }],
      });
      expect(pre.status, JSON.stringify(pre.json)).toBe(200);
      expect(raw.json.scores, `eval sample ${s}`).toEqual(pre.json.scores);
    }

    // an unknown item in a history is left out (no out-of-vocabulary row here) and counted in /metrics
    const unknown = await score({
      raw: {
        history: [{ item_id: 'no-such-item', category_id: '2520377', behavior_type: 'pv', timestamp: 1511600000 }],
        candidates: [{ item_id: ds.vocabulary.items.target[0], category_id: '4756105' }],
      },
    });
    expect(unknown.status).toBe(200);
    expect(unknown.json.raw).toEqual({ unknown: { 'history.item': 1 }, dropped: 1 });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('lctr_raw_unknown_ids_total{feature="history.item"} 1');
    expect(metrics).toContain('lctr_raw_history_events_dropped_total 1');
    expect(existsSync(join(tmp, 'compiled'))).toBe(true);
  }, 120_000);
});
