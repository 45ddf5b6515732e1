/**
 * Our launcher for data-parallel python processes: it starts `nprocPerNode` processes with the
 * env:// contract torchrun sets (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, ...). Debian's torch 1.13 under Python 3.11 cannot run torchrun itself (its
 * elastic agent dies at start: TOOLCHAIN.md), while DDP over processes started this way works;
 * on a real install `torchrunCommand` gives the equivalent torchrun line. When one rank fails the
 * others are stopped (SIGTERM, then SIGKILL after a grace period), so a run never hangs in a
 * collective waiting for a dead peer.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { DEFAULT_TORCH_PYTHON, TORCH_INSTALL_HINT, TorchUnavailableError } from './runner.ts';

export interface LaunchOptions {
  /** the python file every rank runs, and its arguments */
  readonly script: string;
  readonly args: readonly string[];
  readonly nprocPerNode: number;
  /** nodes of the run (1) and this node's index (0) */
  readonly nnodes?: number;
  readonly nodeRank?: number;
  /** rank 0's host (127.0.0.1) and port (a free one on this machine when left out) */
  readonly masterAddr?: string;
  readonly masterPort?: number;
  readonly python?: string;
  /** extra environment for every rank */
  readonly env?: Readonly<Record<string, string>>;
  /** every line a rank prints (stdout and stderr) */
  readonly onLine?: (rank: number, line: string) => void;
  /** stop every rank after this long (default: none) */
  readonly timeoutMs?: number;
}

/** One rank exited with an error (or was stopped because another one did). */
export class RankFailedError extends Error {
  constructor(
    message: string,
    readonly rank: number,
    readonly code: number | null,
    readonly signal: string | null,
  ) {
    super(message);
    this.name = 'RankFailedError';
  }
}

