/**
 * The skip header: honoured only for requests `allowSkip` lets through, so that a client cannot
 * make every request recompute (a cheap way to take a service down). A header with an empty value
 * does not count.
 */
import type { ResolvedSkip } from './options.js';
import type { RequestView } from './request-view.js';

export function shouldSkip<Req>(view: RequestView, req: Req, skip: ResolvedSkip<Req>): boolean {
  const value = view.header(skip.header);
  if (value === undefined || value === '') return false;
  return skip.allow(req) === true;
}
