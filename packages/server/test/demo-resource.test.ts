/**
 * The demo notes resource of `tessera dev`: agent token → person-token requirement → auth-token challenge with a
 * correct resource token → auth token → 200. Requests are signed with the protocol's signer; tokens are minted with
 * test PS and AP keys and resolved through a `resolveKey` double.
 */
import {
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  mintAgentToken,
  mintAuthToken,
  mintPersonToken,
  parseAAuthRequirement,
  publicJwkOf,
  signAAuthRequest,
  verifyToken,
  type KeyResolver,
  type PrivateJwk,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';
import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDemoResource, DEMO_NOTES } from '../src/demo/demo-resource.js';

const T0 = 1_800_000_000;
const now = () => T0;
const RESOURCE = 'https://notes.example';
const PS = 'https://ps.example';
const OTHER_PS = 'https://other-ps.example';
const AP = 'https://ap.example';
const AGENT = 'aauth:assistant@ap.example';

let app: Hono;
let agentJwk: PrivateJwk;
let agentSigner: Signer;
let agentJkt: string;
let psSigner: Signer;
let otherPsSigner: Signer;
let agentToken: string;
let resourceSigner: Signer;
const keys = new Map<string, Promise<VerifyKey>>();
const resolveKey: KeyResolver = ({ iss, kid }) => keys.get(`${iss}|${kid}`) ?? Promise.reject(new Error(`no key ${iss} ${kid}`));

async function issuer(iss: string, kid: string): Promise<Signer> {
  const jwk = await generateKeyPair('Ed25519', kid);
  keys.set(`${iss}|${kid}`, importVerifyKey(publicJwkOf(jwk)));
  return createSigner(jwk);
}

beforeAll(async () => {
  agentJwk = await generateKeyPair('Ed25519');
  agentSigner = await createSigner(agentJwk);
  agentJkt = await jwkThumbprint(publicJwkOf(agentJwk));
  psSigner = await issuer(PS, 'ps-1');
  otherPsSigner = await issuer(OTHER_PS, 'ps-1');
  const apSigner = await issuer(AP, 'ap-1');
  resourceSigner = await issuer(RESOURCE, 'res-1');
  agentToken = await mintAgentToken(apSigner, { iss: AP, sub: AGENT, cnf: { jwk: publicJwkOf(agentJwk) } }, { now });
  app = createDemoResource({ issuer: RESOURCE, ps: PS, signer: resourceSigner, resolveKey, now });
});

const cnf = () => ({ jwk: publicJwkOf(agentJwk) });

function personToken(extra: Record<string, unknown> = {}, signer = psSigner, iss = PS): Promise<string> {
  return mintPersonToken(signer, { iss, aud: RESOURCE, sub: 'directed-sub-1', cnf: cnf(), ...extra }, { now, ttl: 600 });
}

function authToken(scope: string | undefined, signer = psSigner, iss = PS): Promise<string> {
  return mintAuthToken(signer, { iss, ps: iss, aud: RESOURCE, sub: 'directed-sub-1', cnf: cnf(), ...(scope === undefined ? {} : { scope }) }, { now });
}

/** A request signed as the agent with `token` in `Signature-Key`. */
async function signed(token: string, init: { method?: string; path?: string; json?: unknown } = {}): Promise<Response> {
  const method = init.method ?? 'GET';
  const url = RESOURCE + (init.path ?? '/notes');
  const text = init.json === undefined ? undefined : JSON.stringify(init.json);
  const headers: [string, string][] = text === undefined ? [] : [['content-type', 'application/json']];
  const message = { method, url, headers, ...(text === undefined ? {} : { body: new TextEncoder().encode(text) }) };
  const { headers: sig } = await signAAuthRequest(message, { signer: agentSigner, token, now });
  return app.request(url, { method, headers: { ...Object.fromEntries(headers), ...sig }, ...(text === undefined ? {} : { body: text }) });
}

function requirementOf(res: Response) {
  const header = res.headers.get('aauth-requirement');
  expect(header, 'AAuth-Requirement header').not.toBeNull();
  expect(res.headers.get('www-authenticate')).toBeNull();
  return parseAAuthRequirement(header!);
}

