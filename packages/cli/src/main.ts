/**
 * `lctr`: one front door to every command of the project. Each subcommand is a module exporting
 * `main(argv): Promise<number>` built on spec's runCommand, loaded only when it is called (so
 * `lctr --help` loads no tfjs or ONNX Runtime). The Nx targets call the same modules.
 */
import { EXIT_CODES } from '@lctr/spec';

export interface Subcommand {
  /** one line for `lctr --help` */
  readonly what: string;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

/** Subcommands by the words that name them (`data generate` is two words). */
export const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  train: {
    what: 'train a model of the zoo with tfjs (configs: packages/train/configs)',
    run: async (a) => (await import('@lctr/train/cli')).main(a),
  },
  export: {
    what: 'export a trained model as a Triton model directory (ONNX, config.pbtxt, parity report)',
    run: async (a) => (await import('@lctr/exporter/cli')).main(a),
  },
  serve: {
    what: 'serve an exported model directory over HTTP (/score, raw requests with features.json, /v2, /metrics)',
    run: async (a) => (await import('@lctr/server/cli')).main(a),
  },
  'data inspect': {
    what: "what to check first about a dataset config's event log",
    run: async (a) => (await import('@lctr/data/cli')).inspectMain(a),
  },
  'data compile': {
    what: 'write the columnar form training reads (reused when nothing changed)',
    run: async (a) => (await import('@lctr/data/cli')).compileMain(a),
  },
  'data generate': {
    what: 'generate the synthetic world and write it to a folder',
    run: async (a) => (await import('./commands/gen-synthetic.ts')).main(a),
  },
  'gkc load': {
    what: 'load KEEP knowledge tables into the General Knowledge Center (or --list its versions)',
    run: async (a) => (await import('@lctr/gkc/cli')).main(a),
  },
  'check-run': {
    what: "check a finished training run's last eval against a bar",
    run: async (a) => (await import('./commands/check-run.ts')).main(a),
  },
  'parity-report': {
    what: 'every model and op through every backend against ref-cpu, as PARITY.md',
    run: async (a) => (await import('./commands/parity-report.ts')).main(a),
  },
};

export function usage(): string {
  const names = Object.keys(SUBCOMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: lctr <command> [options]      (lctr <command> --help for its options)',
    '',
    ...names.map((n) => `  ${n.padEnd(width)}  ${SUBCOMMANDS[n]!.what}`),
    '',
    'Exit codes: 0 ok, 1 failure, 2 bad usage or config, 3 storage (disk full, read-only, no permission).',
  ].join('\n');
}

/** Find the subcommand named by the leading words of argv (the longest match) and run it. */
export async function run(
  argv: readonly string[],
  io = { out: (t: string) => console.log(t), err: (t: string) => console.error(t) },
): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(usage());
    return argv.length === 0 ? EXIT_CODES.usage : EXIT_CODES.ok;
  }
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const sub = SUBCOMMANDS[name];
    if (sub) return sub.run(argv.slice(words));
  }
  const group = Object.keys(SUBCOMMANDS).filter((n) => n.startsWith(`${argv[0]} `));
  io.err(
    group.length
      ? `lctr: '${argv.slice(0, 2).join(' ')}' is not a command; '${argv[0]}' has: ${group.map((g) => g.split(' ')[1]).join(', ')}`
      : `lctr: unknown command '${argv[0]}'; commands: ${[...new Set(Object.keys(SUBCOMMANDS).map((n) => n.split(' ')[0]))].join(', ')}`,
  );
  return EXIT_CODES.usage;
}
