import { describe, expect, it } from 'vitest';
import { acquireAndReadOutcome, acquireOutcome, readOrAcquireOutcome } from '../../src/store/lock-replies.js';

describe('lock script replies', () => {
  it('ACQUIRE: acquired, or the remaining lease (a vanished lock reads as unknown)', () => {
    expect(acquireOutcome(-1)).toEqual({ acquired: true });
    expect(acquireOutcome(4200)).toEqual({ acquired: false, ttlMs: 4200 });
    expect(acquireOutcome(-2)).toEqual({ acquired: false, ttlMs: -1 });
  });

  it('ACQUIRE_AND_READ: acquired with the value or null, or the remaining lease', () => {
    expect(acquireAndReadOutcome([1, Buffer.from('v')])).toEqual({ acquired: true, value: Buffer.from('v') });
    expect(acquireAndReadOutcome([1, null])).toEqual({ acquired: true, value: null });
    expect(acquireAndReadOutcome([0, 900])).toEqual({ acquired: false, ttlMs: 900 });
  });

  it('READ_OR_ACQUIRE: a found value, whatever form the driver gave its bytes in; else as ACQUIRE_AND_READ', () => {
    expect(readOrAcquireOutcome([2, Buffer.from([0, 255, 7])])).toEqual({ found: Buffer.from([0, 255, 7]) });
    expect(readOrAcquireOutcome(['2', 'text'])).toEqual({ found: Buffer.from('text') });
    expect(readOrAcquireOutcome([1, null])).toEqual({ acquired: true, value: null });
    expect(readOrAcquireOutcome([0, 1500])).toEqual({ acquired: false, ttlMs: 1500 });
    expect(readOrAcquireOutcome([0, -2])).toEqual({ acquired: false, ttlMs: -1 });
  });
});
