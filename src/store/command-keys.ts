/**
 * Which keys a Redis command reads, and whether its reply may be kept locally (`cachedCommand`),
 * from the server's own description of its commands: COMMAND INFO, asked once per command name,
 * and COMMAND GETKEYS for the commands whose keys depend on their arguments.
 *
 * A reply is kept until Redis announces a change of a key the command read, so a command is
 * refused (`InvalidOptionError` naming it) unless every one of these holds:
 * - Redis knows it, and flags it `readonly` (a write, or a script that may write, is never cached).
 * - It is not `blocking` (XREAD BLOCK would hold the tracked connection).
 * - Its reply changes only when its keys do: not tipped `nondeterministic_output` (TTL, PTTL,
 *   SRANDMEMBER, RANDOMKEY, SCAN: their replies change without any write to announce it).
 * - Its keys can all be named: no key spec of type `unknown` or flagged `INCOMPLETE` (SORT_RO's
 *   BY/GET patterns read keys named by the data), and at least one key (a keyless command such
 *   as DBSIZE or ECHO has nothing whose change Redis could announce).
 * - The arguments fit its arity (else the key positions would be wrong).
 *
 * Keys: for a command without `movablekeys`, from the first/last/step positions of COMMAND INFO,
 * with no round trip; otherwise (ZUNION, SINTERCARD, EVAL_RO…) from COMMAND GETKEYS, one
 * round trip per call that reaches Redis. On a server older than Redis 7 (no tips, no key specs),
 * only the flags and positions are checked.
 */
import { InvalidOptionError } from '../errors.js';

/** An argument of a cached command, as the caller gives it. */
export type CommandArgument = string | number | Buffer;

/** What COMMAND INFO says of a command (or subcommand), reduced to what deciding needs. */
interface CommandRule {
  /** Why the command cannot be cached; undefined when it can. */
  readonly refused: string | undefined;
  readonly arity: number;
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  readonly movable: boolean;
  /** Rules of the subcommands of a container command (OBJECT, MEMORY…), by lower-case `name|sub`. */
  readonly subcommands: ReadonlyMap<string, CommandRule> | undefined;
}

/** Most command names remembered: names come from code, but a name built from input must not grow the table without bound. */
const MAX_NAMES = 1_024;

/**
 * Decides, per driver, which keys a command reads. `send` runs one COMMAND subcommand (`['INFO',
 * name]`, `['GETKEYS', name, ...args]`) and answers its RESP2-shaped reply (arrays of strings and
 * integers).
 */
export class CommandKeys {
  private readonly rules = new Map<string, Promise<CommandRule | undefined>>();

  constructor(private readonly send: (args: (string | Buffer)[]) => Promise<unknown>) {}

  /**
   * The keys `name` reads with `args`, in argument order, duplicates removed, and the indexes in
   * `args` of every key argument (undefined when they cannot be told apart from other arguments).
   * Rejects with `InvalidOptionError` when the command cannot be cached (see the module comment),
   * with the store's error when Redis cannot be asked.
   */
  async find(name: string, args: readonly CommandArgument[]): Promise<{ keys: string[]; at: number[] | undefined }> {
    const lower = name.toLowerCase();
    let rule = await this.rule(lower);
    if (rule === undefined) throw refusal(name, 'Redis does not know this command (COMMAND INFO answered nothing)');
    if (rule.subcommands !== undefined) {
      const sub = args[0] === undefined ? undefined : rule.subcommands.get(`${lower}|${String(args[0]).toLowerCase()}`);
      if (sub === undefined) throw refusal(name, `a container command needs a known subcommand (got ${args[0] === undefined ? 'none' : String(args[0])})`);
      rule = sub;
    }
    if (rule.refused !== undefined) throw refusal(name, rule.refused);
    const count = args.length + 1;
    if (rule.arity >= 0 ? count !== rule.arity : count < -rule.arity) throw refusal(name, `wrong number of arguments (${args.length})`);
    let keys: string[];
    let at: number[] | undefined;
    if (rule.movable) {
      const reply = await this.send(['GETKEYS', name, ...args.map((a) => (typeof a === 'number' ? String(a) : a))]).catch((err: unknown) => {
        // "The command has no key arguments", "Invalid arguments": a refusal, not an outage.
        const answered = redisError(err);
        if (answered !== undefined) throw refusal(name, `COMMAND GETKEYS answered ${answered}`);
        throw err;
      });
      keys = Array.isArray(reply) ? reply.map(String) : [];
      at = positionsOf(keys, args);
    } else {
      keys = [];
      at = [];
      const last = rule.lastKey < 0 ? count + rule.lastKey : rule.lastKey;
      for (let i = rule.firstKey; i > 0 && i <= last && i < count; i += Math.max(1, rule.step)) {
        keys.push(String(args[i - 1]));
        at.push(i - 1);
      }
    }
    if (keys.length === 0) throw refusal(name, 'it reads no key, so no change of it can be announced');
    return { keys: [...new Set(keys)], at };
  }

