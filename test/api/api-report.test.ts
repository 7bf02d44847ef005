/**
 * The published declarations are the public API and nothing more: API Extractor's report of a
 * build equals the committed etc/trove-cache.api.md, every type the API names is exported, and no
 * internal class or interface is declared in dist/index.d.ts or dist/index.d.cts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage, type ExtractorResult } from '@microsoft/api-extractor';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const REPORT = 'etc/trove-cache.api.md';

/** Names of internals that must never reach the published declarations. */
const INTERNAL = ['Store', 'Loader', 'Notifier', 'NearCache', 'Generations', 'TagTokens', 'KeyLayout', 'RegionContext', 'RedisStore', 'MemoryStore'];

/** Newest modification time under `path` (directories too: a deleted file changes its folder's). */
function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const entry of readdirSync(path)) t = Math.max(t, newest(join(path, entry)));
  return t;
}

/**
 * A folder holding declarations built from the current sources: dist/ when it is newer than every
 * input of the build, else a private build. dist/ is not rebuilt in place, since other suites
 * (package.test.ts) read it concurrently and tsup empties it first.
 */
function declarations(): string {
  const dist = join(root, 'dist');
  const outputs = ['index.d.ts', 'index.d.cts'].map((f) => join(dist, f));
  if (outputs.every((f) => existsSync(f))) {
    const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
    const inputs = ['src', 'tsup.config.ts', 'package.json', 'tsconfig.json'].map((p) => newest(join(root, p)));
    if (built > Math.max(...inputs)) return dist;
  }
  const out = join(root, '.tmp', 'api-report', 'dist');
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--dts-only', '--out-dir', out, '--silent'], {
    cwd: root,
    stdio: 'inherit',
  });
  return out;
}

/** Drops comments, so a name in prose (e.g. "Store a value") is not taken for a declaration. */
function code(dts: string): string {
  return dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

let dir: string;
let result: ExtractorResult;
const messages: ExtractorMessage[] = [];

beforeAll(() => {
  dir = declarations();
  const configPath = join(root, 'api-extractor.json');
  const config = ExtractorConfig.loadFile(configPath);
  const entry = join(dir, 'index.d.ts');
  config.mainEntryPointFilePath = entry;
  config.compiler = { ...config.compiler, overrideTsconfig: { ...config.compiler?.overrideTsconfig, files: [entry] } };
  config.apiReport = { ...config.apiReport!, enabled: true, reportTempFolder: join(root, '.tmp', 'api-report', 'temp') };
  // A type the API names but the entry point does not export is an internal leaking: an error here.
  const reporting = config.messages?.extractorMessageReporting ?? {};
  reporting['ae-forgotten-export'] = { logLevel: ExtractorLogLevel.Error, addToApiReportFile: false };
  config.messages = { ...config.messages, extractorMessageReporting: reporting };
  const prepared = ExtractorConfig.prepare({ configObject: config, configObjectFullPath: configPath, packageJsonFullPath: join(root, 'package.json') });
  result = Extractor.invoke(prepared, {
    localBuild: false,
    messageCallback: (message) => {
      messages.push(message);
      message.handled = true;
    },
  });
}, 180_000);

describe('public API', () => {
  it('matches the committed report', () => {
    if (result.apiReportChanged) {
      const temp = join(root, '.tmp', 'api-report', 'temp', 'trove-cache.api.md');
      throw new Error(`public API changed: run npm run api and commit ${REPORT} (the new report, to diff: ${temp})`);
    }
    expect(existsSync(join(root, REPORT))).toBe(true);
  });

  it('names only exported types (no forgotten exports) and declarations that compile', () => {
    const errors = messages
      .filter((m) => m.logLevel === ExtractorLogLevel.Error)
      .map((m) => `${m.messageId}: ${m.text} (${m.sourceFilePath}:${m.sourceFileLine})`);
    expect(errors, 'internal types reachable from the public API').toEqual([]);
    expect(result.errorCount).toBe(0);
  });

  it.each(['index.d.ts', 'index.d.cts'])('%s declares no internals', (file) => {
    const dts = code(readFileSync(join(dir, file), 'utf8'));
    const leaked = INTERNAL.filter((name) => new RegExp(`\\b${name}\\b`).test(dts));
    expect(leaked, `internal names in ${file}`).toEqual([]);
  });
});
