/**
 * Which tfjs backend runs, chosen at run time: tfjs-node-gpu, then tfjs-node, then WASM, then the
 * pure-JS CPU backend. An explicit request (`--backend NAME` or env LCTR_TFJS_BACKEND) overrides
 * the order; a request for a backend that cannot load is an error, never a silent fallback.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerFastKernels } from './segment-sum.ts';

/** Our names for the four choices, in preference order. */
export const TFJS_BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];

export interface BackendInfo {
  /** npm package that provides it. */
  readonly pkg: string;
  /** name the tfjs engine knows it by (tf.getBackend()); both node packages register 'tensorflow'. */
  readonly engineName: string;
  readonly doc: string;
}

export const BACKEND_INFO: { readonly [N in TfjsBackendName]: BackendInfo } = {
  'tensorflow-gpu': {
    pkg: '@tensorflow/tfjs-node-gpu',
    engineName: 'tensorflow',
    doc: 'libtensorflow with CUDA (falls back to its CPU kernels when CUDA/cuDNN cannot load)',
  },
  tensorflow: { pkg: '@tensorflow/tfjs-node', engineName: 'tensorflow', doc: 'libtensorflow on the CPU' },
  wasm: { pkg: '@tensorflow/tfjs-backend-wasm', engineName: 'wasm', doc: 'WebAssembly with SIMD, single thread in Node' },
  cpu: { pkg: '@tensorflow/tfjs-backend-cpu', engineName: 'cpu', doc: 'pure JavaScript' },
};

/** The env variable that requests a backend when no --backend flag is given. */
export const BACKEND_ENV = 'LCTR_TFJS_BACKEND';

const ALIASES: Readonly<Record<string, TfjsBackendName>> = {
  'tensorflow-gpu': 'tensorflow-gpu',
  'tfjs-node-gpu': 'tensorflow-gpu',
  'node-gpu': 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  'tfjs-node': 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  'tfjs-backend-wasm': 'wasm',
  cpu: 'cpu',
  'tfjs-backend-cpu': 'cpu',
};

export class BackendChoiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendChoiceError';
  }
}

const listChoices = () => TFJS_BACKENDS.join(', ');

/** Our name for a requested backend (case-insensitive; package names are accepted); throws on an unknown name. */
export function normalizeBackendName(requested: string, from = 'request'): TfjsBackendName {
  const name = ALIASES[requested.trim().toLowerCase()];
  if (!name) throw new BackendChoiceError(`unknown tfjs backend '${requested}' (${from}); choose one of: ${listChoices()}`);
  return name;
}

export interface BackendChoice {
  readonly backend: TfjsBackendName;
  readonly reason: string;
}

export interface ChooseBackendOptions {
  /** explicit request, e.g. from --backend or LCTR_TFJS_BACKEND; overrides the preference order. */
  readonly requested?: string;
  /** where the request came from, for messages ('--backend', 'LCTR_TFJS_BACKEND'). */
  readonly requestedFrom?: string;
  /** backends that can be used here. */
  readonly available: ReadonlySet<TfjsBackendName>;
  /** why an unavailable backend is unavailable (shown in messages). */
  readonly why?: ReadonlyMap<TfjsBackendName, string>;
}

/**
 * Pure choice: the explicit request when it is available (an error naming the choices otherwise),
 * else the first available backend in the order tensorflow-gpu, tensorflow, wasm, cpu.
 */
export function chooseBackend(opts: ChooseBackendOptions): BackendChoice {
  const from = opts.requestedFrom ?? 'request';
  const unavailable = TFJS_BACKENDS.filter((b) => !opts.available.has(b));
  const whyNot = (b: TfjsBackendName) => opts.why?.get(b) ?? `${BACKEND_INFO[b].pkg} cannot be imported`;
  const availableList = TFJS_BACKENDS.filter((b) => opts.available.has(b));
  if (opts.requested !== undefined && opts.requested.trim() !== '') {
    const name = normalizeBackendName(opts.requested, from);
    if (!opts.available.has(name)) {
      throw new BackendChoiceError(
        `tfjs backend '${name}' was requested (${from}) but is not available here: ${whyNot(name)}; ` +
          `available: ${availableList.join(', ') || 'none'} (choices: ${listChoices()})`,
      );
    }
    return { backend: name, reason: `requested by ${from}` };
  }
  const first = availableList[0];
  if (!first) throw new BackendChoiceError(`no tfjs backend is available (tried ${listChoices()})`);
  const skipped = unavailable.filter((b) => TFJS_BACKENDS.indexOf(b) < TFJS_BACKENDS.indexOf(first));
  const reason =
    skipped.length === 0
      ? 'first in the preference order'
      : `first available in the preference order; skipped ${skipped.map((b) => `${b} (${whyNot(b)})`).join(', ')}`;
  return { backend: first, reason };
}

export interface BackendRequest {
  readonly value: string;
  readonly source: string;
}

/**
 * The backend a command line or environment asks for: `--backend NAME` or `--backend=NAME` wins over
 * env LCTR_TFJS_BACKEND; undefined when neither is set. Throws when --backend has no value.
 */
