/**
 * People: the local accounts of the Person Server, who sign in to approve for their agents (AAuth -11
 * §Security Considerations: the PS MUST authenticate approvers).
 */
import { randomBytes } from 'node:crypto';
import { AAuthError } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Person } from '../store/schema.js';
import { DUMMY_PASSWORD_HASH, MAX_PASSWORD_LENGTH, hashPassword, needsRehash, verifyPasswordHash } from './passwords.js';

export interface NewPerson {
  readonly username: string;
  readonly password: string;
  readonly displayName: string;
}

/** Usernames: 1–64 characters, lowercase letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 8;

/** Usernames are compared in lowercase, without surrounding blanks. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

export function isValidUsername(username: string): boolean {
  return USERNAME.test(username);
}

/**
 * Creates a person. Bad input or a taken username → `AAuthError('invalid_request')`.
 */
export async function createPerson(ctx: ServerContext, input: NewPerson): Promise<Person> {
  const username = normalizeUsername(input.username);
  const displayName = input.displayName.trim();
  if (!isValidUsername(username)) {
    throw new AAuthError('invalid_request', { detail: 'username must be 1–64 characters: a-z, 0-9, ".", "_", "-"' });
  }
  if (input.password.length < MIN_PASSWORD_LENGTH || input.password.length > MAX_PASSWORD_LENGTH) {
    throw new AAuthError('invalid_request', { detail: `password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters` });
  }
  if (displayName.length === 0 || displayName.length > 100) {
    throw new AAuthError('invalid_request', { detail: 'display name must be 1–100 characters' });
  }
  const person: Person = {
    id: `prs_${randomBytes(12).toString('base64url')}`,
    username,
    display_name: displayName,
    password_hash: await hashPassword(input.password),
    created_at: Math.floor(ctx.now()),
  };
  return ctx.store.transaction(async (trx) => {
    const taken = await trx.selectFrom('people').select('id').where('username', '=', username).executeTakeFirst();
    if (taken) throw new AAuthError('invalid_request', { detail: 'username is taken' });
    await trx.insertInto('people').values(person).execute();
    await ctx.store.audit({ type: 'person.created', actor: 'system', person: person.id, detail: { username } }, trx);
    return person;
  });
}

export function findPersonByUsername(ctx: ServerContext, username: string): Promise<Person | undefined> {
  return ctx.store.db.selectFrom('people').selectAll().where('username', '=', normalizeUsername(username)).executeTakeFirst();
}

export function findPersonById(ctx: ServerContext, id: string): Promise<Person | undefined> {
  return ctx.store.db.selectFrom('people').selectAll().where('id', '=', id).executeTakeFirst();
}

export type PasswordCheck = { readonly ok: true; readonly person: Person } | { readonly ok: false };

/**
 * Checks a username and password. Does the same scrypt work whether or not the username exists (an unknown
 * name is checked against a dummy hash), so timing does not reveal which accounts exist. A hash with older
 * parameters is upgraded on success.
 */
export async function verifyPassword(ctx: ServerContext, username: string, password: string): Promise<PasswordCheck> {
  const person = isValidUsername(normalizeUsername(username)) ? await findPersonByUsername(ctx, username) : undefined;
  const ok = await verifyPasswordHash(password, person?.password_hash ?? DUMMY_PASSWORD_HASH);
  if (!ok || person === undefined) return { ok: false };
  if (needsRehash(person.password_hash)) {
    const password_hash = await hashPassword(password);
    await ctx.store.transaction(async (trx) => {
      await trx.updateTable('people').set({ password_hash }).where('id', '=', person.id).execute();
      await ctx.store.audit({ type: 'person.password_rehashed', actor: person.id, person: person.id }, trx);
    });
    return { ok: true, person: { ...person, password_hash } };
  }
  return { ok: true, person };
}

/** Changes a person's password (the admin and CLI reset path). */
export async function setPassword(ctx: ServerContext, personId: string, password: string): Promise<void> {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new AAuthError('invalid_request', { detail: `password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters` });
  }
  const password_hash = await hashPassword(password);
  await ctx.store.transaction(async (trx) => {
    await trx.updateTable('people').set({ password_hash }).where('id', '=', personId).execute();
    await trx.deleteFrom('web_sessions').where('person_id', '=', personId).execute();
    await ctx.store.audit({ type: 'person.password_changed', actor: 'system', person: personId }, trx);
  });
}
