import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { b64urlDecode } from '../src/base64url.js';
import type { FetchLike } from '../src/egress/guarded-fetch.js';
import { JwksCache } from '../src/discovery/jwks-cache.js';
import { createKeyResolver } from '../src/discovery/key-resolver.js';
import { rejection } from './support.js';

// Derived AAuth-profile vector (shared/spec/vectors.md §2): the AP key and the agent token it signed.
const AP_KEY = { kty: 'OKP', crv: 'Ed25519', x: 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U', alg: 'Ed25519', kid: 'ap-key-1' };
const AGENT_TOKEN =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJkd2siOiJhYXV0aC1hZ2VudC5qc29uIiwic3ViIjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJqdGkiOiJhZ3QtMDAwMSIsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiJKclFMajVQXzg5aVhFUzktdkZnckl5MjljbEY5Q0Nfb1BQc3czYzVEMGJzIiwiYWxnIjoiRWQyNTUxOSJ9fSwiaWF0IjoxNzMwMjE3NjAwLCJleHAiOjE3MzAyMjEyMDB9.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c1Bb2zDimYYlD2Cr_6IKu7oEzYT-A0sEcmVK3mQjgxBw';

const AGENT_METADATA = { issuer: 'https://agent.example', jwks_uri: 'https://agent.example/.well-known/jwks.json' };

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
}

function routes(table: Record<string, () => Response | Promise<Response>>): { fetch: FetchLike; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: async (url) => {
      calls.push(url);
      const route = table[url];
      return route === undefined ? new Response('not found', { status: 404 }) : route();
    },
  };
}

const AGENT_ROUTES = {
  'https://agent.example/.well-known/aauth-agent.json': () => json(AGENT_METADATA),
  'https://agent.example/.well-known/jwks.json': () => json({ keys: [AP_KEY] }),
};

const REQUEST = { iss: 'https://agent.example', dwk: 'aauth-agent.json', kid: 'ap-key-1' };

