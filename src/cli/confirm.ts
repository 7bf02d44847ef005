/**
 * Confirmation of destructive commands: asked on a terminal, and required as `--yes` anywhere
 * else, so a script never invalidates by accident and never hangs on a prompt nobody sees.
 */
import { createInterface } from 'node:readline';
import type { Io } from './output.js';
import { CliError } from './session.js';

/**
 * Resolves when the user agreed: at once with `yes`; on a terminal (stdin and stderr), after a
 * `y` or `yes` answer to `question`. Throws `CliError` when the answer is anything else, and when
 * there is no terminal to ask on.
 */
export async function confirm(question: string, yes: boolean | undefined, io: Io): Promise<void> {
  if (yes === true) return;
  if (io.stdin.isTTY !== true || io.stderr.isTTY !== true) {
    throw new CliError(`${question.replace(/\?$/, '')}: not confirmed (no terminal to ask on); pass --yes to confirm`);
  }
  // Not in terminal mode: the terminal's own line editing serves, and readline writes no cursor escape codes.
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      rl.once('close', () => resolve(undefined));
      rl.question(`${question} [y/N] `, resolve);
    });
    if (answer === undefined || !/^\s*y(es)?\s*$/i.test(answer)) throw new CliError('cancelled: nothing was invalidated');
  } finally {
    rl.close();
  }
}
