/**
 * Test preload (`node --import tsx --import ./test/enospc-preload.ts ...`): what a full disk does
 * to an export. A write to a file in an exporter temp directory (`.<name>.tmp-<pid>/`) whose path
 * ends with LCTR_TEST_ENOSPC writes half its bytes, then fails with ENOSPC. Patched on node:fs
 * and synced into its ESM named exports, so the code under test is not touched.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const needle = process.env['LCTR_TEST_ENOSPC'];
if (needle) {
  const doomed = new Set<number>();
  const { openSync, writeSync, closeSync } = fs;
  const open = openSync as (...a: unknown[]) => number;
  const write = writeSync as (...a: unknown[]) => number;
  fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = open(path, ...rest);
    if (/[/\\]\.[^/\\]+\.tmp-[0-9]+[/\\]/.test(String(path)) && String(path).endsWith(needle)) doomed.add(fd);
    return fd;
  }) as typeof fs.openSync;
  fs.writeSync = ((fd: number, buf: unknown, ...rest: unknown[]) => {
    if (doomed.has(fd) && ArrayBuffer.isView(buf)) {
      const len = typeof rest[1] === 'number' ? rest[1] : buf.byteLength;
      write(fd, buf, typeof rest[0] === 'number' ? rest[0] : 0, Math.floor(len / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    }
    return write(fd, buf, ...rest);
  }) as typeof fs.writeSync;
  fs.closeSync = ((fd: number) => {
    doomed.delete(fd);
    closeSync(fd);
  }) as typeof fs.closeSync;
  syncBuiltinESMExports();
}
