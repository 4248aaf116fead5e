/**
 * Administrator authentication for the admin API: `Authorization: Bearer <admin token>`, compared in constant time
 * with the SHA-256 kept in settings key `admin_token_sha256` (a JSON string of lowercase hex). The token itself is
 * never stored or logged. Also the problem+json helper the admin and approver APIs answer errors with.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AAuthError, PROBLEM_JSON } from '@tessera/protocol';
import type { Context, MiddlewareHandler } from 'hono';
import type { ServerContext } from '../context.js';
import { fromJson, toJson } from '../store/store.js';

export const ADMIN_TOKEN_SETTING = 'admin_token_sha256';
/** Shortest admin token `setAdminToken` accepts (characters). */
export const MIN_ADMIN_TOKEN_LENGTH = 24;

/** Error codes of the admin and approver APIs (not AAuth endpoints; the same problem+json shape). */
export type ApiErrorCode = 'invalid_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'server_error';

/** A problem+json answer `{error, detail?}` with `Cache-Control: no-store`. */
export function apiProblem(c: Context, status: 400 | 401 | 403 | 404 | 409 | 413 | 500, error: ApiErrorCode, detail?: string, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(detail === undefined ? { error } : { error, detail }), status, { 'Content-Type': PROBLEM_JSON, 'Cache-Control': 'no-store', ...headers });
}

const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

/** A new random admin token (256 bits, base64url). */
export function generateAdminToken(): string {
  return `tsa_${randomBytes(32).toString('base64url')}`;
}

/** Stores the SHA-256 of `token` as the admin token (replacing any previous one), audited as `admin.token.set`. */
export async function setAdminToken(ctx: Pick<ServerContext, 'store' | 'now'>, token: string): Promise<void> {
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new AAuthError('invalid_argument', { detail: `an admin token needs at least ${MIN_ADMIN_TOKEN_LENGTH} characters and no whitespace` });
  }
  const value = toJson(sha256Hex(token));
  const now = Math.floor(ctx.now());
  await ctx.store.transaction(async (trx) => {
    await trx
      .insertInto('settings')
      .values({ key: ADMIN_TOKEN_SETTING, value, updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
      .execute();
    await ctx.store.audit({ type: 'admin.token.set', actor: 'admin' }, trx);
  });
}

/** Whether `token` is the admin token (constant time in the token's hash). */
export async function verifyAdminToken(ctx: Pick<ServerContext, 'store'>, token: string): Promise<boolean> {
  const row = await ctx.store.db.selectFrom('settings').select('value').where('key', '=', ADMIN_TOKEN_SETTING).executeTakeFirst();
  const stored = fromJson<unknown>(row?.value ?? null, null);
  if (typeof stored !== 'string' || !/^[0-9a-f]{64}$/.test(stored)) return false;
  return timingSafeEqual(Buffer.from(sha256Hex(token), 'hex'), Buffer.from(stored, 'hex'));
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** Hono middleware: 401 unless the request carries the admin token as a Bearer token (RFC 6750 §2.1). */
export function requireAdmin(ctx: Pick<ServerContext, 'store'>): MiddlewareHandler {
  return async (c, next) => {
    const challenge = { 'WWW-Authenticate': 'Bearer realm="tessera-admin"' };
    const match = BEARER.exec(c.req.header('authorization') ?? '');
    if (match?.[1] === undefined) return apiProblem(c, 401, 'unauthorized', 'the admin API needs Authorization: Bearer <admin token>', challenge);
    if (!(await verifyAdminToken(ctx, match[1]))) {
      return apiProblem(c, 401, 'unauthorized', 'wrong admin token', { 'WWW-Authenticate': 'Bearer realm="tessera-admin", error="invalid_token"' });
    }
    await next();
    return undefined;
  };
}
