#!/usr/bin/env node
// The `lctr` command. An installed package runs its compiled dist/; inside the repository (no
// dist/) the TypeScript sources run through tsx, so a checkout needs no build step.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/main.js', import.meta.url);
let mod;
if (existsSync(dist)) {
  mod = await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(new URL('../src/main.ts', import.meta.url).href);
}
process.exitCode = await mod.run(process.argv.slice(2));
