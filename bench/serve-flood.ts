#!/usr/bin/env tsx
/**
 * Memory of the scoring server under a flood of large bodies (issue 17, item 6): `--clients`
 * (default 1,200) clients at once, each on its own connection, each POSTing one valid /score body
 * padded with spaces to `--body-bytes` (default 1,000,000), over loopback. Before the fix, this
 * took the server's rss from 174 MiB to 2.5 GB (1.3 GB four minutes later): every body was read
 * in full before the queue limit was looked at.
 *
 * Reports the server's rss (/proc/<pid>/status VmRSS) at start, its peak (VmHWM) and after the
 * flood (right away and after `--settle-s`), and the answers by status (200, 503 busy, ...) and
 * transport errors (connections closed at accept over --max-connections read as ECONNRESET or
 * EPIPE). Exits 1 when the peak passes start + `--max-growth-mib` (the bound the server README
 * documents), or when no request was served.
 *
 *   npx tsx bench/serve-flood.ts [--model-dir out/models/lcn] [--clients 1200] [--body-bytes 1000000]
 *        [--settle-s 5] [--max-growth-mib 256] [--unbounded] [-- server flags...]
 *   --model-dir  a served model; when absent and out/models/lcn does not exist, an untrained tiny
 *                DIN directory is written to a temp dir (what is measured is bodies, not the model)
 *   --unbounded  body budget, connection cap and queue set huge: about the server before the fix
 *   after --, flags go to the server (e.g. -- --body-budget-bytes 16777216 --max-connections 256)
 * Linux only (reads /proc).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import { type HealthReport, exampleRequest, spawnServer } from '@lctr/server';
import { writeTinyModelDir } from '../packages/server/test/tiny-model-dir.ts';

const { values, positionals } = scriptArgs(import.meta.filename, {
  options: {
    'model-dir': { type: 'string' },
    clients: { type: 'string', default: '1200' },
    'body-bytes': { type: 'string', default: '1000000' },
    'settle-s': { type: 'string', default: '5' },
    'max-growth-mib': { type: 'string', default: '256' },
    unbounded: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const clients = Number(values.clients),
  bodyBytes = Number(values['body-bytes']),
  settleS = Number(values['settle-s']),
  maxGrowthMiB = Number(values['max-growth-mib']);
const root = resolve(import.meta.dirname, '..');
const mib = (b: number) => b / (1 << 20);

/** VmRSS and VmHWM (peak) of a process, bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

let tmp: string | undefined;
let modelDir = values['model-dir'] ? resolve(root, values['model-dir']) : resolve(root, 'out/models/lcn');
if (!values['model-dir'] && !existsSync(modelDir)) {
  tmp = mkdtempSync(join(tmpdir(), 'lctr-serve-flood-'));
  modelDir = writeTinyModelDir(join(tmp, 'din'));
}
const limits = values.unbounded ? ['--body-budget-bytes', String(2 ** 40), '--max-connections', '1000000', '--max-queue', '1000000'] : [];
const args = [
  '--model-dir',
  modelDir,
  '--port',
  '0',
  '--provider',
  'cpu',
  '--max-body-bytes',
  String(Math.max(bodyBytes, 1 << 20)),
  ...limits,
  ...positionals,
];
const { url, child, output } = await spawnServer(args, root);
for (const line of output().trim().split('\n')) console.log(`  ${line}`);
const pid = child.pid!;
let exit = 0;
try {
  const health = (await (await fetch(`${url}/health`)).json()) as HealthReport;
  const text = JSON.stringify(exampleRequest(health, { candidates: Math.min(100, health.limits.maxCandidates), seed: 1 }));
  if (text.length > bodyBytes) throw new Error(`--body-bytes ${bodyBytes} is below the request itself (${text.length} bytes)`);
  // one Buffer shared by every client: the client process must not hold 1,200 copies
  const body = Buffer.from(text + ' '.repeat(bodyBytes - text.length));
  console.log(
    `serve-flood: ${clients} clients at once, one ${bodyBytes.toLocaleString('en-US')}-byte POST /score each (model '${health.model}', ` +
      `limits ${JSON.stringify(health.limits)})`,
  );
  const start = memoryOf(pid);

  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  const t0 = performance.now();
  await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<void>((done) => {
          let answered = false;
          const req = request(
            `${url}/score`,
            { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } },
            (res) => {
              answered = true;
              count(String(res.statusCode));
              res.resume();
              res.on('end', done);
              res.on('error', () => done());
            },
          );
          // an error after the answer (the server closed with the body unread) is not a lost answer
          req.on('error', (e: NodeJS.ErrnoException) => {
            if (!answered) {
              count(e.code ?? e.message);
              done();
            }
          });
          req.end(body);
        }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = memoryOf(pid);
  await new Promise((ok) => setTimeout(ok, settleS * 1000));
  const settled = memoryOf(pid);
  const growth = mib(after.peak - start.rss);
  console.log(
    `  answers: ${[...outcomes]
      .sort()
      .map(([k, n]) => `${k} x${n}`)
      .join(', ')} (${seconds.toFixed(1)} s)`,
  );
  console.log(
    `  server rss (MiB): start ${mib(start.rss).toFixed(0)}, peak ${mib(after.peak).toFixed(0)} (+${growth.toFixed(0)}), after ` +
      `${mib(after.rss).toFixed(0)}, after ${settleS} s more ${mib(settled.rss).toFixed(0)}`,
  );
  if (!outcomes.get('200')) {
    console.log('serve-flood: FAILED: no request was served');
    exit = 1;
  }
  if (growth > maxGrowthMiB) {
    console.log(`serve-flood: FAILED: peak rss grew ${growth.toFixed(0)} MiB (bar ${maxGrowthMiB} MiB)`);
    exit = 1;
  }
  if (exit === 0) console.log('serve-flood: OK');
} finally {
  const exited = new Promise((ok) => child.on('exit', ok));
  child.kill('SIGTERM');
  await exited;
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = exit;
