/**
 * Serving an IFA model (candidate-set layout: every input leads with 1, candidate features on
 * [1, 'cand', ...]): the request JSON is the per-request one, the server fills the candidate mask,
 * the user's sequence binds 'seq' from its length; scores equal the float64 reference on the same
 * inputs; a request carrying candMask or a ragged sequence gets a 400 naming the field.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWeightsFile } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { initTfjs } from '@lctr/backend-tfjs';
import { getTrainModel, parseTrainConfig, train } from '@lctr/train';
import { exportCheckpoint } from '@lctr/exporter';
import { type HealthReport, RequestError, ScoringServer, exampleRequest, parseScoreRequest } from '../src/index.ts';

const root = resolve(import.meta.dirname, '../../..');
const base = mkdtempSync(join(tmpdir(), 'lctr-server-ifa-'));
let server: ScoringServer;
let dir: string;

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  const json = {
    ...JSON.parse(readFileSync(join(root, 'packages/train/configs/ifa-tiny.json'), 'utf8')),
    steps: 4,
    evalEvery: 4,
    checkpointEvery: 4,
  };
  const path = join(base, 'ifa.json');
  writeFileSync(path, JSON.stringify(json));
  const config = parseTrainConfig(json, path);
  const m = getTrainModel('ifa');
  const graph = await m.buildTrain(config.model, path, config.data);
  const src = await m.source({ split: 'train', seed: 1, data: config.data, model: config.model, where: path });
  await train({ graph, train: src, config, outDir: join(base, 'run') });
  dir = (
    await exportCheckpoint({ checkpoint: join(base, 'run'), out: join(base, 'models'), requests: 2, latencyRequests: 0, log: () => {} })
  ).dir;
  server = await ScoringServer.open({ modelDir: dir, provider: 'cpu', maxCandidates: 50, maxBodyBytes: 1 << 20 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(base, { recursive: true, force: true });
});

describe('the scoring server on a candidate-set (IFA) model', () => {
  it('health: candidate-set layout, candidate features on candidates[], the mask filled by the server', () => {
    const h = server.health() as HealthReport;
    expect(h.layout).toBe('candidateSet');
    const byName = Object.fromEntries(h.inputs.map((i) => [i.name, i]));
    expect(byName['cand']).toMatchObject({ side: 'candidate', field: 'candidates[].cand', valueShape: [] });
    expect(byName['candCross']).toMatchObject({ side: 'candidate', valueShape: [2] });
    expect(byName['candMask']).toMatchObject({ side: 'candidate', filled: true });
    expect(byName['seq']).toMatchObject({ side: 'user', field: 'user.seq', valueShape: ['seq'] });
  });

  it('scores a request as the float64 reference does, for two sequence lengths and candidate counts', async () => {
    const h = server.health() as HealthReport;
    const { weights } = readWeightsFile(join(dir, 'weights.safetensors'));
    for (const [candidates, symbolLength, seed] of [
      [5, 12, 1],
      [17, 40, 2],
    ] as const) {
      const body = exampleRequest(h, { candidates, seed, symbolLength });
      expect(Object.keys((body['candidates'] as object[])[0]!)).not.toContain('candMask');
      const res = await server.score(body);
      expect(res.scores).toHaveLength(candidates);
      const { feeds } = parseScoreRequest(body, server.schema, { maxCandidates: 50 }, 'ifa');
      expect(feeds['candMask']!.shape).toEqual([1, candidates]);
      expect(feeds['seq']!.shape).toEqual([1, symbolLength]);
      const ref = runRef(server.model.graph, weights, feeds as never) as Record<string, { data: ArrayLike<number> }>;
      const maxAbs = Math.max(...res.scores.map((s, i) => Math.abs(s - Number(ref['prob']!.data[i]))));
      expect(maxAbs).toBeLessThan(1e-5);
      expect(Math.max(...res.scores) - Math.min(...res.scores)).toBeGreaterThan(0);
    }
  });

  it('refuses a request that carries the mask or a ragged sequence, naming the field', async () => {
    const h = server.health() as HealthReport;
    const body = exampleRequest(h, { candidates: 3, seed: 3 }) as {
      user: Record<string, unknown>;
      candidates: Array<Record<string, unknown>>;
    };
    const withMask = { ...body, candidates: body.candidates.map((c) => ({ ...c, candMask: true })) };
    await expect(server.score(withMask)).rejects.toThrow(RequestError);
    await expect(server.score(withMask)).rejects.toThrow(
      /^candidates\[0\]\.candMask: expected one of the candidate features .*, got unknown field 'candMask'$/,
    );
    const seq = body.user['seq'] as number[];
    const ragged = { ...body, user: { ...body.user, seqCategory: [...(body.user['seqCategory'] as number[]), 1] } };
    await expect(server.score(ragged)).rejects.toThrow(new RegExp(`^user\\.seqCategory: expected an array of ${seq.length} `));
  });
});
