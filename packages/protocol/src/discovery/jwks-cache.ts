/**
 * JWKS cache (AAuth -11 §JWKS Discovery and Caching; HTTP Signature Keys -08 §Caching and Performance;
 * checklist §8.15):
 *
 * - JWKS responses MUST be cached; entries are dropped after at most 24 hours.
 * - An unknown `kid` triggers a refetch; a same-`kid` verification failure (`refresh: true`) refetches once.
 * - A given JWKS is fetched at most once per minute (`minRefreshIntervalSeconds`); a throttled miss is
 *   `unknown_key`.
 * - The cache is bounded (`maxEntries`); concurrent misses share one in-flight fetch; imported keys are kept
 *   with the entry so each key is imported once.
 * - Key selection is by `kid` only and never fails because of another entry in the set.
 */
import { AAuthError, isAAuthError } from '../errors.js';
import { selectJwk } from '../crypto/jwk.js';
import type { PublicJwk, VerifyKey } from '../crypto/types.js';
import { importVerifyKey } from '../crypto/verify-key.js';
import type { KeyImporter } from '../crypto/types.js';
import type { FetchLike } from '../egress/guarded-fetch.js';
import { readBodyCapped } from '../egress/guarded-fetch.js';
import { parseJsonBody } from './metadata-client.js';

export interface JwksCacheOptions {
  /** Expected to be egress-guarded (SK-08: egress admission before fetching a `jwks_uri`). */
  readonly fetch: FetchLike;
  /** Clock in epoch seconds. */
  readonly now: () => number;
  /** Entry lifetime. Default and maximum 86400 s (24 h). */
  readonly maxAgeSeconds?: number;
  /** Minimum interval between two fetches of one JWKS. Default 60 s; values below 60 are raised to 60. */
  readonly minRefreshIntervalSeconds?: number;
  /** Bound on cached JWKS (cache entries are created by unauthenticated callers). Default 1000. */
  readonly maxEntries?: number;
  /** Largest JWKS body accepted. Default 256 KiB. */
  readonly maxBytes?: number;
  /** How keys are imported (once per key); WebCrypto's `importVerifyKey` by default, `importNodeVerifyKey` in Node. */
  readonly importKey?: KeyImporter;
}

export interface GetKeyOptions {
  /** The cached key with this `kid` failed to verify: refetch once (still subject to the rate limit). */
  readonly refresh?: boolean;
}

/** One key of a fetched set: the validated JWK's JSON and its (single) import. */
interface ImportedKey {
  readonly json: string;
  readonly key: Promise<VerifyKey>;
}

interface JwksEntry {
  /** When the current set was fetched; `undefined` while no fetch has succeeded. */
  fetchedAt: number | undefined;
  /** The parsed JWKS (`{keys: [...]}`), entries unvalidated. */
  jwks: unknown;
  /** Time of the last fetch attempt, successful or not (rate limit). */
  lastAttempt: number;
  inflight: Promise<void> | undefined;
  keys: Map<string, ImportedKey>;
  /** Imports of the previous set, reused when a refetched key is unchanged. */
  previous: Map<string, ImportedKey>;
}

const DAY = 86400;

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new AAuthError('invalid_argument', { detail: `${name} must be a positive integer` });
  return value;
}

function unknownKey(detail: string): AAuthError {
  return new AAuthError('unknown_key', { detail });
}

export class JwksCache {
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #maxAge: number;
  readonly #minRefresh: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, JwksEntry>();
  readonly #import: KeyImporter;

  constructor(options: JwksCacheOptions) {
    this.#fetch = options.fetch;
    this.#import = options.importKey ?? importVerifyKey;
    this.#now = options.now;
    // AAuth -11: "Cached JWKS entries SHOULD be discarded after a maximum of 24 hours regardless of cache headers."
    this.#maxAge = Math.min(positiveInteger(options.maxAgeSeconds, DAY, 'maxAgeSeconds'), DAY);
    // AAuth -11 / SK-08: MUST NOT fetch a given issuer's JWKS more frequently than once per minute.
    this.#minRefresh = Math.max(positiveInteger(options.minRefreshIntervalSeconds, 60, 'minRefreshIntervalSeconds'), 60);
    this.#maxEntries = positiveInteger(options.maxEntries, 1000, 'maxEntries');
    this.#maxBytes = positiveInteger(options.maxBytes, 256 * 1024, 'maxBytes');
  }

