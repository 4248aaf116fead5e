/**
 * `POST /token`, three-party (AAuth -11 §Auth Token Endpoint, §Resource Token Verification; digest §5, §6-D,
 * §8.20, §8.30–§8.35, §8.41), and the pending handler of kind `auth_token`, over the in-memory Deferred service.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, claimsOf, headerOf, party, PS, psFixture, RS, RS2, T0, type Party, type PsFixture } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string; sigError: string | null }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }), sigError: res.headers.get('signature-error') };
}

const SUB_AGENT = 'aauth:assistant+research@agent.example';

for (const kind of STORE_KINDS) {
  describe(`POST /token on ${kind}`, () => {
    let f: PsFixture;
    let alice: string;
    /** The person token the agent holds for RS, and its claims. */
    let personToken: string;
    let pt: Record<string, unknown>;

    async function personTokenFor(resource: string, extra: Record<string, unknown> = {}, agentToken?: string): Promise<string> {
      const res = await f.post('/person-token', { resource, ...extra }, agentToken === undefined ? {} : { token: agentToken });
      expect(res.status).toBe(202);
      const done = await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      return (JSON.parse(done.result!) as { person_token: string }).person_token;
    }

    /** A resource token answering the person token `p` (claims copied as a resource does). */
    function rtFor(p: Record<string, unknown>, claims: Record<string, unknown> = {}, options: { key?: Party; ttl?: number } = {}): Promise<string> {
      return f.resourceToken({ iss: p['aud'], ps: p['iss'], sub: p['sub'], presented_jti: p['jti'], agent_jkt: f.agent.jkt, scope: 'notes.read', ...claims }, options);
    }

    async function approveLast(always = false): Promise<string> {
      const done = await f.deferred.approve(f.deferred.last().id, { personId: alice, always });
      return (JSON.parse(done.result!) as { auth_token: string }).auth_token;
    }

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      personToken = await personTokenFor(RS);
      pt = claimsOf(personToken);
    });
    afterEach(() => f.close());

    it('[§8.35] 202 then, on approval, an auth token: iss = ps = PS, person dwk, aud = resource, sub, scope, cnf, ≤ 1 h', async () => {
      const res = await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read notes.write' }), justification: 'Find **meeting** times' }, { headers: { prefer: 'wait=45' } });
      expect(res.status).toBe(202);
      expect(f.deferred.lastWait).toBe(45);
      const pending = f.deferred.last();
      expect(pending).toMatchObject({ kind: 'auth_token', agent_id: AGENT_ID, agent_jkt: f.agent.jkt, person_id: alice });
      const view = await f.deferred.handlers.get('auth_token')!.describe(pending);
      expect(view).toMatchObject({
        resource: { id: RS },
        scopes: [
          { scope: 'notes.read', description: 'notes.read' },
          { scope: 'notes.write', description: 'notes.write' },
        ],
        justification: 'Find **meeting** times',
        allowAlways: true,
      });
      const token = await approveLast();
      expect(headerOf(token)['typ']).toBe('aa-auth+jwt');
      const c = claimsOf(token);
      expect(c).toMatchObject({ iss: PS, ps: PS, dwk: 'aauth-person.json', aud: RS, sub: pt['sub'], scope: 'notes.read notes.write', cnf: { jwk: f.agent.publicJwk }, iat: T0 });
      expect(c['exp']).toBe(T0 + 3600);
      // Time first (store/issued-jti.ts): the clock's milliseconds, then 80 random bits.
      expect(c['jti']).toMatch(new RegExp(`^${(T0 * 1000).toString(16).padStart(12, '0')}[0-9a-f]{20}$`));
      const issued = await f.t.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
      expect(issued).toMatchObject({ iss: PS, kind: 'auth_token', sub: pt['sub'], agent_id: AGENT_ID, aud: RS, scope: 'notes.read notes.write', person_id: alice });
      const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.issued').where('scope', '=', 'notes.read notes.write').execute();
      expect(audit).toHaveLength(1);
    });

    it('describes scopes from the resource registry, with its name', async () => {
      await f.t.store.db
        .insertInto('resources')
        .values({ id: RS, name: 'Notes', description: 'Your notes', logo_uri: `${RS}/logo.png`, metadata_uri: null, jwks_uri: null, scopes: JSON.stringify([{ scope: 'notes.read', description: 'Read your notes' }]), default_requirement: 'auth-token', status: 'active', created_at: T0, updated_at: T0 })
        .execute();
      expect((await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read other' }) })).status).toBe(202);
      const view = await f.deferred.handlers.get('auth_token')!.describe(f.deferred.last());
      expect(view.resource).toEqual({ id: RS, name: 'Notes', logoUri: `${RS}/logo.png`, description: 'Your notes' });
      expect(view.scopes).toEqual([
        { scope: 'notes.read', description: 'Read your notes' },
        { scope: 'other', description: 'other' },
      ]);
      expect(view.summary).toContain('Notes');
    });

    it('a standing grant covering every scope issues at once (200); a scope beyond it asks again', async () => {
      expect((await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read notes.write' }) })).status).toBe(202);
      await approveLast(true);
      const grant = await f.t.store.db.selectFrom('grants').selectAll().where('kind', '=', 'auth_token').executeTakeFirstOrThrow();
      expect(JSON.parse(grant.scopes)).toEqual(['notes.read', 'notes.write']);
      const res = await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read' }) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { auth_token: string; expires_in: number };
      expect(claimsOf(body.auth_token)['scope']).toBe('notes.read');
      expect(body.expires_in).toBe(3600);
      expect((await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read notes.delete' }) })).status).toBe(202);
      expect((await f.post('/token', { resource_token: await rtFor(pt), prompt: 'consent' })).status).toBe(202);
    });

    it('prompt=none without a grant → 403 user_unreachable, no Signature-Error', async () => {
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt), prompt: 'none' }))).toMatchObject({ status: 403, error: 'user_unreachable', sigError: null });
    });

    it('[§8.35] scope is never broader than the resource token; the registry may narrow it', async () => {
      await f.t.store.db.updateTable('agents').set({ allowed_scopes: JSON.stringify(['notes.read']) }).where('id', '=', AGENT_ID).execute();
      expect((await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.read notes.write' }) })).status).toBe(202);
      expect(claimsOf(await approveLast())['scope']).toBe('notes.read');
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { scope: 'notes.write' }) }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('copies mission-free identity: account from the resource token; name with the profile scope', async () => {
      expect((await f.post('/token', { resource_token: await rtFor(pt, { scope: 'profile notes.read', account: 'work' }) })).status).toBe(202);
      const c = claimsOf(await approveLast());
      expect(c).toMatchObject({ account: 'work', name: 'Person alice', scope: 'profile notes.read' });
    });

    it('[§8.41] the auth token never outlives the agent token (nor the person token it was obtained with)', async () => {
      f.clock.now = T0 + 100;
      const short = await f.agentToken({}, { ttl: 900 });
      expect((await f.post('/token', { resource_token: await rtFor(pt) }, { token: short })).status).toBe(202);
      expect(claimsOf(await approveLast())['exp']).toBe(T0 + 100 + 900);
      f.clock.now = T0 + 3000;
      expect((await f.post('/token', { resource_token: await rtFor(pt) })).status).toBe(202);
      expect(claimsOf(await approveLast())['exp']).toBe(pt['exp']);
    });

    it('[§8.30] a resource token with a bad typ → 400 invalid_resource_token', async () => {
      expect(await problem(await f.post('/token', { resource_token: personToken }))).toMatchObject({ status: 400, error: 'invalid_resource_token', sigError: null });
      expect(await problem(await f.post('/token', { resource_token: 'not-a-jwt' }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('[§8.30] a resource token with a bad signature → 400 invalid_resource_token', async () => {
      const impostor = await party('rs-1');
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, {}, { key: impostor }) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      const good = await rtFor(pt);
      const [h, p, s] = good.split('.') as [string, string, string];
      const tampered = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
      expect(await problem(await f.post('/token', { resource_token: tampered }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('[§8.30] a resource token for neither this PS nor one Access Server → 400 invalid_resource_token (four-party: ps-federation.test.ts)', async () => {
      const p = await problem(await f.post('/token', { resource_token: await rtFor(pt, { aud: ['https://as.resource.example', 'https://other.example'] }) }));
      expect(p).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      expect(p.detail).toMatch(/neither for this Person Server nor for one Access Server/);
    });

    it('[§8.30] an expired resource token → 400 expired_resource_token', async () => {
      const rt = await rtFor(pt, {}, { ttl: 60 });
      f.clock.now = T0 + 60;
      expect(await problem(await f.post('/token', { resource_token: rt }))).toMatchObject({ status: 400, error: 'expired_resource_token' });
    });

    it('[§8.31] agent_jkt other than the signer thumbprint → 400 invalid_resource_token', async () => {
      const other = await party();
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { agent_jkt: other.jkt }) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      // The same token signed by the key it names, but with an agent token for another key: still the signer that counts.
      const token = await f.agentToken({}, { key: other });
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }, { token, signer: other.signer }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('[§8.20] presented_jti naming no retained person token → 400 unknown_person_token', async () => {
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { presented_jti: 'never-issued' }) }))).toMatchObject({ status: 400, error: 'unknown_person_token' });
    });

    it('[§8.20] the record is retained past exp until retain_until; after it → unknown_person_token', async () => {
      f.clock.now = (pt['exp'] as number) + 10;
      const token = await f.agentToken();
      // Past the person token's exp but within retention: known, but too old to issue against.
      const p1 = await problem(await f.post('/token', { resource_token: await rtFor(pt) }, { token }));
      expect(p1).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      expect(p1.detail).toMatch(/expired/);
      f.clock.now = (pt['exp'] as number) + 3600;
      const token2 = await f.agentToken();
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }, { token: token2 }))).toMatchObject({ status: 400, error: 'unknown_person_token' });
    });

    for (const [field, value] of [
      ['sub', 'someone-else'],
      ['mission_s256', 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'],
      ['tenant', 'acme'],
      ['ps', 'https://other-ps.example'],
    ] as const) {
      it(`[§8.32] a ${field} mismatch against the person-token record → 400 invalid_resource_token + alert.mission_stripping`, async () => {
        const p = await problem(await f.post('/token', { resource_token: await rtFor(pt, { [field]: value }) }));
        expect(p).toMatchObject({ status: 400, error: 'invalid_resource_token' });
        const alerts = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'alert.mission_stripping').execute();
        expect(alerts).toHaveLength(1);
        expect(JSON.parse(alerts[0]!.detail)).toMatchObject({ mismatched: [field], presented_jti: pt['jti'] });
        expect(f.deferred.rows.size).toBe(1);
      });
    }

    it('[§8.32] mission stripping: a record with a mission and a resource token without it → rejected and alerted', async () => {
      await f.t.store.db.updateTable('person_token_records').set({ mission_s256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' }).where('jti', '=', pt['jti'] as string).execute();
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      const alerts = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'alert.mission_stripping').execute();
      expect(JSON.parse(alerts[0]!.detail)).toMatchObject({ mismatched: ['mission_s256'] });
    });

    it('a resource token from another resource than the person token was for → 400 invalid_resource_token', async () => {
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { iss: RS2 }) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('[§8.33] a request signed with a sub-agent token → 400 invalid_agent_token', async () => {
      const token = await f.agentToken({ sub: SUB_AGENT, parent_agent: AGENT_ID });
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }, { token }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });

    it('resource_token is REQUIRED, the body JSON, the optional values checked → 400 invalid_request', async () => {
      expect(await problem(await f.post('/token', {}))).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await problem(await f.post('/token', '{'))).toMatchObject({ status: 400, error: 'invalid_request' });
      const rt = await rtFor(pt);
      for (const extra of [{ prompt: 'sometimes' }, { platform: 'toaster' }, { device: 'd'.repeat(65) }, { login_hint: '' }, { tenant: 3 }, { capabilities: [1] }]) {
        expect(await problem(await f.post('/token', { resource_token: rt, ...extra })), JSON.stringify(extra)).toMatchObject({ status: 400, error: 'invalid_request' });
      }
      expect(await problem(await f.post('/token', { resource_token: rt, upstream_token: 'a.b.c' }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
    });

    it('refuses an untrusted or disabled resource with invalid_resource_token', async () => {
      await f.t.store.db.insertInto('settings').values({ key: 'trust_policy', value: JSON.stringify({ mode: 'allowlist', agent_providers: ['https://agent.example'], resources: [RS2] }), updated_at: T0 }).execute();
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      await f.t.store.db.deleteFrom('settings').where('key', '=', 'trust_policy').execute();
      await f.t.store.db
        .insertInto('resources')
        .values({ id: RS, name: 'Notes', description: '', logo_uri: null, metadata_uri: null, jwks_uri: null, scopes: '[]', default_requirement: 'auth-token', status: 'disabled', created_at: T0, updated_at: T0 })
        .execute();
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('only the person the person token was issued for can approve (denied for anyone else)', async () => {
      const bob = await f.person('bob');
      expect((await f.post('/token', { resource_token: await rtFor(pt) })).status).toBe(202);
      await expect(f.deferred.approve(f.deferred.last().id, { personId: bob, always: false })).rejects.toMatchObject({ code: 'denied' });
    });

    it('an agent token revoked while the request waits makes the approval fail (denied)', async () => {
      const token = await f.agentToken({ jti: 'agent-token-1' });
      expect((await f.post('/token', { resource_token: await rtFor(pt) }, { token })).status).toBe(202);
      await f.t.store.db.insertInto('revocations').values({ iss: 'https://agent.example', jti: 'agent-token-1', revoked_at: T0, exp: T0 + 3600 }).execute();
      await expect(f.deferred.approve(f.deferred.last().id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'denied' });
    });

    it('[§8.34] sub-agent: agent_jkt and the issued cnf are the sub-agent key; the parent key does not pass', async () => {
      const sub = await party();
      const subagentToken = await f.agentToken({ sub: SUB_AGENT, parent_agent: AGENT_ID }, { key: sub });
      const subPt = claimsOf(await personTokenFor(RS, { subagent_token: subagentToken }));
      expect(subPt['cnf']).toEqual({ jwk: sub.publicJwk });

      // agent_jkt naming the parent (the signer) is refused: it must be the sub-agent's key.
      expect(await problem(await f.post('/token', { resource_token: await rtFor(subPt), subagent_token: subagentToken }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });

      const res = await f.post('/token', { resource_token: await rtFor(subPt, { agent_jkt: sub.jkt }), subagent_token: subagentToken });
      expect(res.status).toBe(202);
      const pending = f.deferred.last();
      expect(pending).toMatchObject({ agent_id: SUB_AGENT, agent_jkt: f.agent.jkt });
      const c = claimsOf(await approveLast());
      expect(c['cnf']).toEqual({ jwk: sub.publicJwk });
      expect(c['sub']).toBe(subPt['sub']);

      // The parent's own person token cannot be redeemed for the sub-agent, nor the sub-agent's without it.
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { agent_jkt: sub.jkt }), subagent_token: subagentToken }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      expect(await problem(await f.post('/token', { resource_token: await rtFor(subPt, { agent_jkt: sub.jkt }) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('[§8.34] a subagent_token not naming the signer as parent → 400 invalid_agent_token', async () => {
      const sub = await party();
      const stranger = await f.agentToken({ sub: 'aauth:other+x@agent.example', parent_agent: 'aauth:other@agent.example' }, { key: sub });
      expect(await problem(await f.post('/token', { resource_token: await rtFor(pt, { agent_jkt: sub.jkt }), subagent_token: stranger }))).toMatchObject({ status: 400, error: 'invalid_agent_token' });
    });
  });
}
