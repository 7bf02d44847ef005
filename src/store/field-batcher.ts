import { nextTick } from 'node:process';
import type { FieldRef, FieldValue } from './store.js';

interface Waiter {
  resolve: (v: Buffer | null) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects single-field reads (`FieldStore.fieldGet`) and sends those of one tick together, as
 * `GetBatcher` does for keys: the store sends one HMGET per bucket, all in one socket write. A
 * bucket that fails (WRONGTYPE) fails only the reads of that bucket.
 */
export class FieldBatcher {
  private refs: FieldRef[] = [];
  private waiters: Waiter[][] = [];
  /** Read index by bucket, then field: the same field asked twice in a tick is read once. */
  private index = new Map<string, Map<string, number>>();
  private scheduled = false;

  constructor(private readonly fetch: (refs: FieldRef[]) => Promise<FieldValue[]>) {}

  get(bucket: string, field: string): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      let fields = this.index.get(bucket);
      if (fields === undefined) {
        fields = new Map();
        this.index.set(bucket, fields);
      }
      const at = fields.get(field);
      if (at !== undefined) this.waiters[at]!.push({ resolve, reject });
      else {
        fields.set(field, this.refs.length);
        this.refs.push([bucket, field]);
        this.waiters.push([{ resolve, reject }]);
      }
      if (!this.scheduled) {
        this.scheduled = true;
        nextTick(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const refs = this.refs;
    const waiters = this.waiters;
    this.refs = [];
    this.waiters = [];
    this.index = new Map();
    if (refs.length === 0) return;
    this.fetch(refs).then(
      (values) => {
        for (let i = 0; i < waiters.length; i++) {
          const v = values[i] ?? null;
          for (const w of waiters[i]!) {
            if (v instanceof Error) w.reject(v);
            else w.resolve(v);
          }
        }
      },
      (err: unknown) => {
        for (const list of waiters) for (const w of list) w.reject(err);
      },
    );
  };
}

/** Indexes of `refs` grouped by bucket, in order of first appearance. */
export function byBucket(refs: readonly FieldRef[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < refs.length; i++) {
    const bucket = refs[i]![0];
    const at = groups.get(bucket);
    if (at === undefined) groups.set(bucket, [i]);
    else at.push(i);
  }
  return groups;
}
