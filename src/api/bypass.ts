import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Tracks whether the current async context asked to skip caching. The flag `used` keeps the hot
 * path free of AsyncLocalStorage lookups until bypass() is called for the first time.
 */
export class BypassContext {
  private readonly als = new AsyncLocalStorage<true>();
  private used = false;

  run<T>(fn: () => T): T {
    this.used = true;
    return this.als.run(true, fn);
  }

  active(): boolean {
    return this.used && this.als.getStore() === true;
  }
}
