/**
 * `trove invalidate` and `trove invalidate-tags`: asked for on a terminal (a pseudo-terminal
 * here), refused without a terminal unless `--yes`, and effective in the processes that hold the
 * entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrove, type Trove } from '../../src/index.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer } from '../helpers/troves.js';
import { CLI_TEST_TIMEOUT, ESCAPE, lines, runCli, runCliOnTty, useBuiltCli } from './support.js';

useBuiltCli();
const redis = useRedisServer();
const prefix = 'invalidate-cli';
let trove: Trove;

beforeAll(async () => {
  // With its near cache: an invalidation must reach the values this process keeps, too.
  trove = createTrove({ redis: redis.server.url, prefix, version: 'v1', commandTimeout: TEST_COMMAND_TIMEOUT });
  await trove.ready();
});

afterAll(async () => {
  await trove?.close();
});

const args = (...rest: string[]) => ['--redis', redis.server.url, '--prefix', prefix, '--version', 'v1', ...rest];

/** Stores a value in `region` and reads it once (so the near cache keeps it). */
async function seed(region: string, key: string, tags?: string[]): Promise<void> {
  await trove.region(region).set(key, { region, key }, tags ? { tags } : {});
  expect(await trove.region(region).get(key)).toEqual({ region, key });
}

describe('without a terminal', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('refuses to invalidate without --yes, and invalidates nothing', async () => {
    await seed('carts', 'c1', ['shop:1']);
    const region = await runCli(args('invalidate', 'carts'));
    expect(region.code).toBe(1);
    expect(region.stdout).toBe('');
    expect(region.stderr).toBe(
      "trove: Invalidate region 'carts' and every region below it (prefix 'invalidate-cli', version 'v1'), in every process: not confirmed (no terminal to ask on); pass --yes to confirm\n",
    );
    const tags = await runCli(args('invalidate-tags', 'shop:1'));
    expect(tags.code).toBe(1);
    expect(lines(tags.stderr)).toHaveLength(1);
    expect(tags.stderr).toMatch(/not confirmed \(no terminal to ask on\); pass --yes to confirm\n$/);
    // Answering on a pipe is no confirmation either.
    expect((await runCli(args('invalidate', 'carts'), { input: 'y\n' })).code).toBe(1);
    expect(await trove.region('carts').get('c1')).toEqual({ region: 'carts', key: 'c1' });
  });

  it('invalidates a region and the regions below it with --yes', async () => {
    await seed('carts', 'c2');
    await seed('carts.items', 'i1');
    await seed('wishlists', 'w1');
    const { code, stdout, stderr } = await runCli(args('invalidate', 'carts', '--yes'));
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: "Invalidated region 'carts' and every region below it.\n", stderr: '' });
    await until(async () => (await trove.region('carts').get('c2')) === undefined && (await trove.region('carts.items').get('i1')) === undefined);
    expect(await trove.region('wishlists').get('w1')).toEqual({ region: 'wishlists', key: 'w1' });
  });

  it('invalidates tags with --yes', async () => {
    await seed('profiles', 'p1', ['org:1']);
    await seed('profiles', 'p2', ['org:2']);
    await seed('avatars', 'a1', ['org:1']);
    const { code, stdout } = await runCli(args('invalidate-tags', 'org:1', 'org:3', '-y'));
    expect(code).toBe(0);
    expect(stdout).toBe("Invalidated tags 'org:1', 'org:3'.\n");
    await until(async () => (await trove.region('profiles').get('p1')) === undefined && (await trove.region('avatars').get('a1')) === undefined);
    expect(await trove.region('profiles').get('p2')).toEqual({ region: 'profiles', key: 'p2' });
  });

  it('refuses an unknown region before asking anything', async () => {
    const { code, stdout, stderr } = await runCli(args('invalidate', 'cartz', '--yes'));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(lines(stderr)).toHaveLength(1);
    expect(stderr).toMatch(
      /^trove: unknown region 'cartz': no entries, statistics or invalidations under prefix 'invalidate-cli', version 'v1' \(known: .*carts.*\)\n$/,
    );
  });
});

describe('on a terminal', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('asks, and invalidates on yes', async () => {
    await seed('orders', 'o1');
    const run = runCliOnTty(args('invalidate', 'orders'));
    await run.waitFor('[y/N] ');
    expect(run.output).toContain("Invalidate region 'orders' and every region below it (prefix 'invalidate-cli', version 'v1'), in every process? [y/N] ");
    run.type('y\n');
    const { code, output } = await run.done;
    expect(code).toBe(0);
    expect(output).toContain("Invalidated region 'orders' and every region below it.");
    await until(async () => (await trove.region('orders').get('o1')) === undefined);
  });

  it('asks, and invalidates nothing on no or on any other answer', async () => {
    await seed('orders', 'o2', ['tenant:1']);
    for (const [command, answer] of [
      [['invalidate', 'orders'], 'n\n'],
      [['invalidate', 'orders'], 'maybe\n'],
      [['invalidate-tags', 'tenant:1'], '\n'],
    ] as const) {
      const run = runCliOnTty(args(...command), { env: { NO_COLOR: '1' } });
      await run.waitFor('[y/N] ');
      run.type(answer);
      const { code, output } = await run.done;
      expect(code).toBe(1);
      expect(output).toContain('trove: cancelled: nothing was invalidated');
      // NO_COLOR: not even the prompt carries an escape code.
      expect(output).not.toContain(ESCAPE);
    }
    expect(await trove.region('orders').get('o2')).toEqual({ region: 'orders', key: 'o2' });
  });

  it('asks for tags, and invalidates them on yes', async () => {
    await seed('orders', 'o3', ['tenant:2']);
    const run = runCliOnTty(args('invalidate-tags', 'tenant:2'));
    await run.waitFor("Invalidate every entry tagged 'tenant:2' (prefix 'invalidate-cli', version 'v1'), in every region and process? [y/N] ");
    run.type('yes\n');
    expect((await run.done).code).toBe(0);
    await until(async () => (await trove.region('orders').get('o3')) === undefined);
  });
});
