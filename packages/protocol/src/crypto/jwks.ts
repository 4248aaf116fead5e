/**
 * The JWK Set (RFC 7517 §5) a server publishes at its `jwks_uri`. Selecting a key from a fetched set is
 * `selectJwk` in `jwk.ts`, next to the policy it applies.
 */
import { AAuthError } from '../errors.js';
import { validatePublicJwk } from './jwk.js';
import type { PublicJwk } from './types.js';

/** A JWK Set as published: every key AAuth selects carries `kid` and `alg`. */
export interface JwkSet {
  readonly keys: readonly PublicJwk[];
}

/**
 * Builds the JWK Set a server publishes. Every key must pass the policy (public, `alg` present —
 * AAuth §JWKS Discovery: every published key MUST carry a fully specified `alg`) and carry a unique `kid`.
 */
export function jwksDocument(keys: readonly unknown[]): JwkSet {
  const seen = new Set<string>();
  const out: PublicJwk[] = [];
  for (const key of keys) {
    const jwk = validatePublicJwk(key);
    if (jwk.kid === undefined) throw new AAuthError('invalid_key', { detail: 'a published key needs a kid' });
    if (seen.has(jwk.kid)) throw new AAuthError('invalid_key', { detail: `duplicate kid ${jwk.kid}` });
    seen.add(jwk.kid);
    out.push(jwk);
  }
  return { keys: out };
}
