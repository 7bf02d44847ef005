import type { TrackingListener } from './store.js';

/**
 * Several tracking channels seen as one, for a store that reads from more than one server (the
 * masters of a cluster, a primary and its replicas). CLIENT TRACKING is per server: each server
 * read from has its own tracked connection and its own invalidation channel (a member here).
 *
 * Live only while every required member is live: a value read from a server whose channel is down
 * could change without an announcement. An optional member (a replica that reads may fall back
 * from) does not hold the group down: while it is not live, the store sends tracked reads
 * elsewhere (see `memberLive`). Invalidations of every member reach the one listener. Any loss of a
 * member that was live, and any `restart()` (the servers behind the keys changed: a failover, a
 * slot that moved), is reported as a loss followed, once every required member is live, by a new
 * start: the near cache then drops everything and keeps nothing read before (a new epoch), so a
 * read in flight on a channel that broke is never kept.
 */
export class TrackingGroup {
  private readonly members = new Map<string, { live: boolean; readonly required: boolean }>();
  private isLive = false;
  private closed = false;

  constructor(private readonly listener: TrackingListener) {}

  /** Whether every required member is live (and there is at least one). */
  get live(): boolean {
    return this.isLive;
  }

  /** Whether this member is live. */
  memberLive(id: string): boolean {
    return this.members.get(id)?.live === true;
  }

  /** Adds a member, not live yet; returns the listener to give its channel. A new member is a new server: a restart. */
  add(id: string, required = true): TrackingListener {
    const member = { live: false, required };
    this.members.set(id, member);
    this.restart();
    return {
      onInvalidate: (keys) => {
        if (!this.closed && this.members.get(id) === member) this.listener.onInvalidate(keys);
      },
      onTrackingChange: (live) => {
        if (this.members.get(id) !== member || member.live === live) return;
        member.live = live;
        // Whatever was read from it may have changed unannounced: every reader starts over.
        if (!live) this.restart();
        else this.update();
      },
    };
  }

  /** Removes a member (its server is no longer read from). What it tracked is no longer watched. */
  remove(id: string): void {
    if (!this.members.delete(id)) return;
    this.restart();
  }

  /** Reports a loss, then a new start at once if every member is live. */
  restart(): void {
    this.report(false);
    this.update();
  }

  close(): void {
    this.closed = true;
    this.isLive = false;
  }

  private update(): void {
    let live = false;
    for (const m of this.members.values()) {
      if (m.required && !m.live) {
        live = false;
        break;
      }
      if (m.required) live = true;
    }
    this.report(live);
  }

  private report(live: boolean): void {
    if (this.closed || live === this.isLive) return;
    this.isLive = live;
    this.listener.onTrackingChange(live);
  }
}
