/**
 * What building one command costs this process, before any I/O: ioredis's own `Command` from its
 * arguments (as `client.setBuffer(…)` and `client.mgetBuffer(…)` build it), against the commands
 * Trove writes itself (src/store/written-command.ts), for the commands of a miss (the claim and
 * the store of a ~330 B entry) and of reads (`MGET` of 1 and of 40 keys). Each way builds the
 * command, converts it to the bytes it writes, and settles its promise, in interleaved rounds;
 * the last round is printed, in ns per command. Checks first that both ways write the same bytes.
 *
 *   npx tsx tools/command-cost.ts [--count 200000]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Command } from 'ioredis';
import { mgetCommand, setGetCommand } from '../src/store/written-command.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '200000' } } });
const count = Number(values.count);

const entry = Buffer.alloc(330, 0x41);
entry[0] = 0xb1;
const marker = '\x01tc:0123456789abcdef0123';
const keys = (n: number) => Array.from({ length: n }, (_, i) => `trove:1:users:${i * 7919}`);
const one = keys(1);
const forty = keys(40);

/** Pairs of ways to build the same command: ioredis's, then Trove's. */
const pairs: { name: string; perCommand: number; ioredis: (i: number) => Command; trove: (i: number) => Command }[] = [
  {
    name: 'store: SET key <330 B> PX ttl XX GET',
    perCommand: 1,
    ioredis: (i) => new Command('set', [`trove:1:users:${i}`, entry, 'PX', 600_000, 'XX', 'GET'], { replyEncoding: null }),
    trove: (i) => setGetCommand('', `trove:1:users:${i}`, entry, 600_000, 'XX'),
  },
  {
    name: 'claim: SET key <marker> PX lease NX GET',
    perCommand: 1,
    ioredis: (i) => new Command('set', [`trove:1:users:${i}`, marker, 'PX', 30_000, 'NX', 'GET'], { replyEncoding: null }),
    trove: (i) => setGetCommand('', `trove:1:users:${i}`, marker, 30_000, 'NX'),
  },
  { name: 'MGET of 1 key', perCommand: 1, ioredis: () => new Command('mget', one, { replyEncoding: null }), trove: () => mgetCommand('', one) },
  { name: 'MGET of 40 keys', perCommand: 40, ioredis: () => new Command('mget', forty, { replyEncoding: null }), trove: () => mgetCommand('', forty) },
];

/** The bytes a command writes, as ioredis's connection would ask for them. */
function written(command: Command): Buffer {
  // ioredis converts the arguments right before writing (numbers to text, Buffers noted).
  command.stringifyArguments();
  const out = command.toWritable({});
  command.resolve(null);
  return typeof out === 'string' ? Buffer.from(out) : out;
}

function nsPerCommand(make: (i: number) => Command, n: number): number {
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += written(make(i)).length;
  const ns = ((performance.now() - started) * 1e6) / n;
  if (bytes === 0) throw new Error('nothing written');
  return ns;
}

for (const p of pairs) {
  if (!written(p.ioredis(7)).equals(written(p.trove(7)))) throw new Error(`${p.name}: the two ways write different bytes`);
}
const rounds = 4;
for (let round = 1; round <= rounds; round++) {
  for (const p of pairs) {
    const n = Math.max(1, Math.round(count / p.perCommand));
    const a = nsPerCommand(p.ioredis, n);
    const b = nsPerCommand(p.trove, n);
    if (round === rounds) console.log(`${p.name}: ioredis ${a.toFixed(0)} ns, written by Trove ${b.toFixed(0)} ns (${(a / b).toFixed(2)}×)`);
  }
}