  private rule(lower: string): Promise<CommandRule | undefined> {
    let rule = this.rules.get(lower);
    if (rule === undefined) {
      if (this.rules.size >= MAX_NAMES) this.rules.clear();
      rule = this.send(['INFO', lower]).then((reply) => {
        const info = Array.isArray(reply) ? reply[0] : undefined;
        return Array.isArray(info) ? parseRule(info) : undefined;
      });
      // A failure to ask (Redis down) is not remembered: the next call asks again.
      rule.catch(() => this.rules.delete(lower));
      this.rules.set(lower, rule);
    }
    return rule;
  }
}

/**
 * Where COMMAND GETKEYS's keys stand in `args`: each found after the previous one (Redis answers
 * them in argument order); undefined when one cannot be found.
 */
function positionsOf(keys: readonly string[], args: readonly CommandArgument[]): number[] | undefined {
  const at: number[] = [];
  let from = 0;
  for (const key of keys) {
    let i = from;
    while (i < args.length && String(args[i]) !== key) i++;
    if (i === args.length) return undefined;
    at.push(i);
    from = i + 1;
  }
  return at;
}

function refusal(name: string, why: string): InvalidOptionError {
  return new InvalidOptionError('name', `cachedCommand cannot cache ${name.toUpperCase()}: ${why}`);
}

/**
 * One entry of COMMAND INFO: [name, arity, flags, firstKey, lastKey, step, acl categories, tips,
 * key specs, subcommands] (Redis 7; Redis 6 stops after the categories).
 */
function parseRule(info: readonly unknown[]): CommandRule {
  const flags = strings(info[2]);
  const tips = strings(info[7]);
  const specs = Array.isArray(info[8]) ? info[8] : [];
  const subs = Array.isArray(info[9]) && info[9].length > 0 ? info[9] : undefined;
  let refused: string | undefined;
  if (subs === undefined) {
    if (!flags.includes('readonly')) refused = 'it is not flagged read-only (COMMAND INFO)';
    else if (flags.includes('blocking')) refused = 'it may block';
    else if (tips.includes('nondeterministic_output')) refused = 'its reply may change without a write to any key (nondeterministic_output)';
    else if (specs.some(unknownKeys)) refused = 'Redis cannot name every key it reads (a key spec is unknown or incomplete)';
  }
  return {
    refused,
    arity: Number(info[1]),
    firstKey: Number(info[3]),
    lastKey: Number(info[4]),
    step: Number(info[5]),
    movable: flags.includes('movablekeys'),
    subcommands:
      subs === undefined
        ? undefined
        : new Map(subs.filter((s): s is unknown[] => Array.isArray(s)).map((s) => [String(s[0]).toLowerCase(), parseRule(s)] as const)),
  };
}

/** The error Redis answered (`ERR …`), found in `err` or its causes (the store wraps driver errors); undefined for any other failure. */
function redisError(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e.message.startsWith('ERR ')) return e.message;
  return undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => String(x).toLowerCase()) : [];
}

/** Whether a key spec (a flat list of field, value…) cannot name its keys. */
function unknownKeys(spec: unknown): boolean {
  if (!Array.isArray(spec)) return false;
  for (let i = 0; i + 1 < spec.length; i += 2) {
    const field = String(spec[i]);
    const value: unknown = spec[i + 1];
    if (field === 'flags' && strings(value).includes('incomplete')) return true;
    if (field === 'begin_search' && Array.isArray(value) && String(value[1]) === 'unknown') return true;
  }
  return false;
}
