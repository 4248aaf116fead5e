/** The authorization endpoint (digest §5 row "R authorization_endpoint"), metadata and JWKS. */
import { parseResourceMetadata, verifyToken } from '@tessera/protocol';
import { describe, expect, it } from 'vitest';
import { AS, at, agentToken, jwtClaims, keys, personToken, problem, PS, PS2, RESOURCE, resolver, signedRequest, T0, testResource } from './fixtures.js';

const AUTHORIZE = `${RESOURCE}/authorize`;
const JSON_CT: [string, string][] = [['content-type', 'application/json']];

async function post(token: string, body: unknown, extra: { raw?: string } = {}): Promise<Request> {
  return signedRequest({ method: 'POST', url: AUTHORIZE, token, headers: JSON_CT, body: extra.raw ?? JSON.stringify(body) });
}

describe('authorization endpoint', () => {
  it('§8.23: without a person token → 401 requirement=person-token (unsigned, or signed with an agent token)', async () => {
    const resource = await testResource();
    const unsigned = await resource.authorize(new Request(AUTHORIZE, { method: 'POST', body: '{"scope":"notes.read"}' }));
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('aauth-requirement')).toBe('requirement=person-token');
    const agent = await resource.authorize(await post(await agentToken(), { scope: 'notes.read' }));
    expect(agent.status).toBe(401);
    expect(agent.headers.get('aauth-requirement')).toBe('requirement=person-token');
  });

  it('§8.24: a person-token-signed POST {scope} → 200 {resource_token} for that person and signer', async () => {
    const k = await keys();
    const resource = await testResource();
    const pt = await personToken({ mission_s256: 'z'.repeat(43), tenant: 'acme' });
    const response = await resource.authorize(await post(pt, { scope: 'notes.read notes.write' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { resource_token } = (await response.json()) as { resource_token: string };
    const verified = await verifyToken(resource_token, { accept: ['aa-resource+jwt'], resolveKey: await resolver(), now: at(T0), audience: PS });
    expect(verified.claims).toMatchObject({
      iss: RESOURCE,
      aud: PS,
      ps: PS,
      sub: 'person-1',
      presented_jti: jwtClaims(pt)['jti'],
      agent_jkt: k.agentJkt,
      scope: 'notes.read notes.write',
      mission_s256: 'z'.repeat(43),
      tenant: 'acme',
    });
    expect(verified.claims.exp - verified.claims.iat).toBeLessThanOrEqual(300);
  });

  it('§8.24: four-party — aud is the Access Server', async () => {
    const resource = await testResource({ accessServer: AS });
    const response = await resource.authorize(await post(await personToken(), { scope: 'notes.read' }));
    const { resource_token } = (await response.json()) as { resource_token: string };
    expect(jwtClaims(resource_token)).toMatchObject({ aud: AS, ps: PS });
  });

  it.each([
    ['no scope', { }, 'invalid_request'],
    ['empty scope', { scope: ' ' }, 'invalid_request'],
    ['scope not a string', { scope: ['notes.read'] }, 'invalid_request'],
    ['unknown scope', { scope: 'notes.read notes.delete' }, 'invalid_scope'],
    ['account without a validator', { scope: 'notes.read', account: 'acct-1' }, 'invalid_account'],
  ])('%s → 400 %s', async (_name, body, code) => {
    const resource = await testResource();
    const response = await resource.authorize(await post(await personToken(), body));
    expect(response.status).toBe(400);
    expect(response.headers.get('signature-error')).toBeNull();
    expect((await problem(response)).error).toBe(code);
  });

  it('a body that is not JSON → 400 invalid_request', async () => {
    const resource = await testResource();
    const response = await resource.authorize(await post(await personToken(), undefined, { raw: 'scope=notes.read' }));
    expect(response.status).toBe(400);
    expect((await problem(response)).error).toBe('invalid_request');
  });

  it('account: validated by the resource, copied into the resource token', async () => {
    const seen: unknown[] = [];
    const resource = await testResource({
      authorization: {
        validateAccount: ({ account, person }) => {
          seen.push({ account, person });
          return account === 'acct-1';
        },
      },
    });
    const ok = await resource.authorize(await post(await personToken(), { scope: 'notes.read', account: 'acct-1' }));
    expect(ok.status).toBe(200);
    expect(jwtClaims(((await ok.json()) as { resource_token: string }).resource_token)['account']).toBe('acct-1');
    const bad = await resource.authorize(await post(await personToken(), { scope: 'notes.read', account: 'acct-2' }));
    expect((await problem(bad)).error).toBe('invalid_account');
    expect(seen[0]).toEqual({ account: 'acct-1', person: { iss: PS, sub: 'person-1' } });
  });

  it('a person token from an untrusted PS → 400 invalid_person_token (the endpoint error table), no Signature-Error', async () => {
    const k = await keys();
    const resource = await testResource({ trustedPersonServers: [PS] });
    const response = await resource.authorize(await post(await personToken({ iss: PS2, issuer: k.ps2 }), { scope: 'notes.read' }));
    expect(response.status).toBe(400);
    expect(response.headers.get('signature-error')).toBeNull();
    expect((await problem(response)).error).toBe('invalid_person_token');
  });

  it('the body must be covered by content-digest: unsigned body → 401 invalid_input', async () => {
    const resource = await testResource();
    const request = await signedRequest({ method: 'POST', url: AUTHORIZE, token: await personToken(), headers: JSON_CT, body: '{"scope":"notes.read"}', contentDigest: false });
    const response = await resource.authorize(request);
    expect(response.status).toBe(401);
    expect(response.headers.get('signature-error')).toContain('error=invalid_input');
  });

  it('GET → 405', async () => {
    const resource = await testResource();
    expect((await resource.authorize(new Request(AUTHORIZE))).status).toBe(405);
  });
});

describe('metadata and JWKS', () => {
  it('serves /.well-known/aauth-resource.json that validates as resource metadata', async () => {
    const resource = await testResource({ signatureWindow: 30, additionalComponents: ['@query'], acceptAlgorithms: ['Ed25519', 'ES256'] });
    const response = await resource.handle(new Request(`${RESOURCE}/.well-known/aauth-resource.json`));
    expect(response?.status).toBe(200);
    const json = (await response?.json()) as Record<string, unknown>;
    const parsed = parseResourceMetadata(json, { expectedIssuer: RESOURCE });
    expect(parsed).toMatchObject({
      issuer: RESOURCE,
      jwks_uri: `${RESOURCE}/.well-known/jwks.json`,
      access_mode: 'auth-token',
      authorization_endpoint: `${RESOURCE}/authorize`,
      scope_descriptions: { 'notes.read': 'Read your notes' },
      signature_window: 30,
      additional_signature_components: ['@query'],
      accept_signature_algs: ['Ed25519', 'ES256'],
    });
  });

  it('serves the signer JWKS (public, with kid and alg); other paths fall through', async () => {
    const k = await keys();
    const resource = await testResource();
    const response = await resource.handle(new Request(`${RESOURCE}/.well-known/jwks.json`));
    const jwks = (await response?.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: k.resource.publicJwk.kid, alg: 'Ed25519' });
    expect(jwks.keys[0]?.['d']).toBeUndefined();
    expect(await resource.handle(new Request(`${RESOURCE}/notes`))).toBeUndefined();
    const authorize = await resource.handle(new Request(AUTHORIZE, { method: 'POST' }));
    expect(authorize?.status).toBe(401);
  });
});
