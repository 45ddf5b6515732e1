#!/usr/bin/env tsx
/**
 * The whole benchmark suite in one command (issue 8, item 5): runs every benchmark of bench/
 * one after the other (never two at once: they would time each other), each under its own time
 * limit, and rewrites BENCHMARKS.md: the output of each benchmark replaces the block between its
 * markers `<!-- bench:<id> -->` and `<!-- /bench:<id> -->`, with the command, the date, the
 * machine and the wall time above it. The prose around the blocks (what the numbers mean) is left as
 * it is. A benchmark that fails or runs out of time leaves its old block in place, marked stale,
 * and the suite exits 1. Not part of the test command.
 *
 *   npx tsx bench/suite.ts [--only id,id] [--skip id,id] [--file BENCHMARKS.md] [--dry-run] [--list]
 * Budget: the default list takes about 12 minutes on the project's 2-core machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { blockOf, replaceBlock } from './blocks.ts';

export interface BenchEntry {
  readonly id: string;
  readonly what: string;
  /** argv after `npx tsx` (or a full argv when it starts with 'node') */
  readonly args: readonly string[];
  /** seconds before the run is stopped */
  readonly limitS: number;
  /** files that must exist first (else the entry is skipped with the reason) */
  readonly needs?: readonly string[];
}

export const SUITE: readonly BenchEntry[] = [
  {
    id: 'train-step',
    what: 'demo model: training step and serving forward on every backend',
    args: ['bench/train-step.ts', '--steps', '5'],
    limitS: 120,
  },
  {
    id: 'gather-grad',
    what: "gather gradients: tfjs' UnsortedSegmentSum vs ours",
    args: ['bench/gather-grad.ts', '--steps', '3'],
    limitS: 90,
  },
  {
    id: 'throughput',
    what: 'batch building vs training rate',
    args: ['bench/throughput.ts', '--world', 'small', '--batches', '10', '--steps', '3', '--cpu-steps', '1'],
    limitS: 150,
  },
  {
    id: 'serve-floor',
    what: 'LCN-200-50 serving vs the FLOP floor; per-request vs naive layout',
    args: ['bench/serve-floor.ts', '--cands', '100,1000', '--requests', '20', '--int8'],
    limitS: 240,
  },
  {
    id: 'serve-peer',
    what: 'LCN-200-50 serving: ONNX Runtime (float32, int8) vs PyTorch eager and TorchScript',
    args: ['bench/serve-peer.ts', '--cands', '100,1000', '--runs', '20', '--threads', '1,2'],
    limitS: 300,
  },
  {
    id: 'serve-load',
    what: 'the scoring server under load (10,000 requests)',
    args: ['bench/serve-load.ts'],
    limitS: 120,
    needs: ['out/models/lcn/1/model.onnx'],
  },
  {
    id: 'train-peer',
    what: 'LCN training step: tfjs vs PyTorch',
    args: ['bench/train-peer.ts', '--n', '500', '--batch', '256', '--steps', '5', '--backends', 'wasm'],
    limitS: 300,
  },
  {
    id: 'lcn-scaling',
    what: "LCN's serving and training time as N and C grow (log-log slopes, chart)",
    args: ['bench/lcn-scaling.ts'],
    limitS: 240,
  },
  {
    id: 'ifa-cost',
    what: "IFA's cost vs full attention and SIM soft as N and C grow",
    args: ['bench/ifa-cost.ts', '--budget', '0.5'],
    limitS: 180,
  },
  {
    id: 'gkc-lookup',
    what: 'General Knowledge Center: 1,000-quadruple lookups, embedded and Redis',
    args: ['bench/gkc-lookup.ts'],
    limitS: 120,
  },
];

interface RunResult {
  ok: boolean;
  seconds: number;
  output: string;
  reason?: string;
}

function run(root: string, e: BenchEntry): Promise<RunResult> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn('npx', ['tsx', ...e.args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
      process.stderr.write(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
    }, e.limitS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      if (timedOut) done({ ok: false, seconds, output, reason: `stopped after its ${e.limitS} s limit` });
      else if (code !== 0) done({ ok: false, seconds, output, reason: `exit ${code}` });
      else done({ ok: true, seconds, output });
    });
  });
}

/** Lines worth keeping: progress bars, blank runs, ANSI codes and ORT warnings dropped. */
function clean(output: string): string {
  return output
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => !/^\s*$/.test(l) && !/\[W:onnxruntime/.test(l) && !/^step \d+\/\d+/.test(l))
    .join('\n')
    .trim();
}

{
  const { values } = scriptArgs(import.meta.filename, {
    options: {
      only: { type: 'string' },
      skip: { type: 'string' },
      file: { type: 'string', default: 'BENCHMARKS.md' },
      'dry-run': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
    },
  });
  const root = resolve(import.meta.dirname, '..');
  const known = new Set(SUITE.map((e) => e.id));
  const pick = (flag: 'only' | 'skip') => (values[flag] ?? '').split(',').filter(Boolean);
  for (const id of [...pick('only'), ...pick('skip')]) {
    if (!known.has(id)) {
      console.error(`suite: unknown benchmark '${id}' (known: ${[...known].join(', ')})`);
      process.exit(2);
    }
  }
  const only = pick('only'),
    skip = new Set(pick('skip'));
  const entries = SUITE.filter((e) => (only.length === 0 || only.includes(e.id)) && !skip.has(e.id));
  if (values.list) {
    for (const e of SUITE)
      console.log(`${e.id.padEnd(12)} ${String(e.limitS).padStart(4)} s  ${e.what}\n             npx tsx ${e.args.join(' ')}`);
    process.exit(0);
  }
  const file = resolve(root, values.file!);
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const t0 = performance.now();
  let failed = 0;
  for (const e of entries) {
    const missing = (e.needs ?? []).filter((p) => !existsSync(resolve(root, p)));
    const command = `npx tsx ${e.args.join(' ')}`;
    if (missing.length) {
      console.log(`\n== ${e.id}: skipped (needs ${missing.join(', ')}; run \`npx nx run exporter:onnx\` first)`);
      continue;
    }
    console.log(`\n== ${e.id}: ${command} (limit ${e.limitS} s)`);
    const r = await run(root, e);
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
    if (r.ok) {
      text = replaceBlock(
        text,
        e.id,
        [
          `Command: \`${command}\` (${e.what}); ${when} UTC on ${machine}; ${r.seconds.toFixed(0)} s.`,
          '',
          '```text',
          clean(r.output),
          '```',
        ].join('\n'),
      );
    } else {
      failed++;
      const old = blockOf(text, e.id);
      const note = `**Stale:** the last suite run could not refresh this block (${r.reason}, ${when} UTC).`;
      text = replaceBlock(text, e.id, old && !old.startsWith('**Stale:**') ? `${note}\n\n${old}` : (old ?? note));
      console.error(`== ${e.id}: FAILED (${r.reason})`);
    }
    if (!values['dry-run']) writeFileSync(file, text);
  }
  const total = (performance.now() - t0) / 1000;
  console.log(
    `\nsuite: ${entries.length - failed} of ${entries.length} benchmarks refreshed in ${(total / 60).toFixed(1)} ` +
      `min${values['dry-run'] ? ' (dry run: nothing written)' : ` -> ${values.file}`}`,
  );
  process.exitCode = failed ? 1 : 0;
}
