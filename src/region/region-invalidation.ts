import { emitError } from './event-emission.js';
import { asOperation } from './operation-errors.js';
import type { EventSource } from './region.js';
import type { RegionCore } from './region-core.js';

/** `invalidate` (and `clear`, named by `operation`): a new generation for the region, written and broadcast atomically. */
export async function invalidate(core: RegionCore, operation: string): Promise<void> {
  const ctx = core.ctx;
  ctx.assertOpen();
  await asOperation(operation, 'the new generation could not be written', ctx.generations.invalidate(core.path, ctx.busChannel, ctx.origin));
  if (ctx.events.wants('invalidate')) ctx.events.emit('invalidate', { region: core.path, origin: 'local' });
}

/** `invalidateOn`: invalidates on every `event` of `source`, failures reported as `error` events; returns the unsubscribe. */
export function invalidateOn(core: RegionCore, source: EventSource, event: string): () => void {
  const listener = (): void => {
    invalidate(core, 'invalidate').catch((err: unknown) => emitError(core, err, 'invalidate'));
  };
  if ('on' in source) {
    source.on(event, listener);
    return () => {
      source.off(event, listener);
    };
  }
  source.addEventListener(event, listener);
  return () => {
    source.removeEventListener(event, listener);
  };
}
