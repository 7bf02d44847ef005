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
 * with no round trip. For one with (ZUNION, SINTERCARD, EVAL_RO…), from the key specs of COMMAND
 * INFO (Redis 7), evaluated here as Redis evaluates them (`keysFromSpecs`), also with no round
 * trip; when the arguments do not fit the specs (a count that is not a number, keys past the
 * end), or on a server without key specs (Redis 6), from COMMAND GETKEYS, one round trip per call
 * that reaches Redis, which also answers the error such arguments deserve. On a server older than
 * Redis 7 (no tips, no key specs), only the flags and positions are checked.
 */
import { Buffer } from 'node:buffer';
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
  /** The key specs (Redis 7), when every one of them could be read; undefined otherwise. */
  readonly specs: readonly KeySpec[] | undefined;
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
    const local = rule.movable && rule.specs !== undefined ? keysFromSpecs(rule.specs, args) : undefined;
    if (local !== undefined) {
      keys = local.map((i) => String(args[i]));
      at = local;
    } else if (rule.movable) {
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
  const parsed = specs.map(parseKeySpec);
  return {
    refused,
    arity: Number(info[1]),
    firstKey: Number(info[3]),
    lastKey: Number(info[4]),
    step: Number(info[5]),
    movable: flags.includes('movablekeys'),
    specs: parsed.length > 0 && parsed.every((k) => k !== undefined) ? (parsed as KeySpec[]) : undefined,
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

/** One key spec of COMMAND INFO (Redis 7): where its keys begin, and how many follow. */
export interface KeySpec {
  /** Flagged `not_key`: its "keys" are not keys (COMMAND GETKEYS leaves them out too). */
  readonly notKey: boolean;
  readonly begin: { readonly kind: 'index'; readonly index: number } | { readonly kind: 'keyword'; readonly keyword: string; readonly startFrom: number };
  readonly find:
    | { readonly kind: 'range'; readonly lastKey: number; readonly keyStep: number; readonly limit: number }
    | { readonly kind: 'keynum'; readonly keyNumIdx: number; readonly firstKey: number; readonly keyStep: number };
}

/** A key spec as COMMAND INFO gives it (a flat list of field, value…); undefined when it cannot name its keys or its form is unknown. */
export function parseKeySpec(spec: unknown): KeySpec | undefined {
  const fields = pairs(spec);
  const begin = pairs(fields.get('begin_search'));
  const find = pairs(fields.get('find_keys'));
  const bs = pairs(begin.get('spec'));
  const fk = pairs(find.get('spec'));
  const num = (m: Map<string, unknown>, name: string): number | undefined => {
    const v = m.get(name);
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
    return Number.isInteger(n) ? n : undefined;
  };
  let b: KeySpec['begin'];
  const bType = String(begin.get('type'));
  if (bType === 'index') {
    const index = num(bs, 'index');
    if (index === undefined || index < 1) return undefined;
    b = { kind: 'index', index };
  } else if (bType === 'keyword') {
    const keyword = bs.get('keyword');
    const startFrom = num(bs, 'startfrom');
    if (typeof keyword !== 'string' && !Buffer.isBuffer(keyword)) return undefined;
    if (startFrom === undefined || startFrom === 0) return undefined;
    b = { kind: 'keyword', keyword: String(keyword), startFrom };
  } else return undefined;
  let f: KeySpec['find'];
  const fType = String(find.get('type'));
  if (fType === 'range') {
    const lastKey = num(fk, 'lastkey');
    const keyStep = num(fk, 'keystep');
    const limit = num(fk, 'limit');
    if (lastKey === undefined || keyStep === undefined || keyStep < 1 || limit === undefined || limit < 0) return undefined;
    f = { kind: 'range', lastKey, keyStep, limit };
  } else if (fType === 'keynum') {
    const keyNumIdx = num(fk, 'keynumidx');
    const firstKey = num(fk, 'firstkey');
    const keyStep = num(fk, 'keystep');
    if (keyNumIdx === undefined || keyNumIdx < 0 || firstKey === undefined || firstKey < 1 || keyStep === undefined || keyStep < 1) return undefined;
    f = { kind: 'keynum', keyNumIdx, firstKey, keyStep };
  } else return undefined;
  return { notKey: strings(fields.get('flags')).includes('not_key'), begin: b, find: f };
}

/**
 * The indexes in `args` (the arguments after the command name) of the keys the specs name, spec
 * by spec, as Redis's own evaluation of key specs (`getKeysUsingKeySpecs`, db.c) finds them for
 * COMMAND GETKEYS; undefined when the arguments do not fit a spec (Redis would call them invalid)
 * or name no key: COMMAND GETKEYS is then asked, and answers the error. Positions count the
 * command name as 0, as Redis does.
 */
export function keysFromSpecs(specs: readonly KeySpec[], args: readonly CommandArgument[]): number[] | undefined {
  const argc = args.length + 1;
  // Byte for byte, as Redis compares: a Buffer's bytes as latin1 characters.
  const argv = (i: number) => {
    const a = args[i - 1];
    return Buffer.isBuffer(a) ? a.toString('latin1') : String(a);
  };
  const out: number[] = [];
  for (const spec of specs) {
    if (spec.notKey) continue;
    let first = 0;
    if (spec.begin.kind === 'index') first = spec.begin.index;
    else {
      const { keyword, startFrom } = spec.begin;
      const start = startFrom > 0 ? startFrom : argc + startFrom;
      // As Redis's loop, which stops before `end` (a keyword there would have no key after it).
      const end = startFrom > 0 ? argc - 1 : 1;
      for (let i = start; i !== end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1) break;
        if (asciiLower(argv(i)) === asciiLower(keyword)) {
          first = i + 1;
          break;
        }
      }
      // The keyword is absent: this spec names no key.
      if (first === 0) continue;
    }
    let last: number;
    let step: number;
    const find = spec.find;
    if (find.kind === 'range') {
      step = find.keyStep;
      if (find.lastKey >= 0) last = first + find.lastKey;
      else if (find.limit === 0) last = argc + find.lastKey;
      else {
        if (find.lastKey !== -1) return undefined;
        last = first + (Math.trunc((argc - first) / find.limit) + find.lastKey);
      }
    } else {
      step = find.keyStep;
      if (find.keyNumIdx >= argc - first) return undefined;
      const text = argv(first + find.keyNumIdx);
      // As string2ll: a plain decimal integer, no sign but '-', no spaces.
      if (!/^(0|-?[1-9]\d*)$/.test(text)) return undefined;
      const numKeys = Number(text);
      if (!Number.isSafeInteger(numKeys) || numKeys < 0) return undefined;
      first += find.firstKey;
      last = first + numKeys - 1;
    }
    if (last >= argc || last < first || first >= argc) return undefined;
    for (let i = first; i <= last; i += step) out.push(i - 1);
  }
  return out.length === 0 ? undefined : out;
}

/** Lower case as `strcasecmp` folds it: A to Z only. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** A flat list of field, value… as a map (the form of COMMAND INFO's nested descriptions). */
function pairs(v: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (!Array.isArray(v)) return m;
  for (let i = 0; i + 1 < v.length; i += 2) m.set(String(v[i]), v[i + 1]);
  return m;
}
