/**
 * The Triton layout of an export: <repo>/<name>/config.pbtxt and <repo>/<name>/1/model.onnx.
 * config.pbtxt is parsed here (a small parser of the protobuf text format, below) and checked
 * against the ModelProto of model.onnx (read with backend-onnx's onnx-proto classes): every input
 * and output of the ONNX graph, no other, with the same data type, rank and dims (-1 for symbolic
 * dims; the batch dim is Triton's when max_batch_size > 0). Run for the demo, a trained din
 * (batch layout) and a trained lcn (per-request layout).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, buildLifelong } from '@lctr/spec';
import { initTfjs } from '@lctr/backend-tfjs';
import { onnx } from '@lctr/backend-onnx';
import { ExportError, exportCheckpoint, exportModel, formatTritonConfig, tritonConfigOf } from '../src/index.ts';
import { type Run, lifelongArch, shortArch, trainTiny } from './tiny-runs.ts';

// ---- a parser of the protobuf text format (the subset config.pbtxt files use) ----

type Scalar = { readonly kind: 'string' | 'number' | 'enum'; readonly text: string };
interface PbMessage {
  readonly [field: string]: Array<Scalar | PbMessage>;
}
const isScalar = (v: Scalar | PbMessage): v is Scalar => typeof (v as Scalar).kind === 'string' && typeof (v as Scalar).text === 'string';

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s+|#[^\n]*|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([{}[\]:,])|(.)/gy;
  for (let m = re.exec(text); m && m.index < text.length; m = re.exec(text)) {
    if (m[6] !== undefined) throw new Error(`pbtxt: unexpected character ${JSON.stringify(m[6])} at offset ${m.index}`);
    const t = m[1] ?? m[2] ?? m[3] ?? m[4];
    if (t !== undefined) tokens.push(t);
  }
  return tokens;
}

function parsePbtxt(text: string): PbMessage {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const take = (want?: string) => {
    const t = tokens[i++];
    if (t === undefined || (want !== undefined && t !== want))
      throw new Error(`pbtxt: expected ${want ?? 'a token'} at token ${i - 1}, got ${t ?? 'the end'}`);
    return t;
  };
  const scalar = (t: string): Scalar =>
    t.startsWith('"')
      ? { kind: 'string', text: JSON.parse(t) as string }
      : /^-?\d/.test(t)
        ? { kind: 'number', text: t }
        : /^[A-Za-z_]/.test(t)
          ? { kind: 'enum', text: t }
          : (() => {
              throw new Error(`pbtxt: expected a value, got ${t}`);
            })();
  const value = (): Scalar | PbMessage => (peek() === '{' ? message(true) : scalar(take()));
  function message(braced: boolean): PbMessage {
    if (braced) take('{');
    const msg: Record<string, Array<Scalar | PbMessage>> = {};
    while (peek() !== undefined && peek() !== '}') {
      const field = take();
      if (!/^[A-Za-z_]\w*$/.test(field)) throw new Error(`pbtxt: expected a field name, got ${field}`);
      if (peek() === ':') take(':');
      const values = (msg[field] ??= []);
      if (peek() === '[') {
        take('[');
        while (peek() !== ']') {
          values.push(value());
          if (peek() === ',') take(',');
        }
        take(']');
      } else {
        values.push(value());
      }
    }
    if (braced) take('}');
    return msg;
  }
  const root = message(false);
  if (i !== tokens.length) throw new Error(`pbtxt: unexpected '${tokens[i]}' at token ${i}`);
  return root;
}

function only(msg: PbMessage, field: string): Scalar | PbMessage {
  const v = msg[field];
  if (!v || v.length !== 1) throw new Error(`pbtxt: expected exactly one '${field}', got ${v?.length ?? 0}`);
  return v[0]!;
}
function scalarOf(msg: PbMessage, field: string, kind: Scalar['kind']): string {
  const v = only(msg, field);
  if (!isScalar(v) || v.kind !== kind) throw new Error(`pbtxt: '${field}' must be a ${kind}, got ${JSON.stringify(v)}`);
  return v.text;
}
const numbers = (msg: PbMessage, field: string): number[] =>
  (msg[field] ?? []).map((v) => {
    if (!isScalar(v) || v.kind !== 'number') throw new Error(`pbtxt: '${field}' must hold numbers, got ${JSON.stringify(v)}`);
    return Number(v.text);
  });
const messages = (msg: PbMessage, field: string): PbMessage[] =>
  (msg[field] ?? []).map((v) => {
    if (isScalar(v)) throw new Error(`pbtxt: '${field}' must hold messages, got ${JSON.stringify(v)}`);
    return v;
  });

// ---- config.pbtxt vs the ONNX ModelProto ----

/** TensorProto.DataType codes -> inference.DataType names (FLOAT, INT32, INT64, BOOL). */
const ONNX_TO_TRITON: Readonly<Record<number, string>> = { 1: 'TYPE_FP32', 6: 'TYPE_INT32', 7: 'TYPE_INT64', 9: 'TYPE_BOOL' };

