#!/usr/bin/env node
/** The `trove` bin. */
import { run } from './program.js';

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
process.exitCode = code;
// Everything the command opened is closed by now, so the process exits on its own; should a
// connection linger anyway, a command line tool must still return.
setTimeout(() => process.exit(code), 2_000).unref();
