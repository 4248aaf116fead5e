/**
 * The resource's login endpoint (digest §5 `login_endpoint` row; checklist §8.62): published in the metadata, served
 * by `resource.handle`, the PS checked through its metadata and `start_path` kept on the resource's origin before the
 * application's `onLogin` runs.
 */
import { MetadataCache, type FetchLike, type LoginRequest } from '@tessera/protocol';
import { describe, expect, it } from 'vitest';
import { PS, RESOURCE, testResource } from './fixtures.js';

const PS_METADATA = { issuer: PS, jwks_uri: `${PS}/jwks.json`, auth_token_endpoint: `${PS}/token`, person_token_endpoint: `${PS}/person-token` };

async function loginResource() {
  const fetched: string[] = [];
  const logins: LoginRequest[] = [];
  const fetch: FetchLike = (url) => {
    fetched.push(url);
    return Promise.resolve(url === `${PS}/.well-known/aauth-person.json` ? Response.json(PS_METADATA) : new Response('no', { status: 404 }));
  };
  const resource = await testResource({
    loginEndpoint: '/login',
    login: {
      metadata: new MetadataCache({ fetch, now: () => 0 }),
      onLogin: (login) => {
        logins.push(login);
        return new Response(null, { status: 303, headers: { location: login.startPath ?? '/' } });
      },
    },
  });
  return { resource, fetched, logins };
}

describe('login endpoint', () => {
  it('[§8.62] is published as login_endpoint and served by handle: a valid request reaches onLogin with the checked PS and hints', async () => {
    const { resource, logins } = await loginResource();
    expect(resource.metadata().login_endpoint).toBe(`${RESOURCE}/login`);
    const res = await resource.handle(new Request(`${RESOURCE}/login?ps=${encodeURIComponent(PS)}&login_hint=alice&tenant=acme&start_path=${encodeURIComponent('/notes?x=1')}`));
    expect(res?.status).toBe(303);
    expect(res?.headers.get('location')).toBe('/notes?x=1');
    expect(logins).toEqual([expect.objectContaining({ ps: PS, loginHint: 'alice', tenant: 'acme', startPath: '/notes?x=1' })]);
  });

  it('[§8.62] an unverifiable ps or a start_path off this origin → 400 invalid_request, and onLogin never runs', async () => {
    const { resource, logins, fetched } = await loginResource();
    for (const query of [
      `ps=${encodeURIComponent('https://unknown.example')}`,
      `ps=${encodeURIComponent(PS)}&start_path=${encodeURIComponent('//evil.example/')}`,
      `ps=${encodeURIComponent(PS)}&start_path=${encodeURIComponent('https://evil.example/')}`,
      `ps=${encodeURIComponent(PS)}&start_path=${encodeURIComponent('/\\evil.example')}`,
      'start_path=%2F',
    ]) {
      const res = (await resource.handle(new Request(`${RESOURCE}/login?${query}`)))!;
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    }
    expect(logins).toEqual([]);
    expect(fetched).toEqual(['https://unknown.example/.well-known/aauth-person.json']); // nothing fetched for the others
  });

  it('takes GET only; without login options there is no login route; login without loginEndpoint is a configuration error', async () => {
    const { resource } = await loginResource();
    const post = (await resource.handle(new Request(`${RESOURCE}/login?ps=${encodeURIComponent(PS)}`, { method: 'POST' })))!;
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const plain = await testResource({ loginEndpoint: '/login' });
    expect(await plain.handle(new Request(`${RESOURCE}/login?ps=${encodeURIComponent(PS)}`))).toBeUndefined();
    await expect(testResource({ login: { metadata: new MetadataCache({ fetch: () => Promise.reject(new Error('no')), now: () => 0 }), onLogin: () => new Response() } })).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
