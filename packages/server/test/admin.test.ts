import { sql } from 'kysely';
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_SETTING, generateAdminToken, setAdminToken, verifyAdminToken } from '../src/api/admin-auth.js';
import { createAdminApp } from '../src/api/admin-app.js';
import type { ServerContext } from '../src/context.js';
import type { ServerKeys } from '../src/keys/server-keys.js';
import type { Store } from '../src/store/store.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

const T0 = 1_800_000_000;
const TOKEN = 'admin-token-for-tests-0123456789';

/** A ServerContext with what the admin API uses (store, clock, log, identifier options). */
function adminContext(store: Store, now: () => number): ServerContext {
  return {
    mode: 'development',
    ps: { issuer: 'https://ps.example', name: 'PS' },
    ap: { issuer: 'https://ap.example', name: 'AP' },
    store,
    keys: {} as ServerKeys,
    now,
    resolveKey: () => Promise.reject(new Error('no key resolution in admin tests')),
    keyCache: {} as ServerContext['keyCache'],
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
}

for (const kind of STORE_KINDS) {
  describe(`admin API on ${kind}`, () => {
    let t: TestStore;
    let now = T0;
    let app: Hono;
    const tick = () => (now += 1);

    const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
      const headers: Record<string, string> = {};
      if (token !== null) headers['authorization'] = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      return app.request(path, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    };
    const auditTypes = async () => (await t.store.db.selectFrom('audit_events').select(['type', 'actor']).orderBy('id').execute()).filter((e) => e.type.startsWith('admin.'));

    beforeAll(async () => {
      t = await testStore(kind, () => now);
      const ctx = adminContext(t.store, () => now);
      app = new Hono().route('/admin', createAdminApp(ctx));
    });
    afterAll(() => t.close());

    it('401 with no admin token configured, without a token, and with a wrong token', async () => {
      const none = await call('GET', '/admin/agents');
      expect(none.status).toBe(401);
      expect(none.headers.get('content-type')).toBe('application/problem+json');
      await setAdminToken({ store: t.store, now: () => now }, TOKEN);
      const missing = await call('GET', '/admin/agents', undefined, null);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toContain('Bearer');
      expect(await missing.json()).toMatchObject({ error: 'unauthorized' });
      expect((await call('GET', '/admin/agents', undefined, `${TOKEN}x`)).status).toBe(401);
      expect((await call('GET', '/admin/agents')).status).toBe(200);
    });

    it('stores only the SHA-256 of the admin token; short tokens are refused', async () => {
      const row = await t.store.db.selectFrom('settings').select('value').where('key', '=', ADMIN_TOKEN_SETTING).executeTakeFirstOrThrow();
      expect(JSON.parse(row.value)).toMatch(/^[0-9a-f]{64}$/);
      expect(row.value).not.toContain(TOKEN);
      await expect(setAdminToken({ store: t.store, now: () => now }, 'short')).rejects.toThrow(/at least/);
      expect(generateAdminToken()).toMatch(/^tsa_[A-Za-z0-9_-]{43}$/);
      expect(await verifyAdminToken({ store: t.store }, TOKEN)).toBe(true);
      expect(await verifyAdminToken({ store: t.store }, 'admin-token-for-tests-012345678X')).toBe(false);
    });

    it('agents: create (201 + Location), show by URL-encoded id, list, patch, disable, enable, delete', async () => {
      tick();
      const created = await call('POST', '/admin/agents', {
        identifier: 'aauth:assistant@agent.example',
        name: 'Assistant',
        agent_provider: 'https://agent.example',
        allowed_scopes: ['calendar.read'],
        requires_authorization: true,
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/admin/agents/aauth%3Aassistant%40agent.example');
      expect(created.headers.get('cache-control')).toBe('no-store');
      expect(await created.json()).toMatchObject({ id: 'aauth:assistant@agent.example', name: 'Assistant', requires_authorization: true, delegation_allowed: false, status: 'active' });

      const shown = await call('GET', created.headers.get('location')!);
      expect(shown.status).toBe(200);
      expect(await shown.json()).toMatchObject({ id: 'aauth:assistant@agent.example', allowed_scopes: ['calendar.read'] });
      expect((await call('GET', '/admin/agents/aauth:assistant@agent.example')).status).toBe(200);

      tick();
      const patched = await call('PATCH', '/admin/agents/aauth%3Aassistant%40agent.example', { description: 'Books trips', delegation_allowed: true });
      expect(await patched.json()).toMatchObject({ description: 'Books trips', delegation_allowed: true, requires_authorization: true, updated_at: now });
      tick();
      expect(await (await call('POST', '/admin/agents/aauth%3Aassistant%40agent.example/disable')).json()).toMatchObject({ status: 'disabled' });
      expect(await (await call('GET', '/admin/agents?status=disabled')).json()).toMatchObject({ agents: [{ id: 'aauth:assistant@agent.example' }] });
      tick();
      expect(await (await call('POST', '/admin/agents/aauth%3Aassistant%40agent.example/enable')).json()).toMatchObject({ status: 'active' });
      expect(await (await call('GET', '/admin/agents?status=disabled')).json()).toEqual({ agents: [] });
      tick();
      expect((await call('DELETE', '/admin/agents/aauth%3Aassistant%40agent.example')).status).toBe(204);
      expect((await call('GET', '/admin/agents/aauth%3Aassistant%40agent.example')).status).toBe(404);
      expect((await auditTypes()).filter((e) => e.type.startsWith('admin.agent.'))).toEqual(
        ['admin.agent.created', 'admin.agent.updated', 'admin.agent.disabled', 'admin.agent.enabled', 'admin.agent.deleted'].map((type) => ({ type, actor: 'admin' })),
      );
    });

    it('400 names the field; 404 for an unknown id; 409 for a duplicate; none of them audited', async () => {
      const before = (await auditTypes()).length;
      const bad = await call('POST', '/admin/agents', { identifier: 'not-an-agent', agent_provider: 'https://agent.example' });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      expect(await bad.json()).toEqual({ error: 'invalid_request', detail: expect.stringMatching(/^identifier: /) });
      expect(await (await call('POST', '/admin/agents', '{"identifier":')).json()).toEqual({ error: 'invalid_request', detail: 'the body is not valid JSON' });
      const notJson = await app.request('/admin/agents', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: '{}' });
      expect(notJson.status).toBe(400);
      expect(await (await call('PATCH', '/admin/agents/aauth%3Aghost%40agent.example', { name: 'x' })).json()).toMatchObject({ error: 'not_found' });
      expect((await call('POST', '/admin/agents/aauth%3Aghost%40agent.example/disable')).status).toBe(404);
      expect((await call('DELETE', '/admin/agents/aauth%3Aghost%40agent.example')).status).toBe(404);
      expect((await call('PATCH', '/admin/agents/aauth%3Aghost%40agent.example', { identifier: 'aauth:x@y.example' })).status).toBe(400);
      tick();
      expect((await call('POST', '/admin/agents', { identifier: 'aauth:dup@agent.example', agent_provider: 'https://agent.example' })).status).toBe(201);
      const dup = await call('POST', '/admin/agents', { identifier: 'aauth:dup@agent.example', agent_provider: 'https://agent.example' });
      expect(dup.status).toBe(409);
      expect(await dup.json()).toMatchObject({ error: 'conflict' });
      expect((await auditTypes()).length).toBe(before + 1);
    });

    it('resources: the same shape, with the server identifier URL-encoded in the path', async () => {
      tick();
      const created = await call('POST', '/admin/resources', {
        identifier: 'https://calendar.example',
        name: 'Calendar',
        logo_uri: 'https://calendar.example/logo.png',
        metadata_uri: 'https://calendar.example/.well-known/aauth-resource.json',
        scopes: [{ scope: 'calendar.read', description: 'Read your calendar' }],
        default_requirement: 'auth-token',
      });
      expect(created.status).toBe(201);
      const path = '/admin/resources/https%3A%2F%2Fcalendar.example';
      expect(created.headers.get('location')).toBe(path);
      expect(await (await call('GET', path)).json()).toMatchObject({ id: 'https://calendar.example', scopes: [{ scope: 'calendar.read', description: 'Read your calendar' }] });
      expect(await (await call('GET', '/admin/resources')).json()).toMatchObject({ resources: [{ id: 'https://calendar.example' }] });
      tick();
      expect(await (await call('PATCH', path, { name: 'Cal' })).json()).toMatchObject({ name: 'Cal', logo_uri: 'https://calendar.example/logo.png' });
      const both = await call('PATCH', path, { jwks_uri: 'https://calendar.example/jwks.json' });
      expect(both.status).toBe(400);
      expect(await both.json()).toMatchObject({ error: 'invalid_request', detail: expect.stringContaining('jwks_uri') });
      tick();
      expect((await call('POST', `${path}/disable`)).status).toBe(200);
      tick();
      expect((await call('POST', `${path}/enable`)).status).toBe(200);
      expect((await call('POST', '/admin/resources', { identifier: 'https://calendar.example' })).status).toBe(409);
      expect(await (await call('POST', '/admin/resources', { identifier: 'https://calendar.example/' })).json()).toMatchObject({ detail: expect.stringMatching(/^identifier: /) });
      tick();
      expect((await call('DELETE', path)).status).toBe(204);
      expect((await call('GET', path)).status).toBe(404);
    });

    it('trust policy: GET the default, PUT a new one (audited), 400 naming a bad list entry', async () => {
      expect(await (await call('GET', '/admin/trust-policy')).json()).toEqual({ mode: 'open', agent_providers: [], resources: [] });
      tick();
      const put = await call('PUT', '/admin/trust-policy', { mode: 'allowlist', agent_providers: ['https://agent.example'], resources: ['https://calendar.example'] });
      expect(put.status).toBe(200);
      expect(await (await call('GET', '/admin/trust-policy')).json()).toEqual({ mode: 'allowlist', agent_providers: ['https://agent.example'], resources: ['https://calendar.example'] });
      const bad = await call('PUT', '/admin/trust-policy', { mode: 'allowlist', resources: ['https://ok.example', 'http://bad.example'] });
      expect(await bad.json()).toEqual({ error: 'invalid_request', detail: expect.stringMatching(/^resources\.1: /) });
      expect((await auditTypes()).at(-1)).toEqual({ type: 'admin.trust_policy.updated', actor: 'admin' });
    });

    it('audit: filters and cursor pages; JSON Lines export with ISO times', async () => {
      const page1 = await (await call('GET', '/admin/audit?type=admin.agent.*&limit=3')).json();
      expect(page1.events.map((e: { type: string }) => e.type)).toEqual(['admin.agent.created', 'admin.agent.updated', 'admin.agent.disabled']);
      expect(page1.next_cursor).toBe(page1.events[2].id);
      const page2 = await (await call('GET', `/admin/audit?type=admin.agent.*&limit=3&cursor=${page1.next_cursor}`)).json();
      expect(page2.events.map((e: { type: string }) => e.type)).toEqual(['admin.agent.enabled', 'admin.agent.deleted', 'admin.agent.created']);
      expect(page2.next_cursor).toBeNull();
      const after = await (await call('GET', `/admin/audit?type=admin.agent.*&cursor=${page2.events[2].id}`)).json();
      expect(after).toEqual({ events: [], next_cursor: null });
      const byAgent = await (await call('GET', `/admin/audit?agent=${encodeURIComponent('aauth:dup@agent.example')}`)).json();
      expect(byAgent.events).toHaveLength(1);
      const since = new Date((T0 + 3) * 1000).toISOString();
      const recent = await (await call('GET', `/admin/audit?since=${since}&until=${T0 + 5}`)).json();
      expect(recent.events.length).toBeGreaterThan(0);
      expect(recent.events.every((e: { at: number }) => e.at >= T0 + 3 && e.at < T0 + 5)).toBe(true);
      expect(await (await call('GET', '/admin/audit?since=yesterday')).json()).toEqual({ error: 'invalid_request', detail: expect.stringMatching(/^since: /) });

      const jsonl = await call('GET', '/admin/audit.jsonl?type=admin.resource.*');
      expect(jsonl.status).toBe(200);
      expect(jsonl.headers.get('content-type')).toContain('application/jsonl');
      const lines = (await jsonl.text()).split('\n');
      expect(lines.at(-1)).toBe('');
      const events = lines.slice(0, -1).map((l) => JSON.parse(l) as { type: string; at: number });
      expect(events.map((e) => e.type)).toEqual(['admin.resource.created', 'admin.resource.updated', 'admin.resource.disabled', 'admin.resource.enabled', 'admin.resource.deleted']);
      expect(events[0]).toMatchObject({ resource: 'https://calendar.example', actor: 'admin', time: new Date(events[0]!.at * 1000).toISOString() });
      expect((await call('GET', '/admin/audit.jsonl', undefined, null)).status).toBe(401);
    });

    it('a write whose audit event cannot be written does not happen (same transaction)', async () => {
      await sql`DROP TABLE audit_events`.execute(t.store.db);
      const r = await call('POST', '/admin/agents', { identifier: 'aauth:unaudited@agent.example', agent_provider: 'https://agent.example' });
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({ error: 'server_error' });
      const row = await t.store.db.selectFrom('agents').select('id').where('id', '=', 'aauth:unaudited@agent.example').executeTakeFirst();
      expect(row).toBeUndefined();
    });
  });
}
