/** A child process for the SIGKILL test: exports the demo model into argv[2] with seed argv[3]. */
import { exportModel } from '../src/index.ts';

const [repo, seed] = process.argv.slice(2);
console.log('exporting');
await exportModel({ model: 'demo', out: repo!, seed: Number(seed) });
console.log('exported');
