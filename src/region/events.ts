import type { TroveError } from '../errors.js';

/** A read found a value. */
export interface HitEvent {
  region: string;
  key: string;
  /** Time from the call to the answer, in milliseconds. */
  durationMs: number;
  /** Whether the value was past its `freshFor` deadline (still served). */
  stale: boolean;
  /** Where it was found: the in-process near cache, or the store (Redis or the embedded store). */
  tier: 'near' | 'store';
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** A read found nothing (or something that could not be decoded). */
export interface MissEvent {
  region: string;
  key: string;
  durationMs: number;
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** A value was written. */
export interface SetEvent {
  region: string;
  key: string;
  /** Encoded size in bytes, envelope included. */
  bytes: number;
  /** Time to live in milliseconds (`Infinity`: no expiry). */
  ttlMs: number;
  durationMs: number;
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** A key was deleted. */
export interface DeleteEvent {
  region: string;
  key: string;
  durationMs: number;
  /** The cached function's `name`, when the call came through `trove.cached()` (its `invalidate`). */
  function?: string;
}

/** `markStale` ran: the entry kept its value as stale (`marked`), or, with nothing live to keep, the key was deleted. */
export interface MarkStaleEvent {
  region: string;
  key: string;
  /** Whether a live value was there and is now stale; false: nothing to keep, the key was deleted. */
  marked: boolean;
  /** Time from the call to its write's answer, in milliseconds. */
  durationMs: number;
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** Something went wrong that Trove handled (the caller got a miss, a computed value, or a fallback). */
export interface ErrorEvent {
  error: TroveError;
  /** What Trove was doing, e.g. `'get'`, `'set'`, `'decode'`, `'connection'`. */
  operation: string;
  region?: string;
  key?: string;
  /** The cached function's `name`, when the failed call came through `trove.cached()`. */
  function?: string;
}

/** A stale value (past `freshFor`, or a near-cache copy kept through a Redis outage) was answered. */
export interface StaleEvent {
  region: string;
  key: string;
  /**
   * `'refreshing'`: another caller or process is refreshing it; `'fail-safe'`: the factory failed;
   * `'timeout'`: the factory passed its soft or hard timeout; `'disconnected'`: Redis could not be
   * reached and the near cache's copy, kept since tracking was lost, was answered (`nearCache.serveWhileDisconnected`).
   */
  reason: 'refreshing' | 'fail-safe' | 'timeout' | 'disconnected';
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** A factory ran in getOrSet (or a cached function's call): it produced a value, or threw (`failed`). */
export interface ComputeEvent {
  region: string;
  key: string;
  durationMs: number;
  /** Whether the factory threw (or rejected). Its error reaches the caller, or an `error` event with fail-safe. */
  failed: boolean;
  /** The cached function's `name`, when the call came through `trove.cached()`. */
  function?: string;
}

/** A region or tags were invalidated, here (`'local'`) or by another process (`'remote'`). */
export interface InvalidateEvent {
  /** The region invalidated (with every region below it). */
  region?: string;
  /** The tags invalidated. */
  tags?: string[];
  origin: 'local' | 'remote';
}

/** The connection to Redis was lost: calls degrade (misses, direct computation) until `reconnected`. */
export interface DisconnectedEvent {
  /** Epoch ms. */
  at: number;
}

/** The connection to Redis is back after a `disconnected`. */
export interface ReconnectedEvent {
  /** How long it was down, in ms. */
  downMs: number;
  /**
   * Store failures during the outage that were counted instead of reported as `error` events
   * (the first one after the loss is reported; see `stats().suppressedErrors`).
   */
  suppressedErrors: number;
}

export interface TroveEventMap {
  hit: HitEvent;
  miss: MissEvent;
  set: SetEvent;
  delete: DeleteEvent;
  markStale: MarkStaleEvent;
  error: ErrorEvent;
  compute: ComputeEvent;
  stale: StaleEvent;
  invalidate: InvalidateEvent;
  disconnected: DisconnectedEvent;
  reconnected: ReconnectedEvent;
}

export type TroveEventName = keyof TroveEventMap;

/** Where regions report events; implemented by the trove. `wants` lets the hot path skip building events nobody listens to. */
export interface EventSink {
  wants(name: TroveEventName): boolean;
  emit<E extends TroveEventName>(name: E, event: TroveEventMap[E]): void;
}
