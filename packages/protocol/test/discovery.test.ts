import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import type { FetchLike } from '../src/egress/guarded-fetch.js';
import { MetadataCache, fetchMetadata, fetchMetadataJson, isPlainDocumentName, wellKnownUrl } from '../src/discovery/metadata-client.js';
import { rejection } from './support.js';

const PS_METADATA = {
  issuer: 'https://ps.example',
  jwks_uri: 'https://ps.example/.well-known/jwks.json',
  auth_token_endpoint: 'https://ps.example/token',
  person_token_endpoint: 'https://ps.example/person',
};

function json(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' }, ...init });
}

/** A fake fetch serving fixed routes and recording every URL it is asked for. */
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

describe('fetchMetadata', () => {
  it('GETs {issuer}/.well-known/{dwk} and validates by role', async () => {
    const { fetch, calls } = routes({ 'https://ps.example/.well-known/aauth-person.json': () => json(PS_METADATA) });
    const result = await fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch });
    expect(calls).toEqual(['https://ps.example/.well-known/aauth-person.json']);
    expect(result.kind).toBe('person');
    if (result.kind === 'person') expect(result.document.person_token_endpoint).toBe('https://ps.example/person');
  });

  it('a dwk AAuth does not define yields the common members', async () => {
    const { fetch } = routes({ 'https://ps.example/.well-known/eg-config': () => json(PS_METADATA) });
    const result = await fetchMetadata({ issuer: 'https://ps.example', dwk: 'eg-config', fetch });
    expect(result.kind).toBe('other');
    expect(result.document.jwks_uri).toBe(PS_METADATA.jwks_uri);
  });

  it('[§8.13] issuer_missing when the document has no issuer', async () => {
    const { issuer: _i, ...rest } = PS_METADATA;
    const { fetch } = routes({ 'https://ps.example/.well-known/aauth-person.json': () => json(rest) });
    expect((await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch }))).code).toBe('issuer_missing');
  });

  it('[§8.13] issuer_mismatch when the issuer differs by one byte from the fetch URL', async () => {
    for (const issuer of ['https://ps.example/', 'https://ps.exampl', 'https://evil.example', 'https://ps.example:443']) {
      const { fetch } = routes({ 'https://ps.example/.well-known/aauth-person.json': () => json({ ...PS_METADATA, issuer }) });
      const error = await rejection(fetchMetadataJson({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch }));
      expect(error.code, issuer).toBe('issuer_mismatch');
    }
  });

  it('dwk must be a plain file name; nothing is fetched otherwise', async () => {
    const { fetch, calls } = routes({});
    for (const dwk of ['../admin', 'a/b', 'x?y=1', 'x#y', '', '.hidden', 'a..b', '%2e%2e', 'a b']) {
      expect(isPlainDocumentName(dwk), dwk).toBe(false);
      expect((await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk, fetch }))).code).toBe('invalid_argument');
    }
    expect(calls).toHaveLength(0);
    expect(isPlainDocumentName('aauth-person.json')).toBe(true);
  });

  it('[§8.16] the issuer must be a server identifier; nothing is fetched otherwise', async () => {
    const { fetch, calls } = routes({});
    for (const issuer of ['http://ps.example', 'https://ps.example:8443', 'https://ps.example/v1', 'https://ps.example/', 'https://PS.example']) {
      expect((await rejection(fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch }))).code).toBe('invalid_identifier');
    }
    expect(calls).toHaveLength(0);
    expect(wellKnownUrl('http://localhost:3000', 'aauth-person.json', { allowLoopbackHttp: true })).toBe(
      'http://localhost:3000/.well-known/aauth-person.json',
    );
  });

  it('JSON only: another media type or a malformed body is invalid_metadata', async () => {
    const issuer = 'https://ps.example';
    const url = 'https://ps.example/.well-known/aauth-person.json';
    const html = routes({ [url]: () => new Response(JSON.stringify(PS_METADATA), { headers: { 'content-type': 'text/html' } }) });
    expect((await rejection(fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch: html.fetch }))).code).toBe('invalid_metadata');
    const broken = routes({ [url]: () => new Response('{"issuer":', { headers: { 'content-type': 'application/json' } }) });
    expect((await rejection(fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch: broken.fetch }))).code).toBe('invalid_metadata');
    const array = routes({ [url]: () => json([PS_METADATA]) });
    expect((await rejection(fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch: array.fetch }))).code).toBe('invalid_metadata');
    const badUtf8 = routes({ [url]: () => new Response(new Uint8Array([0x7b, 0xff, 0x7d]), { headers: { 'content-type': 'application/json' } }) });
    expect((await rejection(fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch: badUtf8.fetch }))).code).toBe('invalid_metadata');
    const suffix = routes({ [url]: () => new Response(JSON.stringify(PS_METADATA), { headers: { 'content-type': 'application/metadata+json; charset=utf-8' } }) });
    expect((await fetchMetadata({ issuer, dwk: 'aauth-person.json', fetch: suffix.fetch })).kind).toBe('person');
  });

  it('size-capped', async () => {
    const big = { ...PS_METADATA, description: 'x'.repeat(2000) };
    const { fetch } = routes({ 'https://ps.example/.well-known/aauth-person.json': () => json(big) });
    const error = await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch, maxBytes: 1000 }));
    expect(error.code).toBe('fetch_failed');
  });

  it('a non-200 status or a thrown network error is fetch_failed', async () => {
    const missing = routes({});
    expect((await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch: missing.fetch }))).code).toBe('fetch_failed');
    const throwing: FetchLike = () => Promise.reject(new TypeError('fetch failed'));
    expect((await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch: throwing }))).code).toBe('fetch_failed');
  });

  it('an egress refusal from the guarded fetch passes through', async () => {
    const refusing: FetchLike = () => Promise.reject(new AAuthError('egress_denied', { detail: 'private' }));
    expect((await rejection(fetchMetadata({ issuer: 'https://ps.example', dwk: 'aauth-person.json', fetch: refusing }))).code).toBe('egress_denied');
  });
});

