/**
 * ensureTrainedRun (what `nx run exporter:train-default` runs): trains through the trainer CLI
 * into a temp directory and swaps a finished run in; reuses a finished run with the same config;
 * retrains when the config changed; never replaces a directory that is not a training run; leaves
 * the old run alone when the trainer fails. A tiny config keeps each training run to seconds.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { latestCheckpointDir, parseTrainConfig, readCheckpoint, trainModelNames } from '@lctr/train';
import { DEFAULT_JOB, ExportError, ensureTrainedRun } from '../src/index.ts';
import { STEPS, lifelongArch, tinyConfig } from './tiny-runs.ts';

const base = mkdtempSync(join(tmpdir(), 'lctr-default-run-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const runs = join(base, 'train');
const runDir = join(runs, 'lcn-tiny');
const configPath = join(base, 'lcn-tiny.json');
const trainerArgs = ['--backend', 'cpu'];
const stateOf = (dir: string) => readCheckpoint(latestCheckpointDir(dir)!).state;

describe('ensureTrainedRun', () => {
  it('trains into a temp directory and swaps the finished run in; then reuses it', async () => {
    writeFileSync(configPath, JSON.stringify(tinyConfig(lifelongArch)));
    const lines: string[] = [];
    const first = await ensureTrainedRun({ model: 'lcn', config: configPath, runDir, trainerArgs, log: (l) => lines.push(l) });
    expect(first).toEqual({ runDir, reused: false, step: STEPS });
    expect(lines[0]).toMatch(
      new RegExp(`^training 'lcn' with ${configPath} into ${join(runs, '.lcn-tiny.tmp-')}\\d+ \\(swapped into ${runDir} once finished\\)$`),
    );
    expect(readdirSync(runs)).toEqual(['lcn-tiny']);
    expect(readdirSync(runDir).sort()).toEqual(['checkpoints', 'metrics.jsonl']);
    expect(stateOf(runDir).config).toEqual(parseTrainConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath));

    const written = statSync(join(runDir, 'metrics.jsonl')).mtimeMs;
    lines.length = 0;
    const again = await ensureTrainedRun({ model: 'lcn', config: configPath, runDir, trainerArgs, log: (l) => lines.push(l) });
    expect(again).toEqual({ runDir, reused: true, step: STEPS });
    expect(lines).toEqual([`reusing the finished run ${runDir} (step ${STEPS}, trained with ${configPath})`]);
    expect(statSync(join(runDir, 'metrics.jsonl')).mtimeMs).toBe(written);

    // printed paths are relative to the current directory when they lie inside it (pasteable output, no checkout path)
    lines.length = 0;
    const cwd = vi.spyOn(process, 'cwd').mockReturnValue(base);
    try {
      await ensureTrainedRun({ model: 'lcn', config: configPath, runDir, trainerArgs, log: (l) => lines.push(l) });
    } finally {
      cwd.mockRestore();
    }
    expect(lines).toEqual([`reusing the finished run train/lcn-tiny (step ${STEPS}, trained with ${configPath})`]);
  });

  it('retrains when the config changed, and replaces the old run only with a finished one', async () => {
    const changed = join(base, 'lcn-tiny-lr.json');
    writeFileSync(changed, JSON.stringify(tinyConfig(lifelongArch, { optimizer: { name: 'adam', lr: 0.02 }, steps: STEPS + 1 })));
    const lines: string[] = [];
    const res = await ensureTrainedRun({ model: 'lcn', config: changed, runDir, trainerArgs, log: (l) => lines.push(l) });
    expect(res).toEqual({ runDir, reused: false, step: STEPS + 1 });
    expect(lines[0]).toBe(
      `not reusing ${runDir}: its config (${join(runDir, 'checkpoints', `step-${STEPS}`, 'state.json')}) differs from ${changed}; ` +
        `training anew`,
    );
    expect(stateOf(runDir).config.optimizer.lr).toBe(0.02);
    expect(readdirSync(runs)).toEqual(['lcn-tiny']);

    // a trainer that fails (the din trainer rejects the lcn config) leaves the run as it was
    await expect(ensureTrainedRun({ model: 'din', config: configPath, runDir, trainerArgs })).rejects.toThrow(
      new ExportError(`the trainer exited with code 2; ${runDir} is left as it was`),
    );
    expect(stateOf(runDir).config.optimizer.lr).toBe(0.02);
    expect(readdirSync(runs)).toEqual(['lcn-tiny']);
  });

  it('never replaces a directory that is not a training run; names a bad config and an unknown model', async () => {
    const foreign = join(base, 'mine');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'keep me');
    await expect(ensureTrainedRun({ model: 'lcn', config: configPath, runDir: foreign })).rejects.toThrow(
      new ExportError(
        `run directory ${foreign}: expected a training run (only metrics.jsonl, checkpoints), got notes.txt; move it away, it is not ` +
          `replaced`,
      ),
    );
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
    const bad = join(base, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...tinyConfig(lifelongArch), batchSize: 0 }));
    await expect(ensureTrainedRun({ model: 'lcn', config: bad, runDir: join(base, 'never') })).rejects.toThrow(
      /^training config .*bad\.json:\n {2}.*batchSize/,
    );
    await expect(ensureTrainedRun({ model: 'lcn', config: join(base, 'missing.json'), runDir: join(base, 'never') })).rejects.toThrow(
      new ExportError(`training config ${join(base, 'missing.json')}: cannot read it (ENOENT)`),
    );
    await expect(ensureTrainedRun({ model: 'lcn-9000', config: configPath, runDir: join(base, 'never') })).rejects.toThrow(
      new ExportError(`trainer model: expected one of ${trainModelNames().join(', ')}, got 'lcn-9000'`),
    );
    expect(existsSync(join(base, 'never'))).toBe(false);
  });

  it('the default job is the committed lcn-default config on the small synthetic world', () => {
    const root = join(import.meta.dirname, '../../..');
    const json = JSON.parse(readFileSync(join(root, DEFAULT_JOB.config), 'utf8')) as { data: unknown };
    const config = parseTrainConfig(json, DEFAULT_JOB.config);
    expect(json.data).toEqual({ dataset: 'synthetic', world: 'small', worldSeed: 1 });
    expect(config.model).toMatchObject({ lap: expect.any(Object), crp: expect.any(Object) });
    expect(DEFAULT_JOB).toEqual({ model: 'lcn', config: 'packages/train/configs/lcn-default.json', runDir: 'out/train/lcn-default' });
    const project = JSON.parse(readFileSync(join(root, 'packages/exporter/project.json'), 'utf8')) as {
      targets: Record<string, { dependsOn?: string[]; cache?: boolean; inputs?: string[]; outputs?: string[] }>;
    };
    // the onnx target does not depend on train-default: the default job trains or reuses its run itself (cli.ts)
    expect(project.targets['onnx']!.dependsOn).toBeUndefined();
    expect(project.targets['train-default']).toMatchObject({ cache: true, outputs: [`{workspaceRoot}/${DEFAULT_JOB.runDir}`] });
    expect(project.targets['train-default']!.inputs).toContain(`{workspaceRoot}/${DEFAULT_JOB.config}`);
  });
});
