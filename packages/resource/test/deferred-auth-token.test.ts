/** §8.26: deferred auth-token delivery — 202, poll, run once, replay until the auth token's exp. */
import { parseAAuthRequirement } from '@tessera/protocol';
import type { VerifiedIdentity } from '@tessera/resource';
import { describe, expect, it } from 'vitest';
import { authToken, jwtClaims, keys, personToken, RESOURCE, signedRequest, T0, testResource } from './fixtures.js';

async function setup() {
  let now = T0;
  const resource = await testResource({ now: () => now });
  let runs = 0;
  const seen: { identity: VerifiedIdentity; body: string }[] = [];
  const deferred = resource.deferredAuthToken({
    policy: { mode: 'auth-token', scopes: ['notes.write'] },
    pendingPath: '/aauth/pending',
    handler: async (identity, original) => {
      runs++;
      seen.push({ identity, body: new TextDecoder().decode(original.body) });
      await new Promise((r) => setTimeout(r, 10));
      return Response.json({ created: runs, method: original.method }, { status: 201, headers: { 'x-run': String(runs) } });
    },
  });
  return { resource, deferred, runs: () => runs, seen, setNow: (t: number) => (now = t) };
}

describe('§8.26 deferred auth token', () => {
  it('202 requirement=auth-token with Location, Retry-After, no-store; executes once on the first valid poll; replays later', async () => {
    const { deferred, runs, seen, setNow } = await setup();
    const initial = await deferred.handle(await signedRequest({ method: 'POST', token: await personToken(), body: '{"text":"hi"}', headers: [['content-type', 'application/json']] }));
    expect(initial.status).toBe(202);
    expect(initial.headers.get('cache-control')).toBe('no-store');
    expect(initial.headers.get('retry-after')).toBe('5');
    expect(await initial.json()).toEqual({ status: 'pending' });
    const requirement = parseAAuthRequirement(initial.headers.get('aauth-requirement') ?? '');
    expect(requirement.requirement).toBe('auth-token');
    const location = initial.headers.get('location') ?? '';
    expect(new URL(location).origin).toBe(RESOURCE);
    expect(location).toMatch(/^https:\/\/resource\.example\/aauth\/pending\/[A-Za-z0-9_-]{43}$/);
    expect(deferred.isPendingUrl(location)).toBe(true);
    if (requirement.requirement === 'auth-token') expect(jwtClaims(requirement.resourceToken)['scope']).toBe('notes.write');

    // still waiting: a poll signed with the person token → 202 again
    const waiting = await deferred.poll(await signedRequest({ url: location, token: await personToken() }));
    expect(waiting.status).toBe(202);
    expect(runs()).toBe(0);

    const at = await authToken({ scope: 'notes.write', ttl: 600 });
    const [first, concurrent] = await Promise.all([
      deferred.poll(await signedRequest({ url: location, token: at })),
      deferred.poll(await signedRequest({ url: location, token: at, created: T0 - 1 })),
    ]);
    expect(first.status).toBe(201);
    expect(first.headers.get('x-run')).toBe('1');
    expect(await first.json()).toEqual({ created: 1, method: 'POST' });
    expect(await concurrent.json()).toEqual({ created: 1, method: 'POST' });
    expect(runs()).toBe(1);
    expect(seen[0]?.body).toBe('{"text":"hi"}');
    expect(seen[0]?.identity.scopes).toEqual(['notes.write']);

    setNow(T0 + 300);
    const later = await deferred.poll(await signedRequest({ url: location, token: at, created: T0 + 300 }));
    expect(later.status).toBe(201);
    expect(await later.json()).toEqual({ created: 1, method: 'POST' });
    expect(runs()).toBe(1);

    // past the auth token's exp the result is gone: 410
    setNow(T0 + 601);
    const gone = await deferred.poll(await signedRequest({ url: location, token: at, created: T0 + 601 }));
    expect(gone.status).toBe(410);
    expect(runs()).toBe(1);
  });

  it('a poll from another agent key or person → 403; an unknown pending URL → 404; each poll is verified', async () => {
    const k = await keys();
    const { deferred, runs } = await setup();
    const initial = await deferred.handle(await signedRequest({ token: await personToken() }));
    const location = initial.headers.get('location') ?? '';
    const otherAgent = await deferred.poll(await signedRequest({ url: location, token: await authToken({ scope: 'notes.write', signer: k.otherAgent }), signer: k.otherAgent }));
    expect(otherAgent.status).toBe(403);
    expect(otherAgent.headers.get('signature-error')).toBeNull();
    const otherPerson = await deferred.poll(await signedRequest({ url: location, token: await authToken({ scope: 'notes.write', sub: 'person-2' }) }));
    expect(otherPerson.status).toBe(403);
    const insufficient = await deferred.poll(await signedRequest({ url: location, token: await authToken({ scope: 'notes.read' }) }));
    expect(insufficient.status).toBe(403);
    const unsigned = await deferred.poll(new Request(location));
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('aauth-requirement')).toBe('requirement=person-token');
    const foreignPerson = await deferred.poll(await signedRequest({ url: location, token: await personToken({ sub: 'person-2' }) }));
    expect(foreignPerson.status).toBe(403);
    const tampered = await signedRequest({ url: location, token: await authToken({ scope: 'notes.write' }) });
    const bad = await deferred.poll(new Request(`${RESOURCE}/aauth/pending/${'A'.repeat(43)}`, { headers: tampered.headers }));
    expect(bad.status).toBe(404);
    expect(runs()).toBe(0);
  });

  it('a request already carrying the auth token runs at once', async () => {
    const { deferred, runs } = await setup();
    const response = await deferred.handle(await signedRequest({ method: 'POST', token: await authToken({ scope: 'notes.write' }), body: '{}', headers: [['content-type', 'application/json']] }));
    expect(response.status).toBe(201);
    expect(runs()).toBe(1);
    expect(deferred.size).toBe(0);
  });

  it('other failures pass through (agent token → 401 person-token)', async () => {
    const { deferred } = await setup();
    const { agentToken } = await import('./fixtures.js');
    const response = await deferred.handle(await signedRequest({ token: await agentToken() }));
    expect(response.status).toBe(401);
    expect(response.headers.get('aauth-requirement')).toBe('requirement=person-token');
  });
});
