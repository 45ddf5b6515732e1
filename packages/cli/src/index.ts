export { type Subcommand, SUBCOMMANDS, run, usage } from './main.ts';
