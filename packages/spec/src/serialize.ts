/**
 * The JSON form of a graph: versioned, exact (re-serialising a loaded graph gives the same text),
 * and checked on load by replaying every node through the op rules, so a hand-edited or corrupt
 * file fails with the path of the bad field instead of later inside a backend.
 */
import { isDType } from './dtype.ts';
import { GraphBuilder, GraphError } from './builder.ts';
import type { FeatureSchema, Graph, Initializer } from './graph.ts';
import { OPS, type AttrKind, isOpName } from './ops.ts';

export const GRAPH_FORMAT = 'lctr-graph';
export const GRAPH_VERSION = 1;

const encodeNumber = (v: number): number | string => (Number.isFinite(v) ? v : String(v));
const decodeNumber = (v: unknown): unknown => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

function encodeAttrs(op: string, attrs: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const defs = (isOpName(op) ? OPS[op].attrs : {}) as Record<string, { kind: AttrKind }>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) {
    const kind = defs[k]?.kind;
    out[k] = kind === 'float' ? encodeNumber(v as number) : kind === 'floats' ? (v as number[]).map(encodeNumber) : v;
  }
  return out;
}

function decodeAttrs(op: string, attrs: Record<string, unknown>): Record<string, unknown> {
  const defs = (isOpName(op) ? OPS[op].attrs : {}) as Record<string, { kind: AttrKind }>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) {
    const kind = defs[k]?.kind;
    out[k] = kind === 'float' ? decodeNumber(v) : kind === 'floats' && Array.isArray(v) ? v.map(decodeNumber) : v;
  }
  return out;
}

/** Plain JSON object of a graph (format + version first). */
export function graphToJSON(g: Graph): Record<string, unknown> {
  return {
    format: GRAPH_FORMAT,
    version: GRAPH_VERSION,
    name: g.name,
    inputs: g.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: [...i.shape] })),
    params: g.params.map((p) => ({ name: p.name, dtype: p.dtype, shape: [...p.shape], init: { ...p.init } })),
    nodes: g.nodes.map((n) => ({
      id: n.id,
      op: n.op,
      inputs: [...n.inputs],
      attrs: encodeAttrs(n.op, n.attrs),
      outputs: n.outputs.map((o) => ({ id: o.id, dtype: o.dtype, shape: [...o.shape] })),
    })),
    outputs: { ...g.outputs },
    meta: g.meta,
  };
}

export function serializeGraph(g: Graph): string {
  return JSON.stringify(graphToJSON(g), null, 1);
}

export class GraphFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphFormatError';
  }
}

type Json = unknown;
function obj(v: Json, path: string): Record<string, Json> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new GraphFormatError(`${path}: expected an object, got ${JSON.stringify(v)?.slice(0, 60)}`);
  return v as Record<string, Json>;
}
function arr(v: Json, path: string): Json[] {
  if (!Array.isArray(v)) throw new GraphFormatError(`${path}: expected an array, got ${JSON.stringify(v)?.slice(0, 60)}`);
  return v;
}
function str(v: Json, path: string): string {
  if (typeof v !== 'string') throw new GraphFormatError(`${path}: expected a string, got ${JSON.stringify(v)?.slice(0, 60)}`);
  return v;
}
function dims(v: Json, path: string, allowSymbols: boolean): Array<number | string> {
  return arr(v, path).map((d, i) => {
    if ((Number.isInteger(d) && (d as number) >= 0) || (allowSymbols && typeof d === 'string')) return d as number | string;
    throw new GraphFormatError(
      `${path}[${i}]: expected ${allowSymbols ? 'a non-negative integer or a symbolic name' : 'a non-negative integer'}, got ` +
        `${JSON.stringify(d)}`,
    );
  });
}

const INIT_FIELDS: Record<string, string[]> = {
  zeros: [],
  ones: [],
  constant: ['value'],
  xavierUniform: [],
  normal: ['std'],
  uniform: ['min', 'max'],
};

