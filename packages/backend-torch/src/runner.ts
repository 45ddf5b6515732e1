/**
 * The runner: generated modules run by Debian's python3-torch (`/usr/bin/python3`), many cases per
 * python process (starting python and importing torch takes 1-2 s; a case takes milliseconds).
 * Inputs, weights and cotangents go in as safetensors files (spec's encodeSafetensors), outputs and
 * gradients come back the same way; torch 1.13 has no safetensors package, so the runner script
 * reads and writes the format itself (struct + json + torch.frombuffer).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Graph,
  type HostTensor,
  type Weights,
  checkFeeds,
  checkWeights,
  decodeSafetensors,
  encodeSafetensors,
  formatShape,
  valueInfo,
} from '@lctr/spec';
import { type TorchDType, torchSource } from './source.ts';

export const DEFAULT_TORCH_PYTHON = '/usr/bin/python3';
export const TORCH_INSTALL_HINT = 'install it with apt-get install -y python3-torch';

/** python3 or its torch package cannot be run at all. */
export class TorchUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchUnavailableError';
  }
}

export interface TorchCase {
  readonly graph: Graph;
  readonly weights: Weights;
  /** checked with the spec's checkFeeds before python sees them; padded ids are zeroed by the module itself */
  readonly inputs: Readonly<Record<string, HostTensor>>;
  /** a float output: the gradients of sum(output * cotangent) with respect to every parameter come back */
  readonly gradOutput?: string;
  /** same shape as gradOutput; all ones when left out */
  readonly cotangent?: HostTensor<'float32'>;
}

export interface TorchResult {
  /** every named output; floats in the module's dtype (Float64Array for float64) */
  readonly outputs: Record<string, HostTensor>;
  /** by parameter path, when gradOutput was given (zeros for a parameter off the path) */
  readonly grads: Map<string, HostTensor<'float32'>>;
}

/** One case of a batch: its result, or the error python raised for it (other cases still ran). */
export type TorchOutcome = { readonly ok: true; readonly result: TorchResult } | { readonly ok: false; readonly error: string };

export interface TorchRunOptions {
  readonly dtype: TorchDType;
  /** the python that has torch; /usr/bin/python3 by default (a pyenv python first on PATH does not see Debian's packages) */
  readonly python?: string;
  /** torch.set_num_threads; 1 by default (the machine is shared, the cases are small) */
  readonly threads?: number;
  readonly timeoutMs?: number;
}

/** safetensors in and out for python (torch 1.13 has no safetensors package); shared with the training script. */
export const PY_SAFETENSORS = String.raw`
CODES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64, "BOOL": torch.bool}
NAMES = {v: k for k, v in CODES.items()}

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = CODES[e["dtype"]]
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        if not raw:
            t = torch.empty(0, dtype=dtype)
        elif dtype == torch.bool:
            t = torch.frombuffer(raw, dtype=torch.uint8).to(torch.bool)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        out[name] = t.reshape(e["shape"])
    return out

def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = (t.to(torch.uint8) if t.dtype == torch.bool else t).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode("utf8")
    head += b" " * ((8 - (8 + len(head)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
`;

// argv[1]: the manifest. stdout: one JSON object. A case's failure is reported, not fatal.
const RUNNER = String.raw`
import importlib.util, json, struct, sys, traceback
try:
    import torch
except Exception as e:
    sys.stdout.write(json.dumps({"unavailable": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)

${PY_SAFETENSORS}
manifest = json.load(open(sys.argv[1]))
torch.set_num_threads(manifest["threads"])
modules, results = {}, []
for case in manifest["cases"]:
    try:
        if case["module"] not in modules:
            spec = importlib.util.spec_from_file_location("lctr_generated_%d" % len(modules), case["module"])
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            modules[case["module"]] = mod
        model = modules[case["module"]].Model()
        model.load_spec_weights(read_safetensors(case["weights"]))
        inputs = read_safetensors(case["inputs"])
        grad_output = case["gradOutput"]
        with torch.set_grad_enabled(grad_output is not None):
            outputs = model(**inputs)
        result = {"out/" + k: v for k, v in outputs.items()}
        if grad_output is not None:
            y = outputs[grad_output]
            cot = read_safetensors(case["cotangent"])["cotangent"].to(y.dtype) if case["cotangent"] else torch.ones_like(y)
            params = model.spec_parameters()
            live = list(params)
            if y.requires_grad:
                grads = torch.autograd.grad([y], [params[n] for n in live], [cot], allow_unused=True)
            else:
                grads = [None] * len(live)
            for name, g in zip(live, grads):
                result["grad/" + name] = g if g is not None else torch.zeros_like(params[name])
        write_safetensors(case["out"], result)
        results.append({"ok": True})
    except Exception as e:
        results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, str(e).strip())})
sys.stdout.write(json.dumps({"torch": torch.__version__, "results": results}))
`;

