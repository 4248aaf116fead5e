/** The core: verifyRequest for every mode and every challenge (digest §3, §4, §8). */
import { MemoryReplayCache, parseAAuthRequirement, signJws, verifyToken, type Signer } from '@tessera/protocol';
import { definePolicy, MemorySessionStore, type RoutePolicy } from '@tessera/resource';
import { describe, expect, it } from 'vitest';
import { AGENT_ID, AP, AS, at, authToken, agentToken, jwtClaims, keys, personToken, problem, PS, PS2, RESOURCE, resolver, signedRequest, T0, testResource } from './fixtures.js';

const AGENT: RoutePolicy = { mode: 'agent-token' };
const PERSON: RoutePolicy = { mode: 'person-token' };
const AUTH: RoutePolicy = { mode: 'auth-token', scopes: ['notes.read'] };
const SESSION: RoutePolicy = { mode: 'session-token', scopes: ['notes.read'] };

function expectNoSignatureError(response: Response): void {
  expect(response.headers.get('signature-error')).toBeNull();
  for (const [name] of response.headers) expect(name.startsWith('accept-signature')).toBe(false);
}

function refused(result: Awaited<ReturnType<Awaited<ReturnType<typeof testResource>>['verifyRequest']>>): Response {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('granted');
  return result.response;
}

describe('policy', () => {
  it('rejects configurations that cannot be right', () => {
    expect(() => definePolicy({ mode: 'auth-token' })).toThrow(/scopes/);
    expect(() => definePolicy({ mode: 'person-token', scopes: ['a'] })).toThrow(/no scope/);
    expect(() => definePolicy({ mode: 'agent-token', scopes: ['a'] })).toThrow();
    expect(() => definePolicy({ mode: 'nope' as 'agent-token' })).toThrow(/unknown mode/);
    expect(() => definePolicy({ mode: 'auth-token', scopes: ['bad scope'] })).toThrow(/invalid scope/);
  });

  it('freezes what it checked, lists included: a later change to the caller\'s arrays changes nothing, and a defined policy passes through', () => {
    const scopes = ['notes.read'];
    const trusted = ['https://ps.example'];
    const defined = definePolicy({ mode: 'auth-token', scopes, trustedPersonServers: trusted });
    scopes.push('bad scope');
    trusted.length = 0;
    expect(defined.scopes).toEqual(['notes.read']);
    expect(defined.trustedPersonServers).toEqual(['https://ps.example']);
    expect(Object.isFrozen(defined) && Object.isFrozen(defined.scopes) && Object.isFrozen(defined.trustedPersonServers)).toBe(true);
    expect(definePolicy(defined)).toBe(defined);
    // A frozen policy that definePolicy did not return is still checked.
    expect(() => definePolicy(Object.freeze({ mode: 'auth-token' as const, scopes: Object.freeze(['bad scope']) }))).toThrow(/invalid scope/);
  });
});

describe('unsigned requests (§8.29: agent-token and person-token carry no parameters)', () => {
  it.each([
    ['agent-token', AGENT, 'requirement=agent-token'],
    ['session-token', SESSION, 'requirement=agent-token'],
    ['person-token', PERSON, 'requirement=person-token'],
    ['auth-token', AUTH, 'requirement=person-token'],
  ] as const)('%s mode → 401 %s, bare', async (_mode, policy, header) => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(new Request(`${RESOURCE}/notes`), policy));
    expect(response.status).toBe(401);
    expect(response.headers.get('aauth-requirement')).toBe(header);
    expect(response.headers.get('www-authenticate')).toBeNull();
    expect(response.headers.get('cache-control')).toBe('no-store');
    expectNoSignatureError(response);
    expect(parseAAuthRequirement(header).requirement).toBe(header.slice('requirement='.length));
  });
});