/** Load a graph from its JSON object or text; throws GraphFormatError (bad file) or GraphError (bad graph). */
export function graphFromJSON<S extends FeatureSchema = FeatureSchema, O extends string = string>(
  input: string | Json,
  source = 'graph JSON',
): Graph<S, O> {
  let json: Json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (e) {
      throw new GraphFormatError(`${source}: not valid JSON (${(e as Error).message})`);
    }
  }
  const root = obj(json, source);
  if (root['format'] !== GRAPH_FORMAT)
    throw new GraphFormatError(`${source}: format is ${JSON.stringify(root['format'])}, expected "${GRAPH_FORMAT}"`);
  if (root['version'] !== GRAPH_VERSION) {
    throw new GraphFormatError(
      `${source}: graph format version ${JSON.stringify(root['version'])} is not supported (this reader supports version ${GRAPH_VERSION})`,
    );
  }
  const name = str(root['name'], `${source}.name`);
  const schema: Record<string, { dtype: 'float32' | 'int32' | 'int64' | 'bool'; shape: Array<number | string> }> = {};
  arr(root['inputs'], `${source}.inputs`).forEach((i, k) => {
    const p = `${source}.inputs[${k}]`;
    const o = obj(i, p);
    const dtype = o['dtype'];
    if (!isDType(dtype)) throw new GraphFormatError(`${p}.dtype: expected float32, int32, int64 or bool, got ${JSON.stringify(dtype)}`);
    schema[str(o['name'], `${p}.name`)] = { dtype, shape: dims(o['shape'], `${p}.shape`, true) };
  });
  let b: GraphBuilder;
  try {
    b = new GraphBuilder(name, schema);
  } catch (e) {
    throw new GraphFormatError(`${source}.inputs: ${(e as Error).message}`);
  }
  arr(root['params'], `${source}.params`).forEach((pj, k) => {
    const p = `${source}.params[${k}]`;
    const o = obj(pj, p);
    if (o['dtype'] !== 'float32') throw new GraphFormatError(`${p}.dtype: expected float32, got ${JSON.stringify(o['dtype'])}`);
    const init = obj(o['init'], `${p}.init`);
    const kind = str(init['kind'], `${p}.init.kind`);
    const fields = INIT_FIELDS[kind];
    if (!fields)
      throw new GraphFormatError(
        `${p}.init.kind: unknown initializer ${JSON.stringify(kind)} (known: ${Object.keys(INIT_FIELDS).join(', ')})`,
      );
    for (const f of fields)
      if (typeof init[f] !== 'number') throw new GraphFormatError(`${p}.init.${f}: expected a number, got ${JSON.stringify(init[f])}`);
    try {
      b.param(str(o['name'], `${p}.name`), dims(o['shape'], `${p}.shape`, false) as number[], init as unknown as Initializer);
    } catch (e) {
      throw new GraphFormatError(`${p}: ${(e as Error).message}`);
    }
  });
  arr(root['nodes'], `${source}.nodes`).forEach((nj, k) => {
    const p = `${source}.nodes[${k}]`;
    const o = obj(nj, p);
    const id = str(o['id'], `${p}.id`);
    const op = str(o['op'], `${p}.op`);
    const inputs = arr(o['inputs'], `${p}.inputs`).map((v, j) => {
      const vid = str(v, `${p}.inputs[${j}]`);
      try {
        return b.value(vid);
      } catch {
        throw new GraphFormatError(`${p}.inputs[${j}]: value '${vid}' is not defined before node '${id}'`);
      }
    });
    const attrs = decodeAttrs(op, obj(o['attrs'] ?? {}, `${p}.attrs`));
    let outs;
    try {
      outs = b.node(op, inputs, attrs, id);
    } catch (e) {
      if (e instanceof GraphError) throw new GraphFormatError(`${p}: ${e.message}`);
      throw e;
    }
    const stored = arr(o['outputs'], `${p}.outputs`);
    if (stored.length !== outs.length)
      throw new GraphFormatError(`${p}.outputs: ${op} has ${outs.length} output(s), the file lists ${stored.length}`);
    stored.forEach((sj, j) => {
      const s = obj(sj, `${p}.outputs[${j}]`);
      const got = outs[j]!;
      const same = s['id'] === got.id && s['dtype'] === got.dtype && JSON.stringify(s['shape']) === JSON.stringify(got.shape);
      if (!same) {
        throw new GraphFormatError(
          `${p}.outputs[${j}]: file says ${JSON.stringify(s)}, the op rules give ` +
            `${JSON.stringify({ id: got.id, dtype: got.dtype, shape: got.shape })}`,
        );
      }
    });
  });
  const outputs = obj(root['outputs'], `${source}.outputs`);
  const handles: Record<string, ReturnType<GraphBuilder['value']>> = {};
  for (const [k, v] of Object.entries(outputs)) {
    const vid = str(v, `${source}.outputs.${k}`);
    try {
      handles[k] = b.value(vid);
    } catch {
      throw new GraphFormatError(`${source}.outputs.${k}: value '${vid}' is not in the graph`);
    }
  }
  const meta = root['meta'] === undefined ? {} : obj(root['meta'], `${source}.meta`);
  const g = b.build(handles, meta);
  if (g.nodes.length !== arr(root['nodes'], '').length || g.params.length !== arr(root['params'], '').length) {
    throw new GraphFormatError(`${source}: holds nodes or parameters that no output depends on`);
  }
  return g as unknown as Graph<S, O>;
}
