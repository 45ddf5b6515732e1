#!/usr/bin/env -S npx tsx
/** `npx tsx packages/data/src/bin.ts inspect|compile <dataset.json>` (the `lctr data` command). */
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
