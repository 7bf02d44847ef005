/**
 * A codec turns a cached value into bytes and back. Built-in codecs: `'json'` (default), `'msgpack'`, `'v8'`;
 * any object with `name`, `encode` and `decode` is accepted as a custom codec.
 *
 * Error paths: a `SerializationError` thrown by a built-in codec carries `path`, the route from the root of the
 * value to the offending part. Object keys appear as strings, array and Set positions as numbers; inside a Map,
 * the value stored under key `k` appears as `k` when `k` is a string or number and as `'{entry i}'` otherwise,
 * and a rejected Map key itself appears as `'{key i}'` (i = position in insertion order).
 */
export interface Codec {
  /** Stable name, e.g. `'json'`. Used in error messages. */
  readonly name: string;
  /**
   * Serializes a value.
   * @throws SerializationError (with `path`) when the value cannot round-trip faithfully.
   */
  encode(value: unknown): Uint8Array;
  /**
   * Deserializes bytes produced by `encode`. Throws on bad bytes; the envelope converts any failure into a
   * `DecodeError`.
   */
  decode(bytes: Uint8Array): unknown;
}

/** A user-supplied codec. `encode` may also return a string, stored as UTF-8. */
export interface CustomCodec {
  /** Stable, non-empty name, e.g. `'protobuf-user'`. Used in error messages. */
  readonly name: string;
  /** Serializes a value to bytes, or to a string stored as UTF-8. */
  encode(value: unknown): Uint8Array | string;
  /** Deserializes what `encode` produced (a string result arrives as its UTF-8 bytes). */
  decode(bytes: Uint8Array): unknown;
}

/** Names of the built-in codecs. */
export type BuiltinCodecName = 'json' | 'msgpack' | 'v8';

/**
 * The `codec` option of a trove or region: a built-in codec name, a built-in codec instance (e.g. from
 * `createJsonCodec`), or a custom codec object. Default: `'json'`.
 */
export type CodecOption = BuiltinCodecName | Codec | CustomCodec;

/** Codec ids stored in the envelope's flags byte (4 bits). Every custom codec shares id 15. */
export const CODEC_IDS = { json: 1, msgpack: 2, v8: 3, custom: 15 } as const;

// Only codecs created by this module get a built-in id; anything else is custom. A WeakMap (rather than a
// property on the codec) keeps user objects named 'json' from impersonating the built-in codec.
const codecIds = new WeakMap<Codec, number>();
// Raw mode stores bytes other languages must read, so an extended codec maps to its portable variant.
const portableVariants = new WeakMap<Codec, Codec>();

/** Decodes the payload that starts at `start` of `bytes` (an entry's bytes, header included). */
export type OffsetDecoder = (bytes: Buffer, start: number) => unknown;
// Built-in codecs that can read a payload in place, so the envelope needs no view of it.
const offsetDecoders = new WeakMap<Codec, OffsetDecoder>();

/** Encodes a value as text whose UTF-8 bytes are what `encode` returns (throwing what `encode` throws). */
export type TextEncoder = (value: unknown) => string;
// Built-in codecs whose payload is text: the envelope writes it straight into the entry's bytes,
// instead of copying the bytes `encode` returns.
const textEncoders = new WeakMap<Codec, TextEncoder>();

/**
 * Records the envelope id of a codec created by this module, the variant to use in raw mode, how it
 * reads a payload in place, and how it encodes one as text.
 */
export function registerCodec(codec: Codec, id: number, portableVariant?: Codec, decodeAt?: OffsetDecoder, encodeText?: TextEncoder): void {
  codecIds.set(codec, id);
  if (portableVariant !== undefined) portableVariants.set(codec, portableVariant);
  if (decodeAt !== undefined) offsetDecoders.set(codec, decodeAt);
  if (encodeText !== undefined) textEncoders.set(codec, encodeText);
}

/** How `codec` encodes a payload as text, when it does. */
export function textEncoderOf(codec: Codec): TextEncoder | undefined {
  return textEncoders.get(codec);
}

/** How `codec` reads a payload in place, when it can. */
export function offsetDecoderOf(codec: Codec): OffsetDecoder | undefined {
  return offsetDecoders.get(codec);
}

/** True for codecs created by this module (built-in instances and wrapped custom codecs). */
export function isRegisteredCodec(codec: object): codec is Codec {
  return codecIds.has(codec as Codec);
}

/** The envelope id of `codec`: its built-in id, or 15 for any custom codec. */
export function codecIdOf(codec: Codec): number {
  return codecIds.get(codec) ?? CODEC_IDS.custom;
}

/** The codec used in raw mode: the portable variant of an extended built-in codec, otherwise `codec` itself. */
export function portableCodecFor(codec: Codec): Codec {
  return portableVariants.get(codec) ?? codec;
}

/** Human-readable name of an envelope codec id, for error messages. */
export function codecIdName(id: number): string {
  for (const [name, value] of Object.entries(CODEC_IDS)) if (value === id) return name;
  return `unknown (${id})`;
}
