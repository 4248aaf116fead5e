/**
 * The `jkt-s256+jwt` self-issued key delegation token (HTTP Signature Keys -08 §jkt-jwt scheme), which AAuth
 * uses only for Agent Provider key refresh: signed by the key in its header `jwk`, `iss` =
 * `urn:jkt:sha-256:<RFC 7638 thumbprint of that key>`, `cnf.jwk` = the delegated (new) key.
 */
import { AAuthError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { isJsonObject, validatePublicJwk } from '../crypto/jwk.js';
import { jwkThumbprint } from '../crypto/thumbprint.js';
import type { PublicJwk, Signer } from '../crypto/types.js';
import type { Confirmation, KnownClaims, MintOptions } from './claims.js';
import { ClaimReader, issueTimes } from './claims.js';
import type { JwsHeader } from './jws.js';
import { signJws } from './jws.js';

export const JKT_TOKEN_TYP = 'jkt-s256+jwt';
/** The `iss` prefix that `jkt-s256+jwt` fixes (SK-08 §jkt-jwt, JWT Type Values table). */
export const JKT_S256_PREFIX = 'urn:jkt:sha-256:';

export interface JktTokenClaims {
  /** `urn:jkt:sha-256:<thumbprint of the header jwk>`. */
  readonly iss: string;
  readonly iat: number;
  readonly exp: number;
  /** The delegated key. */
  readonly cnf: Confirmation;
  /** REQUIRED only when presented with the `cache` parameter. */
  readonly jti?: string;
  readonly [claim: string]: unknown;
}

/** Checks the claims of a jkt-jwt: `iss` with the sha-256 prefix, `iat`, `exp`, `cnf.jwk`; `sub` is not used. */
export function checkJktTokenClaims(claims: Record<string, unknown>, code: ErrorCode = 'invalid_jwt'): JktTokenClaims {
  const r = new ClaimReader(claims, code, 'jkt-jwt');
  const iss = r.string('iss');
  if (!iss.startsWith(JKT_S256_PREFIX)) r.fail(`iss must start with ${JKT_S256_PREFIX}`);
  r.lifetime();
  r.optionalString('jti');
  r.confirmation();
  return claims as JktTokenClaims;
}

/**
 * The signing key of a jkt-jwt, from its header `jwk`, after checking it against the key policy, the header
 * `alg`, and the `iss` thumbprint (SK-08 §jkt-jwt verification steps 3–7).
 */
export async function jktIssuerJwk(header: JwsHeader, claims: JktTokenClaims): Promise<PublicJwk> {
  if (!isJsonObject(header['jwk'])) throw new AAuthError('invalid_jwt', { detail: 'jkt-jwt: header jwk is required' });
  const jwk = validatePublicJwk(header['jwk']);
  if (jwk.alg !== header.alg) throw new AAuthError('invalid_jwt', { detail: 'jkt-jwt: header alg differs from the header jwk alg' });
  if (claims.iss !== JKT_S256_PREFIX + (await jwkThumbprint(jwk))) {
    throw new AAuthError('invalid_jwt', { detail: 'jkt-jwt: iss is not the thumbprint of the header jwk' });
  }
  return jwk;
}

/** Default jkt-jwt lifetime: one hour. SK-08 sets no cap; `ttl` may be longer. */
export const JKT_TOKEN_DEFAULT_TTL = 3600;

/** Claim input for `mintJktToken`: `iss` is derived from the signer's key. */
export type JktMintClaims = Omit<KnownClaims<JktTokenClaims>, 'iss' | 'iat' | 'exp'> & Readonly<Record<string, unknown>>;

/** Mints a jkt-s256+jwt: header `{alg, typ, jwk}` with the signer's public key, delegating to `claims.cnf.jwk`. */
export async function mintJktToken(signer: Signer, claims: JktMintClaims, options: MintOptions): Promise<string> {
  if (!isJsonObject(claims)) throw new AAuthError('invalid_argument', { detail: 'claims must be an object' });
  if (claims['iss'] !== undefined || claims['iat'] !== undefined || claims['exp'] !== undefined) {
    throw new AAuthError('invalid_argument', { detail: 'iss, iat and exp are derived, not passed in' });
  }
  const jwk = validatePublicJwk(signer.publicJwk);
  const times = issueTimes(options, JKT_TOKEN_DEFAULT_TTL, undefined);
  const payload: Record<string, unknown> = { iss: JKT_S256_PREFIX + (await jwkThumbprint(jwk)), ...claims, iat: times.iat, exp: times.exp };
  checkJktTokenClaims(payload, 'invalid_argument');
  const { kid: _kid, ...headerJwk } = jwk;
  return signJws({ typ: JKT_TOKEN_TYP, jwk: headerJwk }, payload, signer);
}
