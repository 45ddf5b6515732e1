/**
 * POST /explain and its page (issue 21, item 5): a small LCN model directory with its explain
 * variant (explain/graph.json, explain/1/model.onnx: spec's buildLifelongExplain, as the exporter
 * writes them) served in-process on port 0. The answer equals ref-cpu's explain graph run on the
 * same request (float64), ties included: embeddings and MSA's projections are small integers and
 * the lifelong ids repeat (as packages/parity/test/explain.test.ts does), so whole items tie at K1's
 * and K2's boundaries and the top-k tie rule decides the picks. A model without a pyramid gets 404.
 * The page (GET /explain.html) runs in Debian's headless Chromium; the marks it draws are those of
 * the API's answer.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostData,
  type HostTensor,
  type LifelongConfig,
  Rng,
  type Weights,
  buildLifelongExplain,
  initWeights,
  parseScoreRequest,
  requestSchemaOf,
  serializeGraph,
} from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { exportOnnx } from '@lctr/backend-onnx';
import { type ExplainResponse, ScoringServer } from '../src/index.ts';
import { PASSED_REPORT, tinyGraphs, writeTinyModelDir } from './tiny-model-dir.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-server-explain-'));
const scoring = tinyGraphs.lcn();
const cfg = scoring.meta['config'] as LifelongConfig;
const explainGraph = buildLifelongExplain(cfg);
let weights: Weights;
let lcn: { server: ScoringServer; url: string };
let din: { server: ScoringServer; url: string };

/** Small-integer embeddings and MSA projections: exact ties in float32 and float64 (parity's explain test). */
function integerWeights(seed: number): Weights {
  const rng = new Rng(seed);
  const w = initWeights(explainGraph, seed);
  const ints: Record<string, number> = {
    'emb/sourceItem': 2,
    'emb/targetItem': 2,
    'emb/category': 1,
    'emb/context0': 1,
    'lap/msa/wq': 1,
    'lap/msa/wk': 1,
  };
  for (const [name, r] of Object.entries(ints)) {
    const t = w.get(name)!;
    w.set(name, { ...t, data: Float32Array.from(t.data, () => rng.int(2 * r + 1) - r) });
  }
  return w;
}

beforeAll(async () => {
  weights = integerWeights(21);
  const dir = join(base, 'lcn');
  mkdirSync(join(dir, '1'), { recursive: true });
  mkdirSync(join(dir, 'explain', '1'), { recursive: true });
  writeFileSync(join(dir, 'graph.json'), serializeGraph(scoring) + '\n');
  writeFileSync(join(dir, '1', 'model.onnx'), exportOnnx(scoring, weights));
  writeFileSync(join(dir, 'explain', 'graph.json'), serializeGraph(explainGraph) + '\n');
  writeFileSync(join(dir, 'explain', '1', 'model.onnx'), exportOnnx(explainGraph, weights));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(PASSED_REPORT));
  const a = await ScoringServer.open({ modelDir: dir, provider: 'cpu', maxCandidates: 20 });
  lcn = { server: a, url: (await a.listen(0)).url };
  const b = await ScoringServer.open({ modelDir: writeTinyModelDir(join(base, 'din')), provider: 'cpu' });
  din = { server: b, url: (await b.listen(0)).url };
}, 60_000);

afterAll(async () => {
  await lcn?.server.close();
  await din?.server.close();
  rmSync(base, { recursive: true, force: true });
});

