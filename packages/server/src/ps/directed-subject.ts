/**
 * Directed (pairwise) user identifiers (AAuth -11 §Directed Identifiers; digest §4): the `sub` of the person and auth
 * tokens this PS issues is derived per person and per resource, so two resources never see the same value for one
 * person, and the value is stable across requests. `sub` = the first 32 characters of
 * base64url(HMAC-SHA256(secret, person_id "\n" resource)). The secret lives in the settings key `subject_secret`
 * (32 random bytes, base64url, as a JSON string), created once; it is never logged.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ServerContext } from '../context.js';
import { fromJson, toJson, type Executor } from '../store/store.js';

export const SUBJECT_SECRET_SETTING = 'subject_secret';
export const DIRECTED_SUBJECT_LENGTH = 32;

/** The secret behind directed identifiers, created on first use (a racing creator loses and reads the winner's). */
export async function subjectSecret(ctx: ServerContext, db: Executor = ctx.store.db): Promise<Buffer> {
  const read = async (): Promise<string | undefined> => {
    const row = await db.selectFrom('settings').select('value').where('key', '=', SUBJECT_SECRET_SETTING).executeTakeFirst();
    const value = row ? fromJson<unknown>(row.value, undefined) : undefined;
    return typeof value === 'string' && value.length >= 43 ? value : undefined;
  };
  let secret = await read();
  if (secret === undefined) {
    await db
      .insertInto('settings')
      .values({ key: SUBJECT_SECRET_SETTING, value: toJson(randomBytes(32).toString('base64url')), updated_at: Math.floor(ctx.now()) })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    secret = await read();
    if (secret === undefined) throw new Error('settings.subject_secret is not a usable secret');
  }
  return Buffer.from(secret, 'base64url');
}

/** The pure derivation: pairwise per resource, stable, opaque. */
export function deriveDirectedSubject(secret: Uint8Array, personId: string, resource: string): string {
  return createHmac('sha256', secret).update(`${personId}\n${resource}`, 'utf8').digest('base64url').slice(0, DIRECTED_SUBJECT_LENGTH);
}

/** The directed `sub` of `personId` at `resource` (AAuth §Directed Identifiers: pairwise per `aud`). */
export async function directedSubject(ctx: ServerContext, personId: string, resource: string, db: Executor = ctx.store.db): Promise<string> {
  return deriveDirectedSubject(await subjectSecret(ctx, db), personId, resource);
}
