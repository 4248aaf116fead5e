/**
 * `/.well-known/aauth-resource.json` (AAuth -11 §Resource Metadata) and the JWKS of the resource's signer
 * (the key resource tokens are verified with: `{iss}/.well-known/aauth-resource.json` → `jwks_uri` → `kid`).
 */
import { AAuthError, jwksDocument, type AccessMode, type JwkSet, type ResourceMetadata, type Signer } from '@tessera/protocol';

export const RESOURCE_METADATA_PATH = '/.well-known/aauth-resource.json';
export const DEFAULT_JWKS_PATH = '/.well-known/jwks.json';

export interface ResourceMetadataOptions {
  readonly issuer: string;
  /** Absolute, or a path under the issuer. Default `/.well-known/jwks.json` when the resource has a signer. */
  readonly jwksUri?: string;
  readonly accessMode?: AccessMode;
  /** Absolute, or a path under the issuer. */
  readonly authorizationEndpoint?: string;
  readonly loginEndpoint?: string;
  readonly revocationEndpoint?: string;
  readonly scopeDescriptions?: Readonly<Record<string, string>>;
  readonly signatureWindow?: number;
  readonly additionalComponents?: readonly string[];
  readonly acceptSignatureAlgs?: readonly string[];
  readonly name?: string;
  readonly description?: string;
  readonly logoUri?: string;
  readonly documentationUri?: string;
  readonly tosUri?: string;
  readonly policyUri?: string;
  /** Whether the resource has keys to publish (a signer); without one `jwks_uri` is left out. */
  readonly hasKeys?: boolean;
}

/** An absolute URL for `value` (absolute, or a path resolved against the issuer). */
export function resolveUrl(issuer: string, value: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value;
  if (!value.startsWith('/')) throw new AAuthError('invalid_argument', { detail: `${value} must be absolute or start with /` });
  return issuer.replace(/\/+$/, '') + value;
}

/** Builds the resource metadata document; absent options are left out. */
export function resourceMetadata(options: ResourceMetadataOptions): ResourceMetadata {
  const { issuer } = options;
  const doc: Record<string, unknown> = { issuer };
  const hasKeys = options.hasKeys ?? options.jwksUri !== undefined;
  if (hasKeys) doc['jwks_uri'] = resolveUrl(issuer, options.jwksUri ?? DEFAULT_JWKS_PATH);
  const put = (name: string, value: unknown): void => {
    if (value !== undefined) doc[name] = value;
  };
  put('name', options.name);
  put('description', options.description);
  put('logo_uri', options.logoUri);
  put('documentation_uri', options.documentationUri);
  put('tos_uri', options.tosUri);
  put('policy_uri', options.policyUri);
  put('access_mode', options.accessMode);
  put('authorization_endpoint', options.authorizationEndpoint === undefined ? undefined : resolveUrl(issuer, options.authorizationEndpoint));
  put('login_endpoint', options.loginEndpoint === undefined ? undefined : resolveUrl(issuer, options.loginEndpoint));
  put('revocation_endpoint', options.revocationEndpoint === undefined ? undefined : resolveUrl(issuer, options.revocationEndpoint));
  put('scope_descriptions', options.scopeDescriptions === undefined ? undefined : { ...options.scopeDescriptions });
  put('signature_window', options.signatureWindow);
  put('additional_signature_components', options.additionalComponents === undefined || options.additionalComponents.length === 0 ? undefined : [...options.additionalComponents]);
  put('accept_signature_algs', options.acceptSignatureAlgs === undefined ? undefined : [...options.acceptSignatureAlgs]);
  return doc as unknown as ResourceMetadata;
}

const PUBLIC_CACHE = 'public, max-age=300';

export function metadataResponse(metadata: ResourceMetadata): Response {
  return new Response(JSON.stringify(metadata), { status: 200, headers: { 'content-type': 'application/json', 'cache-control': PUBLIC_CACHE } });
}

/** The JWK Set of the resource's signer(s): public keys only, each with `kid` and `alg`. */
export function resourceJwks(signers: readonly Signer[]): JwkSet {
  return jwksDocument(signers.map((s) => s.publicJwk));
}

export function jwksResponse(jwks: JwkSet): Response {
  return new Response(JSON.stringify(jwks), { status: 200, headers: { 'content-type': 'application/jwk-set+json', 'cache-control': PUBLIC_CACHE } });
}
