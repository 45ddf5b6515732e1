/**
 * Build every package to JavaScript + .d.ts and pack each as an npm tarball a project outside
 * this repository can install (`npx tsx scripts/pack.ts [--out out/pack] [--skip-build]`).
 *
 * Inside the repository the packages' `exports` name their TypeScript sources (tsx, vitest and
 * tsc read them directly, so a checkout needs no build step). A packed package is the same
 * package with `dist/` and `exports` that serve it: `"types": "./dist/X.d.ts", "default":
 * "./dist/X.js"`. One tsc program builds all packages (tsconfig.build.json, relative `.ts`
 * imports rewritten to `.js`); this script stages each package (package.json rewritten, README,
 * LICENSE, dist/, and the package's non-code files such as the trainer's configs or the CLI's
 * bin) and runs `npm pack` on the stage.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runCommand } from '@lctr/spec/cli';

const ROOT = resolve(import.meta.dirname, '..');
/** Files besides src/ that a package ships (configs the trainer's recipes name, the CLI's bin). */
const SHIPPED = ['README.md', 'bin', 'configs'];

type Exports = Record<string, string | Record<string, string>>;

/** `./src/a/b.ts` -> the dist pair a consumer resolves. */
function distExport(src: string): Record<string, string> {
  const rel = src.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '');
  return { types: `${rel}.d.ts`, default: `${rel}.js` };
}

/** Relative `.ts` specifiers left in declaration files become `.js` (tsc rewrites them in .js only). */
function fixDeclarations(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) fixDeclarations(p);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(p, 'utf8');
      const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.\.?\/[^'"]+)\.ts(['"])/g, '$1$2.js$3');
      if (fixed !== text) writeFileSync(p, fixed);
    }
  }
}

export function packAll(out: string, build = true): string[] {
  if (build)
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], {
      stdio: 'inherit',
      cwd: ROOT,
    });
  const built = join(ROOT, 'out/build');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const tarballs: string[] = [];
  for (const dir of readdirSync(join(ROOT, 'packages')).sort()) {
    const pkgDir = join(ROOT, 'packages', dir);
    if (!existsSync(join(pkgDir, 'package.json'))) continue;
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Exports;
      scripts?: unknown;
      devDependencies?: unknown;
      files?: string[];
    };
    const stage = join(out, 'stage', dir);
    mkdirSync(stage, { recursive: true });
    if (!existsSync(join(built, dir, 'src')))
      throw new Error(`${dir}: no build output in ${join(built, dir, 'src')} (run without --skip-build)`);
    cpSync(join(built, dir, 'src'), join(stage, 'dist'), { recursive: true });
    // files the code reads beside itself (a page, a worker entry): everything in src/ that is not TypeScript
    cpSync(join(pkgDir, 'src'), join(stage, 'dist'), { recursive: true, filter: (f) => statSync(f).isDirectory() || !f.endsWith('.ts') });
    fixDeclarations(join(stage, 'dist'));
    for (const f of SHIPPED) if (existsSync(join(pkgDir, f))) cpSync(join(pkgDir, f), join(stage, f), { recursive: true });
    cpSync(join(ROOT, 'LICENSE'), join(stage, 'LICENSE'));
    const exports: Exports = {};
    for (const [k, v] of Object.entries(pkg.exports ?? {})) {
      if (typeof v !== 'string') throw new Error(`${pkg.name}: export '${k}' is not a plain path; teach scripts/pack.ts its form`);
      exports[k] = distExport(v);
    }
    const { scripts: _s, devDependencies: _d, ...rest } = pkg;
    const files = ['dist', ...SHIPPED.filter((f) => existsSync(join(stage, f)) && f !== 'README.md')];
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify({ ...rest, exports, files }, null, 2)}\n`);
    const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: stage, encoding: 'utf8' })
      .trim()
      .split('\n')
      .at(-1)!;
    tarballs.push(join(out, name));
  }
  return tarballs;
}

const PACK = {
  name: 'scripts/pack',
  usage: `usage: npx tsx scripts/pack.ts [--out out/pack] [--skip-build]
  Builds every package (tsconfig.build.json -> out/build) and writes one npm tarball per package into --out.`,
  options: { out: { type: 'string' }, 'skip-build': { type: 'boolean' } },
} as const;

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  process.exitCode = await runCommand(PACK, process.argv.slice(2), ({ values }) => {
    const tarballs = packAll(resolve(values.out ?? 'out/pack'), !values['skip-build']);
    for (const t of tarballs) console.log(t);
  });
}
