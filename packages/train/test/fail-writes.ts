/**
 * Storage refusals on demand, for tests: writes to files whose path matches a pattern fail the way
 * a full disk fails them (ENOSPC from write(2)). It patches node:fs and re-syncs its ESM named
 * exports (module.syncBuiltinESMExports), so every `import { writeSync } from 'node:fs'`,
 * spec's atomicWriteFile included, sees it; no test hook in the code under test.
 * As a preload (`node --import tsx --import ./fail-writes.ts`) it reads the pattern from
 * LCTR_TEST_FAIL_WRITES, so a CLI run in a child process hits a full disk too.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/** Make writes to matching paths fail with ENOSPC until the returned function is called. */
export function failWrites(pattern: RegExp, code = 'ENOSPC'): () => void {
  const { openSync, writeSync, closeSync } = fs;
  const doomed = new Set<number>();
  fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = (openSync as (...a: unknown[]) => number)(path, ...rest);
    if (pattern.test(String(path))) doomed.add(fd);
    return fd;
  }) as typeof fs.openSync;
  fs.writeSync = ((fd: number, ...rest: unknown[]) => {
    if (doomed.has(fd)) throw Object.assign(new Error(`${code}: no space left on device, write`), { code, syscall: 'write' });
    return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  fs.closeSync = ((fd: number) => {
    doomed.delete(fd);
    closeSync(fd);
  }) as typeof fs.closeSync;
  syncBuiltinESMExports();
  return () => {
    Object.assign(fs, { openSync, writeSync, closeSync });
    syncBuiltinESMExports();
  };
}

if (process.env.LCTR_TEST_FAIL_WRITES) failWrites(new RegExp(process.env.LCTR_TEST_FAIL_WRITES));