export function parseBackendFlag(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): BackendRequest | undefined {
  let found: BackendRequest | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--backend') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--') || v.trim() === '')
        throw new BackendChoiceError(`--backend needs a value; choose one of: ${listChoices()}`);
      found = { value: v, source: '--backend' };
      i++;
    } else if (a.startsWith('--backend=')) {
      const v = a.slice('--backend='.length);
      if (v.trim() === '') throw new BackendChoiceError(`--backend needs a value; choose one of: ${listChoices()}`);
      found = { value: v, source: '--backend' };
    }
  }
  if (found) return found;
  const e = env[BACKEND_ENV];
  if (e !== undefined && e.trim() !== '') return { value: e, source: BACKEND_ENV };
  return undefined;
}

const requireHere = createRequire(import.meta.url);

/** Whether a backend's package is installed (resolvable), without running it. */
function resolvable(b: TfjsBackendName): string | undefined {
  try {
    requireHere.resolve(BACKEND_INFO[b].pkg);
    return undefined;
  } catch (e) {
    return `${BACKEND_INFO[b].pkg} is not installed (${(e as { code?: string }).code ?? (e as Error).message})`;
  }
}

/** Import a backend's package (registers it with the tfjs engine). Returns an error text on failure. */
async function load(b: TfjsBackendName): Promise<string | undefined> {
  if (b === 'cpu') return undefined; // imported statically above
  try {
    await import(BACKEND_INFO[b].pkg);
    if (!tf.findBackendFactory(BACKEND_INFO[b].engineName))
      return `${BACKEND_INFO[b].pkg} loaded but registered no '${BACKEND_INFO[b].engineName}' backend`;
    return undefined;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return `${BACKEND_INFO[b].pkg} failed to load: ${err.code ?? ''}${err.code ? ' ' : ''}${(err.message ?? String(e)).split('\n')[0]}`;
  }
}

export interface InitTfjsOptions {
  /** explicit backend request; when absent, env LCTR_TFJS_BACKEND is consulted. */
  readonly backend?: string;
  /** where the request came from, for messages (default '--backend' when backend is set). */
  readonly requestedFrom?: string;
  /** receives the one line saying what runs (default: console.log). */
  readonly log?: (line: string) => void;
  /** environment to read LCTR_TFJS_BACKEND from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface TfjsInit {
  readonly backend: TfjsBackendName;
  /** tf.getBackend() after the switch. */
  readonly engineBackend: string;
  readonly reason: string;
  /** for tensorflow-gpu: whether libtensorflow really uses a GPU device (undefined when not reported). */
  readonly gpu?: boolean;
  /** the line that was logged. */
  readonly line: string;
}

/**
 * Probe what can be loaded, pick a backend (see chooseBackend), switch tfjs to it, register the fast
 * kernels (UnsortedSegmentSum for cpu and wasm) and log one line saying what really runs.
 */
export async function initTfjs(opts: InitTfjsOptions = {}): Promise<TfjsInit> {
  const log = opts.log ?? ((line: string) => console.log(line));
  // tfjs' cpu backend prints a banner advising tfjs-node on first use; our own line below says what
  // runs and why, so production mode (which silences tfjs warnings) is the honest default
  tf.env().set('PROD', true);
  let requested = opts.backend;
  let requestedFrom = opts.requestedFrom ?? '--backend';
  if (requested === undefined) {
    const fromEnv = parseBackendFlag([], opts.env ?? process.env);
    if (fromEnv) {
      requested = fromEnv.value;
      requestedFrom = fromEnv.source;
    }
  }
  const why = new Map<TfjsBackendName, string>();
  for (const b of TFJS_BACKENDS) {
    const problem = resolvable(b);
    if (problem) why.set(b, problem);
  }
  // Import lazily, in order: importing both node packages would register 'tensorflow' twice.
  for (;;) {
    const available = new Set(TFJS_BACKENDS.filter((b) => !why.has(b)));
    const choice = chooseBackend({ requested, requestedFrom, available, why });
    const problem = await load(choice.backend);
    if (problem) {
      why.set(choice.backend, problem);
      continue; // an explicit request now fails in chooseBackend with this reason
    }
    registerFastKernels();
    const engineName = BACKEND_INFO[choice.backend].engineName;
    const ok = await tf.setBackend(engineName);
    if (!ok || tf.getBackend() !== engineName) {
      why.set(choice.backend, `tf.setBackend('${engineName}') failed`);
      continue;
    }
    await tf.ready();
    const details: string[] = [BACKEND_INFO[choice.backend].doc];
    let gpu: boolean | undefined;
    if (choice.backend === 'tensorflow-gpu' || choice.backend === 'tensorflow') {
      const flag = (tf.backend() as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
      if (typeof flag === 'boolean') {
        gpu = flag;
        details.push(flag ? 'GPU device in use' : 'NO GPU device in use: running on the CPU');
      } else {
        details.push('GPU use not reported');
      }
    }
    if (choice.backend === 'wasm') {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      details.push(`SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'}`);
    }
    const line = `tfjs backend: ${choice.backend} (engine '${engineName}', ${details.join('; ')}) - ${choice.reason}`;
    log(line);
    return { backend: choice.backend, engineBackend: engineName, reason: choice.reason, line, ...(gpu === undefined ? {} : { gpu }) };
  }
}
