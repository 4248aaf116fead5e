/**
 * JWK policy: which public keys AAuth accepts (HTTP Signature Keys -08 §Algorithm Determination;
 * AAuth digest §3 "Algorithms").
 *
 * - `alg` is REQUIRED and fully specified; it determines the verification algorithm and must agree with
 *   `kty`/`crv` (Ed25519 ⇔ OKP/Ed25519, ES256 ⇔ EC/P-256, PS256 ⇔ RSA ≥ 2048 bits).
 * - Missing `alg`, `EdDSA`, `none`, `HS*`, symmetric `oct` keys, private members in a public key,
 *   kty/crv inconsistent with `alg`, or structurally incomplete keys → `invalid_key`.
 * - Ed25519 keys of small order (a forged signature verifies under them: ed25519-small-order.ts) → `invalid_key`.
 * - Unknown `kty` or an algorithm this implementation cannot do → `unsupported_algorithm` with `acceptAlgorithms`.
 */
import { isSmallOrderEd25519 } from './ed25519-small-order.js';
import { AAuthError } from '../errors.js';
import { b64urlDecode } from '../base64url.js';
import { isForbiddenAlgorithm, isSupportedAlgorithm } from './algorithms.js';
import type { JwsAlgorithm, PublicJwk } from './types.js';
import { SUPPORTED_ALGORITHMS } from './types.js';

/** Members that only a private (or symmetric) key carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const MIN_RSA_BITS = 2048;
/** Far above any real key; bounds the work a hostile `n` can cause. */
const MAX_RSA_BITS = 16384;

function invalidKey(detail: string): AAuthError {
  return new AAuthError('invalid_key', { detail });
}

function unsupported(detail: string): AAuthError {
  return new AAuthError('unsupported_algorithm', { detail, acceptAlgorithms: SUPPORTED_ALGORITHMS });
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes a required base64url member; `invalid_key` when absent or malformed. */
function member(jwk: Record<string, unknown>, name: string): Uint8Array {
  const value = jwk[name];
  if (typeof value !== 'string' || value.length === 0) throw invalidKey(`missing ${name}`);
  try {
    return b64urlDecode(value);
  } catch {
    throw invalidKey(`${name} is not base64url`);
  }
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** The `alg` of a JWK, checked to be present, not forbidden, and supported. */
function jwkAlgorithm(jwk: Record<string, unknown>): JwsAlgorithm {
  const alg = jwk['alg'];
  // SK-08 §Algorithm Determination: the JWK MUST carry `alg`.
  if (alg === undefined) throw invalidKey('missing alg');
  if (typeof alg !== 'string' || alg.length === 0) throw invalidKey('alg is not a string');
  if (isForbiddenAlgorithm(alg)) throw invalidKey(`alg ${alg} is not a fully specified asymmetric algorithm`);
  if (!isSupportedAlgorithm(alg)) throw unsupported(`alg ${alg} is not supported`);
  return alg;
}

/**
 * Checks a public JWK against the AAuth key policy and returns a normalized copy holding only the
 * members AAuth uses (`kty`, `alg`, `kid`, `use`, and the key material). Throws `AAuthError`.
 */
export function validatePublicJwk(jwk: unknown): PublicJwk {
  if (!isJsonObject(jwk)) throw invalidKey('JWK is not a JSON object');
  const kty = jwk['kty'];
  if (typeof kty !== 'string' || kty.length === 0) throw invalidKey('missing kty');
  // Symmetric keys can never identify a signer.
  if (kty === 'oct') throw invalidKey('symmetric (oct) keys are not accepted');
  for (const name of PRIVATE_MEMBERS) {
    if (jwk[name] !== undefined) throw invalidKey(`public JWK carries private member ${name}`);
  }
  if (kty !== 'OKP' && kty !== 'EC' && kty !== 'RSA') throw unsupported(`kty ${kty} is not supported`);
  const alg = jwkAlgorithm(jwk);

  const kid = jwk['kid'];
  if (kid !== undefined && typeof kid !== 'string') throw invalidKey('kid is not a string');
  const use = jwk['use'];
  // RFC 7517 §4.2: a key marked for encryption is not a signature key.
  if (use !== undefined && use !== 'sig') throw invalidKey('use is not "sig"');
  const common = { ...(kid === undefined ? {} : { kid }), ...(use === undefined ? {} : { use: 'sig' }) };

  switch (alg) {
    case 'Ed25519': {
      if (kty !== 'OKP' || jwk['crv'] !== 'Ed25519') throw invalidKey('alg Ed25519 requires kty OKP, crv Ed25519');
      const x = member(jwk, 'x');
      if (x.length !== 32) throw invalidKey('Ed25519 x must be 32 bytes');
      if (isSmallOrderEd25519(x)) throw invalidKey('Ed25519 x is a point of small order: signatures under it prove nothing');
      return Object.freeze({ kty, crv: 'Ed25519', x: jwk['x'] as string, alg, ...common });
    }
    case 'ES256': {
      if (kty !== 'EC' || jwk['crv'] !== 'P-256') throw invalidKey('alg ES256 requires kty EC, crv P-256');
      if (member(jwk, 'x').length !== 32) throw invalidKey('P-256 x must be 32 bytes');
      if (member(jwk, 'y').length !== 32) throw invalidKey('P-256 y must be 32 bytes');
      return Object.freeze({ kty, crv: 'P-256', x: jwk['x'] as string, y: jwk['y'] as string, alg, ...common });
    }
    case 'PS256': {
      if (kty !== 'RSA') throw invalidKey('alg PS256 requires kty RSA');
      const n = member(jwk, 'n');
      const bits = bitLength(n);
      if (bits < MIN_RSA_BITS) throw invalidKey(`RSA modulus must be at least ${MIN_RSA_BITS} bits`);
      if (bits > MAX_RSA_BITS) throw invalidKey('RSA modulus too large');
      const e = member(jwk, 'e');
      if (e.length > 8 || bitLength(e) < 2 || (e[e.length - 1]! & 1) === 0) throw invalidKey('RSA exponent is invalid');
      return Object.freeze({ kty, n: jwk['n'] as string, e: jwk['e'] as string, alg, ...common });
    }
  }
}

/** The `keys` array of a parsed JWK Set; entries are left unvalidated. `invalid_key` when the shape is wrong. */
export function jwksKeys(jwks: unknown): readonly unknown[] {
  if (!isJsonObject(jwks) || !Array.isArray(jwks['keys'])) throw new AAuthError('invalid_key', { detail: 'JWKS has no keys array' });
  return jwks['keys'] as unknown[];
}

/**
 * Selects the key with `kid` from a JWK Set and applies the key policy to that entry only: a verifier
 * "MUST NOT fail because an unselected member names a `kty` or `alg` it does not implement"
 * (SK-08 §Algorithm Determination; AAuth §JWKS Discovery; digest §8.15).
 *
 * No entry with that `kid` → `unknown_key`. Should several entries share the `kid`, the first that passes
 * the policy wins; if none does, the first entry's policy error is thrown.
 */
export function selectJwk(jwks: unknown, kid: string): PublicJwk {
  let firstError: AAuthError | undefined;
  for (const entry of jwksKeys(jwks)) {
    if (!isJsonObject(entry) || entry['kid'] !== kid) continue;
    try {
      return validatePublicJwk(entry);
    } catch (error) {
      firstError ??= error instanceof AAuthError ? error : new AAuthError('invalid_key', { cause: error });
    }
  }
  if (firstError !== undefined) throw firstError;
  throw new AAuthError('unknown_key', { detail: 'no key with that kid in the JWKS' });
}