describe('MetadataCache', () => {
  const url = 'https://ps.example/.well-known/aauth-person.json';

  it('fetches once and serves from cache until maxAge', async () => {
    let now = 1000;
    const { fetch, calls } = routes({ [url]: () => json(PS_METADATA) });
    const cache = new MetadataCache({ fetch, now: () => now, maxAgeSeconds: 600 });
    await cache.getDocument('https://ps.example', 'aauth-person.json');
    await cache.getDocument('https://ps.example', 'aauth-person.json');
    expect(calls).toHaveLength(1);
    now += 599;
    await cache.getDocument('https://ps.example', 'aauth-person.json');
    expect(calls).toHaveLength(1);
    now += 1;
    await cache.getDocument('https://ps.example', 'aauth-person.json');
    expect(calls).toHaveLength(2);
  });

  it('concurrent misses share one fetch', async () => {
    const { fetch, calls } = routes({ [url]: () => json(PS_METADATA) });
    const cache = new MetadataCache({ fetch, now: () => 0 });
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => cache.getDocument('https://ps.example', 'aauth-person.json')));
    expect(calls).toHaveLength(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
  });

  it('remembers a failure for failureTtlSeconds', async () => {
    let now = 0;
    const { fetch, calls } = routes({});
    const cache = new MetadataCache({ fetch, now: () => now });
    expect((await rejection(cache.getDocument('https://ps.example', 'aauth-person.json'))).code).toBe('fetch_failed');
    expect((await rejection(cache.getDocument('https://ps.example', 'aauth-person.json'))).code).toBe('fetch_failed');
    expect(calls).toHaveLength(1);
    now = 60;
    await rejection(cache.getDocument('https://ps.example', 'aauth-person.json'));
    expect(calls).toHaveLength(2);
  });

  it('is bounded', async () => {
    const fetch: FetchLike = (u) => Promise.resolve(json({ ...PS_METADATA, issuer: new URL(u).origin }));
    const cache = new MetadataCache({ fetch, now: () => 0, maxEntries: 2 });
    for (const host of ['a', 'b', 'c', 'd']) await cache.getDocument(`https://${host}.example`, 'aauth-person.json');
    expect(cache.size).toBe(2);
  });

  it('getMetadata applies the role rules', async () => {
    const { fetch } = routes({ [url]: () => json(PS_METADATA) });
    const cache = new MetadataCache({ fetch, now: () => 0 });
    const result = await cache.getMetadata('https://ps.example', 'aauth-person.json');
    expect(result.kind).toBe('person');
  });
});
