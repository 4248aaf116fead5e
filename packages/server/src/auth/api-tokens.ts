/**
 * Personal API tokens for the approver API: `tsr_<base64url of 32 random bytes>`, shown once at creation;
 * only the SHA-256 is stored. A person creates, lists and revokes their own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AAuthError } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Person } from '../store/schema.js';

export const API_TOKEN_PREFIX = 'tsr_';
/** `tsr_` + 43 base64url characters (32 bytes). */
const API_TOKEN = /^tsr_[A-Za-z0-9_-]{43}$/;
/** `last_used_at` is written at most this often per token. */
const LAST_USED_GRANULARITY = 60;

export interface ApiTokenInfo {
  /** The stored SHA-256 (base64url): names the token for listing and revocation, reveals nothing. */
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

export interface CreatedApiToken {
  /** The token itself: shown to the person once, never stored. */
  readonly token: string;
  readonly info: ApiTokenInfo;
}

export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export function looksLikeApiToken(value: string): boolean {
  return API_TOKEN.test(value);
}

/** Creates a token for `personId` (audited with its id, never the token). */
export async function createApiToken(ctx: ServerContext, personId: string, name: string): Promise<CreatedApiToken> {
  const label = name.trim();
  if (label.length === 0 || label.length > 100) throw new AAuthError('invalid_request', { detail: 'token name must be 1–100 characters' });
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = hashApiToken(token);
  const now = Math.floor(ctx.now());
  await ctx.store.transaction(async (trx) => {
    await trx.insertInto('person_api_tokens').values({ token_hash: id, person_id: personId, name: label, created_at: now, last_used_at: null, revoked_at: null }).execute();
    await ctx.store.audit({ type: 'api_token.created', actor: personId, person: personId, detail: { token_id: id.slice(0, 12), name: label } }, trx);
  });
  return { token, info: { id, name: label, createdAt: now, lastUsedAt: null, revokedAt: null } };
}

/** A person's tokens, newest first (revoked ones too when asked). */
export async function listApiTokens(ctx: ServerContext, personId: string, includeRevoked = false): Promise<ApiTokenInfo[]> {
  let q = ctx.store.db.selectFrom('person_api_tokens').selectAll().where('person_id', '=', personId);
  if (!includeRevoked) q = q.where('revoked_at', 'is', null);
  const rows = await q.orderBy('created_at', 'desc').execute();
  return rows.map((r) => ({ id: r.token_hash, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at }));
}

/** Revokes one of `personId`'s tokens; false when there is no such live token of theirs. */
export async function revokeApiToken(ctx: ServerContext, personId: string, id: string): Promise<boolean> {
  const now = Math.floor(ctx.now());
  return ctx.store.transaction(async (trx) => {
    const r = await trx
      .updateTable('person_api_tokens')
      .set({ revoked_at: now })
      .where('token_hash', '=', id)
      .where('person_id', '=', personId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    const done = Number(r.numUpdatedRows) > 0;
    if (done) await ctx.store.audit({ type: 'api_token.revoked', actor: personId, person: personId, detail: { token_id: id.slice(0, 12) } }, trx);
    return done;
  });
}

/** The person a live token belongs to; undefined for an unknown, malformed or revoked token. */
export async function findPersonByApiToken(ctx: ServerContext, token: string): Promise<Person | undefined> {
  if (!looksLikeApiToken(token)) return undefined;
  const id = hashApiToken(token);
  const row = await ctx.store.db
    .selectFrom('person_api_tokens')
    .innerJoin('people', 'people.id', 'person_api_tokens.person_id')
    .select(['people.id', 'people.username', 'people.display_name', 'people.password_hash', 'people.created_at', 'person_api_tokens.last_used_at', 'person_api_tokens.revoked_at'])
    .where('person_api_tokens.token_hash', '=', id)
    .executeTakeFirst();
  if (!row || row.revoked_at !== null) return undefined;
  const now = Math.floor(ctx.now());
  if (row.last_used_at === null || now - row.last_used_at >= LAST_USED_GRANULARITY) {
    await ctx.store.db.updateTable('person_api_tokens').set({ last_used_at: now }).where('token_hash', '=', id).execute();
  }
  return { id: row.id, username: row.username, display_name: row.display_name, password_hash: row.password_hash, created_at: row.created_at };
}
