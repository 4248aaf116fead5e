/**
 * What every part of a running server shares: configuration, the store, the clock, keys, the key resolver for
 * other parties' tokens, the deferred-request service and the logger. Built once by `createServer`; passed to
 * each app factory (no module-level state).
 */
import type { KeyResolver, VerifiedTokenCache, VerifyKeyCache } from '@tessera/protocol';
import type { Logger } from 'pino';
import type { ServerKeys } from './keys/server-keys.js';
import type { Store } from './store/store.js';

export interface ServerIdentity {
  /** The server identifier (`https://host`, or `http://localhost:PORT` in development). */
  readonly issuer: string;
  /** Display name shown to people and in metadata. */
  readonly name: string;
  readonly logoUri?: string;
  readonly description?: string;
}

export interface ServerContext {
  readonly mode: 'development' | 'production';
  readonly ps: ServerIdentity;
  readonly ap: ServerIdentity;
  readonly store: Store;
  readonly keys: ServerKeys;
  /** Epoch seconds. */
  readonly now: () => number;
  /** Resolves other issuers' keys (agent providers, resources) through the egress guard. */
  readonly resolveKey: KeyResolver;
  /** Imported request-signing keys (`cnf.jwk`). */
  readonly keyCache: VerifyKeyCache;
  /**
   * Verified tokens carried in Signature-Key (an agent presents the same agent token for its whole lifetime), kept
   * until their `exp`. Only the token's own verification is cached: the request signature is checked every time,
   * and revocation is a store check the endpoints make on every request.
   */
  readonly tokenCache?: VerifiedTokenCache;
  readonly log: Logger;
  /** Development: loopback `http` identifiers and fetches are allowed. Production refuses both. */
  readonly allowLoopbackHttp: boolean;
}
