/**
 * Every failure of the CLI is one line on stderr, starting `trove:`, and a non-zero exit code:
 * never a stack trace, whatever went wrong (Redis unreachable, a bad URL, an unknown region, a
 * usage error).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/redis-server.js';
import { useRedisServer } from '../helpers/troves.js';
import { CLI_TEST_TIMEOUT, type CliResult, cliPath, ESCAPE, ROOT, runCli, useBuiltCli } from './support.js';

useBuiltCli();
const redis = useRedisServer();
let closedPort = 0;

beforeAll(async () => {
  closedPort = await freePort();
});

/** Exit code 1 (or `code`), nothing on stdout, and exactly `line` on stderr. */
function expectOneLine(r: CliResult, line: string | RegExp, code = 1): void {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.slice(0, -1)).not.toContain('\n');
  expect(r.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  expect(r.stderr).not.toContain(ESCAPE);
  if (typeof line === 'string') expect(r.stderr).toBe(`${line}\n`);
  else expect(r.stderr).toMatch(line);
}

describe('one line and a non-zero exit', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('when Redis cannot be reached, for every command', async () => {
    const url = `redis://127.0.0.1:${closedPort}`;
    const line = `trove: cannot reach Redis at ${url}: connect ECONNREFUSED 127.0.0.1:${closedPort}`;
    const commands = [
      ['stats'],
      ['stats', '--json'],
      ['inspect', 'users', '1'],
      ['keys', 'users'],
      ['invalidate', 'users', '--yes'],
      ['invalidate-tags', 't', '--yes'],
      ['dashboard', '--port', '0'],
    ];
    const results = await Promise.all(commands.map((c) => runCli(['--redis', url, ...c])));
    for (const r of results) expectOneLine(r, line);
  });

  it('without the password of the URL', async () => {
    expectOneLine(
      await runCli(['--redis', `redis://user:s3cret@127.0.0.1:${closedPort}`, 'stats']),
      `trove: cannot reach Redis at redis://user:***@127.0.0.1:${closedPort}: connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    );
  });

  it('for a bad URL, from the option or the environment', async () => {
    expectOneLine(
      await runCli(['--redis', 'nonsense', 'stats']),
      `trove: Invalid option "redis": not a valid URL: 'nonsense' (expected e.g. 'redis://127.0.0.1:6379')`,
    );
    expectOneLine(
      await runCli(['keys', 'users'], { env: { TROVE_REDIS_URL: 'http://example.com' } }),
      `trove: Invalid option "redis": unsupported protocol 'http:' (expected redis: or rediss:)`,
    );
    expectOneLine(await runCli(['stats']), 'trove: no Redis given: pass --redis redis://host:6379 or set TROVE_REDIS_URL');
  });

  it('for an unknown or ill-formed region', async () => {
    const args = ['--redis', redis.server.url, '--prefix', 'errors-cli'];
    expectOneLine(
      await runCli([...args, 'keys', 'users']),
      "trove: unknown region 'users': no entries, statistics or invalidations under prefix 'errors-cli', version '0'",
    );
    expectOneLine(
      await runCli([...args, 'invalidate', 'users', '--yes']),
      "trove: unknown region 'users': no entries, statistics or invalidations under prefix 'errors-cli', version '0'",
    );
    expectOneLine(
      await runCli([...args, 'keys', 'a b']),
      `trove: Invalid option "region": invalid region name 'a b': each dot-separated part must match [A-Za-z0-9_-]+`,
    );
    expectOneLine(
      await runCli([...args, 'inspect', '__gens', 'k']),
      `trove: Invalid option "region": invalid region name '__gens': names starting with '__' are reserved`,
    );
  });

  it('for bad options and usage errors', async () => {
    const args = ['--redis', redis.server.url];
    expectOneLine(await runCli([...args, 'stats', '--since', 'soon']), /^trove: Invalid option "since": cannot parse duration 'soon'/);
    expectOneLine(await runCli([...args, 'stats', '--bogus']), "trove: unknown option '--bogus'");
    expectOneLine(await runCli([...args, 'statz']), "trove: unknown command 'statz' (did you mean stats?)");
    expectOneLine(await runCli([...args, 'inspect', 'users']), "trove: missing required argument 'key'");
    expectOneLine(await runCli([...args, '--prefix', 'a:b', 'stats']), /^trove: Invalid option "prefix": must be a non-empty string without whitespace, ':'/);
    expectOneLine(await runCli([...args, 'dashboard', '--port', 'http']), "trove: --port must be a port number from 0 to 65535 (got 'http')");
  });
});

describe('help and version', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('--version alone prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `trove ${version}\n`, stderr: '' });
  });

  it('--help lists the commands, and no command is a usage error', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['stats', 'inspect', 'keys', 'invalidate', 'invalidate-tags', 'dashboard', '--redis', '--prefix', '--version'])
      expect(help.stdout).toContain(c);
    const none = await runCli([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('Usage: trove [options] <command> [arguments]');
  });

  it("package.json's bin is an executable file with a shebang", () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin).toEqual({ trove: './dist/cli.js' });
    // Built by the configuration the build script uses (this file's bin was built with it too).
    expect(pkg.scripts.build).toContain('tsup --config tsup.cli.config.ts');
    const bin = cliPath();
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })).toBe(`trove ${pkg.version}\n`);
  });
});
