/**
 * The Person Server's interaction endpoint (AAuth -11 §Interaction Endpoint, §Relaying Through the Person Server;
 * digest §5 "PS permission / audit / interaction", §6 B, §8.46, §8.50, §8.59, §8.60): the PS app, the approver API
 * and the account pages over the real Deferred service, on both stores. The agent signs with its agent token
 * (ps-fixture.ts); the person uses a personal API token (approver API) or a web session (account page). Tests of
 * the endpoint's own logic run on SQLite only (`logic`); those whose queries matter run on PostgreSQL too.
 */
import { AAuthError, signAAuthRequest, type Signer } from '@tessera/protocol';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApproverApp } from '../src/api/approver-app.js';
import { createApiToken } from '../src/auth/api-tokens.js';
import { cookieNames, createSession } from '../src/auth/sessions.js';
import { createDeferred } from '../src/deferred/deferred.js';
import { admitAgent, bindAgent } from '../src/ps/agent-admission.js';
import { MAX_OPEN_RELAYS_PER_AGENT, MAX_RELAY_SECONDS, readRelayInput } from '../src/ps/interaction-endpoint.js';
import { missionLog } from '../src/ps/missions.js';
import { createPersonServerApp } from '../src/ps/ps-app.js';
import { writeTrustPolicy } from '../src/registry/trust-policy.js';
import { INTERACTION_PATHS } from '../src/server.js';
import { createInteractionApp } from '../src/ui/ui-app.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, AP, party, PS, psFixture, T0, type PsFixture } from './ps-fixture.js';

const URL_RS = 'https://booking.example/confirm';
const CODE = 'X7K2-M9P4';
const RELAY = `${PS}/relay`;
const FORM = 'application/x-www-form-urlencoded';

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

