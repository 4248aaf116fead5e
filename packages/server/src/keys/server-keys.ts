/**
 * Server signing keys (PS and AP), rotated with overlap: a new key is published in the JWKS at once but signs
 * only from `active_from` (after verifiers' caches have seen it); the old key stops signing then and stays
 * published until every token it signed has expired (AAuth §Key Rotation; architecture.md "Data and processes").
 */
import { createSigner, generateKeyPair, jwksDocument, publicJwkOf, type JwkSet, type PrivateJwk, type Signer } from '@tessera/protocol';
import type { Executor, Store } from '../store/store.js';
import { prepared } from '../store/prepared.js';

export type KeyRole = 'ps' | 'ap' | 'as';

/** How long a new key is published before it signs: verifiers refetch at most once a minute, and cache up to 24 h
 * for known kids; unknown kids trigger a refetch, so a few minutes suffice. */
export const DEFAULT_PUBLISH_AHEAD_SECONDS = 300;
/** The longest lifetime of anything a server key signs (agent tokens, 24 h). */
export const MAX_SIGNED_LIFETIME_SECONDS = 24 * 3600;

/**
 * How long a server trusts its last read of a role's keys before it reads them again. A rotation made by this
 * process is seen at once; one made by another process (`tessera keys rotate`, another instance on PostgreSQL) within
 * this time, which the default publish-ahead of 300 s exceeds, so every instance has seen the new key before it signs.
 */
export const KEY_REREAD_SECONDS = 30;

/** The newest keys of a role that sign from `until` or before, newest `active_from` first (compiled once: prepared.ts). */
const selectNewestKeys = prepared(2, (db, role: KeyRole, until: number) =>
  db
    .selectFrom('signing_keys')
    .select(['kid', 'active_from', 'retired_at', 'private_jwk'])
    .where('role', '=', role)
    .where('active_from', '<=', until)
    .orderBy('active_from', 'desc')
    .orderBy('created_at', 'desc')
    .limit(4),
);

interface KeyRow {
  readonly kid: string;
  readonly active_from: number;
  readonly retired_at: number | null;
  readonly private_jwk: string;
}

export class ServerKeys {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #signers = new Map<string, Promise<Signer>>();
  /** Each role's newest keys as last read, and when (this server's clock). */
  readonly #keys = new Map<KeyRole, { readonly readAt: number; readonly rows: readonly KeyRow[] }>();
  readonly #createSigner: (jwk: PrivateJwk) => Promise<Signer>;

  /**
   * `signerFactory`: how private keys become signers (the core's WebCrypto one by default; in the server
   * `createVerifyThreads().createSigner`, which signs Ed25519 on the worker thread).
   */
  constructor(store: Store, now: () => number, signerFactory: (jwk: PrivateJwk) => Promise<Signer> = createSigner) {
    this.#store = store;
    this.#now = now;
    this.#createSigner = signerFactory;
  }

  /** Creates the first key of `role` if there is none (active at once). */
  async ensure(role: KeyRole): Promise<void> {
    const existing = await this.#store.db.selectFrom('signing_keys').select('kid').where('role', '=', role).executeTakeFirst();
    if (existing) return;
    await this.#insert(role, Math.floor(this.#now()));
    this.#keys.delete(role);
  }

