/**
 * Running an exported model in onnxruntime-node: inputs are checked against the IR graph first
 * (spec's checkFeeds), so bad input gets the spec's clear error, never a runtime crash; the
 * provider that really runs is recorded, with the reason for every fallback.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import {
  type DType,
  type FeatureSchema,
  type Graph,
  type HostTensor,
  type InputsOf,
  checkFeeds,
  formatShape,
  resolveShape,
  valueInfo,
} from '@lctr/spec';

export type ProviderRequest = 'auto' | 'cuda' | 'cpu';
export type Provider = 'cuda' | 'cpu';

/** What this process could run on, as far as can be told without creating a session. */
export interface ProviderAvailability {
  /** Backends onnxruntime-node was built with (`ort.listSupportedBackends()` names). */
  readonly backends: readonly string[];
  /** Whether the CUDA provider libraries sit next to the binding (the npm install script fetches them). */
  readonly cudaLibraries: boolean;
}

export interface ProviderPlan {
  /** Providers to try in order; the first whose session opens is the one that runs. */
  readonly candidates: readonly Provider[];
  /** Why a provider was left out (empty when nothing was). */
  readonly notes: readonly string[];
}

export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderError';
  }
}

/**
 * Pure choice of the providers to try. 'cpu' is CPU only; 'cuda' is CUDA only (an error when it
 * is not available: asking for CUDA by name never silently runs on the CPU); 'auto' is CUDA then
 * CPU when CUDA looks available, else CPU with a note saying why.
 */
export function chooseProviders(request: ProviderRequest, availability: ProviderAvailability): ProviderPlan {
  const cudaMissing = !availability.backends.includes('cuda')
    ? `this onnxruntime-node build has no CUDA backend (backends: ${availability.backends.join(', ') || 'none'})`
    : !availability.cudaLibraries
      ? 'the CUDA provider libraries (libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so) are not installed next to ' +
        'the onnxruntime-node binding (its install script downloads them)'
      : undefined;
  switch (request) {
    case 'cpu':
      return { candidates: ['cpu'], notes: [] };
    case 'cuda':
      if (cudaMissing) throw new ProviderError(`provider 'cuda' was requested but ${cudaMissing}; use provider 'auto' or 'cpu'`);
      return { candidates: ['cuda'], notes: [] };
    case 'auto':
      return cudaMissing ? { candidates: ['cpu'], notes: [`cuda skipped: ${cudaMissing}`] } : { candidates: ['cuda', 'cpu'], notes: [] };
    default:
      throw new ProviderError(`unknown provider '${String(request)}': expected 'auto', 'cuda' or 'cpu'`);
  }
}

/** The folder of onnxruntime-node's native binding (where the CUDA provider libraries would be). */
function ortBinFolder(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Availability of this process, read from onnxruntime-node and its install folder. */
export function detectProviderAvailability(): ProviderAvailability {
  const backends = ort.listSupportedBackends().map((b) => b.name);
  const bin = ortBinFolder();
  const cudaLibraries = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'].every((f) => existsSync(join(bin, f)));
  return { backends, cudaLibraries };
}

export interface OnnxSessionOptions {
  /** 'auto' (default) tries CUDA and falls back to the CPU, recording why. */
  provider?: ProviderRequest;
  /** Threads for one op (ONNX Runtime's intra-op pool); ONNX Runtime's default when absent. */
  intraOpNumThreads?: number;
  /** Override the detected availability (tests, or a host known to lack a GPU). */
  availability?: ProviderAvailability;
}

const ORT_TYPE: { readonly [D in DType]: 'float32' | 'int32' | 'int64' | 'bool' } = {
  float32: 'float32',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
};

function toOrtTensor(t: HostTensor): ort.Tensor {
  const dims = [...t.shape];
  switch (t.dtype) {
    case 'float32': {
      const d = t.data as Float32Array | Float64Array;
      return new ort.Tensor('float32', d instanceof Float32Array ? d : Float32Array.from(d), dims);
    }
    case 'int32':
      return new ort.Tensor('int32', t.data as Int32Array, dims);
    case 'int64':
      return new ort.Tensor('int64', t.data as BigInt64Array, dims);
    case 'bool':
      return new ort.Tensor('bool', t.data as Uint8Array, dims);
  }
}

function fromOrtTensor(name: string, dtype: DType, t: ort.Tensor): HostTensor {
  if (t.type !== ORT_TYPE[dtype]) throw new Error(`output '${name}': ONNX Runtime returned ${t.type}, the graph declares ${dtype}`);
  const shape = t.dims.map(Number);
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: t.data as Float32Array };
    case 'int32':
      return { dtype, shape, data: t.data as Int32Array };
    case 'int64':
      return { dtype, shape, data: t.data as BigInt64Array };
    case 'bool': {
      const d = t.data as Uint8Array | boolean[];
      return { dtype, shape, data: d instanceof Uint8Array ? d : Uint8Array.from(d, (v) => (v ? 1 : 0)) };
    }
  }
}

