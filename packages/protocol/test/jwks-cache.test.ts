import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import type { FetchLike } from '../src/egress/guarded-fetch.js';
import { JwksCache } from '../src/discovery/jwks-cache.js';
import { rejection } from './support.js';

async function ed25519Jwk(kid: string): Promise<Record<string, unknown>> {
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, alg: 'Ed25519', kid };
}

// AP key of the project's derived vector (shared/spec/vectors.md §2).
const AP_KEY = { kty: 'OKP', crv: 'Ed25519', x: 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U', alg: 'Ed25519', kid: 'ap-key-1' };
const URI = 'https://agent.example/.well-known/jwks.json';

/** A JWKS endpoint whose key set can be changed, counting fetches. */
function jwksServer(initial: unknown[]): { fetch: FetchLike; count: () => number; set: (keys: unknown[]) => void; fail: (on: boolean) => void } {
  let keys = initial;
  let failing = false;
  let count = 0;
  return {
    count: () => count,
    set: (next) => (keys = next),
    fail: (on) => (failing = on),
    fetch: (url) => {
      count++;
      expect(url).toBe(URI);
      if (failing) return Promise.reject(new TypeError('fetch failed'));
      return Promise.resolve(new Response(JSON.stringify({ keys }), { headers: { 'content-type': 'application/jwk-set+json' } }));
    },
  };
}

function clock(start = 1_700_000_000): { now: () => number; advance: (s: number) => void } {
  let t = start;
  return { now: () => t, advance: (s) => (t += s) };
}

describe('JwksCache', () => {
  it('[§8.15] serves cached keys: one fetch, one import', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    const first = await cache.getKey(URI, 'ap-key-1');
    const second = await cache.getKey(URI, 'ap-key-1');
    expect(server.count()).toBe(1);
    expect(second).toBe(first);
    expect(first.alg).toBe('Ed25519');
    expect(first.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('[§8.15] unknown kid refetches, but at most once per minute', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    await cache.getKey(URI, 'ap-key-1');
    c.advance(61);
    expect((await rejection(cache.getKey(URI, 'rotated'))).code).toBe('unknown_key');
    expect(server.count()).toBe(2);
    // Within the minute: throttled, no fetch, unknown_key.
    c.advance(30);
    const throttled = await rejection(cache.getKey(URI, 'rotated'));
    expect(throttled.code).toBe('unknown_key');
    expect(throttled.detail).toMatch(/throttled/);
    expect((await rejection(cache.getKey(URI, 'another'))).code).toBe('unknown_key');
    expect(server.count()).toBe(2);
    // The key appears; after the minute it is found with one more fetch.
    const rotated = await ed25519Jwk('rotated');
    server.set([AP_KEY, rotated]);
    c.advance(30);
    const key = await cache.getKey(URI, 'rotated');
    expect(key.jwk.x).toBe(rotated['x']);
    expect(server.count()).toBe(3);
    // Known kids are still served from cache while throttled.
    await cache.getKey(URI, 'ap-key-1');
    expect(server.count()).toBe(3);
  });

  it('[§8.15] the first unknown kid right after the initial fetch is throttled too', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    await cache.getKey(URI, 'ap-key-1');
    c.advance(10);
    expect((await rejection(cache.getKey(URI, 'new'))).code).toBe('unknown_key');
    expect(server.count()).toBe(1);
  });

  it('[§8.15] refresh: true refetches once (same-kid failure), subject to the rate limit', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    const old = await cache.getKey(URI, 'ap-key-1');
    // Within the minute the refresh is throttled: the cached key comes back, nothing is fetched.
    c.advance(5);
    expect(await cache.getKey(URI, 'ap-key-1', { refresh: true })).toBe(old);
    expect(server.count()).toBe(1);
    // Silent re-keying under the same kid.
    const replacement = { ...(await ed25519Jwk('ap-key-1')) };
    server.set([replacement]);
    c.advance(60);
    const fresh = await cache.getKey(URI, 'ap-key-1', { refresh: true });
    expect(server.count()).toBe(2);
    expect(fresh).not.toBe(old);
    expect(fresh.jwk.x).toBe(replacement['x']);
  });

  it('a refetch that finds the same key reuses the imported key', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    const first = await cache.getKey(URI, 'ap-key-1');
    c.advance(120);
    expect(await cache.getKey(URI, 'ap-key-1', { refresh: true })).toBe(first);
    expect(server.count()).toBe(2);
  });

  it('[§8.15] entries are dropped after 24 h (maxAge never above 86400)', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now, maxAgeSeconds: 7 * 86400 });
    await cache.getKey(URI, 'ap-key-1');
    c.advance(86399);
    await cache.getKey(URI, 'ap-key-1');
    expect(server.count()).toBe(1);
    c.advance(1);
    await cache.getKey(URI, 'ap-key-1');
    expect(server.count()).toBe(2);
  });

  it('[§8.15] a key that disappeared is gone after the 24 h drop', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    await cache.getKey(URI, 'ap-key-1');
    server.set([]);
    c.advance(86400);
    expect((await rejection(cache.getKey(URI, 'ap-key-1'))).code).toBe('unknown_key');
  });

  it('concurrent misses share one in-flight fetch', async () => {
    const server = jwksServer([AP_KEY]);
    const cache = new JwksCache({ fetch: server.fetch, now: clock().now });
    const keys = await Promise.all([0, 1, 2, 3].map(() => cache.getKey(URI, 'ap-key-1')));
    expect(server.count()).toBe(1);
    expect(new Set(keys).size).toBe(1);
  });

  it('[§8.15] kid selection survives foreign kty entries elsewhere in the set', async () => {
    const foreign = [
      { kty: 'AKP', alg: 'ML-DSA-44', pub: 'AAAA', kid: 'pq-1' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      { kty: 'EC', crv: 'P-384', alg: 'ES384', x: 'a', y: 'b', kid: 'p384' },
      'not even an object',
    ];
    const server = jwksServer([...foreign, AP_KEY]);
    const cache = new JwksCache({ fetch: server.fetch, now: clock().now });
    expect((await cache.getKey(URI, 'ap-key-1')).jwk.kid).toBe('ap-key-1');
  });

  it('a selected key that fails the key policy is refused', async () => {
    const server = jwksServer([
      { kty: 'OKP', crv: 'Ed25519', x: AP_KEY.x, alg: 'EdDSA', kid: 'eddsa' },
      { kty: 'OKP', crv: 'Ed25519', x: AP_KEY.x, kid: 'no-alg' },
      { kty: 'AKP', alg: 'ML-DSA-44', pub: 'AAAA', kid: 'pq-1' },
    ]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    expect((await rejection(cache.getKey(URI, 'eddsa'))).code).toBe('invalid_key');
    expect((await rejection(cache.getKey(URI, 'no-alg'))).code).toBe('invalid_key');
    expect((await rejection(cache.getKey(URI, 'pq-1'))).code).toBe('unsupported_algorithm');
    expect(server.count()).toBe(1);
  });

  it('a failed fetch is invalid_key with the network error as cause, and is not retried within the minute', async () => {
    const server = jwksServer([AP_KEY]);
    server.fail(true);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    const error = await rejection(cache.getKey(URI, 'ap-key-1'));
    expect(error.code).toBe('invalid_key');
    expect(error.cause).toBeInstanceOf(TypeError);
    c.advance(59);
    expect((await rejection(cache.getKey(URI, 'ap-key-1'))).code).toBe('invalid_key');
    expect(server.count()).toBe(1);
    server.fail(false);
    c.advance(1);
    expect((await cache.getKey(URI, 'ap-key-1')).jwk.kid).toBe('ap-key-1');
    expect(server.count()).toBe(2);
  });

  it('a failed refresh keeps serving the cached set', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now });
    const key = await cache.getKey(URI, 'ap-key-1');
    server.fail(true);
    c.advance(120);
    expect(await cache.getKey(URI, 'ap-key-1', { refresh: true })).toBe(key);
    expect(server.count()).toBe(2);
  });

  it('a malformed JWKS or a bad status is invalid_key', async () => {
    const notJwks: FetchLike = () => Promise.resolve(new Response('{"nokeys":[]}'));
    expect((await rejection(new JwksCache({ fetch: notJwks, now: () => 0 }).getKey(URI, 'k'))).code).toBe('invalid_key');
    const notJson: FetchLike = () => Promise.resolve(new Response('<html>'));
    expect((await rejection(new JwksCache({ fetch: notJson, now: () => 0 }).getKey(URI, 'k'))).code).toBe('invalid_key');
    const status: FetchLike = () => Promise.resolve(new Response('{}', { status: 500 }));
    const error = await rejection(new JwksCache({ fetch: status, now: () => 0 }).getKey(URI, 'k'));
    expect(error.code).toBe('invalid_key');
    expect((error.cause as AAuthError).code).toBe('fetch_failed');
    const big: FetchLike = () => Promise.resolve(new Response(JSON.stringify({ keys: [AP_KEY], pad: 'x'.repeat(5000) })));
    expect((await rejection(new JwksCache({ fetch: big, now: () => 0, maxBytes: 1000 }).getKey(URI, 'ap-key-1'))).code).toBe('invalid_key');
  });

  it('is bounded by maxEntries', async () => {
    const fetch: FetchLike = () => Promise.resolve(new Response(JSON.stringify({ keys: [AP_KEY] })));
    const cache = new JwksCache({ fetch, now: () => 0, maxEntries: 2 });
    for (const host of ['a', 'b', 'c', 'd']) await cache.getKey(`https://${host}.example/jwks`, 'ap-key-1');
    expect(cache.size).toBe(2);
  });

  it('refuses configuration that would fetch more than once a minute', async () => {
    const server = jwksServer([AP_KEY]);
    const c = clock();
    const cache = new JwksCache({ fetch: server.fetch, now: c.now, minRefreshIntervalSeconds: 1 });
    await cache.getKey(URI, 'ap-key-1');
    c.advance(2);
    await rejection(cache.getKey(URI, 'x'));
    expect(server.count()).toBe(1);
    expect(() => new JwksCache({ fetch: server.fetch, now: c.now, maxEntries: 0 })).toThrow(AAuthError);
  });

  it('bad arguments are invalid_key, not exceptions', async () => {
    const cache = new JwksCache({ fetch: jwksServer([]).fetch, now: () => 0 });
    expect((await rejection(cache.getKey(URI, ''))).code).toBe('invalid_key');
  });
});
