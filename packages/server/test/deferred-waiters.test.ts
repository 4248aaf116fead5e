/**
 * The in-process parts of the Deferred service: long-poll waiters (bounded, no lost wake-ups) and pending ids.
 */
import { describe, expect, it } from 'vitest';
import { isPendingId, newPendingId } from '../src/deferred/pending-id.js';
import { PendingWaiters } from '../src/deferred/waiters.js';

describe('PendingWaiters', () => {
  it('notify wakes every wait on that id, and only that id', async () => {
    const w = new PendingWaiters();
    const a = w.wait('a', 5_000);
    const a2 = w.wait('a', 5_000);
    const b = w.wait('b', 50);
    expect(w.size).toBe(3);
    w.notify('a');
    expect(await a).toBe('changed');
    expect(await a2).toBe('changed');
    expect(await b).toBe('timeout');
    expect(w.size).toBe(0);
  });

  it('times out after ms', async () => {
    const w = new PendingWaiters();
    const started = performance.now();
    expect(await w.wait('x', 60)).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(await w.wait('x', 0)).toBe('timeout');
  });

  it('is bounded per pending request and in total: beyond the bounds a wait answers busy at once', async () => {
    const w = new PendingWaiters({ maxWaiters: 3, maxPerPending: 2 });
    const held = [w.wait('p', 5_000), w.wait('p', 5_000)];
    expect(await w.wait('p', 5_000)).toBe('busy');
    held.push(w.wait('q', 5_000));
    expect(await w.wait('r', 5_000)).toBe('busy');
    expect(w.size).toBe(3);
    w.notify('p');
    w.notify('q');
    expect(await Promise.all(held)).toEqual(['changed', 'changed', 'changed']);
    expect(w.size).toBe(0);
  });

  it('an aborted signal ends the wait (the client went away) and frees its slot', async () => {
    const w = new PendingWaiters();
    const controller = new AbortController();
    const p = w.wait('a', 5_000, controller.signal);
    controller.abort();
    expect(await p).toBe('aborted');
    expect(w.size).toBe(0);
    expect(await w.wait('a', 5_000, controller.signal)).toBe('aborted');
  });

  it('close wakes every wait and refuses new ones', async () => {
    const w = new PendingWaiters();
    const p = w.wait('a', 5_000);
    w.close();
    expect(await p).toBe('busy');
    expect(await w.wait('a', 5_000)).toBe('busy');
  });
});

describe('pending ids', () => {
  it('[§7] are unguessable: 128 random bits, base64url, all distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newPendingId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isPendingId(id)).toBe(true);
    expect(isPendingId('short')).toBe(false);
    expect(isPendingId('../../etc/passwd......')).toBe(false);
  });

  it('never begin with "-", so `tessera approvals approve ID` cannot read one as an option', async () => {
    // One draw in 64 begins with "-": 4,000 draws miss every such draw with probability (63/64)^4000 ≈ 5e-28.
    const { randomBytes } = await import('node:crypto');
    let leading = 0;
    for (let i = 0; i < 4000; i++) if (randomBytes(16).toString('base64url').startsWith('-')) leading++;
    expect(leading).toBeGreaterThan(0); // the raw encoding does produce them…
    for (let i = 0; i < 4000; i++) expect(newPendingId().startsWith('-')).toBe(false); // …newPendingId never does
  });
});
