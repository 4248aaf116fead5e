/**
 * Person, auth and session tokens, kept per resource (and scope) until they expire. Single-flight: concurrent
 * requests that need the same token wait for one exchange instead of each asking the Person Server.
 *
 * Tokens obtained under a mission live in the mission's scope (`cache.scoped(tokenKey.mission(s256))`): a view on the
 * same entries whose keys are prefixed with the mission, so a mission's person, auth and session tokens are never
 * presented outside it, nor tokens without a mission inside it (AAuth -11 §Mission: `mission_s256` flows from the
 * person token into the resource and auth tokens).
 */

export interface CachedToken {
  readonly token: string;
  /** Expiry, epoch seconds; `undefined` = no known expiry (session tokens). */
  readonly exp: number | undefined;
}

export interface TokenCacheOptions {
  /** Clock, epoch seconds. */
  readonly now: () => number;
  /** A token is treated as expired this many seconds before its `exp` (clock skew, request latency). Default 30. */
  readonly leeway?: number;
  /** Bound on entries; the oldest are dropped first. Default 1000. */
  readonly maxEntries?: number;
}

/** Cache keys: one token kind, one resource (its identifier), and for auth tokens the scope. */
export const tokenKey = {
  person: (resource: string, missionS256?: string): string => `person\n${resource}\n${missionS256 ?? ''}`,
  auth: (resource: string, scope: string): string => `auth\n${resource}\n${normalizeScope(scope)}`,
  session: (resource: string): string => `session\n${resource}`,
  /** The scope of the tokens obtained under the mission `s256` (see {@link TokenCache.scoped}). */
  mission: (s256: string): string => `mission\n${s256}`,
  /** The scope of the tokens obtained for a call chain, per upstream token `(ps, jti)` (agent `onBehalfOf`). */
  upstream: (ps: string, jti: string): string => `upstream\n${ps}\n${jti}`,
} as const;

/** Scopes as a set: sorted, deduplicated, single spaces. */
export function normalizeScope(scope: string | undefined): string {
  return [...new Set((scope ?? '').split(' ').filter((s) => s.length > 0))].sort().join(' ');
}

/** The entries a cache and its scoped views share. */
interface Entries {
  readonly tokens: Map<string, CachedToken>;
  readonly inflight: Map<string, Promise<CachedToken>>;
}

export class TokenCache {
  readonly #now: () => number;
  readonly #leeway: number;
  readonly #max: number;
  #entries: Entries = { tokens: new Map(), inflight: new Map() };
  /** Prepended to every key: `''` for the cache itself, `{scope}\n` for a view from {@link scoped}. */
  #prefix = '';
  /** How many exchanges ran (fetchers called) through this cache or view; for diagnostics and tests. */
  exchanges = 0;

  constructor(options: TokenCacheOptions) {
    this.#now = options.now;
    this.#leeway = options.leeway ?? 30;
    this.#max = options.maxEntries ?? 1000;
  }

  /**
   * A view on the same entries (and the same bound) whose keys all live under `scope`, e.g.
   * `tokenKey.mission(s256)`. `clear` and `snapshot` of the view cover its scope only; the snapshot of the cache
   * itself includes every scope under its full keys, so restoring it with `set` puts each token back in its scope.
   */
  scoped(scope: string): TokenCache {
    const view = new TokenCache({ now: this.#now, leeway: this.#leeway, maxEntries: this.#max });
    view.#entries = this.#entries;
    view.#prefix = `${this.#prefix}${scope}\n`;
    return view;
  }

  /** The live token under `key`, or `undefined` (an expired entry is dropped). */
  get(key: string): CachedToken | undefined {
    const full = this.#prefix + key;
    const entry = this.#entries.tokens.get(full);
    if (entry === undefined) return undefined;
    if (entry.exp !== undefined && entry.exp - this.#leeway <= this.#now()) {
      this.#entries.tokens.delete(full);
      return undefined;
    }
    return entry;
  }

  set(key: string, entry: CachedToken): void {
    const tokens = this.#entries.tokens;
    tokens.delete(this.#prefix + key);
    tokens.set(this.#prefix + key, entry);
    while (tokens.size > this.#max) {
      const oldest = tokens.keys().next().value;
      if (oldest === undefined) break;
      tokens.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.tokens.delete(this.#prefix + key);
  }

  /** Drops `key` only when it still holds `token` (so a stale failure never evicts a fresher token). */
  invalidate(key: string, token: string): void {
    if (this.#entries.tokens.get(this.#prefix + key)?.token === token) this.#entries.tokens.delete(this.#prefix + key);
  }

  /** Drops every entry of this cache (with all its scopes), or of this view's scope. */
  clear(): void {
    if (this.#prefix === '') {
      this.#entries.tokens.clear();
      return;
    }
    for (const key of [...this.#entries.tokens.keys()]) if (key.startsWith(this.#prefix)) this.#entries.tokens.delete(key);
  }

  /** The live entries (for persisting them between runs, as `tessera fetch` does); restore them with `set`. */
  snapshot(): [key: string, entry: CachedToken][] {
    return [...this.#entries.tokens.keys()].flatMap((full) => {
      if (!full.startsWith(this.#prefix)) return [];
      const key = full.slice(this.#prefix.length);
      const entry = this.get(key);
      return entry === undefined ? [] : [[key, entry] as [string, CachedToken]];
    });
  }

  /**
   * The live token under `key`, or the result of `fetcher`, which runs at most once at a time per key: callers that
   * arrive while it runs share its promise (and its failure). The result is cached unless it has already expired.
   */
  async getOrFetch(key: string, fetcher: () => Promise<CachedToken>): Promise<CachedToken> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const full = this.#prefix + key;
    const running = this.#entries.inflight.get(full);
    if (running !== undefined) return running;
    const promise = (async () => {
      this.exchanges++;
      const entry = await fetcher();
      this.set(key, entry);
      return entry;
    })();
    this.#entries.inflight.set(full, promise);
    try {
      return await promise;
    } finally {
      this.#entries.inflight.delete(full);
    }
  }
}
