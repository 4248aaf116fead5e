/**
 * A bounded cache of verified tokens, so a token presented on many requests is verified (and its `cnf.jwk`
 * imported) once. It caches token verification only: the request signature must still be verified on every
 * request with the cached `cnfKey` (AAuth §Verification step 7), which this class has no way to skip.
 */
import { AAuthError } from '../errors.js';
import type { TokenTyp } from './claims.js';
import { audienceIncludes } from './claims.js';
import type { Audience } from './claims.js';
import type { VerifiedToken, VerifyTokenOptions } from './verify-token.js';
import { verifyToken } from './verify-token.js';

export interface VerifiedTokenCacheOptions {
  /** Clock, epoch seconds: an entry is dropped once `exp` ≤ `now()`. */
  readonly now: () => number;
  /** Upper bound on entries; least recently used are evicted. Default 10 000. */
  readonly maxEntries?: number;
}

interface Entry {
  /** The whole token: a hit needs the presented token to be exactly this one. */
  readonly jwt: string;
  readonly result: VerifiedToken;
  readonly exp: number;
  /** When it was inserted or last moved to the back (a count of those events). */
  tick: number;
}

/**
 * The map key of a token: its signature, the JWS's last segment. Each request brings the token as a new string,
 * which a map keyed by the whole token (hundreds of characters) must hash and then compare in full; the signature is
 * a few dozen characters, and a hit still requires the whole token to be the one cached. Two tokens with one
 * signature are one token, or one is a forgery: a forgery misses, fails its verification, and is never cached.
 */
function keyOf(jwt: string): string {
  return jwt.slice(jwt.lastIndexOf('.') + 1);
}

/**
 * A bounded cache keyed by the token (see `keyOf`), least recently used evicted first. A hit moves its entry to the
 * back only when the entry is in the older half (more than half the bound of insertions and moves since its own):
 * an entry in the newer half is in no danger of eviction, and leaving it in place spares the map a delete and an
 * insert on every request of a busy token. An entry lives until the token's `exp`, checked against the caller's clock
 * on every lookup. A hit re-applies the caller's `accept`, `issuer` and `audience` (cheap string checks), so a token
 * verified for one purpose is never returned for another (digest §8.22).
 */
export class VerifiedTokenCache {
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #tick = 0;

  constructor(options: VerifiedTokenCacheOptions) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new AAuthError('invalid_argument', { detail: 'maxEntries must be a positive integer' });
    if (typeof options.now !== 'function') throw new AAuthError('invalid_argument', { detail: 'now must be a clock function' });
    this.#max = max;
    this.#now = options.now;
  }

  /**
   * The cached verification of `jwt` while it is unexpired, else `undefined`. The caller MUST still check that
   * `kind` is one it accepts (and its audience) — or use `verify()`, which does.
   */
  get(jwt: string): VerifiedToken | undefined {
    const key = keyOf(jwt);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.jwt !== jwt) return undefined;
    if (entry.exp <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    if (this.#tick - entry.tick >= this.#max / 2) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      entry.tick = ++this.#tick;
    }
    return entry.result;
  }

  /** Stores a result of `verifyToken` for `jwt` (only ever a verified result). */
  set(jwt: string, result: VerifiedToken): void {
    const key = keyOf(jwt);
    this.#entries.delete(key);
    this.#entries.set(key, { jwt, result, exp: result.claims.exp, tick: ++this.#tick });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Verifies `jwt` with `verifyToken`, or returns the cached result while the token is unexpired. */
  async verify<const K extends TokenTyp>(jwt: string, options: VerifyTokenOptions<K>): Promise<VerifiedToken<K>> {
    const hit = this.#lookup(jwt, options);
    if (hit !== undefined) return hit;
    const result = await verifyToken(jwt, options);
    this.set(jwt, result);
    return result;
  }

  /** Forgets one token (e.g. on revocation). */
  delete(jwt: string): boolean {
    const key = keyOf(jwt);
    return this.#entries.get(key)?.jwt === jwt && this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  #lookup<K extends TokenTyp>(jwt: string, options: VerifyTokenOptions<K>): VerifiedToken<K> | undefined {
    const result = this.get(jwt);
    if (result === undefined) return undefined; // a miss or expired: full verification reports the error
    // Anything the caller asks beyond the cached verification is re-checked; a mismatch falls through to
    // full verification, which produces the proper error.
    if (!(options.accept as readonly string[]).includes(result.kind)) return undefined;
    if (options.issuer !== undefined && result.claims.iss !== options.issuer) return undefined;
    const aud = result.claims['aud'] as Audience | undefined;
    if (options.audience !== undefined && aud !== undefined && !audienceIncludes(aud, options.audience)) return undefined;
    return result as VerifiedToken<K>;
  }
}