interface OnnxTensor {
  readonly name: string;
  readonly type: string;
  readonly dims: number[];
  readonly leadsWithBatch: boolean;
}

type ValueInfoProto = NonNullable<NonNullable<ReturnType<typeof onnx.ModelProto.decode>['graph']>['input']>[number];

function onnxTensors(values: readonly ValueInfoProto[], skip: ReadonlySet<string>): OnnxTensor[] {
  return values
    .filter((v) => !skip.has(v.name!))
    .map((v) => {
      const t = v.type!.tensorType!;
      const dims = t.shape!.dim!;
      return {
        name: v.name!,
        type: ONNX_TO_TRITON[t.elemType!] ?? `ONNX type ${t.elemType}`,
        dims: dims.map((d) => (d.dimParam ? -1 : Number(d.dimValue))),
        leadsWithBatch: dims[0]?.dimParam === 'batch',
      };
    });
}

/** Every ONNX input and output appears once in config.pbtxt with the same type, rank and dims; nothing else does. */
function expectConfigMatchesOnnx(pbtxt: string, onnxBytes: Uint8Array, want: { name: string; maxBatchSize: number; kind: string }): void {
  const cfg = parsePbtxt(pbtxt);
  expect(scalarOf(cfg, 'name', 'string')).toBe(want.name);
  expect(scalarOf(cfg, 'platform', 'string')).toBe('onnxruntime_onnx');
  const maxBatch = Number(scalarOf(cfg, 'max_batch_size', 'number'));
  expect(maxBatch).toBe(want.maxBatchSize);
  const groups = messages(cfg, 'instance_group');
  expect(groups).toHaveLength(1);
  expect(scalarOf(groups[0]!, 'kind', 'enum')).toBe(want.kind);
  expect(Number(scalarOf(groups[0]!, 'count', 'number'))).toBe(1);
  expect(messages(cfg, 'dynamic_batching')).toEqual(maxBatch > 0 ? [{}] : []);

  const model = onnx.ModelProto.decode(onnxBytes);
  const initializers = new Set(model.graph!.initializer!.map((t) => t.name!));
  for (const [field, tensors] of [
    ['input', onnxTensors(model.graph!.input!, initializers)],
    ['output', onnxTensors(model.graph!.output!, new Set())],
  ] as const) {
    const entries = messages(cfg, field);
    expect(entries.map((e) => scalarOf(e, 'name', 'string')).sort(), `${field} names`).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const e = entries.find((x) => scalarOf(x, 'name', 'string') === t.name)!;
      expect(scalarOf(e, 'data_type', 'enum'), `${field} '${t.name}' data_type`).toBe(t.type);
      const dims = numbers(e, 'dims');
      expect(dims.length, `${field} '${t.name}': Triton wants non-empty dims`).toBeGreaterThan(0);
      const reshape = e['reshape'] ? numbers(messages(e, 'reshape')[0]!, 'shape') : undefined;
      if (reshape)
        expect(
          dims.reduce((a, b) => a * b, 1),
          `${field} '${t.name}': reshape keeps the element count`,
        ).toBe(reshape.reduce((a, b) => a * b, 1));
      // the shape the model sees: Triton's batch dim (when batching) + the reshape, else the dims
      const seen = [...(maxBatch > 0 ? [-1] : []), ...(reshape ?? dims)];
      if (maxBatch > 0) expect(t.leadsWithBatch, `${field} '${t.name}' leads with 'batch' in the ONNX graph`).toBe(true);
      expect(seen.length, `${field} '${t.name}' rank`).toBe(t.dims.length);
      expect(seen, `${field} '${t.name}' dims`).toEqual(t.dims);
    }
  }
}

// ---- the exports ----

