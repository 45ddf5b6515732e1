/**
 * The packages install outside this repository: every package is built to dist/ (JavaScript and
 * .d.ts) and packed (scripts/pack.ts); a fresh folder in the system temp dir installs the
 * tarballs from npm's cache and uses @lctr/spec, @lctr/backend-onnx and the lctr CLI with plain
 * `node` (no tsx: the consumer does not have it) and typechecks against them with
 * `tsc --strict --module nodenext`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, initWeights } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { packAll } from '../../../scripts/pack.ts';

const root = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'lctr-consumer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// the consumer's program, as a user would write it (JavaScript for node, the same in TypeScript for tsc)
const PROGRAM = `import { GraphBuilder, initWeights } from '@lctr/spec';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
const b = new GraphBuilder('tiny', { x: { dtype: 'float32', shape: ['batch', 3] } });
const w = b.param('w', [3, 1], { kind: 'normal', std: 0.5 });
const g = b.build({ y: b.sigmoid(b.matmul(b.inputs.x, w)) });
const session = await OnnxSession.create(exportOnnx(g, initWeights(g, 7)), g);
const out = await session.run({ x: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } });
await session.release();
console.log(JSON.stringify(Array.from(out.y.data)));
`;
const TYPED = `${PROGRAM.replace("{ x: { dtype: 'float32', shape: ['batch', 3] } }", "{ x: { dtype: 'float32', shape: ['batch', 3] } } as const").replace('Array.from(out.y.data)', 'Array.from(out.y.data as Float32Array)')}
import { type HostTensor } from '@lctr/spec';
import { run } from '@lctr/cli';
const y: HostTensor = out.y;
const code: number = await run(['--help']);
// @ts-expect-error: the DSL types its inputs: int32 where float32 is expected does not compile
b.exp(b.scalar(1, 'int32'));
export { y, code };
`;

describe('packages another project can install', () => {
  it('builds, packs, installs outside the workspace, runs with plain node and typechecks with tsc --strict nodenext', () => {
    const tarballs = packAll(join(tmp, 'pack'), process.env.LCTR_PACK_SKIP_BUILD !== '1');
    expect(tarballs.map((t) => t.split('/').at(-1))).toEqual(
      expect.arrayContaining(['lctr-spec-0.1.0.tgz', 'lctr-backend-onnx-0.1.0.tgz', 'lctr-cli-0.1.0.tgz']),
    );
    const app = join(tmp, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // every @lctr tarball: the CLI depends on the others, and none of them is on a registry
    const install = spawnSync(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--omit=optional', '--no-audit', '--no-fund', ...tarballs],
      { cwd: app, encoding: 'utf8' },
    );
    expect(install.status, install.stderr).toBe(0);
    expect(existsSync(join(app, 'node_modules/@lctr/spec/dist/index.js'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/@lctr/spec/src'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/tsx'))).toBe(false);

    // plain node, same numbers as the float64 oracle in this repository
    writeFileSync(join(app, 'use.mjs'), PROGRAM);
    const r = spawnSync(process.execPath, ['use.mjs'], { cwd: app, encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const b = new GraphBuilder('tiny', { x: { dtype: 'float32', shape: ['batch', 3] } } as const);
    const w = b.param('w', [3, 1], { kind: 'normal', std: 0.5 });
    const g = b.build({ y: b.sigmoid(b.matmul(b.inputs.x, w)) });
    const ref = runRef(g, initWeights(g, 7), { x: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } }).y
      .data;
    const got = JSON.parse(r.stdout.trim()) as number[];
    expect(got).toHaveLength(2);
    got.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThan(1e-6));

    // the CLI's bin from dist
    const help = spawnSync(join(app, 'node_modules/.bin/lctr'), ['--help'], { cwd: app, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: lctr <command>/);

    // tsc --strict, NodeNext, against the published .d.ts (long: onnx-proto's declarations name it)
    writeFileSync(join(app, 'use.ts'), TYPED);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          types: ['node', 'long'],
          typeRoots: [join(root, 'node_modules/@types'), './node_modules/@types'],
        },
        files: ['use.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  }, 600_000);
});
