import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyDerivationError } from '../../../src/errors.js';
import { argsKey, encodeArgs } from '../../../src/keys/args/index.js';
import { anyCodeUnit, anythingArb, argsArb, equivalentCopy, leafArb, refEqual, rngFrom, tweakedCopy, valueArb } from './support.js';

// Runs per key property; 111,000 generated cases in total.
const RUNS = {
  equalCopies: 20_000,
  equalCopiesAnything: 8_000,
  randomPairs: 25_000,
  tweakedPairs: 20_000,
  anythingPairs: 5_000,
  hashedPairs: 8_000,
  totalAnything: 15_000,
  poisoned: 10_000,
};

const HASH_SHAPE = /^[A-Za-z0-9_-]{21}[AQgw]$/;

describe('property: equal arguments give equal encodings', () => {
  it('a reshuffled deep copy (key, Map and Set order, -0, holes, boxing, Buffer/Uint8Array, view offsets) encodes identically', () => {
    fc.assert(
      fc.property(argsArb, fc.integer(), (args, seed) => {
        const copy = equivalentCopy(args, rngFrom(seed)) as unknown[];
        return refEqual(args, copy) && encodeArgs(copy) === encodeArgs(args);
      }),
      { numRuns: RUNS.equalCopies },
    );
  });

  it('holds for fc.anything values with every option', () => {
    fc.assert(
      fc.property(fc.array(anythingArb, { maxLength: 3 }), fc.integer(), (args, seed) => {
        const copy = equivalentCopy(args, rngFrom(seed)) as unknown[];
        return refEqual(args, copy) && encodeArgs(copy) === encodeArgs(args) && argsKey(copy) === argsKey(args);
      }),
      { numRuns: RUNS.equalCopiesAnything },
    );
  });
});

