/**
 * Optional replay detection within the signature validity window (AAuth -11 §Freshness and Replay):
 * a verifier MAY keep a short-lived cache keyed by `(signing-key thumbprint, created, @method, @authority,
 * @path)` and reject duplicate tuples. `created` is the primary defence; there is no nonce.
 *
 * `ReplayCache` is the interface (a Redis implementation lives with the servers); `MemoryReplayCache` is
 * the bounded in-process one.
 */
import { AAuthError } from './errors.js';

export interface ReplayCache {
  /**
   * Records `key` for `ttlSeconds` and returns `true` the first time it is seen within that time, `false`
   * for a replay. The TTL should span the signature window (and any skew the verifier accepts).
   */
  checkAndStore(key: string, ttlSeconds: number): Promise<boolean>;
}

/** The tuple a replay is detected on (digest §3). */
export interface ReplayTuple {
  /** RFC 7638 thumbprint of the signing key (`agent_jkt`). */
  readonly jkt: string;
  /** The `created` signature parameter. */
  readonly created: number;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
}

/** An unambiguous cache key for the tuple (JSON array: no separator can be smuggled inside a member). */
export function replayKey(tuple: ReplayTuple): string {
  return JSON.stringify([tuple.jkt, tuple.created, tuple.method, tuple.authority, tuple.path]);
}

export interface MemoryReplayCacheOptions {
  /** Bound on remembered keys. Default 100000. Size it above the requests expected within one window. */
  readonly maxEntries?: number;
  /** Clock in epoch seconds. */
  readonly now: () => number;
}

/**
 * In-memory `ReplayCache`. Bounded: when full, expired entries are swept first (at most one sweep per clock
 * second), then the oldest entries are evicted.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #max: number;
  readonly #now: () => number;
  /** key → expiry (epoch seconds); insertion order is age order. */
  readonly #entries = new Map<string, number>();
  #lastSweep = -Infinity;

  constructor(options: MemoryReplayCacheOptions) {
    const max = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) throw new AAuthError('invalid_argument', { detail: 'maxEntries must be a positive integer' });
    this.#max = max;
    this.#now = options.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
    if (typeof key !== 'string' || key.length === 0) {
      return Promise.reject(new AAuthError('invalid_argument', { detail: 'replay key must be a non-empty string' }));
    }
    if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      return Promise.reject(new AAuthError('invalid_argument', { detail: 'ttlSeconds must be a positive number' }));
    }
    const now = this.#now();
    const expiry = this.#entries.get(key);
    if (expiry !== undefined) {
      if (expiry > now) return Promise.resolve(false);
      this.#entries.delete(key);
    }
    if (this.#entries.size >= this.#max) this.#makeRoom(now);
    this.#entries.set(key, now + ttlSeconds);
    return Promise.resolve(true);
  }

  #makeRoom(now: number): void {
    if (now > this.#lastSweep) {
      this.#lastSweep = now;
      for (const [key, expiry] of this.#entries) if (expiry <= now) this.#entries.delete(key);
    }
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}
