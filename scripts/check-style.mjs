#!/usr/bin/env node
// The test command's style step: Biome's formatter and linter (biome.json) over the repository,
// then line length. Lines stay within 140 characters; the ones that still are longer are strings
// whose only break points sit inside `${...}` (a formatter never splits strings) and are counted
// here so the number can only go down (MAX_LONG_LINES; lower it when you shorten some).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 140;
const MAX_LONG_LINES = 75;

const biome = spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['ci', '.', '--diagnostic-level=error'], { cwd: ROOT, stdio: 'inherit' });
if (biome.status !== 0) {
  console.error('style: biome ci failed (npx biome check --write . formats and fixes what it can)');
  process.exit(1);
}
const files = execFileSync('git', ['ls-files', '*.ts', '*.mjs', '*.js'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
const long = [];
for (const f of files) {
  readFileSync(join(ROOT, f), 'utf8')
    .split('\n')
    .forEach((l, i) => {
      if (l.length > LIMIT) long.push(`${f}:${i + 1} (${l.length})`);
    });
}
if (long.length > MAX_LONG_LINES) {
  console.error(
    `style: ${long.length} lines are longer than ${LIMIT} characters, at most ${MAX_LONG_LINES} allowed:\n  ${long.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`style: biome ci ok; ${long.length} lines over ${LIMIT} characters (at most ${MAX_LONG_LINES})`);
