/**
 * The soak (tools/soak.ts) for 30 seconds: four processes with near caches under mixed load
 * while the parent writes their keys from outside. Every wait inside is for a condition (a
 * process ready, closed, exited; connections back to the baseline), so a loaded machine only
 * makes it slower; the only clocks are the 20 s warm-up (which also lasts until each process has
 * run the operations 20 s allow at its set rate, so a starved process starts its measured phase
 * as warm as any) and the 30 s measured phase.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../tools/soak/report.js';
import { heapTrendLimit, runSoak, staleTotal } from '../../tools/soak/run.js';

describe('soak', () => {
  it('30 s, 4 processes: no stale read, no connection or handle left after close, a flat heap', { timeout: 240_000 }, async () => {
    const durationMs = 30_000;
    const result = await runSoak({ durationMs, progressEveryMs: 10_000, log: (line) => console.log(`soak: ${line}`) });
    console.log(formatReport(result));

    expect(result.processes).toHaveLength(4);
    for (const p of result.processes) {
      expect(p.problems, `process ${p.index + 1}`).toEqual([]);
      expect(p.summary, `process ${p.index + 1} closed its trove and reported`).toBeDefined();
      const s = p.summary!;
      expect(s.ops, `process ${p.index + 1} operations`).toBeGreaterThan(0);
      expect(staleTotal(s), `process ${p.index + 1} stale reads: ${s.examples.join('; ')}`).toBe(0);
      expect(s.resourcesAfter.length, `process ${p.index + 1} resources after close: ${s.resourcesAfter.join(', ')}`).toBeLessThanOrEqual(
        s.resourcesBefore.length,
      );
      expect(p.heapTrendKBPerMin, `process ${p.index + 1} heap trend (KB/min)`).toBeLessThan(heapTrendLimit(durationMs));
      expect(p.exitedOnItsOwn, `process ${p.index + 1} exit: ${p.exit}`).toBe(true);
    }
    expect(result.processes.reduce((n, p) => n + p.summary!.checked.feed, 0)).toBeGreaterThan(0);
    expect(result.connections.afterClose).toBe(result.connections.baseline);
    expect(result.failures).toEqual([]);
  });
});