for (const kind of STORE_KINDS) {
  describe(`PS interaction endpoint on ${kind}`, () => {
    let f: PsFixture;
    let host: Hono;
    let alice: string;

    /** A signed request to the PS host as the agent (`sig=jwt`, content-digest covered for a body). */
    async function signed(method: 'GET' | 'POST', url: string, body?: unknown, options: { token?: string; signer?: Signer; prefer?: string } = {}): Promise<Response> {
      const bytes = body === undefined ? undefined : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
      const headers: Record<string, string> = { ...(bytes === undefined ? {} : { 'content-type': 'application/json' }), ...(options.prefer === undefined ? {} : { prefer: options.prefer }) };
      const auth = await signAAuthRequest(
        { method, url, headers: Object.entries(headers), ...(bytes === undefined ? {} : { body: bytes }) },
        { signer: options.signer ?? f.agent.signer, token: options.token ?? (await f.agentToken()), now: () => f.clock.now },
      );
      return host.request(url, { method, headers: { ...headers, ...auth.headers }, ...(bytes === undefined ? {} : { body: bytes }) });
    }
    const relay = (body: unknown, options?: { token?: string; signer?: Signer; prefer?: string }) => signed('POST', RELAY, body, options);
    /** A poll of a pending URL, one second after the last (the Deferred service answers faster polls 429). */
    const poll = (url: string) => {
      f.clock.now += 2;
      return signed('GET', url);
    };
    const api = (method: string, path: string, token: string, body?: unknown) =>
      host.request(`${PS}/api${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const bindToAlice = async () => {
      await admitAgent(f.ctx, { iss: AP, sub: AGENT_ID });
      await bindAgent(f.ctx, AGENT_ID, alice, f.ctx.store.db);
    };
    const approverToken = async () => (await createApiToken(f.ctx, alice, 'phone')).token;
    const audits = async (type: string) => f.ctx.store.db.selectFrom('audit_events').selectAll().where('type', '=', type).execute();

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      const deferred = createDeferred(f.ctx);
      const ps = createPersonServerApp(f.ctx, deferred);
      const ui = createInteractionApp(f.ctx, deferred);
      host = new Hono();
      host.route('/api', createApproverApp(f.ctx, deferred));
      for (const path of INTERACTION_PATHS) host.all(path, (c) => ui.fetch(c.req.raw));
      host.all('*', (c) => ps.fetch(c.req.raw));
    });
    afterEach(() => f.close());
    /** A test of logic that no query shapes: SQLite only, to keep the file fast. */
    const logic = it.runIf(kind === 'sqlite');

    logic('§8.50 the metadata names the interaction endpoint, a path apart from the person-facing /interaction page', async () => {
      const doc = await json(await host.request(`${PS}/.well-known/aauth-person.json`));
      expect(doc['interaction_endpoint']).toBe(RELAY);
      // The consent page stays where it was, for people.
      const page = await host.request(`${PS}/interaction`);
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe('/login?next=%2Finteraction');
    });

    it('§8.50 an agent bound to no person → 424 interaction_unavailable (non-terminal), audited; nothing is relayed', async () => {
      const res = await relay({ type: 'interaction', url: URL_RS, code: CODE });
      expect(res.status).toBe(424);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await json(res)).toMatchObject({ error: 'interaction_unavailable' });
      expect(await f.ctx.store.db.selectFrom('pending_requests').selectAll().execute()).toEqual([]);
      expect((await audits('interaction.unavailable')).map((a) => JSON.parse(a.detail) as unknown)).toEqual([{ type: 'interaction', reason: 'unbound' }]);
    });

    logic('§8.50 a bound person the PS cannot reach (no session, no approver app) → 424; with a personal API token → 202', async () => {
      await bindToAlice();
      const unreachable = await relay({ type: 'interaction', url: URL_RS, code: CODE });
      expect(unreachable.status).toBe(424);
      expect((await json(unreachable))['error']).toBe('interaction_unavailable');
      await approverToken();
      expect((await relay({ type: 'interaction', url: URL_RS, code: CODE })).status).toBe(202);
    });

    it('§8.50 a live web session also counts as a channel; an expired one does not', async () => {
      await bindToAlice();
      await createSession(f.ctx, alice);
      expect((await relay({ type: 'interaction', url: URL_RS, code: CODE })).status).toBe(202);
      f.clock.now += 13 * 3600;
      expect((await relay({ type: 'interaction', url: URL_RS, code: CODE }, { token: await f.agentToken() })).status).toBe(424);
    });

    it('§8.50 relay: 202 (Location, Retry-After, no-store, pending) without AAuth-Requirement; the person sees it in the approver API; approving ends the relay with 200', async () => {
      await bindToAlice();
      const token = await approverToken();
      const res = await relay({ type: 'interaction', url: URL_RS, code: CODE, description: 'Confirm the **booking**' });
      expect(res.status).toBe(202);
      expect(res.headers.get('aauth-requirement')).toBeNull();
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('retry-after')).toBe('5');
      const location = res.headers.get('location')!;
      expect(location.startsWith(`${PS}/pending/`)).toBe(true);
      expect(await json(res)).toEqual({ status: 'pending' });

      const listed = await json(await api('GET', '/pending', token));
      const items = listed['pending'] as Record<string, unknown>[];
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({
        kind: 'interaction',
        agent_id: AGENT_ID,
        relay: { type: 'interaction', url: URL_RS, code: CODE, link: `${URL_RS}?code=${CODE}`, description: 'Confirm the **booking**' },
        view: { summary: `${AGENT_ID} asks you to continue at booking.example`, resource: { id: 'https://booking.example', name: 'booking.example' }, justification: 'Confirm the **booking**', allowAlways: false },
      });

      expect((await poll(location)).status).toBe(202);
      const id = items[0]!['id'] as string;
      expect((await api('POST', `/pending/${id}/approve`, token, { always: true })).status).toBe(400);
      expect((await api('POST', `/pending/${id}/approve`, token)).status).toBe(200);
      const done = await poll(location);
      expect(done.status).toBe(200);
      expect(await json(done)).toEqual({ status: 'relayed' });
      expect(await audits('interaction.relayed')).toHaveLength(1);
    });

    it('§8.50 the person follows the relay on the account page: listed with agent, host and code; GET /account/relay/:id → 303 to {url}?code={code}; the relay then answers 200', async () => {
      await bindToAlice();
      const { session, cookieValue } = await createSession(f.ctx, alice);
      const cookie = `${cookieNames(f.ctx).session}=${cookieValue}`;
      const res = await relay({ type: 'interaction', url: URL_RS, code: CODE, description: '<script>alert(1)</script>' });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      const id = location.split('/').pop()!;

      const page = await host.request(`${PS}/account`, { headers: { cookie } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('Requests from your agents');
      expect(html).toContain('booking.example');
      expect(html).toContain(CODE);
      expect(html).toContain(`/account/relay/${id}`);
      // Agent-asserted text is escaped, never markup.
      expect(html).not.toContain('<script>alert(1)</script>');
      expect(html).toContain('&lt;script&gt;');

      // Someone else's browser gets nothing.
      const bob = await f.person('bob');
      const other = await createSession(f.ctx, bob);
      const refused = await host.request(`${PS}/account/relay/${id}`, { headers: { cookie: `${cookieNames(f.ctx).session}=${other.cookieValue}` } });
      expect(refused.status).toBe(404);

      const follow = await host.request(`${PS}/account/relay/${id}`, { headers: { cookie } });
      expect(follow.status).toBe(303);
      expect(follow.headers.get('location')).toBe(`${URL_RS}?code=${CODE}`);
      expect(await json(await poll(location))).toEqual({ status: 'relayed' });
      // Followed once: the relay is gone from the page, and a second visit says so.
      expect(await (await host.request(`${PS}/account`, { headers: { cookie } })).text()).not.toContain(`/account/relay/${id}`);
      expect((await host.request(`${PS}/account/relay/${id}`, { headers: { cookie } })).status).toBe(410);
      expect(session.personId).toBe(alice);
    });

    logic('§8.50 the person dismisses a relay → its pending URL answers 403 denied', async () => {
      await bindToAlice();
      const { session, cookieValue } = await createSession(f.ctx, alice);
      const cookie = `${cookieNames(f.ctx).session}=${cookieValue}`;
      const location = (await relay({ type: 'payment', url: 'https://pay.example/approve' })).headers.get('location')!;
      const id = location.split('/').pop()!;
      const form = new URLSearchParams({ csrf: session.csrfToken, pending: id }).toString();
      const noCsrf = await host.request(`${PS}/account/relay/dismiss`, { method: 'POST', headers: { cookie, origin: PS, 'content-type': FORM }, body: `pending=${id}` });
      expect(noCsrf.status).toBe(403);
      const dismissed = await host.request(`${PS}/account/relay/dismiss`, { method: 'POST', headers: { cookie, origin: PS, 'content-type': FORM }, body: form });
      expect(dismissed.status).toBe(303);
      const polled = await poll(location);
      expect(polled.status).toBe(403);
      expect((await json(polled))['error']).toBe('denied');
    });

    it('§8.59 question: the person answers through the approver API → the pending URL answers 200 {answer}; approving without an answer is refused', async () => {
      await bindToAlice();
      const token = await approverToken();
      const res = await relay({ type: 'question', question: 'Refundable or not?' });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      const id = location.split('/').pop()!;
      const items = (await json(await api('GET', '/pending', token)))['pending'] as Record<string, unknown>[];
      expect(items[0]).toMatchObject({ id, relay: { type: 'question', question: 'Refundable or not?' }, view: { summary: `${AGENT_ID} asks you a question` } });

      expect((await api('POST', `/pending/${id}/approve`, token)).status).toBe(400);
      expect((await api('POST', `/pending/${id}/answer`, token, { answer: '   ' })).status).toBe(400);
      expect((await api('POST', `/pending/${id}/answer`, token, { answer: 42 })).status).toBe(400);
      const answered = await api('POST', `/pending/${id}/answer`, token, { answer: 'Yes, go ahead with the refundable option.' });
      expect(answered.status).toBe(200);
      const done = await poll(location);
      expect(done.status).toBe(200);
      expect(await json(done)).toEqual({ answer: 'Yes, go ahead with the refundable option.' });
      // One answer only.
      expect((await api('POST', `/pending/${id}/answer`, token, { answer: 'No' })).status).toBe(409);
      expect(await audits('interaction.answered')).toHaveLength(1);
    });

    logic('§8.59 question: answered on the account page form, within a mission: the mission log keeps question and answer', async () => {
      await bindToAlice();
      const { session, cookieValue } = await createSession(f.ctx, alice);
      const cookie = `${cookieNames(f.ctx).session}=${cookieValue}`;
      // A mission of this agent, approved by alice.
      const proposal = await signed('POST', `${PS}/mission`, { description: 'Book the trip' });
      expect(proposal.status).toBe(202);
      const missionPending = proposal.headers.get('location')!.split('/').pop()!;
      const deferredHost = await host.request(`${PS}/api/pending/${missionPending}/approve`, { method: 'POST', headers: { authorization: `Bearer ${await approverToken()}` } });
      expect(deferredHost.status).toBe(200);
      const s256 = (await json(await poll(proposal.headers.get('location')!)))['s256'] as string;

      const res = await relay({ type: 'question', question: 'Window or aisle?', mission_s256: s256 });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      const id = location.split('/').pop()!;
      expect(await (await host.request(`${PS}/account`, { headers: { cookie } })).text()).toContain('Window or aisle?');
      const blank = await host.request(`${PS}/account/relay/answer`, { method: 'POST', headers: { cookie, origin: PS, 'content-type': FORM }, body: new URLSearchParams({ csrf: session.csrfToken, pending: id, answer: ' ' }).toString() });
      expect(blank.status).toBe(400);
      const sent = await host.request(`${PS}/account/relay/answer`, { method: 'POST', headers: { cookie, origin: PS, 'content-type': FORM }, body: new URLSearchParams({ csrf: session.csrfToken, pending: id, answer: 'Aisle' }).toString() });
      expect(sent.status).toBe(303);
      expect(sent.headers.get('location')).toBe('/account?done=relay-answered');
      expect(await json(await poll(location))).toEqual({ answer: 'Aisle' });
      const log = (await missionLog(f.ctx.store.db, s256)).filter((e) => e.type === 'interaction').map((e) => JSON.parse(e.entry) as unknown);
      expect(log).toEqual([
        { type: 'question', question: 'Window or aisle?' },
        { type: 'question', question: 'Window or aisle?', answer: 'Aisle' },
      ]);
    });

    logic('§8.61 a relay whose agent token was revoked meanwhile cannot be followed: the page says so, the relay answers 403 denied', async () => {
      await bindToAlice();
      const { cookieValue } = await createSession(f.ctx, alice);
      const cookie = `${cookieNames(f.ctx).session}=${cookieValue}`;
      const token = await f.agentToken();
      const location = (await relay({ type: 'interaction', url: URL_RS, code: CODE }, { token })).headers.get('location')!;
      const { iss, jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iss: string; jti: string };
      await f.ctx.store.db.insertInto('revocations').values({ iss, jti, revoked_at: f.clock.now, exp: f.clock.now + 3600 }).execute();
      const follow = await host.request(`${PS}/account/relay/${location.split('/').pop()!}`, { headers: { cookie } });
      expect(follow.status).toBe(403);
      expect(follow.headers.get('location')).toBeNull();
      const polled = await poll(location);
      expect(polled.status).toBe(403);
      expect((await json(polled))['error']).toBe('denied');
    });

    logic('§8.59 a question nobody can answer → 403 user_unreachable (terminal)', async () => {
      const unbound = await relay({ type: 'question', question: 'Anyone?' });
      expect(unbound.status).toBe(403);
      expect((await json(unbound))['error']).toBe('user_unreachable');
      await bindToAlice();
      const unreachable = await relay({ type: 'question', question: 'Anyone?' });
      expect(unreachable.status).toBe(403);
      expect((await json(unreachable))['error']).toBe('user_unreachable');
    });

    it('§8.50 max_wait bounds how long the relay is held (capped); past it the relay answers 408 expired', async () => {
      await bindToAlice();
      await approverToken();
      const short = await relay({ type: 'interaction', url: URL_RS, code: CODE, max_wait: 30 });
      const long = await relay({ type: 'interaction', url: URL_RS, code: CODE, max_wait: 10 * MAX_RELAY_SECONDS });
      const rows = await f.ctx.store.db.selectFrom('pending_requests').select(['id', 'created_at', 'expires_at']).orderBy('expires_at').execute();
      expect(rows.map((r) => r.expires_at - r.created_at)).toEqual([30, MAX_RELAY_SECONDS]);
      f.clock.now += 31;
      const expired = await poll(short.headers.get('location')!);
      expect(expired.status).toBe(408);
      expect((await json(expired))['error']).toBe('expired');
      expect((await poll(long.headers.get('location')!)).status).toBe(202);
    });

    it('§8.50 an agent may hold a bounded number of open relays; beyond it the PS does not relay (424)', async () => {
      await bindToAlice();
      await approverToken();
      for (let i = 0; i < MAX_OPEN_RELAYS_PER_AGENT; i++) expect((await relay({ type: 'interaction', url: URL_RS, code: CODE })).status).toBe(202);
      const refused = await relay({ type: 'interaction', url: URL_RS, code: CODE });
      expect(refused.status).toBe(424);
      expect((await audits('interaction.unavailable')).map((a) => (JSON.parse(a.detail) as { reason: string }).reason)).toEqual(['too_many']);
    });

    logic('§8.50 under an allowlist trust policy a site that is not listed is not relayed to (424)', async () => {
      await bindToAlice();
      await approverToken();
      await writeTrustPolicy(f.ctx, { mode: 'allowlist', agent_providers: [AP], resources: ['https://calendar.example'] }, 'test');
      expect((await relay({ type: 'interaction', url: URL_RS, code: CODE })).status).toBe(424);
      expect((await relay({ type: 'interaction', url: 'https://calendar.example/interact', code: CODE })).status).toBe(202);
    });

    logic('§8.50 the relay is audited without its code; within a mission its log keeps the request without the code', async () => {
      await bindToAlice();
      await approverToken();
      expect((await relay({ type: 'interaction', url: URL_RS, code: CODE })).status).toBe(202);
      const events = await f.ctx.store.db.selectFrom('audit_events').selectAll().where('type', 'like', 'interaction.%').execute();
      expect(events.map((e) => e.type)).toEqual(['interaction.requested']);
      expect(JSON.parse(events[0]!.detail)).toEqual({ type: 'interaction', host: 'booking.example' });
      const all = JSON.stringify(await f.ctx.store.db.selectFrom('audit_events').selectAll().execute());
      expect(all).not.toContain('X7K2');
    });

    logic('§8.46 §8.60 bad input → 400 invalid_request (problem+json): type missing or unknown, url not https / with query, fragment or userinfo, code malformed or missing, max_wait not a positive integer, question missing, not JSON', async () => {
      await bindToAlice();
      await approverToken();
      const bad: unknown[] = [
        {},
        { type: 'notify', url: URL_RS, code: CODE },
        { type: 7 },
        { type: 'interaction', code: CODE },
        { type: 'interaction', url: 'http://booking.example/confirm', code: CODE },
        { type: 'interaction', url: 'http://127.0.0.1:8080/confirm', code: CODE },
        { type: 'interaction', url: `${URL_RS}?x=1`, code: CODE },
        { type: 'interaction', url: `${URL_RS}#top`, code: CODE },
        { type: 'interaction', url: 'https://user:pw@booking.example/confirm', code: CODE },
        { type: 'interaction', url: 'javascript:alert(1)', code: CODE },
        { type: 'interaction', url: URL_RS },
        { type: 'interaction', url: URL_RS, code: 'ABC' },
        { type: 'interaction', url: URL_RS, code: 'X7K2-M9PU' },
        { type: 'interaction', url: URL_RS, code: 'x7k2m9p4' },
        { type: 'interaction', url: URL_RS, code: 12345678 },
        { type: 'interaction', url: URL_RS, code: CODE, max_wait: 0 },
        { type: 'interaction', url: URL_RS, code: CODE, max_wait: 1.5 },
        { type: 'interaction', url: URL_RS, code: CODE, max_wait: '30' },
        { type: 'interaction', url: URL_RS, code: CODE, description: { md: 'x' } },
        { type: 'question' },
        { type: 'question', question: '   ' },
        { type: 'interaction', url: URL_RS, code: CODE, mission_s256: 'not a digest' },
        'not json',
      ];
      for (const body of bad) {
        const res = await relay(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect((await json(res))['error']).toBe('invalid_request');
      }
      expect(await f.ctx.store.db.selectFrom('pending_requests').selectAll().execute()).toEqual([]);
      // A payment may come without a code.
      expect((await relay({ type: 'payment', url: 'https://pay.example/approve' })).status).toBe(202);
    });

    logic('§8.46 loopback http URLs only where the server allows loopback (development)', () => {
      expect(readRelayInput({ type: 'interaction', url: 'http://127.0.0.1:8080/confirm', code: CODE }, { allowLoopbackHttp: true })).toMatchObject({ url: 'http://127.0.0.1:8080/confirm' });
      expect(() => readRelayInput({ type: 'interaction', url: 'http://192.168.1.2/confirm', code: CODE }, { allowLoopbackHttp: true })).toThrow(AAuthError);
      expect(() => readRelayInput({ type: 'interaction', url: 'http://127.0.0.1:8080/confirm', code: CODE }, { allowLoopbackHttp: false })).toThrow(AAuthError);
    });

    logic('§8.50 only agent-token-signed requests: unsigned → 401, a sub-agent token → 400 invalid_agent_token, an unknown mission → 404 mission_not_found', async () => {
      const unsigned = await host.request(RELAY, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'interaction', url: URL_RS, code: CODE }) });
      expect(unsigned.status).toBe(401);
      const sub = await party();
      const subToken = await f.agentToken({ sub: 'aauth:assistant+sub@agent.example', parent_agent: AGENT_ID }, { key: sub });
      const bySub = await relay({ type: 'interaction', url: URL_RS, code: CODE }, { token: subToken, signer: sub.signer });
      expect(bySub.status).toBe(400);
      expect((await json(bySub))['error']).toBe('invalid_agent_token');
      await bindToAlice();
      await approverToken();
      const unknown = await relay({ type: 'interaction', url: URL_RS, code: CODE, mission_s256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' });
      expect(unknown.status).toBe(404);
      expect((await json(unknown))['error']).toBe('mission_not_found');
    });

    logic('§8.50 Prefer: wait: a relay the person takes up meanwhile is answered 200 at once', async () => {
      await bindToAlice();
      const token = await approverToken();
      const pending = relay({ type: 'interaction', url: URL_RS, code: CODE }, { prefer: 'wait=5' });
      // The person approves while the agent's request waits.
      let id: string | undefined;
      for (let n = 0; n < 200 && id === undefined; n++) {
        const items = (await json(await api('GET', '/pending', token)))['pending'] as { id: string }[];
        id = items[0]?.id;
        if (id === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      expect((await api('POST', `/pending/${id!}/approve`, token)).status).toBe(200);
      const res = await pending;
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ status: 'relayed' });
      expect(f.clock.now).toBeGreaterThanOrEqual(T0);
    });
  });
}
