/**
 * The reading process of the invalidation workload. argv: <lib> <host> <port> (lib: bentocache | trove).
 * Keeps the key `inv` in its in-memory tier and prints `seen <seq> <wall-clock ms>` as soon as a
 * read returns a newer value than the last one seen; `ready` once the key is held locally.
 * When stdin closes it prints `stats <json>` and exits.
 *
 * bentocache: reads once after each bus message (the event it emits just before updating its L1).
 * trove: has no such event, so it reads in a loop, yielding to the event loop between reads; those
 * reads are near-cache hits until Redis's invalidation arrives.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { stdinLines } from '../child-io.js';
import { wallNow } from '../driver.js';
import { createBento } from '../peers/bentocache.js';
import { createTrove } from '../../src/index.js';
import { nearStats, waitNearLive } from '../peers/trove.js';
import { PREFIX } from '../peers/types.js';
import { TTL_MS } from './common.js';
import { BENTO, TROVE_NEAR } from './invalidation.js';

const [lib, host, portText] = process.argv.slice(2);
const port = Number(portText);

let lastSeen = -1;
function saw(value: unknown): void {
  const seq = (value as { seq?: number } | undefined)?.seq;
  if (typeof seq === 'number' && seq > lastSeen) {
    lastSeen = seq;
    process.stdout.write(`seen ${seq} ${wallNow()}\n`);
  }
}

async function untilStdinCloses(): Promise<void> {
  for await (const _ of stdinLines()) {
    // The parent only closes stdin when done.
  }
}

async function bentocache(): Promise<void> {
  const bento = createBento({ ...BENTO, host: host!, port });
  const read = async () => saw(await bento.get({ key: 'inv' }));
  let messages = 0;
  bento.on('bus:message:received', () => {
    messages++;
    queueMicrotask(() => void read().catch(() => {}));
  });
  await read();
  process.stdout.write('ready\n');
  await untilStdinCloses();
  process.stdout.write(`stats ${JSON.stringify({ busMessages: messages })}\n`);
  await bento.disconnectAll();
}

async function trove(): Promise<void> {
  const t = createTrove({ redis: `redis://${host}:${port}`, prefix: PREFIX.trove, commandTimeout: 2000, nearCache: TROVE_NEAR });
  await waitNearLive(t);
  const region = t.region('inv', { ttl: TTL_MS });
  saw(await region.get('inv'));
  process.stdout.write('ready\n');
  let open = true;
  const closed = untilStdinCloses().then(() => {
    open = false;
  });
  let reads = 0;
  while (open) {
    saw(await region.get('inv'));
    reads++;
    await nextTurn();
  }
  await closed;
  process.stdout.write(`stats ${JSON.stringify({ reads, near: nearStats(t) })}\n`);
  await t.close();
}

(lib === 'trove' ? trove() : bentocache()).catch((err: unknown) => {
  process.stderr.write(`invalidation child (${lib}) failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  // Connections may still be open: leave now, the parent reads the exit.
  process.exit(1);
});