  /** Number of JWKS held (including ones whose fetch failed, kept for the rate limit). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The verification key `kid` of the JWKS at `jwksUri`. Errors (all `AAuthError`):
   * `unknown_key` (no such `kid`, also when a refetch is throttled), `invalid_key` (the JWKS cannot be fetched
   * or parsed, or the selected key fails the key policy; fetch problems keep their `fetch_failed` /
   * `egress_denied` error as `cause`), `unsupported_algorithm` (the selected key's type or `alg`).
   */
  getKey(jwksUri: string, kid: string, options: GetKeyOptions = {}): Promise<VerifyKey> {
    if (typeof jwksUri !== 'string' || typeof kid !== 'string' || kid.length === 0) {
      return Promise.reject(new AAuthError('invalid_key', { detail: 'jwks_uri and kid are required' }));
    }
    const now = this.#now();
    let entry = this.#entries.get(jwksUri);
    if (entry !== undefined && entry.fetchedAt !== undefined && now - entry.fetchedAt >= this.#maxAge) {
      // Stale: the keys go; the rate-limit record stays.
      entry.fetchedAt = undefined;
      entry.jwks = undefined;
      entry.previous = entry.keys;
      entry.keys = new Map();
    }
    if (entry !== undefined && entry.fetchedAt !== undefined && options.refresh !== true) {
      const hit = entry.keys.get(kid);
      if (hit !== undefined) return hit.key;
      const selected = this.#select(entry, kid);
      if (selected.found) return selected.key;
    }
    if (entry === undefined) {
      entry = { fetchedAt: undefined, jwks: undefined, lastAttempt: -Infinity, inflight: undefined, keys: new Map(), previous: new Map() };
      this.#insert(jwksUri, entry);
    }
    return this.#refetchAndSelect(jwksUri, entry, kid);
  }

  async #refetchAndSelect(jwksUri: string, entry: JwksEntry, kid: string): Promise<VerifyKey> {
    let throttled = false;
    if (entry.inflight !== undefined) {
      await entry.inflight;
    } else if (this.#now() - entry.lastAttempt >= this.#minRefresh) {
      entry.inflight = this.#load(jwksUri, entry).finally(() => {
        entry.inflight = undefined;
      });
      await entry.inflight;
    } else {
      throttled = true;
    }
    if (entry.fetchedAt === undefined) {
      // No usable set: report the last fetch failure, or the throttle.
      throw isAAuthError(entry.jwks) ? entry.jwks : unknownKey('JWKS refetch throttled (at most one fetch per minute)');
    }
    const selected = this.#select(entry, kid);
    if (selected.found) return selected.key;
    throw selected.error ?? unknownKey(throttled ? 'no key with that kid (refetch throttled: at most one fetch per minute)' : 'no key with that kid');
  }

  /** Fetches the set; on failure the previous set (if still fresh) stays in use. Never rejects. */
  async #load(jwksUri: string, entry: JwksEntry): Promise<void> {
    entry.lastAttempt = this.#now();
    let jwks: unknown;
    try {
      jwks = await this.#fetchJwks(jwksUri);
    } catch (error) {
      if (entry.fetchedAt === undefined) {
        // Nothing cached: remember why, so the waiting callers report it.
        entry.jwks = error;
      }
      return;
    }
    entry.previous = entry.keys.size > 0 ? entry.keys : entry.previous;
    entry.keys = new Map();
    entry.jwks = jwks;
    entry.fetchedAt = this.#now();
  }

  async #fetchJwks(jwksUri: string): Promise<unknown> {
    let response: Response;
    try {
      response = await this.#fetch(jwksUri, { method: 'GET', headers: { accept: 'application/jwk-set+json, application/json' } });
    } catch (error) {
      throw new AAuthError('invalid_key', { detail: 'JWKS could not be fetched', cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new AAuthError('invalid_key', {
        detail: `JWKS fetch returned status ${response.status}`,
        cause: new AAuthError('fetch_failed', { detail: `status ${response.status}` }),
      });
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBodyCapped(response, this.#maxBytes);
    } catch (error) {
      throw new AAuthError('invalid_key', { detail: 'JWKS could not be read', cause: error });
    }
    const jwks = parseJsonBody(bytes, 'invalid_key');
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      throw new AAuthError('invalid_key', { detail: 'JWKS has no keys array' });
    }
    return jwks;
  }

  /** Selects and imports `kid` from the entry's set (import once; unchanged keys reuse the previous import). */
  #select(entry: JwksEntry, kid: string): { found: true; key: Promise<VerifyKey> } | { found: false; error: AAuthError | undefined } {
    const cached = entry.keys.get(kid);
    if (cached !== undefined) return { found: true, key: cached.key };
    if (entry.fetchedAt === undefined) {
      const error = entry.jwks;
      return { found: false, error: isAAuthError(error) ? error : undefined };
    }
    let jwk: PublicJwk;
    try {
      jwk = selectJwk(entry.jwks, kid);
    } catch (error) {
      if (isAAuthError(error, 'unknown_key')) return { found: false, error: undefined };
      return { found: false, error: isAAuthError(error) ? error : new AAuthError('invalid_key', { cause: error }) };
    }
    const json = JSON.stringify(jwk);
    const previous = entry.previous.get(kid);
    const key = previous !== undefined && previous.json === json ? previous.key : this.#import(jwk);
    key.catch(() => undefined);
    entry.keys.set(kid, { json, key });
    return { found: true, key };
  }

  #insert(jwksUri: string, entry: JwksEntry): void {
    this.#entries.set(jwksUri, entry);
    if (this.#entries.size <= this.#maxEntries) return;
    const now = this.#now();
    // Expired first (and idle: nothing in flight, rate-limit window over), then oldest.
    for (const [uri, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) return;
      const stale = e.fetchedAt === undefined || now - e.fetchedAt >= this.#maxAge;
      if (e !== entry && e.inflight === undefined && stale && now - e.lastAttempt >= this.#minRefresh) this.#entries.delete(uri);
    }
    for (const uri of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) return;
      if (this.#entries.get(uri) !== entry) this.#entries.delete(uri);
    }
  }
}
