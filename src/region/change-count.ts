/** Broadcasts held at most while an earlier one is missing; beyond, the next check re-reads instead. */
const AHEAD_KEPT = 1_000;

/**
 * How far this process has followed a counted table. Each change of the table is numbered by the
 * same atomic step that makes it (`hashSetCountAndPublish`), and its broadcast carries the number.
 * A full read of the table syncs the process to the count it found; from there each broadcast
 * numbered one more moves it on, and one that arrives before a missing predecessor is held until
 * the gap closes. A check that reads the table's count alone then knows whether a change was
 * missed: only then must the process read everything again.
 */
export class ChangeCount {
  /** The count up to which every change of the table is known here; undefined before a full read. */
  private at: number | undefined;
  /** Numbers received past a gap. */
  private readonly ahead = new Set<number>();

  /** The count this process has followed the table to, or undefined when it must read it in full first. */
  get synced(): number | undefined {
    return this.at;
  }

  /** Whether the change numbered `n` is already known here: a full read has seen it, or a newer one. */
  covers(n: number): boolean {
    return this.at !== undefined && n <= this.at;
  }

  /** The broadcast of the change numbered `n` has been applied. */
  note(n: number): void {
    if (this.at === undefined || n <= this.at) return;
    if (n === this.at + 1) this.advance(n);
    else if (this.ahead.size < AHEAD_KEPT) this.ahead.add(n);
  }

  /** A full read found the table at count `n`: every change up to it is known here. */
  syncTo(n: number): void {
    if (this.at !== undefined && n <= this.at) return;
    for (const held of this.ahead) if (held <= n) this.ahead.delete(held);
    this.advance(n);
  }

  /** The table was recreated, or its count went back (a failover lost writes): follow it anew. */
  reset(): void {
    this.at = undefined;
    this.ahead.clear();
  }

  private advance(n: number): void {
    this.at = n;
    while (this.ahead.delete(this.at + 1)) this.at++;
  }
}
