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

/** The newest key of a role whose `active_from` has passed (compiled once: see store/prepared.ts; every token signs). */
const selectActiveKey = prepared(2, (db, role: KeyRole, now: number) =>
  db.selectFrom('signing_keys').selectAll().where('role', '=', role).where('active_from', '<=', now).orderBy('active_from', 'desc').orderBy('created_at', 'desc').limit(1),
);

export class ServerKeys {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #signers = new Map<string, Promise<Signer>>();
  readonly #createSigner: (jwk: PrivateJwk) => Promise<Signer>;

  /** `signerFactory`: how private keys become signers (the core's WebCrypto one by default; `createNodeSigner` in Node). */
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
  }

  /**
   * The signer to use now: the newest key whose `active_from` has passed. Inside a transaction pass it as
   * `executor`: on SQLite the transaction holds the only connection, so a read outside it would wait forever.
   * Imported signers are cached by kid, so each key is imported once.
   */
  async signer(role: KeyRole, executor: Executor = this.#store.db): Promise<Signer> {
    const now = Math.floor(this.#now());
    const row = (await selectActiveKey(executor, role, now))[0];
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
    return this.#store.transaction(async (trx) => {
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
