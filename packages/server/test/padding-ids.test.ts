/**
 * Ids at padded positions (SPEC, issue 17 item 9): the server accepts anything there (-1, a stale
 * id) with a 200 and the scores of 0 there, and still refuses an id out of range at a valid position
 * with a 400 naming it. Untrained exports of small LCN (per-request layout) and DIN (batch layout)
 * graphs, written in the exporter's directory layout here; what the model learned does not matter.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FeatureSchema, type Graph, type HostTensor, buildDin, buildLifelong, initWeights, serializeGraph } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG } from '@lctr/spec/testing';
import { runRef } from '@lctr/ref-cpu';
import { exportOnnx } from '@lctr/backend-onnx';
import { ScoringServer, exampleRequest } from '../src/index.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-server-padding-'));
const cfg = { ...LIFELONG_TEST_CONFIG, module: 'lap' as const };
const { dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention } = cfg;
const PASSED_REPORT = {
  producer: 'lctr-exporter',
  parity: { ok: true, failures: [] },
  onnx: { opset: 17, irVersion: 8, checker: { ok: true, message: '' } },
};

/** graph.json, 1/model.onnx and report.json, as the exporter writes them. */
function modelDir(name: string, graph: Graph<FeatureSchema, string>): { dir: string; weights: Map<string, HostTensor<'float32'>> } {
  const dir = join(base, name);
  const weights = initWeights(graph, 9);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'graph.json'), serializeGraph(graph) + '\n');
  writeFileSync(join(dir, '1', 'model.onnx'), exportOnnx(graph, weights));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(PASSED_REPORT));
  return { dir, weights };
}

const lcnGraph = buildLifelong(cfg);
const dinGraph = buildDin({ dim, categoryDim, seqLen, users, targetItems, sourceItems, categories, profile, hidden, attention });
let lcn: ScoringServer, din: ScoringServer, lcnUrl: string, dinUrl: string;
let lcnWeights: Map<string, HostTensor<'float32'>>;

beforeAll(async () => {
  const l = modelDir('lcn', lcnGraph),
    d = modelDir('din', dinGraph);
  lcnWeights = l.weights;
  lcn = await ScoringServer.open({ modelDir: l.dir, provider: 'cpu' });
  din = await ScoringServer.open({ modelDir: d.dir, provider: 'cpu' });
  lcnUrl = (await lcn.listen(0)).url;
  dinUrl = (await din.listen(0)).url;
});
afterAll(async () => {
  await lcn?.close();
  await din?.close();
  rmSync(base, { recursive: true, force: true });
});

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

type Body = { user: Record<string, any>; candidates: Array<Record<string, any>> };
const N = cfg.lifelongLen!;
const VALID = 5; // lifelong positions 0..4 valid, 5..N-1 padding

/** A valid LCN request whose lifelong mask is a 5-long prefix, with 0 at every padded lifelong id. */
function lcnBody(): Body {
  const b = structuredClone(exampleRequest(lcn.health(), { candidates: 3, seed: 4 })) as Body;
  b.user['lifelongMask'] = Array.from({ length: N }, (_, i) => i < VALID);
  for (let i = VALID; i < N; i++) {
    b.user['lifelongSeq'][i] = 0;
    b.user['lifelongSeqCategory'][i] = 0;
    b.user['lifelongContext'][i] = b.user['lifelongContext'][i].map(() => 0);
  }
  return b;
}

/** The same request's scores on ref-cpu (the padded ids as the body holds them). */
function refScores(b: Body): number[] {
  const feeds: Record<string, HostTensor> = {};
  for (const i of lcnGraph.inputs) {
    const rows = i.shape[0] === 'cand' ? b.candidates.map((c) => c[i.name]) : [b.user[i.name]];
    const flat = (rows as unknown[]).flat(Infinity) as Array<number | boolean>;
    const shape = [rows.length, ...i.shape.slice(1).map(Number)];
    feeds[i.name] =
      i.dtype === 'bool'
        ? { dtype: 'bool', shape, data: Uint8Array.from(flat, (v) => (v ? 1 : 0)) }
        : { dtype: 'int32', shape, data: Int32Array.from(flat as number[]) };
  }
  return Array.from(runRef(lcnGraph, lcnWeights, feeds)['prob']!.data);
}

