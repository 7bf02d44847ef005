import { Buffer } from 'node:buffer';
import { Command } from 'ioredis';

/**
 * Commands whose bytes Trove writes itself: those every read and every miss send (`MGET`, and a
 * claim and its store, `SET key value [PX ms] [NX] GET`). ioredis builds each command from its
 * arguments: flattening them, converting each one, and for a Buffer argument collecting every
 * part and copying them into a new Buffer. For a miss that cost more of this process's time than
 * Trove's own read-through work (BENCHMARKS.md, "Misses: commands written by Trove"). Here the
 * RESP bytes are written at once, byte for byte what ioredis would write, and ioredis still
 * queues the command, matches its reply and applies its timeouts, as for any other command; only
 * its debug log shows such a command without arguments. One server only: a Cluster routes a
 * command by the keys among its arguments, which these do not list.
 */
class WrittenCommand extends Command {
  constructor(
    name: string,
    private readonly bytes: Buffer | string,
  ) {
    // Replies as Buffers, as the *Buffer commands answer them.
    super(name, [], { replyEncoding: null });
  }

  override toWritable(): Buffer | string {
    return this.bytes;
  }
}

/** A command of `name` whose RESP bytes are `bytes`, written as they are (see `WrittenCommand`). */
export function writtenCommand(name: string, bytes: Buffer | string): Command {
  return new WrittenCommand(name, bytes);
}

/**
 * `SET key value [PX pxMs] [NX|XX] GET` as one command, `prefix` (the client's `keyPrefix`) before
 * the key, as ioredis would send it.
 */
export function setGetCommand(prefix: string, key: string, value: string | Buffer, pxMs: number | undefined, only?: 'NX' | 'XX'): Command {
  const fullKey = prefix === '' ? key : prefix + key;
  const keyBytes = Buffer.byteLength(fullKey);
  const valueBytes = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  const px = pxMs === undefined ? '' : String(pxMs);
  const parts = 4 + (pxMs === undefined ? 0 : 2) + (only === undefined ? 0 : 1);
  // Everything but the key and the value is ASCII: written as latin1, one byte per character.
  const head = `*${parts}\r\n$3\r\nset\r\n$${keyBytes}\r\n`;
  const valueHead = `\r\n$${valueBytes}\r\n`;
  const tail = `\r\n${pxMs === undefined ? '' : `$2\r\nPX\r\n$${px.length}\r\n${px}\r\n`}${only === undefined ? '' : `$2\r\n${only}\r\n`}$3\r\nGET\r\n`;
  const bytes = Buffer.allocUnsafe(head.length + keyBytes + valueHead.length + valueBytes + tail.length);
  let at = bytes.write(head, 0, 'latin1');
  at += bytes.write(fullKey, at, 'utf8');
  at += bytes.write(valueHead, at, 'latin1');
  at += typeof value === 'string' ? bytes.write(value, at, 'utf8') : value.copy(bytes, at);
  bytes.write(tail, at, 'latin1');
  return new WrittenCommand('set', bytes);
}

/** `MGET key…` as one command, `prefix` before each key; replies as Buffers. */
export function mgetCommand(prefix: string, keys: readonly string[]): Command {
  // All text: the socket encodes it as UTF-8, as ioredis writes a command without Buffers.
  let text = `*${keys.length + 1}\r\n$4\r\nmget\r\n`;
  for (const key of keys) {
    const full = prefix === '' ? key : prefix + key;
    text += `$${Buffer.byteLength(full)}\r\n${full}\r\n`;
  }
  return new WrittenCommand('mget', text);
}