const post = async (url: string, path: string, body: unknown) => {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const numbers = (d: HostData): number[] => Array.from(d as ArrayLike<number | bigint>, Number);

/** A request of 5 candidates whose lifelong ids come from a handful (whole items recur: exact ties), with padding holes. */
function tieRequest(seed: number): { user: Record<string, unknown>; candidates: Array<Record<string, unknown>> } {
  const rng = new Rng(seed);
  const n = cfg.lifelongLen;
  const ids = Array.from({ length: n }, () => rng.int(4));
  const mask = Array.from({ length: n }, (_, p) => (seed % 2 === 0 ? p % 5 !== 3 : p < 7));
  return {
    user: {
      profile: [rng.int(2), rng.int(2)],
      targetSeq: Array.from({ length: cfg.seqLen }, () => rng.int(cfg.targetItems)),
      targetSeqCategory: Array.from({ length: cfg.seqLen }, () => rng.int(cfg.categories)),
      targetSeqMask: Array.from({ length: cfg.seqLen }, (_, i) => i < 5),
      sourceSeq: Array.from({ length: cfg.seqLen }, () => rng.int(cfg.sourceItems)),
      sourceSeqCategory: Array.from({ length: cfg.seqLen }, () => rng.int(cfg.categories)),
      sourceSeqMask: Array.from({ length: cfg.seqLen }, (_, i) => i < 6),
      lifelongSeq: ids,
      lifelongSeqCategory: ids.map((i) => i % 3),
      lifelongMask: mask,
      lifelongContext: ids.map((i) => [i % 2]),
    },
    candidates: Array.from({ length: 5 }, () => {
      const c = rng.int(4);
      return { candidate: c, candidateCategory: c % 3 };
    }),
  };
}

/** ref-cpu's explain graph on the same request, in /explain's form (valid picks, id at each position). */
function refAnswer(body: unknown): Pick<ExplainResponse, 'candidates'> {
  const { feeds } = parseScoreRequest(body, requestSchemaOf(scoring), { maxCandidates: 20 }, 'lcn');
  const out = runRef(explainGraph, weights, feeds as Record<string, HostTensor>) as Record<string, { data: HostData }>;
  const ids = numbers(feeds['lifelongSeq']!.data);
  const levels = explainGraph.meta['explain'] as Record<string, number>;
  return {
    candidates: numbers(out['prob']!.data).map((score, c) => ({
      score,
      picks: Object.fromEntries(
        Object.entries(levels).map(([l, k]) => {
          const [pos, w, ok] = ['Positions', 'Weights', 'Valid'].map((o) => numbers(out[l + o]!.data).slice(c * k, (c + 1) * k));
          return [l, pos!.flatMap((p, j) => (ok![j] ? [{ position: p, id: ids[p]!, weight: w![j]! }] : []))];
        }),
      ),
    })),
  };
}

describe('POST /explain', () => {
  it("equals ref-cpu's explain graph on the same request, ties included", async () => {
    let tiedRows = 0;
    for (const seed of [1, 2, 3, 4]) {
      const body = tieRequest(seed);
      const got = await post(lcn.url, '/explain', body);
      expect(got.status).toBe(200);
      const answer = got.body as unknown as ExplainResponse;
      expect(answer.model).toBe('lcn');
      expect(answer.levels).toEqual({ csa: 10, msa: 4, fsa: 4 });
      expect(answer.sequenceLength).toBe(40);
      const want = refAnswer(body);
      expect(answer.candidates.length).toBe(5);
      answer.candidates.forEach((c, i) => {
        const w = want.candidates[i]!;
        expect(Math.abs(c.score - w.score), `seed ${seed} candidate ${i} score`).toBeLessThanOrEqual(1e-6);
        for (const level of ['csa', 'msa', 'fsa'] as const) {
          const [g, r] = [c.picks[level]!, w.picks[level]!];
          expect(
            g.map((p) => [p.position, p.id]),
            `seed ${seed} candidate ${i} ${level} picks`,
          ).toEqual(r.map((p) => [p.position, p.id]));
          g.forEach((p, j) =>
            expect(Math.abs(p.weight - r[j]!.weight), `seed ${seed} candidate ${i} ${level} weight ${j}`).toBeLessThanOrEqual(1e-6),
          );
        }
        // two picks of one item at one level: tied scores, ordered by the earlier position (SPEC's top-k order)
        const csa = c.picks.csa!;
        if (csa.some((p, j) => csa.some((q, k) => k > j && q.id === p.id))) tiedRows++;
      });
    }
    // the seed-2/4 masks keep 32 valid positions of 4 ids: K1 = 10 picks always hold a repeated id
    expect(tiedRows).toBeGreaterThanOrEqual(10);
    // /explain scores as /score does
    const body = tieRequest(5);
    const [e, s] = [await post(lcn.url, '/explain', body), await post(lcn.url, '/score', body)];
    expect((e.body as unknown as ExplainResponse).candidates.map((c) => c.score)).toEqual(s.body['scores']);
  });

  it('a request with 7 valid positions (< K1): only valid picks, the sequence ids at their positions', async () => {
    const body = tieRequest(1);
    const answer = (await post(lcn.url, '/explain', body)).body as unknown as ExplainResponse;
    for (const c of answer.candidates) {
      expect(c.picks.csa!.map((p) => p.position).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(c.picks.msa!.length).toBe(4);
      for (const p of c.picks.csa!) expect(p.id).toBe((body.user['lifelongSeq'] as number[])[p.position]);
    }
  });

  it("a bad request gets /score's 400; a model without a pyramid gets 404 naming the models that have one", async () => {
    const bad = tieRequest(1);
    bad.user['lifelongSeq'] = [1, 2];
    expect(await post(lcn.url, '/explain', bad)).toEqual({
      status: 400,
      body: {
        error: 'user.lifelongSeq: expected an array of 40 (int32[40]), got an array of 2',
        field: 'user.lifelongSeq',
        expected: 'an array of 40 (int32[40])',
        actual: 'an array of 2',
      },
    });
    const r = await post(din.url, '/explain', {});
    expect(r.status).toBe(404);
    // the 404 of an unknown path offers the explain routes only where there is a pyramid
    const [onDin, onLcn] = [await post(din.url, '/predict', {}), await post(lcn.url, '/predict', {})];
    expect(String(onDin.body['error'])).not.toContain('/explain');
    expect(String(onLcn.body['error'])).toContain('POST /explain, GET /explain.html, GET /explain/example,');
    expect(r.body['error']).toBe(
      "model: expected a model exported with an explain variant (explain/graph.json: only LCN, lifelong module 'lap' with K1 or K2 on, " +
        "has an attention pyramid to explain), got model 'din' (graph 'din') without one",
    );
  });
});

describe('GET /explain.html in headless Chromium', () => {
  it("draws the picks /explain answers for the example request, and the candidate's score", async () => {
    const example = (await (await fetch(`${lcn.url}/explain/example`)).json()) as Record<string, unknown>;
    const api = (await post(lcn.url, '/explain', example)).body as unknown as ExplainResponse;
    const candidate = 1;
    // --virtual-time-budget: the DOM is dumped once the page's fetches and drawing are done
    const { stdout } = await promisify(execFile)(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--virtual-time-budget=10000',
        '--dump-dom',
        `${lcn.url}/explain.html?example=1&candidate=${candidate}`,
      ],
      { timeout: 60_000, maxBuffer: 16 << 20 },
    );
    expect(stdout).toContain('data-state="drawn"');
    const marks = [...stdout.matchAll(/<circle class="pick (\w+)"[^>]*data-position="(-?\d+)" data-id="(\d+)" data-weight="([^"]+)"/g)].map(
      (m) => ({ level: m[1]!, position: Number(m[2]), id: Number(m[3]), weight: Number(m[4]) }),
    );
    const want = Object.entries(api.candidates[candidate]!.picks).flatMap(([level, picks]) => picks!.map((p) => ({ level, ...p })));
    expect(want.length).toBeGreaterThan(0);
    expect(marks).toEqual(want);
    const score = /id="score"[^>]*data-score="([^"]+)"/.exec(stdout);
    expect(Number(score?.[1])).toBe(api.candidates[candidate]!.score);
  }, 90_000);
});
