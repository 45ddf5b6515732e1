/** The run the SIGKILL test trains, in the child and in the test process alike. */
import { tinyConfig, tinyGraph, tinySource } from './fixtures.ts';

export const KILL_SETUP = () => ({
  // a 20000 x 8 user table: each checkpoint writes about 2 MB (weights, m, v), so kills often land mid-write
  graph: tinyGraph({ users: 20000, userDim: 8 }),
  source: tinySource(400, 9, 20000),
  config: tinyConfig({ steps: 150, batchSize: 32, evalEvery: 0, checkpointEvery: 0, keep: 2, logEvery: 10 }),
});
