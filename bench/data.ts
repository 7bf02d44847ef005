/** Deterministic test data: user-like records and random key sequences. */
import { prng } from '../tools/prng.js';

/** The seeded PRNG, so every library reads the same key sequence. */
export { prng };

export interface User {
  id: number;
  username: string;
  email: string;
  name: string;
  createdAt: string;
  roles: string[];
  active: boolean;
  plan: string;
  address: { street: string; city: string; postcode: string; country: string };
  loginCount: number;
}

/** A user record of about 300 bytes of JSON. */
export function makeUser(key: string): User {
  const id = Number.parseInt(key.replace(/\D/g, '') || '0', 10);
  return {
    id,
    username: `user_${id}`,
    email: `user_${id}@example.com`,
    name: 'Ada Lovelace',
    createdAt: '2024-03-14T09:26:53.589Z',
    roles: ['reader', 'editor'],
    active: id % 7 !== 0,
    plan: id % 3 === 0 ? 'pro' : 'free',
    address: { street: '12 Analytical Engine Way', city: 'London', postcode: 'N1 9GU', country: 'GB' },
    loginCount: id % 1000,
  };
}

/** `count` indices in [0, range), uniformly random, reproducible from `seed`. */
export function randomIndices(count: number, range: number, seed: number): Uint32Array {
  const next = prng(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(next() * range);
  return out;
}

export function keyNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i + 1));
}

/**
 * Which key operation `i` of round `round` reads: a random order of `keys` per measured round
 * (seeded `seeds.rounds + round`) and one for warm-ups (rounds from 1000 on, seeded
 * `seeds.warmup`), each `length` long and read cyclically.
 */
export function randomKeyOrder(
  keys: readonly string[],
  rounds: number,
  seeds: { rounds: number; warmup: number },
  length: number,
): (i: number, round: number) => string {
  const orders = Array.from({ length: rounds }, (_, r) => randomIndices(length, keys.length, seeds.rounds + r));
  const warmup = randomIndices(length, keys.length, seeds.warmup);
  return (i, round) => keys[(round >= 1000 ? warmup : orders[round]!)[i % length]!]!;
}
