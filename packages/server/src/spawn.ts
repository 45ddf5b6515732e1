/**
 * Start the server CLI as a child process (node with tsx's loader, not npx, so signals reach the
 * server itself) and wait for the URL it prints; for the load benchmark and the CLI tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface SpawnedServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** everything the child printed so far (stdout and stderr) */
  output(): string;
}

/** `args` are the CLI's flags (`--model-dir`, `--port 0`, ...); `cwd` must be the repository root. */
export function spawnServer(args: readonly string[], cwd: string): Promise<SpawnedServer> {
  const cli = resolve(cwd, 'packages/server/src/cli.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d) => {
    out += String(d);
  });
  return new Promise((ok, fail) => {
    child.stdout!.on('data', (d) => {
      out += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) ok({ url: m[1]!, child, output: () => out });
    });
    child.on('exit', (code) => fail(new Error(`the server exited (${code}) before listening:\n${out}`)));
  });
}
