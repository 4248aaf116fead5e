/**
 * Third-party login requests (digest §5 `login_endpoint` row; checklist §8.62): `ps` validated through its metadata,
 * `start_path` a relative path on the recipient's own origin; every parameter untrusted, nothing fetched for junk.
 */
import { describe, expect, it } from 'vitest';
import { MetadataCache } from '../src/discovery/metadata-client.js';
import type { FetchLike } from '../src/egress/guarded-fetch.js';
import { MAX_LOGIN_PARAMETER_LENGTH, parseLoginRequest, validateStartPath } from '../src/login-request.js';
import { rejection } from './support.js';

const ORIGIN = 'https://agent.example';
const LOGIN = `${ORIGIN}/login`;
const PS = 'https://ps.example';
const PS_METADATA = { issuer: PS, jwks_uri: `${PS}/jwks.json`, auth_token_endpoint: `${PS}/token`, person_token_endpoint: `${PS}/person-token` };

function setup(documents: Record<string, unknown> = { [`${PS}/.well-known/aauth-person.json`]: PS_METADATA }): { calls: string[]; metadata: MetadataCache } {
  const calls: string[] = [];
  const fetch: FetchLike = (url) => {
    calls.push(url);
    const body = documents[url];
    return Promise.resolve(body === undefined ? new Response('no', { status: 404 }) : Response.json(body));
  };
  return { calls, metadata: new MetadataCache({ fetch, now: () => 0 }) };
}

const login = (query: Record<string, string | string[]>): string => {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  return `${LOGIN}?${params.toString()}`;
};

describe('login requests', () => {
  it('[§8.62] ps is validated through its aauth-person.json: the request is accepted with the metadata and the hints', async () => {
    const { calls, metadata } = setup();
    const r = await parseLoginRequest(login({ ps: PS, login_hint: 'alice@example.com', domain_hint: 'example.com', tenant: 'acme', start_path: '/inbox?tab=new#top' }), { metadata, origin: ORIGIN });
    expect(r).toEqual({ ps: PS, psMetadata: expect.objectContaining({ issuer: PS, person_token_endpoint: `${PS}/person-token` }) as unknown, loginHint: 'alice@example.com', domainHint: 'example.com', tenant: 'acme', startPath: '/inbox?tab=new#top' });
    expect(calls).toEqual([`${PS}/.well-known/aauth-person.json`]);
    expect(await parseLoginRequest(login({ ps: PS }), { metadata, origin: ORIGIN })).toEqual({ ps: PS, psMetadata: expect.anything() as unknown });
  });

  it('[§8.62] a ps whose metadata is missing, is not a Person Server document, or names another issuer is refused', async () => {
    const other = 'https://other.example';
    const { metadata } = setup({
      [`${other}/.well-known/aauth-person.json`]: { ...PS_METADATA, issuer: PS }, // issuer mismatch
      'https://agentish.example/.well-known/aauth-person.json': { issuer: 'https://agentish.example', jwks_uri: 'https://agentish.example/jwks.json' },
    });
    for (const ps of ['https://missing.example', other, 'https://agentish.example']) {
      const e = await rejection(parseLoginRequest(login({ ps }), { metadata, origin: ORIGIN }));
      expect(e.code, ps).toBe('invalid_request');
      expect(e.detail).toMatch(/is not a Person Server whose metadata checks/);
    }
  });

  it('[§8.62] ps must be a server identifier; nothing is fetched for one that is not, nor for any other bad parameter', async () => {
    const { calls, metadata } = setup();
    const refused = [
      {},
      { ps: '' },
      { ps: 'http://ps.example' },
      { ps: 'https://ps.example/' },
      { ps: 'https://ps.example:8443' },
      { ps: 'https://user@ps.example' },
      { ps: 'https://ps.example?x=1' },
      { ps: 'javascript:alert(1)' },
      { ps: [PS, 'https://evil.example'] },
      { ps: PS, login_hint: 'x'.repeat(MAX_LOGIN_PARAMETER_LENGTH + 1) },
      { ps: PS, tenant: '' },
      { ps: PS, start_path: 'https://evil.example/' },
      { ps: PS, start_path: ['/a', '/b'] },
    ];
    for (const query of refused) {
      const e = await rejection(parseLoginRequest(login(query), { metadata, origin: ORIGIN }));
      expect(e.code, JSON.stringify(query)).toBe('invalid_request');
    }
    expect(calls).toEqual([]);
    // Loopback http only in development.
    const local = 'http://localhost:4100';
    const document = { issuer: local, jwks_uri: `${local}/jwks.json`, auth_token_endpoint: `${local}/token`, person_token_endpoint: `${local}/person-token` };
    const fetch: FetchLike = () => Promise.resolve(Response.json(document));
    expect((await rejection(parseLoginRequest(login({ ps: local }), { metadata: new MetadataCache({ fetch, now: () => 0 }), origin: ORIGIN }))).code).toBe('invalid_request');
    const dev = await parseLoginRequest(login({ ps: local }), { metadata: new MetadataCache({ fetch, now: () => 0, allowLoopbackHttp: true }), origin: ORIGIN, allowLoopbackHttp: true });
    expect(dev.ps).toBe(local);
  });

  it('[§8.62] start_path must be a relative path on the recipient’s own origin: no scheme, no //host, no backslash, no control character', () => {
    for (const path of ['https://evil.example/', '//evil.example/x', '/\\evil.example', '/\\/evil.example', 'relative/path', '', ' /x', '/x y', '/x\ty', '/x\u0000', 'javascript:alert(1)']) {
      expect(() => validateStartPath(path, ORIGIN), JSON.stringify(path)).toThrow(/start_path/);
    }
    expect(validateStartPath('/%0a', ORIGIN)).toBe('/%0a'); // percent-encoded bytes stay encoded: a path, not a newline
    expect(validateStartPath('/a/../b?x=1', ORIGIN)).toBe('/b?x=1');
    expect(validateStartPath('/a/./b#f', 'https://agent.example/ignored/path')).toBe('/a/b#f');
    expect(() => validateStartPath('/x', 'not a url')).toThrow(/origin/);
  });
});
