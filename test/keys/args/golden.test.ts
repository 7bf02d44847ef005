import { describe, expect, it } from 'vitest';
import { argsKey, encodeArgs } from '../../../src/keys/args/index.js';
import { goldenCases } from './fixtures/cases.js';

// Pinned output: a change here changes every cache key in production. Change it only on purpose,
// together with a key-layout version bump.
const PINNED: Record<string, [encoding: string, key: string]> = {
  'no arguments': ['()', 'LjjneyLDFKRJ6R-v7ZKkOA'],
  numbers: ['(0;0;1;-1.5;1e+21;5e-324;9007199254740991;NaN;Infinity;-Infinity;)', 'rIVfIaxCpdBbZAVeZZzg5A'],
  'unicode strings': ['(s0:s11:héllo wörlds3:日本語s2:😀s8:a;b:c(d))', 'V3pd7o_GcixzO1weKZQl_Q'],
  'nested object': ['(<1:a<1:bn1:y(tf)>1:mu1:z1;>)', 'TEW8vTpLUcmyBKjKElRuXA'],
  map: ['(M(1;s3:one<1:k1;>(n)s1:b2;))', 'ye4QORln2M0sXCCctukfcw'],
  set: ['(S(3;b2;s1:as1:b))', 'ccZ8YxC-nFh0GrESmBZrsQ'],
  dates: ['(D1704164645678;D-1;DNaN;)', 'oXaUGrd0eASKO5yTEcAbww'],
  bigints: ['(b0;b-123456789012345678901234567890;b18446744073709551616;)', '_pKcEHsE_j3ZNxygtuGVag'],
  bytes: ['(Bu8:aGVsbG8;Bu8:_wA;Bu16:AQD__w;Bf64:AAAAAAAAAIA;Bab:AAAA;)', 'F-ydVPNtFLrr4sUg3RFwbw'],
  'undefined and null': ['(un(un)<1:nn1:uu>)', '4pz6D3Howko9VLGxcNDizA'],
  hooks: ['(K(s3:EURb1999;)Js25:https://example.com/a?b=1)', 'hXQXltJL0YQnhbOoGwl4vg'],
  mixed: ['(s5:users<6:filter<5:sinceD0;4:tagsS(s1:xs1:y)>4:page2;4:sort(s4:name-1;)>)', 'fBWcgzioS34zP38H3I3DEg'],
};

describe('golden encodings and keys', () => {
  it('covers every shared case', () => {
    expect(goldenCases().map((c) => c.name)).toEqual(Object.keys(PINNED));
  });

  for (const { name, args } of goldenCases()) {
    it(name, () => {
      const [encoding, key] = PINNED[name]!;
      expect(encodeArgs(args)).toBe(encoding);
      expect(argsKey(args)).toBe(key);
    });
  }
});
