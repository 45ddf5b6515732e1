/**
 * `lctr data inspect|compile <dataset.json>`: inspect prints what to check first about a dataset;
 * compile writes the columnar form training reads (reused when the config and files are unchanged).
 * `main` returns the exit code (EXIT_CODES of @lctr/spec): 0 ok, 2 a config, usage or reader error
 * (one line), 3 a storage refusal (disk full, read-only), 1 anything else.
 */
import { resolve } from 'node:path';
import { ConfigError, EXIT_CODES, StorageError } from '@lctr/spec';
import { compileDataset } from './dataset/compile.ts';
import { readDatasetConfig } from './dataset/config.ts';
import { formatReport, inspectDataset } from './dataset/inspect.ts';
import { loadDataset } from './dataset/load.ts';
import { EventLogError } from './event-log.ts';
import { ReaderError, type ReadProgress } from './readers/table.ts';

export const USAGE = `usage: lctr data inspect <dataset.json> [--json] [--quiet]
       lctr data compile <dataset.json> [--out DIR] [--quiet]

  inspect   read the event log the dataset config describes and print users, items, events per
            domain, label rates, the split, history-length percentiles, the time range, tied
            timestamps and refused rows (--json: the report as JSON)
  compile   write the columnar form training reads to DIR/<name>-<key> (default DIR: out/datasets);
            the key hashes the config and the files' bytes, so an unchanged dataset is reused
  --quiet   no progress lines on stderr
Exit codes: 0 ok, 1 failure, 2 config/usage/reader error, 3 storage refused the write.`;

export interface CliIo { out(line: string): void; err(line: string): void }
const STD: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** progress on stderr, one line per file at every further 10% of its bytes */
function progressPrinter(io: CliIo): (p: ReadProgress) => void {
  const shown = new Map<string, number>();
  return (p) => {
    const tenth = p.totalBytes ? Math.floor((10 * p.bytes) / p.totalBytes) : 10;
    if ((shown.get(p.file) ?? -1) >= tenth && !p.done) return;
    if (p.done && shown.get(p.file) === 11) return;
    shown.set(p.file, p.done ? 11 : tenth);
    io.err(`${p.file}: ${p.rows.toLocaleString('en-US')} rows, ${Math.round((100 * p.bytes) / Math.max(1, p.totalBytes))}% of ${p.totalBytes.toLocaleString('en-US')} bytes${p.done ? ' (done)' : ''}`);
  };
}

export async function main(argv: readonly string[], io: CliIo = STD): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) { io.out(USAGE); return argv.length ? EXIT_CODES.ok : EXIT_CODES.usage; }
  const [command, ...rest] = argv;
  const flags = new Set<string>(), positional: string[] = [];
  let out = 'out/datasets';
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--out' && command === 'compile') {
      const v = rest[++i];
      if (v === undefined) { io.err('lctr data compile: --out needs a folder'); return EXIT_CODES.usage; }
      out = v;
    } else if (a === '--quiet' || (a === '--json' && command === 'inspect')) flags.add(a);
    else if (a.startsWith('-')) { io.err(`lctr data ${command}: unknown option ${a}\n${USAGE}`); return EXIT_CODES.usage; }
    else positional.push(a);
  }
  if (command !== 'inspect' && command !== 'compile') { io.err(`lctr data: unknown command ${JSON.stringify(command)} (expected inspect or compile)\n${USAGE}`); return EXIT_CODES.usage; }
  if (positional.length !== 1) { io.err(`lctr data ${command}: expected one dataset config, got ${positional.length}\n${USAGE}`); return EXIT_CODES.usage; }
  const options = flags.has('--quiet') ? {} : { onProgress: progressPrinter(io) };
  try {
    const loaded = readDatasetConfig(positional[0]!);
    if (command === 'inspect') {
      const report = inspectDataset(await loadDataset(loaded, options), loaded.config);
      if (flags.has('--json')) io.out(JSON.stringify(report, null, 1));
      else for (const l of formatReport(report, loaded.config)) io.out(l);
      return EXIT_CODES.ok;
    }
    const r = await compileDataset(loaded, resolve(out), options);
    io.out(`${r.reused ? 'reused' : 'compiled'} ${r.dir} (key ${r.key.slice(0, 16)}; ${r.report.events.total.toLocaleString('en-US')} events, ${r.report.split.train.samples.toLocaleString('en-US')} train / ${r.report.split.test.samples.toLocaleString('en-US')} test samples)`);
    return EXIT_CODES.ok;
  } catch (e) {
    if (e instanceof StorageError) { io.err(e.message); return EXIT_CODES.storage; }
    if (e instanceof ConfigError || e instanceof ReaderError || e instanceof EventLogError) { io.err(e.message); return EXIT_CODES.usage; }
    io.err(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return EXIT_CODES.failure;
  }
}
