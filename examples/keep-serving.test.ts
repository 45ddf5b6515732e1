import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

describe('KEEP served end to end (examples/keep-serving.ts)', () => {
  it('GKC rows equal the exported tables assembled per Eq. 6, no unknown keys, and ONNX Runtime scores the request as ref-cpu does', () => {
    const r = spawnSync('npx', ['tsx', 'examples/keep-serving.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => l.startsWith('ok   '))).toHaveLength(3);
    expect(lines.some((l) => l.startsWith('FAIL'))).toBe(false);
    expect(r.stdout).toMatch(
      /GKC version v1: \d+ users, \d+ items, \d+ user-category rows; served vector 32-d \(user, item, user\*item, userCategory\)/,
    );
    expect(r.stdout).toMatch(/request: user \d+, \d+ candidates/);
  }, 180_000);
});
