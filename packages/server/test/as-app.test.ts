/**
 * The Access Server (as/as-app.ts; AAuth -11 §Access Server Metadata, §PS-to-AS Token Request, §Auth Token Structure;
 * digest §5 AS `auth_token_endpoint`, §8.38, §8.41): metadata and JWKS, and `POST /token` taking only Person Server
 * requests signed `sig=jwks_uri`, whose key the AS discovers from the PS's metadata through the in-process fetch.
 */
import { mintAgentToken, mintAuthToken, parseSignatureError, signAAuthRequest, type Signer } from '@tessera/protocol';
import type { AccessPolicyInput } from '../src/as/as-app.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AS, federationFixture, ROGUE, type FederationFixture } from './as-fixture.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, claimsOf, headerOf, party, PS, RS, T0 } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string; sigError: string | null }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }), sigError: res.headers.get('signature-error') };
}

/** The claims a person token would have given the resource (the AS does not see the person token). */
const P = { iss: PS, sub: 'directed-sub-1', jti: 'pt-1' };

for (const kind of STORE_KINDS) {
  describe(`Access Server on ${kind}`, () => {
    let f: FederationFixture;
    let psSigner: Signer;
    const asPs = (body: unknown) => f.postToAs('/token', body, { id: PS, dwk: 'aauth-person.json', signer: psSigner });

    beforeEach(async () => {
      f = await federationFixture(kind);
      psSigner = await f.ps.ctx.keys.signer('ps');
    });
    afterEach(() => f.close());

    it('publishes aauth-access.json (issuer, jwks_uri, auth_token_endpoint, accept_signature_algs) and a JWKS with its `as` key', async () => {
      const meta = (await (await f.as.app.request(`${AS}/.well-known/aauth-access.json`)).json()) as Record<string, unknown>;
      expect(meta).toMatchObject({ issuer: AS, jwks_uri: `${AS}/jwks.json`, auth_token_endpoint: `${AS}/token`, accept_signature_algs: ['Ed25519', 'ES256'] });
      const jwks = (await (await f.as.app.request(`${AS}/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]!.alg).toBe('Ed25519');
      expect(jwks.keys[0]!.kid).toMatch(/^as-/);
    });

    it('[§8.38] issues an auth token with dwk aauth-access.json: iss = AS, ps = the calling PS, aud = resource, sub, cnf = agent key, exp ≤ 1 h and ≤ agent token', async () => {
      const agentToken = await f.agentToken();
      const res = await asPs({ resource_token: await f.resourceToken(P, { scope: 'notes.read notes.write' }), agent_token: agentToken });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const { auth_token, expires_in } = (await res.json()) as { auth_token: string; expires_in: number };
      expect(headerOf(auth_token)['typ']).toBe('aa-auth+jwt');
      const c = claimsOf(auth_token);
      expect(c).toMatchObject({ iss: AS, dwk: 'aauth-access.json', ps: PS, aud: RS, sub: 'directed-sub-1', scope: 'notes.read notes.write', cnf: { jwk: f.agent.publicJwk } });
      const agentExp = claimsOf(agentToken)['exp'] as number;
      expect(c['exp']).toBeLessThanOrEqual(Math.min(T0 + 3600, agentExp));
      expect(expires_in).toBe((c['exp'] as number) - T0);
      expect(await f.as.t.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirst()).toMatchObject({ iss: AS, agent_id: AGENT_ID, aud: RS });
    });

    it('[§8.38] a resource token whose ps is not the calling PS → 400 invalid_resource_token', async () => {
      const p = await problem(await asPs({ resource_token: await f.resourceToken({ ...P, iss: 'https://other-ps.example' }), agent_token: await f.agentToken() }));
      expect(p).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      expect(p.detail).toMatch(/another Person Server/);
    });

    it('[§8.38] only Person Servers: an agent-signed request (sig=jwt) → 401 unsupported_scheme; a server with another dwk → 401 invalid_key', async () => {
      const url = `${AS}/token`;
      const bytes = new TextEncoder().encode(JSON.stringify({ resource_token: 'x', agent_token: 'y' }));
      const signed = await signAAuthRequest({ method: 'POST', url, headers: [['content-type', 'application/json']], body: bytes }, { signer: f.agent.signer, token: await f.agentToken(), now: () => f.clock.now });
      const res = await f.as.app.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body: bytes });
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('unsupported_scheme');

      const other = await f.postToAs('/token', { resource_token: 'x', agent_token: 'y' }, { id: PS, dwk: 'aauth-agent.json', signer: psSigner });
      expect(other.status).toBe(401);
    });

    it('agent_token is REQUIRED', async () => {
      expect(await problem(await asPs({ resource_token: await f.resourceToken(P) }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    describe('call chaining: upstream_token (§8.64)', () => {
      /** R1, a resource acting as an agent: its own agent provider (issuer RS, key rs-1), its own request key. */
      async function intermediary(): Promise<{ key: Awaited<ReturnType<typeof party>>; token: string }> {
        const key = await party();
        const token = await mintAgentToken(f.rs.signer, { iss: RS, sub: 'aauth:api@resource.example', cnf: { jwk: key.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
        return { key, token };
      }
      const upstreamToken = (claims: Record<string, unknown> = {}, signer: Signer = psSigner) =>
        mintAuthToken(signer, { iss: PS, ps: PS, aud: RS, sub: 'alice-at-rs', cnf: { jwk: f.agent.publicJwk }, scope: 'notes.read', ...claims }, { now: () => f.clock.now, ttl: 600 });

      it('[§8.64] a chained request: the upstream token verifies (ps = the calling PS, aud = the agent token’s iss); the policy sees it; the token issued ends with it', async () => {
        const r1 = await intermediary();
        let seen: AccessPolicyInput | undefined;
        f.policy = (input) => {
          seen = input;
          return { grant: input.requested.join(' ') };
        };
        const upstream = await upstreamToken();
        const res = await asPs({ resource_token: await f.resourceToken(P, { agent_jkt: r1.key.jkt }), agent_token: r1.token, upstream_token: upstream });
        expect(res.status).toBe(200);
        const c = claimsOf(((await res.json()) as { auth_token: string }).auth_token);
        expect(c).toMatchObject({ iss: AS, ps: PS, aud: RS, sub: P.sub, cnf: { jwk: r1.key.publicJwk } });
        expect(c['exp'] as number).toBeLessThanOrEqual(claimsOf(upstream)['exp'] as number);
        expect(seen?.upstream).toMatchObject({ iss: PS, aud: RS, sub: 'alice-at-rs' });
      });

      it('[§8.64] an upstream token that does not verify, names another PS or another audience, or comes with subagent_token, is refused', async () => {
        const r1 = await intermediary();
        const rt = await f.resourceToken(P, { agent_jkt: r1.key.jkt });
        const chained = (upstream: unknown, extra: Record<string, unknown> = {}) => asPs({ resource_token: rt, agent_token: r1.token, upstream_token: upstream, ...extra });
        expect(await problem(await chained(42))).toMatchObject({ status: 400, error: 'invalid_request' });
        expect(await problem(await chained('a.b.c'))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
        expect(await problem(await chained(await upstreamToken({}, r1.key.signer)))).toMatchObject({ status: 400, error: 'invalid_auth_token' }); // forged
        const otherAud = await problem(await chained(await upstreamToken({ aud: 'https://elsewhere.example' })));
        expect(otherAud).toMatchObject({ status: 400, error: 'invalid_auth_token' });
        expect(otherAud.detail).toMatch(/aud/);
        // An Access Server's token (it verifies under that AS's keys) for another PS's person.
        const otherPs = await problem(await chained(await upstreamToken({ iss: ROGUE, dwk: 'aauth-access.json', ps: 'https://other-ps.example' }, f.rogueSigner)));
        expect(otherPs).toMatchObject({ status: 400, error: 'invalid_auth_token' });
        expect(otherPs.detail).toMatch(/not the Person Server calling/);
        const helper = await party();
        const subagent = await mintAgentToken(f.rs.signer, { iss: RS, sub: 'aauth:api+helper@resource.example', parent_agent: 'aauth:api@resource.example', cnf: { jwk: helper.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
        const combined = await problem(await chained(await upstreamToken(), { subagent_token: subagent }));
        expect(combined).toMatchObject({ status: 400, error: 'invalid_request' });
        expect(combined.detail).toMatch(/cannot be combined/);
        const shortLived = await mintAuthToken(psSigner, { iss: PS, ps: PS, aud: RS, sub: 'alice-at-rs', cnf: { jwk: f.agent.publicJwk } }, { now: () => f.clock.now, ttl: 60 });
        f.clock.now = T0 + 61;
        expect(await problem(await chained(shortLived))).toMatchObject({ status: 400, error: 'expired_auth_token' });
      });
    });

    it('a resource token for another audience, or bound to another key, → 400 invalid_resource_token', async () => {
      const agentToken = await f.agentToken();
      expect(await problem(await asPs({ resource_token: await f.resourceToken(P, { aud: 'https://other-as.example' }), agent_token: agentToken }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      const other = await party();
      expect(await problem(await asPs({ resource_token: await f.resourceToken(P, { agent_jkt: other.jkt }), agent_token: agentToken }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('an expired resource token → 400 expired_resource_token; a bad agent token → 400 invalid_agent_token', async () => {
      const rt = await f.resourceToken(P);
      const agentToken = await f.agentToken();
      f.clock.now = T0 + 400;
      expect(await problem(await asPs({ resource_token: rt, agent_token: await f.agentToken() }))).toMatchObject({ status: 400, error: 'expired_resource_token' });
      f.clock.now = T0;
      expect(await problem(await asPs({ resource_token: rt, agent_token: `${agentToken}x` }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });

    it('sub-agent: agent_token is the parent, subagent_token the sub-agent; the token is bound to the sub-agent key', async () => {
      const sub = await party();
      const subToken = await f.agentToken({ sub: 'aauth:assistant+x@agent.example', parent_agent: AGENT_ID }, { key: sub });
      const res = await asPs({ resource_token: await f.resourceToken(P, { agent_jkt: sub.jkt }), agent_token: await f.agentToken(), subagent_token: subToken });
      expect(res.status).toBe(200);
      expect(claimsOf(((await res.json()) as { auth_token: string }).auth_token)['cnf']).toEqual({ jwk: sub.publicJwk });
      // A sub-agent token as agent_token is refused.
      expect(await problem(await asPs({ resource_token: await f.resourceToken(P, { agent_jkt: sub.jkt }), agent_token: subToken }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });

    it('policy: deny → 403 denied; claims → 202 requirement=claims with a Location the PS POSTs the claims to', async () => {
      f.policy = () => ({ deny: true });
      expect(await problem(await asPs({ resource_token: await f.resourceToken(P), agent_token: await f.agentToken() }))).toMatchObject({ status: 403, error: 'denied' });

      f.policy = (input) => (input.claims?.['email'] === 'a@example.com' ? { grant: 'notes.read' } : { claims: ['email'] });
      const res = await asPs({ resource_token: await f.resourceToken(P), agent_token: await f.agentToken() });
      expect(res.status).toBe(202);
      expect(res.headers.get('aauth-requirement')).toBe('requirement=claims');
      expect(await res.json()).toEqual({ status: 'pending', required_claims: ['email'] });
      const location = res.headers.get('location')!;
      expect(location.startsWith(`${AS}/token/pending/`)).toBe(true);
      const done = await f.postToAs(new URL(location).pathname, { email: 'a@example.com' }, { id: PS, dwk: 'aauth-person.json', signer: psSigner });
      expect(done.status).toBe(200);
      expect(claimsOf(((await done.json()) as { auth_token: string }).auth_token)).toMatchObject({ iss: AS, ps: PS });
      // The pending request is used up.
      expect((await f.postToAs(new URL(location).pathname, { email: 'a@example.com' }, { id: PS, dwk: 'aauth-person.json', signer: psSigner })).status).toBe(404);
    });
  });
}