/** One ONNX Runtime session for one exported graph. Reuse it: creating sessions is costly. */
export class OnnxSession<S extends FeatureSchema = FeatureSchema, O extends string = string> {
  private session: ort.InferenceSession | undefined;

  private constructor(
    session: ort.InferenceSession,
    readonly graph: Graph<S, O>,
    /** The provider that really runs this session. */
    readonly provider: Provider,
    /** Why providers before it were skipped or failed (empty when the first choice opened). */
    readonly providerNotes: readonly string[],
  ) {
    this.session = session;
  }

  /**
   * Open a session on ONNX bytes or a .onnx path exported from `graph`. With provider 'auto' it
   * tries CUDA, then the CPU; `provider` and `providerNotes` say what runs and why.
   */
  static async create<S extends FeatureSchema, O extends string>(
    model: Uint8Array | string,
    graph: Graph<S, O>,
    opts: OnnxSessionOptions = {},
  ): Promise<OnnxSession<S, O>> {
    const plan = chooseProviders(opts.provider ?? 'auto', opts.availability ?? detectProviderAvailability());
    const notes = [...plan.notes];
    for (const provider of plan.candidates) {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: [provider],
        ...(opts.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: opts.intraOpNumThreads }),
      };
      let session: ort.InferenceSession;
      try {
        session =
          typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
      } catch (e) {
        const msg = `${provider} failed: ${(e as Error).message}`;
        if (provider === plan.candidates[plan.candidates.length - 1]) {
          throw new ProviderError(`cannot open an ONNX Runtime session for graph '${graph.name}': ${[...notes, msg].join('; ')}`);
        }
        notes.push(msg);
        continue;
      }
      const missingIn = graph.inputs.map((i) => i.name).filter((n) => !session.inputNames.includes(n));
      const missingOut = Object.keys(graph.outputs).filter((n) => !session.outputNames.includes(n));
      if (missingIn.length || missingOut.length) {
        await session.release();
        throw new Error(
          `the ONNX model does not match graph '${graph.name}': ` +
            `${missingIn.length ? `inputs missing: ${missingIn.join(', ')}; ` : ''}${missingOut.length ? `outputs missing: ${missingOut.join(', ')}; ` : ''}` +
            `model inputs: ${session.inputNames.join(', ')}, model outputs: ${session.outputNames.join(', ')}`,
        );
      }
      return new OnnxSession(session, graph, provider, notes);
    }
    throw new ProviderError(`no provider to try for graph '${graph.name}': ${notes.join('; ')}`);
  }

  /** Run on host inputs (checked with spec's checkFeeds first); returns every graph output. */
  async run(inputs: InputsOf<S>): Promise<Record<O, HostTensor>> {
    const session = this.session;
    if (!session) throw new Error(`the ONNX session of graph '${this.graph.name}' was released`);
    const bindings = checkFeeds(this.graph, inputs as Readonly<Record<string, HostTensor>>);
    const feeds: Record<string, ort.Tensor> = {};
    for (const decl of this.graph.inputs) feeds[decl.name] = toOrtTensor((inputs as Record<string, HostTensor>)[decl.name]!);
    const results = await session.run(feeds);
    const out = {} as Record<O, HostTensor>;
    for (const [name, id] of Object.entries(this.graph.outputs) as Array<[O, string]>) {
      const info = valueInfo(this.graph, id);
      const t = fromOrtTensor(name, info.dtype, results[name] as ort.Tensor);
      const want = resolveShape(info.shape, bindings);
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new Error(
          `output '${name}' of graph '${this.graph.name}': ONNX Runtime returned shape ${formatShape(t.shape)}, the graph declares ` +
            `${formatShape(info.shape)} = ${formatShape(want)}`,
        );
      }
      out[name] = t;
    }
    return out;
  }

  /** Free the native session; later runs throw. */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}