describe('agent-token mode', () => {
  it('grants a request signed with an agent token and returns the agent', async () => {
    const k = await keys();
    const resource = await testResource();
    const result = await resource.verifyRequest(await signedRequest({ token: await agentToken() }), AGENT);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.agent.jkt).toBe(k.agentJkt);
    expect(result.agent.id).toBe(AGENT_ID);
    expect(result.agent.token?.iss).toBe(AP);
    expect(result.person).toBeUndefined();
    expect(result.scopes).toEqual([]);
    expect(result.tokenId).toBe(result.agent.token?.jti);
    expect(result.token.kind).toBe('aa-agent+jwt');
  });

  it('§8.11: an agent token from an untrusted Agent Provider → 403 without Signature-Error', async () => {
    const resource = await testResource({ trustedAgentProviders: ['https://elsewhere.example'] });
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken() }), AGENT));
    expect(response.status).toBe(403);
    expectNoSignatureError(response);
    expect((await problem(response)).error).toBe('invalid_agent_token');
  });

  it('a tampered signature → 401 Signature-Error invalid_signature', async () => {
    const resource = await testResource();
    const signed = await signedRequest({ token: await agentToken() });
    const tampered = new Request(`${RESOURCE}/other`, { headers: signed.headers });
    const response = refused(await resource.verifyRequest(tampered, AGENT));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(response.headers.get('aauth-requirement')).toBeNull();
  });

  it('partial signature headers → 401 invalid_request (a signature failure, not a challenge)', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(new Request(`${RESOURCE}/notes`, { headers: { signature: 'sig=:AA==:' } }), AGENT));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toBe('error=invalid_request');
  });

  it('additional_signature_components are required: missing → 401 invalid_input with required_input', async () => {
    const resource = await testResource({ additionalComponents: ['@query'] });
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken(), url: `${RESOURCE}/notes?x=1` }), AGENT));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toContain('error=invalid_input');
    expect(response.headers.get('signature-error')).toContain('"@query"');
    const ok = await resource.verifyRequest(await signedRequest({ token: await agentToken(), url: `${RESOURCE}/notes?x=1`, components: ['@query'] }), AGENT);
    expect(ok.ok).toBe(true);
    // per-route additions stack on the resource's
    const route = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken(), url: `${RESOURCE}/notes?x=1`, components: ['@query'] }), { mode: 'agent-token', additionalComponents: ['content-type'] }));
    expect(route.headers.get('signature-error')).toContain('"content-type"');
  });

  it('created outside the window → 401 invalid_signature; a route window widens it', async () => {
    const resource = await testResource();
    const request = () => agentToken().then((token) => signedRequest({ token, created: T0 - 100 }));
    expect((refused(await resource.verifyRequest(await request(), AGENT))).headers.get('signature-error')).toBe('error=invalid_signature');
    expect((await resource.verifyRequest(await request(), { mode: 'agent-token', window: 300 })).ok).toBe(true);
  });

  it('a person token where an agent token is taken → 401 invalid_jwt (the kinds are exact)', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await personToken() }), AGENT));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toBe('error=invalid_jwt');
  });

  it('the replay cache refuses the same signed request twice', async () => {
    const resource = await testResource({ replayCache: new MemoryReplayCache({ now: at(T0) }) });
    const token = await agentToken();
    expect((await resource.verifyRequest(await signedRequest({ token }), AGENT)).ok).toBe(true);
    const again = refused(await resource.verifyRequest(await signedRequest({ token }), AGENT));
    expect(again.headers.get('signature-error')).toBe('error=invalid_signature');
    // a route can opt out
    expect((await resource.verifyRequest(await signedRequest({ token }), { mode: 'agent-token', replayCache: false })).ok).toBe(true);
  });

  it('reads the body once and checks Content-Digest against it', async () => {
    const resource = await testResource();
    const token = await agentToken();
    const good = await resource.verifyRequest(await signedRequest({ token, method: 'POST', body: '{"a":1}', headers: [['content-type', 'application/json']] }), AGENT);
    expect(good.ok).toBe(true);
    if (good.ok) expect(new TextDecoder().decode(good.body)).toBe('{"a":1}');
    const signed = await signedRequest({ token, method: 'POST', body: '{"a":1}', headers: [['content-type', 'application/json']] });
    const swapped = new Request(signed.url, { method: 'POST', headers: signed.headers, body: '{"a":2}' });
    const response = refused(await resource.verifyRequest(swapped, AGENT));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).not.toBeNull();
  });

  it('a body over the limit → 413', async () => {
    const resource = await testResource({ maxBodyBytes: 4 });
    const response = refused(await resource.verifyRequest(new Request(`${RESOURCE}/notes`, { method: 'POST', body: 'too long' }), AGENT));
    expect(response.status).toBe(413);
  });
});

