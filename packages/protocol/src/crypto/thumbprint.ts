/**
 * JWK Thumbprint (RFC 7638) over WebCrypto SHA-256: the required members only, in lexicographic
 * order, JSON without whitespace (RFC 7638 §3.2, §3.3).
 */
import { AAuthError } from '../errors.js';
import { b64urlEncode, utf8 } from '../base64url.js';
import { asBufferSource } from './algorithms.js';

/** Required members per key type, already in lexicographic order (RFC 7638 §3.2; RFC 8037 §2 for OKP). */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

/** Anything JWK-shaped; only `kty` and the required members of that type are read. */
export interface ThumbprintInput {
  readonly kty: string;
  readonly [member: string]: unknown;
}

/**
 * The RFC 7638 §3 thumbprint input: `{"crv":..,"kty":..,"x":..}` etc. Also a canonical identity of the key
 * material (useful as a cache key). Throws `invalid_key` for an unknown `kty` or a missing member.
 */
export function thumbprintInput(jwk: ThumbprintInput): string {
  const kty: unknown = (jwk as { kty?: unknown }).kty;
  const members = typeof kty === 'string' && Object.hasOwn(REQUIRED, kty) ? REQUIRED[kty] : undefined;
  if (members === undefined) throw new AAuthError('invalid_key', { detail: 'thumbprint: unsupported kty' });
  let out = '{';
  for (let i = 0; i < members.length; i++) {
    const name = members[i]!;
    const value: unknown = jwk[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new AAuthError('invalid_key', { detail: `thumbprint: missing member ${name}` });
    }
    out += `${i === 0 ? '' : ','}${JSON.stringify(name)}:${JSON.stringify(value)}`;
  }
  return `${out}}`;
}

/** RFC 7638 JWK thumbprint with SHA-256, base64url without padding. */
export async function jwkThumbprint(jwk: ThumbprintInput): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', asBufferSource(utf8(thumbprintInput(jwk))));
  return b64urlEncode(new Uint8Array(digest));
}

/** The `urn:jkt:sha-256:<thumbprint>` form (SK-08 §jkt-jwt scheme). */
export async function jktUrn(jwk: ThumbprintInput): Promise<string> {
  return `urn:jkt:sha-256:${await jwkThumbprint(jwk)}`;
}
