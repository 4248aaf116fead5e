/**
 * The Person Server's pages for people (PS host): sign-in (`/login`, `/logout`), the interaction page where a
 * person enters an agent's code and decides (`/interaction`, AAuth -11 §User Interaction, §Deferred Responses),
 * and the account page (`/account`: requests relayed by the person's agents through the interaction endpoint,
 * standing grants, bound agents, personal API tokens). A relayed interaction is followed through
 * `GET /account/relay/:id` (recorded, then a redirect to `{url}?code={code}`), a relayed question answered with
 * `POST /account/relay/answer`, and either dismissed with `POST /account/relay/dismiss`.
 *
 * Every response: strict security headers (CSP with the stylesheet's hash, `form-action 'self'`,
 * `frame-ancestors 'none'`, `base-uri 'none'`, no referrer, nosniff) and `Cache-Control: no-store`. Every POST:
 * an Origin check against the PS identifier (`hono/csrf`) and a CSRF token in the form.
 */
import { isAAuthError, normalizeInteractionCode } from '@tessera/protocol';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import type { ServerContext } from '../context.js';
import { createApiToken, listApiTokens, revokeApiToken } from '../auth/api-tokens.js';
import { CSRF_FIELD, newCsrfToken, originCheck, tokensEqual } from '../auth/csrf.js';
import { createFailureLimiter } from '../auth/failure-limiter.js';
import { normalizeUsername, verifyPassword } from '../auth/people.js';
import { currentSession, requirePersonPage, safeRelativePath, type PersonPageVariables } from '../auth/person-auth.js';
import { clearSessionCookie, cookieNames, createSession, destroySession, setSessionCookie, type Session } from '../auth/sessions.js';
import type { Deferred } from '../deferred/types.js';
import { answerQuestion, followRelay, listRelays, openRelay } from '../ps/interaction-endpoint.js';
import { listGrants, revokeGrant } from '../store/grants.js';
import type { Person, PendingRequest } from '../store/schema.js';
import { renderAccountPage } from './account-page.js';
import { renderCodeEntryPage, renderConsentPage } from './interaction-page.js';
import { renderMessagePage } from './layout.js';
import { renderLoginPage } from './login-page.js';
import { STYLES_CSP_HASH } from './styles.js';
import { nodeIncoming } from '../http/node-bindings.js';

/** Sign-in failures allowed per username and address in {@link LOGIN_WINDOW_SECONDS}. */
export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_SECONDS = 15 * 60;
/** Wrong interaction codes allowed per session (AAuth -11 §Interaction Code Format: rate-limited). */
export const CODE_MAX_FAILURES = 5;
export const CODE_WINDOW_SECONDS = 15 * 60;
/** Lifetime of the pre-session CSRF cookie of the sign-in form. */
const LOGIN_COOKIE_SECONDS = 3600;

/** Callback `?error=` values (AAuth -11 §Deferred Responses; §8.47). */
export type CallbackError = 'access_denied' | 'user_abandoned' | 'interaction_expired' | 'server_error' | 'temporarily_unavailable';

type Env = { Variables: PersonPageVariables };

