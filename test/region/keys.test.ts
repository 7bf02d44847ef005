/**
 * Keys and tags that UTF-8 cannot carry: a lone UTF-16 surrogate becomes U+FFFD on the wire, so
 * '\uD800' and '\uDC00' would share one Redis key. They are rejected, on both stores alike.
 */
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError } from '../../src/index.js';
import { storeKinds, useStore, useTroves } from '../helpers/troves.js';

/** The error thrown (synchronously or as a rejection) by `fn`, or undefined. */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectInvalid(err: unknown, option: string, message: string): void {
  expect(err).toBeInstanceOf(InvalidOptionError);
  expect((err as InvalidOptionError).option).toBe(option);
  expect((err as InvalidOptionError).message).toContain(message);
}

for (const name of storeKinds) {
  describe(`ill-formed keys on ${name}`, () => {
    const store = useStore(name);
    let n = 0;
    const { open } = useTroves(() => ({ ...store.opts, prefix: `k${++n}` }));

    it('set and get of a lone surrogate throw InvalidOptionError naming it', async () => {
      const r = open().region('lone');
      expectInvalid(await errorOf(() => r.set('\uD800', 1)), 'key', 'lone surrogate at index 0');
      expectInvalid(await errorOf(() => r.get('\uD800')), 'key', 'lone surrogate at index 0');
      expectInvalid(await errorOf(() => r.get('\uDC00')), 'key', 'lone surrogate at index 0');
      expectInvalid(await errorOf(() => r.get('ab\uDC00\uD800')), 'key', 'lone surrogate at index 2');
      expectInvalid(await errorOf(() => r.get('\uD83D\uDE00x\uD83D')), 'key', 'lone surrogate at index 3');
      expect(await r.get('\uFFFD')).toBeUndefined(); // nothing was written under the replacement character
    });

    it('every key-taking operation rejects it, and nothing is written', async () => {
      const t = open();
      const r = t.region('ops');
      const ops: [string, () => unknown][] = [
        ['has', () => r.has('\uDC00')],
        ['delete', () => r.delete('\uDC00')],
        ['getOrSet', () => r.getOrSet('\uDC00', () => 1)],
        ['getMany', () => r.getMany(['ok', '\uDC00'])],
        [
          'setMany',
          () =>
            r.setMany([
              ['ok', 1],
              ['\uDC00', 2],
            ]),
        ],
        ['batch', () => r.batch((tx) => tx.set('\uDC00', 1))],
        ['keyOf', () => r.keyOf('\uDC00')],
      ];
      for (const [op, fn] of ops) {
        const err = await errorOf(fn);
        expect(err, op).toBeInstanceOf(InvalidOptionError);
        expect((err as InvalidOptionError).option, op).toBe('key');
      }
      expect(await r.get('ok')).toBeUndefined();
    });

    it('surrogate pairs and the replacement character itself are ordinary, distinct keys', async () => {
      const r = open().region('pairs');
      await r.set('\uD83D\uDE00', 'grin');
      await r.set('\uFFFD', 'replacement');
      expect(await r.get('\uD83D\uDE00')).toBe('grin');
      expect(await r.get('\uFFFD')).toBe('replacement');
      expect(await r.getMany(['\uD83D\uDE00', '\uFFFD'])).toEqual(['grin', 'replacement']);
    });

    it('tags with a lone surrogate are rejected where they are given', async () => {
      const t = open();
      const r = t.region('tagged');
      expectInvalid(await errorOf(() => r.set('a', 1, { tags: ['org:\uD800'] })), 'tags', 'lone surrogate at index 4');
      expectInvalid(await errorOf(() => t.invalidateTags(['\uDC00'])), 'tags', 'lone surrogate at index 0');
      expect(await r.get('a')).toBeUndefined();
      await r.set('a', 1, { tags: ['org:\uD83D\uDE00'] });
      await t.invalidateTags(['org:\uFFFD']);
      expect(await r.get('a')).toBe(1);
    });

    it('prefix and version with a lone surrogate are rejected', () => {
      expectInvalid(
        errorOfSync(() => createTrove({ ...store.opts, prefix: 'app\uD800' })),
        'prefix',
        'lone surrogate at index 3',
      );
      expectInvalid(
        errorOfSync(() => createTrove({ ...store.opts, version: '\uDFFF' })),
        'version',
        'lone surrogate at index 0',
      );
    });
  });
}

function errorOfSync(fn: () => unknown): unknown {
  try {
    const made = fn() as { close?: () => Promise<void> };
    void made?.close?.();
  } catch (err) {
    return err;
  }
  return undefined;
}
