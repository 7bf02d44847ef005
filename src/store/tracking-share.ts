import type { TrackingListener } from './store.js';

/** A driver's tracking channel for one command connection (`TrackingChannel`, `NodeRedisTracking`); its liveness comes through its listener. */
export interface TrackingLink {
  close(): Promise<void>;
}

/** One store's part in its connection's tracking: what it hears, and how it would open the channel. */
export interface TrackingMember {
  readonly listener: TrackingListener;
  /** Opens the connection's channel, on this member's own subscriber, reporting to `listener`. */
  open(listener: TrackingListener): TrackingLink;
}

/** A store's hold on its connection's tracking. */
export interface TrackingHandle {
  /** Whether tracking is live for this store: invalidations of what it reads tracked reach it. */
  readonly live: boolean;
  /** Leaves; the last to leave closes the channel. */
  close(): Promise<void>;
}

/**
 * Redis keeps one tracking state per connection: one redirect target, on or off. Two stores on
 * the same connection (two troves given one client of the user's), each switching tracking on
 * for its own subscriber, would take the redirect from each other, and the first one's near cache
 * would stop hearing changes while it believes itself live. So the stores of one connection
 * share one channel: the first to ask opens it, every invalidation and change of liveness goes to
 * all of them, and when the store whose subscriber carries it leaves, the next store opens it
 * again on its own (the others are told tracking was lost meanwhile, since invalidations may
 * have been missed).
 */
export function joinTracking(connection: object, member: TrackingMember): TrackingHandle {
  let share = shares.get(connection);
  if (share === undefined) {
    share = new TrackingShare(() => shares.delete(connection));
    shares.set(connection, share);
  }
  return share.join(member);
}

const shares = new WeakMap<object, TrackingShare>();

class TrackingShare {
  private readonly members: TrackingMember[] = [];
  private link: TrackingLink | undefined;
  /** The member whose subscriber carries the channel. */
  private owner: TrackingMember | undefined;
  /** Liveness as last reported by the current link. */
  private live = false;

  constructor(private readonly onEmpty: () => void) {}

  join(member: TrackingMember): TrackingHandle {
    this.members.push(member);
    if (this.link === undefined) this.open(member);
    else if (this.live) {
      // Tracked from its next read on: said as a channel says it, after the caller's own step.
      const link = this.link;
      queueMicrotask(() => {
        if (this.link === link && this.live && this.members.includes(member)) member.listener.onTrackingChange(true);
      });
    }
    const isLive = () => this.live && this.members.includes(member);
    return {
      get live(): boolean {
        return isLive();
      },
      close: () => this.leave(member),
    };
  }

  private open(owner: TrackingMember): void {
    this.owner = owner;
    this.live = false;
    let link: TrackingLink | undefined;
    // Events of a link that was replaced are not this share's any more.
    const current = () => link !== undefined && this.link === link;
    link = owner.open({
      onInvalidate: (keys) => {
        if (!current()) return;
        for (const m of [...this.members]) m.listener.onInvalidate(keys);
      },
      onTrackingChange: (live) => {
        if (!current() || this.live === live) return;
        this.live = live;
        for (const m of [...this.members]) m.listener.onTrackingChange(live);
      },
    });
    this.link = link;
  }

  private leave(member: TrackingMember): Promise<void> {
    const i = this.members.indexOf(member);
    if (i === -1) return Promise.resolve();
    this.members.splice(i, 1);
    if (member !== this.owner) return Promise.resolve();
    const old = this.link!;
    this.link = undefined;
    this.owner = undefined;
    // Closed first: its commands (tracking off, on a user's connection) go before the next link's.
    const closed = old.close();
    if (this.live) {
      this.live = false;
      for (const m of [...this.members]) m.listener.onTrackingChange(false);
    }
    const next = this.members[0];
    if (next === undefined) this.onEmpty();
    else this.open(next);
    return closed;
  }
}
