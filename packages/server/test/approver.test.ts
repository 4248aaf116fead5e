/**
 * The approver API. Person authentication (`requirePerson` in src/auth/person-auth.ts, another part of the server)
 * is replaced here by a stand-in middleware: `Authorization: Bearer person:<id>` signs in the person with that id.
 * The Deferred service is a stand-in over the `pending_requests` table that records the decisions it is asked for.
 */
import { AAuthError } from '@tessera/protocol';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApproverApp } from '../src/api/approver-app.js';
import type { ServerContext } from '../src/context.js';
import type { ApprovalDecision, ConsentView, Deferred, PendingHandler, RefusalCode } from '../src/deferred/types.js';
import type { ServerKeys } from '../src/keys/server-keys.js';
import { createGrant } from '../src/store/grants.js';
import type { PendingRequest } from '../src/store/schema.js';
import type { Store } from '../src/store/store.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

vi.mock('../src/auth/person-auth.js', () => ({
  requirePerson:
    (ctx: { store: Store }): MiddlewareHandler =>
    async (c: Context, next: Next) => {
      const match = /^Bearer person:(\S+)$/.exec(c.req.header('authorization') ?? '');
      const person = match ? await ctx.store.db.selectFrom('people').selectAll().where('id', '=', match[1]!).executeTakeFirst() : undefined;
      if (!person) return c.json({ error: 'invalid_token', detail: 'stand-in: no person' }, 401);
      c.set('person', person);
      c.set('personAuth', { method: 'api_token' });
      await next();
      return undefined;
    },
}));

const T0 = 1_800_000_000;

interface Calls {
  approve: { id: string; decision: ApprovalDecision }[];
  refuse: { id: string; code: RefusalCode; personId: string | null }[];
}

/** A Deferred stand-in: pending requests live in the table; decisions are recorded and applied to the row. */
function standInDeferred(store: Store, calls: Calls): Deferred {
  const handlers = new Map<string, PendingHandler>();
  const get = (id: string) => store.db.selectFrom('pending_requests').selectAll().where('id', '=', id).executeTakeFirst();
  const set = async (id: string, status: PendingRequest['status'], error: string | null) => {
    await store.db.updateTable('pending_requests').set({ status, error }).where('id', '=', id).execute();
    return (await get(id))!;
  };
  return {
    register: (kind, handler) => void handlers.set(kind, handler),
    handler: (kind) => handlers.get(kind),
    create: () => Promise.reject(new Error('not in this stand-in')),
    accepted: () => Promise.reject(new Error('not in this stand-in')),
    findByCode: () => Promise.resolve(undefined),
    get,
    interacting: () => Promise.resolve(),
    async approve(id, decision) {
      calls.approve.push({ id, decision });
      if (id === 'p-fails') throw new AAuthError('denied', { detail: 'this agent is bound to another person' });
      return set(id, 'approved', null);
    },
    async refuse(id, code, personId) {
      calls.refuse.push({ id, code, personId });
      return set(id, code, code);
    },
    // Like the real one: bound to the person, or unbound (the app must still hide agents bound to others).
    listForPerson: (personId) =>
      store.db
        .selectFrom('pending_requests')
        .selectAll()
        .where((eb) => eb.or([eb('person_id', '=', personId), eb('person_id', 'is', null)]))
        .orderBy('id')
        .execute(),
  };
}

