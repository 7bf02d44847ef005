/**
 * Holds back an Express (Node `ServerResponse`) response while its handler writes it, so that
 * cacheRoute can decide what goes out once it is complete: the handler's own response (released
 * as it was written), or a stale one instead (fail-safe). `writeHead`, `write` and `end` are
 * replaced on the instance until then; headers stay on the response object, where Express set them.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { HeldResponse } from '../web/route-cache.js';

export interface Hold {
  /** Resolves when the handler ended the response. */
  readonly done: Promise<HeldResponse>;
  /** Sends the response as the handler wrote it. */
  release(): void;
  /** Forgets the handler's response (status, body, and headers set since the hold began); the response can be written anew. */
  discard(): void;
}

type Chunk = string | Uint8Array | null | undefined;
type Callback = (err?: Error | null) => void;

export function hold(res: ServerResponse): Hold {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  // Headers set before the handler (by earlier middleware: CORS, security headers) survive a discard.
  const before = { ...res.getHeaders() };
  const chunks: Buffer[] = [];
  let ended = false;
  let endCallback: Callback | undefined;
  let resolve: (held: HeldResponse) => void = () => {};
  const done = new Promise<HeldResponse>((r) => {
    resolve = r;
  });
  const push = (chunk: Chunk, encoding: BufferEncoding | undefined) => {
    if (chunk === null || chunk === undefined) return;
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  };
  const restore = () => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
  };

  res.writeHead = function writeHead(this: ServerResponse, status: number, reason?: string | OutgoingHttpHeaders, headers?: OutgoingHttpHeaders) {
    this.statusCode = status;
    if (typeof reason === 'string') this.statusMessage = reason;
    else headers = reason;
    if (headers !== undefined && !Array.isArray(headers)) for (const [k, v] of Object.entries(headers)) if (v !== undefined) this.setHeader(k, v);
    return this;
  } as ServerResponse['writeHead'];
  res.write = function write(this: ServerResponse, chunk: Chunk, encoding?: BufferEncoding | Callback, cb?: Callback) {
    if (typeof encoding === 'function') cb = encoding;
    push(chunk, typeof encoding === 'string' ? encoding : undefined);
    if (cb !== undefined) process.nextTick(cb);
    return true;
  } as ServerResponse['write'];
  res.end = function end(this: ServerResponse, chunk?: Chunk | Callback, encoding?: BufferEncoding | Callback, cb?: Callback) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') cb = encoding;
    push(chunk, typeof encoding === 'string' ? encoding : undefined);
    if (!ended) {
      ended = true;
      endCallback = cb;
      resolve({ status: this.statusCode, headers: this.getHeaders(), body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
    }
    return this;
  } as ServerResponse['end'];

  return {
    done,
    release() {
      restore();
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (endCallback === undefined) res.end(body);
      else res.end(body, endCallback);
    },
    discard() {
      restore();
      chunks.length = 0;
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      for (const [name, value] of Object.entries(before)) if (value !== undefined) res.setHeader(name, value);
    },
  };
}
