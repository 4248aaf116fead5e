/**
 * A bounded in-memory token-bucket rate limiter, keyed by client address and route group. Over the limit a
 * request gets `429` + `Retry-After` + problem `{error:"slow_down"}` (AAuth -11 §Polling Error Codes: `slow_down`
 * is 429; an agent adds 5 s to its interval after a 429). One process's view only: instances behind a load
 * balancer each limit on their own (a Redis-backed limiter is the scale-out form).
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { AAuthError, toErrorResponse } from '@tessera/protocol';
import type { Context, MiddlewareHandler } from 'hono';

export interface RateLimiterOptions {
  /** Requests a key may make at once (bucket size). */
  readonly burst: number;
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Keys tracked at once; the least recently used is forgotten first (so memory stays bounded). */
  readonly maxKeys?: number;
  /** Clock in epoch seconds (fractions allowed). */
  readonly now: () => number;
}

export type RateDecision = { readonly ok: true; readonly remaining: number } | { readonly ok: false; /** Whole seconds until the request would pass. */ readonly retryAfter: number };

export interface RateLimiter {
  /** Takes `cost` tokens from `key`'s bucket, or says how long to wait. */
  take(key: string, cost?: number): RateDecision;
  /** Keys tracked now. */
  readonly size: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export const DEFAULT_MAX_KEYS = 50_000;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { burst, perSecond, now } = options;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  if (!(burst >= 1) || !(perSecond > 0) || !(maxKeys >= 1)) throw new RangeError('rate limiter: burst >= 1, perSecond > 0 and maxKeys >= 1 are required');
  // Insertion order is recency order: a used key is re-inserted at the end.
  const buckets = new Map<string, Bucket>();

  return {
    take(key, cost = 1) {
      const t = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = { tokens: burst, updated: t };
      } else {
        buckets.delete(key);
        bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, t - bucket.updated) * perSecond);
        bucket.updated = t;
      }
      buckets.set(key, bucket);
      while (buckets.size > maxKeys) {
        const oldest = buckets.keys().next();
        if (oldest.done === true) break;
        buckets.delete(oldest.value);
      }
      if (bucket.tokens >= cost) {
        bucket.tokens -= cost;
        return { ok: true, remaining: Math.floor(bucket.tokens) };
      }
      return { ok: false, retryAfter: Math.max(1, Math.ceil((cost - bucket.tokens) / perSecond)) };
    },
    get size() {
      return buckets.size;
    },
  };
}

/**
 * The client's address: the socket's remote address, or — behind a trusted reverse proxy — the last
 * `X-Forwarded-For` entry (the one our proxy appended; earlier entries are the client's to forge).
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for');
    const last = forwarded?.split(',').pop()?.trim();
    if (last !== undefined && last.length > 0 && last.length <= 64) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (e.g. `app.request` in tests).
    return 'unknown';
  }
}

export interface RateLimitOptions {
  /** The route group, part of the key: each group has its own bucket per client (a function: chosen per request). */
  readonly group: string | ((c: Context) => string);
  readonly trustProxy?: boolean;
  /** Overrides how a client is identified (default: its address). */
  readonly clientKey?: (c: Context) => string;
}

/** The 429 answer: problem `{error:"slow_down"}` with `Retry-After`. */
export function slowDownResponse(retryAfter: number): Response {
  const { status, headers, body } = toErrorResponse(new AAuthError('slow_down', { detail: 'too many requests; retry later' }));
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'retry-after': String(retryAfter), 'cache-control': 'no-store' } });
}

/** Hono middleware applying `limiter` per client and route group. */
export function rateLimit(limiter: RateLimiter, options: RateLimitOptions): MiddlewareHandler {
  const keyOf = options.clientKey ?? ((c: Context) => clientAddress(c, options.trustProxy === true));
  const groupOf = typeof options.group === 'string' ? ((group: string) => () => group)(options.group) : options.group;
  return async (c, next) => {
    const decision = limiter.take(`${groupOf(c)}|${keyOf(c)}`);
    if (!decision.ok) return slowDownResponse(decision.retryAfter);
    await next();
    return undefined;
  };
}