const base = mkdtempSync(join(tmpdir(), 'lctr-export-triton-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const repo = join(base, 'models');
const runs: Record<string, Run> = {};
const files = (name: string) => ({
  pbtxt: readFileSync(join(repo, name, 'config.pbtxt'), 'utf8'),
  onnx: readFileSync(join(repo, name, '1', 'model.onnx')),
});

beforeAll(async () => {
  await initTfjs({ backend: 'cpu', log: () => {} });
  runs['din'] = await trainTiny(base, 'din', shortArch);
  runs['lcn'] = await trainTiny(base, 'lcn', lifelongArch);
});

describe('config.pbtxt of an export matches its model.onnx', () => {
  it("demo (batch layout): batch dim is Triton's, [batch] tensors are dims [1] reshaped to []", async () => {
    await exportModel({ model: 'demo', out: repo, seed: 5 });
    const { pbtxt, onnx: bytes } = files('demo');
    expectConfigMatchesOnnx(pbtxt, bytes, { name: 'demo', maxBatchSize: 1024, kind: 'KIND_CPU' });
    expect(pbtxt).toContain('  {\n    name: "user"\n    data_type: TYPE_INT32\n    dims: [ 1 ]\n    reshape: { shape: [ ] }\n  }');
    expect(pbtxt).toContain('  {\n    name: "history"\n    data_type: TYPE_INT32\n    dims: [ -1 ]\n  }');
    expect(pbtxt).toContain('  {\n    name: "historyMask"\n    data_type: TYPE_BOOL\n    dims: [ -1 ]\n  }');
  });

  it('trained din (batch layout), max_batch_size from the options, on the GPU', async () => {
    await exportCheckpoint({
      checkpoint: runs['din']!.runDir,
      out: repo,
      samples: 8,
      latencyRequests: 0,
      maxBatchSize: 256,
      instanceKind: 'KIND_GPU',
    });
    const { pbtxt, onnx: bytes } = files('din');
    expectConfigMatchesOnnx(pbtxt, bytes, { name: 'din', maxBatchSize: 256, kind: 'KIND_GPU' });
    expect(pbtxt).toMatch(/\n {4}name: "prob"\n {4}data_type: TYPE_FP32\n {4}dims: \[ 1 \]\n {4}reshape: \{ shape: \[ \] \}\n/);
  });

  it('trained lcn (per-request layout): max_batch_size 0, user side [1, ...], candidates [-1]', async () => {
    await exportCheckpoint({ checkpoint: runs['lcn']!.runDir, out: repo, requests: 1, candidates: 4, latencyRequests: 0 });
    const { pbtxt, onnx: bytes } = files('lcn');
    expectConfigMatchesOnnx(pbtxt, bytes, { name: 'lcn', maxBatchSize: 0, kind: 'KIND_CPU' });
    expect(pbtxt).toContain('  {\n    name: "lifelongContext"\n    data_type: TYPE_INT32\n    dims: [ 1, 40, 2 ]\n  }');
    expect(pbtxt).toContain('  {\n    name: "candidate"\n    data_type: TYPE_INT32\n    dims: [ -1 ]\n  }');
    expect(pbtxt).not.toContain('dynamic_batching');
  });

  it('the parser and the check catch a config that does not match', async () => {
    const { pbtxt, onnx: bytes } = files('demo');
    expect(() =>
      expectConfigMatchesOnnx(pbtxt.replace('TYPE_BOOL', 'TYPE_INT32'), bytes, { name: 'demo', maxBatchSize: 1024, kind: 'KIND_CPU' }),
    ).toThrow("input 'historyMask' data_type");
    expect(() =>
      expectConfigMatchesOnnx(pbtxt.replace('dims: [ -1 ]', 'dims: [ -1, 1 ]'), bytes, {
        name: 'demo',
        maxBatchSize: 1024,
        kind: 'KIND_CPU',
      }),
    ).toThrow("input 'history' rank");
    expect(() => parsePbtxt('name: "x" input [ { name: "a" ')).toThrow('pbtxt: expected } at token 9, got the end');
  });
});

describe('tritonConfigOf', () => {
  it('names the field, the expected and the actual value', () => {
    const g = buildDemo();
    expect(() => tritonConfigOf(g, 'demo', { maxBatchSize: 0 })).toThrow(
      new ExportError('Triton max_batch_size: expected a positive integer, got 0'),
    );
    expect(() => tritonConfigOf(g, 'demo', { instanceCount: 1.5 })).toThrow(
      new ExportError('Triton instance_group count: expected a positive integer, got 1.5'),
    );
    expect(() => tritonConfigOf(g, 'demo', { instanceKind: 'KIND_TPU' as 'KIND_CPU' })).toThrow(
      new ExportError('Triton instance_group kind: expected KIND_CPU or KIND_GPU, got "KIND_TPU"'),
    );
    expect(() => tritonConfigOf(g, '.hidden')).toThrow(/^model name: expected a Triton model name .*, got "\.hidden"$/);
  });

  it('per-request graphs ignore max_batch_size; the format round-trips through the parser', () => {
    const c = tritonConfigOf(buildLifelong({ lifelongLen: 12, lap: { k1: 6, k2: 3 } } as Parameters<typeof buildLifelong>[0]), 'lcn', {
      maxBatchSize: 64,
    });
    expect(c.maxBatchSize).toBe(0);
    expect(c.dynamicBatching).toBe(false);
    const parsed = parsePbtxt(formatTritonConfig(c, ['a comment']));
    expect(messages(parsed, 'input').map((e) => [scalarOf(e, 'name', 'string'), numbers(e, 'dims')])).toEqual(
      c.inputs.map((t) => [t.name, [...t.dims]]),
    );
  });
});
