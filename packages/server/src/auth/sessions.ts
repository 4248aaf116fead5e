/**
 * Server-side browser sessions of people on the Person Server's pages. The cookie carries 32 random bytes;
 * only their SHA-256 is stored (`web_sessions.id_hash`), so a database leak yields no usable session. Each
 * session has its own CSRF token. Cookie: `__Host-tessera` (`Secure; HttpOnly; SameSite=Lax; Path=/`) when the
 * PS is served over https or in production; `tessera` without `Secure` in development over http.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { ServerContext } from '../context.js';
import type { Person } from '../store/schema.js';
import { newCsrfToken } from './csrf.js';

/** Session lifetime: 12 hours. */
export const SESSION_LIFETIME_SECONDS = 12 * 3600;

export interface Session {
  /** SHA-256 of the cookie value (base64url): the row key, also usable as a rate-limit key. */
  readonly idHash: string;
  readonly personId: string;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

export interface CreatedSession {
  readonly session: Session;
  /** The cookie value (32 random bytes, base64url): sent once, never stored. */
  readonly cookieValue: string;
}

export interface CookieNames {
  /** The session cookie. */
  readonly session: string;
  /** The pre-session CSRF cookie of the sign-in form. */
  readonly login: string;
  readonly secure: boolean;
}

/** Whether cookies get `Secure` and the `__Host-` prefix: production, or any https identifier. */
export function secureCookies(ctx: ServerContext): boolean {
  return ctx.mode === 'production' || new URL(ctx.ps.issuer).protocol === 'https:';
}

export function cookieNames(ctx: ServerContext): CookieNames {
  const secure = secureCookies(ctx);
  return secure
    ? { session: '__Host-tessera', login: '__Host-tessera-login', secure }
    : { session: 'tessera', login: 'tessera-login', secure };
}

export function hashSessionValue(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Starts a session for `personId` (in a transaction, audited); expired sessions are swept at the same time. */
export async function createSession(ctx: ServerContext, personId: string): Promise<CreatedSession> {
  const cookieValue = randomBytes(32).toString('base64url');
  const now = Math.floor(ctx.now());
  const session: Session = { idHash: hashSessionValue(cookieValue), personId, csrfToken: newCsrfToken(), expiresAt: now + SESSION_LIFETIME_SECONDS };
  await ctx.store.transaction(async (trx) => {
    await trx.deleteFrom('web_sessions').where('expires_at', '<=', now).execute();
    await trx
      .insertInto('web_sessions')
      .values({ id_hash: session.idHash, person_id: personId, csrf_token: session.csrfToken, created_at: now, expires_at: session.expiresAt })
      .execute();
    await ctx.store.audit({ type: 'session.created', actor: personId, person: personId }, trx);
  });
  return { session, cookieValue };
}

/** The live session and its person for a cookie value; undefined when unknown or expired. */
export async function findSession(ctx: ServerContext, cookieValue: string): Promise<{ session: Session; person: Person } | undefined> {
  if (cookieValue.length === 0 || cookieValue.length > 128) return undefined;
  const row = await ctx.store.db
    .selectFrom('web_sessions')
    .innerJoin('people', 'people.id', 'web_sessions.person_id')
    .select([
      'web_sessions.id_hash',
      'web_sessions.csrf_token',
      'web_sessions.expires_at',
      'people.id',
      'people.username',
      'people.display_name',
      'people.password_hash',
      'people.created_at',
    ])
    .where('web_sessions.id_hash', '=', hashSessionValue(cookieValue))
    .executeTakeFirst();
  if (!row || row.expires_at <= ctx.now()) return undefined;
  return {
    session: { idHash: row.id_hash, personId: row.id, csrfToken: row.csrf_token, expiresAt: row.expires_at },
    person: { id: row.id, username: row.username, display_name: row.display_name, password_hash: row.password_hash, created_at: row.created_at },
  };
}

/** Ends a session (sign-out). */
export async function destroySession(ctx: ServerContext, session: Session): Promise<void> {
  await ctx.store.transaction(async (trx) => {
    await trx.deleteFrom('web_sessions').where('id_hash', '=', session.idHash).execute();
    await ctx.store.audit({ type: 'session.ended', actor: session.personId, person: session.personId }, trx);
  });
}

/** Reads the session cookie. */
export function readSessionCookie(ctx: ServerContext, c: Context): string | undefined {
  return getCookie(c, cookieNames(ctx).session);
}

/** Sets the session cookie: `HttpOnly; SameSite=Lax; Path=/`, `Secure` and `__Host-` when {@link secureCookies}. */
export function setSessionCookie(ctx: ServerContext, c: Context, created: CreatedSession): void {
  const names = cookieNames(ctx);
  setCookie(c, names.session, created.cookieValue, {
    path: '/',
    httpOnly: true,
    secure: names.secure,
    sameSite: 'Lax',
    maxAge: SESSION_LIFETIME_SECONDS,
  });
}

export function clearSessionCookie(ctx: ServerContext, c: Context): void {
  const names = cookieNames(ctx);
  deleteCookie(c, names.session, { path: '/', httpOnly: true, secure: names.secure, sameSite: 'Lax' });
}
