import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { MemoryReplayCache, replayKey } from '../src/replay-cache.js';

const TUPLE = { jkt: 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U', created: 1730217600, method: 'GET', authority: 'resource.example', path: '/api/documents' };

describe('replayKey', () => {
  it('keys on (jkt, created, method, authority, path)', () => {
    const base = replayKey(TUPLE);
    expect(replayKey({ ...TUPLE })).toBe(base);
    for (const patch of [{ jkt: 'other' }, { created: 1730217601 }, { method: 'POST' }, { authority: 'other.example' }, { path: '/api' }]) {
      expect(replayKey({ ...TUPLE, ...patch })).not.toBe(base);
    }
  });

  it('is unambiguous: members cannot be shifted into each other', () => {
    expect(replayKey({ ...TUPLE, authority: 'a', path: 'b|c' })).not.toBe(replayKey({ ...TUPLE, authority: 'a|b', path: 'c' }));
    expect(replayKey({ ...TUPLE, authority: 'a","b', path: 'c' })).not.toBe(replayKey({ ...TUPLE, authority: 'a', path: 'b","c' }));
  });
});

describe('MemoryReplayCache', () => {
  it('returns true the first time and false for a replay within the TTL', async () => {
    let now = 1000;
    const cache = new MemoryReplayCache({ now: () => now });
    const key = replayKey(TUPLE);
    expect(await cache.checkAndStore(key, 60)).toBe(true);
    expect(await cache.checkAndStore(key, 60)).toBe(false);
    now += 59;
    expect(await cache.checkAndStore(key, 60)).toBe(false);
    now += 1;
    expect(await cache.checkAndStore(key, 60)).toBe(true);
  });

  it('is bounded: expired entries are evicted first', async () => {
    let now = 0;
    const cache = new MemoryReplayCache({ now: () => now, maxEntries: 3 });
    await cache.checkAndStore('long', 1000);
    await cache.checkAndStore('short-1', 10);
    await cache.checkAndStore('short-2', 10);
    now = 20;
    await cache.checkAndStore('new', 1000);
    expect(cache.size).toBe(2);
    // The oldest entry survived because the expired ones went first.
    expect(await cache.checkAndStore('long', 1000)).toBe(false);
  });

  it('is bounded: with nothing expired, the oldest entry is evicted', async () => {
    const cache = new MemoryReplayCache({ now: () => 0, maxEntries: 2 });
    await cache.checkAndStore('a', 100);
    await cache.checkAndStore('b', 100);
    await cache.checkAndStore('c', 100);
    expect(cache.size).toBe(2);
    expect(await cache.checkAndStore('c', 100)).toBe(false);
    expect(await cache.checkAndStore('b', 100)).toBe(false);
    expect(await cache.checkAndStore('a', 100)).toBe(true);
  });

  it('rejects bad arguments with AAuthError', async () => {
    const cache = new MemoryReplayCache({ now: () => 0 });
    await expect(cache.checkAndStore('k', 0)).rejects.toBeInstanceOf(AAuthError);
    await expect(cache.checkAndStore('k', Number.NaN)).rejects.toBeInstanceOf(AAuthError);
    await expect(cache.checkAndStore('', 10)).rejects.toBeInstanceOf(AAuthError);
    expect(() => new MemoryReplayCache({ now: () => 0, maxEntries: 0 })).toThrow(AAuthError);
  });
});
