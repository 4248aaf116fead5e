/**
 * Cross-site request forgery defences for the Person Server's pages. Every POST must pass two checks:
 * (1) an `Origin` (or `Sec-Fetch-Site: same-origin`) check against the PS identifier, with `hono/csrf`;
 * (2) a secret token in a hidden form field equal, in constant time, to the session's CSRF token (or, before
 * sign-in, to a pre-session cookie: double submit).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import type { ServerContext } from '../context.js';

/** The hidden form field that carries the CSRF token. */
export const CSRF_FIELD = 'csrf';

/** A fresh CSRF token: 32 random bytes, base64url. */
export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of two tokens (hashed first, so lengths do not leak). */
export function tokensEqual(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0 || b.length === 0) return false;
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a === b;
}

/**
 * Origin check for unsafe methods (`hono/csrf`): the `Origin` must be the PS identifier's origin, or the browser
 * must say `Sec-Fetch-Site: same-origin`. A request without either is refused. `onRefuse` renders the answer.
 */
export function originCheck(ctx: ServerContext, onRefuse: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const origin = new URL(ctx.ps.issuer).origin;
  const check = csrf({ origin, secFetchSite: 'same-origin' });
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS') return next();
    // hono/csrf only inspects form content types; every form POST here is one, and anything else is refused.
    const type = c.req.header('content-type') ?? '';
    if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) return onRefuse(c);
    try {
      await check(c, () => Promise.resolve());
    } catch (error) {
      if (error instanceof HTTPException) return onRefuse(c);
      throw error;
    }
    return next();
  };
}

/** Whether the request's `Origin` (or `Sec-Fetch-Site`) is this PS: for cookie-authenticated API calls. */
export function sameOrigin(ctx: ServerContext, c: Context): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined) return origin === new URL(ctx.ps.issuer).origin;
  return c.req.header('sec-fetch-site') === 'same-origin';
}
