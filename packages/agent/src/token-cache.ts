/**
 * Person, auth and session tokens, kept per resource (and scope) until they expire. Single-flight: concurrent
 * requests that need the same token wait for one exchange instead of each asking the Person Server.
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
} as const;

/** Scopes as a set: sorted, deduplicated, single spaces. */
export function normalizeScope(scope: string | undefined): string {
  return [...new Set((scope ?? '').split(' ').filter((s) => s.length > 0))].sort().join(' ');
}

export class TokenCache {
  readonly #now: () => number;
  readonly #leeway: number;
  readonly #max: number;
  readonly #entries = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  /** How many exchanges ran (fetchers called); for diagnostics and tests. */
  exchanges = 0;

  constructor(options: TokenCacheOptions) {
    this.#now = options.now;
    this.#leeway = options.leeway ?? 30;
    this.#max = options.maxEntries ?? 1000;
  }

  /** The live token under `key`, or `undefined` (an expired entry is dropped). */
  get(key: string): CachedToken | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.exp !== undefined && entry.exp - this.#leeway <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, entry: CachedToken): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops `key` only when it still holds `token` (so a stale failure never evicts a fresher token). */
  invalidate(key: string, token: string): void {
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** The live entries (for persisting them between runs, as `tessera fetch` does); restore them with `set`. */
  snapshot(): [key: string, entry: CachedToken][] {
    return [...this.#entries.keys()].flatMap((key) => {
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
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const promise = (async () => {
      this.exchanges++;
      const entry = await fetcher();
      this.set(key, entry);
      return entry;
    })();
    this.#inflight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.#inflight.delete(key);
    }
  }
}
