/**
 * Agent Provider: metadata, JWKS and enrolment (`POST /enrol` signed `hwk` → 202 → the person approves through the
 * Deferred contract → `hwk`-signed poll → agent token). Runs on SQLite and PostgreSQL. The Deferred service is the
 * in-test `FakeDeferred` (ap-fixture.ts), so only the AP's side of the contract is under test here.
 */
import { AAuthError, jwkThumbprint, parseAgentIdentifier, parseAgentMetadata, parseSignatureError, signHwkRequest, verifyToken } from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentDomain, agentIdentifier, subAgentIdentifier } from '../src/ap/agent-identifier.js';
import { AP, PS, apFixture, enrol, hwk, newKey, send, withToken, type ApFixture } from './ap-fixture.js';
import { STORE_KINDS } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`Agent Provider enrolment on ${kind}`, () => {
    let f: ApFixture;
    beforeAll(async () => {
      f = await apFixture(kind);
    });
    afterAll(() => f.close());

    it('publishes aauth-agent.json with issuer, jwks_uri, algorithms and Tessera endpoint members; JWKS from the key store', async () => {
      const res = await f.app.request(`${AP}/.well-known/aauth-agent.json`);
      expect(res.status).toBe(200);
      const json = (await res.json()) as Record<string, unknown>;
      const metadata = parseAgentMetadata(json, { expectedIssuer: AP });
      expect(metadata.issuer).toBe(AP);
      expect(metadata.jwks_uri).toBe(`${AP}/jwks.json`);
      expect(metadata.accept_signature_algs).toContain('Ed25519');
      expect(metadata.name).toBe('Test Agent Provider');
      expect(json).toMatchObject({
        enrolment_endpoint: `${AP}/enrol`,
        agent_token_endpoint: `${AP}/token`,
        refresh_endpoint: `${AP}/refresh`,
        subagent_endpoint: `${AP}/subagent`,
        revocation_endpoint: `${AP}/revoke`,
      });
      const jwks = await (await f.app.request(`${AP}/jwks.json`)).json();
      expect(jwks).toEqual(await f.ctx.keys.jwks('ap'));
      expect((jwks as { keys: unknown[] }).keys).toHaveLength(1);
    });

    it('enrols: 202 + interaction, the consent view names the agent and key thumbprint, approval issues a verifiable agent token', async () => {
      const key = await newKey();
      const res = await send(f, 'POST', '/enrol', { local: 'assistant', name: 'Travel Assistant', ps: PS, description: 'Books trips' }, hwk(f, key.signer));
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(new RegExp(`^${AP}/pending/[A-Za-z0-9_-]{22}$`));
      expect(res.headers.get('aauth-requirement')).toContain('requirement=interaction');
      const pendingId = res.headers.get('location')!.split('/').pop()!;

      const row = await f.ctx.store.db.selectFrom('ap_agents').selectAll().where('jkt', '=', key.jkt).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ agent_id: 'aauth:assistant@ap.example', status: 'pending', person_id: null, ps: PS, parent_agent: null });

      const pending = f.deferred.rows.get(pendingId)!;
      expect(pending).toMatchObject({ kind: 'enrolment', agent_id: 'aauth:assistant@ap.example', agent_jkt: key.jkt, person_id: null });
      const view = await f.deferred.handler('enrolment')!.describe(pending);
      expect(view.summary).toContain('aauth:assistant@ap.example');
      expect(view.summary).toContain(key.jkt);
      expect(view.agent).toEqual({ id: 'aauth:assistant@ap.example', name: 'Travel Assistant', provider: AP, description: 'Books trips' });
      expect(view.allowAlways).toBe(false);

      // Before approval the poll is pending.
      const early = await send(f, 'GET', `/pending/${pendingId}`, undefined, hwk(f, key.signer));
      expect(early.status).toBe(202);

      await f.deferred.approve(pendingId, { personId: 'person-1', always: false });
      const poll = await send(f, 'GET', `/pending/${pendingId}`, undefined, hwk(f, key.signer));
      expect(poll.status).toBe(200);
      const body = (await poll.json()) as { agent_id: string; agent_token: string; expires_in: number };
      expect(body.agent_id).toBe('aauth:assistant@ap.example');
      expect(body.expires_in).toBe(3600);

      const token = await verifyToken(body.agent_token, { accept: ['aa-agent+jwt'], resolveKey: f.resolveKey, now: () => f.now });
      expect(token.claims).toMatchObject({ iss: AP, dwk: 'aauth-agent.json', sub: 'aauth:assistant@ap.example', ps: PS, iat: f.now, exp: f.now + 3600 });
      expect(token.claims.parent_agent).toBeUndefined();
      expect(await jwkThumbprint(token.claims.cnf.jwk)).toBe(key.jkt);
      expect(token.header.kid).toBe((await f.ctx.keys.signer('ap')).publicJwk.kid);

      const active = await f.ctx.store.db.selectFrom('ap_agents').selectAll().where('jkt', '=', key.jkt).executeTakeFirstOrThrow();
      expect(active).toMatchObject({ status: 'active', person_id: 'person-1' });
      const issued = await f.ctx.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', token.claims.jti).executeTakeFirstOrThrow();
      expect(issued).toMatchObject({ iss: AP, kind: 'aa-agent+jwt', sub: body.agent_id, agent_id: body.agent_id, person_id: 'person-1', exp: f.now + 3600, revoked_at: null });
      const audit = await f.ctx.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'enrolment.approved').where('agent', '=', body.agent_id).execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]!.detail).not.toContain(body.agent_token);
    });

    it('polls must be hwk-signed by the enrolled key: another key gets 404, a jwt-scheme poll 401 unsupported_scheme', async () => {
      const agent = await enrol(f, { local: 'poller' });
      const other = await newKey();
      const wrongKey = await send(f, 'GET', `/pending/${agent.pendingId}`, undefined, hwk(f, other.signer));
      expect(wrongKey.status).toBe(404);
      const jwtPoll = await send(f, 'GET', `/pending/${agent.pendingId}`, undefined, withToken(f, agent.signer, agent.token));
      expect(jwtPoll.status).toBe(401);
      expect(parseSignatureError(jwtPoll.headers.get('signature-error')!).error).toBe('unsupported_scheme');
      expect(jwtPoll.headers.get('accept-signature-scheme')).toBe('hwk');
    });

    it('assigns a random local part when none is asked for; the identifier parses as an agent identifier', async () => {
      const agent = await enrol(f);
      expect(agent.agentId).toMatch(/^aauth:[a-z2-7]{12}@ap\.example$/);
      expect(parseAgentIdentifier(agent.agentId).isSubAgent).toBe(false);
    });

    it('[§8.16] refuses local parts outside [a-z0-9._-]{1,64}, including the sub-agent delimiter +', async () => {
      const key = await newKey();
      for (const local of ['Bad', 'a+b', '', 'x'.repeat(65), 'sp ace', 'é']) {
        const res = await send(f, 'POST', '/enrol', { local }, hwk(f, key.signer));
        expect(res.status, local).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
      }
      expect(await f.ctx.store.db.selectFrom('ap_agents').select('agent_id').where('jkt', '=', key.jkt).execute()).toEqual([]);
    });

    it('refuses a ps that is not a Person Server identifier, and malformed bodies', async () => {
      const key = await newKey();
      for (const body of [{ ps: 'http://ps.example' }, { ps: 'https://ps.example/' }, { name: 42 }, ['x']]) {
        const res = await send(f, 'POST', '/enrol', body, hwk(f, key.signer));
        expect(res.status, JSON.stringify(body)).toBe(400);
      }
    });

    it('[§8.3] an unsigned enrolment is 401 with Signature-Error; [§8.6] a jwt-signed one is unsupported_scheme', async () => {
      const unsigned = await send(f, 'POST', '/enrol', { local: 'nosig' });
      expect(unsigned.status).toBe(401);
      expect(parseSignatureError(unsigned.headers.get('signature-error')!).error).toBe('invalid_request');
      const agent = await enrol(f, { local: 'jwtsigned' });
      const res = await send(f, 'POST', '/enrol', { local: 'second' }, withToken(f, agent.signer, agent.token));
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('unsupported_scheme');
    });

    it('[§8.5] an hwk signature created outside the window is refused', async () => {
      const key = await newKey();
      const stale = await send(f, 'POST', '/enrol', {}, (m) => signHwkRequest(m, { signer: key.signer, created: f.now - 120 }));
      expect(stale.status).toBe(401);
      expect(parseSignatureError(stale.headers.get('signature-error')!).error).toBe('invalid_signature');
    });

    it('an identifier is never taken by another key; an enrolled key cannot enrol again', async () => {
      const first = await enrol(f, { local: 'unique' });
      const other = await newKey();
      const taken = await send(f, 'POST', '/enrol', { local: 'unique' }, hwk(f, other.signer));
      expect(taken.status).toBe(400);
      const again = await send(f, 'POST', '/enrol', { local: 'another' }, hwk(f, first.signer));
      expect(again.status).toBe(400);
      expect(((await again.json()) as { detail: string }).detail).toContain('already enrolled');
    });

    it('a retry with the same key keeps its pending identifier; a pending claim by another key lapses after the pending lifetime', async () => {
      const key = await newKey();
      const r1 = await send(f, 'POST', '/enrol', {}, hwk(f, key.signer));
      const r2 = await send(f, 'POST', '/enrol', {}, hwk(f, key.signer));
      expect(r1.status).toBe(202);
      expect(r2.status).toBe(202);
      const rows = await f.ctx.store.db.selectFrom('ap_agents').select('agent_id').where('jkt', '=', key.jkt).execute();
      expect(rows).toHaveLength(1);

      const squatter = await newKey();
      expect((await send(f, 'POST', '/enrol', { local: 'squat' }, hwk(f, squatter.signer))).status).toBe(202);
      const late = await newKey();
      expect((await send(f, 'POST', '/enrol', { local: 'squat' }, hwk(f, late.signer))).status).toBe(400);
      f.now += 601;
      try {
        expect((await send(f, 'POST', '/enrol', { local: 'squat' }, hwk(f, late.signer))).status).toBe(202);
      } finally {
        f.now -= 601;
      }
    });

    it('approval fails (no token) when the enrolment is no longer pending', async () => {
      const key = await newKey();
      const res = await send(f, 'POST', '/enrol', { local: 'gone' }, hwk(f, key.signer));
      const pendingId = res.headers.get('location')!.split('/').pop()!;
      await f.ctx.store.db.deleteFrom('ap_agents').where('jkt', '=', key.jkt).execute();
      // As the real service does: the request fails with the handler's refusal, which the approver is given too.
      await expect(f.deferred.approve(pendingId, { personId: 'person-1', always: false })).rejects.toBeInstanceOf(AAuthError);
      expect((await f.deferred.get(pendingId))?.status).toBe('failed');
      expect(await f.ctx.store.db.selectFrom('issued_tokens').select('jti').where('sub', '=', 'aauth:gone@ap.example').execute()).toEqual([]);
    });
  });
}

