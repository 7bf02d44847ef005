/**
 * Starts the slowest test files first, so that no long file starts near the end of a run and keeps
 * one worker busy alone. Vitest orders files by their last durations when it has them (a checkout
 * that ran the suite before), and by size otherwise: on a fresh checkout, as in CI, the 60 s soak
 * (a small file) would start among the last. Files not listed keep Vitest's order.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Files that take 25 s or more on a 2-core machine, longest first. */
export const SLOW_FILES = [
  'test/load/exactly-once.test.ts',
  'test/api/package.test.ts',
  'test/soak/soak.test.ts',
  'test/region/batch.test.ts',
  'test/keys/args/properties.test.ts',
  'test/integrations/entry-points.test.ts',
  'test/load/deadlines.test.ts',
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOW_FILES.indexOf(relative(this.ctx.config.root, spec.moduleId).split('\\').join('/'));
      return i === -1 ? SLOW_FILES.length : i;
    };
    // Array.prototype.sort is stable: the files not listed keep the order Vitest gave them.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
