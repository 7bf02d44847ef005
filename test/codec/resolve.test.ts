import { describe, expect, it } from 'vitest';
import {
  CODEC_IDS,
  type CustomCodec,
  codecIdOf,
  createJsonCodec,
  createMsgpackCodec,
  decodeEntry,
  encodeEntry,
  jsonCodec,
  msgpackCodec,
  plainJsonCodec,
  portableMsgpackCodec,
  resolveCodec,
  v8Codec,
} from '../../src/codec/index.js';
import { InvalidOptionError, SerializationError } from '../../src/errors.js';

const stringCodec: CustomCodec = {
  name: 'upper',
  encode: (value) => String(value).toUpperCase(),
  decode: (bytes) => Buffer.from(bytes).toString('utf8').toLowerCase(),
};

describe('resolveCodec', () => {
  it('resolves built-in names, defaulting to extended json', () => {
    expect(resolveCodec(undefined)).toBe(jsonCodec);
    expect(resolveCodec('json')).toBe(jsonCodec);
    expect(resolveCodec('msgpack')).toBe(msgpackCodec);
    expect(resolveCodec('v8')).toBe(v8Codec);
  });

  it('resolves to the portable variants in raw mode', () => {
    expect(resolveCodec(undefined, 'codec', true)).toBe(plainJsonCodec);
    expect(resolveCodec('json', 'codec', true)).toBe(plainJsonCodec);
    expect(resolveCodec('msgpack', 'codec', true)).toBe(portableMsgpackCodec);
    expect(resolveCodec('v8', 'codec', true)).toBe(v8Codec);
    expect(resolveCodec(jsonCodec, 'codec', true)).toBe(plainJsonCodec);
    expect(resolveCodec(createJsonCodec(), 'codec', true)).toBe(plainJsonCodec);
    expect(resolveCodec(createMsgpackCodec(), 'codec', true)).toBe(portableMsgpackCodec);
  });

  it('returns built-in codec instances unchanged', () => {
    const json = createJsonCodec();
    expect(resolveCodec(json)).toBe(json);
    expect(resolveCodec(plainJsonCodec)).toBe(plainJsonCodec);
    expect(resolveCodec(v8Codec)).toBe(v8Codec);
  });

  it('gives built-in codecs their envelope ids and every custom codec id 15', () => {
    expect(codecIdOf(jsonCodec)).toBe(1);
    expect(codecIdOf(plainJsonCodec)).toBe(1);
    expect(codecIdOf(createJsonCodec({ extended: false }))).toBe(1);
    expect(codecIdOf(msgpackCodec)).toBe(2);
    expect(codecIdOf(portableMsgpackCodec)).toBe(2);
    expect(codecIdOf(v8Codec)).toBe(3);
    expect(codecIdOf(resolveCodec(stringCodec))).toBe(CODEC_IDS.custom);
    // a user object named like a built-in codec is still custom
    const impostor = { name: 'json', encode: (v: unknown) => JSON.stringify(v), decode: (b: Uint8Array) => JSON.parse(Buffer.from(b).toString()) };
    expect(codecIdOf(resolveCodec(impostor))).toBe(15);
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown name', 'yaml', /unknown codec "yaml"/],
    ['a number', 42, /got number/],
    ['null', null, /got null/],
    ['an object without encode', { name: 'x', decode: () => 1 }, /needs "encode" and "decode" functions/],
    ['an object without decode', { name: 'x', encode: () => '' }, /needs "encode" and "decode" functions/],
    ['an object with encode not a function', { name: 'x', encode: 'nope', decode: () => 1 }, /needs "encode" and "decode" functions/],
    ['an object without a name', { encode: () => '', decode: () => 1 }, /non-empty string "name"/],
    ['an object with an empty name', { name: '', encode: () => '', decode: () => 1 }, /non-empty string "name"/],
  ])('rejects %s with an InvalidOptionError naming the option', (_name, opt, message) => {
    let caught: unknown;
    try {
      resolveCodec(opt as never, 'regions.users.codec');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect((caught as InvalidOptionError).option).toBe('regions.users.codec');
    expect((caught as InvalidOptionError).message).toMatch(message);
  });
});

describe('custom codecs', () => {
  it('wraps a custom codec once and keeps its name', () => {
    const codec = resolveCodec(stringCodec);
    expect(codec.name).toBe('upper');
    expect(resolveCodec(stringCodec)).toBe(codec);
    expect(resolveCodec(codec)).toBe(codec);
    expect(resolveCodec(stringCodec, 'codec', true)).toBe(codec);
  });

  it('stores a string result as UTF-8 bytes', () => {
    const bytes = resolveCodec(stringCodec).encode('héllo');
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes).toString('utf8')).toBe('HÉLLO');
    expect(resolveCodec(stringCodec).decode(bytes)).toBe('héllo');
  });

  it('passes Buffer and Uint8Array results through', () => {
    const raw = new Uint8Array([1, 2, 3]);
    const codec = resolveCodec({ name: 'bytes', encode: () => raw, decode: (b) => [...b] });
    expect(codec.encode('anything')).toBe(raw);
    const buf = Buffer.from([4]);
    expect(resolveCodec({ name: 'buf', encode: () => buf, decode: (b) => b }).encode(null)).toBe(buf);
  });

  it('turns an encode result that is not bytes into a SerializationError', () => {
    const codec = resolveCodec({ name: 'broken', encode: () => 42 as unknown as string, decode: () => null });
    expect(() => codec.encode({})).toThrow(SerializationError);
    expect(() => codec.encode({})).toThrow(/custom codec "broken" returned number/);
  });

  it('turns an encode exception into a SerializationError with the cause attached', () => {
    const failure = new TypeError('cannot encode');
    const codec = resolveCodec({
      name: 'throws',
      encode: () => {
        throw failure;
      },
      decode: () => null,
    });
    let caught: unknown;
    try {
      codec.encode(1);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SerializationError);
    expect((caught as SerializationError).cause).toBe(failure);
    expect((caught as SerializationError).message).toContain('cannot encode');
  });

  it('keeps a SerializationError thrown by the custom codec as it is', () => {
    const own = new SerializationError('nope', ['a']);
    const codec = resolveCodec({
      name: 'strict',
      encode: () => {
        throw own;
      },
      decode: () => null,
    });
    expect(() => codec.encode(1)).toThrow(own);
  });

  it('round-trips through the envelope, with compression', () => {
    const codec = resolveCodec(stringCodec);
    const bytes = encodeEntry('a'.repeat(5000), 99, { codec, compression: 'gzip', compressThreshold: 100, raw: false });
    expect(bytes[1]! & 0x0f).toBe(15);
    expect(decodeEntry(bytes, { codec, raw: false })).toEqual({ value: 'a'.repeat(5000), freshUntil: 99 });
  });
});

describe('built-in codec instances', () => {
  it('are frozen, so shared instances cannot be altered by one consumer', () => {
    for (const codec of [jsonCodec, plainJsonCodec, msgpackCodec, portableMsgpackCodec, v8Codec, resolveCodec(stringCodec)]) {
      expect(Object.isFrozen(codec)).toBe(true);
    }
  });
});