describe('property: encodings are equal exactly when the arguments are reference-equal', () => {
  it('random pairs from a small domain (both outcomes occur often)', () => {
    let equalPairs = 0;
    fc.assert(
      fc.property(argsArb, argsArb, (a, b) => {
        const equal = refEqual(a, b);
        if (equal) equalPairs++;
        return (encodeArgs(a) === encodeArgs(b)) === equal;
      }),
      { numRuns: RUNS.randomPairs },
    );
    // Guard against a generator that only ever produces unequal pairs, which would make the property vacuous.
    expect(equalPairs).toBeGreaterThan(RUNS.randomPairs / 20);
  });

  it('a value against a copy with one node changed, removed or added (near misses)', () => {
    let equalPairs = 0;
    fc.assert(
      fc.property(argsArb, fc.integer(), fc.nat(40), fc.oneof(leafArb, valueArb), (a, seed, target, replacement) => {
        const rng = rngFrom(seed);
        const tweaked = tweakedCopy(a, rng, target, replacement);
        // Replacing the root itself yields a non-array: use it as a one-argument tuple.
        const b = equivalentCopy(Array.isArray(tweaked) ? tweaked : [tweaked], rng) as unknown[];
        const equal = refEqual(a, b);
        if (equal) equalPairs++;
        return (encodeArgs(a) === encodeArgs(b)) === equal;
      }),
      { numRuns: RUNS.tweakedPairs },
    );
    expect(equalPairs).toBeGreaterThan(RUNS.tweakedPairs / 20);
    expect(equalPairs).toBeLessThan(RUNS.tweakedPairs * 0.95);
  });

  it('pairs of fc.anything values with every option', () => {
    fc.assert(
      fc.property(fc.array(anythingArb, { maxLength: 2 }), fc.array(anythingArb, { maxLength: 2 }), (a, b) => {
        return (encodeArgs(a) === encodeArgs(b)) === refEqual(a, b);
      }),
      { numRuns: RUNS.anythingPairs },
    );
  });

  it('hashed and readable keys agree with reference equality too', () => {
    fc.assert(
      fc.property(
        argsArb,
        fc.oneof(
          argsArb,
          fc.tuple(argsArb, fc.integer()).map(([x, seed]) => equivalentCopy(x, rngFrom(seed)) as unknown[]),
        ),
        (a, b) => {
          const equal = refEqual(a, b);
          const ka = argsKey(a);
          return HASH_SHAPE.test(ka) && (ka === argsKey(b)) === equal && (argsKey(a, { readable: true }) === argsKey(b, { readable: true })) === equal;
        },
      ),
      { numRuns: RUNS.hashedPairs },
    );
  });

  it('strings of arbitrary UTF-16 code units (lone surrogates included) keep distinct keys', () => {
    fc.assert(
      fc.property(fc.string({ unit: anyCodeUnit, maxLength: 4 }), fc.string({ unit: anyCodeUnit, maxLength: 4 }), (a, b) => {
        return (argsKey([a]) === argsKey([b])) === (a === b) && (argsKey([{ [a]: 1 }]) === argsKey([{ [b]: 1 }])) === (a === b);
      }),
      { numRuns: 2_000 },
    );
  });

  it('distinct strings that UTF-8 would merge (lone surrogates) never share a key, wherever they sit, hashed or readable', () => {
    const swaps = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uFFFD', 'a'];
    const unit = fc.oneof({ arbitrary: fc.constantFrom(...swaps), weight: 3 }, { arbitrary: anyCodeUnit, weight: 1 });
    // Half the pairs are a string and a copy with its surrogates swapped: the pairs UTF-8 merges.
    const pair = fc
      .tuple(
        fc.array(unit, { maxLength: 3 }),
        fc.array(unit, { maxLength: 3 }),
        fc.array(fc.nat(swaps.length - 1), { minLength: 3, maxLength: 3 }),
        fc.boolean(),
      )
      .map(([a, other, picks, swapped]) => {
        const b = swapped ? a.map((u, i) => (/[\uD800-\uDFFF\uFFFD]/.test(u) ? swaps[picks[i]!]! : u)) : other;
        return [a.join(''), b.join('')] as const;
      });
    const place = (s: string, where: number): unknown[] =>
      [[s], [{ [s]: 1 }], [new Map([[s, 1]])], [new Set([s, 'x'])], [{ toCacheKey: () => [s] }], [1, [s]]][where]!;
    let mergedByUtf8 = 0;
    fc.assert(
      fc.property(pair, fc.nat(5), ([a, b], where) => {
        if (a !== b && Buffer.from(a, 'utf8').equals(Buffer.from(b, 'utf8'))) mergedByUtf8++;
        const [x, y] = [place(a, where), place(b, where)];
        return (argsKey(x) === argsKey(y)) === (a === b) && (argsKey(x, { readable: true }) === argsKey(y, { readable: true })) === (a === b);
      }),
      { numRuns: 5_000 },
    );
    // Guard against a generator that rarely makes such pairs, which would make the property vacuous.
    expect(mergedByUtf8).toBeGreaterThan(500);
  });
});