describe('createKeyResolver', () => {
  it('resolves {iss}/.well-known/{dwk} → jwks_uri → kid, and the key verifies the vector agent token', async () => {
    const { fetch, calls } = routes(AGENT_ROUTES);
    const resolve = createKeyResolver({ fetch, now: () => 1730217600 });
    const key = await resolve(REQUEST);
    expect(calls).toEqual(['https://agent.example/.well-known/aauth-agent.json', 'https://agent.example/.well-known/jwks.json']);
    const [header, payload, signature] = AGENT_TOKEN.split('.') as [string, string, string];
    expect(await key.verify(new TextEncoder().encode(`${header}.${payload}`), b64urlDecode(signature))).toBe(true);
  });

  it('caches metadata and keys: a second resolution does not fetch', async () => {
    const { fetch, calls } = routes(AGENT_ROUTES);
    const resolve = createKeyResolver({ fetch, now: () => 0 });
    const a = await resolve(REQUEST);
    const b = await resolve(REQUEST);
    expect(b).toBe(a);
    expect(calls).toHaveLength(2);
  });

  it('[§8.13] issuer_missing and issuer_mismatch from the metadata document', async () => {
    const missing = routes({ 'https://agent.example/.well-known/aauth-agent.json': () => json({ jwks_uri: AGENT_METADATA.jwks_uri }) });
    expect((await rejection(createKeyResolver({ fetch: missing.fetch, now: () => 0 })(REQUEST))).code).toBe('issuer_missing');
    const mismatch = routes({
      'https://agent.example/.well-known/aauth-agent.json': () => json({ ...AGENT_METADATA, issuer: 'https://agent.example/' }),
    });
    expect((await rejection(createKeyResolver({ fetch: mismatch.fetch, now: () => 0 })(REQUEST))).code).toBe('issuer_mismatch');
    expect(mismatch.calls).toHaveLength(1);
  });

  it('[§8.16] an iss that is not a server identifier is invalid_jwt and nothing is fetched', async () => {
    const { fetch, calls } = routes(AGENT_ROUTES);
    const resolve = createKeyResolver({ fetch, now: () => 0 });
    for (const iss of ['http://agent.example', 'https://Agent.example', 'https://agent.example:8443', 'https://agent.example/v1', 'https://agent.example/', 'https://10.0.0.1:80']) {
      expect((await rejection(resolve({ ...REQUEST, iss }))).code, iss).toBe('invalid_jwt');
    }
    for (const dwk of ['../aauth-agent.json', 'a/b', 'x?y']) {
      expect((await rejection(resolve({ ...REQUEST, dwk }))).code, dwk).toBe('invalid_jwt');
    }
    expect(calls).toHaveLength(0);
  });

  it('a cross-origin jwks_uri needs explicit admission, else invalid_key', async () => {
    const table = {
      'https://agent.example/.well-known/aauth-agent.json': () => json({ ...AGENT_METADATA, jwks_uri: 'https://keys.cdn.example/agent.json' }),
      'https://keys.cdn.example/agent.json': () => json({ keys: [AP_KEY] }),
    };
    const refused = routes(table);
    const error = await rejection(createKeyResolver({ fetch: refused.fetch, now: () => 0 })(REQUEST));
    expect(error.code).toBe('invalid_key');
    expect(error.detail).toMatch(/origin/);
    expect(refused.calls).toEqual(['https://agent.example/.well-known/aauth-agent.json']);

    const admitted = routes(table);
    const seen: [string, string][] = [];
    const resolve = createKeyResolver({
      fetch: admitted.fetch,
      now: () => 0,
      allowCrossOriginJwksUri: (issuer, jwksUri) => {
        seen.push([issuer, jwksUri]);
        return jwksUri.startsWith('https://keys.cdn.example/');
      },
    });
    expect((await resolve(REQUEST)).jwk.kid).toBe('ap-key-1');
    expect(seen).toEqual([['https://agent.example', 'https://keys.cdn.example/agent.json']]);
  });

  it('network failures and egress refusals are invalid_key, with the cause kept', async () => {
    const failing: FetchLike = () => Promise.reject(new TypeError('fetch failed'));
    const network = await rejection(createKeyResolver({ fetch: failing, now: () => 0 })(REQUEST));
    expect(network.code).toBe('invalid_key');
    expect((network.cause as AAuthError).code).toBe('fetch_failed');
    const refusing: FetchLike = () => Promise.reject(new AAuthError('egress_denied', { detail: 'loopback' }));
    const egress = await rejection(createKeyResolver({ fetch: refusing, now: () => 0 })(REQUEST));
    expect(egress.code).toBe('invalid_key');
    expect((egress.cause as AAuthError).code).toBe('egress_denied');
  });

  it('metadata without a usable jwks_uri is invalid_key', async () => {
    for (const doc of [{ issuer: 'https://agent.example' }, { ...AGENT_METADATA, jwks_uri: 'http://agent.example/jwks' }, { ...AGENT_METADATA, jwks_uri: 7 }]) {
      const { fetch } = routes({ 'https://agent.example/.well-known/aauth-agent.json': () => json(doc) });
      const error = await rejection(createKeyResolver({ fetch, now: () => 0 })(REQUEST));
      expect(error.code).toBe('invalid_key');
      expect((error.cause as AAuthError).code).toBe('invalid_metadata');
    }
  });

  it('[§8.15] unknown kid → unknown_key, and the JWKS is refetched at most once a minute', async () => {
    const { fetch, calls } = routes(AGENT_ROUTES);
    let now = 0;
    const resolve = createKeyResolver({ fetch, now: () => now });
    await resolve(REQUEST);
    now = 61;
    expect((await rejection(resolve({ ...REQUEST, kid: 'other' }))).code).toBe('unknown_key');
    expect((await rejection(resolve({ ...REQUEST, kid: 'other' }))).code).toBe('unknown_key');
    expect((await rejection(resolve({ ...REQUEST, kid: 'third' }))).code).toBe('unknown_key');
    expect(calls.filter((u) => u.endsWith('jwks.json'))).toHaveLength(2);
  });

  it('refresh: true reaches the JWKS cache', async () => {
    const { fetch, calls } = routes(AGENT_ROUTES);
    let now = 0;
    const jwksCache = new JwksCache({ fetch, now: () => now });
    const resolve = createKeyResolver({ fetch, now: () => now, jwksCache });
    await resolve(REQUEST);
    now = 120;
    await resolve({ ...REQUEST, refresh: true });
    expect(calls.filter((u) => u.endsWith('jwks.json'))).toHaveLength(2);
  });

  it('resolves keys from a -10 era PS document (only issuer and jwks_uri matter for keys)', async () => {
    const { fetch } = routes({
      'https://ps.example/.well-known/aauth-person.json': () =>
        json({ issuer: 'https://ps.example', jwks_uri: 'https://ps.example/.well-known/jwks.json', token_endpoint: 'https://ps.example/token' }),
      'https://ps.example/.well-known/jwks.json': () => json({ keys: [{ ...AP_KEY, kid: 'ps-1' }] }),
    });
    const key = await createKeyResolver({ fetch, now: () => 0 })({ iss: 'https://ps.example', dwk: 'aauth-person.json', kid: 'ps-1' });
    expect(key.jwk.kid).toBe('ps-1');
  });

  it('development: http://localhost:PORT issuers only with allowLoopbackHttp', async () => {
    const { fetch } = routes({
      'http://localhost:4000/.well-known/aauth-agent.json': () => json({ issuer: 'http://localhost:4000', jwks_uri: 'http://localhost:4000/jwks' }),
      'http://localhost:4000/jwks': () => json({ keys: [AP_KEY] }),
    });
    const request = { ...REQUEST, iss: 'http://localhost:4000' };
    expect((await rejection(createKeyResolver({ fetch, now: () => 0 })(request))).code).toBe('invalid_jwt');
    expect((await createKeyResolver({ fetch, now: () => 0, allowLoopbackHttp: true })(request)).jwk.kid).toBe('ap-key-1');
  });
});
