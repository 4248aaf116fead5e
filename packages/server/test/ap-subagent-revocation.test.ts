/**
 * Agent Provider: sub-agent tokens (`POST /subagent`, AAuth -11 §Sub-Agents, digest §6-H, §8.65) and revocation
 * (`POST /revoke`, §Token Revocation, §8.61) with the Person Server notified by a `jwks_uri`-signed request
 * (HTTP Signature Keys -08 §JWKS URI), captured by the fixture's fake fetch. SQLite and PostgreSQL.
 */
import {
  AAuthError,
  fromUtf8,
  importVerifyKey,
  jwkThumbprint,
  parseSignatureKey,
  selectJwk,
  verifyServerRequest,
  verifyToken,
  type KeyResolver,
} from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AP, PS, apFixture, enrol, newKey, send, withToken, type ApFixture, type EnrolledAgent } from './ap-fixture.js';
import { STORE_KINDS } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`Agent Provider sub-agents and revocation on ${kind}`, () => {
    let f: ApFixture;
    beforeAll(async () => {
      f = await apFixture(kind);
    });
    afterAll(() => f.close());

    const verify = (jwt: string) => verifyToken(jwt, { accept: ['aa-agent+jwt'], resolveKey: f.resolveKey, now: () => f.now });

    async function subAgent(parent: EnrolledAgent, body: Record<string, unknown>) {
      return send(f, 'POST', '/subagent', body, withToken(f, parent.signer, parent.token));
    }

    async function registry(id: string, delegationAllowed: 0 | 1): Promise<void> {
      await f.ctx.store.db
        .insertInto('agents')
        .values({
          id,
          name: id,
          description: '',
          agent_provider: AP,
          jwks_uri: null,
          jwks: null,
          allowed_scopes: '[]',
          requires_authorization: 0,
          delegation_allowed: delegationAllowed,
          status: 'active',
          person_id: null,
          created_at: f.now,
          updated_at: f.now,
        })
        .execute();
    }

    it('[§8.34] issues a sub-agent token: sub parent+suffix, parent_agent, cnf = the sub-agent key, not outliving the parent', async () => {
      const parent = await enrol(f, { local: 'parent', ps: PS });
      const child = await newKey('ES256');
      f.now += 600;
      try {
        const res = await subAgent(parent, { key: child.jwk, name: 'Researcher', local_suffix: 'research' });
        expect(res.status, await res.clone().text()).toBe(200);
        const body = (await res.json()) as { agent_id: string; agent_token: string; expires_in: number };
        expect(body.agent_id).toBe('aauth:parent+research@ap.example');
        const token = await verify(body.agent_token);
        const parentToken = await verify(parent.token);
        expect(token.claims).toMatchObject({ iss: AP, sub: 'aauth:parent+research@ap.example', parent_agent: parent.agentId, ps: PS });
        expect(await jwkThumbprint(token.claims.cnf.jwk)).toBe(child.jkt);
        expect(token.claims.exp).toBe(parentToken.claims.exp);
        expect(body.expires_in).toBe(3000);
        const row = await f.ctx.store.db.selectFrom('ap_agents').selectAll().where('agent_id', '=', body.agent_id).executeTakeFirstOrThrow();
        expect(row).toMatchObject({ jkt: child.jkt, parent_agent: parent.agentId, status: 'active', person_id: 'person-1', ps: PS });

        // The sub-agent renews with its own token.
        const child2 = { ...child, token: body.agent_token };
        const renewed = await send(f, 'POST', '/token', {}, withToken(f, child2.signer, child2.token));
        expect(renewed.status).toBe(200);
        expect((await verify(((await renewed.json()) as { agent_token: string }).agent_token)).claims.parent_agent).toBe(parent.agentId);
      } finally {
        f.now -= 600;
      }
    });

    it('[§8.65] no sub-agent tokens for sub-agents', async () => {
      const parent = await enrol(f, { local: 'nester' });
      const child = await newKey();
      const first = (await (await subAgent(parent, { key: child.jwk, local_suffix: 'one' })).json()) as { agent_token: string };
      const grandchild = await newKey();
      const res = await send(f, 'POST', '/subagent', { key: grandchild.jwk, local_suffix: 'two' }, withToken(f, child.signer, first.agent_token));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain('sub-agent');
      expect(await f.ctx.store.db.selectFrom('ap_agents').select('agent_id').where('jkt', '=', grandchild.jkt).execute()).toEqual([]);
      const audit = await f.ctx.store.db.selectFrom('audit_events').select('type').where('type', '=', 'subagent.denied').where('agent', '=', 'aauth:nester+one@ap.example').execute();
      expect(audit).toHaveLength(1);
    });

    it('refuses when the registry does not allow delegation for the parent (403 denied); allows it when it does', async () => {
      const parent = await enrol(f, { local: 'nodelegation' });
      await registry(parent.agentId, 0);
      const child = await newKey();
      const res = await subAgent(parent, { key: child.jwk });
      expect(res.status).toBe(403);
      expect(res.headers.get('signature-error')).toBeNull();
      expect(((await res.json()) as { error: string }).error).toBe('denied');

      const allowed = await enrol(f, { local: 'delegates' });
      await registry(allowed.agentId, 1);
      const ok = await subAgent(allowed, { key: child.jwk });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { agent_id: string }).agent_id).toMatch(/^aauth:delegates\+[a-z2-7]{12}@ap\.example$/);
    });

    it('refuses bad keys and suffixes: private JWK, symmetric key, the parent key itself, a + in the suffix', async () => {
      const parent = await enrol(f, { local: 'keys' });
      const child = await newKey();
      for (const body of [
        { key: { ...child.jwk, d: 'x'.repeat(43) } },
        { key: { kty: 'oct', k: 'AAAA', alg: 'HS256' } },
        { key: { kty: 'OKP', crv: 'Ed25519', x: child.jwk.x } },
        { key: parent.jwk },
        { key: child.jwk, local_suffix: 'a+b' },
        { key: child.jwk, local_suffix: 'UP' },
        {},
      ]) {
        const res = await subAgent(parent, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
      }
    });

    it('a sub-agent identifier held by another live key is refused', async () => {
      const parent = await enrol(f, { local: 'holder' });
      const a = await newKey();
      const b = await newKey();
      expect((await subAgent(parent, { key: a.jwk, local_suffix: 'x' })).status).toBe(200);
      expect((await subAgent(parent, { key: a.jwk, local_suffix: 'x' })).status).toBe(200);
      expect((await subAgent(parent, { key: b.jwk, local_suffix: 'x' })).status).toBe(400);
    });

    it('[§8.61] revokes one token by jti, tells the PS with a jwks_uri-signed request, and the token is refused from then on', async () => {
      const agent = await enrol(f, { local: 'revoker', ps: PS });
      const { claims } = await verify(agent.token);
      const spare = (await (await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token))).json()) as { agent_token: string };
      f.sent.length = 0;
      const res = await send(f, 'POST', '/revoke', { jti: claims.jti }, withToken(f, agent.signer, agent.token));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.json()).toEqual({ revoked: 1 });

      expect(await f.ctx.store.db.selectFrom('revocations').selectAll().where('jti', '=', claims.jti).executeTakeFirst()).toMatchObject({ iss: AP, exp: claims.exp });
      expect((await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token))).status).toBe(400);
      expect((await send(f, 'POST', '/token', {}, withToken(f, agent.signer, spare.agent_token))).status).toBe(200);

      expect(f.sent).toHaveLength(1);
      const notice = f.sent[0]!;
      expect(notice).toMatchObject({ url: `${PS}/revoke`, method: 'POST' });
      expect(JSON.parse(fromUtf8(notice.body))).toEqual({ iss: AP, jti: claims.jti });
      const apKid = (await f.ctx.keys.signer('ap')).publicJwk.kid;
      const member = parseSignatureKey(notice.headers['signature-key']!).get('sig');
      expect(member).toEqual({ scheme: 'jwks_uri', id: AP, dwk: 'aauth-agent.json', kid: apKid });
      // The PS can verify it: the AP's key by {id}/.well-known/{dwk} → jwks_uri → kid; body covered.
      const psResolver: KeyResolver = async ({ iss, dwk, kid }) => {
        if (iss !== AP || dwk !== 'aauth-agent.json') throw new AAuthError('unknown_key');
        return importVerifyKey(selectJwk(await f.ctx.keys.jwks('ap'), kid));
      };
      const verified = await verifyServerRequest(
        { method: notice.method, url: notice.url, headers: Object.entries(notice.headers), body: notice.body },
        { resolveKey: psResolver, now: () => f.now, requireContentDigest: true },
      );
      expect(verified.ok, verified.ok ? '' : verified.error.message).toBe(true);
      if (verified.ok) {
        expect(verified.value.id).toBe(AP);
        expect(verified.value.components).toEqual(expect.arrayContaining(['content-digest', 'content-type']));
      }
      const audit = await f.ctx.store.db.selectFrom('audit_events').select('type').where('agent', '=', agent.agentId).where('type', 'in', ['token.revoked', 'revocation.notified']).execute();
      expect(audit.map((a) => a.type).sort()).toEqual(['revocation.notified', 'token.revoked']);
    });

    it('revoking an agent ends its enrolment and its sub-agents, revokes all their live tokens', async () => {
      const parent = await enrol(f, { local: 'family', ps: PS });
      const child = await newKey();
      const sub = (await (await subAgent(parent, { key: child.jwk, local_suffix: 'kid' })).json()) as { agent_id: string; agent_token: string };
      f.sent.length = 0;
      const res = await send(f, 'POST', '/revoke', { agent_id: parent.agentId }, withToken(f, parent.signer, parent.token));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ revoked: 2 });
      const rows = await f.ctx.store.db.selectFrom('ap_agents').select(['agent_id', 'status']).where('agent_id', 'in', [parent.agentId, sub.agent_id]).execute();
      expect(rows.map((r) => r.status)).toEqual(['revoked', 'revoked']);
      expect((await send(f, 'POST', '/token', {}, withToken(f, child.signer, sub.agent_token))).status).toBe(400);
      expect(f.sent).toHaveLength(2);
    });

    it('a parent may revoke its sub-agent; an agent may not revoke another agent or its tokens (404, as unknown)', async () => {
      const parent = await enrol(f, { local: 'guardian' });
      const child = await newKey();
      const sub = (await (await subAgent(parent, { key: child.jwk, local_suffix: 'ward' })).json()) as { agent_id: string; agent_token: string };
      const stranger = await enrol(f, { local: 'stranger' });
      const strangerJti = (await verify(stranger.token)).claims.jti;

      expect((await send(f, 'POST', '/revoke', { jti: strangerJti }, withToken(f, parent.signer, parent.token))).status).toBe(404);
      expect((await send(f, 'POST', '/revoke', { agent_id: stranger.agentId }, withToken(f, parent.signer, parent.token))).status).toBe(404);
      expect((await send(f, 'POST', '/revoke', { jti: 'no-such-jti' }, withToken(f, parent.signer, parent.token))).status).toBe(404);
      // A sub-agent cannot revoke its parent.
      expect((await send(f, 'POST', '/revoke', { agent_id: parent.agentId }, withToken(f, child.signer, sub.agent_token))).status).toBe(404);
      expect((await send(f, 'POST', '/revoke', { jti: 'x', agent_id: 'y' }, withToken(f, parent.signer, parent.token))).status).toBe(400);
      expect((await send(f, 'POST', '/token', {}, withToken(f, stranger.signer, stranger.token))).status).toBe(200);

      expect((await send(f, 'POST', '/revoke', { agent_id: sub.agent_id }, withToken(f, parent.signer, parent.token))).status).toBe(200);
      expect((await send(f, 'POST', '/token', {}, withToken(f, child.signer, sub.agent_token))).status).toBe(400);
      expect((await send(f, 'POST', '/token', {}, withToken(f, parent.signer, parent.token))).status).toBe(200);
    });

    it('a PS that refuses the notice is audited as notify_failed; the revocation still stands', async () => {
      const agent = await enrol(f, { local: 'unheard', ps: PS });
      const { claims } = await verify(agent.token);
      f.psStatus = 500;
      try {
        const res = await send(f, 'POST', '/revoke', { jti: claims.jti }, withToken(f, agent.signer, agent.token));
        expect(res.status).toBe(200);
      } finally {
        f.psStatus = 200;
      }
      const failed = await f.ctx.store.db.selectFrom('audit_events').select('detail').where('type', '=', 'revocation.notify_failed').where('agent', '=', agent.agentId).execute();
      expect(failed).toHaveLength(1);
      expect(JSON.parse(failed[0]!.detail)).toMatchObject({ ps: PS, jti: claims.jti, status: 500 });
      expect(await f.ctx.store.db.selectFrom('revocations').select('jti').where('jti', '=', claims.jti).executeTakeFirst()).toBeDefined();
    });

    it('an agent without a PS is revoked without any notice', async () => {
      const agent = await enrol(f, { local: 'loner' });
      const { claims } = await verify(agent.token);
      f.sent.length = 0;
      expect((await send(f, 'POST', '/revoke', { jti: claims.jti }, withToken(f, agent.signer, agent.token))).status).toBe(200);
      expect(f.sent).toEqual([]);
    });
  });
}