describe('Agent Provider options', () => {
  it('agent-token lifetime is configurable and capped at 24 h', async () => {
    const f = await apFixture('sqlite', { agentTokenTtl: 600 });
    try {
      const agent = await enrol(f, { local: 'short' });
      const token = await verifyToken(agent.token, { accept: ['aa-agent+jwt'], resolveKey: f.resolveKey, now: () => f.now });
      expect(token.claims.exp - token.claims.iat).toBe(600);
    } finally {
      await f.close();
    }
    await expect(apFixture('sqlite', { agentTokenTtl: 24 * 3600 + 1 })).rejects.toThrow(/ttl/);
  });
});

describe('agent identifiers', () => {
  it('the domain is the AP host; development loopback identifiers map to localhost (no port, no IP literal)', () => {
    expect(agentDomain('https://ap.example', false)).toBe('ap.example');
    expect(agentDomain('http://localhost:8081', true)).toBe('localhost');
    expect(agentDomain('http://127.0.0.1:8081', true)).toBe('localhost');
    expect(() => agentDomain('http://localhost:8081', false)).toThrow();
    expect(agentIdentifier('dev-agent', agentDomain('http://localhost:8081', true)).identifier).toBe('aauth:dev-agent@localhost');
  });

  it('[§8.65] sub-agent identifiers are parent+suffix, one level only', () => {
    expect(subAgentIdentifier('aauth:parent@ap.example', 'x').identifier).toBe('aauth:parent+x@ap.example');
    expect(() => subAgentIdentifier('aauth:parent+x@ap.example', 'y')).toThrow(/one level/);
    expect(() => subAgentIdentifier('aauth:parent@ap.example', 'a+b')).toThrow();
  });
});
