/**
 * torchSource: a graph of the IR as a readable Python module holding one torch.nn.Module.
 * One line per IR node (its id, op and IR type in a comment), parameters in a ParameterDict keyed
 * by the spec's parameter paths, forward(**inputs) returning a dict of the graph's named outputs;
 * gradients are torch autograd's.
 */
import {
  type Dim,
  type Graph,
  type OpAttrs,
  type OpName,
  type ValueInfo,
  canonicalDim,
  formatShape,
  indexUses,
  isStaticDim,
  valueInfo,
} from '@lctr/spec';
import { OPS } from '@lctr/spec';
import { TORCH_DTYPE, type TorchCtx, pyLiteral } from './lower/context.ts';
import { LOWERINGS, loweringOf } from './lower/table.ts';
import { PRELUDE } from './prelude.ts';
import { DISTRIBUTED_PRELUDE, batchReductions } from './distributed.ts';

export type TorchDType = 'float64' | 'float32';

export interface TorchSourceOptions {
  /** The dtype every float value computes in (parameters, float inputs, float outputs). */
  readonly dtype: TorchDType;
  /** Name of the nn.Module subclass; 'Model' by default. */
  readonly className?: string;
  /**
   * Data-parallel form (src/distributed.ts): reductions over the batch axis become all-reduces
   * over the ranks of the module's BATCH_GROUP (plain reductions while it is None); a graph that
   * mixes samples any other way is refused. Default false.
   */
  readonly distributed?: boolean;
}

/** Thrown when a graph cannot be written as a module (a node with no lowering, a bad class name). */
export class TorchSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchSourceError';
  }
}

/**
 * The ParameterDict key of a spec parameter path. torch forbids '.' in a parameter key, so '.' is
 * written '%2E' ('/' is allowed and kept); spec paths cannot hold '%', so the key maps back
 * exactly (`specName`). state_dict keys are then `params.<key>`.
 */
export function paramKey(specName: string): string {
  return specName.replaceAll('.', '%2E');
}
export function specName(key: string): string {
  return key.replaceAll('%2E', '.');
}

const PY_RESERVED = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
  'match',
  'case',
  // names the generated code itself uses
  'self',
  'inputs',
  'p',
  'torch',
  'nn',
  'F',
  'math',
  'DTYPE',
  'FLOAT32_LOWEST',
  'print',
  'len',
  'int',
  'float',
  'tuple',
  'list',
  'dict',
]);

/** Unique Python identifiers derived from IR names ('lap/msa/w_q' -> lap_msa_w_q). */
class Names {
  private readonly used = new Set<string>(PY_RESERVED);
  take(raw: string): string {
    let base = raw.replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z_]/.test(base)) base = `v_${base}`;
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

const show = (v: ValueInfo) => `${v.dtype}${formatShape(v.shape)}`;

/** A run-time dim as Python: 4, d_batch, 4 * d_seq. */
function dimExpr(d: Dim, dimVar: ReadonlyMap<string, string>): string {
  const c = canonicalDim(d);
  if (isStaticDim(c)) return String(c);
  return c
    .split('*')
    .map((part) =>
      /^\d+$/.test(part)
        ? part
        : (dimVar.get(part) ??
          (() => {
            throw new TorchSourceError(`symbolic dim '${part}' (in '${c}') is bound by no input of the graph`);
          })()),
    )
    .join(' * ');
}