describe('person-token mode', () => {
  it('§8.23: signed with an agent token → 401 requirement=person-token', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken() }), PERSON));
    expect(response.status).toBe(401);
    expect(response.headers.get('aauth-requirement')).toBe('requirement=person-token');
  });

  it('§8.21: grants a person token and keys the person on (iss, sub)', async () => {
    const k = await keys();
    const resource = await testResource();
    const a = await resource.verifyRequest(await signedRequest({ token: await personToken({ mission_s256: 'm'.repeat(43), tenant: 't1' }) }), PERSON);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.person).toEqual({ iss: PS, sub: 'person-1' });
    expect(a.agent).toEqual({ jkt: k.agentJkt });
    expect(a.missionS256).toBe('m'.repeat(43));
    expect(a.tenant).toBe('t1');
    expect(a.scopes).toEqual([]);
    // the same `sub` from another PS is another person: never compared across issuers
    const b = await resource.verifyRequest(await signedRequest({ token: await personToken({ iss: PS2, issuer: k.ps2 }) }), PERSON);
    expect(b.ok).toBe(true);
    if (!b.ok) return;
    expect(b.person).toEqual({ iss: PS2, sub: 'person-1' });
    expect(b.person).not.toEqual(a.person);
  });

  it('§8.21: a person token for another resource (aud) → 401 invalid_jwt', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await personToken({ aud: 'https://other.example' }) }), PERSON));
    expect(response.headers.get('signature-error')).toBe('error=invalid_jwt');
  });

  it('§8.11: a person token from an untrusted PS → 403 invalid_person_token without Signature-Error', async () => {
    const k = await keys();
    const resource = await testResource({ trustedPersonServers: [PS] });
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await personToken({ iss: PS2, issuer: k.ps2 }) }), PERSON));
    expect(response.status).toBe(403);
    expectNoSignatureError(response);
    expect((await problem(response)).error).toBe('invalid_person_token');
  });
});

