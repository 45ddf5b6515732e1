/**
 * The serving contract: the layout read from graph meta (shapes only when meta is silent), the
 * request schema, and the two request forms (the /score JSON object, whole tensors as the Open
 * Inference Protocol sends them) giving the same feeds under the same rules and messages.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSpec,
  type Graph,
  type RequestSchema,
  type TensorInput,
  GraphBuilder,
  IdOutOfRangeError,
  RequestError,
  Rng,
  SchemaError,
  buildDin,
  buildIfa,
  buildLifelong,
  buildLifelongTrain,
  parseScoreRequest,
  parseTensorRequest,
  requestSchemaOf,
  servingLayoutOf,
  tensorShapeOf,
} from '../src/index.ts';

type Json = number | boolean | Json[];
const limits = { maxCandidates: 10 };

/** A valid value of `f` (ids in their tables, masks a valid prefix), its symbolic dims `sym` long. */
function valueFor(f: FeatureSpec, rng: Rng, sym = 6): Json {
  const dims = f.shape.map((d) => (typeof d === 'number' ? d : sym));
  const rows = (col: number | undefined) =>
    Math.min(...f.ids.filter((r) => r.column === undefined || r.column === col).map((r) => r.rows), 3);
  const at = (depth: number, col: number | undefined): Json => {
    if (depth === dims.length)
      return f.dtype === 'float32' ? Math.fround(rng.uniform(-1, 1)) : f.dtype === 'bool' ? true : rng.int(rows(col));
    return Array.from({ length: dims[depth]! }, (_, i) => at(depth + 1, depth === dims.length - 1 ? i : col));
  };
  return at(0, undefined);
}

/** The same request as a /score body and as tensors (`[1, ...]` user side, candidates stacked; batch: samples stacked). */
function bothForms(s: RequestSchema, n: number, seed: number): { body: Record<string, unknown>; tensors: TensorInput[] } {
  const rng = new Rng(seed);
  const tensors: TensorInput[] = [];
  const tensor = (f: FeatureSpec, rows: Json[]) => {
    const lead = s.layout === 'batch' ? [n] : f.side === 'user' ? [1] : s.layout === 'candidateSet' ? [1, n] : [n];
    const shape = [...lead, ...(f.shape.length ? shapeOf(rows[0]!) : s.layout === 'batch' ? [1] : [])];
    tensors.push({ name: f.name, shape, data: (rows as unknown[]).flat(Infinity), field: `inputs.${f.name}` });
  };
  const shapeOf = (v: Json): number[] => (Array.isArray(v) ? [v.length, ...shapeOf(v[0]!)] : []);
  if (s.layout === 'batch') {
    const samples = Array.from({ length: n }, () => Object.fromEntries(s.features.map((f) => [f.name, valueFor(f, rng)])));
    for (const f of s.features)
      tensor(
        f,
        samples.map((x) => x[f.name]!),
      );
    return { body: { samples }, tensors };
  }
  const user = Object.fromEntries(s.features.filter((f) => f.side === 'user').map((f) => [f.name, valueFor(f, rng)]));
  const candidates = Array.from({ length: n }, () =>
    Object.fromEntries(s.features.filter((f) => f.side === 'candidate' && !f.filled).map((f) => [f.name, valueFor(f, rng)])),
  );
  for (const f of s.features)
    tensor(f, f.side === 'user' ? [user[f.name]!] : f.filled ? Array(n).fill(true) : candidates.map((c) => c[f.name]!));
  return { body: { user, candidates }, tensors };
}

const withMeta = (meta: Record<string, unknown>): Graph => {
  const b = new GraphBuilder('odd', { a: { dtype: 'float32', shape: [1, 3] } });
  return b.build({ prob: b.sigmoid(b.reduceSum(b.expectDtype(b.value('a'), 'float32'), [1])) }, meta);
};

describe('the serving layout', () => {
  it('comes from graph meta: lifelong serving -> request, lifelong training -> batch, IFA serving -> candidateSet', () => {
    expect(buildLifelong().meta['layout']).toBe('shared');
    expect(servingLayoutOf(buildLifelong())).toBe('request');
    expect(servingLayoutOf(buildLifelongTrain())).toBe('batch');
    expect(servingLayoutOf(buildIfa())).toBe('candidateSet');
    expect(servingLayoutOf(buildDin())).toBe('batch'); // no layout in its meta: every input leads with 'batch'
  });

  it('meta wins over shapes, and the schema holds every input to it', () => {
    expect(servingLayoutOf(withMeta({}))).toBe('candidateSet'); // shapes: every input leads with 1
    const g = withMeta({ layout: 'perSample' });
    expect(servingLayoutOf(g)).toBe('batch');
    expect(() => requestSchemaOf(g)).toThrow(
      new SchemaError("graph 'odd': output 'prob' must be float32[batch] (one score per sample), got float32[1]"),
    );
  });
});

