/**
 * Agent Provider: renewal (`POST /token`, signed with a valid agent token) and key refresh (`POST /refresh`,
 * `Signature-Key: sig=jkt-jwt` — HTTP Signature Keys -08 §jkt-jwt; AAuth Bootstrap §Two-Key Refresh). SQLite and
 * PostgreSQL; the Deferred service is the in-test fake (ap-fixture.ts).
 */
import { createSigner, generateKeyPair, jwkThumbprint, mintAgentToken, mintJktToken, parseSignatureError, verifyToken } from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AP, PS, apFixture, enrol, hwk, newKey, send, withJktJwt, withToken, type ApFixture } from './ap-fixture.js';
import { STORE_KINDS } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`Agent Provider renewal and key refresh on ${kind}`, () => {
    let f: ApFixture;
    beforeAll(async () => {
      f = await apFixture(kind);
    });
    afterAll(() => f.close());

    const verify = (jwt: string) => verifyToken(jwt, { accept: ['aa-agent+jwt'], resolveKey: f.resolveKey, now: () => f.now });

    it('renews: a fresh agent token for the same agent, key and ps, recorded and audited', async () => {
      const agent = await enrol(f, { local: 'renewer', ps: PS });
      f.now += 100;
      try {
        const res = await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token));
        expect(res.status, await res.clone().text()).toBe(200);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const body = (await res.json()) as { agent_id: string; agent_token: string; expires_in: number };
        expect(body.agent_id).toBe(agent.agentId);
        const fresh = await verify(body.agent_token);
        const old = await verify(agent.token);
        expect(fresh.claims).toMatchObject({ iss: AP, sub: agent.agentId, ps: PS, iat: f.now, exp: f.now + 3600 });
        expect(fresh.claims.jti).not.toBe(old.claims.jti);
        expect(await jwkThumbprint(fresh.claims.cnf.jwk)).toBe(agent.jkt);
        expect(await f.ctx.store.db.selectFrom('issued_tokens').select('jti').where('jti', '=', fresh.claims.jti).executeTakeFirst()).toBeDefined();
        const audit = await f.ctx.store.db.selectFrom('audit_events').select('type').where('type', '=', 'agent_token.renewed').where('agent', '=', agent.agentId).execute();
        expect(audit).toHaveLength(1);
      } finally {
        f.now -= 100;
      }
    });

    it('[§8.61] a revoked agent token cannot renew → 400 invalid_agent_token', async () => {
      const agent = await enrol(f, { local: 'revokedrenew' });
      const { claims } = await verify(agent.token);
      await f.ctx.store.db.insertInto('revocations').values({ iss: AP, jti: claims.jti, revoked_at: f.now, exp: claims.exp }).execute();
      const res = await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_agent_token');
      const denied = await f.ctx.store.db.selectFrom('audit_events').select('type').where('type', '=', 'agent_token.renewal_denied').where('agent', '=', agent.agentId).execute();
      expect(denied).toHaveLength(1);
    });

    it('a disabled agent (registry) or an ended enrolment cannot renew', async () => {
      const agent = await enrol(f, { local: 'disabled' });
      await f.ctx.store.db
        .insertInto('agents')
        .values({
          id: agent.agentId,
          name: agent.agentId,
          description: '',
          agent_provider: AP,
          jwks_uri: null,
          jwks: null,
          allowed_scopes: '[]',
          requires_authorization: 0,
          delegation_allowed: 1,
          status: 'disabled',
          person_id: null,
          created_at: f.now,
          updated_at: f.now,
        })
        .execute();
      const res = await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_agent_token');

      const ended = await enrol(f, { local: 'ended' });
      await f.ctx.store.db.updateTable('ap_agents').set({ status: 'revoked' }).where('agent_id', '=', ended.agentId).execute();
      const res2 = await send(f, 'POST', '/token', {}, withToken(f, ended.signer, ended.token));
      expect(res2.status).toBe(400);
    });

    it('an agent token from another issuer is not renewed here: its key is not resolved (401 invalid_jwt), nothing fetched', async () => {
      const key = await newKey();
      const foreign = await createSigner(await generateKeyPair('Ed25519', 'foreign-1'));
      const token = await mintAgentToken(foreign, { iss: 'https://other.example', sub: 'aauth:x@other.example', cnf: { jwk: key.jwk } }, { now: () => f.now });
      f.sent.length = 0;
      const res = await send(f, 'POST', '/token', {}, withToken(f, key.signer, token));
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('invalid_jwt');
      expect(((await res.json()) as { detail: string }).detail).toContain('not issued by this agent provider');
      expect(f.sent).toEqual([]);
    });

    it('[§8.17] renewal signed by a key other than the token cnf → 401 invalid_signature', async () => {
      const agent = await enrol(f, { local: 'wrongsigner' });
      const other = await newKey();
      const res = await send(f, 'POST', '/token', {}, withToken(f, other.signer, agent.token));
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('invalid_signature');
    });

    it('refreshes the key with a jkt-s256+jwt: same agent, new cnf, old enrolment and its tokens revoked', async () => {
      const agent = await enrol(f, { local: 'rotator', ps: PS });
      const renewed = (await (await send(f, 'POST', '/token', {}, withToken(f, agent.signer, agent.token))).json()) as { agent_token: string };
      const next = await newKey();
      const jkt = await mintJktToken(agent.signer, { cnf: { jwk: next.jwk } }, { now: () => f.now, ttl: 300 });
      f.sent.length = 0;
      const res = await send(f, 'POST', '/refresh', {}, withJktJwt(f, next.signer, jkt));
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as { agent_id: string; agent_token: string; expires_in: number };
      expect(body.agent_id).toBe(agent.agentId);
      const token = await verify(body.agent_token);
      expect(token.claims).toMatchObject({ sub: agent.agentId, ps: PS });
      expect(await jwkThumbprint(token.claims.cnf.jwk)).toBe(next.jkt);

      const rows = await f.ctx.store.db.selectFrom('ap_agents').select(['jkt', 'status', 'person_id']).where('agent_id', '=', agent.agentId).orderBy('created_at').execute();
      expect(rows).toHaveLength(2);
      expect(rows.find((r) => r.jkt === agent.jkt)?.status).toBe('revoked');
      expect(rows.find((r) => r.jkt === next.jkt)).toMatchObject({ status: 'active', person_id: 'person-1' });

      // Rotating the key invalidates every token bound to the old one (digest §7).
      for (const old of [agent.token, renewed.agent_token]) {
        const { claims } = await verify(old);
        expect(await f.ctx.store.db.selectFrom('revocations').select('jti').where('iss', '=', AP).where('jti', '=', claims.jti).executeTakeFirst()).toBeDefined();
        const issued = await f.ctx.store.db.selectFrom('issued_tokens').select('revoked_at').where('jti', '=', claims.jti).executeTakeFirstOrThrow();
        expect(issued.revoked_at).toBe(f.now);
      }
      const stale = await send(f, 'POST', '/token', {}, withToken(f, agent.signer, renewed.agent_token));
      expect(stale.status).toBe(400);
      // The new token renews.
      expect((await send(f, 'POST', '/token', {}, withToken(f, next.signer, body.agent_token))).status).toBe(200);
      // The Person Server was told of both revoked tokens.
      expect(f.sent.map((s) => s.url)).toEqual([`${PS}/revoke`, `${PS}/revoke`]);
      const audit = await f.ctx.store.db.selectFrom('audit_events').select('detail').where('type', '=', 'agent.key_refreshed').where('agent', '=', agent.agentId).executeTakeFirstOrThrow();
      expect(JSON.parse(audit.detail)).toMatchObject({ old_jkt: agent.jkt, new_jkt: next.jkt, revoked: 2 });

      // The same jkt-jwt cannot be used again: the delegating key is no longer enrolled.
      const third = await newKey();
      const replay = await send(f, 'POST', '/refresh', {}, withJktJwt(f, third.signer, await mintJktToken(agent.signer, { cnf: { jwk: third.jwk } }, { now: () => f.now })));
      expect(replay.status).toBe(400);
      // And the replaced key cannot enrol again.
      expect((await send(f, 'POST', '/enrol', {}, hwk(f, agent.signer))).status).toBe(400);
    });

    it('refresh: a delegating key that is not enrolled → 400; the new key must differ and be new', async () => {
      const stranger = await newKey();
      const next = await newKey();
      const unknown = await send(f, 'POST', '/refresh', {}, withJktJwt(f, next.signer, await mintJktToken(stranger.signer, { cnf: { jwk: next.jwk } }, { now: () => f.now })));
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { error: string }).error).toBe('invalid_request');

      const agent = await enrol(f, { local: 'samekey' });
      const same = await send(f, 'POST', '/refresh', {}, withJktJwt(f, agent.signer, await mintJktToken(agent.signer, { cnf: { jwk: agent.jwk } }, { now: () => f.now })));
      expect(same.status).toBe(400);

      const otherAgent = await enrol(f, { local: 'otheragent' });
      const taken = await send(f, 'POST', '/refresh', {}, withJktJwt(f, otherAgent.signer, await mintJktToken(agent.signer, { cnf: { jwk: otherAgent.jwk } }, { now: () => f.now })));
      expect(taken.status).toBe(400);
      expect((await f.ctx.store.db.selectFrom('ap_agents').select('status').where('jkt', '=', agent.jkt).executeTakeFirstOrThrow()).status).toBe('active');
    });

    it('refresh: the request must be signed by the delegated (new) key → 401 invalid_signature otherwise', async () => {
      const agent = await enrol(f, { local: 'signedbyold' });
      const next = await newKey();
      const jkt = await mintJktToken(agent.signer, { cnf: { jwk: next.jwk } }, { now: () => f.now });
      const res = await send(f, 'POST', '/refresh', {}, withJktJwt(f, agent.signer, jkt));
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('invalid_signature');
    });

    it('refresh: [§8.6] another scheme → unsupported_scheme naming jkt-jwt; an expired jkt-jwt → expired_jwt; a tampered one → invalid_jwt', async () => {
      const agent = await enrol(f, { local: 'schemes' });
      const wrong = await send(f, 'POST', '/refresh', {}, withToken(f, agent.signer, agent.token));
      expect(wrong.status).toBe(401);
      expect(parseSignatureError(wrong.headers.get('signature-error')!).error).toBe('unsupported_scheme');
      expect(wrong.headers.get('accept-signature-scheme')).toBe('jkt-jwt');

      const next = await newKey();
      const expired = await mintJktToken(agent.signer, { cnf: { jwk: next.jwk } }, { now: () => f.now - 400, ttl: 300 });
      const res = await send(f, 'POST', '/refresh', {}, withJktJwt(f, next.signer, expired));
      expect(res.status).toBe(401);
      expect(parseSignatureError(res.headers.get('signature-error')!).error).toBe('expired_jwt');

      const good = await mintJktToken(agent.signer, { cnf: { jwk: next.jwk } }, { now: () => f.now });
      const [h, p, s] = good.split('.');
      const tampered = `${h}.${p}.${s!.slice(0, -4)}AAAA`;
      const bad = await send(f, 'POST', '/refresh', {}, withJktJwt(f, next.signer, tampered));
      expect(bad.status).toBe(401);
      expect(parseSignatureError(bad.headers.get('signature-error')!).error).toBe('invalid_jwt');
      expect((await f.ctx.store.db.selectFrom('ap_agents').select('status').where('jkt', '=', agent.jkt).executeTakeFirstOrThrow()).status).toBe('active');
    });
  });
}
