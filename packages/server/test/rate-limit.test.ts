/**
 * The token-bucket limiter and its middleware: 429 + Retry-After + problem {error:"slow_down"}, per client and route group.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createRateLimiter, rateLimit } from '../src/http/rate-limit.js';

function clock(start = 1_800_000_000) {
  let t = start;
  return { now: () => t, advance: (s: number) => (t += s) };
}

describe('createRateLimiter', () => {
  it('allows a burst, then refuses with the seconds to wait, then refills', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 3, perSecond: 0.5, now: c.now });
    expect([1, 2, 3].map(() => limiter.take('a').ok)).toEqual([true, true, true]);
    const refused = limiter.take('a');
    expect(refused).toEqual({ ok: false, retryAfter: 2 });
    c.advance(1);
    expect(limiter.take('a').ok).toBe(false);
    c.advance(1);
    expect(limiter.take('a')).toEqual({ ok: true, remaining: 0 });
    // Other keys have their own bucket.
    expect(limiter.take('b').ok).toBe(true);
  });

  it('never holds more than burst tokens however long a key waits', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 2, perSecond: 10, now: c.now });
    limiter.take('a');
    c.advance(3600);
    expect(limiter.take('a')).toEqual({ ok: true, remaining: 1 });
    expect(limiter.take('a')).toEqual({ ok: true, remaining: 0 });
    expect(limiter.take('a').ok).toBe(false);
  });

  it('is bounded: the least recently used key is forgotten first', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 1, perSecond: 0.001, maxKeys: 3, now: c.now });
    for (const key of ['a', 'b', 'c']) limiter.take(key);
    expect(limiter.take('a').ok).toBe(false); // a is now the most recent
    limiter.take('d'); // evicts b
    expect(limiter.size).toBe(3);
    expect(limiter.take('b').ok).toBe(true); // b was forgotten, so it starts full (and evicts c)
    expect(limiter.take('a').ok).toBe(false); // a was kept
    for (let i = 0; i < 1000; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBe(3);
  });

  it('refuses nonsensical settings', () => {
    expect(() => createRateLimiter({ burst: 0, perSecond: 1, now: Date.now })).toThrow(RangeError);
    expect(() => createRateLimiter({ burst: 1, perSecond: 0, now: Date.now })).toThrow(RangeError);
  });
});

describe('rateLimit middleware', () => {
  function app(group: string | ((path: string) => string)) {
    const c = clock();
    const limiter = createRateLimiter({ burst: 2, perSecond: 0.25, now: c.now });
    const a = new Hono();
    a.use('*', rateLimit(limiter, { group: typeof group === 'string' ? group : (ctx) => group(ctx.req.path), trustProxy: true }));
    a.get('*', (ctx) => ctx.text('ok'));
    return { app: a, clock: c };
  }
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': `203.0.113.9, ${ip}` } });

  it('answers 429 + Retry-After + problem {error:"slow_down"} over the limit', async () => {
    const { app: a } = app('token');
    expect((await a.request('/token', from('198.51.100.1'))).status).toBe(200);
    expect((await a.request('/token', from('198.51.100.1'))).status).toBe(200);
    const res = await a.request('/token', from('198.51.100.1'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('4');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('signature-error')).toBeNull();
    expect(await res.json()).toMatchObject({ error: 'slow_down' });
  });

  it('keys by client address (the proxy-appended X-Forwarded-For entry) and route group', async () => {
    const { app: a, clock: c } = app((path) => (path.startsWith('/pending/') ? 'pending' : 'other'));
    for (let i = 0; i < 2; i++) await a.request('/pending/x', from('198.51.100.1'));
    expect((await a.request('/pending/x', from('198.51.100.1'))).status).toBe(429);
    // Another group, another client: their own buckets.
    expect((await a.request('/token', from('198.51.100.1'))).status).toBe(200);
    expect((await a.request('/pending/x', from('198.51.100.2'))).status).toBe(200);
    // A forged first X-Forwarded-For entry does not give the same client a fresh bucket.
    expect((await a.request('/pending/x', { headers: { 'x-forwarded-for': '192.0.2.77, 198.51.100.1' } })).status).toBe(429);
    c.advance(4);
    expect((await a.request('/pending/x', from('198.51.100.1'))).status).toBe(200);
  });
});