describe('demo resource metadata', () => {
  it('publishes aauth-resource.json and its JWKS', async () => {
    const res = await app.request(`${RESOURCE}/.well-known/aauth-resource.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: RESOURCE,
      jwks_uri: `${RESOURCE}/jwks.json`,
      authorization_endpoint: `${RESOURCE}/authorize`,
      access_mode: 'auth-token',
    });
    expect(Object.keys(doc['scope_descriptions'] as object)).toEqual(['notes.read', 'notes.write']);
    const jwks = (await (await app.request(`${RESOURCE}/jwks.json`)).json()) as { keys: { kid: string; alg: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: 'res-1', alg: 'Ed25519' });
    expect(jwks.keys[0]!.d).toBeUndefined();
  });
});

describe('GET /notes: the three-party flow', () => {
  it('an unsigned request → 401 requirement=agent-token', async () => {
    const res = await app.request(`${RESOURCE}/notes`);
    expect(res.status).toBe(401);
    expect(requirementOf(res)).toEqual({ requirement: 'agent-token' });
  });

  it('[§8.23][§8.29] an agent token alone → 401 requirement=person-token, no parameters', async () => {
    const res = await signed(agentToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('aauth-requirement')).toBe('requirement=person-token');
    expect(requirementOf(res)).toEqual({ requirement: 'person-token' });
  });

  it('[§8.24][§8.25] a person token → 401 auth-token challenge with a correct resource token', async () => {
    const mission = 'a'.repeat(43);
    const pt = await personToken({ mission_s256: mission, tenant: 'acme' });
    const res = await signed(pt);
    expect(res.status).toBe(401);
    const requirement = requirementOf(res);
    expect(requirement.requirement).toBe('auth-token');
    if (requirement.requirement !== 'auth-token') return;
    const verified = await verifyToken(requirement.resourceToken, { accept: ['aa-resource+jwt'], resolveKey, now, audience: PS });
    const ptClaims = (await verifyToken(pt, { accept: ['aa-person+jwt'], resolveKey, now })).claims;
    const claims = verified.claims;
    expect(claims).toMatchObject({
      iss: RESOURCE,
      dwk: 'aauth-resource.json',
      aud: PS,
      ps: PS,
      sub: 'directed-sub-1',
      presented_jti: ptClaims.jti,
      agent_jkt: agentJkt,
      scope: 'notes.read',
      mission_s256: mission,
      tenant: 'acme',
    });
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(300);
    expect(verified.header.typ).toBe('aa-resource+jwt');
  });

  it('the resource token does not outlive the person token it derives from', async () => {
    const pt = await mintPersonToken(psSigner, { iss: PS, aud: RESOURCE, sub: 's', cnf: cnf() }, { now, ttl: 60 });
    const requirement = requirementOf(await signed(pt));
    if (requirement.requirement !== 'auth-token') throw new Error('expected auth-token');
    const { claims } = await verifyToken(requirement.resourceToken, { accept: ['aa-resource+jwt'], resolveKey, now });
    expect(claims.exp).toBe(T0 + 60);
  });

  it('an auth token from the PS with notes.read → 200 notes', async () => {
    const res = await signed(await authToken('profile notes.read'));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { notes: unknown[]; owner: unknown };
    expect(body.notes).toEqual(DEMO_NOTES);
    expect(body.owner).toEqual({ ps: PS, sub: 'directed-sub-1' });
  });

  it('[§8.22] a person token never stands in for an auth token', async () => {
    const res = await signed(await personToken());
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('notes');
  });

  it('an auth token without notes.read → 403 invalid_scope', async () => {
    const res = await signed(await authToken('notes.write'));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'invalid_scope' });
    expect((await signed(await authToken(undefined))).status).toBe(403);
  });

  it('tokens from another Person Server are refused', async () => {
    const fromOther = await signed(await authToken('notes.read', otherPsSigner, OTHER_PS));
    expect(fromOther.status).toBe(403);
    expect(await fromOther.json()).toMatchObject({ error: 'invalid_auth_token' });
    const personFromOther = await signed(await personToken({}, otherPsSigner, OTHER_PS));
    expect(personFromOther.status).toBe(403);
    expect(await personFromOther.json()).toMatchObject({ error: 'invalid_person_token' });
  });

  it('a person token for another resource → 401 Signature-Error invalid_jwt', async () => {
    const pt = await mintPersonToken(psSigner, { iss: PS, aud: 'https://elsewhere.example', sub: 's', cnf: cnf() }, { now });
    const res = await signed(pt);
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toContain('invalid_jwt');
  });

  it('[§8.3] a request with a signature but no Signature-Input → 401 Signature-Error invalid_request', async () => {
    const url = `${RESOURCE}/notes`;
    const { headers } = await signAAuthRequest({ method: 'GET', url, headers: [] }, { signer: agentSigner, token: agentToken, now });
    const { ['signature-input']: _dropped, ...partial } = headers;
    const res = await app.request(url, { headers: partial });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toContain('invalid_request');
  });

  it('[§8.9] a request signed with another key than cnf.jwk → 401 invalid_signature', async () => {
    const other = await createSigner(await generateKeyPair('Ed25519'));
    const url = `${RESOURCE}/notes`;
    const { headers } = await signAAuthRequest({ method: 'GET', url, headers: [] }, { signer: other, token: await authToken('notes.read'), now });
    const res = await app.request(url, { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toContain('invalid_signature');
  });
});

describe('POST /authorize (authorization_endpoint)', () => {
  it('[§8.23] without a person token → 401 requirement=person-token', async () => {
    const res = await signed(agentToken, { method: 'POST', path: '/authorize', json: { scope: 'notes.read' } });
    expect(res.status).toBe(401);
    expect(requirementOf(res)).toEqual({ requirement: 'person-token' });
  });

  it('[§8.24] with a person token → 200 {resource_token} for the requested scopes', async () => {
    const pt = await personToken();
    const res = await signed(pt, { method: 'POST', path: '/authorize', json: { scope: 'notes.read notes.write' } });
    expect(res.status).toBe(200);
    const { resource_token } = (await res.json()) as { resource_token: string };
    const { claims } = await verifyToken(resource_token, { accept: ['aa-resource+jwt'], resolveKey, now, audience: PS });
    expect(claims.scope).toBe('notes.read notes.write');
    expect(claims.agent_jkt).toBe(agentJkt);
  });

  it('unknown scope → 400 invalid_scope; no scope → 400 invalid_request', async () => {
    const pt = await personToken();
    const unknown = await signed(pt, { method: 'POST', path: '/authorize', json: { scope: 'notes.delete' } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_scope' });
    const missing = await signed(pt, { method: 'POST', path: '/authorize', json: {} });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('[§8.22] an auth token is not accepted at the authorization endpoint', async () => {
    const res = await signed(await authToken('notes.read'), { method: 'POST', path: '/authorize', json: { scope: 'notes.read' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toContain('invalid_jwt');
  });
});