  /**
   * The signer to use now: the newest key whose `active_from` has passed. Every token a server issues signs, so the
   * role's keys are read at most once per `KEY_REREAD_SECONDS` (and at once after a rotation here), not per token.
   * Inside a transaction pass it as `executor`: a read outside it would not see the transaction's own writes (a key it
   * has just inserted), and on a `:memory:` store, whose one connection the transaction holds, would wait forever.
   * Imported signers are cached by kid, so each key is imported once.
   */
  async signer(role: KeyRole, executor: Executor = this.#store.db): Promise<Signer> {
    const now = Math.floor(this.#now());
    let cached = this.#keys.get(role);
    let row = cached !== undefined && now >= cached.readAt && now - cached.readAt < KEY_REREAD_SECONDS ? activeKey(cached.rows, now) : undefined;
    if (row === undefined) {
      // Every key that may start signing before the next read, so the cache answers right as the clock moves on.
      cached = { readAt: now, rows: await selectNewestKeys(executor, role, now + KEY_REREAD_SECONDS) };
      this.#keys.set(role, cached);
      // More than four keys due within the window (rotations seconds apart): ask for the one active now.
      row = activeKey(cached.rows, now) ?? activeKey(await selectNewestKeys(executor, role, now), now);
    }
    if (!row) throw new Error(`no active ${role} signing key; run migrations and key setup first`);
    let signer = this.#signers.get(row.kid);
    if (!signer) {
      signer = this.#createSigner(JSON.parse(row.private_jwk) as PrivateJwk);
      this.#signers.set(row.kid, signer);
    }
    return signer;
  }

  /** The published JWKS: every key not past `expires_at`, including ones not yet signing. */
  async jwks(role: KeyRole): Promise<JwkSet> {
    const now = Math.floor(this.#now());
    const rows = await this.#store.db.selectFrom('signing_keys').select(['public_jwk', 'expires_at']).where('role', '=', role).orderBy('created_at', 'asc').execute();
    return jwksDocument(rows.filter((r) => r.expires_at === null || r.expires_at > now).map((r) => JSON.parse(r.public_jwk) as unknown));
  }

  /**
   * Rotates `role`'s key: the new key is published now and signs from `now + publishAhead`; the current key
   * retires then and leaves the JWKS `MAX_SIGNED_LIFETIME_SECONDS` later. Returns the new kid.
   */
  async rotate(role: KeyRole, publishAheadSeconds = DEFAULT_PUBLISH_AHEAD_SECONDS): Promise<{ kid: string; activeFrom: number }> {
    const now = Math.floor(this.#now());
    const activeFrom = now + publishAheadSeconds;
    const rotated = await this.#store.transaction(async (trx) => {
      await trx
        .updateTable('signing_keys')
        .set({ retired_at: activeFrom, expires_at: activeFrom + MAX_SIGNED_LIFETIME_SECONDS })
        .where('role', '=', role)
        .where('retired_at', 'is', null)
        .execute();
      const kid = await this.#insert(role, activeFrom, trx);
      await this.#store.audit({ type: 'key.rotated', actor: 'admin', detail: { role, kid, active_from: activeFrom } }, trx);
      return { kid, activeFrom };
    });
    // After the commit, so no read of the old state can be cached in between.
    this.#keys.delete(role);
    return rotated;
  }

  async #insert(role: KeyRole, activeFrom: number, executor = this.#store.db): Promise<string> {
    const now = Math.floor(this.#now());
    const jwk = await generateKeyPair('Ed25519');
    const kid = `${role}-${jwk.kid!.slice(0, 16)}`;
    const priv: PrivateJwk = { ...jwk, kid };
    await executor
      .insertInto('signing_keys')
      .values({
        kid,
        role,
        alg: priv.alg,
        private_jwk: JSON.stringify(priv),
        public_jwk: JSON.stringify(publicJwkOf(priv)),
        created_at: now,
        active_from: activeFrom,
        retired_at: null,
        expires_at: null,
      })
      .execute();
    return kid;
  }
}

/**
 * The key that signs at `now` among `rows` (newest first): the newest whose `active_from` has passed and that has not
 * retired (a key rotated with no publish-ahead starts in the same second as its predecessor retires); failing that,
 * the newest whose `active_from` has passed.
 */
function activeKey(rows: readonly KeyRow[], now: number): KeyRow | undefined {
  let fallback: KeyRow | undefined;
  for (const row of rows) {
    if (row.active_from > now) continue;
    if (row.retired_at === null || row.retired_at > now) return row;
    fallback ??= row;
  }
  return fallback;
}
