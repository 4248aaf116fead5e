/**
 * Key discovery for the `jwt` and `jwks_uri` Signature-Key schemes (HTTP Signature Keys -08; AAuth -11
 * §Keying Material, §JWKS Discovery and Caching): `{iss}/.well-known/{dwk}` → issuer check → `jwks_uri` →
 * the key with `kid`.
 *
 * Every failure is an `AAuthError` carrying a Signature-Error code:
 * - `invalid_jwt`: `iss` is not a server identifier, or `dwk` is not a plain document name;
 * - `issuer_missing` / `issuer_mismatch`: the metadata issuer check (checklist §8.13);
 * - `invalid_key`: metadata or JWKS unobtainable (network, egress refusal, bad status, not JSON, no
 *   `jwks_uri`), a cross-origin `jwks_uri` the deployment did not admit, or a key failing the key policy.
 *   The underlying `fetch_failed` / `egress_denied` / `invalid_metadata` error is kept as `cause`;
 * - `unknown_key`: no key with that `kid` (also when the once-a-minute refetch floor applies, §8.15);
 * - `unsupported_algorithm`: the selected key's type or `alg`.
 */
import { AAuthError, isAAuthError } from '../errors.js';
import type { VerifyKey } from '../crypto/types.js';
import type { FetchLike } from '../egress/guarded-fetch.js';
import { isServerIdentifier } from '../identifiers.js';
import { MetadataReader } from '../metadata/common.js';
import type { KeyImporter } from '../crypto/types.js';
import type { KeyResolver } from '../tokens/verify-token.js';
import { JwksCache } from './jwks-cache.js';
import { MetadataCache, isPlainDocumentName } from './metadata-client.js';

export interface KeyResolverOptions {
  /** Egress-guarded fetch (SK-08: egress admission before fetching metadata or a `jwks_uri`). */
  readonly fetch: FetchLike;
  /** Clock in epoch seconds. */
  readonly now: () => number;
  /** How keys are imported when this resolver creates its own JWKS cache (see `JwksCache`). */
  readonly importKey?: KeyImporter;
  /** Shared JWKS cache; one is created (defaults) when absent. */
  readonly jwksCache?: JwksCache;
  /** Shared metadata cache; one is created (defaults) when absent. */
  readonly metadataCache?: MetadataCache;
  /** Development only: `http://localhost:PORT` issuers and loopback `http` URLs. Default false. */
  readonly allowLoopbackHttp?: boolean;
  /**
   * Admits a `jwks_uri` whose origin is not the issuer's (SK-08 §Scheme-Specific Risks: cross-origin
   * `jwks_uri` URLs require explicit deployment admission). Absent → refused with `invalid_key`.
   */
  readonly allowCrossOriginJwksUri?: (issuer: string, jwksUri: string) => boolean;
}

/** Maps a discovery error onto the Signature-Error vocabulary (see the module comment). */
function asSignatureError(error: unknown): AAuthError {
  if (isAAuthError(error)) {
    switch (error.code) {
      case 'issuer_missing':
      case 'issuer_mismatch':
      case 'invalid_key':
      case 'unknown_key':
      case 'invalid_jwt':
      case 'unsupported_algorithm':
        return error;
      case 'fetch_failed':
        return new AAuthError('invalid_key', { detail: `metadata could not be fetched (${error.detail ?? 'fetch_failed'})`, cause: error });
      case 'egress_denied':
        return new AAuthError('invalid_key', { detail: `metadata fetch refused by egress policy (${error.detail ?? 'egress_denied'})`, cause: error });
      default:
        return new AAuthError('invalid_key', { detail: `metadata is invalid (${error.detail ?? error.code})`, cause: error });
    }
  }
  return new AAuthError('invalid_key', { detail: 'key discovery failed', cause: error });
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/**
 * Creates the `KeyResolver` that token verification uses. Caches are bounded; fetches go through the
 * injected (egress-guarded) fetch only.
 */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
  const allowLoopbackHttp = options.allowLoopbackHttp === true;
  const loopback = allowLoopbackHttp ? { allowLoopbackHttp: true } : {};
  const metadata = options.metadataCache ?? new MetadataCache({ fetch: options.fetch, now: options.now, ...loopback });
  const jwks =
    options.jwksCache ??
    new JwksCache({ fetch: options.fetch, now: options.now, ...(options.importKey === undefined ? {} : { importKey: options.importKey }) });
  const admitCrossOrigin = options.allowCrossOriginJwksUri;
  // `jwks_uri` of each cached document, checked once (keyed by the cached object, so it goes when the document goes).
  const checked = new WeakMap<object, string>();

  const jwksUriOf = (issuer: string, document: Record<string, unknown>): string => {
    const hit = checked.get(document);
    if (hit !== undefined) return hit;
    // SK-08: the discovery document MUST contain `jwks_uri`.
    const jwksUri = new MetadataReader(document, loopback).url('jwks_uri', { required: true })!;
    if (origin(jwksUri) !== issuer && !(admitCrossOrigin?.(issuer, jwksUri) === true)) {
      throw new AAuthError('invalid_key', { detail: 'jwks_uri is on another origin than the issuer and is not admitted' });
    }
    checked.set(document, jwksUri);
    return jwksUri;
  };

  return async (request): Promise<VerifyKey> => {
    const { iss, dwk, kid } = request;
    // AAuth -11 §Common JWT Verification step 4: `iss` is a valid server identifier.
    if (!isServerIdentifier(iss, loopback)) throw new AAuthError('invalid_jwt', { detail: 'iss is not a server identifier' });
    if (!isPlainDocumentName(dwk)) throw new AAuthError('invalid_jwt', { detail: 'dwk is not a plain document name' });
    if (typeof kid !== 'string' || kid.length === 0) throw new AAuthError('invalid_jwt', { detail: 'kid is missing' });
    let jwksUri: string;
    try {
      jwksUri = jwksUriOf(iss, await metadata.getDocument(iss, dwk));
    } catch (error) {
      throw asSignatureError(error);
    }
    try {
      return await jwks.getKey(jwksUri, kid, request.refresh === true ? { refresh: true } : {});
    } catch (error) {
      throw asSignatureError(error);
    }
  };
}
