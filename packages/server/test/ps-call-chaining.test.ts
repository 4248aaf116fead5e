/**
 * Call chaining at the Person Server (AAuth -11 §Call Chaining; digest §5 token endpoint rows, §6-G; checklist
 * §8.64): a resource R1 (here `RS`) acting as an agent with its own agent token asks for a person token and an auth
 * token for R2 (`RS2`), naming as `upstream_token` the auth token it was called with.
 */
import { mintAgentToken, mintAuthToken, type Signer } from '@tessera/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from './helpers.js';
import { claimsOf, party, PS, psFixture, RS, RS2, T0, type Party, type PsFixture } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }) };
}

/** R1, the intermediary: its own agent provider (`iss` = RS), its agent identifier and request key. */
const R1_AGENT = 'aauth:api@resource.example';

for (const kind of STORE_KINDS) {
  describe(`call chaining (upstream_token) on ${kind}`, () => {
    let f: PsFixture;
    let alice: string;
    let bob: string;
    let r1: Party;
    let r1Token: string;

    /** An agent of `AP` (key `key`, identifier `sub`) gets an auth token for RS approved by `person`: R1's upstream. */
    async function upstreamFor(person: string, sub: string, key: Party): Promise<{ token: string; claims: Record<string, unknown> }> {
      const agentToken = await f.agentToken({ sub }, { key });
      const p = await f.post('/person-token', { resource: RS }, { token: agentToken, signer: key.signer });
      expect(p.status).toBe(202);
      const personToken = (JSON.parse((await f.deferred.approve(f.deferred.last().id, { personId: person, always: false })).result!) as { person_token: string }).person_token;
      const pt = claimsOf(personToken);
      const rt = await f.resourceToken({ iss: RS, sub: pt['sub'], presented_jti: pt['jti'], agent_jkt: key.jkt, scope: 'notes.read' });
      const a = await f.post('/token', { resource_token: rt }, { token: agentToken, signer: key.signer });
      expect(a.status).toBe(202);
      const token = (JSON.parse((await f.deferred.approve(f.deferred.last().id, { personId: person, always: false })).result!) as { auth_token: string }).auth_token;
      return { token, claims: claimsOf(token) };
    }

    /** R1 signs as an agent. */
    const asR1 = (path: string, body: Record<string, unknown>, options: { token?: string; signer?: Signer } = {}) =>
      f.post(path, body, { token: options.token ?? r1Token, signer: options.signer ?? r1.signer });

    async function approveLast(person: string, always = false): Promise<Record<string, unknown>> {
      return JSON.parse((await f.deferred.approve(f.deferred.last().id, { personId: person, always })).result!) as Record<string, unknown>;
    }

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      bob = await f.person('bob');
      r1 = await party();
      // R1 is its own agent provider: its agent token is signed with its resource key (kid rs-1, issuer RS).
      r1Token = await mintAgentToken(f.rs.signer, { iss: RS, sub: R1_AGENT, cnf: { jwk: r1.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
    });
    afterEach(() => f.close());

    it("[§8.64] chained person token: the upstream person decides; the token names R2 with the person's directed sub there, never the upstream sub", async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      const res = await asR1('/person-token', { resource: RS2, upstream_token: upstream.token });
      expect(res.status).toBe(202);
      const pending = f.deferred.last();
      expect(pending).toMatchObject({ kind: 'person_token', agent_id: R1_AGENT, person_id: alice });
      const { person_token: chained } = (await approveLast(alice)) as { person_token: string };
      const c = claimsOf(chained);
      expect(c).toMatchObject({ iss: PS, aud: RS2, cnf: { jwk: { x: r1.publicJwk.x } } });
      expect(c['sub']).not.toBe(upstream.claims['sub']);
      // The same person's directed identifier at RS2, as any other agent of hers would get it.
      await f.post('/person-token', { resource: RS2 });
      const direct = claimsOf(((await approveLast(alice)) as { person_token: string }).person_token);
      expect(c['sub']).toBe(direct['sub']);
      // Never outlives the upstream authorization it stands on.
      expect(c['exp'] as number).toBeLessThanOrEqual(upstream.claims['exp'] as number);
      // The intermediary is not bound to the person: it serves whoever its upstream tokens name.
      const row = await f.t.store.db.selectFrom('agents').select('person_id').where('id', '=', R1_AGENT).executeTakeFirstOrThrow();
      expect(row.person_id).toBeNull();
    });

    it('[§8.64] only the upstream person may approve a chained request', async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      expect((await asR1('/person-token', { resource: RS2, upstream_token: upstream.token })).status).toBe(202);
      await expect(f.deferred.approve(f.deferred.last().id, { personId: bob, always: false })).rejects.toMatchObject({ code: 'denied' });
    });

    it("[§8.64] the upstream token's aud must be the signing agent token's iss", async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      // Another intermediary (RS2 acting as an agent) presents the token issued to RS.
      const other = await party();
      const otherToken = await mintAgentToken(f.rs.signer, { iss: RS2, sub: 'aauth:api@calendar.example', cnf: { jwk: other.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
      const res = await asR1('/person-token', { resource: RS, upstream_token: upstream.token }, { token: otherToken, signer: other.signer });
      expect(await problem(res)).toMatchObject({ status: 400, error: 'invalid_auth_token' });
    });

    it("[§8.64] another PS's token, or an Access Server's this PS never relayed (even naming this PS), is refused", async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      // An "Access Server" (any server with a key) naming this PS and alice's directed sub at RS: it verifies under its
      // own key, but this PS relayed no token from it, so it cannot tell it from a forgery (four-party chaining on a
      // relayed token: ps-federation.test.ts).
      const fromAs = await mintAuthToken(
        f.rs.signer,
        { iss: RS2, dwk: 'aauth-access.json', ps: PS, aud: RS, sub: upstream.claims['sub'] as string, cnf: { jwk: r1.publicJwk }, scope: 'notes.read' },
        { now: () => f.clock.now, ttl: 600 },
      );
      const refused = await problem(await asR1('/person-token', { resource: RS2, upstream_token: fromAs }));
      expect(refused).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      expect(refused.detail).toContain('not a token of this Person Server');
      // Another PS's person.
      const foreign = await mintAuthToken(f.rs.signer, { iss: RS2, dwk: 'aauth-access.json', ps: 'https://other-ps.example', aud: RS, sub: 'someone', cnf: { jwk: r1.publicJwk }, scope: 'x' }, { now: () => f.clock.now, ttl: 600 });
      expect(await problem(await asR1('/person-token', { resource: RS2, upstream_token: foreign }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      expect(f.deferred.rows.size).toBe(2); // only the two approvals that made the real upstream token
    });

    it('[§8.64] a revoked, expired, forged or unknown upstream token is refused', async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      // Forged: signed by a key that is not the PS's.
      const forged = await mintAuthToken(r1.signer, { iss: PS, ps: PS, aud: RS, sub: upstream.claims['sub'] as string, cnf: { jwk: r1.publicJwk } }, { now: () => f.clock.now, ttl: 600 });
      expect(await problem(await asR1('/person-token', { resource: RS2, upstream_token: forged }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      // Revoked at the PS.
      await f.t.store.db.updateTable('issued_tokens').set({ revoked_at: T0 }).where('jti', '=', upstream.claims['jti'] as string).execute();
      expect(await problem(await asR1('/person-token', { resource: RS2, upstream_token: upstream.token }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      // Expired.
      const fresh = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      f.clock.now = (fresh.claims['exp'] as number) + 1;
      r1Token = await mintAgentToken(f.rs.signer, { iss: RS, sub: R1_AGENT, cnf: { jwk: r1.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
      expect(await problem(await asR1('/person-token', { resource: RS2, upstream_token: fresh.token }))).toMatchObject({ status: 400, error: 'expired_auth_token' });
    });

    it('[§8.64] standing grants are per person: "always" for alice answers her next chained request at once, not bob\'s', async () => {
      const fromAlice = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      const bobAgent = await party();
      const fromBob = await upstreamFor(bob, 'aauth:helper@agent.example', bobAgent);
      expect((await asR1('/person-token', { resource: RS2, upstream_token: fromAlice.token })).status).toBe(202);
      await approveLast(alice, true);
      const again = await asR1('/person-token', { resource: RS2, upstream_token: fromAlice.token });
      expect(again.status).toBe(200);
      expect(claimsOf(((await again.json()) as { person_token: string }).person_token)['aud']).toBe(RS2);
      const forBob = await asR1('/person-token', { resource: RS2, upstream_token: fromBob.token });
      expect(forBob.status).toBe(202);
      expect(f.deferred.last().person_id).toBe(bob);
    });

    it('[§8.64] chained auth token: resource token from R2 + upstream_token → an auth token for R2, for the upstream person, ending with the upstream token', async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      await asR1('/person-token', { resource: RS2, upstream_token: upstream.token });
      const chained = claimsOf(((await approveLast(alice)) as { person_token: string }).person_token);
      const rt = await f.resourceToken({ iss: RS2, sub: chained['sub'], presented_jti: chained['jti'], agent_jkt: r1.jkt, scope: 'calendar.read' });
      const res = await asR1('/token', { resource_token: rt, upstream_token: upstream.token });
      expect(res.status).toBe(202);
      expect(f.deferred.last()).toMatchObject({ kind: 'auth_token', person_id: alice });
      const { auth_token: authToken } = (await approveLast(alice)) as { auth_token: string };
      const a = claimsOf(authToken);
      expect(a).toMatchObject({ iss: PS, ps: PS, aud: RS2, sub: chained['sub'], scope: 'calendar.read', cnf: { jwk: { x: r1.publicJwk.x } } });
      expect(a['sub']).not.toBe(upstream.claims['sub']);
      expect(a['exp'] as number).toBeLessThanOrEqual(upstream.claims['exp'] as number);
    });

    it("[§8.64] a chained auth-token request whose person token is another person's than the upstream token's is refused", async () => {
      const fromAlice = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      const bobAgent = await party();
      const fromBob = await upstreamFor(bob, 'aauth:helper@agent.example', bobAgent);
      await asR1('/person-token', { resource: RS2, upstream_token: fromAlice.token });
      const chained = claimsOf(((await approveLast(alice)) as { person_token: string }).person_token);
      const rt = await f.resourceToken({ iss: RS2, sub: chained['sub'], presented_jti: chained['jti'], agent_jkt: r1.jkt, scope: 'calendar.read' });
      expect(await problem(await asR1('/token', { resource_token: rt, upstream_token: fromBob.token }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
    });

    it('upstream_token cannot be combined with subagent_token', async () => {
      const upstream = await upstreamFor(alice, 'aauth:assistant@agent.example', f.agent);
      const sub = await party();
      const subToken = await mintAgentToken(f.rs.signer, { iss: RS, sub: 'aauth:api+worker@resource.example', parent_agent: R1_AGENT, cnf: { jwk: sub.publicJwk } }, { now: () => f.clock.now, ttl: 600 });
      expect(await problem(await asR1('/person-token', { resource: RS2, upstream_token: upstream.token, subagent_token: subToken }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });
  });
}
