/**
 * Four-party federation at the Person Server (AAuth -11 §PS-AS Federation, §AS Response, §Auth Token Delivery;
 * digest §6-E, §8.36, §8.37): a resource token whose `aud` is an Access Server is checked as in three-party, the person
 * consents, then the PS discovers the AS, POSTs `{resource_token, agent_token}` signed `sig=jwks_uri`, verifies the
 * AS's auth token and relays it. The AS is the real as-app (or a rogue one), reached through an in-process fetch.
 */
import { mintAgentToken, mintAuthToken, mintResourceToken, parseSignatureKey } from '@tessera/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFederation } from '../src/ps/federation.js';
import { revokeTokensOfAgent } from '../src/ps/revocation.js';
import { createGrant } from '../src/store/grants.js';
import { AS, federationFixture, ROGUE, type FederationFixture } from './as-fixture.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, claimsOf, headerOf, party, PS, RS, RS2, T0, type Party } from './ps-fixture.js';

async function problem(res: Response): Promise<{ status: number; error: string; detail?: string }> {
  const body = (await res.json()) as { error: string; detail?: string };
  return { status: res.status, error: body.error, ...(body.detail === undefined ? {} : { detail: body.detail }) };
}

for (const kind of STORE_KINDS) {
  describe(`four-party federation at the PS on ${kind}`, () => {
    let f: FederationFixture;
    let alice: string;
    let pt: Record<string, unknown>;

    beforeEach(async () => {
      f = await federationFixture(kind, { maxWaitSeconds: 10 });
      alice = await f.person('alice');
      pt = (await f.personToken(alice)).claims;
    });
    afterEach(() => f.close());

    /** A standing grant for the agent at RS, so that /token answers synchronously. */
    async function standingGrant(scopes: readonly string[] = ['notes.read']): Promise<void> {
      await createGrant(f.ps.t.store.db, { personId: alice, agentId: AGENT_ID, resource: RS, kind: 'auth_token', scopes }, T0);
    }

    async function approveLast(): Promise<Record<string, unknown>> {
      const done = await f.ps.deferred.approve(f.ps.deferred.last().id, { personId: alice, always: false });
      return JSON.parse(done.result!) as Record<string, unknown>;
    }

    it('[§8.36] [§8.37] consent first (202), then on approval the PS discovers the AS, calls it signed as the PS, verifies and relays its auth token', async () => {
      const rt = await f.resourceToken(pt, { scope: 'notes.read notes.write' });
      const res = await f.post('/token', { resource_token: rt });
      expect(res.status).toBe(202);
      const pending = f.ps.deferred.last();
      expect(pending).toMatchObject({ kind: 'auth_token', agent_id: AGENT_ID, person_id: alice });
      expect(f.calls.filter((c) => c.line.startsWith(`POST ${AS}`))).toHaveLength(0); // nothing sent before consent

      const result = await approveLast();
      const token = result['auth_token'] as string;
      expect(headerOf(token)['typ']).toBe('aa-auth+jwt');
      const c = claimsOf(token);
      expect(c).toMatchObject({ iss: AS, dwk: 'aauth-access.json', ps: PS, aud: RS, sub: pt['sub'], scope: 'notes.read notes.write', cnf: { jwk: f.agent.publicJwk } });
      expect(c['exp']).toBeLessThanOrEqual(T0 + 3600);
      expect(result['expires_in']).toBe((c['exp'] as number) - T0);

      // Discovery (issuer-checked metadata) and the signed PS→AS request.
      expect(f.calls.map((x) => x.line)).toContain(`GET ${AS}/.well-known/aauth-access.json`);
      const call = f.calls.find((x) => x.line === `POST ${AS}/token`)!;
      const member = parseSignatureKey(call.headers.get('signature-key')!).get('sig');
      expect(member).toMatchObject({ scheme: 'jwks_uri', id: PS, dwk: 'aauth-person.json' });
      expect((member as { kid: string }).kid).toBe((await f.ps.ctx.keys.signer('ps')).publicJwk.kid);
      expect(call.headers.get('signature-input')).toMatch(/"content-digest" "content-type"/);
      const sent = JSON.parse(call.body) as Record<string, unknown>;
      expect(sent['resource_token']).toBe(rt);
      expect(claimsOf(sent['agent_token'] as string)).toMatchObject({ sub: AGENT_ID, iss: 'https://agent.example' });

      // The AS issued it (its records); the PS recorded what it relayed, for whom, and audited the relay.
      expect(await f.as.t.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirst()).toMatchObject({ iss: AS, aud: RS });
      expect(await f.ps.t.store.db.selectFrom('issued_tokens').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirst()).toMatchObject({
        iss: AS,
        kind: 'relayed_auth_token',
        agent_id: AGENT_ID,
        person_id: alice,
        sub: pt['sub'],
        aud: RS,
        exp: c['exp'],
      });
      expect(await f.ps.t.store.db.selectFrom('issued_tokens').selectAll().where('iss', '=', PS).where('kind', '=', 'auth_token').execute()).toEqual([]);
      const audit = await f.ps.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.federated').execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ agent: AGENT_ID, person: alice, resource: RS });
    });

    it('[§8.36] a standing grant: the PS federates at once and answers 200', async () => {
      await standingGrant();
      const res = await f.post('/token', { resource_token: await f.resourceToken(pt) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { auth_token: string; expires_in: number };
      expect(claimsOf(body.auth_token)).toMatchObject({ iss: AS, ps: PS, aud: RS, scope: 'notes.read' });
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('[§8.36] the AS policy narrows the scope; the relayed token carries the granted scope only', async () => {
      await standingGrant(['notes.read', 'notes.write']);
      f.policy = () => ({ grant: 'notes.read admin' });
      const res = await f.post('/token', { resource_token: await f.resourceToken(pt, { scope: 'notes.read notes.write' }) });
      expect(res.status).toBe(200);
      expect(claimsOf(((await res.json()) as { auth_token: string }).auth_token)['scope']).toBe('notes.read');
    });

    it('[§8.36] an AS denial is relayed as 403 denied', async () => {
      await standingGrant();
      f.policy = () => ({ deny: true, detail: 'not for you' });
      const p = await problem(await f.post('/token', { resource_token: await f.resourceToken(pt) }));
      expect(p).toMatchObject({ status: 403, error: 'denied' });
      expect(p.detail).toMatch(/not for you/);
    });

    it('[§8.36] 202 requirement=claims: the PS POSTs the claims it holds (name, never sub) to the Location and relays the token', async () => {
      await standingGrant();
      f.policy = (input) => (input.claims === undefined ? { claims: ['name', 'email', 'sub'] } : input.claims['name'] === 'Person alice' && input.claims['sub'] === undefined ? { grant: 'notes.read' } : { deny: true });
      const res = await f.post('/token', { resource_token: await f.resourceToken(pt) });
      expect(res.status).toBe(200);
      const claimsPost = f.calls.find((x) => x.line.startsWith(`POST ${AS}/token/pending/`))!;
      expect(JSON.parse(claimsPost.body)).toEqual({ name: 'Person alice' });
      expect(parseSignatureKey(claimsPost.headers.get('signature-key')!).get('sig')).toMatchObject({ scheme: 'jwks_uri', id: PS });
    });

    it('[§8.36] 402 from the AS → 403 denied (this PS makes no payments)', async () => {
      await standingGrant();
      f.rogue = () => new Response(null, { status: 402, headers: { location: `${ROGUE}/token/pending/x` } });
      const p = await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: ROGUE }) }));
      expect(p).toMatchObject({ status: 403, error: 'denied' });
      expect(p.detail).toMatch(/payment/);
    });

    it('[§8.36] 202 approval: the PS polls the Location (signed GET) and relays the token when it comes', async () => {
      await standingGrant();
      let polls = 0;
      f.rogue = async (request) => {
        if (request.method === 'POST') return new Response(JSON.stringify({ status: 'pending' }), { status: 202, headers: { location: '/token/pending/p1', 'retry-after': '2', 'aauth-requirement': 'requirement=approval' } });
        polls += 1;
        if (polls < 2) return new Response(JSON.stringify({ status: 'pending' }), { status: 202, headers: { location: '/token/pending/p1', 'retry-after': '2', 'aauth-requirement': 'requirement=approval' } });
        const token = await mintAuthToken(f.rogueSigner, { iss: ROGUE, dwk: 'aauth-access.json', aud: RS, ps: PS, sub: pt['sub'] as string, cnf: { jwk: f.agent.publicJwk }, scope: 'notes.read' }, { now: () => f.clock.now, ttl: 600 });
        return Response.json({ auth_token: token, expires_in: 600 });
      };
      const res = await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: ROGUE }) });
      expect(res.status).toBe(200);
      expect(polls).toBe(2);
      const gets = f.calls.filter((x) => x.line === `GET ${ROGUE}/token/pending/p1`);
      expect(gets).toHaveLength(2);
      expect(parseSignatureKey(gets[0]!.headers.get('signature-key')!).get('sig')).toMatchObject({ scheme: 'jwks_uri', id: PS, dwk: 'aauth-person.json' });
    });

    it('[§8.36] 202 interaction still pending after the wait budget → 403 user_unreachable', async () => {
      await standingGrant();
      f.rogue = () =>
        new Response(JSON.stringify({ status: 'pending' }), {
          status: 202,
          headers: { location: '/token/pending/p2', 'retry-after': '5', 'aauth-requirement': 'requirement=interaction; url="https://rogue.example/bind"; code="ABCD2345"' },
        });
      const p = await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: ROGUE }) }));
      expect(p).toMatchObject({ status: 403, error: 'user_unreachable' });
    });

    /** The federation module directly (the endpoint answers 500 server_error without detail). */
    function federate(aud: string): Promise<unknown> {
      const federation = createFederation(f.ps.ctx, { fetch: f.fetch });
      return f.ps.ctx.keys.signer('ps').then(async (signer) =>
        federation.requestAuthToken(
          {
            accessServer: aud,
            resource: RS,
            resourceToken: await f.resourceToken(pt, { aud }),
            agentToken: await f.agentToken(),
            agentJkt: f.agent.jkt,
            sub: pt['sub'] as string,
            scopes: ['notes.read'],
            notAfter: T0 + 3600,
            personId: alice,
            agentId: AGENT_ID,
            actor: 'ps',
          },
          f.ps.t.store.db,
          signer,
        ),
      );
    }

    for (const [what, claims, mismatch] of [
      ['aud another resource', { aud: 'https://other.example' }, /does not verify/],
      ['sub another person', { sub: 'someone-else' }, /\(sub\)/],
      ['a broader scope', { scope: 'notes.read notes.write' }, /\(scope\)/],
      ['ps another PS', { ps: 'https://other-ps.example' }, /\(ps\)/],
      ['iss another server', { iss: AS }, /does not verify/],
      ['exp after the agent token', {}, /\(exp\)/],
    ] as const) {
      it(`[§8.37] an AS auth token with ${what} is not relayed`, async () => {
        f.rogue = async () => {
          const token = await mintAuthToken(
            f.rogueSigner,
            { iss: ROGUE, dwk: 'aauth-access.json', aud: RS, ps: PS, sub: pt['sub'] as string, cnf: { jwk: f.agent.publicJwk }, scope: 'notes.read', ...claims },
            { now: () => f.clock.now, ttl: what.startsWith('exp') ? 3600 : 600 },
          );
          return Response.json({ auth_token: token, expires_in: 600 });
        };
        if (what.startsWith('exp')) f.clock.now += 1;
        await expect(federate(ROGUE)).rejects.toMatchObject({ code: 'server_error', detail: expect.stringMatching(mismatch) as unknown });
        expect(await f.ps.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'token.federated').execute()).toHaveLength(0);
      });
    }

    it('[§8.37] an AS auth token bound to another key is not relayed: the agent gets 500 server_error', async () => {
      await standingGrant();
      const other = await party();
      f.rogue = async () =>
        Response.json({
          auth_token: await mintAuthToken(f.rogueSigner, { iss: ROGUE, dwk: 'aauth-access.json', aud: RS, ps: PS, sub: pt['sub'] as string, cnf: { jwk: other.publicJwk } }, { now: () => f.clock.now, ttl: 600 }),
        });
      expect(await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: ROGUE }) }))).toMatchObject({ status: 500, error: 'server_error' });
      await expect(federate(ROGUE)).rejects.toMatchObject({ code: 'server_error', detail: expect.stringMatching(/\(cnf\)/) as unknown });
    });

    it('[§8.36] an Access Server that cannot be reached → 503 temporarily_unavailable', async () => {
      await standingGrant();
      const p = await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: 'https://unreachable.example' }) }));
      expect(p).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    });

    it('[§8.36] the PS still checks the resource token before federating (agent_jkt, presented_jti)', async () => {
      await standingGrant();
      const other = await party();
      expect(await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { agent_jkt: other.jkt }) }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      expect(await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { presented_jti: 'nope' }) }))).toMatchObject({ status: 400, error: 'unknown_person_token' });
      expect(f.calls.filter((x) => x.line.startsWith(`POST ${AS}`))).toHaveLength(0);
    });

    it('[§8.36] sub-agent: the PS sends the parent as agent_token and the sub-agent as subagent_token; the token is bound to the sub-agent', async () => {
      const sub = await party();
      const subToken = await f.agentToken({ sub: 'aauth:assistant+research@agent.example', parent_agent: AGENT_ID }, { key: sub });
      const spt = await f.personToken(alice, { body: { subagent_token: subToken } });
      const rt = await f.resourceToken(spt.claims, { agent_jkt: sub.jkt });
      const res = await f.post('/token', { resource_token: rt, subagent_token: subToken });
      expect(res.status).toBe(202);
      const result = await approveLast();
      expect(claimsOf(result['auth_token'] as string)).toMatchObject({ iss: AS, cnf: { jwk: sub.publicJwk }, sub: spt.claims['sub'] });
      const sent = JSON.parse(f.calls.find((x) => x.line === `POST ${AS}/token`)!.body) as Record<string, string>;
      expect(claimsOf(sent['agent_token']!)['sub']).toBe(AGENT_ID);
      expect(sent['subagent_token']).toBe(subToken);
    });

    describe('four-party call chaining: an Access Server token this PS relayed, as upstream_token', () => {
      /** R1 = RS acting as an agent: its own agent provider (issuer RS, key rs-1), its own request key. */
      async function r1(): Promise<{ key: Party; post: (path: string, body: Record<string, unknown>) => Promise<Response> }> {
        const key = await party();
        const token = await mintAgentToken(f.rs.signer, { iss: RS, sub: 'aauth:api@resource.example', cnf: { jwk: key.publicJwk } }, { now: () => f.clock.now, ttl: 3600 });
        return { key, post: (path, body) => f.post(path, body, { token, signer: key.signer }) };
      }

      async function relayed(): Promise<{ token: string; claims: Record<string, unknown> }> {
        await standingGrant();
        const res = await f.post('/token', { resource_token: await f.resourceToken(pt) });
        expect(res.status).toBe(200);
        const token = ((await res.json()) as { auth_token: string }).auth_token;
        return { token, claims: claimsOf(token) };
      }

      it("[§8.64] R1 names the AS's token it was called with: the person decides, the person token names R2 with her directed sub there", async () => {
        const upstream = await relayed();
        expect(upstream.claims).toMatchObject({ iss: AS, ps: PS, aud: RS });
        const res = await (await r1()).post('/person-token', { resource: RS2, upstream_token: upstream.token });
        expect(res.status).toBe(202);
        expect(f.ps.deferred.last()).toMatchObject({ kind: 'person_token', agent_id: 'aauth:api@resource.example', person_id: alice });
        const chained = claimsOf((await approveLast())['person_token'] as string);
        expect(chained).toMatchObject({ iss: PS, aud: RS2 });
        expect(chained['sub']).not.toBe(upstream.claims['sub']);
        expect(chained['exp'] as number).toBeLessThanOrEqual(upstream.claims['exp'] as number);
      });

      it("[§8.64] an AS token this PS did not relay is refused before any of the AS's keys are fetched, even from that AS", async () => {
        const upstream = await relayed();
        const asSigner = await f.as.ctx.keys.signer('as');
        const unrelayed = await mintAuthToken(
          asSigner,
          { iss: AS, dwk: 'aauth-access.json', ps: PS, aud: RS, sub: upstream.claims['sub'] as string, cnf: { jwk: f.agent.publicJwk }, scope: 'notes.read' },
          { now: () => f.clock.now, ttl: 600 },
        );
        const caller = await r1();
        const refused = await problem(await caller.post('/person-token', { resource: RS2, upstream_token: unrelayed }));
        expect(refused).toMatchObject({ status: 400, error: 'invalid_auth_token' });
        expect(refused.detail).toMatch(/names no person of this Person Server/);
        // A server this PS never relayed from: refused with no fetch at all.
        const before = f.calls.length;
        const rogue = await mintAuthToken(f.rogueSigner, { iss: ROGUE, dwk: 'aauth-access.json', ps: PS, aud: RS, sub: upstream.claims['sub'] as string, cnf: { jwk: f.agent.publicJwk } }, { now: () => f.clock.now, ttl: 600 });
        const fromRogue = await problem(await caller.post('/person-token', { resource: RS2, upstream_token: rogue }));
        expect(fromRogue).toMatchObject({ status: 400, error: 'invalid_auth_token' });
        expect(fromRogue.detail).toMatch(/not a token of this Person Server/);
        expect(f.calls.slice(before).filter((c) => c.line.includes(ROGUE))).toEqual([]);
      });

      it('[§8.64] a relayed token no longer stands once revoked, or once its agent is revoked', async () => {
        const upstream = await relayed();
        const caller = await r1();
        await f.ps.t.store.db.insertInto('revocations').values({ iss: AS, jti: upstream.claims['jti'] as string, exp: upstream.claims['exp'] as number, revoked_at: T0 }).execute();
        expect(await problem(await caller.post('/person-token', { resource: RS2, upstream_token: upstream.token }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });

        const again = await relayed();
        await f.ps.t.store.transaction((trx) => revokeTokensOfAgent(f.ps.ctx, trx, AGENT_ID, 'test'));
        expect(await problem(await caller.post('/person-token', { resource: RS2, upstream_token: again.token }))).toMatchObject({ status: 400, error: 'invalid_auth_token' });
      });

      it('[§8.64] R2 behind the Access Server too: the PS passes the upstream token on; the AS issues for R1, ending with the upstream token', async () => {
        const upstream = await relayed();
        const caller = await r1();
        expect((await caller.post('/person-token', { resource: RS2, upstream_token: upstream.token })).status).toBe(202);
        const pt2 = claimsOf((await approveLast())['person_token'] as string);
        const rt2 = await mintResourceToken(
          f.rs2.signer,
          { iss: RS2, aud: AS, ps: PS, sub: pt2['sub'] as string, presented_jti: pt2['jti'] as string, agent_jkt: caller.key.jkt, scope: 'notes.read' },
          { now: () => f.clock.now },
        );
        const res = await caller.post('/token', { resource_token: rt2, upstream_token: upstream.token });
        expect(res.status).toBe(202);
        const token = (await approveLast())['auth_token'] as string;
        const c = claimsOf(token);
        expect(c).toMatchObject({ iss: AS, ps: PS, aud: RS2, sub: pt2['sub'], cnf: { jwk: caller.key.publicJwk } });
        expect(c['exp'] as number).toBeLessThanOrEqual(upstream.claims['exp'] as number);
        const sent = JSON.parse(f.calls.filter((x) => x.line === `POST ${AS}/token`).at(-1)!.body) as Record<string, string>;
        expect(sent['upstream_token']).toBe(upstream.token);
        expect(claimsOf(sent['agent_token']!)).toMatchObject({ iss: RS, sub: 'aauth:api@resource.example' });
      });

      it('[§8.37] an AS answering a token id this PS already relayed for another person is not relayed', async () => {
        await standingGrant();
        const rogueToken = await mintAuthToken(f.rogueSigner, { iss: ROGUE, dwk: 'aauth-access.json', aud: RS, ps: PS, sub: pt['sub'] as string, cnf: { jwk: f.agent.publicJwk }, scope: 'notes.read' }, { now: () => f.clock.now, ttl: 600 });
        const jti = claimsOf(rogueToken)['jti'] as string;
        await f.ps.t.store.db
          .insertInto('issued_tokens')
          .values({ iss: ROGUE, jti, kind: 'relayed_auth_token', sub: 'someone', agent_id: 'aauth:other@agent.example', aud: RS, scope: null, person_id: 'prs_other', exp: T0 + 600, revoked_at: null })
          .execute();
        f.rogue = () => Promise.resolve(Response.json({ auth_token: rogueToken, expires_in: 600 }));
        const p = await problem(await f.post('/token', { resource_token: await f.resourceToken(pt, { aud: ROGUE }) }));
        expect(p).toMatchObject({ status: 500, error: 'server_error' });
        expect(await f.ps.t.store.db.selectFrom('issued_tokens').select('person_id').where('jti', '=', jti).executeTakeFirstOrThrow()).toEqual({ person_id: 'prs_other' });
      });
    });
  });
}