/** CSP directives for every page; `formActionExtra` adds the origin of a callback the decision redirects to. */
export function contentSecurityPolicy(ctx: ServerContext, formActionExtra?: string): string {
  const images = ctx.mode === 'development' ? "'self' https: http://localhost:* http://127.0.0.1:*" : "'self' https:";
  return [
    "default-src 'none'",
    `style-src ${STYLES_CSP_HASH}`,
    `img-src ${images}`,
    // Browsers apply form-action to the redirects that follow a form submission: a decision that redirects to
    // the agent's callback must list the callback's origin.
    `form-action 'self'${formActionExtra ? ` ${formActionExtra}` : ''}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * A callback URL the PS may redirect the person to: `https` (no credentials), or `http` on a loopback host in
 * development. Anything else is dropped.
 */
export function safeCallback(ctx: ServerContext, raw: string | null | undefined): URL | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '') return undefined;
  if (url.protocol === 'https:') return url;
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol === 'http:' && loopback && ctx.mode === 'development') return url;
  return undefined;
}

/** The callback with `?error=` added (a refusal), or as-is (an approval). */
export function callbackRedirect(callback: URL, error?: CallbackError): string {
  const url = new URL(callback.href);
  if (error !== undefined) url.searchParams.set('error', error);
  return url.href;
}

/** A logo URL the consent page may show: as for callbacks (https, or loopback http in development). */
function safeLogo(ctx: ServerContext, raw: string | undefined): string | undefined {
  return safeCallback(ctx, raw)?.href;
}

/** The socket address, when the runtime exposes it (the Node server does); else a constant. */
function clientAddress(c: Context): string {
  return nodeIncoming(c)?.socket.remoteAddress ?? 'unknown';
}

function formString(form: Record<string, unknown>, name: string): string | undefined {
  const v = form[name];
  return typeof v === 'string' ? v : undefined;
}

/** The paths this app serves (its middleware applies to these only). */
export const PAGE_PATHS = ['/login', '/logout', '/interaction/*', '/account/*'] as const; // `/x/*` also matches `/x`

/** Whether `code` is a syntactically valid interaction code (Crockford base32, hyphens ignored). */
function wellFormedCode(code: string): boolean {
  try {
    normalizeInteractionCode(code);
    return true;
  } catch {
    return false;
  }
}

const OPEN_STATUSES: ReadonlySet<PendingRequest['status']> = new Set(['pending', 'interacting']);

export function createInteractionApp(ctx: ServerContext, deferred: Deferred): Hono<Env> {
  const app = new Hono<Env>();
  const names = cookieNames(ctx);
  const serverName = ctx.ps.name;
  const loginLimiter = createFailureLimiter({ maxFailures: LOGIN_MAX_FAILURES, windowSeconds: LOGIN_WINDOW_SECONDS, now: ctx.now });
  const codeLimiter = createFailureLimiter({ maxFailures: CODE_MAX_FAILURES, windowSeconds: CODE_WINDOW_SECONDS, now: ctx.now });

  // Middleware is scoped to this app's own paths: mounted with `route('/', …)` on the PS host, it must not touch
  // the AAuth endpoints (JSON bodies, signed requests) that share the host.
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: [STYLES_CSP_HASH],
      imgSrc: ctx.mode === 'development' ? ["'self'", 'https:', 'http://localhost:*', 'http://127.0.0.1:*'] : ["'self'", 'https:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    referrerPolicy: 'no-referrer',
    xFrameOptions: 'DENY',
    strictTransportSecurity: names.secure ? 'max-age=31536000; includeSubDomains' : false,
    crossOriginResourcePolicy: 'same-origin',
    crossOriginOpenerPolicy: 'same-origin',
    permissionsPolicy: { camera: [], microphone: [], geolocation: [], payment: [] },
    // A handler may set a stricter-or-extended CSP of its own (the consent page with a callback).
    overwrite: false,
  });
  const noStore: MiddlewareHandler = async (c, next) => {
    await next();
    c.res.headers.set('cache-control', 'no-store');
  };

  const signedIn = (person: Person, session: Session) => ({ displayName: person.display_name, csrf: session.csrfToken });

  const message = (
    c: Context,
    status: 200 | 400 | 403 | 404 | 410 | 429 | 500,
    title: string,
    text: string,
    opts: { tone?: 'error' | 'ok' | 'info'; who?: { person: Person; session: Session }; action?: { href: string; label: string } } = {},
  ) =>
    c.html(
      renderMessagePage({
        title,
        serverName,
        message: text,
        tone: opts.tone ?? 'error',
        ...(opts.who ? { signedIn: signedIn(opts.who.person, opts.who.session) } : {}),
        ...(opts.action ? { action: opts.action } : {}),
      }),
      status,
    );

  // Every POST: the Origin check first (hono/csrf against the PS identifier).
  const origins = originCheck(ctx, (c) => message(c, 403, 'Request refused', 'This form was sent from another site, so it was not accepted. Go back and try again.'));
  for (const path of PAGE_PATHS) app.use(path, headers, noStore, origins);

  app.onError((error, c) => {
    ctx.log.error({ event: 'ui.error', path: c.req.path, err: error instanceof Error ? error.message : String(error) }, 'page failed');
    return message(c, 500, 'Something went wrong', 'The page could not be shown. Try again in a moment.');
  });

  /** The session's CSRF token must be in the form (constant-time comparison). */
  const csrfOk = (form: Record<string, unknown>, session: Session) => tokensEqual(formString(form, CSRF_FIELD), session.csrfToken);
  const csrfRefused = (c: Context) => message(c, 403, 'Request refused', 'This form is out of date. Reload the page and try again.', { action: { href: '/account', label: 'Go to your account' } });

  // ---- Sign-in ----------------------------------------------------------------------------------

  const loginToken = (c: Context): string => {
    const existing = getCookie(c, names.login);
    const token = existing !== undefined && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : newCsrfToken();
    setCookie(c, names.login, token, { path: '/', httpOnly: true, secure: names.secure, sameSite: 'Lax', maxAge: LOGIN_COOKIE_SECONDS });
    return token;
  };

  app.get('/login', async (c) => {
    const next = safeRelativePath(ctx, c.req.query('next'));
    if (await currentSession(ctx, c)) return c.redirect(next ?? '/account', 303);
    return c.html(renderLoginPage({ serverName, csrf: loginToken(c), ...(next ? { next } : {}) }));
  });

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeRelativePath(ctx, formString(form, 'next'));
    const rawUsername = (formString(form, 'username') ?? '').slice(0, 64);
    const password = formString(form, 'password') ?? '';
    const page = (status: 401 | 403 | 429, error: string) =>
      c.html(renderLoginPage({ serverName, csrf: loginToken(c), username: rawUsername, error, ...(next ? { next } : {}) }), status);

    // Login CSRF: double submit of the pre-session cookie (plus the Origin check above).
    if (!tokensEqual(formString(form, CSRF_FIELD), getCookie(c, names.login))) {
      return page(403, 'Your sign-in form expired. Please try again.');
    }
    const key = `${normalizeUsername(rawUsername)}\u0000${clientAddress(c)}`;
    if (loginLimiter.isLimited(key)) {
      c.header('retry-after', String(LOGIN_WINDOW_SECONDS));
      return page(429, 'Too many attempts. Wait 15 minutes, then try again.');
    }
    const check = await verifyPassword(ctx, rawUsername, password);
    if (!check.ok) {
      loginLimiter.fail(key);
      ctx.log.info({ event: 'login.failed' }, 'sign-in failed');
      return page(401, 'That username and password do not match an account.');
    }
    loginLimiter.reset(key);
    // A new session on every sign-in (no fixation); the previous one of this browser ends.
    const previous = await currentSession(ctx, c);
    if (previous) await destroySession(ctx, previous.session);
    const created = await createSession(ctx, check.person.id);
    setSessionCookie(ctx, c, created);
    deleteCookie(c, names.login, { path: '/', secure: names.secure });
    return c.redirect(next ?? '/account', 303);
  });

  app.post('/logout', async (c) => {
    const found = await currentSession(ctx, c);
    if (!found) return c.redirect('/login', 303);
    const form = await c.req.parseBody();
    if (!csrfOk(form, found.session)) return csrfRefused(c);
    await destroySession(ctx, found.session);
    clearSessionCookie(ctx, c);
    return c.redirect('/login', 303);
  });

  // ---- Interaction ------------------------------------------------------------------------------

  /** The person an agent is bound to (AAuth -11 §Security Considerations: each agent bound to one person). */
  const boundPerson = async (agentId: string): Promise<string | null> => {
    const row = await ctx.store.db.selectFrom('agents').select('person_id').where('id', '=', agentId).executeTakeFirst();
    return row?.person_id ?? null;
  };

  /** Whether `person` may decide `pending`: neither the pending request nor its agent belongs to someone else. */
  const mayDecide = async (pending: PendingRequest, person: Person): Promise<boolean> => {
    if (pending.person_id !== null && pending.person_id !== person.id) return false;
    const bound = await boundPerson(pending.agent_id);
    return bound === null || bound === person.id;
  };

  const otherPerson = (c: Context, who: { person: Person; session: Session }) =>
    message(c, 403, 'This agent belongs to someone else', 'This agent is bound to another account, so you cannot approve its requests. If you did not expect this, ignore the request.', {
      who,
      action: { href: '/account', label: 'Go to your account' },
    });

  app.get('/interaction', requirePersonPage(ctx), async (c) => {
    const person = c.var.person;
    const session = c.var.session;
    const who = { person, session };
    const rawCode = c.req.query('code');
    if (rawCode === undefined || rawCode.trim() === '') {
      return c.html(renderCodeEntryPage({ serverName, signedIn: signedIn(person, session) }));
    }
    const entered = rawCode.slice(0, 32);
    const codePage = (status: 410 | 429, error: string) =>
      c.html(renderCodeEntryPage({ serverName, signedIn: signedIn(person, session), code: entered, error }), status);

    // §Interaction Code Format: rate-limited; a few failures end the attempt.
    if (codeLimiter.isLimited(session.idHash)) {
      c.header('retry-after', String(CODE_WINDOW_SECONDS));
      return codePage(429, 'Too many wrong codes. Wait 15 minutes, then try again.');
    }
    const expiredPage = () =>
      message(c, 410, 'This request has expired', 'The request took too long. Ask your agent to start again; it will show you a new code.', { who });
    let pending: PendingRequest | undefined;
    if (wellFormedCode(entered)) {
      try {
        pending = await deferred.findByCode(entered);
      } catch (error) {
        // The service may answer an expired request's code with `expired`, and its own limiter with `invalid_code`.
        if (isAAuthError(error, 'expired')) return expiredPage();
        if (isAAuthError(error, 'invalid_code')) {
          c.header('retry-after', String(CODE_WINDOW_SECONDS));
          return codePage(429, 'Too many wrong codes. Wait 15 minutes, then try again.');
        }
        throw error;
      }
    }
    if (!pending) {
      codeLimiter.fail(session.idHash);
      return codePage(410, 'That code is not valid or was already used. Check it and try again.');
    }
    if (pending.status === 'expired' || (OPEN_STATUSES.has(pending.status) && pending.expires_at <= ctx.now())) return expiredPage();
    if (!OPEN_STATUSES.has(pending.status)) {
      return message(c, 410, 'Already decided', 'This request was already answered. You can return to your agent.', { who, tone: 'info' });
    }
    if (!(await mayDecide(pending, person))) return otherPerson(c, who);
    const handler = deferred.handler(pending.kind);
    if (!handler) {
      ctx.log.error({ event: 'interaction.no_handler', kind: pending.kind }, 'no handler for a pending kind');
      return message(c, 500, 'Something went wrong', 'This request cannot be shown. Try again later.', { who });
    }
    await deferred.interacting(pending.id, person.id);
    const view = await handler.describe(pending);
    const callback = safeCallback(ctx, pending.callback ?? c.req.query('callback'));
    if (callback) c.header('content-security-policy', contentSecurityPolicy(ctx, callback.origin));
    const logoSrc = safeLogo(ctx, view.resource?.logoUri);
    return c.html(
      renderConsentPage({
        serverName,
        signedIn: signedIn(person, session),
        view,
        pendingId: pending.id,
        ...(logoSrc ? { logoSrc } : {}),
        ...(callback && pending.callback === null ? { callback: callback.href } : {}),
      }),
    );
  });

  app.post('/interaction/decide', requirePersonPage(ctx), async (c) => {
    const person = c.var.person;
    const session = c.var.session;
    const who = { person, session };
    const form = await c.req.parseBody();
    if (!csrfOk(form, session)) return csrfRefused(c);
    const decision = formString(form, 'decision');
    const id = formString(form, 'pending');
    if ((decision !== 'once' && decision !== 'always' && decision !== 'deny') || id === undefined || id.length > 200) {
      return message(c, 400, 'Request not understood', 'Choose Approve or Deny on the request page.', { who });
    }
    const pending = await deferred.get(id);
    if (!pending) return message(c, 410, 'Request not found', 'This request no longer exists. Ask your agent to start again.', { who });
    // The person must have opened this request with its code (which records them on it), or own its agent.
    if (pending.person_id !== person.id || !(await mayDecide(pending, person))) return otherPerson(c, who);
    const callback = safeCallback(ctx, pending.callback ?? formString(form, 'callback'));
    const expired = pending.status === 'expired' || (OPEN_STATUSES.has(pending.status) && pending.expires_at <= ctx.now());
    if (expired) {
      if (callback) return c.redirect(callbackRedirect(callback, 'interaction_expired'), 303);
      return message(c, 410, 'This request has expired', 'The request took too long. Ask your agent to start again.', { who });
    }
    if (!OPEN_STATUSES.has(pending.status)) {
      return message(c, 410, 'Already decided', 'This request was already answered. You can return to your agent.', { who, tone: 'info' });
    }

    if (decision === 'deny') {
      try {
        await deferred.refuse(pending.id, 'denied', person.id);
      } catch (error) {
        ctx.log.error({ event: 'interaction.refuse_failed', pending: pending.id, err: error instanceof Error ? error.message : String(error) }, 'refusal failed');
        if (callback) return c.redirect(callbackRedirect(callback, 'server_error'), 303);
        return message(c, 500, 'Something went wrong', 'The refusal could not be recorded. Try again.', { who });
      }
      if (callback) return c.redirect(callbackRedirect(callback, 'access_denied'), 303);
      return message(c, 200, 'Request denied', 'You said no. You can return to your agent; it has been told.', { who, tone: 'info' });
    }

    const always = decision === 'always';
    if (always) {
      const handler = deferred.handler(pending.kind);
      const view = handler ? await handler.describe(pending) : undefined;
      if (!view?.allowAlways) return message(c, 400, 'Not available', '“Approve always” is not offered for this request.', { who });
    }
    try {
      await deferred.approve(pending.id, { personId: person.id, always });
    } catch (error) {
      ctx.log.error({ event: 'interaction.approve_failed', pending: pending.id, err: error instanceof Error ? error.message : String(error) }, 'approval failed');
      if (callback) return c.redirect(callbackRedirect(callback, 'server_error'), 303);
      return message(c, 500, 'Something went wrong', 'The approval could not be completed. Ask your agent to try again.', { who });
    }
    if (callback) return c.redirect(callbackRedirect(callback), 303);
    return message(c, 200, 'Approved', 'Done. You can return to your agent.', { who, tone: 'ok' });
  });

  // ---- Account ----------------------------------------------------------------------------------

  const NOTICES: Readonly<Record<string, string>> = {
    'grant-revoked': 'The standing approval was revoked.',
    'token-revoked': 'The token was revoked.',
    'relay-answered': 'Your answer was sent to the agent.',
    'relay-dismissed': 'The request was dismissed. The agent has been told.',
  };

  const accountPage = async (c: Context<Env>, extra: { newToken?: { name: string; token: string }; error?: string; notice?: string } = {}, status: 200 | 400 = 200) => {
    const person = c.var.person;
    const [grants, agents, tokens, relays] = await Promise.all([
      listGrants(ctx.store.db, person.id),
      ctx.store.db.selectFrom('agents').selectAll().where('person_id', '=', person.id).orderBy('created_at', 'desc').execute(),
      listApiTokens(ctx, person.id),
      listRelays(ctx, person.id),
    ]);
    return c.html(renderAccountPage({ serverName, signedIn: signedIn(person, c.var.session), username: person.username, grants, agents, tokens, relays, ...extra }), status);
  };

  app.get('/account', requirePersonPage(ctx), (c) => {
    const notice = NOTICES[c.req.query('done') ?? ''];
    return accountPage(c, notice ? { notice } : {});
  });

  // ---- Requests relayed by agents (AAuth -11 §Interaction Endpoint) -------------------------------------------

  /** The page for a relay that cannot be acted on (unknown or another person's, decided, expired). */
  const relayProblem = (c: Context<Env>, error: unknown) => {
    const who = { person: c.var.person, session: c.var.session };
    const back = { href: '/account', label: 'Go to your account' };
    if (isAAuthError(error, 'expired')) return message(c, 410, 'This request has expired', 'The agent stopped waiting. It can ask again.', { who, action: back });
    if (isAAuthError(error, 'invalid_code')) return message(c, 410, 'Already answered', 'This request was already dealt with.', { who, tone: 'info', action: back });
    if (isAAuthError(error, 'invalid_request')) return message(c, 404, 'Request not found', 'There is no such request from your agents.', { who, action: back });
    // The relay's agent token was revoked meanwhile (relayPendingHandler.approve).
    if (isAAuthError(error, 'denied')) return message(c, 403, 'Request withdrawn', 'The agent that asked can no longer act for you.', { who, action: back });
    throw error;
  };

  // Following the link records that the person took the relay up, then sends them to the resource. A GET: the id is
  // unguessable and known only to the person's agent and the person, and the only effect is ending the relay.
  app.get('/account/relay/:id', requirePersonPage(ctx), async (c) => {
    let link: string;
    try {
      link = await followRelay(ctx, deferred, c.req.param('id'), c.var.person.id);
    } catch (error) {
      return relayProblem(c, error);
    }
    return c.redirect(link, 303);
  });

  app.post('/account/relay/answer', requirePersonPage(ctx), async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(form, c.var.session)) return csrfRefused(c);
    try {
      await answerQuestion(ctx, deferred, (formString(form, 'pending') ?? '').slice(0, 200), c.var.person.id, formString(form, 'answer') ?? '');
    } catch (error) {
      if (isAAuthError(error, 'invalid_request') && (formString(form, 'answer') ?? '').trim() === '') return accountPage(c, { error: 'Write an answer before sending it.' }, 400);
      return relayProblem(c, error);
    }
    return c.redirect('/account?done=relay-answered', 303);
  });

  app.post('/account/relay/dismiss', requirePersonPage(ctx), async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(form, c.var.session)) return csrfRefused(c);
    try {
      const { pending } = await openRelay(ctx, deferred, (formString(form, 'pending') ?? '').slice(0, 200), c.var.person.id);
      await deferred.refuse(pending.id, 'denied', c.var.person.id);
    } catch (error) {
      return relayProblem(c, error);
    }
    return c.redirect('/account?done=relay-dismissed', 303);
  });

  app.post('/account/grants/revoke', requirePersonPage(ctx), async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(form, c.var.session)) return csrfRefused(c);
    const grantId = formString(form, 'grant') ?? '';
    const personId = c.var.person.id;
    const revoked = await ctx.store.transaction(async (trx) => {
      const row = await trx.selectFrom('grants').select(['agent_id', 'resource']).where('id', '=', grantId).where('person_id', '=', personId).executeTakeFirst();
      const done = row !== undefined && (await revokeGrant(trx, personId, grantId, ctx.now()));
      if (done) await ctx.store.audit({ type: 'grant.revoked', actor: personId, person: personId, agent: row.agent_id, resource: row.resource, detail: { grant: grantId } }, trx);
      return done;
    });
    if (!revoked) return accountPage(c, { error: 'That approval was not found or was already revoked.' }, 400);
    return c.redirect('/account?done=grant-revoked', 303);
  });

  app.post('/account/tokens', requirePersonPage(ctx), async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(form, c.var.session)) return csrfRefused(c);
    const name = (formString(form, 'name') ?? '').trim();
    if (name.length === 0 || name.length > 100) return accountPage(c, { error: 'Give the token a name of 1 to 100 characters.' }, 400);
    const created = await createApiToken(ctx, c.var.person.id, name);
    // Shown once, in this response only (no-store).
    return accountPage(c, { newToken: { name: created.info.name, token: created.token } });
  });

  app.post('/account/tokens/revoke', requirePersonPage(ctx), async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(form, c.var.session)) return csrfRefused(c);
    const revoked = await revokeApiToken(ctx, c.var.person.id, formString(form, 'token') ?? '');
    if (!revoked) return accountPage(c, { error: 'That token was not found or was already revoked.' }, 400);
    return c.redirect('/account?done=token-revoked', 303);
  });

  return app;
}
