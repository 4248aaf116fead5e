/**
 * Access Server metadata, `/.well-known/aauth-access.json` (AAuth -11 §Access Server Metadata).
 */
import type { CommonMetadata, MetadataOptions } from './common.js';
import { compact, openMetadata } from './common.js';

export interface AccessMetadata extends CommonMetadata {
  readonly jwks_uri: string;
  /** REQUIRED: where Person Servers send token requests. */
  readonly auth_token_endpoint: string;
  readonly revocation_endpoint?: string;
}

/** Validates an `aauth-access.json` document. Throws `issuer_missing`, `issuer_mismatch` or `invalid_metadata`. */
export function parseAccessMetadata(json: unknown, options: MetadataOptions): AccessMetadata {
  const { issuer, reader } = openMetadata(json, options);
  return compact<AccessMetadata>({
    ...reader.common(issuer, true),
    auth_token_endpoint: reader.endpoint('auth_token_endpoint', true),
    revocation_endpoint: reader.endpoint('revocation_endpoint'),
  });
}
