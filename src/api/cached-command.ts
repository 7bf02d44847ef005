import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError } from '../errors.js';
import { type CommandReplies, callId } from '../near/index.js';
import type { EventSink } from '../region/index.js';
import type { Series } from '../stats/index.js';
import type { CommandStore } from '../store/index.js';

/** Options of `trove.cachedCommand`. */
export interface CachedCommandOptions {
  /**
   * Longest a kept reply answers this call, in milliseconds or a string like `'30s'`, counted from
   * when Redis answered it. A change of any key the command read drops it sooner, whatever this says.
   * @defaultValue the near cache's `maxTtlMs` (`60_000`)
   */
  ttl?: Duration;
  /**
   * Answer bulk strings as Buffers (as ioredis's `callBuffer` does) instead of UTF-8 strings.
   * Replies of both kinds are kept apart.
   * @defaultValue `false`
   */
  buffers?: boolean;
}

/**
 * The region named by `cachedCommand`'s events (`hit`) and statistics rows. Region names cannot
 * hold parentheses, so it never mixes with a region's figures.
 */
export const COMMAND_REGION = '(command)';

/** What running cached commands needs from the trove. */
export interface CommandHost {
  readonly store: CommandStore;
  /** Where replies are kept; undefined without a near cache (every call goes to Redis). */
  readonly replies: CommandReplies | undefined;
  /** `ttl` when a call gives none, in ms. */
  readonly defaultTtlMs: number;
  readonly events: EventSink;
  /** The statistics row of cached commands; undefined with `stats: false`. */
  series(): Series | undefined;
  /** Whether the call runs inside `trove.bypass()`: then nothing kept is used. */
  bypassed(): boolean;
}

const OPTIONS = new Set(['ttl', 'buffers']);

/**
 * `trove.cachedCommand`: answers a read-only command from a kept reply when one is usable, else
 * sends it (concurrent identical calls share one send) and keeps the reply, race-free, until Redis
 * announces a change of a key it read (see `CommandReplies`).
 */
export class CommandRunner {
  /** Calls sent and not answered yet, by call id: an identical call joins the one in flight. */
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly host: CommandHost) {}

  run(name: string, args: readonly (string | number | Buffer)[], opts: CachedCommandOptions | undefined): Promise<unknown> {
    checkCall(name, args, opts);
    const ttlMs = opts?.ttl === undefined ? this.host.defaultTtlMs : toMs(opts.ttl, 'ttl', { allowZero: true });
    const buffers = opts?.buffers === true;
    const id = callId(name, args, buffers);
    const events = this.host.events;
    const started = events.wants('hit') ? performance.now() : 0;
    const replies = this.host.bypassed() ? undefined : this.host.replies;
    const kept = replies?.get(id, ttlMs);
    if (kept !== undefined) {
      this.answered(name, args, started, 'near');
      return Promise.resolve(kept.reply);
    }
    let sent = this.inflight.get(id);
    if (sent === undefined) {
      sent = this.send(id, name, args, buffers, ttlMs, replies);
      const pending = sent;
      this.inflight.set(id, pending);
      const forget = () => {
        if (this.inflight.get(id) === pending) this.inflight.delete(id);
      };
      pending.then(forget, forget);
    }
    return sent.then((reply) => {
      this.answered(name, args, started, 'store');
      return reply;
    });
  }

  /**
   * Sends the command. Its keys are marked pending before it leaves, so that an invalidation
   * arriving while it is in flight keeps its reply from being kept.
   */
  private async send(
    id: string,
    name: string,
    args: readonly (string | number | Buffer)[],
    buffers: boolean,
    ttlMs: number,
    replies: CommandReplies | undefined,
  ): Promise<unknown> {
    const call = await this.host.store.prepareCommand(name, args, buffers);
    const ticket = replies === undefined ? -1 : replies.begin(call.keys);
    let reply: unknown;
    try {
      reply = await this.host.store.readCommand(call, ticket !== -1);
    } catch (err) {
      replies?.end(id, call.keys, ticket, undefined, 0);
      throw err;
    }
    replies?.end(id, call.keys, ticket, reply, ttlMs);
    return reply;
  }

  /** Counts an answer and emits its `hit` event (tier `near`: a kept reply; `store`: Redis answered). */
  private answered(name: string, args: readonly (string | number | Buffer)[], started: number, tier: 'near' | 'store'): void {
    this.host.series()?.hit(tier);
    const events = this.host.events;
    if (!events.wants('hit')) return;
    const key = [name.toUpperCase(), ...args.map(String)].join(' ');
    events.emit('hit', { region: COMMAND_REGION, key, durationMs: started === 0 ? 0 : performance.now() - started, stale: false, tier });
  }

  /** Forgets calls in flight (on close): their callers still get their answers. */
  clear(): void {
    this.inflight.clear();
  }
}

function checkCall(name: unknown, args: unknown, opts: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z][\w.|-]*$/.test(name)) throw new InvalidOptionError('name', `expected a Redis command name, got ${String(name)}`);
  if (!Array.isArray(args)) throw new InvalidOptionError('args', 'expected an array of arguments (strings, numbers, Buffers)');
  for (const a of args) {
    if (typeof a !== 'string' && !Buffer.isBuffer(a) && !(typeof a === 'number' && Number.isFinite(a))) {
      throw new InvalidOptionError('args', `expected strings, finite numbers or Buffers, got ${typeof a}`);
    }
  }
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InvalidOptionError('options', 'expected { ttl, buffers }');
  for (const [k, v] of Object.entries(opts)) {
    if (!OPTIONS.has(k)) throw new InvalidOptionError(k, 'unknown option of cachedCommand');
    if (k === 'buffers' && v !== undefined && typeof v !== 'boolean') throw new InvalidOptionError('buffers', 'expected a boolean');
  }
}
