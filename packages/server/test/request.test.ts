/**
 * The request schema and request checks without a server or a session: graphs built by the spec
 * (demo: batch layout with a symbolic 'seq'; the default lifelong serving graph), the id ranges
 * found (whole inputs and columns), graphs the server cannot serve, and the run queue.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, buildDemo, buildDin, buildLifelong, lifelongConfig } from '@lctr/spec';
import { BusyError, Limiter, RequestError, SchemaError, exampleRequest, parseScoreRequest, requestSchemaOf } from '../src/index.ts';

const limits = { maxCandidates: 10 };

describe('request schema', () => {
  it('lifelong serving graph: user side without the leading 1, candidates without cand, every table range found', () => {
    const g = buildLifelong();
    const c = lifelongConfig({});
    const s = requestSchemaOf(g);
    expect(s.layout).toBe('request');
    expect(s.output).toBe('prob');
    const by = Object.fromEntries(s.features.map((f) => [f.name, f]));
    expect(by['lifelongSeq']).toMatchObject({
      side: 'user',
      shape: [c.lifelongLen],
      ids: [{ table: 'emb/sourceItem', rows: c.sourceItems }],
    });
    expect(by['candidate']).toMatchObject({ side: 'candidate', shape: [], ids: [{ table: 'emb/targetItem', rows: c.targetItems }] });
    expect(by['profile']!.ids).toEqual(c.profile.map((rows, k) => ({ table: `emb/profile${k}`, rows, column: k })));
    expect(by['lifelongContext']!.ids).toEqual(c.context.map((rows, k) => ({ table: `emb/context${k}`, rows, column: k })));
    expect(by['lifelongMask']!.ids).toEqual([]);
  });

  it('din: batch layout, every feature in each sample', () => {
    const s = requestSchemaOf(buildDin());
    expect(s.layout).toBe('batch');
    expect(s.features.every((f) => f.side === 'sample')).toBe(true);
  });

  it('refuses a graph it cannot serve', () => {
    const b = new GraphBuilder('odd', { x: { dtype: 'float32', shape: [2, 'cand'] }, y: { dtype: 'float32', shape: ['cand'] } });
    const g = b.build({ prob: b.sigmoid(b.expectDtype(b.value('y'), 'float32')) });
    expect(() => requestSchemaOf(g)).toThrow(
      new SchemaError(
        "graph 'odd' (per-request layout): input 'x' must lead with 1 (user side) or 'cand' (candidates), got float32[2, cand]",
      ),
    );
    const b2 = new GraphBuilder('two', { x: { dtype: 'float32', shape: ['batch'] } });
    const x = b2.expectDtype(b2.value('x'), 'float32');
    expect(() => requestSchemaOf(b2.build({ a: x, b: b2.relu(x) }))).toThrow(
      "graph 'two': expected an output 'prob' (or a single output) to score with, got outputs a, b",
    );
  });
});

describe('parseScoreRequest', () => {
  const demo = requestSchemaOf(buildDemo());

  it('demo (batch layout, symbolic seq): tensors with the batch and seq bound by the request', () => {
    const body = exampleRequest(
      {
        layout: demo.layout,
        inputs: demo.features.map((f) => ({
          name: f.name,
          side: f.side,
          field: '',
          dtype: f.dtype,
          shape: f.graphShape,
          valueShape: f.shape,
          ids: f.ids,
        })),
      },
      { candidates: 3, seed: 1, symbolLength: 5 },
    );
    const { feeds, count } = parseScoreRequest(body, demo, limits, 'demo');
    expect(count).toBe(3);
    expect(feeds['history']!.shape).toEqual([3, 5]);
    expect(feeds['historyMask']).toMatchObject({ dtype: 'bool', shape: [3, 5] });
    expect(feeds['user']).toMatchObject({ dtype: 'int32', shape: [3] });
    const bad = structuredClone(body) as { samples: Array<{ history: number[] }> };
    bad.samples[2]!.history.pop();
    expect(() => parseScoreRequest(bad, demo, limits, 'demo')).toThrow(
      new RequestError('samples[2].history', "an array of 5 (int32[5]; 'seq' = 5 from samples[0].history)", 'an array of 4'),
    );
  });

  it('every error reads `<field>: expected <expected>, got <actual>`', () => {
    const e = new RequestError('user.x[3]', 'an int32 id in 0..9 (rows of emb/x)', '12');
    expect(e.message).toBe('user.x[3]: expected an int32 id in 0..9 (rows of emb/x), got 12');
    expect(e.toJSON()).toEqual({ error: e.message, field: 'user.x[3]', expected: 'an int32 id in 0..9 (rows of emb/x)', actual: '12' });
    expect(e.status).toBe(400);
  });
});

describe('Limiter', () => {
  it('runs at most maxInflight at once, queues up to maxQueue in order, turns the rest away', async () => {
    const limiter = new Limiter(1, 1);
    const order: string[] = [];
    let release!: () => void;
    const a = limiter.run(
      () =>
        new Promise<void>((ok) => {
          order.push('a');
          release = ok;
        }),
    );
    const b = limiter.run(async () => {
      order.push('b');
    });
    await expect(
      limiter.run(async () => {
        order.push('c');
      }),
    ).rejects.toThrow(new BusyError('server busy: 1 run(s) in flight and 1 queued (--max-inflight 1, --max-queue 1)'));
    expect([limiter.inflight, limiter.queued]).toEqual([1, 1]);
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect([limiter.inflight, limiter.queued]).toEqual([0, 0]);
    // a failing run frees its slot
    await expect(
      limiter.run(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(limiter.inflight).toBe(0);
  });
});
