import { createHash } from 'node:crypto';
import { AAuthError } from '@tessera/protocol';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/auth/api-tokens.js';
import { createPerson, findPersonByUsername } from '../src/auth/people.js';
import type { ServerContext } from '../src/context.js';
import type { ConsentView } from '../src/deferred/types.js';
import { createGrant } from '../src/store/grants.js';
import { STYLES } from '../src/ui/styles.js';
import { callbackRedirect, createInteractionApp, safeCallback } from '../src/ui/ui-app.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';
import { FakeDeferred, form, signIn, T0, testContext, viewHandler, type Browser, type Clock } from './ui-fixtures.js';

const PS = 'https://ps.example';
const FORM = 'application/x-www-form-urlencoded';
const XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>';

const VIEW: ConsentView = {
  summary: 'Travel Assistant wants to read your calendar at Example Calendar',
  agent: { id: 'aauth:travel@agents.example', name: 'Travel Assistant', provider: 'https://agents.example' },
  resource: {
    id: 'https://calendar.example',
    name: 'Example Calendar',
    logoUri: 'https://calendar.example/logo.png',
    description: `Your **calendar**. [Help](https://calendar.example/help) [bad](javascript:alert(1)) ${XSS}`,
  },
  scopes: [
    { scope: 'calendar.read', description: 'Read your events' },
    { scope: 'calendar.freebusy', description: 'See when you are free' },
  ],
  justification: `I need to find a free slot for your flight. ${XSS}`,
  mission: { s256: 'bWlzc2lvbi1zMjU2', description: 'Plan the **Lisbon** trip' },
  allowAlways: true,
};

/** Every page: the headers the brief requires. */
function expectSecurityHeaders(res: Response): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(STYLES).digest('base64')}'`);
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("base-uri 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('script-src');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('cache-control')).toBe('no-store');
}

