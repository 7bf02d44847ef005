import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { argsKey, encodeArgs } from '../../../src/keys/args/index.js';
import { goldenCases, sampledCases } from './fixtures/cases.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/print-keys.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SEED = 20240601;
const COUNT = 500;

type ChildOutput = { golden: string[][]; sampled: string[] };

async function keysFromChild(env: Record<string, string>, flags: string[] = []): Promise<ChildOutput> {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--import', 'tsx', SCRIPT, String(SEED), String(COUNT)], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 25_000,
  });
  return JSON.parse(stdout) as ChildOutput;
}

describe('keys are the same in another process', () => {
  const local = {
    golden: goldenCases().map((c) => [encodeArgs(c.args), argsKey(c.args), argsKey(c.args, { readable: true })]),
    sampled: sampledCases(SEED, COUNT).map((args) => argsKey(args)),
  };

  let otherZone: ChildOutput;
  let otherSeed: ChildOutput;
  beforeAll(async () => {
    [otherZone, otherSeed] = await Promise.all([
      keysFromChild({ TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' }),
      keysFromChild({ TZ: 'UTC' }, ['--hash-seed=12345', '--stack-size=600']),
    ]);
  });

  it('with another time zone and locale', () => {
    const child = otherZone;
    expect(child.golden).toEqual(local.golden);
    expect(child.sampled).toEqual(local.sampled);
    // The sample is varied: a constant key would make the comparison above meaningless.
    expect(new Set(local.sampled).size).toBeGreaterThan(COUNT / 2);
  });

  it('with a different hash seed and a small stack', () => {
    const child = otherSeed;
    expect(child.golden).toEqual(local.golden);
    expect(child.sampled).toEqual(local.sampled);
  });
});
