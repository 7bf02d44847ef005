/**
 * The sharing of one connection's tracking channel between stores, with links driven by hand:
 * who opens the channel, who hears what, and what the others are told when its owner leaves.
 * (Against a real Redis, on both drivers: test/near/shared-client.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { TrackingListener } from '../../src/store/store.js';
import { joinTracking, type TrackingLink, type TrackingMember } from '../../src/store/tracking-share.js';

interface FakeLink extends TrackingLink {
  report: TrackingListener;
  closed: boolean;
  live: boolean;
}

function member(name: string, heard: string[], links: FakeLink[]): TrackingMember {
  return {
    listener: {
      onInvalidate: (keys) => heard.push(`${name} invalidate ${keys === null ? 'all' : keys.join(',')}`),
      onTrackingChange: (live) => heard.push(`${name} ${live ? 'live' : 'lost'}`),
    },
    open: (report) => {
      const link: FakeLink = {
        report,
        closed: false,
        live: false,
        close: async () => {
          link.closed = true;
        },
      };
      heard.push(`${name} opens`);
      links.push(link);
      return link;
    },
  };
}

const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));

/** One connection, with what its members hear and the links they open; `join(name)` adds a member. */
function connection() {
  const heard: string[] = [];
  const links: FakeLink[] = [];
  const conn = {};
  return { heard, links, join: (name: string) => joinTracking(conn, member(name, heard, links)) };
}

describe('joinTracking', () => {
  it('one channel per connection: the first member opens it, every member hears it', async () => {
    const { heard, links, join } = connection();
    const a = join('a');
    links[0]!.report.onTrackingChange(true);
    const b = join('b');
    expect(b.live).toBe(true);
    await settle();
    links[0]!.report.onInvalidate(['k1']);
    links[0]!.report.onInvalidate(null);
    expect(links).toHaveLength(1);
    expect(heard).toEqual(['a opens', 'a live', 'b live', 'a invalidate k1', 'b invalidate k1', 'a invalidate all', 'b invalidate all']);
    expect(a.live).toBe(true);
    // Another connection has a channel of its own.
    joinTracking({}, member('c', heard, links));
    expect(links).toHaveLength(2);
  });

  it('a member that joins before the channel is live hears it go live with the others', () => {
    const { heard, links, join } = connection();
    const a = join('a');
    const b = join('b');
    expect([a.live, b.live]).toEqual([false, false]);
    links[0]!.report.onTrackingChange(true);
    links[0]!.report.onTrackingChange(false);
    expect(heard).toEqual(['a opens', 'a live', 'b live', 'a lost', 'b lost']);
  });

  it('when the owner leaves, the others are told tracking was lost and the next one opens the channel', async () => {
    const { heard, links, join } = connection();
    const a = join('a');
    const b = join('b');
    const c = join('c');
    links[0]!.report.onTrackingChange(true);
    heard.length = 0;
    await a.close();
    expect(links[0]!.closed).toBe(true);
    expect(heard).toEqual(['b lost', 'c lost', 'b opens']);
    expect([b.live, c.live]).toEqual([false, false]);
    // The closed link's late events are nobody's any more.
    links[0]!.report.onInvalidate(['late']);
    links[0]!.report.onTrackingChange(true);
    expect(heard).toEqual(['b lost', 'c lost', 'b opens']);
    links[1]!.report.onTrackingChange(true);
    links[1]!.report.onInvalidate(['k']);
    expect(heard.slice(3)).toEqual(['b live', 'c live', 'b invalidate k', 'c invalidate k']);
    expect(a.live).toBe(false);
    // A member that is not the owner leaves quietly; the channel stays.
    await c.close();
    links[1]!.report.onInvalidate(['k2']);
    expect(heard.slice(7)).toEqual(['b invalidate k2']);
    expect(links[1]!.closed).toBe(false);
    // The last one closes it; the next member opens a new one.
    await b.close();
    expect(links[1]!.closed).toBe(true);
    join('d');
    expect(links).toHaveLength(3);
    expect(heard.at(-1)).toBe('d opens');
  });

  it('leaving twice, or a member that left, changes nothing', async () => {
    const { heard, links, join } = connection();
    const a = join('a');
    const b = join('b');
    links[0]!.report.onTrackingChange(true);
    await b.close();
    await b.close();
    expect(b.live).toBe(false);
    expect(a.live).toBe(true);
    expect(links[0]!.closed).toBe(false);
    expect(heard).toEqual(['a opens', 'a live', 'b live']);
  });

  it('a member joining a live channel and leaving before it is told hears nothing', async () => {
    const { heard, links, join } = connection();
    join('a');
    links[0]!.report.onTrackingChange(true);
    const b = join('b');
    await b.close();
    await settle();
    expect(heard).toEqual(['a opens', 'a live']);
  });
});
