/** The `jti` of tokens this server records (src/store/issued-jti.ts): time first, so the key's index grows at its end. */
import { describe, expect, it } from 'vitest';
import { issuance, issuedJti } from '../src/store/issued-jti.js';

describe('issuedJti', () => {
  it('is 32 lowercase hex digits: 12 of milliseconds, 20 random', () => {
    const jti = issuedJti(1_800_000_000.123);
    expect(jti).toMatch(/^[0-9a-f]{32}$/);
    expect(jti.slice(0, 12)).toBe((1_800_000_000_123).toString(16).padStart(12, '0'));
  });

  it('sorts as the issuing times do, as text (the order of the primary key)', () => {
    const times = [1_700_000_000, 1_700_000_000.001, 1_700_000_001, 1_800_000_000, 2_000_000_000.5];
    const jtis = times.map((t) => issuedJti(t));
    expect([...jtis].sort()).toEqual(jtis);
  });

  it('never repeats within one millisecond (80 random bits)', () => {
    const jtis = new Set(Array.from({ length: 20_000 }, () => issuedJti(1_800_000_000)));
    expect(jtis.size).toBe(20_000);
  });
});

describe('issuance', () => {
  it('reads the clock once: iat, the time in jti and the clock it hands on are that one reading', () => {
    let t = 1_800_000_000.987;
    const issue = issuance(() => (t += 5));
    expect(issue.now).toBe(1_800_000_005);
    expect(issue.jti.slice(0, 12)).toBe(Math.floor(1_800_000_005.987 * 1000).toString(16).padStart(12, '0'));
    expect([issue.clock(), issue.clock()]).toEqual([1_800_000_005.987, 1_800_000_005.987]);
  });
});