/** A free TCP port on this machine (bound, then released). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** torch's version for `python`, or TorchUnavailableError naming the apt-get line. */
export function torchVersion(python = DEFAULT_TORCH_PYTHON): string {
  const r = spawnSync(python, ['-c', 'import torch, torch.distributed as d; print(torch.__version__, d.is_available())'], {
    encoding: 'utf8',
  });
  if (r.error) throw new TorchUnavailableError(`cannot run PyTorch with ${python}: ${r.error.message}; ${TORCH_INSTALL_HINT}`);
  if (r.status !== 0)
    throw new TorchUnavailableError(
      `python3-torch is missing for ${python} (${r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`}); ${TORCH_INSTALL_HINT}`,
    );
  const [version, dist] = r.stdout.trim().split(' ');
  if (dist !== 'True')
    throw new TorchUnavailableError(`torch ${version} for ${python} was built without torch.distributed; ${TORCH_INSTALL_HINT}`);
  return version!;
}

function checkLaunch(o: LaunchOptions): { nnodes: number; nodeRank: number } {
  const nnodes = o.nnodes ?? 1,
    nodeRank = o.nodeRank ?? 0;
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`launch: ${name} must be an integer >= ${min}, got ${v}`);
  };
  int('nprocPerNode', o.nprocPerNode, 1);
  int('nnodes', nnodes, 1);
  int('nodeRank', nodeRank, 0);
  if (nodeRank >= nnodes) throw new Error(`launch: nodeRank must be below nnodes (${nnodes}), got ${nodeRank}`);
  if (nnodes > 1 && o.masterPort === undefined)
    throw new Error('launch: a run over several nodes needs masterPort (and masterAddr): every node must name the same rank-0 endpoint');
  return { nnodes, nodeRank };
}

/** The torchrun line that starts the same processes on a PyTorch install where torchrun works. */
export function torchrunCommand(o: LaunchOptions & { readonly masterPort: number }): string {
  const { nnodes, nodeRank } = checkLaunch(o);
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
  return [
    'torchrun',
    '--nnodes',
    String(nnodes),
    '--node-rank',
    String(nodeRank),
    '--nproc-per-node',
    String(o.nprocPerNode),
    '--master-addr',
    o.masterAddr ?? '127.0.0.1',
    '--master-port',
    String(o.masterPort),
    o.script,
    ...o.args,
  ]
    .map(q)
    .join(' ');
}

/**
 * Start this node's ranks and wait for all of them. Resolves when every rank exits 0; rejects
 * with RankFailedError naming the first rank that failed (its exit code and last stderr lines)
 * after stopping the others.
 */
export async function launchRanks(o: LaunchOptions): Promise<{ masterPort: number; worldSize: number }> {
  const { nnodes, nodeRank } = checkLaunch(o);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? (await freePort(masterAddr));
  const world = nnodes * o.nprocPerNode;
  const python = o.python ?? DEFAULT_TORCH_PYTHON;
  const procs = Array.from({ length: o.nprocPerNode }, (_, local) => {
    const rank = nodeRank * o.nprocPerNode + local;
    const env = {
      ...process.env,
      ...o.env,
      MASTER_ADDR: masterAddr,
      MASTER_PORT: String(masterPort),
      WORLD_SIZE: String(world),
      RANK: String(rank),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(o.nprocPerNode),
      GROUP_RANK: String(nodeRank),
      NODE_RANK: String(nodeRank),
      PYTHONUNBUFFERED: '1',
    };
    const child = spawn(python, [o.script, ...o.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const lines = (stream: NodeJS.ReadableStream, keep: boolean) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        for (const l of parts) {
          o.onLine?.(rank, l);
          if (keep) {
            tail.push(l);
            if (tail.length > 30) tail.shift();
          }
        }
      });
      stream.on('end', () => {
        if (rest) {
          o.onLine?.(rank, rest);
          if (keep) tail.push(rest);
        }
      });
    };
    lines(child.stdout!, false);
    lines(child.stderr!, true);
    // the moment the process ended ('exit'), not when its pipes closed ('close'): which rank failed
    // first is told by it (a rank whose peer died fails too, moments later, in a collective)
    const proc = {
      rank,
      child,
      tail,
      exited: false,
      exitAt: Infinity,
      done: undefined as unknown as Promise<{ code: number | null; signal: string | null }>,
    };
    child.once('exit', () => {
      proc.exitAt = performance.now();
    });
    proc.done = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('error', (e) => {
        tail.push(e.message);
        proc.exitAt = Math.min(proc.exitAt, performance.now());
        resolve({ code: null, signal: null });
      });
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    return proc;
  });

  let failure: RankFailedError | undefined;
  const stopOthers = () => {
    for (const p of procs) {
      if (p.exited || p.child.pid === undefined) continue;
      p.child.kill('SIGTERM');
      // a rank blocked in a collective may ignore SIGTERM's default handling through torch's handlers
      setTimeout(() => {
        if (!p.exited) p.child.kill('SIGKILL');
      }, 3000).unref();
    }
  };
  const timer =
    o.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          failure ??= new RankFailedError(`the run took longer than ${o.timeoutMs} ms: every rank stopped`, -1, null, null);
          stopOthers();
        }, o.timeoutMs);
  const failed: Array<{ p: (typeof procs)[number]; code: number | null; signal: string | null }> = [];
  await Promise.all(
    procs.map(async (p) => {
      const { code, signal } = await p.done;
      p.exited = true;
      if (code === 0) return;
      failed.push({ p, code, signal });
      stopOthers();
    }),
  );
  // report the rank that ended first on its own (not one this launcher stopped)
  const first = failed.filter((f) => f.signal === null).sort((a, b) => a.p.exitAt - b.p.exitAt)[0] ?? failed[0];
  if (first && !failure) {
    const last = first.p.tail
      .filter((l) => l.trim())
      .slice(-12)
      .join('\n    ');
    failure = new RankFailedError(
      `rank ${first.p.rank} of ${world} failed ` +
        `(${first.code !== null ? `exit code ${first.code}` : `signal ${first.signal ?? 'unknown'}`}); the other ranks were ` +
        `stopped${last ? `. Its last lines:\n    ${last}` : ''}`,
      first.p.rank,
      first.code,
      first.signal,
    );
  }
  if (timer) clearTimeout(timer);
  if (failure) throw failure;
  return { masterPort, worldSize: world };
}