describe('per-request layout (LCN)', () => {
  it('-1, a stale id or 2^31 - 1 at padded positions: 200 with the scores of 0 there (and of ref-cpu)', async () => {
    const clean = lcnBody();
    const want = await post(lcnUrl, clean);
    expect(want.status).toBe(200);
    const scores = want.json['scores'] as number[];
    const ref = refScores(clean);
    scores.forEach((s, i) => expect(Math.abs(s - ref[i]!)).toBeLessThan(1e-6));
    for (const v of [-1, 1_000_000, 2147483647]) {
      const b = lcnBody();
      for (let i = VALID; i < N; i++) {
        b.user['lifelongSeq'][i] = v;
        b.user['lifelongSeqCategory'][i] = v;
        b.user['lifelongContext'][i] = b.user['lifelongContext'][i].map(() => v);
      }
      const r = await post(lcnUrl, b);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json['scores']).toEqual(scores);
    }
  });

  it('an id out of range at a valid position: 400 naming the field, the table and the id', async () => {
    const b = lcnBody();
    b.user['lifelongSeq'][VALID - 1] = -1;
    expect(await post(lcnUrl, b)).toEqual({
      status: 400,
      json: {
        error: `user.lifelongSeq[${VALID - 1}]: expected an int32 id in 0..${sourceItems! - 1} (rows of emb/sourceItem), got -1`,
        field: `user.lifelongSeq[${VALID - 1}]`,
        expected: `an int32 id in 0..${sourceItems! - 1} (rows of emb/sourceItem)`,
        actual: '-1',
      },
    });
    const c = lcnBody();
    c.user['lifelongContext'][0][1] = 2147483647;
    expect((await post(lcnUrl, c)).json['error']).toBe(
      `user.lifelongContext[0][1]: expected an int32 id in 0..${cfg.context![1]! - 1} (rows of emb/context1), got 2147483647`,
    );
    // a candidate id has no mask: every one is checked
    const d = lcnBody();
    d.candidates[2]!['candidate'] = -1;
    expect((await post(lcnUrl, d)).json['error']).toBe(
      `candidates[2].candidate: expected an int32 id in 0..${targetItems! - 1} (rows of emb/targetItem), got -1`,
    );
  });

  it('padding still has to be an int32: 2^31 is refused', async () => {
    const b = lcnBody();
    b.user['lifelongSeq'][N - 1] = 2147483648;
    expect((await post(lcnUrl, b)).json['error']).toBe(
      `user.lifelongSeq[${N - 1}]: expected an int32 id in 0..${sourceItems! - 1} (rows of emb/sourceItem), got 2147483648`,
    );
  });
});

describe('batch layout (DIN)', () => {
  const dinBody = () => {
    const b = structuredClone(exampleRequest(din.health(), { candidates: 2, seed: 5 })) as { samples: Array<Record<string, any>> };
    for (const s of b.samples) s['sourceSeqMask'] = Array.from({ length: seqLen! }, (_, i) => i < 2);
    return b;
  };
  it('-1 at a padded position of a sample: 200 with the scores of 0 there; at a valid one: 400', async () => {
    const zero = dinBody();
    for (const s of zero.samples) for (let i = 2; i < seqLen!; i++) s['sourceSeq'][i] = 0;
    const want = await post(dinUrl, zero);
    expect(want.status).toBe(200);
    const padded = structuredClone(zero);
    for (const s of padded.samples) for (let i = 2; i < seqLen!; i++) s['sourceSeq'][i] = -1;
    expect(await post(dinUrl, padded)).toMatchObject({ status: 200, json: { scores: want.json['scores'] } });
    const bad = structuredClone(zero);
    bad.samples[1]!['sourceSeq'][1] = -1;
    expect(await post(dinUrl, bad)).toMatchObject({
      status: 400,
      json: {
        error: `samples[1].sourceSeq[1]: expected an int32 id in 0..${sourceItems! - 1} (rows of emb/sourceItem), got -1`,
      },
    });
  });
});