/** The generated module's source for a graph (see the file comment). */
export function torchSource(graph: Graph, opts: TorchSourceOptions): string {
  const className = opts.className ?? 'Model';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(className) || PY_RESERVED.has(className)) {
    throw new TorchSourceError(`className '${className}' is not a usable Python class name`);
  }
  if (opts.dtype !== 'float64' && opts.dtype !== 'float32') {
    throw new TorchSourceError(`dtype must be 'float64' or 'float32', got ${JSON.stringify(opts.dtype)}`);
  }
  let global = new Set<string>();
  if (opts.distributed) {
    try {
      global = batchReductions(graph);
    } catch (e) {
      throw new TorchSourceError((e as Error).message);
    }
  }
  const names = new Names();
  const valueVar = new Map<string, string>();
  const init: string[] = [];
  const body: string[] = [];

  // symbolic dims: read once from the first input that carries each symbol
  const dimVar = new Map<string, string>();
  for (const inp of graph.inputs) {
    inp.shape.forEach((d, i) => {
      if (typeof d === 'string' && !dimVar.has(d)) {
        const v = names.take(`d_${d}`);
        dimVar.set(d, v);
        body.push(`${v} = inputs[${JSON.stringify(inp.name)}].shape[${i}]`);
      }
    });
  }
  // inputs: floats in the module's dtype; ints and bools as they come
  for (const inp of graph.inputs) {
    const v = names.take(inp.name);
    valueVar.set(inp.name, v);
    const read = `inputs[${JSON.stringify(inp.name)}]`;
    body.push(`${v} = ${inp.dtype === 'float32' ? `${read}.to(DTYPE)` : read}  # ${show(inp)}`);
  }
  // ids at padded positions read row 0 (the spec's prepareFeeds rule, the same pairing by name)
  const padded = new Map<string, string>();
  for (const use of indexUses(graph)) if (use.mask !== undefined) padded.set(use.input, use.mask);
  for (const [ids, mask] of padded) {
    body.push(`${valueVar.get(ids)} = _ids_padding_to_zero(${valueVar.get(ids)}, ${valueVar.get(mask)})`);
  }
  for (const prm of graph.params) valueVar.set(prm.name, `p[${JSON.stringify(prm.name)}]`);

  let constants = 0;
  for (const node of graph.nodes) {
    const lower = loweringOf(node.op);
    if (typeof lower !== 'function') {
      throw new TorchSourceError(`node '${node.id}': op '${node.op}' has no PyTorch lowering (graph '${graph.name}')`);
    }
    const ctx: TorchCtx = {
      inputInfo: node.inputs.map((id) => valueInfo(graph, id)),
      outputInfo: node.outputs,
      shape: (dims) => `(${dims.map((d) => dimExpr(d, dimVar)).join(', ')}${dims.length === 1 ? ',' : ''})`,
      constant: (dtype, shape, values) => {
        const buf = `const_${names.take(node.id)}_${constants++}`;
        const lits = values.map((x) => pyLiteral(dtype, x)).join(', ');
        init.push(
          `self.register_buffer(${JSON.stringify(buf)}, torch.tensor([${lits}], ` +
            `dtype=${TORCH_DTYPE[dtype]}).reshape(${`(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`}), persistent=False)`,
        );
        return `self.${buf}`;
      },
    };
    const args = node.inputs.map((id) => {
      const v = valueVar.get(id);
      if (v === undefined)
        throw new TorchSourceError(
          `node '${node.id}' (${node.op}) reads '${id}', which no earlier node, input or parameter of graph '${graph.name}' defines`,
        );
      return v;
    });
    let expr = lower(ctx, node, args, node.attrs as OpAttrs[typeof node.op]);
    if (global.has(node.id)) {
      // a reduction across samples: summed over the ranks (src/distributed.ts)
      const { axes, keepDims } = node.attrs as unknown as OpAttrs['reduceSum'];
      expr =
        `${node.op === 'reduceSum' ? '_batch_sum' : '_batch_mean'}(${args[0]}, (${axes.join(', ')}${axes.length === 1 ? ',' : ''}), ` +
        `${keepDims ? 'True' : 'False'})`;
    }
    const outNames = OPS[node.op].outputs as readonly string[];
    const vars = node.outputs.map((o, k) => {
      const v = names.take(node.outputs.length === 1 ? node.id : `${node.id}_${outNames[k] ?? k}`);
      valueVar.set(o.id, v);
      return v;
    });
    body.push(`${vars.join(', ')} = ${expr}  # ${node.id}: ${node.op} -> ${node.outputs.map(show).join(', ')}`);
  }

  const outputs = Object.entries(graph.outputs as Record<string, string>);
  const ret = outputs.map(([name, id]) => `${JSON.stringify(name)}: ${valueVar.get(id)}`).join(', ');
  const paramTable = graph.params.map(
    (prm) => `        ${JSON.stringify(prm.name)}: (${prm.shape.join(', ')}${prm.shape.length === 1 ? ',' : ''}),`,
  );
  const inputTable = graph.inputs.map((i) => `        ${JSON.stringify(i.name)}: ${JSON.stringify(show(i))},`);
  const lines = [
    `"""`,
    `Graph '${graph.name}' as a torch.nn.Module, generated by @lctr/backend-torch (torchSource): do not edit,`,
    `regenerate. ${graph.nodes.length} nodes, ${graph.params.length} parameters, floats in ${opts.dtype}.`,
    ``,
    `Parameters live in self.params, a ParameterDict keyed by the spec's parameter path ('lap/msa/w_q');`,
    `torch forbids '.' in a key, so a '.' of a path is written '%2E' there (paths never hold '%').`,
    `spec_parameters() maps the paths back; load_spec_weights() takes a dict of path -> tensor.`,
    `forward(**inputs) takes the graph's inputs by name and returns a dict of its named outputs.`,
    `"""`,
    `import math`,
    ``,
    `import torch`,
    `from torch import nn`,
    `import torch.nn.functional as F`,
    ``,
    `DTYPE = torch.${opts.dtype}`,
    PRELUDE,
    ...(opts.distributed ? [DISTRIBUTED_PRELUDE] : []),
    ``,
    `class ${className}(nn.Module):`,
    `    GRAPH = ${JSON.stringify(graph.name)}`,
    `    DISTRIBUTED = ${opts.distributed ? 'True' : 'False'}  # ${global.size} reduction(s) across samples are all-reduced over ` +
      `BATCH_GROUP`,
    `    INPUTS = {`,
    ...inputTable,
    `    }`,
    `    OUTPUTS = (${outputs.map(([n]) => JSON.stringify(n)).join(', ')}${outputs.length === 1 ? ',' : ''})`,
    `    PARAMS = {`,
    ...paramTable,
    `    }`,
    ``,
    `    def __init__(self):`,
    `        super().__init__()`,
    `        # zeros until load_spec_weights (the spec's initializers draw the first values, in @lctr/spec)`,
    `        self.params = nn.ParameterDict({name.replace(".", "%2E"): nn.Parameter(torch.zeros(shape, dtype=DTYPE)) for name, shape in ` +
      `self.PARAMS.items()})`,
    ...init.map((l) => `        ${l}`),
    ``,
    `    def spec_parameters(self):`,
    `        return {name: self.params[name.replace(".", "%2E")] for name in self.PARAMS}`,
    ``,
    `    def load_spec_weights(self, weights):`,
    `        missing = [name for name in self.PARAMS if name not in weights]`,
    `        if missing:`,
    `            raise KeyError(f"weights for graph '{self.GRAPH}' miss {len(missing)} parameter(s): {', '.join(missing)}")`,
    `        with torch.no_grad():`,
    `            for name, param in self.spec_parameters().items():`,
    `                w = weights[name]`,
    `                if tuple(w.shape) != tuple(param.shape):`,
    `                    raise ValueError(f"weight '{name}': expected shape {list(param.shape)}, got {list(w.shape)}")`,
    `                param.copy_(w.to(DTYPE))`,
    ``,
    `    def forward(self, **inputs):`,
    `        missing = [name for name in self.INPUTS if name not in inputs]`,
    `        if missing:`,
    `            raise TypeError(f"graph '{self.GRAPH}' is missing input(s): {', '.join(missing)}")`,
    `        p = self.spec_parameters()`,
    ...body.map((l) => `        ${l}`),
    `        return {${ret}}`,
    ``,
  ];
  return lines.join('\n');
}

/** The ops the table lowers (every op of the vocabulary, by its type). */
export const LOWERED_OPS = Object.keys(LOWERINGS) as OpName[];
