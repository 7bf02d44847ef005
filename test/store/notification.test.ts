/**
 * The notification channel's messages: a key, framed by its byte length, and the stored bytes
 * when they are small. Any key and any bytes must come back as they went in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CARRIED_VALUE_MAX_BYTES, keyNotification, notificationOf, parseNotification } from '../../src/store/notification.js';

// Keys as Trove accepts them: well-formed text (any code point, ':' and NUL included).
const keys = fc.string({ unit: 'binary', maxLength: 40 });

describe('notifications', () => {
  it('a key and small bytes come back unchanged; bytes over the limit are not carried', () => {
    fc.assert(
      fc.property(keys, fc.uint8Array({ maxLength: CARRIED_VALUE_MAX_BYTES + 64 }), (key, raw) => {
        const value = Buffer.from(raw);
        const parsed = parseNotification(notificationOf(key, value));
        expect(parsed?.key).toBe(key);
        if (value.length === 0 || value.length > CARRIED_VALUE_MAX_BYTES) expect(parsed?.value).toBeUndefined();
        else expect(parsed?.value?.equals(value)).toBe(true);
      }),
    );
  });

  it('a notification naming only its key', () => {
    fc.assert(
      fc.property(keys, (key) => {
        expect(parseNotification(Buffer.from(keyNotification(key)))).toEqual({ key, value: undefined });
      }),
    );
    expect(keyNotification('dé:1')).toBe('5:dé:1');
  });

  it('the carried bytes are a copy: the message buffer may be reused', () => {
    const message = notificationOf('k', Buffer.from('value'));
    const parsed = parseNotification(message);
    message.fill(0);
    expect(parsed?.value?.toString()).toBe('value');
  });

  it('a message not in this form is refused', () => {
    for (const m of ['', 'key', ':key', '5:key', 'x1:k', '-1:k', '12345678901:k', ' 3:abc']) {
      expect(parseNotification(Buffer.from(m)), JSON.stringify(m)).toBeUndefined();
    }
  });
});
