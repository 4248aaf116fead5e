/**
 * The Deferred service over HTTP (`app.request()`), on SQLite and PostgreSQL: AAuth -11 §Deferred Responses,
 * §Interaction Code Format, §Clarification Chat; digest §8 items 42–49.
 */
import {
  AAuthError,
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  mintAgentToken,
  parseAAuthRequirement,
  publicJwkOf,
  signAAuthRequest,
  VerifyKeyCache,
  type KeyResolver,
  type PrivateJwk,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';
import { Hono } from 'hono';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../src/context.js';
import {
  createDeferred,
  interactionCodeHash,
  MAX_CLARIFICATION_ROUNDS,
  MAX_CODE_FAILURES,
  type ExtendedDeferredService,
  type RequestUpdatingHandler,
} from '../src/deferred/deferred.js';
import type { CreatedPending, PendingHandler } from '../src/deferred/types.js';
import { ServerKeys } from '../src/keys/server-keys.js';
import type { PendingRequest } from '../src/store/schema.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

const PS = 'https://ps.example';
const AP = 'https://agent.example';
const AGENT_ID = 'aauth:assistant@agent.example';
const T0 = 1_800_000_000;

interface Agent {
  readonly key: PrivateJwk;
  readonly signer: Signer;
  readonly token: string;
  readonly jkt: string;
}

/** A fake consent kind: approve issues `{auth_token}` (and writes a settings row, to observe rollbacks). */
function fakeHandler(overrides: Partial<RequestUpdatingHandler> = {}): PendingHandler & { approvals: PendingRequest[] } {
  const approvals: PendingRequest[] = [];
  return {
    approvals,
    describe: () => Promise.resolve({ summary: 'test', agent: { id: AGENT_ID, name: 'Test', provider: AP }, scopes: [], allowAlways: false }),
    async approve(pending, decision, trx) {
      approvals.push(pending);
      await trx.insertInto('settings').values({ key: `approved:${pending.id}`, value: '1', updated_at: 1 }).execute();
      return { auth_token: `token-for-${pending.id}`, expires_in: 3600, always: decision.always };
    },
    ...overrides,
  };
}

for (const kind of STORE_KINDS) {
  describe(`Deferred service on ${kind}`, () => {
    let t: TestStore;
    let clock = T0;
    const now = (): number => clock;
    let ctx: ServerContext;
    let deferred: ExtendedDeferredService;
    let app: Hono;
    let agent: Agent;
    let other: Agent;
    let apSigner: Signer;
    let handler: ReturnType<typeof fakeHandler>;

    async function makeAgent(kid: string): Promise<Agent> {
      const key = await generateKeyPair('Ed25519', kid);
      const token = await mintAgentToken(apSigner, { iss: AP, sub: AGENT_ID, cnf: { jwk: publicJwkOf(key) } }, { now: () => T0, ttl: 24 * 3600 });
      return { key, signer: await createSigner(key), token, jkt: await jwkThumbprint(publicJwkOf(key)) };
    }

    /** A signed request to the PS (or AP) host, as the agent sends it. */
    async function send(
      method: string,
      url: string,
      options: { as?: Agent; body?: unknown; headers?: Record<string, string>; target?: Hono } = {},
    ): Promise<Response> {
      const as = options.as ?? agent;
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      let body: Uint8Array<ArrayBuffer> | undefined;
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = new TextEncoder().encode(typeof options.body === 'string' ? options.body : JSON.stringify(options.body));
      }
      const signed = await signAAuthRequest({ method, url, headers, ...(body === undefined ? {} : { body }) }, { signer: as.signer, token: as.token, now });
      return (options.target ?? app).request(url, { method, headers: { ...headers, ...signed.headers }, ...(body === undefined ? {} : { body }) });
    }

    const poll = (created: CreatedPending | PendingRequest, options: Parameters<typeof send>[2] = {}): Promise<Response> =>
      send('GET', `${PS}/pending/${'pending' in created ? created.pending.id : created.id}`, options);

    const create = (overrides: { personId?: string | null; ttlSeconds?: number; kind?: 'auth_token' | 'enrolment' | 'person_token' } = {}): Promise<CreatedPending> =>
      deferred.create({
        kind: overrides.kind ?? 'auth_token',
        agentId: AGENT_ID,
        agentJkt: agent.jkt,
        personId: overrides.personId ?? null,
        request: { resource_token: 'rt', scope: 'calendar.read' },
        ...(overrides.ttlSeconds === undefined ? {} : { ttlSeconds: overrides.ttlSeconds }),
      });

    async function person(id: string): Promise<string> {
      await t.store.db.insertInto('people').values({ id, username: id, display_name: id, password_hash: 'x', created_at: T0 }).execute();
      return id;
    }

    const auditTypes = async (requestId: string): Promise<string[]> =>
      (await t.store.db.selectFrom('audit_events').select('type').where('request_id', '=', requestId).execute()).map((r) => r.type).sort();

    beforeAll(async () => {
      t = await testStore(kind, () => clock);
      const apKey = await generateKeyPair('Ed25519', 'ap-key-1');
      apSigner = await createSigner(apKey);
      const keys = new Map<string, Promise<VerifyKey>>([[`${AP}|ap-key-1`, importVerifyKey(publicJwkOf(apKey))]]);
      const resolveKey: KeyResolver = ({ iss, kid }) => keys.get(`${iss}|${kid}`) ?? Promise.reject(new AAuthError('unknown_key'));
      ctx = {
        mode: 'production',
        ps: { issuer: PS, name: 'Test PS' },
        ap: { issuer: AP, name: 'Test AP' },
        store: t.store,
        keys: new ServerKeys(t.store, now),
        now,
        resolveKey,
        keyCache: new VerifyKeyCache(),
        log: pino({ level: 'silent' }),
        allowLoopbackHttp: false,
      };
      agent = await makeAgent('agent-1');
      other = await makeAgent('agent-2');
      await person('alice');
      await person('bob');
    });
    afterAll(() => t.close());

    beforeEach(() => {
      clock += 1000; // every test starts after the earlier tests' pending requests (600 s default) have expired
      deferred = createDeferred(ctx, { recheckMs: 5_000 }); // wake-ups, not re-reads, must end long-polls
      handler = fakeHandler({
        updateRequest(_pending, input) {
          if (input.body['resource_token'] === 'bad') return Promise.reject(new AAuthError('invalid_resource_token', { detail: 'bad token' }));
          return Promise.resolve({ resource_token: input.body['resource_token'], scope: 'calendar.read', updated: true });
        },
      });
      deferred.register('auth_token', handler);
      app = new Hono();
      app.route('/pending', deferred.routes('ps'));
    });

    it('[§8.42] the 202: same-origin Location, Retry-After, no-store, AAuth-Requirement interaction, {"status":"pending"}', async () => {
      const created = await create();
      const res = await deferred.accepted(created);
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`${PS}/pending/${created.pending.id}`);
      expect(created.pending.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({ status: 'pending' });
      const requirement = parseAAuthRequirement(res.headers.get('aauth-requirement')!);
      expect(requirement).toEqual({ requirement: 'interaction', url: `${PS}/interaction`, code: created.code });
      expect(created.interactionUrl).toBe(`${PS}/interaction`);
      // §8.45: ≥ 8 Crockford symbols; only the SHA-256 of the normalized code is stored.
      expect(created.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
      const row = (await deferred.get(created.pending.id))!;
      expect(row.status).toBe('pending');
      expect(row.expires_at).toBe(clock + 600);
      expect(row.code_hash).toBe(interactionCodeHash(created.code.replace('-', '')));
      expect(JSON.stringify(row)).not.toContain(created.code.replace('-', ''));
      expect(await auditTypes(created.pending.id)).toEqual(['pending.created']);
    });

    it('[§8.43] a signed GET by the agent polls: 202 pending with the same headers', async () => {
      const created = await create();
      const res = await poll(created);
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`${PS}/pending/${created.pending.id}`);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ status: 'pending' });
    });

    it('[§7] a poll signed by another key answers the same 404 as an unknown pending URL; an unsigned poll 401', async () => {
      const created = await create();
      const byOther = await poll(created, { as: other });
      const unknown = await send('GET', `${PS}/pending/AAAAAAAAAAAAAAAAAAAAAA`);
      const malformed = await send('GET', `${PS}/pending/nope`);
      expect(byOther.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(malformed.status).toBe(404);
      const bodies = [await byOther.text(), await unknown.text(), await malformed.text()];
      expect(new Set(bodies).size).toBe(1);
      expect(JSON.parse(bodies[0]!)).toMatchObject({ error: 'invalid_request' });
      expect(byOther.headers.get('content-type')).toBe('application/problem+json');
      // Unsigned: 401 + Signature-Error whether or not the id exists.
      const unsigned = await app.request(`${PS}/pending/${created.pending.id}`);
      const unsignedUnknown = await app.request(`${PS}/pending/AAAAAAAAAAAAAAAAAAAAAA`);
      expect(unsigned.status).toBe(401);
      expect(unsignedUnknown.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toBe('error=invalid_request');
      expect(unsignedUnknown.headers.get('signature-error')).toBe('error=invalid_request');
      // The other key's DELETE and POST do nothing either.
      expect((await send('DELETE', `${PS}/pending/${created.pending.id}`, { as: other })).status).toBe(404);
      expect((await deferred.get(created.pending.id))!.status).toBe('pending');
    });

    it('approval: the handler runs in the transaction, polls answer 200 with the result, repeatedly (idempotent)', async () => {
      const created = await create();
      const approved = await deferred.approve(created.pending.id, { personId: 'alice', always: true });
      expect(approved.status).toBe('approved');
      expect(approved.person_id).toBe('alice');
      expect(handler.approvals.map((p) => p.id)).toEqual([created.pending.id]);
      for (let i = 0; i < 2; i++) {
        const res = await poll(created);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(await res.json()).toEqual({ auth_token: `token-for-${created.pending.id}`, expires_in: 3600, always: true });
      }
      expect(await auditTypes(created.pending.id)).toEqual(['approval.given', 'pending.created']);
      // A decided request cannot be decided again.
      await expect(deferred.approve(created.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'invalid_code' });
      await expect(deferred.refuse(created.pending.id, 'denied', 'alice')).rejects.toMatchObject({ code: 'invalid_code' });
      // The stored result is kept a while after the decision, then the URL is gone.
      clock += 301;
      expect((await poll(created)).status).toBe(200);
      clock += 600;
      const gone = await poll(created);
      expect(gone.status).toBe(410);
    });

    it('a handler that throws an AAuthError fails the request with that error; its writes are rolled back', async () => {
      deferred = createDeferred(ctx);
      deferred.register(
        'auth_token',
        fakeHandler({
          async approve(pending, _decision, trx) {
            await trx.insertInto('settings').values({ key: `approved:${pending.id}`, value: '1', updated_at: 1 }).execute();
            throw new AAuthError('invalid_resource_token', { detail: 'the resource is not trusted' });
          },
        }),
      );
      app = new Hono();
      app.route('/pending', deferred.routes('ps'));
      const created = await create();
      await expect(deferred.approve(created.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'invalid_resource_token' });
      const failed = (await deferred.get(created.pending.id))!;
      expect(failed.status).toBe('failed');
      expect(failed.error).toBe('invalid_resource_token');
      await expect(deferred.approve(created.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'invalid_code' });
      expect(await t.store.db.selectFrom('settings').selectAll().where('key', '=', `approved:${created.pending.id}`).execute()).toEqual([]);
      const res = await poll(created);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_resource_token' });
      expect(await auditTypes(created.pending.id)).toEqual(['approval.failed', 'pending.created']);
    });

    it('[§8.43] a long-poll (Prefer: wait) answers within ~100 ms of the approval', async () => {
      const created = await create();
      const started = performance.now();
      const pending = poll(created, { headers: { prefer: 'wait=10' } });
      await new Promise((r) => setTimeout(r, 150));
      const approvedAt = performance.now();
      await deferred.approve(created.pending.id, { personId: 'alice', always: false });
      const res = await pending;
      const answeredAt = performance.now();
      expect(res.status).toBe(200);
      expect(answeredAt - approvedAt).toBeLessThan(400);
      expect(answeredAt - started).toBeGreaterThanOrEqual(140);
    });

    it('a long-poll sees a decision taken by another instance (re-reads the store between wake-ups)', async () => {
      const instanceA = createDeferred(ctx, { recheckMs: 100 });
      instanceA.register('auth_token', fakeHandler());
      const appA = new Hono();
      appA.route('/pending', instanceA.routes('ps'));
      const created = await create(); // through instance B (`deferred`)
      const waiting = poll(created, { headers: { prefer: 'wait=10' }, target: appA });
      await new Promise((r) => setTimeout(r, 150));
      const approvedAt = performance.now();
      await deferred.approve(created.pending.id, { personId: 'alice', always: false });
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(performance.now() - approvedAt).toBeLessThan(1000);
    });

    it('a long-poll ends at its wait with 202, and wakes when the person opens the page (interacting)', async () => {
      const created = await create();
      let started = performance.now();
      const res = await poll(created, { headers: { prefer: 'wait=1' } });
      expect(res.status).toBe(202);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      clock += 5;
      started = performance.now();
      const waiting = poll(created, { headers: { prefer: 'wait=10' } });
      await new Promise((r) => setTimeout(r, 100));
      await deferred.interacting(created.pending.id, 'alice');
      const woke = await waiting;
      expect(performance.now() - started).toBeLessThan(1500);
      expect(woke.status).toBe(202);
      expect(await woke.json()).toEqual({ status: 'interacting' });
      expect((await deferred.get(created.pending.id))!.person_id).toBe('alice');
    });

    it('accepted(created, preferWait) answers the terminal response when the person decides during the wait', async () => {
      const created = await create();
      const answer = deferred.accepted(created, 10);
      await new Promise((r) => setTimeout(r, 100));
      await deferred.refuse(created.pending.id, 'denied', 'alice');
      const res = await answer;
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'denied' });
      // preferWait is capped at 60 s and never runs past the pending request's lifetime.
      const short = await create({ ttlSeconds: 1 });
      clock += 1;
      const started = performance.now();
      const expired = await deferred.accepted(short, 3600);
      expect(performance.now() - started).toBeLessThan(500);
      expect(expired.status).toBe(408);
    });

    it('[§8.44] terminal answers: denied and abandoned 403 (no Signature-Error), expired 408', async () => {
      const denied = await create();
      await deferred.refuse(denied.pending.id, 'denied', 'alice');
      let res = await poll(denied);
      expect(res.status).toBe(403);
      expect(res.headers.get('signature-error')).toBeNull();
      expect(res.headers.get('accept-signature-scheme')).toBeNull();
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ error: 'denied' });

      const abandoned = await create();
      await deferred.interacting(abandoned.pending.id, 'alice');
      await deferred.refuse(abandoned.pending.id, 'abandoned', 'alice');
      res = await poll(abandoned);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'abandoned' });

      // Computed lazily: past expires_at a pending request answers 408 without any write.
      const lapsed = await create({ ttlSeconds: 30 });
      clock += 30;
      res = await poll(lapsed);
      expect(res.status).toBe(408);
      expect(await res.json()).toMatchObject({ error: 'expired' });
      expect((await deferred.get(lapsed.pending.id))!.status).toBe('pending');
      await expect(deferred.approve(lapsed.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'expired' });
      const marked = await deferred.refuse(lapsed.pending.id, 'expired', null);
      expect(marked.status).toBe('expired');
      expect((await poll(lapsed)).status).toBe(408);
      expect(await auditTypes(lapsed.pending.id)).toEqual(['approval.refused', 'pending.created']);
    });

    it('[§8.48] DELETE cancels; the pending URL then answers 410, also after an approval', async () => {
      const created = await create();
      const del = await send('DELETE', `${PS}/pending/${created.pending.id}`);
      expect(del.status).toBe(204);
      const res = await poll(created);
      expect(res.status).toBe(410);
      expect(await res.json()).toMatchObject({ error: 'invalid_code' });
      expect((await send('DELETE', `${PS}/pending/${created.pending.id}`)).status).toBe(410);
      expect((await send('POST', `${PS}/pending/${created.pending.id}`, { body: { action: 'clarification_response', clarification_response: 'x' } })).status).toBe(410);
      await expect(deferred.approve(created.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'invalid_code' });
      expect(await auditTypes(created.pending.id)).toEqual(['pending.cancelled', 'pending.created']);

      const approved = await create();
      await deferred.approve(approved.pending.id, { personId: 'alice', always: false });
      expect((await poll(approved)).status).toBe(200);
      expect((await send('DELETE', `${PS}/pending/${approved.pending.id}`)).status).toBe(204);
      expect((await poll(approved)).status).toBe(410);
      expect((await deferred.get(approved.pending.id))!.result).toBeNull();
    });

    it('[§8.48] a POST without action, or with an unknown one, answers 400 invalid_request', async () => {
      const created = await create();
      const url = `${PS}/pending/${created.pending.id}`;
      for (const body of [{}, { action: 'nope' }, { clarification_response: 'hi' }, '[1]', 'not json']) {
        const res = await send('POST', url, { body });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(await res.json()).toMatchObject({ error: 'invalid_request' });
      }
      // An answer with no question open is refused too.
      const res = await send('POST', url, { body: { action: 'clarification_response', clarification_response: 'unasked' } });
      expect(res.status).toBe(400);
      expect((await deferred.get(created.pending.id))!.clarification).toBeNull();
    });

    it('[§8.49] clarification chat: 202 requirement=clarification, POSTed answers, capped at 5 rounds', async () => {
      const created = await create();
      const url = `${PS}/pending/${created.pending.id}`;
      for (let round = 1; round <= MAX_CLARIFICATION_ROUNDS; round++) {
        await deferred.clarify(created.pending.id, { clarification: `Question ${round}?`, options: ['yes', 'no'] }, 'alice');
        await expect(deferred.clarify(created.pending.id, { clarification: 'Another?' }, 'alice')).rejects.toMatchObject({ code: 'invalid_request' });
        clock += 1;
        const asked = await poll(created);
        expect(asked.status).toBe(202);
        expect(parseAAuthRequirement(asked.headers.get('aauth-requirement')!)).toEqual({ requirement: 'clarification' });
        expect(await asked.json()).toEqual({ status: 'pending', clarification: `Question ${round}?`, options: ['yes', 'no'], timeout: created.pending.expires_at - clock });
        const answered = await send('POST', url, { body: { action: 'clarification_response', clarification_response: `Answer ${round}` } });
        expect(answered.status).toBe(202);
        expect(await answered.json()).toEqual({ status: 'pending' });
      }
      const row = (await deferred.get(created.pending.id))!;
      expect(row.clarification_rounds).toBe(MAX_CLARIFICATION_ROUNDS);
      expect(JSON.parse(row.clarification!).rounds.map((r: { response: string }) => r.response)).toEqual(['Answer 1', 'Answer 2', 'Answer 3', 'Answer 4', 'Answer 5']);
      // The sixth question is refused; the request stays pending for the person's decision.
      await expect(deferred.clarify(created.pending.id, { clarification: 'Sixth?' }, 'alice')).rejects.toMatchObject({ code: 'invalid_request' });
      const extra = await send('POST', url, { body: { action: 'clarification_response', clarification_response: 'more' } });
      expect(extra.status).toBe(400);
      expect((await deferred.approve(created.pending.id, { personId: 'alice', always: false })).status).toBe('approved');
      const types = await auditTypes(created.pending.id);
      expect(types.filter((x) => x === 'clarification.asked')).toHaveLength(5);
      expect(types.filter((x) => x === 'clarification.answered')).toHaveLength(5);
    });

    it('[§8.49] updated_request: the handler verifies it and the request is replaced; refusals answer its error', async () => {
      const created = await create();
      const url = `${PS}/pending/${created.pending.id}`;
      await deferred.clarify(created.pending.id, { clarification: 'Why write access?' }, 'alice');
      const bad = await send('POST', url, { body: { action: 'updated_request', resource_token: 'bad' } });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: 'invalid_resource_token' });
      const missing = await send('POST', url, { body: { action: 'updated_request' } });
      expect(missing.status).toBe(400);
      const res = await send('POST', url, { body: { action: 'updated_request', resource_token: 'rt2', justification: 'read-only now' } });
      expect(res.status).toBe(202);
      const row = (await deferred.get(created.pending.id))!;
      expect(JSON.parse(row.request)).toEqual({ resource_token: 'rt2', scope: 'calendar.read', updated: true });
      expect(JSON.parse(row.clarification!).rounds[0]).toMatchObject({ updated_request: true, justification: 'read-only now' });
      expect(await auditTypes(created.pending.id)).toContain('pending.updated');
    });

    it('updated_request for a kind whose handler cannot update answers 400', async () => {
      deferred = createDeferred(ctx);
      deferred.register('auth_token', fakeHandler());
      app = new Hono();
      app.route('/pending', deferred.routes('ps'));
      const created = await create();
      await deferred.clarify(created.pending.id, { clarification: 'Why?' }, 'alice');
      const res = await send('POST', `${PS}/pending/${created.pending.id}`, { body: { action: 'updated_request', resource_token: 'rt2' } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    });

    it('[§8.45] codes compare ignoring hyphens and case, folding I/L→1 and O→0', async () => {
      const created = await create();
      const bare = created.code.replace('-', '');
      for (const variant of [created.code, bare, bare.toLowerCase(), ` ${bare.slice(0, 2)}-${bare.slice(2, 5)}-${bare.slice(5)} `]) {
        expect((await deferred.findByCode(variant, { limiterKey: 'normalize' }))?.id).toBe(created.pending.id);
      }
      // A code holding 1 and 0, entered with the aliases.
      await t.store.db.updateTable('pending_requests').set({ code_hash: interactionCodeHash('10ABCDEF') }).where('id', '=', created.pending.id).execute();
      for (const variant of ['10ABCDEF', 'io-abcdef', 'Lo-AbCdEf', 'lO-ABCDEF']) {
        expect((await deferred.findByCode(variant, { limiterKey: 'aliases' }))?.id).toBe(created.pending.id);
      }
    });

    it('[§8.45] a code works once: after a decision it no longer finds the request', async () => {
      const created = await create();
      expect((await deferred.findByCode(created.code))?.id).toBe(created.pending.id);
      await deferred.interacting(created.pending.id, 'alice');
      expect((await deferred.findByCode(created.code))?.id).toBe(created.pending.id);
      await deferred.approve(created.pending.id, { personId: 'alice', always: false });
      expect(await deferred.findByCode(created.code)).toBeUndefined();
      const refused = await create();
      await deferred.refuse(refused.pending.id, 'denied', 'alice');
      expect(await deferred.findByCode(refused.code)).toBeUndefined();
    });

    it('[§8.45] a code never outlives its pending request: expired', async () => {
      const created = await create({ ttlSeconds: 60 });
      clock += 60;
      await expect(deferred.findByCode(created.code)).rejects.toMatchObject({ code: 'expired' });
    });

    it(`[§8.45] rate-limited: after ${MAX_CODE_FAILURES} wrong codes a caller gets invalid_code, even for a right one`, async () => {
      const created = await create();
      const wrong = ['ZZZZ-ZZZZ', 'not a code!', 'YYYY-YYYY', 'XXXX-XXXX', 'WWWW-WWWW'];
      for (const code of wrong) expect(await deferred.findByCode(code, { limiterKey: 'session-1' })).toBeUndefined();
      await expect(deferred.findByCode(created.code, { limiterKey: 'session-1' })).rejects.toMatchObject({ code: 'invalid_code' });
      // Another caller is not affected; the first one may try again after the window.
      expect((await deferred.findByCode(created.code, { limiterKey: 'session-2' }))?.id).toBe(created.pending.id);
      // Without a key the caller limits attempts itself: no shared bucket that one caller could exhaust for all.
      for (const code of wrong) expect(await deferred.findByCode(code)).toBeUndefined();
      expect((await deferred.findByCode(created.code))?.id).toBe(created.pending.id);
      clock += 600;
      const fresh = await create();
      expect((await deferred.findByCode(fresh.code, { limiterKey: 'session-1' }))?.id).toBe(fresh.pending.id);
    });

    it('[§8.43] polls faster than once a second answer 429 slow_down with Retry-After', async () => {
      const created = await create();
      expect((await poll(created)).status).toBe(202);
      const fast = await poll(created);
      expect(fast.status).toBe(429);
      expect(fast.headers.get('retry-after')).toBe('10');
      expect(await fast.json()).toMatchObject({ error: 'slow_down' });
      clock += 1;
      expect((await poll(created)).status).toBe(202);
      // Terminal answers are never slowed down.
      await deferred.approve(created.pending.id, { personId: 'alice', always: false });
      expect((await poll(created)).status).toBe(200);
      expect((await poll(created)).status).toBe(200);
    });

    it('a request bound to a person is decided by that person only; listForPerson shows bound and unbound live requests', async () => {
      const mine = await create({ personId: 'alice' });
      const unbound = await create();
      const bobs = await create({ personId: 'bob' });
      const decided = await create({ personId: 'alice' });
      await deferred.refuse(decided.pending.id, 'denied', 'alice');
      const lapsed = await create({ personId: 'alice', ttlSeconds: 1 });
      clock += 1;
      expect((await deferred.listForPerson('alice')).map((p) => p.id).sort()).toEqual([mine.pending.id, unbound.pending.id].sort());
      expect((await deferred.listForPerson('bob')).map((p) => p.id).sort()).toEqual([bobs.pending.id, unbound.pending.id].sort());
      await expect(deferred.approve(mine.pending.id, { personId: 'bob', always: false })).rejects.toMatchObject({ code: 'denied' });
      await expect(deferred.interacting(mine.pending.id, 'bob')).rejects.toMatchObject({ code: 'denied' });
      await expect(deferred.approve(lapsed.pending.id, { personId: 'alice', always: false })).rejects.toMatchObject({ code: 'expired' });
      // Opening an unbound request binds it to the person who opened it.
      await deferred.interacting(unbound.pending.id, 'bob');
      expect((await deferred.listForPerson('alice')).map((p) => p.id)).toEqual([mine.pending.id]);
    });

    it("kinds owned by the AP: Location on the AP's identifier, polled only through the AP's routes", async () => {
      deferred.register('enrolment', { ...fakeHandler(), issuer: 'ap' });
      const apApp = new Hono();
      apApp.route('/pending', deferred.routes('ap'));
      const created = await create({ kind: 'enrolment' });
      const res = await deferred.accepted(created);
      expect(res.headers.get('location')).toBe(`${AP}/pending/${created.pending.id}`);
      // The interaction page is the PS's.
      expect(parseAAuthRequirement(res.headers.get('aauth-requirement')!)).toMatchObject({ url: `${PS}/interaction` });
      expect((await send('GET', `${AP}/pending/${created.pending.id}`, { target: apApp })).status).toBe(202);
      expect((await send('GET', `${PS}/pending/${created.pending.id}`)).status).toBe(404);
      // A PS-owned request is not served by the AP's routes.
      const psOwned = await create();
      expect((await send('GET', `${AP}/pending/${psOwned.pending.id}`, { target: apApp })).status).toBe(404);
    });

    it("a kind's authenticatePoll replaces the agent-token check", async () => {
      deferred.register('person_token', { ...fakeHandler(), authenticatePoll: () => Promise.resolve({ jkt: agent.jkt }) });
      const created = await create({ kind: 'person_token' });
      const res = await app.request(`${PS}/pending/${created.pending.id}`);
      expect(res.status).toBe(202);
      const refusing = createDeferred(ctx);
      refusing.register('person_token', { ...fakeHandler(), authenticatePoll: () => Promise.resolve(new Response('no', { status: 401 })) });
      const refusingApp = new Hono();
      refusingApp.route('/pending', refusing.routes('ps'));
      expect((await poll(created, { target: refusingApp })).status).toBe(401);
    });

    it('create refuses a lifetime out of range', async () => {
      await expect(create({ ttlSeconds: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
      await expect(create({ ttlSeconds: 1.5 })).rejects.toMatchObject({ code: 'invalid_argument' });
    });
  });
}
