import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, findPersonByApiToken, listApiTokens, revokeApiToken } from '../src/auth/api-tokens.js';
import { createFailureLimiter } from '../src/auth/failure-limiter.js';
import { DUMMY_PASSWORD_HASH, hashPassword, needsRehash, verifyPasswordHash } from '../src/auth/passwords.js';
import { createPerson, findPersonByUsername, verifyPassword } from '../src/auth/people.js';
import { requirePerson, safeRelativePath, type PersonVariables } from '../src/auth/person-auth.js';
import { createSession, findSession, SESSION_LIFETIME_SECONDS } from '../src/auth/sessions.js';
import type { ServerContext } from '../src/context.js';
import { createInteractionApp } from '../src/ui/ui-app.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';
import { cookiesFrom, csrfFrom, FakeDeferred, form, signIn, T0, testContext, type Clock } from './ui-fixtures.js';

const FORM = 'application/x-www-form-urlencoded';

describe('passwords (scrypt)', () => {
  it('round-trips and refuses a wrong password', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    expect(encoded).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPasswordHash('correct horse battery staple', encoded)).toBe(true);
    expect(await verifyPasswordHash('correct horse battery stapl', encoded)).toBe(false);
    expect(needsRehash(encoded)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  it('a malformed or weak stored hash fails closed (and weak ones are flagged for rehash)', async () => {
    for (const bad of ['', 'plain', 'scrypt$1$8$1$AAAA$AAAA', 'scrypt$32768$8$1$!!$AAAA', 'bcrypt$x', 'scrypt$33000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      expect(await verifyPasswordHash('x', bad)).toBe(false);
    }
    expect(needsRehash('scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toBe(true);
  });

  it('the dummy hash has the current parameters, so checking it costs a real check', async () => {
    expect(needsRehash(DUMMY_PASSWORD_HASH)).toBe(false);
    expect(await verifyPasswordHash('', DUMMY_PASSWORD_HASH)).toBe(false);
    const real = await hashPassword('pw-12345678');
    const time = async (encoded: string) => {
      const start = performance.now();
      for (let i = 0; i < 3; i++) await verifyPasswordHash('wrong-password', encoded);
      return performance.now() - start;
    };
    await time(real); // warm up
    const [tReal, tDummy] = [await time(real), await time(DUMMY_PASSWORD_HASH)];
    expect(tDummy).toBeGreaterThan(tReal * 0.4);
    expect(tDummy).toBeLessThan(tReal * 2.5);
  });
});

describe('failure limiter', () => {
  it('limits after N failures in the window and forgets after it', () => {
    const clock = { t: T0 };
    const limiter = createFailureLimiter({ maxFailures: 3, windowSeconds: 60, now: () => clock.t });
    expect(limiter.fail('k')).toBe(false);
    expect(limiter.fail('k')).toBe(false);
    expect(limiter.isLimited('k')).toBe(false);
    expect(limiter.fail('k')).toBe(true);
    expect(limiter.isLimited('k')).toBe(true);
    expect(limiter.isLimited('other')).toBe(false);
    clock.t += 61;
    expect(limiter.isLimited('k')).toBe(false);
    limiter.fail('k');
    limiter.reset('k');
    expect(limiter.isLimited('k')).toBe(false);
  });

  it('stays bounded', () => {
    const limiter = createFailureLimiter({ maxFailures: 1, windowSeconds: 60, now: () => T0, maxKeys: 10 });
    for (let i = 0; i < 100; i++) limiter.fail(`k${i}`);
    expect(limiter.isLimited('k99')).toBe(true);
    expect(limiter.isLimited('k0')).toBe(false);
  });
});

describe('safe relative next paths', () => {
  it('keeps same-origin paths and drops everything else', () => {
    const ctx = { ps: { issuer: 'https://ps.example' } } as ServerContext;
    expect(safeRelativePath(ctx, '/interaction?code=ABCD-EFGH')).toBe('/interaction?code=ABCD-EFGH');
    for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', 'account', '/\t/evil.example', '']) {
      expect(safeRelativePath(ctx, bad)).toBeUndefined();
    }
  });
});

for (const kind of STORE_KINDS) {
  describe(`people, sessions and tokens on ${kind}`, () => {
    let t: TestStore;
    const clock: Clock = { t: T0 };
    let ctx: ServerContext;

    beforeAll(async () => {
      t = await testStore(kind, () => clock.t);
      ctx = testContext(t.store, clock);
      await createPerson(ctx, { username: 'Alice', password: 'alice-password', displayName: 'Alice Example' });
      await createPerson(ctx, { username: 'bob', password: 'bob-password', displayName: 'Bob' });
    });
    afterAll(() => t.close());

    it('creates people with normalized usernames, refuses duplicates and bad input, and audits', async () => {
      const alice = await findPersonByUsername(ctx, 'alice');
      expect(alice?.display_name).toBe('Alice Example');
      expect(alice?.password_hash).toMatch(/^scrypt\$/);
      await expect(createPerson(ctx, { username: 'ALICE', password: 'another-password', displayName: 'A' })).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(createPerson(ctx, { username: 'bad name', password: 'long-enough', displayName: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(createPerson(ctx, { username: 'carol', password: 'short', displayName: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
      const events = await t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'person.created').execute();
      expect(events.length).toBe(2);
      expect(events.map((e) => e.detail).join()).not.toContain('password');
    });

    it('verifyPassword: right, wrong, unknown user', async () => {
      const ok = await verifyPassword(ctx, ' alice ', 'alice-password');
      expect(ok.ok && ok.person.username).toBe('alice');
      expect((await verifyPassword(ctx, 'alice', 'bob-password')).ok).toBe(false);
      expect((await verifyPassword(ctx, 'nobody', 'alice-password')).ok).toBe(false);
      expect((await verifyPassword(ctx, 'bad name!', 'x')).ok).toBe(false);
    });

    it('sessions store only a hash of the cookie value and expire after 12 h', async () => {
      const alice = (await findPersonByUsername(ctx, 'alice'))!;
      const created = await createSession(ctx, alice.id);
      const rows = await t.store.db.selectFrom('web_sessions').selectAll().execute();
      expect(rows.some((r) => r.id_hash === created.cookieValue)).toBe(false);
      expect(rows.some((r) => r.id_hash === created.session.idHash)).toBe(true);
      expect((await findSession(ctx, created.cookieValue))?.person.id).toBe(alice.id);
      expect(await findSession(ctx, 'x'.repeat(43))).toBeUndefined();
      clock.t += SESSION_LIFETIME_SECONDS;
      expect(await findSession(ctx, created.cookieValue)).toBeUndefined();
      clock.t = T0;
    });

    it('personal API tokens: tsr_ format, hash stored, list, revoke', async () => {
      const bob = (await findPersonByUsername(ctx, 'bob'))!;
      const created = await createApiToken(ctx, bob.id, 'cli');
      expect(created.token).toMatch(/^tsr_[A-Za-z0-9_-]{43}$/);
      const stored = await t.store.db.selectFrom('person_api_tokens').selectAll().execute();
      expect(stored.some((r) => r.token_hash === created.token)).toBe(false);
      expect((await findPersonByApiToken(ctx, created.token))?.id).toBe(bob.id);
      expect((await listApiTokens(ctx, bob.id)).map((x) => x.name)).toEqual(['cli']);
      const audit = await t.store.db.selectFrom('audit_events').select('detail').where('type', '=', 'api_token.created').execute();
      expect(JSON.stringify(audit)).not.toContain(created.token.slice(4));
      const alice = (await findPersonByUsername(ctx, 'alice'))!;
      expect(await revokeApiToken(ctx, alice.id, created.info.id)).toBe(false); // not hers
      expect(await revokeApiToken(ctx, bob.id, created.info.id)).toBe(true);
      expect(await findPersonByApiToken(ctx, created.token)).toBeUndefined();
      expect(await listApiTokens(ctx, bob.id)).toEqual([]);
    });

    it('requirePerson: Bearer token or session; 401 + WWW-Authenticate otherwise; cookie POSTs must be same-origin', async () => {
      const bob = (await findPersonByUsername(ctx, 'bob'))!;
      const api = new Hono<{ Variables: PersonVariables }>();
      api.use('*', requirePerson(ctx));
      api.all('/me', (c) => c.json({ id: c.var.person.id, via: c.var.personAuth.method }));
      const { token } = await createApiToken(ctx, bob.id, 'api');

      const viaToken = await api.request('https://ps.example/me', { headers: { authorization: `Bearer ${token}` } });
      expect(await viaToken.json()).toEqual({ id: bob.id, via: 'api_token' });

      const none = await api.request('https://ps.example/me');
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="tessera"$/);
      expect(none.headers.get('content-type')).toBe('application/problem+json');
      expect(await none.json()).toMatchObject({ error: 'invalid_request' });

      const bad = await api.request('https://ps.example/me', { headers: { authorization: `Bearer tsr_${'A'.repeat(43)}` } });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');

      const session = await createSession(ctx, bob.id);
      const cookie = `__Host-tessera=${session.cookieValue}`;
      expect(await (await api.request('https://ps.example/me', { headers: { cookie } })).json()).toEqual({ id: bob.id, via: 'session' });
      const crossSite = await api.request('https://ps.example/me', { method: 'POST', headers: { cookie, origin: 'https://evil.example' } });
      expect(crossSite.status).toBe(403);
      const sameSite = await api.request('https://ps.example/me', { method: 'POST', headers: { cookie, origin: 'https://ps.example' } });
      expect(sameSite.status).toBe(200);
    });

    it('session cookie in production: __Host-tessera; Secure; HttpOnly; SameSite=Lax; Path=/', async () => {
      const app = createInteractionApp(ctx, new FakeDeferred(clock));
      const page = await app.request('https://ps.example/login');
      const loginCookie = page.headers.getSetCookie()[0]!;
      expect(loginCookie).toMatch(/^__Host-tessera-login=/);
      const res = await app.request('https://ps.example/login', {
        method: 'POST',
        headers: { origin: 'https://ps.example', 'content-type': FORM, cookie: loginCookie.split(';')[0]! },
        body: form({ username: 'alice', password: 'alice-password', csrf: csrfFrom(await page.text()), next: '/interaction?code=X' }),
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/interaction?code=X');
      const line = res.headers.getSetCookie().find((l) => l.startsWith('__Host-tessera='))!;
      expect(line).toContain('Secure');
      expect(line).toContain('HttpOnly');
      expect(line).toContain('SameSite=Lax');
      expect(line).toContain('Path=/');
      expect(line).toContain(`Max-Age=${SESSION_LIFETIME_SECONDS}`);
      expect(line).not.toMatch(/Domain=/i);
      expect(line).toMatch(/^__Host-tessera=[A-Za-z0-9_-]{43};/);
    });

    it('session cookie in development over http: tessera, no Secure, still HttpOnly and SameSite=Lax', async () => {
      const dev = testContext(t.store, clock, { mode: 'development' });
      const app = createInteractionApp(dev, new FakeDeferred(clock));
      const browser = await signIn(app, dev, 'alice', 'alice-password');
      expect(browser.cookie).toMatch(/^tessera=/);
      const page = await app.request('http://localhost:8080/login');
      const res = await app.request('http://localhost:8080/login', {
        method: 'POST',
        headers: { origin: 'http://localhost:8080', 'content-type': FORM, cookie: page.headers.getSetCookie()[0]!.split(';')[0]! },
        body: form({ username: 'alice', password: 'alice-password', csrf: csrfFrom(await page.text()), next: 'https://evil.example/' }),
      });
      expect(res.headers.get('location')).toBe('/account'); // an absolute next is ignored
      const line = res.headers.getSetCookie().find((l) => l.startsWith('tessera='))!;
      expect(line).not.toContain('Secure');
      expect(line).toContain('HttpOnly');
      expect(line).toContain('SameSite=Lax');
    });

    it('wrong credentials: the same page, a generic error, 401; no session', async () => {
      const app = createInteractionApp(ctx, new FakeDeferred(clock));
      const page = await app.request('https://ps.example/login');
      const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
      const csrf = csrfFrom(await page.text());
      const wrong = await app.request('https://ps.example/login', { method: 'POST', headers: { origin: 'https://ps.example', 'content-type': FORM, cookie }, body: form({ username: 'alice', password: 'nope-nope', csrf }) });
      const unknown = await app.request('https://ps.example/login', { method: 'POST', headers: { origin: 'https://ps.example', 'content-type': FORM, cookie }, body: form({ username: 'zed', password: 'nope-nope', csrf }) });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      const [a, b] = [await wrong.text(), await unknown.text()];
      expect(a).toContain('That username and password do not match an account.');
      expect(b).toContain('That username and password do not match an account.');
      expect([...cookiesFrom(wrong).keys()]).not.toContain('__Host-tessera');
    });

    it('login limiter: after 5 failures per username and address, 429 even with the right password', async () => {
      const app = createInteractionApp(ctx, new FakeDeferred(clock));
      const page = await app.request('https://ps.example/login');
      const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
      const csrf = csrfFrom(await page.text());
      const attempt = (password: string, username = 'bob') =>
        app.request('https://ps.example/login', { method: 'POST', headers: { origin: 'https://ps.example', 'content-type': FORM, cookie }, body: form({ username, password, csrf }) });
      for (let i = 0; i < 5; i++) expect((await attempt('wrong-password')).status).toBe(401);
      const limited = await attempt('bob-password');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('900');
      expect(await limited.text()).toContain('Too many attempts');
      expect((await attempt('alice-password', 'alice')).status).toBe(303); // another username is not affected
      clock.t += 15 * 60;
      expect((await attempt('bob-password')).status).toBe(303);
      clock.t = T0;
    });

    it('CSRF: sign-in and sign-out refuse a missing token, a wrong token and a foreign Origin', async () => {
      const app = createInteractionApp(ctx, new FakeDeferred(clock));
      const page = await app.request('https://ps.example/login');
      const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
      const csrf = csrfFrom(await page.text());
      const login = (headers: Record<string, string>, fields: Record<string, string>) =>
        app.request('https://ps.example/login', { method: 'POST', headers: { 'content-type': FORM, cookie, ...headers }, body: form({ username: 'alice', password: 'alice-password', ...fields }) });
      expect((await login({ origin: 'https://evil.example' }, { csrf })).status).toBe(403);
      expect((await login({}, { csrf })).status).toBe(403); // neither Origin nor Sec-Fetch-Site
      expect((await login({ origin: 'https://ps.example' }, {})).status).toBe(403);
      expect((await login({ origin: 'https://ps.example' }, { csrf: 'x'.repeat(43) })).status).toBe(403);
      expect((await login({ 'sec-fetch-site': 'same-origin' }, { csrf })).status).toBe(303);

      const browser = await signIn(app, ctx, 'alice', 'alice-password');
      const logout = (headers: Record<string, string>, fields: Record<string, string>) =>
        app.request('https://ps.example/logout', { method: 'POST', headers: { 'content-type': FORM, cookie: browser.cookie, ...headers }, body: form(fields) });
      expect((await logout({ origin: 'https://ps.example' }, {})).status).toBe(403);
      expect((await logout({ origin: 'https://evil.example' }, { csrf: browser.csrf })).status).toBe(403);
      const json = await app.request('https://ps.example/logout', { method: 'POST', headers: { 'content-type': 'application/json', cookie: browser.cookie, origin: 'https://ps.example' }, body: JSON.stringify({ csrf: browser.csrf }) });
      expect(json.status).toBe(403);
      // Still signed in after all refusals:
      expect((await app.request('https://ps.example/account', { headers: { cookie: browser.cookie } })).status).toBe(200);
      const ok = await logout({ origin: 'https://ps.example' }, { csrf: browser.csrf });
      expect(ok.status).toBe(303);
      expect(ok.headers.getSetCookie().some((l) => l.startsWith('__Host-tessera=;') && l.includes('Max-Age=0'))).toBe(true);
      expect((await app.request('https://ps.example/account', { headers: { cookie: browser.cookie } })).status).toBe(303);
    });
  });
}