function approverContext(store: Store, now: () => number): ServerContext {
  return {
    mode: 'development',
    ps: { issuer: 'https://ps.example', name: 'PS' },
    ap: { issuer: 'https://ap.example', name: 'AP' },
    store,
    keys: {} as ServerKeys,
    now,
    resolveKey: () => Promise.reject(new Error('no key resolution in approver tests')),
    keyCache: {} as ServerContext['keyCache'],
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
}

const view = (pending: PendingRequest): ConsentView => ({
  summary: `${pending.agent_id} wants to read your calendar`,
  agent: { id: pending.agent_id, name: pending.agent_id, provider: 'https://agent.example' },
  scopes: [{ scope: 'calendar.read', description: 'Read your calendar' }],
  allowAlways: pending.agent_id !== 'aauth:strict@agent.example',
});

for (const kind of STORE_KINDS) {
  describe(`approver API on ${kind}`, () => {
    let t: TestStore;
    const now = T0;
    let calls: Calls;
    let app: ReturnType<typeof createApproverApp>;

    const call = (person: string | null, method: string, path: string, body?: unknown) =>
      app.request(path, {
        method,
        headers: { ...(person === null ? {} : { authorization: `Bearer person:${person}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });

    async function pending(id: string, agentId: string, extra: Partial<PendingRequest> = {}): Promise<void> {
      await t.store.db
        .insertInto('pending_requests')
        .values({ id, kind: 'person_token', agent_id: agentId, agent_jkt: 'jkt', person_id: null, status: 'pending', request: '{}', result: null, error: null, code_hash: null, code_failures: 0, clarification_rounds: 0, clarification: null, callback: null, created_at: now, updated_at: now, expires_at: now + 600, ...extra })
        .execute();
    }

    beforeAll(async () => {
      t = await testStore(kind, () => now);
      const db = t.store.db;
      for (const [id, username] of [['alice', 'alice'], ['bob', 'bob']]) {
        await db.insertInto('people').values({ id: id!, username: username!, display_name: username!, password_hash: 'x', created_at: T0 }).execute();
      }
      const agent = (id: string, person: string | null) => ({ id, name: id, description: '', agent_provider: 'https://agent.example', jwks_uri: null, jwks: null, allowed_scopes: '[]', requires_authorization: 0 as const, delegation_allowed: 0 as const, status: 'active' as const, person_id: person, created_at: T0, updated_at: T0 });
      await db.insertInto('agents').values([agent('aauth:mine@agent.example', 'alice'), agent('aauth:bobs@agent.example', 'bob'), agent('aauth:new@agent.example', null), agent('aauth:strict@agent.example', 'alice')]).execute();
      await pending('p-mine', 'aauth:mine@agent.example', { person_id: 'alice' });
      await pending('p-new', 'aauth:new@agent.example');
      await pending('p-bobs', 'aauth:bobs@agent.example'); // unbound row, but the agent is bound to bob
      await pending('p-for-bob', 'aauth:new@agent.example', { person_id: 'bob' });
      await pending('p-strict', 'aauth:strict@agent.example');
      await pending('p-done', 'aauth:mine@agent.example', { status: 'approved' });
      await pending('p-old', 'aauth:mine@agent.example', { expires_at: now - 1 });
      await pending('p-fails', 'aauth:new@agent.example');
    });
    afterAll(() => t.close());

    beforeEach(() => {
      calls = { approve: [], refuse: [] };
      const deferred = standInDeferred(t.store, calls);
      deferred.register('person_token', { describe: (p) => Promise.resolve(view(p)), approve: () => Promise.resolve({}) });
      app = createApproverApp(approverContext(t.store, () => now), deferred);
    });

    it('401 without a person', async () => {
      expect((await call(null, 'GET', '/pending')).status).toBe(401);
      expect((await call('mallory', 'GET', '/grants')).status).toBe(401);
    });

    it("GET /pending: open requests for me or nobody, with the consent view; never those of another person's agent", async () => {
      const r = await call('alice', 'GET', '/pending');
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      const body = (await r.json()) as { pending: { id: string; view: ConsentView }[] };
      expect(body.pending.map((p) => p.id)).toEqual(['p-fails', 'p-mine', 'p-new', 'p-strict']);
      expect(body.pending.find((p) => p.id === 'p-mine')).toMatchObject({ kind: 'person_token', status: 'pending', agent_id: 'aauth:mine@agent.example', view: { summary: expect.stringContaining('calendar'), allowAlways: true } });
      const bob = (await (await call('bob', 'GET', '/pending')).json()) as { pending: { id: string }[] };
      expect(bob.pending.map((p) => p.id)).toEqual(['p-bobs', 'p-fails', 'p-for-bob', 'p-new']);
    });

    it('approve (with always) goes to deferred.approve for me; deny goes to deferred.refuse(id, denied, me)', async () => {
      const approved = await call('alice', 'POST', '/pending/p-mine/approve', { always: true });
      expect(approved.status).toBe(200);
      expect(await approved.json()).toEqual({ id: 'p-mine', status: 'approved' });
      expect(calls.approve).toEqual([{ id: 'p-mine', decision: { personId: 'alice', always: true } }]);
      const denied = await call('alice', 'POST', '/pending/p-new/deny');
      expect(await denied.json()).toEqual({ id: 'p-new', status: 'denied' });
      expect(calls.refuse).toEqual([{ id: 'p-new', code: 'denied', personId: 'alice' }]);
      // An empty body approves once.
      expect((await call('alice', 'POST', '/pending/p-strict/approve')).status).toBe(200);
      expect(calls.approve.at(-1)).toEqual({ id: 'p-strict', decision: { personId: 'alice', always: false } });
    });

    it("a pending request of an agent bound to another person, or addressed to another person, is 404 (nothing decided)", async () => {
      for (const [id, action] of [['p-bobs', 'approve'], ['p-bobs', 'deny'], ['p-for-bob', 'approve'], ['nope', 'approve']] as const) {
        const r = await call('alice', 'POST', `/pending/${id}/${action}`);
        expect(r.status).toBe(404);
        expect(await r.json()).toEqual({ error: 'not_found', detail: 'no such pending request' });
      }
      expect(calls.approve).toEqual([]);
      expect(calls.refuse).toEqual([]);
    });

    it('409 for a decided or expired request; 400 for a bad body or always where it is not offered', async () => {
      expect(await (await call('alice', 'POST', '/pending/p-done/approve')).json()).toEqual({ error: 'conflict', detail: 'the request is already approved' });
      expect((await call('alice', 'POST', '/pending/p-old/deny')).status).toBe(409);
      await t.store.db.updateTable('pending_requests').set({ status: 'pending' }).where('id', '=', 'p-strict').execute();
      expect(await (await call('alice', 'POST', '/pending/p-strict/approve', { always: true })).json()).toMatchObject({ error: 'invalid_request', detail: expect.stringMatching(/^always: /) });
      expect(await (await call('alice', 'POST', '/pending/p-strict/approve', { always: 'yes' })).json()).toMatchObject({ error: 'invalid_request', detail: expect.stringMatching(/^always: /) });
      expect(await (await call('alice', 'POST', '/pending/p-strict/approve', '{')).json()).toMatchObject({ error: 'invalid_request' });
      expect(calls.approve).toEqual([]);
    });

    it("the approval's own error is answered as its problem (e.g. denied 403)", async () => {
      const r = await call('alice', 'POST', '/pending/p-fails/approve');
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ error: 'denied' });
    });

    it('grants: list mine; revoke mine (audited grant.revoked); 404 for another person\'s or a revoked grant', async () => {
      const mine = await createGrant(t.store.db, { personId: 'alice', agentId: 'aauth:mine@agent.example', resource: 'https://cal.example', kind: 'auth_token', scopes: ['write', 'read'] }, now);
      const bobs = await createGrant(t.store.db, { personId: 'bob', agentId: 'aauth:bobs@agent.example', resource: 'https://cal.example', kind: 'person_token', scopes: [] }, now);
      expect(await (await call('alice', 'GET', '/grants')).json()).toEqual({
        grants: [{ id: mine.id, agent_id: 'aauth:mine@agent.example', resource: 'https://cal.example', kind: 'auth_token', scopes: ['read', 'write'], created_at: now, revoked_at: null }],
      });
      expect((await call('alice', 'DELETE', `/grants/${bobs.id}`)).status).toBe(404);
      expect((await call('alice', 'DELETE', `/grants/${mine.id}`)).status).toBe(204);
      expect((await call('alice', 'DELETE', `/grants/${mine.id}`)).status).toBe(404);
      expect(await (await call('alice', 'GET', '/grants')).json()).toEqual({ grants: [] });
      expect(await (await call('alice', 'GET', '/grants?all=true')).json()).toMatchObject({ grants: [{ id: mine.id, revoked_at: now }] });
      const events = await t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'grant.revoked').execute();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ actor: 'person:alice', person: 'alice', agent: 'aauth:mine@agent.example', resource: 'https://cal.example' });
      expect(JSON.parse(events[0]!.detail)).toEqual({ grant: mine.id, kind: 'auth_token' });
      expect(await (await call('bob', 'GET', '/grants')).json()).toMatchObject({ grants: [{ id: bobs.id }] });
    });

    it('GET /agents: the agents bound to me', async () => {
      const body = (await (await call('alice', 'GET', '/agents')).json()) as { agents: { id: string; person_id: string }[] };
      expect(body.agents.map((a) => a.id)).toEqual(['aauth:mine@agent.example', 'aauth:strict@agent.example']);
      expect(body.agents.every((a) => a.person_id === 'alice')).toBe(true);
    });
  });
}
