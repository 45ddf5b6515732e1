/**
 * `lctr data inspect|compile <dataset.json>`: inspect prints what to check first about a dataset;
 * compile writes the columnar form training reads (reused when the config and files are unchanged).
 * Built on spec's runCommand: 0 ok, 2 a config, usage or reader error (one line), 3 a storage
 * refusal (disk full, read-only), 1 anything else; --help prints the usage and does nothing else.
 */
import { resolve } from 'node:path';
import { ConfigError } from '@lctr/spec';
import { type CommandIO, UsageError, runCommand } from '@lctr/spec/cli';
import { compileDataset } from './dataset/compile.ts';
import { readDatasetConfig } from './dataset/config.ts';
import { formatReport, inspectDataset } from './dataset/inspect.ts';
import { loadDataset } from './dataset/load.ts';
import { EventLogError } from './event-log.ts';
import { ReaderError, type ReadProgress } from './readers/table.ts';

const FOOTER = 'Exit codes: 0 ok, 1 failure, 2 config/usage/reader error, 3 storage refused the write.';

export const INSPECT = {
  name: 'lctr data inspect',
  usage: `usage: lctr data inspect <dataset.json> [--json] [--quiet]
  Reads the event log the dataset config describes and prints users, items, events per domain, label
  rates, the split, history-length percentiles, the time range, tied timestamps and refused rows.
  --json    the report as JSON
  --quiet   no progress lines on stderr
${FOOTER}`,
  options: { json: { type: 'boolean' }, quiet: { type: 'boolean' } },
  allowPositionals: true,
} as const;

export const COMPILE = {
  name: 'lctr data compile',
  usage: `usage: lctr data compile <dataset.json> [--out DIR] [--quiet]
  Writes the columnar form training reads to DIR/<name>-<key> (default DIR: out/datasets); the key
  hashes the config and the files' bytes, so an unchanged dataset is reused.
  --quiet   no progress lines on stderr
${FOOTER}`,
  options: { out: { type: 'string' }, quiet: { type: 'boolean' } },
  allowPositionals: true,
} as const;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}
const STD: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** progress on stderr, one line per file at every further 10% of its bytes */
function progressPrinter(io: CliIo): (p: ReadProgress) => void {
  const shown = new Map<string, number>();
  return (p) => {
    const tenth = p.totalBytes ? Math.floor((10 * p.bytes) / p.totalBytes) : 10;
    if ((shown.get(p.file) ?? -1) >= tenth && !p.done) return;
    if (p.done && shown.get(p.file) === 11) return;
    shown.set(p.file, p.done ? 11 : tenth);
    io.err(
      `${p.file}: ${p.rows.toLocaleString('en-US')} rows, ${Math.round((100 * p.bytes) / Math.max(1, p.totalBytes))}% of ` +
        `${p.totalBytes.toLocaleString('en-US')} bytes${p.done ? ' (done)' : ''}`,
    );
  };
}

/** The one dataset config argument; a reader's or the log's error is a config-class error (exit 2). */
async function withDataset<T>(positionals: readonly string[], f: (path: string) => Promise<T>): Promise<T> {
  if (positionals.length !== 1) throw new UsageError(`expected one dataset config, got ${positionals.length}`);
  try {
    return await f(positionals[0]!);
  } catch (e) {
    if (e instanceof ReaderError || e instanceof EventLogError) throw new ConfigError([e.message]);
    throw e;
  }
}

export function inspectMain(argv: readonly string[], io: CliIo = STD): Promise<number> {
  return runCommand(
    INSPECT,
    argv,
    ({ values, positionals }) =>
      withDataset(positionals, async (path) => {
        const loaded = readDatasetConfig(path);
        const report = inspectDataset(await loadDataset(loaded, values.quiet ? {} : { onProgress: progressPrinter(io) }), loaded.config);
        if (values.json) io.out(JSON.stringify(report, null, 1));
        else for (const l of formatReport(report, loaded.config)) io.out(l);
        return 0;
      }),
    io as CommandIO,
  );
}

export function compileMain(argv: readonly string[], io: CliIo = STD): Promise<number> {
  return runCommand(
    COMPILE,
    argv,
    ({ values, positionals }) =>
      withDataset(positionals, async (path) => {
        const loaded = readDatasetConfig(path);
        const r = await compileDataset(
          loaded,
          resolve(values.out ?? 'out/datasets'),
          values.quiet ? {} : { onProgress: progressPrinter(io) },
        );
        io.out(
          `${r.reused ? 'reused' : 'compiled'} ${r.dir} (key ${r.key.slice(0, 16)}; ${r.report.events.total.toLocaleString('en-US')} ` +
            `events, ${r.report.split.train.samples.toLocaleString('en-US')} train / ` +
            `${r.report.split.test.samples.toLocaleString('en-US')} test samples)`,
        );
        return 0;
      }),
    io as CommandIO,
  );
}

/** `inspect|compile ...` (the package's own bin; `lctr data inspect|compile` routes to the two above). */
export async function main(argv: readonly string[], io: CliIo = STD): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'inspect') return inspectMain(rest, io);
  if (command === 'compile') return compileMain(rest, io);
  if (command === undefined || command === '--help' || command === '-h') {
    io.out(`${INSPECT.usage}\n\n${COMPILE.usage}`);
    return command === undefined ? 2 : 0;
  }
  io.err(`lctr data: unknown command ${JSON.stringify(command)} (expected inspect or compile)`);
  return 2;
}
