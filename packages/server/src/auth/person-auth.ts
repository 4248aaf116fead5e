/**
 * Who is asking: the signed-in person (session cookie) or a personal API token (`Authorization: Bearer tsr_…`).
 * AAuth -11 §Security Considerations: the PS MUST authenticate the people who approve.
 *
 * - `requirePerson(ctx)` for the approver API: 401 problem+json with `WWW-Authenticate: Bearer` when absent or
 *   invalid. A cookie-authenticated unsafe request must also come from the PS origin (CSRF).
 * - `requirePersonPage(ctx)` for pages: a session only; otherwise a redirect to `/login?next=<this page>`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ServerContext } from '../context.js';
import type { Person } from '../store/schema.js';
import { findPersonByApiToken } from './api-tokens.js';
import { sameOrigin } from './csrf.js';
import { findSession, readSessionCookie, type Session } from './sessions.js';

export type PersonAuth = { readonly method: 'session'; readonly session: Session } | { readonly method: 'api_token' };

export type PersonVariables = { person: Person; personAuth: PersonAuth };
export type PersonPageVariables = { person: Person; session: Session };

const REALM = 'Bearer realm="tessera"';

function unauthorized(c: Context, error: 'invalid_request' | 'invalid_token', detail: string): Response {
  const challenge = error === 'invalid_token' ? `${REALM}, error="invalid_token"` : REALM;
  return new Response(JSON.stringify({ error, detail }), {
    status: 401,
    headers: { 'content-type': 'application/problem+json', 'www-authenticate': challenge, 'cache-control': 'no-store' },
  });
}

/** The signed-in person of this request's session cookie, if any. */
export async function currentSession(ctx: ServerContext, c: Context): Promise<{ session: Session; person: Person } | undefined> {
  const value = readSessionCookie(ctx, c);
  return value === undefined ? undefined : findSession(ctx, value);
}

/** Approver API authentication: a personal API token, or a session cookie. */
export function requirePerson(ctx: ServerContext): MiddlewareHandler<{ Variables: PersonVariables }> {
  return async (c, next) => {
    const authorization = c.req.header('authorization');
    if (authorization !== undefined && /^bearer\s/i.test(authorization)) {
      const person = await findPersonByApiToken(ctx, authorization.slice(7).trim());
      if (!person) return unauthorized(c, 'invalid_token', 'the personal API token is unknown or revoked');
      c.set('person', person);
      c.set('personAuth', { method: 'api_token' });
      return next();
    }
    const found = await currentSession(ctx, c);
    if (!found) return unauthorized(c, 'invalid_request', 'sign in, or send a personal API token');
    const safe = c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS';
    if (!safe && !sameOrigin(ctx, c)) {
      return new Response(JSON.stringify({ error: 'invalid_request', detail: 'cross-origin request refused' }), {
        status: 403,
        headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
      });
    }
    c.set('person', found.person);
    c.set('personAuth', { method: 'session', session: found.session });
    return next();
  };
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * A relative path on this server (`/…`, not `//…`, no backslashes or control characters), or undefined.
 * Used for `next` after sign-in: never an open redirect.
 */
export function safeRelativePath(ctx: ServerContext, value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > 2048) return undefined;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\') || hasControlCharacter(value)) return undefined;
  try {
    const base = new URL(ctx.ps.issuer);
    const url = new URL(value, base);
    if (url.origin !== base.origin) return undefined;
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

/** The sign-in URL that comes back to `path`. */
export function loginUrl(ctx: ServerContext, path: string): string {
  const next = safeRelativePath(ctx, path);
  return next === undefined || next === '/login' ? '/login' : `/login?${new URLSearchParams({ next }).toString()}`;
}

/** Page authentication: the session cookie, or a redirect to the sign-in page that comes back here. */
export function requirePersonPage(ctx: ServerContext): MiddlewareHandler<{ Variables: PersonPageVariables }> {
  return async (c, next) => {
    const found = await currentSession(ctx, c);
    if (!found) {
      // A GET comes back to the same page; a form post (session expired meanwhile) cannot be replayed.
      const url = new URL(c.req.url);
      c.header('cache-control', 'no-store');
      return c.redirect(c.req.method === 'GET' ? loginUrl(ctx, url.pathname + url.search) : '/login', 303);
    }
    c.set('person', found.person);
    c.set('session', found.session);
    return next();
  };
}
