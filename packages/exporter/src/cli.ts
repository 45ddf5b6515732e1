#!/usr/bin/env tsx
/** `nx run exporter:onnx [-- --model demo --out out/demo --seed 7 --force]` */
import { parseArgs } from 'node:util';
import { ExportError, MODELS, exportModel } from './export.ts';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: 'string', default: 'demo' },
        out: { type: 'string' },
        seed: { type: 'string', default: '20240801' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`exporter: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(`usage: nx run exporter:onnx -- [--model ${Object.keys(MODELS).join('|')}] [--out DIR] [--seed N] [--force]`);
    return 0;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) { console.error(`exporter: --seed must be an integer, got '${values.seed}'`); return 2; }
  const model = values.model!;
  const out = values.out ?? `out/${model}`;
  try {
    const t0 = Date.now();
    const res = await exportModel({ model, out, seed, force: values.force, log: (l) => console.log(l) });
    console.log(`wrote ${res.files.join(', ')} to ${res.dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (!res.parity.ok) {
      for (const f of res.parity.failures) console.error(`parity failure: ${f}`);
      return 1;
    }
    if (res.checkerOk === false) return 1;
    return 0;
  } catch (e) {
    if (e instanceof ExportError || (e instanceof Error && /^(Weights|Input|Graph)/.test(e.name))) {
      console.error(`exporter: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main();