function checkCase(c: TorchCase, i: number): void {
  checkFeeds(c.graph, c.inputs);
  checkWeights(c.graph, c.weights);
  if (c.gradOutput === undefined) return;
  const id = (c.graph.outputs as Record<string, string>)[c.gradOutput];
  if (id === undefined) {
    throw new Error(
      `case ${i}: graph '${c.graph.name}' has no output '${c.gradOutput}'; its outputs are: ${Object.keys(c.graph.outputs).join(', ')}`,
    );
  }
  const info = valueInfo(c.graph, id);
  if (info.dtype !== 'float32')
    throw new Error(
      `case ${i}: output '${c.gradOutput}' of graph '${c.graph.name}' is ${info.dtype}${formatShape(info.shape)}; gradients need a ` +
        `float32 output`,
    );
}

/**
 * Run many cases in one python process; each case's outcome in order. Bad inputs or weights throw
 * the spec's InputError / WeightsError before python starts; python3 or torch missing throws
 * TorchUnavailableError naming the apt package.
 */
export function runTorchBatch(cases: readonly TorchCase[], opts: TorchRunOptions): TorchOutcome[] {
  cases.forEach(checkCase);
  const python = opts.python ?? DEFAULT_TORCH_PYTHON;
  const dir = mkdtempSync(join(tmpdir(), 'lctr-torch-'));
  try {
    const modules = new Map<Graph, string>();
    const manifestCases = cases.map((c, i) => {
      let module = modules.get(c.graph);
      if (module === undefined) {
        module = join(dir, `module_${modules.size}.py`);
        writeFileSync(module, torchSource(c.graph, { dtype: opts.dtype }));
        modules.set(c.graph, module);
      }
      const file = (what: string) => join(dir, `case_${i}_${what}.safetensors`);
      writeFileSync(file('inputs'), encodeSafetensors(new Map(Object.entries(c.inputs))));
      writeFileSync(file('weights'), encodeSafetensors(c.weights as ReadonlyMap<string, HostTensor>));
      if (c.cotangent) writeFileSync(file('cotangent'), encodeSafetensors(new Map([['cotangent', c.cotangent]])));
      return {
        module,
        inputs: file('inputs'),
        weights: file('weights'),
        out: file('out'),
        gradOutput: c.gradOutput ?? null,
        cotangent: c.cotangent ? file('cotangent') : null,
      };
    });
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ threads: opts.threads ?? 1, cases: manifestCases }));
    const r = spawnSync(python, ['-c', RUNNER, manifest], { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 300_000 });
    if (r.error) throw new TorchUnavailableError(`cannot run PyTorch with ${python}: ${r.error.message}; ${TORCH_INSTALL_HINT}`);
    const stdout = r.stdout.toString('utf8');
    let parsed: { unavailable?: string; results?: Array<{ ok: boolean; error?: string }> };
    try {
      parsed = JSON.parse(stdout) as typeof parsed;
    } catch {
      throw new Error(
        `the PyTorch runner (${python}) exited with ${r.status ?? r.signal} and no result: ` +
          `${r.stderr.toString('utf8').trim().slice(-2000)}`,
      );
    }
    if (parsed.unavailable !== undefined) {
      throw new TorchUnavailableError(`python3-torch is missing for ${python} (${parsed.unavailable}); ${TORCH_INSTALL_HINT}`);
    }
    const results = parsed.results ?? [];
    if (results.length !== cases.length) throw new Error(`the PyTorch runner returned ${results.length} results for ${cases.length} cases`);
    return results.map((res, i): TorchOutcome => {
      if (!res.ok) return { ok: false, error: res.error ?? 'unknown error' };
      const { tensors } = decodeSafetensors(readFileSync(manifestCases[i]!.out), manifestCases[i]!.out);
      const outputs: Record<string, HostTensor> = {};
      const grads = new Map<string, HostTensor<'float32'>>();
      for (const [key, t] of tensors) {
        if (key.startsWith('out/')) outputs[key.slice(4)] = t;
        else if (key.startsWith('grad/')) grads.set(key.slice(5), t as HostTensor<'float32'>);
      }
      return { ok: true, result: { outputs, grads } };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run one case (one python process); throws with python's error when the case fails. */
export function runTorch(c: TorchCase, opts: TorchRunOptions): TorchResult {
  const outcome = runTorchBatch([c], opts)[0]!;
  if (!outcome.ok) throw new Error(`PyTorch run of graph '${c.graph.name}' failed: ${outcome.error}`);
  return outcome.result;
}