describe('property: encoding is total and deterministic', () => {
  it('never throws for fc.anything with every option, and repeats itself exactly', () => {
    fc.assert(
      fc.property(fc.array(anythingArb, { maxLength: 3 }), (args) => {
        const text = encodeArgs(args);
        return text === encodeArgs(args) && text.startsWith('(') && text.endsWith(')') && HASH_SHAPE.test(argsKey(args));
      }),
      { numRuns: RUNS.totalAnything },
    );
  });

  it('throws KeyDerivationError, and only it, exactly when an unsupported value is present, with a path that reaches it', () => {
    fc.assert(
      fc.property(fc.array(poisonedArb, { maxLength: 3 }), (args) => {
        let thrown: unknown;
        try {
          encodeArgs(args);
        } catch (err) {
          thrown = err;
        }
        if (!containsPoison(args)) return thrown === undefined;
        if (!(thrown instanceof KeyDerivationError)) return false;
        return resolvePath(args, thrown.path).some(isPoison);
      }),
      { numRuns: RUNS.poisoned },
    );
  });

  it('finds an injected cycle and reports its exact path', () => {
    fc.assert(
      fc.property(fc.array(valueArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(), (args, pick, up) => {
        const containers = collectContainers(args);
        if (containers.length === 0) return true;
        const { value, path, ancestors } = containers[pick % containers.length]!;
        const ancestor = ancestors[up % ancestors.length]!;
        let edge: string | number;
        if (Array.isArray(value)) {
          edge = value.length;
          value.push(ancestor);
        } else {
          edge = '~back';
          (value as Record<string, unknown>)[edge] = ancestor;
        }
        try {
          encodeArgs(args);
          return false;
        } catch (err) {
          return err instanceof KeyDerivationError && err.message.includes('cyclic') && JSON.stringify(err.path) === JSON.stringify([...path, edge]);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('shared (non-cyclic) references encode like copies', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const copy = structuredCopy(v);
        return encodeArgs([v, [v], { x: v }]) === encodeArgs([v, [copy], { x: copy }]);
      }),
      { numRuns: 2_000 },
    );
  });
});

class Opaque {
  readonly x = 1;
}
const poisons: unknown[] = [() => 1, Symbol('s'), new WeakMap(), new WeakSet(), Promise.resolve(1), new Opaque(), Object(Symbol('boxed'))];

const poisonedArb = fc.anything({
  maxDepth: 3,
  maxKeys: 3,
  withMap: true,
  withSet: true,
  withDate: true,
  withBigInt: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  values: [fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null), fc.constant(undefined), fc.boolean(), fc.constantFrom(...poisons)],
});

function isPoison(v: unknown): boolean {
  if (typeof v === 'function' || typeof v === 'symbol') return true;
  return (
    typeof v === 'object' && v !== null && (v instanceof Symbol || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise || v instanceof Opaque)
  );
}

function containsPoison(v: unknown): boolean {
  if (isPoison(v)) return true;
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return Array.from(v).some(containsPoison);
  if (v instanceof Map) return [...v].some(([k, x]) => containsPoison(k) || containsPoison(x));
  if (v instanceof Set) return [...v].some(containsPoison);
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return Object.values(v).some(containsPoison);
  return false;
}

function mapKeyLabel(k: unknown): string | undefined {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'boolean') return String(k);
  if (typeof k === 'bigint') return `${k}n`;
  return undefined;
}

/** Every value a path can denote (a Map value segment named by its key label may match several entries). */
function resolvePath(root: unknown, path: readonly (string | number)[]): unknown[] {
  let current: unknown[] = [root];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const c of current) {
      const indexed = typeof seg === 'string' ? /^<(key|value|element) #(\d+)>$/.exec(seg) : null;
      if (c instanceof Map) {
        if (indexed) next.push([...(indexed[1] === 'key' ? c.keys() : c.values())][Number(indexed[2])]);
        else for (const [k, x] of c) if (mapKeyLabel(k) === seg) next.push(x);
      } else if (c instanceof Set) {
        if (indexed) next.push([...c][Number(indexed[2])]);
      } else if (typeof c === 'object' && c !== null) {
        next.push((c as Record<string | number, unknown>)[seg]);
      }
    }
    current = next;
  }
  return current;
}

interface Container {
  value: object;
  path: (string | number)[];
  ancestors: object[];
}

/** Arrays and plain objects reachable through arrays and plain objects only, with their paths and ancestors (self included). */
function collectContainers(args: unknown[]): Container[] {
  const out: Container[] = [];
  const walk = (v: unknown, path: (string | number)[], ancestors: object[]): void => {
    if (typeof v !== 'object' || v === null) return;
    const isArray = Array.isArray(v);
    const proto = Object.getPrototypeOf(v);
    if (!isArray && proto !== Object.prototype && proto !== null) return;
    const chain = [...ancestors, v];
    out.push({ value: v, path, ancestors: chain });
    if (isArray) {
      v.forEach((x, i) => {
        walk(x, [...path, i], chain);
      });
    } else {
      for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...path, k], chain);
    }
  };
  args.forEach((a, i) => {
    walk(a, [i], []);
  });
  return out;
}

function structuredCopy(v: unknown): unknown {
  return equivalentCopy(v, () => 0.99);
}
