/** Pooled CSPRNG bytes for public identifiers (random-pool.ts): fresh on every call, across refills, never reused. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pooledRandomBytes, pooledRandomHex } from '../src/random-pool.js';
import { randomJti } from '../src/tokens/claims.js';

describe('pooled random bytes', () => {
  afterEach(() => vi.restoreAllMocks());

  it('hands every byte out once: consecutive draws across several refills never repeat a 16-byte value', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(pooledRandomHex(16)); // 32,000 bytes: about eight refills of 4 KiB
    expect(seen.size).toBe(2000);
    expect([...seen].every((h) => /^[0-9a-f]{32}$/.test(h))).toBe(true);
  });

  it('draws from the CSPRNG in 4 KiB batches, and larger requests directly', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    for (let i = 0; i < 600; i++) pooledRandomBytes(16); // 9,600 bytes
    const sizes = spy.mock.calls.map(([array]) => (array as Uint8Array).byteLength);
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    expect(sizes.length).toBeLessThanOrEqual(3);
    expect(sizes.every((n) => n === 4096)).toBe(true);
    spy.mockClear();
    expect(pooledRandomBytes(1000)).toHaveLength(1000);
    expect(spy.mock.calls.map(([array]) => (array as Uint8Array).byteLength)).toEqual([1000]);
  });

  it('returns a copy the caller owns, and refuses a bad length', () => {
    const a = pooledRandomBytes(8);
    const before = Array.from(a);
    pooledRandomBytes(8);
    expect(Array.from(a)).toEqual(before);
    expect(() => pooledRandomBytes(-1)).toThrow(RangeError);
    expect(pooledRandomBytes(0)).toHaveLength(0);
  });

  it('jti values are 128 bits of hex, all distinct', () => {
    const jtis = new Set(Array.from({ length: 1000 }, () => randomJti()));
    expect(jtis.size).toBe(1000);
    for (const j of jtis) expect(j).toMatch(/^[0-9a-f]{32}$/);
  });
});
