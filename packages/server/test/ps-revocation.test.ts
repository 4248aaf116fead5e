/**
 * `POST /revoke` (AAuth -11 §Token Revocation; digest §5, §8.61) and the `POST /introspect` extension, with callers
 * signing as servers (`sig=jwks_uri`) or as agents (`sig=jwt`).
 */
import { importVerifyKey } from '@tessera/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from './helpers.js';
import { AP, claimsOf, party, PS, psFixture, RS, T0, type Party, type PsFixture } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string; sigError: string | null }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }), sigError: res.headers.get('signature-error') };
}

for (const kind of STORE_KINDS) {
  describe(`POST /revoke and /introspect on ${kind}`, () => {
    let f: PsFixture;
    let alice: string;
    let personToken: string;
    let pt: Record<string, unknown>;
    const apServer = (): { id: string; dwk: string; key: Party } => ({ id: AP, dwk: 'aauth-agent.json', key: f.ap });
    const rsServer = (): { id: string; dwk: string; key: Party } => ({ id: RS, dwk: 'aauth-resource.json', key: f.rs });

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      expect((await f.post('/person-token', { resource: RS })).status).toBe(202);
      const done = await f.deferred.approve(f.deferred.last().id, { personId: alice, always: true });
      personToken = (JSON.parse(done.result!) as { person_token: string }).person_token;
      pt = claimsOf(personToken);
    });
    afterEach(() => f.close());

    const revocation = (iss: string, jti: string) =>
      f.t.store.db.selectFrom('revocations').selectAll().where('iss', '=', iss).where('jti', '=', jti).executeTakeFirst();

    it('[§8.61] the Agent Provider (sig=jwks_uri) revokes an agent token: 200, keyed by (iss, jti); the token is refused from then on', async () => {
      const token = await f.agentToken({ jti: 'agent-token-7' });
      expect((await f.post('/person-token', { resource: RS }, { token })).status).toBe(200);
      const res = await f.postAsServer('/revoke', { iss: AP, jti: 'agent-token-7' }, apServer());
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('');
      expect(await revocation(AP, 'agent-token-7')).toMatchObject({ revoked_at: T0, exp: T0 + 24 * 3600 });
      const refused = await f.post('/person-token', { resource: RS }, { token });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('signature-error')).toBe('error=invalid_jwt');
      const rt = await f.resourceToken({ sub: pt['sub'], presented_jti: pt['jti'] });
      expect((await f.post('/token', { resource_token: rt }, { token })).status).toBe(401);
      // Another agent token of the same agent still works.
      expect((await f.post('/person-token', { resource: RS })).status).toBe(200);
      const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.revoked').execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]!.actor).toBe(AP);
    });

    it('[§8.61] revocation is idempotent and takes the caller identity as the default iss; exp bounds retention', async () => {
      expect((await f.postAsServer('/revoke', { jti: 'agent-token-8', exp: T0 + 600 }, apServer())).status).toBe(200);
      expect((await f.postAsServer('/revoke', { iss: AP, jti: 'agent-token-8', exp: T0 + 600 }, apServer())).status).toBe(200);
      expect(await revocation(AP, 'agent-token-8')).toMatchObject({ exp: T0 + 600 });
      expect(await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.revoked').execute()).toHaveLength(1);
    });

    it('[§8.61] a server revokes only its own tokens: another issuer → 404', async () => {
      const res = await f.postAsServer('/revoke', { iss: PS, jti: pt['jti'] }, apServer());
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await revocation(PS, pt['jti'] as string)).toBeUndefined();
    });

    it('[§8.61] an unauthenticated or badly signed caller is refused with 401', async () => {
      const unsigned = await f.app.request(`${PS}/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ iss: AP, jti: 'x' }) });
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toBe('error=invalid_request');
      const impostor = await party('ap-1');
      const forged = await f.postAsServer('/revoke', { iss: AP, jti: 'x' }, { id: AP, dwk: 'aauth-agent.json', key: impostor });
      expect(forged.status).toBe(401);
      expect(forged.headers.get('signature-error')).toBe('error=invalid_signature');
      expect(await revocation(AP, 'x')).toBeUndefined();
    });

    it('[§8.61] an agent revokes a person token issued to it: 200, marked in issued_tokens; a resource token naming it is refused', async () => {
      const res = await f.post('/revoke', { iss: PS, jti: pt['jti'] });
      expect(res.status).toBe(200);
      expect(await revocation(PS, pt['jti'] as string)).toMatchObject({ exp: pt['exp'] });
      const issued = await f.t.store.db.selectFrom('issued_tokens').select('revoked_at').where('jti', '=', pt['jti'] as string).executeTakeFirstOrThrow();
      expect(issued.revoked_at).toBe(T0);
      const rt = await f.resourceToken({ sub: pt['sub'], presented_jti: pt['jti'] });
      expect(await problem(await f.post('/token', { resource_token: rt }))).toMatchObject({ status: 400, error: 'invalid_resource_token', detail: expect.stringMatching(/person token it names has been revoked/) });
    });

    it('[§8.61] an agent cannot revoke a token it does not hold, nor an unknown one → 404', async () => {
      expect((await f.post('/revoke', { iss: PS, jti: 'no-such-token' })).status).toBe(404);
      await f.t.store.db.updateTable('issued_tokens').set({ agent_id: 'aauth:other@agent.example' }).where('jti', '=', pt['jti'] as string).execute();
      expect((await f.post('/revoke', { iss: PS, jti: pt['jti'] })).status).toBe(404);
      expect((await f.post('/revoke', { iss: AP, jti: 'someone-elses-agent-token' })).status).toBe(404);
      expect(await f.t.store.db.selectFrom('revocations').selectAll().execute()).toEqual([]);
    });

    it('[§8.61] an agent revoking its own agent token revokes every token this PS issued to it', async () => {
      const token = await f.agentToken({ jti: 'self-1' });
      expect((await f.post('/revoke', { iss: AP, jti: 'self-1' }, { token })).status).toBe(200);
      expect(await revocation(AP, 'self-1')).toBeDefined();
      expect(await revocation(PS, pt['jti'] as string)).toBeDefined();
      expect((await f.post('/person-token', { resource: RS }, { token })).status).toBe(401);
    });

    it('revocation needs jti, and a JSON body', async () => {
      expect(await problem(await f.postAsServer('/revoke', { iss: AP }, apServer()))).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await problem(await f.postAsServer('/revoke', '{', apServer()))).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await problem(await f.postAsServer('/revoke', { jti: 'x', exp: 'soon' }, apServer()))).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await problem(await f.post('/revoke', { jti: pt['jti'] }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('a resource (sig=jwks_uri) revokes a resource token: the auth token endpoint refuses it', async () => {
      const rt = await f.resourceToken({ sub: pt['sub'], presented_jti: pt['jti'], jti: 'rt-1' });
      expect((await f.postAsServer('/revoke', { jti: 'rt-1' }, rsServer())).status).toBe(200);
      expect(await problem(await f.post('/token', { resource_token: rt }))).toMatchObject({ status: 400, error: 'invalid_resource_token', detail: expect.stringMatching(/revoked by its resource/) });
      // Another resource token naming the same person token is still exchanged.
      expect((await f.post('/token', { resource_token: await f.resourceToken({ sub: pt['sub'], presented_jti: pt['jti'], jti: 'rt-2' }) })).status).not.toBe(400);
    });

    it('introspection: the audience resource learns an active token; revoked, foreign, expired or garbage → {active:false}', async () => {
      const ask = async (token: unknown, server = rsServer()) => {
        const res = await f.postAsServer('/introspect', { token }, server);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('no-store');
        return (await res.json()) as Record<string, unknown>;
      };
      expect(await ask(personToken)).toEqual({ active: true, iss: PS, sub: pt['sub'], aud: RS, exp: pt['exp'], jti: pt['jti'], kind: 'person_token' });
      // Only the audience is told.
      expect(await ask(personToken, apServer())).toEqual({ active: false });
      expect(await ask('garbage')).toEqual({ active: false });
      expect(await ask(await f.agentToken())).toEqual({ active: false });

      const rt = await f.resourceToken({ sub: pt['sub'], presented_jti: pt['jti'], scope: 'notes.read' });
      expect((await f.post('/token', { resource_token: rt })).status).toBe(202);
      const approved = await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      const authToken = (JSON.parse(approved.result!) as { auth_token: string }).auth_token;
      expect(await ask(authToken)).toMatchObject({ active: true, kind: 'auth_token', scope: 'notes.read', aud: RS });

      expect((await f.post('/revoke', { iss: PS, jti: pt['jti'] })).status).toBe(200);
      expect(await ask(personToken)).toEqual({ active: false });
      f.clock.now = (pt['exp'] as number) + 1;
      expect(await ask(authToken)).toEqual({ active: false });
    });

    it('introspection: a token this PS did not record, though signed with its key, is not active', async () => {
      await f.t.store.db.deleteFrom('issued_tokens').execute();
      const res = await f.postAsServer('/introspect', { token: personToken }, rsServer());
      expect(await res.json()).toEqual({ active: false });
    });

    it('introspection is for servers: an agent-signed request → 401 unsupported_scheme; no token → 400', async () => {
      const res = await f.post('/introspect', { token: personToken });
      expect(res.status).toBe(401);
      expect(res.headers.get('signature-error')).toBe('error=unsupported_scheme');
      expect(res.headers.get('accept-signature-scheme')).toBe('jwks_uri, jwt');
      expect(await problem(await f.postAsServer('/introspect', {}, rsServer()))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('the PS keys verify the tokens it issues (JWKS round trip)', async () => {
      const res = await f.app.request(`${PS}/jwks.json`);
      const jwks = (await res.json()) as { keys: { kid: string }[] };
      const kid = JSON.parse(Buffer.from(personToken.split('.')[0]!, 'base64url').toString()) as { kid: string };
      const jwk = jwks.keys.find((k) => k.kid === kid.kid);
      expect(jwk).toBeDefined();
      const key = await importVerifyKey(jwk as never);
      const [h, p, s] = personToken.split('.') as [string, string, string];
      expect(await key.verify(new TextEncoder().encode(`${h}.${p}`), Buffer.from(s, 'base64url'))).toBe(true);
    });
  });
}
