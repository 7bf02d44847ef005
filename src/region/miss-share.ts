/**
 * How much of a region's recent getOrSet reads from Redis missed (near hits do not count): an
 * exponentially weighted share, each read weighing 1/16. While most of them miss, getOrSet reads
 * and takes the lock in one step (`Loader.readOrMiss`): a miss then costs one round trip fewer,
 * while a hit costs Redis a script instead of a share of a batched MGET and is not kept in the
 * near cache. The share follows the reads either way, so a region whose keys start to hit goes
 * back to plain reads by itself.
 */
export class MissShare {
  private share = 0;

  /** One read from Redis: whether it missed. */
  record(missed: boolean): void {
    this.share += ((missed ? 1 : 0) - this.share) / 16;
  }

  /** Whether at least three reads in four miss: after about 22 misses in a row from none. */
  get mostlyMiss(): boolean {
    return this.share > 0.75;
  }
}
