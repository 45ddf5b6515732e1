#!/usr/bin/env node
// Before the tests: the Debian packages they use as oracles and services. A missing one stops the
// test command at once with the one apt-get line that installs what is missing, instead of a dozen
// scattered failures later. (.ci/run installs them; the README names them.)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PY = '/usr/bin/python3';
const pyHas = (mod) => existsSync(PY) && spawnSync(PY, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** package -> whether it is present, and what the tests use it for */
const NEEDS = [
  ['python3-onnx', () => pyHas('onnx'), 'the ONNX checker every exported test model must pass'],
  ['python3-sklearn', () => pyHas('sklearn'), 'the independent AUC / log-loss oracle'],
  ['python3-torch', () => pyHas('torch'), "the PyTorch backend's parity and distributed tests"],
  ['redis-server', () => onPath('redis-server'), "the knowledge center's Redis store tests"],
  ['chromium', () => onPath('chromium'), "the server's explain page test (headless)"],
];

const missing = NEEDS.filter(([, present]) => !present());
if (missing.length) {
  console.error(
    `The tests need Debian packages that are missing (${missing.map(([p, , why]) => `${p}: ${why}`).join('; ')}). Install them with:\n` +
      `  apt-get update && apt-get install -y ${missing.map(([p]) => p).join(' ')}`,
  );
  process.exit(1);
}