describe('auth-token mode', () => {
  it('§8.23: signed with an agent token → 401 requirement=person-token (no resource token without a person token)', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken() }), AUTH));
    expect(response.headers.get('aauth-requirement')).toBe('requirement=person-token');
  });

  it('§8.22 §8.24 §8.25: a person token never grants; it earns 401 requirement=auth-token with a resource token minted here', async () => {
    const k = await keys();
    const resource = await testResource();
    const pt = await personToken({ mission_s256: 'x'.repeat(43), tenant: 'acme', ttl: 120 });
    const result = await resource.verifyRequest(await signedRequest({ token: pt }), { mode: 'auth-token', scopes: ['notes.read', 'notes.write'] });
    const response = refused(result);
    expect(response.status).toBe(401);
    expectNoSignatureError(response);
    const header = response.headers.get('aauth-requirement') ?? '';
    const parsed = parseAAuthRequirement(header); // §8.25: parses as an SF Dictionary
    expect(parsed.requirement).toBe('auth-token');
    if (parsed.requirement !== 'auth-token') return;
    const claims = jwtClaims(parsed.resourceToken);
    const person = jwtClaims(pt);
    expect(claims).toMatchObject({
      iss: RESOURCE,
      dwk: 'aauth-resource.json',
      aud: PS,
      ps: PS,
      sub: 'person-1',
      presented_jti: person['jti'],
      agent_jkt: k.agentJkt,
      scope: 'notes.read notes.write',
      mission_s256: 'x'.repeat(43),
      tenant: 'acme',
    });
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBeLessThanOrEqual(300);
    expect(claims['exp']).toBeLessThanOrEqual(person['exp'] as number);
    // verifiable with the resource's published key
    const verified = await verifyToken(parsed.resourceToken, { accept: ['aa-resource+jwt'], resolveKey: await resolver(), now: at(T0), audience: PS });
    expect(verified.kind).toBe('aa-resource+jwt');
    // the result exposes the same
    if (!result.ok) expect(result.requirement).toEqual(parsed);
  });

  it('§8.24: four-party — the resource token is addressed to the Access Server', async () => {
    const resource = await testResource({ accessServer: AS });
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await personToken() }), AUTH));
    const parsed = parseAAuthRequirement(response.headers.get('aauth-requirement') ?? '');
    if (parsed.requirement !== 'auth-token') throw new Error('no auth-token challenge');
    expect(jwtClaims(parsed.resourceToken)).toMatchObject({ aud: AS, ps: PS });
  });

  it('grants an auth token: scopes, person keyed on (ps, sub), token id', async () => {
    const k = await keys();
    const resource = await testResource();
    const at1 = await authToken({ scope: 'notes.read notes.write', mission_s256: 'y'.repeat(43) });
    const result = await resource.verifyRequest(await signedRequest({ token: at1 }), AUTH);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.scopes).toEqual(['notes.read', 'notes.write']);
    expect(result.person).toEqual({ iss: PS, sub: 'person-1' });
    expect(result.agent.jkt).toBe(k.agentJkt);
    expect(result.missionS256).toBe('y'.repeat(43));
    expect(result.tokenId).toBe(jwtClaims(at1)['jti']);
    expect(result.token.kind).toBe('aa-auth+jwt');
  });

  it('§8.11: insufficient scope → 403 invalid_scope without Signature-Error', async () => {
    const resource = await testResource();
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await authToken({ scope: 'notes.write' }) }), AUTH));
    expect(response.status).toBe(403);
    expectNoSignatureError(response);
    expect((await problem(response)).error).toBe('invalid_scope');
  });

  it('§8.11: an auth token from an untrusted PS → 403 invalid_auth_token without Signature-Error', async () => {
    const k = await keys();
    const resource = await testResource({ trustedPersonServers: [PS] });
    const response = refused(await resource.verifyRequest(await signedRequest({ token: await authToken({ iss: PS2, issuer: k.ps2 }) }), AUTH));
    expect(response.status).toBe(403);
    expectNoSignatureError(response);
    expect((await problem(response)).error).toBe('invalid_auth_token');
  });

  it('four-party: only auth tokens from the named AS (dwk aauth-access.json) are accepted', async () => {
    const k = await keys();
    const resource = await testResource({ accessServer: AS });
    const fromAs = await authToken({ iss: AS, ps: PS, issuer: k.as, dwk: 'aauth-access.json' });
    const ok = await resource.verifyRequest(await signedRequest({ token: fromAs }), AUTH);
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.person).toEqual({ iss: PS, sub: 'person-1' });
    const fromPs = refused(await resource.verifyRequest(await signedRequest({ token: await authToken() }), AUTH));
    expect(fromPs.status).toBe(403);
    // three-party resource: an AS token it never asked for is refused too
    const threeParty = await testResource();
    expect((refused(await threeParty.verifyRequest(await signedRequest({ token: fromAs }), AUTH))).status).toBe(403);
  });

  describe('§8.40: auth token checks', () => {
    async function rawAuthToken(claims: Record<string, unknown>, signer?: Signer): Promise<string> {
      const k = await keys();
      const base = { iss: PS, dwk: 'aauth-person.json', aud: RESOURCE, jti: 'j-1', ps: PS, sub: 'person-1', cnf: { jwk: k.agent.publicJwk }, scope: 'notes.read', iat: T0, exp: T0 + 600 };
      const payload: Record<string, unknown> = { ...base, ...claims };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete payload[name];
      return signJws({ typ: 'aa-auth+jwt', kid: (signer ?? k.ps).publicJwk.kid as string }, payload, signer ?? k.ps);
    }

    it('a well-formed raw token passes (the control)', async () => {
      const resource = await testResource();
      expect((await resource.verifyRequest(await signedRequest({ token: await rawAuthToken({}) }), AUTH)).ok).toBe(true);
    });

    it.each([
      ['dwk not person|access', { dwk: 'aauth-agent.json' }],
      ['aud not this resource', { aud: 'https://other.example' }],
      ['sub missing', { sub: undefined }],
      ['cnf missing', { cnf: undefined }],
      ['ps missing', { ps: undefined }],
    ])('%s → 401 invalid_jwt', async (_name, claims) => {
      const resource = await testResource();
      const response = refused(await resource.verifyRequest(await signedRequest({ token: await rawAuthToken(claims) }), AUTH));
      expect(response.status).toBe(401);
      expect(response.headers.get('signature-error')).toBe('error=invalid_jwt');
    });

    it('an incomplete cnf.jwk (OKP without x) is refused before decoding → 401', async () => {
      const resource = await testResource();
      const response = refused(await resource.verifyRequest(await signedRequest({ token: await rawAuthToken({ cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' } } }) }), AUTH));
      expect(response.status).toBe(401);
      expect(response.headers.get('signature-error')).toMatch(/^error=invalid_(key|jwt)$/);
    });

    it('cnf ≠ signer (the request signed by another key) → 401 invalid_signature', async () => {
      const k = await keys();
      const resource = await testResource();
      const response = refused(await resource.verifyRequest(await signedRequest({ token: await rawAuthToken({}), signer: k.otherAgent }), AUTH));
      expect(response.status).toBe(401);
      expect(response.headers.get('signature-error')).toBe('error=invalid_signature');
    });

    it('§8.22: a person token presented again and again never grants access where an auth token is required', async () => {
      const resource = await testResource();
      for (let i = 0; i < 3; i++) {
        const result = await resource.verifyRequest(await signedRequest({ token: await personToken() }), AUTH);
        expect(result.ok).toBe(false);
      }
    });
  });

  it('an auth-token route without a signer is a configuration error', async () => {
    const { createResource } = await import('@tessera/resource');
    const resource = createResource({ issuer: RESOURCE, resolveKey: await resolver(), now: at(T0) });
    await expect(resource.verifyRequest(await signedRequest({ token: await personToken() }), AUTH)).rejects.toThrow(/signer/);
  });
});

describe('session-token mode (§8.51)', () => {
  it('grants a signed request whose Authorization: AAuth session token is covered, and returns the session person', async () => {
    const k = await keys();
    const resource = await testResource();
    const issued = await resource.issueSessionToken({ agentJkt: k.agentJkt, person: { iss: RESOURCE, sub: 'account-7' }, scopes: ['notes.read'] });
    expect(issued.headers['AAuth-Access']).toBe(issued.token);
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const request = await signedRequest({ token: await agentToken(), headers: [['authorization', `AAuth ${issued.token}`]] });
    const result = await resource.verifyRequest(request, SESSION);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.person).toEqual({ iss: RESOURCE, sub: 'account-7' });
    expect(result.scopes).toEqual(['notes.read']);
    expect(result.agent.id).toBe(AGENT_ID);
    expect(result.session?.agentJkt).toBe(k.agentJkt);
  });

  it('§8.51: Authorization: AAuth not covered by the signature → 401 invalid_input', async () => {
    const k = await keys();
    const resource = await testResource();
    const issued = await resource.issueSessionToken({ agentJkt: k.agentJkt, scopes: ['notes.read'] });
    const signed = await signedRequest({ token: await agentToken() });
    const headers = new Headers(signed.headers);
    headers.set('authorization', `AAuth ${issued.token}`);
    const response = refused(await resource.verifyRequest(new Request(signed.url, { headers }), SESSION));
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toContain('error=invalid_input');
    expect(response.headers.get('signature-error')).toContain('"authorization"');
  });

  it('§8.51: two AAuth credentials (or whitespace) are malformed → 400', async () => {
    const k = await keys();
    const resource = await testResource();
    const issued = await resource.issueSessionToken({ agentJkt: k.agentJkt, scopes: ['notes.read'] });
    const request = await signedRequest({ token: await agentToken(), headers: [['authorization', `AAuth ${issued.token}`], ['authorization', `AAuth ${issued.token}`]] });
    const response = refused(await resource.verifyRequest(request, SESSION));
    expect(response.status).toBe(400);
  });

  it('no session, an unknown one, or one bound to another agent key → onSessionRequired (default 403)', async () => {
    const k = await keys();
    const resource = await testResource();
    const none = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken() }), SESSION));
    expect(none.status).toBe(403);
    expectNoSignatureError(none);
    const unknown = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken(), headers: [['authorization', 'AAuth nope']] }), SESSION));
    expect(unknown.status).toBe(403);
    const other = await resource.issueSessionToken({ agentJkt: 'someone-else', scopes: ['notes.read'] });
    const reasons: string[] = [];
    const hooked = await testResource({
      sessionStore: (resource.context.sessionStore as MemorySessionStore),
      onSessionRequired: ({ reason, agent }) => {
        reasons.push(reason);
        expect(agent.jkt).toBe(k.agentJkt);
        return new Response(null, { status: 202, headers: { 'aauth-requirement': 'requirement=approval' } });
      },
    });
    const wrong = refused(await hooked.verifyRequest(await signedRequest({ token: await agentToken(), headers: [['authorization', `AAuth ${other.token}`]] }), SESSION));
    expect(wrong.status).toBe(202);
    refused(await hooked.verifyRequest(await signedRequest({ token: await agentToken() }), SESSION));
    expect(reasons).toEqual(['wrong_agent', 'missing']);
  });

  it('a session without the route scopes → 403 invalid_scope; expiry and revocation end it', async () => {
    const k = await keys();
    let now = T0;
    const store = new MemorySessionStore({ now: () => now });
    const resource = await testResource({ sessionStore: store, now: () => now });
    const narrow = await resource.issueSessionToken({ agentJkt: k.agentJkt, scopes: ['notes.write'] });
    const r1 = refused(await resource.verifyRequest(await signedRequest({ token: await agentToken(), headers: [['authorization', `AAuth ${narrow.token}`]] }), SESSION));
    expect(r1.status).toBe(403);
    expect((await problem(r1)).error).toBe('invalid_scope');
    const s = await resource.issueSessionToken({ agentJkt: k.agentJkt, scopes: ['notes.read'], ttl: 30 });
    expect((await resource.lookupSessionToken(`AAuth ${s.token}`, k.agentJkt)).ok).toBe(true);
    now = T0 + 31;
    expect(await resource.lookupSessionToken(`AAuth ${s.token}`, k.agentJkt)).toEqual({ ok: false, reason: 'unknown' });
    now = T0;
    const s2 = await resource.issueSessionToken({ agentJkt: k.agentJkt, scopes: ['notes.read'] });
    expect(await resource.revokeSessionToken(s2.token)).toBe(true);
    expect((await resource.lookupSessionToken(`AAuth ${s2.token}`, k.agentJkt)).ok).toBe(false);
  });

  it('the store is bounded', async () => {
    const store = new MemorySessionStore({ now: at(T0), maxEntries: 2 });
    const resource = await testResource({ sessionStore: store });
    for (let i = 0; i < 5; i++) await resource.issueSessionToken({ agentJkt: 'j' });
    expect(store.size).toBe(2);
  });
});
