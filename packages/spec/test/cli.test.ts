import { describe, expect, it } from 'vitest';
import { ConfigError, StorageError } from '../src/index.ts';
import { UsageError, choiceFlag, intFlag, intListFlag, numberFlag, parseCommand, runCommand, wantsHelp } from '../src/cli.ts';

const spec = {
  name: 'lctr demo',
  usage: 'usage: lctr demo --steps N [--name S]',
  options: { steps: { type: 'string' }, name: { type: 'string' }, quick: { type: 'boolean' } },
} as const;

function capture() {
  const out: string[] = [],
    err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (t: string) => {
        out.push(t);
      },
      err: (t: string) => {
        err.push(t);
      },
    },
  };
}

describe('runCommand', () => {
  it('--help prints the usage on stdout, returns 0 and never calls main (no side effect)', async () => {
    for (const argv of [['--help'], ['--steps', 'x', '-h'], ['--bogus', '--help']]) {
      const c = capture();
      let called = false;
      const code = await runCommand(
        spec,
        argv,
        () => {
          called = true;
          return 0;
        },
        c.io,
      );
      expect([code, called, c.out, c.err]).toEqual([0, false, [spec.usage], []]);
    }
  });

  it('an unknown option is a usage error: exit 2, the option named, then the usage', async () => {
    const c = capture();
    const code = await runCommand(spec, ['--bogus'], () => 0, c.io);
    expect(code).toBe(2);
    expect(c.err).toEqual([`lctr demo: Unknown option '--bogus'\n${spec.usage}`]);
  });

  it('maps errors to exit codes: usage/config 2, storage 3, our named errors 1 with the message, bugs 1 with the stack', async () => {
    const run = async (e: Error) => {
      const c = capture();
      const code = await runCommand(
        spec,
        [],
        () => {
          throw e;
        },
        c.io,
      );
      return { code, text: c.err.join('\n') };
    };
    expect(await run(new UsageError('--steps is required'))).toEqual({ code: 2, text: `lctr demo: --steps is required\n${spec.usage}` });
    expect(await run(new ConfigError(['a.json: config.seed: missing', 'a.json: config.x: unknown key']))).toEqual({
      code: 2,
      text: 'lctr demo: a.json: config.seed: missing\nlctr demo: a.json: config.x: unknown key',
    });
    expect(await run(new StorageError('write checkpoint', 'out/x', 'ENOSPC'))).toEqual({
      code: 3,
      text: 'lctr demo: cannot write checkpoint out/x: no space left on the device (ENOSPC)',
    });
    class ModelDirError extends Error {
      override name = 'ModelDirError';
    }
    expect(await run(new ModelDirError('out/models/lcn: report.json says the export failed'))).toEqual({
      code: 1,
      text: 'lctr demo: out/models/lcn: report.json says the export failed',
    });
    const bug = await run(new TypeError('x is undefined'));
    expect(bug.code).toBe(1);
    expect(bug.text).toMatch(/^lctr demo: TypeError: x is undefined\n\s+at /);
  });

  it("main's return value is the exit code; undefined is 0", async () => {
    expect(await runCommand(spec, ['--steps', '3'], (p) => Number(p.values.steps), capture().io)).toBe(3);
    expect(await runCommand(spec, [], () => undefined, capture().io)).toBe(0);
  });
});

describe('flags', () => {
  it('parseCommand types the values and refuses positionals unless allowed', () => {
    const p = parseCommand(spec, ['--steps', '5', '--quick']);
    expect(p.values).toEqual({ steps: '5', quick: true });
    expect(() => parseCommand(spec, ['extra'])).toThrow(
      new UsageError("Unexpected argument 'extra'. This command does not take positional arguments"),
    );
    expect(parseCommand({ ...spec, allowPositionals: true }, ['run', '--quick']).positionals).toEqual(['run']);
  });

  it('intFlag: absent is undefined; bounds and non-integers name the flag and the value', () => {
    expect(intFlag('steps', undefined, 1)).toBeUndefined();
    expect(intFlag('steps', '12', 1)).toBe(12);
    expect(() => intFlag('steps', '0', 1)).toThrow("--steps must be an integer >= 1, got '0'");
    expect(() => intFlag('steps', '1.5', 1)).toThrow("--steps must be an integer >= 1, got '1.5'");
    expect(() => intFlag('port', '70000', 0, 65535)).toThrow("--port must be an integer in [0, 65535], got '70000'");
    expect(() => intFlag('steps', '9007199254740993', 1)).toThrow("--steps must be an integer >= 1, got '9007199254740993'");
  });

  it('numberFlag, intListFlag, choiceFlag', () => {
    expect(numberFlag('min-gap', '0.7', 0)).toBe(0.7);
    expect(() => numberFlag('min-gap', 'abc')).toThrow("--min-gap must be a number, got 'abc'");
    expect(() => numberFlag('min-gap', '', 0)).toThrow("--min-gap must be a number >= 0, got ''");
    expect(intListFlag('seeds', '1,2,3', 0)).toEqual([1, 2, 3]);
    expect(() => intListFlag('seeds', '1,x', 0)).toThrow("--seeds must be an integer >= 0, got 'x'");
    expect(choiceFlag('provider', 'cpu', ['auto', 'cpu', 'cuda'] as const)).toBe('cpu');
    expect(() => choiceFlag('provider', 'tpu', ['auto', 'cpu'])).toThrow("--provider must be one of auto, cpu, got 'tpu'");
  });

  it('wantsHelp stops at --', () => {
    expect(wantsHelp(['--', '--help'])).toBe(false);
    expect(wantsHelp(['-h'])).toBe(true);
  });
});
