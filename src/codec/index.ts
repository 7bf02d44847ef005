/** The codec layer: serializers, compression and the envelope stored in Redis. */
export { type BuiltinCodecName, CODEC_IDS, type Codec, type CodecOption, type CustomCodec, codecIdOf } from './codec.js';
export {
  COMPRESSION_IDS,
  type Compression,
  compressionName,
  compressPayload,
  DEFAULT_COMPRESS_THRESHOLD,
  DEFAULT_MAX_DECODED_BYTES,
  decompressPayload,
  resolveByteCount,
  resolveCompression,
} from './compression.js';
export {
  type DecodedEntry,
  type DecodeOptions,
  type DescribedEntry,
  decodeEntry,
  describeEntry,
  type EnvelopeHeader,
  type EncodeOptions,
  encodeEntry,
  MAX_FRESH_UNTIL,
  MAX_TAGS,
  readEntryHeader,
  entryExpiresAt,
  withEntryExpiresAt,
  withFreshUntil,
  type TagStamp,
} from './envelope.js';
export { createJsonCodec, type JsonCodecOptions, jsonCodec, plainJsonCodec } from './json.js';
export { createMsgpackCodec, type MsgpackCodecOptions, msgpackCodec, portableMsgpackCodec } from './msgpack.js';
export { builtinCodecOfId, resolveCodec } from './resolve.js';
export { v8Codec } from './v8.js';
