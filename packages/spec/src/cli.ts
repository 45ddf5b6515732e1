/**
 * The one argument and exit-code helper every command of the project uses (the `lctr` CLI, the
 * Nx targets, the benchmark and experiment scripts): node:util's parseArgs, plus what each command
 * used to write for itself: `--help` that prints the usage and exits 0 before anything else runs,
 * integer/number flags with one message shape, and one mapping from errors to exit codes
 * (EXIT_CODES in files.ts: 0 ok, 1 failure, 2 usage or config, 3 storage).
 */
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from './config.ts';
import { EXIT_CODES, StorageError } from './files.ts';

/** Bad command-line usage: printed with the usage text, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command: its name as the user types it, its usage text and node:util parseArgs options. */
export interface CommandSpec<O extends Options = Options> {
  /** e.g. `lctr train`: prefixes every error line */
  readonly name: string;
  /** printed by --help (stdout, exit 0) and after a usage error (stderr, exit 2) */
  readonly usage: string;
  readonly options: O;
  readonly allowPositionals?: boolean;
}

export interface ParsedCommand<O extends Options> {
  readonly values: { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string };
  readonly positionals: string[];
}

/** True when argv asks for help (`--help` or `-h` anywhere before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** parseArgs in strict mode; a bad option is a UsageError naming it. --help is handled by runCommand. */
export function parseCommand<O extends Options>(spec: CommandSpec<O>, argv: readonly string[]): ParsedCommand<O> {
  try {
    const r = parseArgs({
      args: [...argv],
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: spec.allowPositionals ?? false,
    });
    const { help: _help, ...values } = r.values as Record<string, unknown>;
    return { values: values as ParsedCommand<O>['values'], positionals: r.positionals };
  } catch (e) {
    // node's messages name the option; drop its "To specify a positional argument..." hints
    throw new UsageError((e as Error).message.split('. To ')[0]!.replace(/\.$/, ''));
  }
}

/** An integer flag: undefined when absent; `--steps must be an integer >= 1, got 'x'` otherwise. */
export function intFlag(flag: string, v: string | undefined, min: number, max?: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const range = max === undefined ? `>= ${min}` : `in [${min}, ${max}]`;
  if (!/^-?[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new UsageError(`--${flag} must be an integer ${range}, got '${v}'`);
  }
  return n;
}

/** A finite number flag, with an optional lower bound. */
export function numberFlag(flag: string, v: string | undefined, min?: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (min !== undefined && n < min)) {
    throw new UsageError(`--${flag} must be a number${min === undefined ? '' : ` >= ${min}`}, got '${v}'`);
  }
  return n;
}

/** A comma-separated list of integers (`--seeds 1,2,3`). */
export function intListFlag(flag: string, v: string | undefined, min: number): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',');
  return parts.map((p) => {
    const n = intFlag(flag, p.trim(), min);
    if (n === undefined) throw new UsageError(`--${flag} must be a comma-separated list of integers >= ${min}, got '${v}'`);
    return n;
  });
}

/** One of the listed values. */
export function choiceFlag<C extends string>(flag: string, v: string | undefined, choices: readonly C[]): C | undefined {
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as C;
}

/** Built-in error classes mean a bug (print the stack); our own named errors carry their whole story. */
const BUILT_IN_ERRORS = new Set([
  'Error',
  'TypeError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'EvalError',
  'URIError',
  'AggregateError',
]);

export interface CommandIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** print stacks of every error (LCTR_DEBUG=1) */
  readonly debug?: boolean;
}

const defaultIO = (): CommandIO => ({
  out: (t) => {
    process.stdout.write(`${t}\n`);
  },
  err: (t) => {
    process.stderr.write(`${t}\n`);
  },
  debug: process.env.LCTR_DEBUG === '1',
});

/** The exit code and the line(s) an error deserves. */
export function describeFailure(name: string, e: unknown, usage: string, debug = false): { code: number; text: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  if (err instanceof UsageError) return { code: EXIT_CODES.usage, text: `${name}: ${err.message}\n${usage}` };
  if (err instanceof ConfigError) return { code: EXIT_CODES.usage, text: err.problems.map((p) => `${name}: ${p}`).join('\n') };
  if (err instanceof StorageError) return { code: EXIT_CODES.storage, text: `${name}: ${err.message}` };
  const story = !BUILT_IN_ERRORS.has(err.name) && !debug;
  return { code: EXIT_CODES.failure, text: `${name}: ${story ? err.message : (err.stack ?? err.message)}` };
}

/**
 * Run a command: --help prints the usage and returns 0 before `main` is called (no side effect);
 * usage and config errors return 2, storage errors 3, anything else 1, each as one clear message.
 * `main` returns its exit code (undefined = 0).
 */
export async function runCommand<O extends Options>(
  spec: CommandSpec<O>,
  argv: readonly string[],
  main: (parsed: ParsedCommand<O>) => Promise<number | void> | number | void,
  io: CommandIO = defaultIO(),
): Promise<number> {
  if (wantsHelp(argv)) {
    io.out(spec.usage);
    return EXIT_CODES.ok;
  }
  try {
    const parsed = parseCommand(spec, argv);
    return (await main(parsed)) ?? EXIT_CODES.ok;
  } catch (e) {
    const { code, text } = describeFailure(spec.name, e, spec.usage, io.debug);
    io.err(text);
    return code;
  }
}

/** True when this module file is the script node was started with (run `main` only then). */
export function isMainModule(importMetaFilename: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  const strip = (p: string) => resolve(p).replace(/\.(ts|js|mjs)$/, '');
  return strip(importMetaFilename) === strip(entry);
}

/**
 * parseArgs for a script (a benchmark, an experiment): `--help` prints `usage` (or one generated
 * from the options) and exits 0 before the script does anything; a bad option prints the message
 * and the usage and exits 2. Same config as node:util's parseArgs, strict.
 */
export function scriptArgs<T extends { options: Options; allowPositionals?: boolean }>(
  script: string,
  config: T & { usage?: string; args?: readonly string[] },
): ReturnType<typeof parseArgs<T & { strict: true }>> {
  const argv = config.args ?? process.argv.slice(2);
  const name = script.replace(/^.*\/(bench|experiments|examples)\//, '$1/');
  const usage =
    config.usage ??
    `usage: npx tsx ${name}${Object.entries(config.options)
      .map(([k, o]) => {
        const d = (o as { default?: unknown }).default;
        return ` [--${k}${o.type === 'boolean' ? '' : ` ${d === undefined ? 'V' : String(d)}`}]`;
      })
      .join('')}${config.allowPositionals ? ' [ARGS...]' : ''}`;
  if (wantsHelp(argv)) {
    process.stdout.write(`${usage}\n`);
    process.exit(EXIT_CODES.ok);
  }
  try {
    const { usage: _usage, args: _args, ...parseConfig } = config;
    return parseArgs({ ...parseConfig, args: [...argv], strict: true } as unknown as T & { strict: true });
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message.split('. To ')[0]}\n${usage}\n`);
    process.exit(EXIT_CODES.usage);
  }
}