describe('mounting the interaction app on the PS host', () => {
  it('its middleware (Origin check, CSP, no-store) stays on its own paths', async () => {
    const t = await testStore('sqlite', () => T0);
    try {
      const ctx = testContext(t.store, { t: T0 });
      const host = new Hono();
      host.route('/', createInteractionApp(ctx, new FakeDeferred({ t: T0 })));
      host.post('/pending/:id', (c) => c.json({ status: 'pending' }));
      const res = await host.request(`${PS}/pending/x`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://agent.example' }, body: '{}' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toBeNull();
      expectSecurityHeaders(await host.request(`${PS}/login`));
      expect((await host.request(`${PS}/logout`, { method: 'POST', headers: { 'content-type': FORM, origin: 'https://evil.example' }, body: '' })).status).toBe(403);
    } finally {
      await t.close();
    }
  });
});

for (const kind of STORE_KINDS) {
  describe(`interaction and account pages on ${kind}`, () => {
    let t: TestStore;
    const clock: Clock = { t: T0 };
    let ctx: ServerContext;
    let deferred: FakeDeferred;
    let app: ReturnType<typeof createInteractionApp>;
    let alice: Browser;
    let bob: Browser;
    let aliceId: string;
    let bobId: string;

    const get = (path: string, who?: Browser) => app.request(`${PS}${path}`, who ? { headers: { cookie: who.cookie } } : {});
    const post = (path: string, who: Browser, fields: Record<string, string>, origin = PS) =>
      app.request(`${PS}${path}`, { method: 'POST', headers: { cookie: who.cookie, origin, 'content-type': FORM }, body: form(fields) });

    const newPending = async (opts: { callback?: string; view?: ConsentView; agentId?: string; personId?: string } = {}) => {
      const view = opts.view ?? VIEW;
      return deferred.create({
        kind: 'auth_token',
        agentId: opts.agentId ?? view.agent.id,
        agentJkt: 'jkt-1',
        request: { view },
        ...(opts.personId ? { personId: opts.personId } : {}),
        ...(opts.callback ? { callback: opts.callback } : {}),
      });
    };
    /** Opens the consent page for a fresh pending request and decides. */
    const decide = async (who: Browser, decision: string, opts: { callback?: string; queryCallback?: string } = {}) => {
      const created = await newPending(opts.callback ? { callback: opts.callback } : {});
      const qs = new URLSearchParams({ code: created.code, ...(opts.queryCallback ? { callback: opts.queryCallback } : {}) });
      const page = await get(`/interaction?${qs.toString()}`, who);
      expect(page.status).toBe(200);
      const html = await page.text();
      const hidden = /name="callback" value="([^"]*)"/.exec(html)?.[1];
      const res = await post('/interaction/decide', who, { csrf: who.csrf, pending: created.pending.id, decision, ...(hidden ? { callback: hidden.replaceAll('&amp;', '&') } : {}) });
      return { res, created, page, html };
    };

    beforeAll(async () => {
      t = await testStore(kind, () => clock.t);
      ctx = testContext(t.store, clock);
      await createPerson(ctx, { username: 'alice', password: 'alice-password', displayName: 'Alice Example' });
      await createPerson(ctx, { username: 'bob', password: 'bob-password', displayName: 'Bob' });
      aliceId = (await findPersonByUsername(ctx, 'alice'))!.id;
      bobId = (await findPersonByUsername(ctx, 'bob'))!.id;
      deferred = new FakeDeferred(clock);
      deferred.register('auth_token', viewHandler());
      app = createInteractionApp(ctx, deferred);
      alice = await signIn(app, ctx, 'alice', 'alice-password');
      bob = await signIn(app, ctx, 'bob', 'bob-password');
    });
    beforeEach(() => {
      deferred.calls.length = 0;
      deferred.approveError = undefined;
    });
    afterAll(() => t.close());

    it('the interaction page requires sign-in: redirect to /login with a relative next', async () => {
      const res = await get('/interaction?code=ABCD-EFGH');
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/interaction?code=ABCD-EFGH')}`);
      expectSecurityHeaders(res);
      const login = await get(`/login?next=${encodeURIComponent('/interaction?code=ABCD-EFGH')}`);
      expect(await login.text()).toContain('name="next" value="/interaction?code=ABCD-EFGH"');
    });

    it('security headers on every page', async () => {
      for (const res of [await get('/login'), await get('/interaction', alice), await get('/account', alice), await get('/interaction?code=ZZZZ-ZZZZ', bob)]) {
        expectSecurityHeaders(res);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      }
    });

    it('the inline stylesheet is exactly what the CSP hash allows', async () => {
      const html = await (await get('/login')).text();
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
      expect(style).toBe(STYLES);
    });

    it('without a code: a form to enter one', async () => {
      const html = await (await get('/interaction', alice)).text();
      expect(html).toContain('Enter the code from your agent');
      expect(html).toMatch(/<label for="code">Code<\/label>/);
      expect(html).toContain('method="get" action="/interaction"');
    });

    it('snapshot of the consent page: key texts, in a page that looks like a product', async () => {
      const created = await newPending();
      const res = await get(`/interaction?code=${created.code.slice(0, 4)}-${created.code.slice(4).toLowerCase()}`, alice);
      expect(res.status).toBe(200);
      const html = await res.text();
      for (const text of [
        '<!DOCTYPE html>',
        '<html lang="en">',
        'name="viewport"',
        'Tessera',
        'Example Person Server',
        'Signed in as <strong>Alice Example</strong>',
        'Travel Assistant wants to read your calendar at Example Calendar',
        'Travel Assistant',
        'aauth:travel@agents.example',
        'Provided by https://agents.example',
        'Example Calendar',
        'https://calendar.example',
        '<img src="https://calendar.example/logo.png" alt=""',
        '<code>calendar.read</code>',
        'Read your events',
        '<code>calendar.freebusy</code>',
        'See when you are free',
        'Why, in the agent&#39;s words',
        'I need to find a free slot for your flight.',
        'Plan the <strong>Lisbon</strong> trip',
        '>Approve once<',
        '>Approve always<',
        '>Deny<',
        'name="decision" value="once"',
        `name="pending" value="${created.pending.id}"`,
        `name="csrf" value="${alice.csrf}"`,
      ]) {
        expect(html).toContain(text);
      }
      expect(deferred.calls).toEqual([{ method: 'interacting', id: created.pending.id, personId: aliceId }]);
    });

    it('[§8.66] an XSS payload in the justification, description or names stays inert', async () => {
      const view: ConsentView = {
        ...VIEW,
        summary: `Hi ${XSS}`,
        agent: { ...VIEW.agent, name: XSS, description: XSS },
        scopes: [{ scope: '<b>s</b>', description: XSS }],
        mission: { s256: 'x', description: XSS },
      };
      const created = await newPending({ view });
      const html = await (await get(`/interaction?code=${created.code}`, alice)).text();
      expect(html).not.toContain('<script>alert');
      expect(html).not.toMatch(/<img[^>]*onerror/);
      expect(html).not.toContain('<b>s</b>');
      expect(html).not.toContain('href="javascript:');
      expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
      expect(html).toContain('<a href="https://calendar.example/help" rel="noopener noreferrer nofollow">Help</a>');
      expect(html).not.toMatch(/<script/i);
    });

    it('"Approve always" is offered only when allowAlways', async () => {
      const created = await newPending({ view: { ...VIEW, allowAlways: false } });
      const html = await (await get(`/interaction?code=${created.code}`, alice)).text();
      expect(html).toContain('>Approve once<');
      expect(html).not.toContain('Approve always');
      const res = await post('/interaction/decide', alice, { csrf: alice.csrf, pending: created.pending.id, decision: 'always' });
      expect(res.status).toBe(400);
      expect(deferred.calls.filter((c) => c.method === 'approve')).toEqual([]);
    });

    it('approve once → deferred.approve(id, {personId, always:false}); a done page', async () => {
      const { res, created } = await decide(alice, 'once');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('You can return to your agent');
      expect(deferred.calls.at(-1)).toEqual({ method: 'approve', id: created.pending.id, personId: aliceId, decision: { personId: aliceId, always: false } });
    });

    it('approve always → deferred.approve(id, {personId, always:true})', async () => {
      const { res, created } = await decide(alice, 'always');
      expect(res.status).toBe(200);
      expect(deferred.calls.at(-1)).toEqual({ method: 'approve', id: created.pending.id, personId: aliceId, decision: { personId: aliceId, always: true } });
    });

    it('deny → deferred.refuse(id, "denied", personId)', async () => {
      const { res, created } = await decide(alice, 'deny');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Request denied');
      expect(deferred.calls.at(-1)).toEqual({ method: 'refuse', id: created.pending.id, personId: aliceId, code: 'denied' });
    });

    it('[§8.47] callback: approve redirects to it; deny adds ?error=access_denied; the consent CSP allows its origin', async () => {
      const approved = await decide(alice, 'once', { callback: 'https://agent.example/cb?state=1' });
      expect(approved.res.status).toBe(303);
      expect(approved.res.headers.get('location')).toBe('https://agent.example/cb?state=1');
      expect(approved.page.headers.get('content-security-policy')).toContain("form-action 'self' https://agent.example");
      expect(approved.page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");

      const denied = await decide(alice, 'deny', { callback: 'https://agent.example/cb?state=2' });
      expect(denied.res.headers.get('location')).toBe('https://agent.example/cb?state=2&error=access_denied');

      const fromQuery = await decide(alice, 'deny', { queryCallback: 'https://agent.example/q' });
      expect(fromQuery.res.headers.get('location')).toBe('https://agent.example/q?error=access_denied');
    });

    it('[§8.47] callback rules: only https (or loopback http in development); others are ignored', async () => {
      for (const bad of ['http://agent.example/cb', 'javascript:alert(1)', 'data:text/html,x', 'https://u:p@agent.example/', '/relative', 'http://localhost:3000/cb']) {
        const r = await decide(alice, 'deny', { queryCallback: bad });
        expect(r.res.status).toBe(200);
        expect(r.res.headers.get('location')).toBeNull();
        expect(r.html).not.toContain('name="callback"');
      }
      const dev = testContext(t.store, clock, { mode: 'development' });
      expect(safeCallback(dev, 'http://localhost:3000/cb')?.href).toBe('http://localhost:3000/cb');
      expect(safeCallback(dev, 'http://127.0.0.1:3000/cb')?.href).toBe('http://127.0.0.1:3000/cb');
      expect(safeCallback(dev, 'http://agent.example/cb')).toBeUndefined();
      expect(safeCallback(ctx, 'http://localhost:3000/cb')).toBeUndefined();
      expect(callbackRedirect(new URL('https://a.example/cb'), 'interaction_expired')).toBe('https://a.example/cb?error=interaction_expired');
    });

    it('an approval that fails redirects with ?error=server_error', async () => {
      deferred.approveError = new Error('boom');
      const r = await decide(alice, 'once', { callback: 'https://agent.example/cb' });
      expect(r.res.headers.get('location')).toBe('https://agent.example/cb?error=server_error');
    });

    it('unknown code → 410; after 5 failures per session → 429', async () => {
      const first = await get('/interaction?code=ZZZZ-ZZZZ', bob);
      expect(first.status).toBe(410);
      expect(await first.text()).toContain('not valid or was already used');
      expect((await get('/interaction?code=not a code!', bob)).status).toBe(410);
      for (let i = 0; i < 3; i++) await get('/interaction?code=YYYY-YYYY', bob);
      const created = await newPending();
      const limited = await get(`/interaction?code=${created.code}`, bob); // even a right code now
      expect(limited.status).toBe(429);
      expect(await limited.text()).toContain('Too many wrong codes');
      expect((await get(`/interaction?code=${created.code}`, alice)).status).toBe(200); // per session
    });

    it('used or expired code → 410 with a clear page', async () => {
      const { created } = await decide(alice, 'once');
      const used = await get(`/interaction?code=${created.code}`, alice);
      expect(used.status).toBe(410);
      expect(await used.text()).toContain('Already decided');
      const fresh = await newPending();
      clock.t += 601;
      const expired = await get(`/interaction?code=${fresh.code}`, alice);
      clock.t = T0;
      expect(expired.status).toBe(410);
      expect(await expired.text()).toContain('This request has expired');
    });

    it('a service that answers `expired` or `invalid_code` for a code: 410 expired page, 429; a failing view: 500 page', async () => {
      const original = deferred.findByCode.bind(deferred);
      try {
        deferred.findByCode = () => Promise.reject(new AAuthError('expired'));
        const expired = await get('/interaction?code=ABCD-EFGH', alice);
        expect(expired.status).toBe(410);
        expect(await expired.text()).toContain('This request has expired');
        deferred.findByCode = () => Promise.reject(new AAuthError('invalid_code'));
        expect((await get('/interaction?code=ABCD-EFGH', alice)).status).toBe(429);
      } finally {
        deferred.findByCode = original;
      }
      const created = await newPending();
      const handler = deferred.handlers.get('auth_token')!;
      deferred.handlers.set('auth_token', { ...handler, describe: () => Promise.reject(new Error('boom')) });
      try {
        const failed = await get(`/interaction?code=${created.code}`, alice);
        expect(failed.status).toBe(500);
        expect(await failed.text()).toContain('Something went wrong');
        expectSecurityHeaders(failed);
      } finally {
        deferred.handlers.set('auth_token', handler);
      }
    });

    it("an agent bound to another person: refused with a clear page, and the decision too", async () => {
      await t.store.db
        .insertInto('agents')
        .values({ id: 'aauth:bobs@agents.example', name: 'Bob agent', description: '', agent_provider: 'https://agents.example', jwks_uri: null, jwks: null, allowed_scopes: '[]', requires_authorization: 0, delegation_allowed: 0, status: 'active', person_id: bobId, created_at: T0, updated_at: T0 })
        .execute();
      const created = await newPending({ agentId: 'aauth:bobs@agents.example' });
      const res = await get(`/interaction?code=${created.code}`, alice);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('This agent belongs to someone else');
      expect(deferred.calls).toEqual([]);
      const decision = await post('/interaction/decide', alice, { csrf: alice.csrf, pending: created.pending.id, decision: 'once' });
      expect(decision.status).toBe(403);
      expect(deferred.calls).toEqual([]);
      // Bob, its person, may:
      expect((await get(`/interaction?code=${created.code}`, bob)).status).toBe(429); // bob's session is rate limited from the test above
    });

    it('deciding a request one did not open (or someone else opened) is refused', async () => {
      const created = await newPending();
      expect((await post('/interaction/decide', alice, { csrf: alice.csrf, pending: created.pending.id, decision: 'once' })).status).toBe(403);
      await get(`/interaction?code=${created.code}`, alice);
      const other = await signIn(app, ctx, 'bob', 'bob-password');
      expect((await post('/interaction/decide', other, { csrf: other.csrf, pending: created.pending.id, decision: 'once' })).status).toBe(403);
      expect(deferred.calls.filter((c) => c.method !== 'interacting')).toEqual([]);
    });

    it('CSRF on the decision: missing token, wrong token, foreign Origin → 403 and nothing decided', async () => {
      const created = await newPending();
      await get(`/interaction?code=${created.code}`, alice);
      deferred.calls.length = 0;
      expect((await post('/interaction/decide', alice, { pending: created.pending.id, decision: 'once' })).status).toBe(403);
      expect((await post('/interaction/decide', alice, { csrf: bob.csrf, pending: created.pending.id, decision: 'once' })).status).toBe(403);
      expect((await post('/interaction/decide', alice, { csrf: alice.csrf, pending: created.pending.id, decision: 'once' }, 'https://evil.example')).status).toBe(403);
      expect(deferred.calls).toEqual([]);
    });

    it('account page: grants with revoke, bound agents, API tokens created once and revoked', async () => {
      const grant = await createGrant(t.store.db, { personId: aliceId, agentId: 'aauth:travel@agents.example', resource: 'https://calendar.example', kind: 'auth_token', scopes: ['calendar.read'] }, T0);
      await t.store.db
        .insertInto('agents')
        .values({ id: 'aauth:alices@agents.example', name: 'Alice helper', description: '', agent_provider: 'https://agents.example', jwks_uri: null, jwks: null, allowed_scopes: '[]', requires_authorization: 0, delegation_allowed: 0, status: 'active', person_id: aliceId, created_at: T0, updated_at: T0 })
        .execute();
      const page = await (await get('/account', alice)).text();
      expect(page).toContain('Standing approvals');
      expect(page).toContain('https://calendar.example');
      expect(page).toContain('calendar.read');
      expect(page).toContain(`name="grant" value="${grant.id}"`);
      expect(page).toContain('Alice helper');
      expect(page).not.toContain('Bob agent');

      const created = await post('/account/tokens', alice, { csrf: alice.csrf, name: 'laptop CLI' });
      expect(created.status).toBe(200);
      const html = await created.text();
      const token = /(tsr_[A-Za-z0-9_-]{43})/.exec(html)?.[1];
      expect(token).toBeDefined();
      expect(html).toContain('it will not be shown again');
      const again = await (await get('/account', alice)).text();
      expect(again).toContain('laptop CLI');
      expect(again).not.toContain(token!);

      const tokenId = /name="token" value="([^"]+)"/.exec(again)![1]!;
      const revokedToken = await post('/account/tokens/revoke', alice, { csrf: alice.csrf, token: tokenId });
      expect(revokedToken.status).toBe(303);
      expect(await (await get(revokedToken.headers.get('location')!, alice)).text()).toContain('The token was revoked.');

      expect((await post('/account/grants/revoke', bob, { csrf: bob.csrf, grant: grant.id })).status).toBe(400); // not Bob's
      expect((await post('/account/grants/revoke', alice, { grant: grant.id })).status).toBe(403); // no CSRF token
      const revoked = await post('/account/grants/revoke', alice, { csrf: alice.csrf, grant: grant.id });
      expect(revoked.status).toBe(303);
      const row = await t.store.db.selectFrom('grants').selectAll().where('id', '=', grant.id).executeTakeFirstOrThrow();
      expect(row.revoked_at).toBe(T0);
      const audit = await t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'grant.revoked').execute();
      expect(audit.map((e) => e.person)).toEqual([aliceId]);
    });

    it('the account page escapes token names', async () => {
      await createApiToken(ctx, bobId, XSS);
      const html = await (await get('/account', bob)).text();
      expect(html).not.toContain('<script>alert');
      expect(html).toContain('&lt;script&gt;');
    });
  });
}
