/**
 * Person Server metadata, `/.well-known/aauth-person.json` (AAuth -11 §Person Server Metadata).
 * `issuer`, `jwks_uri`, `auth_token_endpoint` and `person_token_endpoint` are REQUIRED: a -10 document
 * (with `token_endpoint` and no `person_token_endpoint`) does not validate.
 */
import type { CommonMetadata, MetadataOptions } from './common.js';
import { compact, openMetadata } from './common.js';

export interface PersonMetadata extends CommonMetadata {
  readonly jwks_uri: string;
  readonly auth_token_endpoint: string;
  readonly person_token_endpoint: string;
  readonly mission_endpoint?: string;
  readonly permission_endpoint?: string;
  readonly audit_endpoint?: string;
  readonly interaction_endpoint?: string;
  readonly mission_control_endpoint?: string;
  readonly revocation_endpoint?: string;
  readonly scopes_supported?: readonly string[];
  readonly claims_supported?: readonly string[];
}

/** Validates an `aauth-person.json` document. Throws `issuer_missing`, `issuer_mismatch` or `invalid_metadata`. */
export function parsePersonMetadata(json: unknown, options: MetadataOptions): PersonMetadata {
  const { issuer, reader } = openMetadata(json, options);
  return compact<PersonMetadata>({
    ...reader.common(issuer, true),
    auth_token_endpoint: reader.endpoint('auth_token_endpoint', true),
    person_token_endpoint: reader.endpoint('person_token_endpoint', true),
    mission_endpoint: reader.endpoint('mission_endpoint'),
    permission_endpoint: reader.endpoint('permission_endpoint'),
    audit_endpoint: reader.endpoint('audit_endpoint'),
    interaction_endpoint: reader.endpoint('interaction_endpoint'),
    mission_control_endpoint: reader.endpoint('mission_control_endpoint'),
    revocation_endpoint: reader.endpoint('revocation_endpoint'),
    scopes_supported: reader.stringArray('scopes_supported'),
    claims_supported: reader.stringArray('claims_supported'),
  });
}
