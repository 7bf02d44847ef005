/** The RESP bytes of ioredis commands, for tests that compare the commands Trove writes itself with ioredis's own. */
import { Command } from 'ioredis';

/** What ioredis writes for a command built from its arguments (as `client.setBuffer(…)` would). */
export function ioredisBytes(name: string, args: (string | number | Buffer)[]): Buffer {
  const command = new Command(name, args, { replyEncoding: null });
  command.promise.catch(() => {});
  // ioredis converts the arguments (numbers to text, Buffers noted) right before writing.
  command.stringifyArguments();
  return writtenBytes(command);
}

/** What a prepared command writes (its promise never settles here: it is never sent). */
export function ownBytes(command: Command): Buffer {
  command.promise.catch(() => {});
  return writtenBytes(command);
}

function writtenBytes(command: Command): Buffer {
  const written = command.toWritable({});
  return Buffer.isBuffer(written) ? written : Buffer.from(written);
}
