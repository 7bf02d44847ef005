/**
 * Each library measured in a process of its own, the processes taking turns.
 *
 * In one shared process, libraries disturb each other's figures: V8's type feedback for code
 * they share (lru-cache, ioredis, the driver loop) reflects all of them, and one library's
 * garbage and cache footprint land on the next one's slice. A library whose hit costs half a
 * microsecond lost half its throughput to a peer running between its slices, while the peer, at
 * nine microseconds a hit, barely noticed. A service runs one cache library, so each one gets
 * a process here.
 *
 * The parent starts one child per library (`bench/index.ts --child`), each running the same
 * workload code with that library alone. Every warm-up and timed slice is a turn (`ctx.turn`):
 * the child asks for it and waits; the parent grants turns one at a time, rotating the order,
 * and only once every child is waiting or finished, so nothing else runs during a measurement and
 * a change in machine load still falls on every library alike.
 */
import type { BenchContext, WorkloadName } from './context.js';
import { ChildScript, stdinLines } from './child-io.js';
import type { Variant } from './peers/types.js';
import type { Row, WorkloadResult } from './report.js';
import { activeVariants, rotate } from './workloads/common.js';

/** The longest one child may stay silent (its slowest warm-up or slice). */
const SILENCE_MS = 10 * 60_000;

/** The child side: lines it prints on stdout. */
const TURN = '@turn';
const DONE = '@done';
const PROGRESS = '@progress ';
const RESULT = '@result ';

/** Context methods for a child process: ask the parent for each turn; report on stdout. */
export function childTurns(): Pick<BenchContext, 'turn' | 'progress'> & { report(result: WorkloadResult): void } {
  const lines = stdinLines();
  return {
    async turn<T>(step: () => Promise<T>): Promise<T> {
      process.stdout.write(`${TURN}\n`);
      const go = await lines.next();
      if (go.done) throw new Error('the parent closed the turn channel');
      try {
        return await step();
      } finally {
        process.stdout.write(`${DONE}\n`);
      }
    },
    progress: (message) => process.stdout.write(`${PROGRESS}${message}\n`),
    report: (result) => process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`),
  };
}

/** One child process, seen from the parent. */
class Contender {
  state: 'busy' | 'waiting' | 'finished' = 'busy';
  result: WorkloadResult | undefined;
  failure: string | undefined;
  private turnDone: (() => void) | undefined;

  constructor(
    /** Its row's label: the library, or a variant's label. */
    readonly lib: string,
    private readonly script: ChildScript,
    private readonly progress: (m: string) => void,
    private readonly changed: () => void,
  ) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    for (;;) {
      let line: string;
      try {
        line = await this.script.next(SILENCE_MS);
      } catch (err) {
        this.finish(undefined, err instanceof Error ? err.message : String(err));
        return;
      }
      if (line === TURN) {
        this.state = 'waiting';
        this.changed();
      } else if (line === DONE) {
        this.turnDone?.();
      } else if (line.startsWith(PROGRESS)) {
        this.progress(line.slice(PROGRESS.length));
      } else if (line.startsWith(RESULT)) {
        this.finish(JSON.parse(line.slice(RESULT.length)) as WorkloadResult, undefined);
        return;
      }
    }
  }

  private finish(result: WorkloadResult | undefined, failure: string | undefined): void {
    this.result = result;
    this.failure = result ? undefined : (failure ?? 'no result');
    this.state = 'finished';
    this.turnDone?.();
    this.changed();
  }

  /** Lets the child take its turn; resolves when the turn is over. */
  grant(): Promise<void> {
    this.state = 'busy';
    return new Promise<void>((resolve) => {
      this.turnDone = () => {
        this.turnDone = undefined;
        resolve();
      };
      this.script.send('go');
    });
  }

  stop(): Promise<void> {
    return this.script.stop();
  }
}

/**
 * Runs workload `name` with every library of `ctx.libs` in its own process, and every variant of
 * `variants` in its own process too; merges their rows.
 */
export function runIsolated(name: WorkloadName, ctx: BenchContext, variants: readonly Variant[] = [], floors: readonly string[] = []): Promise<WorkloadResult> {
  const configs = [
    ...ctx.libs.map((lib) => ({ lib, label: lib, variant: 'default', floor: undefined as string | undefined })),
    ...activeVariants(ctx, variants).map((v) => ({ lib: v.lib, label: v.row, variant: v.name, floor: undefined as string | undefined })),
    // A floor's process opens no library (`--lib` is only there to be valid).
    ...floors.map((floor) => ({ lib: ctx.libs[0]!, label: floor, variant: 'default', floor })),
  ];
  return runContenders(
    ctx,
    configs.map(({ lib, label, variant, floor }) => {
      const args = ['--child', '--only', name, '--lib', lib, '--variant', variant, '--rounds', String(ctx.rounds), '--port', String(ctx.port)];
      if (ctx.quick) args.push('--quick');
      if (floor !== undefined) args.push('--floor', floor);
      return { label, script: './index.ts', args };
    }),
  );
}

/** A child process taking turns: its row's label, and the script (relative to bench/) with its arguments. */
export interface ContenderSpec {
  label: string;
  script: string;
  args: string[];
}

/**
 * Starts one child per spec, each of which runs its measurements through `childTurns()` and
 * reports a WorkloadResult with one row labelled as its spec; grants turns one at a time until
 * every child has reported; merges their rows.
 */
export async function runContenders(ctx: BenchContext, specs: readonly ContenderSpec[]): Promise<WorkloadResult> {
  let wake: () => void = () => {};
  const changed = () => wake();
  const contenders = specs.map(({ label, script, args }) => new Contender(label, new ChildScript(script, args), ctx.progress, changed));
  try {
    for (let k = 0; ; k++) {
      while (contenders.some((c) => c.state === 'busy')) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      const waiting = contenders.filter((c) => c.state === 'waiting');
      if (waiting.length === 0) break;
      for (const c of rotate(waiting, k)) await c.grant();
    }
  } finally {
    await Promise.all(contenders.map((c) => c.stop()));
  }
  return merge(contenders);
}

function merge(contenders: readonly Contender[]): WorkloadResult {
  const template = contenders.find((c) => c.result)?.result;
  if (!template) throw new Error(`every benchmark process failed: ${contenders.map((c) => `${c.lib}: ${c.failure}`).join('; ')}`);
  const rows: Row[] = [];
  const floors: Row[] = [];
  for (const c of contenders) {
    if (!c.result) {
      rows.push({ lib: c.lib, status: 'failed', message: `benchmark process failed: ${c.failure ?? ''}`.slice(0, 300), figures: {} });
      continue;
    }
    for (const row of c.result.rows) (row.lib === c.lib ? rows : floors).push(row);
  }
  const note = 'Each library ran in a process of its own, the processes taking turns slice by slice (bench/turns.ts).';
  return { ...template, rows: [...rows, ...floors], notes: [...template.notes, note] };
}