describe('the two request forms', () => {
  const cases: Array<[string, () => Graph, number]> = [
    ['lifelong (request)', buildLifelong, 4],
    ['din (batch)', buildDin, 3],
    ['ifa (candidateSet)', buildIfa, 5],
  ];
  it.each(cases)('%s: the same feeds from the /score body and from tensors', (_, build, n) => {
    const s = requestSchemaOf(build());
    const { body, tensors } = bothForms(s, n, 7);
    const a = parseScoreRequest(body, s, limits, 'm');
    const b = parseTensorRequest(tensors, s, limits);
    expect(b.count).toBe(n);
    expect(b.feeds).toEqual(a.feeds);
  });

  it('tensor shapes follow config.pbtxt: a [batch] input goes as [batch, 1], others as the graph declares', () => {
    const din = requestSchemaOf(buildDin());
    const cand = din.features.find((f) => f.name === 'candidate')!;
    expect([cand.graphShape, tensorShapeOf(cand, 'batch')]).toEqual([['batch'], ['batch', 1]]);
    const lcn = requestSchemaOf(buildLifelong());
    expect(lcn.features.map((f) => tensorShapeOf(f, 'request'))).toEqual(lcn.features.map((f) => f.graphShape));
  });

  describe('tensor-form refusals name the input, the expected and the actual value', () => {
    const s = requestSchemaOf(buildLifelong());
    const rows = (name: string) => s.features.find((f) => f.name === name)!.ids[0]!.rows;
    const N = s.features.find((f) => f.name === 'lifelongSeq')!.shape[0] as number;
    const good = () => structuredClone(bothForms(s, 3, 11).tensors) as Array<TensorInput & { shape: number[]; data: unknown[] }>;
    const pick = (t: ReturnType<typeof good>, name: string) => t.find((x) => x.name === name)!;
    const cases: Array<[string, (t: ReturnType<typeof good>) => unknown, string]> = [
      [
        'missing input',
        (t) => t.filter((x) => x.name !== 'lifelongMask'),
        `inputs.lifelongMask: expected an input 'lifelongMask' of shape [1, ${N}] (bool), got nothing (missing input)`,
      ],
      [
        'unknown input',
        (t) => [...t, { name: 'age', shape: [1], data: [3], field: 'inputs.age' }],
        `inputs.age: expected one of the inputs ${s.features.map((f) => f.name).join(', ')}, got unknown input 'age'`,
      ],
      [
        'wrong static dim',
        (t) => {
          pick(t, 'lifelongSeq').shape = [1, N - 1];
          return t;
        },
        `inputs.lifelongSeq.shape: expected shape [1, ${N}] (int32[1, ${N}]), got [1, ${N - 1}]`,
      ],
      [
        'wrong rank',
        (t) => {
          pick(t, 'lifelongSeq').shape = [N];
          return t;
        },
        `inputs.lifelongSeq.shape: expected shape [1, ${N}] (int32[1, ${N}]), got [${N}]`,
      ],
      [
        'candidates disagree',
        (t) => {
          const c = pick(t, 'candidateCategory');
          c.shape = [2];
          c.data.pop();
          return t;
        },
        "inputs.candidateCategory.shape: expected shape [3] (int32[cand]; 'cand' = 3 from inputs.candidate.shape), got [2]",
      ],
      [
        'too many candidates',
        (t) => {
          const c = pick(t, 'candidate');
          c.shape = [11];
          return t;
        },
        "inputs.candidate.shape: expected 1..10 candidates on 'cand' (--max-candidates 10) at axis 0, got 11 (shape [11])",
      ],
      [
        'data of the wrong size',
        (t) => {
          pick(t, 'lifelongSeq').data.pop();
          return t;
        },
        `inputs.lifelongSeq.data: expected ${N} values (int32[1, ${N}], row-major), got an array of ${N - 1}`,
      ],
      [
        'id out of range',
        (t) => {
          pick(t, 'lifelongSeq').data[5] = rows('lifelongSeq');
          return t;
        },
        `inputs.lifelongSeq.data[5]: expected an int32 id in 0..${rows('lifelongSeq') - 1} (rows of emb/sourceItem), got ` +
          `${rows('lifelongSeq')}`,
      ],
      [
        'a profile column out of its table',
        (t) => {
          pick(t, 'profile').data[1] = 99;
          return t;
        },
        `inputs.profile.data[1]: expected an int32 id in 0..${s.features.find((f) => f.name === 'profile')!.ids[1]!.rows - 1} (rows of ` +
          `emb/profile1), got 99`,
      ],
      [
        'bad bool',
        (t) => {
          pick(t, 'lifelongMask').data[0] = 2;
          return t;
        },
        'inputs.lifelongMask.data[0]: expected true, false, 0 or 1 (bool), got 2',
      ],
    ];
    it.each(cases)('%s', (_, edit, message) => {
      expect(() => parseTensorRequest(edit(good()) as TensorInput[], s, limits)).toThrow(RequestError);
      expect(() => parseTensorRequest(edit(good()) as TensorInput[], s, limits)).toThrow(message);
    });

    it('an id out of its table is an IdOutOfRangeError naming the graph input (a server counts them per input)', () => {
      const t = good();
      pick(t, 'lifelongSeq').data[2] = -5;
      const e = (() => {
        try {
          parseTensorRequest(t, s, limits);
        } catch (x) {
          return x;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(IdOutOfRangeError);
      expect((e as IdOutOfRangeError).input).toBe('lifelongSeq');
    });

    it('ids at padded positions may hold anything (the model reads row 0 there)', () => {
      const t = good();
      pick(t, 'lifelongMask').data[N - 1] = false;
      pick(t, 'lifelongSeq').data[N - 1] = -1;
      expect(parseTensorRequest(t, s, limits).feeds['lifelongSeq']!.data[N - 1]).toBe(-1);
    });
  });
});
