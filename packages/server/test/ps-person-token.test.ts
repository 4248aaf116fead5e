/**
 * `POST /person-token` (AAuth -11 §Person Token Endpoint; digest §5, §8.18, §8.19, §8.33, §8.41), and the pending
 * handler of kind `person_token`, over the in-memory Deferred service.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deriveDirectedSubject, subjectSecret } from '../src/ps/directed-subject.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, AP, claimsOf, headerOf, party, PS, psFixture, RS, RS2, T0, type PsFixture } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string; sigError: string | null }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }), sigError: res.headers.get('signature-error') };
}

for (const kind of STORE_KINDS) {
  describe(`POST /person-token on ${kind}`, () => {
    let f: PsFixture;
    beforeEach(async () => {
      f = await psFixture(kind);
    });
    afterEach(() => f.close());

    /** Asks for a person token, approves it as `personId`, returns the token. */
    async function approved(personId: string, resource = RS, always = false): Promise<string> {
      const res = await f.post('/person-token', { resource });
      expect(res.status).toBe(202);
      const done = await f.deferred.approve(f.deferred.last().id, { personId, always });
      return (JSON.parse(done.result!) as { person_token: string }).person_token;
    }

    it('first request for a resource asks the person: 202 pending, the agent registered unbound', async () => {
      const res = await f.post('/person-token', { resource: RS }, { headers: { prefer: 'wait=20' } });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(new RegExp(`^${PS}/pending/`));
      expect(await res.json()).toEqual({ status: 'pending' });
      expect(f.deferred.lastWait).toBe(20);
      const pending = f.deferred.last();
      expect(pending.kind).toBe('person_token');
      expect(pending.agent_id).toBe(AGENT_ID);
      expect(pending.agent_jkt).toBe(f.agent.jkt);
      expect(pending.person_id).toBeNull();
      const agent = await f.t.store.db.selectFrom('agents').selectAll().where('id', '=', AGENT_ID).executeTakeFirstOrThrow();
      expect(agent).toMatchObject({ name: AGENT_ID, agent_provider: AP, person_id: null, status: 'active' });
      const view = await f.deferred.handlers.get('person_token')!.describe(pending);
      expect(view).toMatchObject({ agent: { id: AGENT_ID, name: AGENT_ID, provider: AP }, resource: { id: RS, name: RS }, scopes: [], allowAlways: true });
      expect(view.summary).toContain(RS);
    });

    it('[§8.19] approval mints the person token: typ, aud = resource, directed sub, cnf = signer, no scope/account, ≤ 1 h', async () => {
      const alice = await f.person('alice');
      const token = await approved(alice);
      const header = headerOf(token);
      const claims = claimsOf(token);
      expect(header['typ']).toBe('aa-person+jwt');
      expect(header['kid']).toBe((await f.ctx.keys.signer('ps')).publicJwk.kid);
      expect(claims['iss']).toBe(PS);
      expect(claims['dwk']).toBe('aauth-person.json');
      expect(claims['aud']).toBe(RS);
      expect(claims['cnf']).toEqual({ jwk: f.agent.publicJwk });
      expect(claims['scope']).toBeUndefined();
      expect(claims['account']).toBeUndefined();
      expect(claims['iat']).toBe(T0);
      expect(claims['exp']).toBe(T0 + 3600);
      const secret = await subjectSecret(f.ctx);
      expect(claims['sub']).toBe(deriveDirectedSubject(secret, alice, RS));
      expect((claims['sub'] as string).length).toBe(32);
      // Verifiable with the PS's published key.
      const result = JSON.parse(f.deferred.last().result!) as { expires_in: number };
      expect(result.expires_in).toBe(3600);
    });

    it('[§8.20] retains a record of the person token past its exp, and an issued_tokens row; audits token.issued', async () => {
      const alice = await f.person('alice');
      const token = await approved(alice);
      const c = claimsOf(token);
      const record = await f.t.store.db.selectFrom('person_token_records').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
      expect(record).toMatchObject({ ps: PS, sub: c['sub'], resource: RS, agent_id: AGENT_ID, agent_jkt: f.agent.jkt, person_id: alice, mission_s256: null, tenant: null, exp: T0 + 3600, retain_until: T0 + 7200 });
      const issued = await f.t.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
      expect(issued).toMatchObject({ iss: PS, kind: 'person_token', agent_id: AGENT_ID, aud: RS, person_id: alice, revoked_at: null });
      const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.issued').execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ agent: AGENT_ID, person: alice, resource: RS });
      expect(audit[0]!.detail).not.toContain(token);
      const all = await f.t.store.db.selectFrom('audit_events').select('detail').execute();
      const secret = (await subjectSecret(f.ctx)).toString('base64url');
      for (const a of all) expect(a.detail).not.toContain(secret);
    });

    it('directed sub: pairwise per resource, stable for the same resource, different per person', async () => {
      const alice = await f.person('alice');
      const bob = await f.person('bob');
      const a1 = claimsOf(await approved(alice, RS))['sub'];
      const a2 = claimsOf(await approved(alice, RS))['sub'];
      const a3 = claimsOf(await approved(alice, RS2))['sub'];
      expect(a1).toBe(a2);
      expect(a3).not.toBe(a1);
      const secret = await subjectSecret(f.ctx);
      expect(deriveDirectedSubject(secret, bob, RS)).not.toBe(a1);
      const row = await f.t.store.db.selectFrom('settings').select('value').where('key', '=', 'subject_secret').executeTakeFirstOrThrow();
      expect(typeof JSON.parse(row.value)).toBe('string');
      expect(Buffer.from(JSON.parse(row.value) as string, 'base64url')).toHaveLength(32);
    });

    it('binds the agent to the first approver; another person cannot approve for it (denied)', async () => {
      const alice = await f.person('alice');
      const bob = await f.person('bob');
      await approved(alice);
      const agent = await f.t.store.db.selectFrom('agents').select('person_id').where('id', '=', AGENT_ID).executeTakeFirstOrThrow();
      expect(agent.person_id).toBe(alice);
      const res = await f.post('/person-token', { resource: RS2 });
      expect(res.status).toBe(202);
      expect(f.deferred.last().person_id).toBe(alice);
      await expect(f.deferred.approve(f.deferred.last().id, { personId: bob, always: false })).rejects.toMatchObject({ code: 'denied' });
    });

    it('approve always creates a standing grant: the next request is answered 200 at once', async () => {
      const alice = await f.person('alice');
      await approved(alice, RS, true);
      const grants = await f.t.store.db.selectFrom('grants').selectAll().execute();
      expect(grants).toHaveLength(1);
      expect(grants[0]).toMatchObject({ person_id: alice, agent_id: AGENT_ID, resource: RS, kind: 'person_token', revoked_at: null });
      f.clock.now = T0 + 10;
      const res = await f.post('/person-token', { resource: RS });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as { person_token: string; expires_in: number };
      expect(body.expires_in).toBe(3600);
      expect(claimsOf(body.person_token)['aud']).toBe(RS);
      // The grant is per resource.
      expect((await f.post('/person-token', { resource: RS2 })).status).toBe(202);
    });

    it('an agent that requires authorization is asked every time, grant or not, and is offered no "always"', async () => {
      const alice = await f.person('alice');
      await approved(alice, RS, true);
      await f.t.store.db.updateTable('agents').set({ requires_authorization: 1 }).where('id', '=', AGENT_ID).execute();
      const res = await f.post('/person-token', { resource: RS });
      expect(res.status).toBe(202);
      const view = await f.deferred.handlers.get('person_token')!.describe(f.deferred.last());
      expect(view.allowAlways).toBe(false);
      await f.deferred.approve(f.deferred.last().id, { personId: alice, always: true });
      expect(await f.t.store.db.selectFrom('grants').selectAll().execute()).toHaveLength(1);
    });

    it('prompt=consent asks the person despite a grant; prompt=none without a grant → 403 user_unreachable', async () => {
      const alice = await f.person('alice');
      await approved(alice, RS, true);
      expect((await f.post('/person-token', { resource: RS, prompt: 'consent' })).status).toBe(202);
      expect((await f.post('/person-token', { resource: RS, prompt: 'none' })).status).toBe(200);
      const res = await f.post('/person-token', { resource: RS2, prompt: 'none' });
      const p = await problem(res);
      expect(p).toMatchObject({ status: 403, error: 'user_unreachable', sigError: null });
      expect(res.headers.get('accept-signature-alg')).toBeNull();
    });

    it('[§8.41] the person token never outlives the agent token', async () => {
      const alice = await f.person('alice');
      const token = await f.agentToken({}, { ttl: 600 });
      expect((await f.post('/person-token', { resource: RS }, { token })).status).toBe(202);
      await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      const c = claimsOf((JSON.parse(f.deferred.last().result!) as { person_token: string }).person_token);
      expect(c['exp']).toBe(T0 + 600);
    });

    it('an approval after the agent token expired fails with expired_agent_token', async () => {
      const alice = await f.person('alice');
      const token = await f.agentToken({}, { ttl: 60 });
      expect((await f.post('/person-token', { resource: RS }, { token })).status).toBe(202);
      f.clock.now = T0 + 61;
      await expect(f.deferred.approve(f.deferred.last().id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'expired_agent_token' });
    });

    it('[§8.18] resource is REQUIRED: missing → 400 invalid_request', async () => {
      expect(await problem(await f.post('/person-token', {}))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('[§8.18] resource must be a server identifier (https, no port, path or trailing slash)', async () => {
      for (const resource of ['http://resource.example', 'https://resource.example:8443', 'https://resource.example/', 'https://Resource.example', 'https://resource.example/api', 42]) {
        expect(await problem(await f.post('/person-token', { resource })), String(resource)).toMatchObject({ status: 400, error: 'invalid_request' });
      }
    });

    it('[§8.18] a mission the PS does not hold → 404 mission_not_found (ps-governance.test.ts covers foreign and inactive)', async () => {
      const res = await f.post('/person-token', { resource: RS, mission_s256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' });
      expect(await problem(res)).toMatchObject({ status: 404, error: 'mission_not_found' });
    });

    it('[§8.60] bad JSON, a non-object or a non-JSON content type → 400 problem+json invalid_request', async () => {
      for (const body of ['{not json', '[1,2]', '"resource"']) {
        const res = await f.post('/person-token', body);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(await problem(res)).toMatchObject({ status: 400, error: 'invalid_request' });
      }
      const res = await f.post('/person-token', `resource=${RS}`, { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(await problem(res)).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('checks prompt, platform, device and capabilities values', async () => {
      const bad: Record<string, unknown>[] = [
        { prompt: 'always' },
        { prompt: 'none consent' },
        { prompt: 7 },
        { platform: 'mainframe' },
        { device: 'x'.repeat(65) },
        { device: 'Chrome\u0007' },
        { capabilities: 'interaction' },
        { justification: 5 },
      ];
      for (const extra of bad) {
        expect(await problem(await f.post('/person-token', { resource: RS, ...extra })), JSON.stringify(extra)).toMatchObject({ status: 400, error: 'invalid_request' });
      }
      const ok = await f.post('/person-token', { resource: RS, prompt: 'login consent', platform: 'self-hosted', device: 'Pixel 8 (App) — ✓'.padEnd(64, '.'), capabilities: ['interaction', 'future'] });
      expect(ok.status).toBe(202);
      const request = JSON.parse(f.deferred.last().request) as Record<string, unknown>;
      expect(request).toMatchObject({ platform: 'self-hosted', prompt: 'login consent' });
    });

    it('[§8.33] a request signed with a sub-agent token (parent_agent) → 400 invalid_agent_token', async () => {
      const token = await f.agentToken({ sub: 'aauth:assistant+research@agent.example', parent_agent: AGENT_ID });
      expect(await problem(await f.post('/person-token', { resource: RS }, { token }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });

    it('refuses a disabled agent, an untrusted agent provider and an untrusted resource', async () => {
      expect((await f.post('/person-token', { resource: RS })).status).toBe(202);
      await f.t.store.db.updateTable('agents').set({ status: 'disabled' }).where('id', '=', AGENT_ID).execute();
      expect(await problem(await f.post('/person-token', { resource: RS }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
      await f.t.store.db.updateTable('agents').set({ status: 'active' }).where('id', '=', AGENT_ID).execute();

      const policy = (p: unknown) => f.t.store.db.insertInto('settings').values({ key: 'trust_policy', value: JSON.stringify(p), updated_at: T0 }).onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(p) })).execute();
      await policy({ mode: 'allowlist', agent_providers: [], resources: [RS] });
      expect(await problem(await f.post('/person-token', { resource: RS }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
      await policy({ mode: 'allowlist', agent_providers: [AP], resources: [RS] });
      expect((await f.post('/person-token', { resource: RS })).status).toBe(202);
      expect(await problem(await f.post('/person-token', { resource: RS2 }))).toMatchObject({ status: 400, error: 'invalid_request' });
      await policy({ mode: 'open', agent_providers: [], resources: [] });
      expect((await f.post('/person-token', { resource: RS2 })).status).toBe(202);

      const now = T0;
      await f.t.store.db.insertInto('resources').values({ id: RS2, name: 'Calendar', description: '', logo_uri: null, metadata_uri: null, jwks_uri: null, scopes: '[]', default_requirement: 'auth-token', status: 'disabled', created_at: now, updated_at: now }).execute();
      expect(await problem(await f.post('/person-token', { resource: RS2 }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('refuses an agent token from another provider than the one the agent is registered with', async () => {
      expect((await f.post('/person-token', { resource: RS })).status).toBe(202);
      await f.t.store.db.updateTable('agents').set({ agent_provider: 'https://other.example' }).where('id', '=', AGENT_ID).execute();
      expect(await problem(await f.post('/person-token', { resource: RS }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });

    it('[§8.1] an unsigned request is refused (invalid_request); a body without content-digest → 401 invalid_input', async () => {
      const unsigned = await f.app.request(`${PS}/person-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resource: RS }) });
      // §8.3: 401 + Signature-Error: error=invalid_request.
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toBe('error=invalid_request');
      expect(((await unsigned.json()) as { error: string }).error).toBe('invalid_request');
      expect(f.deferred.rows.size).toBe(0);
      const noDigest = await f.post('/person-token', { resource: RS }, { contentDigest: false });
      expect(noDigest.status).toBe(401);
      expect(noDigest.headers.get('signature-error')).toMatch(/^error=invalid_input/);
    });

    it('[§8.17] a request signed with a key other than the agent token cnf → 401 invalid_signature', async () => {
      const other = await party();
      const res = await f.post('/person-token', { resource: RS }, { signer: other.signer });
      expect(res.status).toBe(401);
      expect(res.headers.get('signature-error')).toBe('error=invalid_signature');
    });

    it('[§8.34] a parent asks for a sub-agent: the person token cnf is the sub-agent key', async () => {
      const alice = await f.person('alice');
      const sub = await party();
      const subagentToken = await f.agentToken({ sub: 'aauth:assistant+research@agent.example', parent_agent: AGENT_ID }, { key: sub });
      const res = await f.post('/person-token', { resource: RS, subagent_token: subagentToken });
      expect(res.status).toBe(202);
      const pending = f.deferred.last();
      expect(pending.agent_id).toBe('aauth:assistant+research@agent.example');
      expect(pending.agent_jkt).toBe(f.agent.jkt);
      await f.deferred.approve(pending.id, { personId: alice, always: false });
      const c = claimsOf((JSON.parse(f.deferred.last().result!) as { person_token: string }).person_token);
      expect(c['cnf']).toEqual({ jwk: sub.publicJwk });
      const record = await f.t.store.db.selectFrom('person_token_records').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
      expect(record).toMatchObject({ agent_id: 'aauth:assistant+research@agent.example', agent_jkt: sub.jkt });
      const bound = await f.t.store.db.selectFrom('agents').select(['id', 'person_id']).orderBy('id').execute();
      expect(bound).toEqual([
        { id: 'aauth:assistant+research@agent.example', person_id: alice },
        { id: AGENT_ID, person_id: alice },
      ]);
    });

    it('[§8.34] a subagent_token whose parent_agent is not the signer → 400 invalid_agent_token; expired → expired_agent_token', async () => {
      const sub = await party();
      const foreign = await f.agentToken({ sub: 'aauth:other+x@agent.example', parent_agent: 'aauth:other@agent.example' }, { key: sub });
      expect(await problem(await f.post('/person-token', { resource: RS, subagent_token: foreign }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
      const notSub = await f.agentToken({ sub: 'aauth:plain@agent.example' }, { key: sub });
      expect(await problem(await f.post('/person-token', { resource: RS, subagent_token: notSub }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
      const shortLived = await f.agentToken({ sub: 'aauth:assistant+x@agent.example', parent_agent: AGENT_ID }, { key: sub, ttl: 30 });
      f.clock.now = T0 + 31;
      const parentToken = await f.agentToken();
      expect(await problem(await f.post('/person-token', { resource: RS, subagent_token: shortLived }, { token: parentToken }))).toMatchObject({ status: 400, error: 'expired_agent_token' });
    });

    it('[§8.64] a malformed upstream_token is 400 (call chaining: see ps-call-chaining.test.ts)', async () => {
      expect(await problem(await f.post('/person-token', { resource: RS, upstream_token: 'eyJ.x.y' }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      expect(await problem(await f.post('/person-token', { resource: RS, upstream_token: 42 }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });
  });
}
