/**
 * Auth token, `aa-auth+jwt` (AAuth -11 §Auth Token): issued by a PS (`dwk` `aauth-person.json`, three-party)
 * or an AS (`dwk` `aauth-access.json`, four-party) to grant an agent access to a resource.
 */
import type { ErrorCode } from '../errors.js';
import type { Signer } from '../crypto/types.js';
import type { Audience, CommonClaims, Confirmation, MintClaims, Minted, MintOptions } from './claims.js';
import { ClaimReader, DWK, MAX_LIFETIME, assemblePayload, issueTimes, requireKid } from './claims.js';
import { signJws } from './jws.js';

export const AUTH_TOKEN_TYP = 'aa-auth+jwt';

export interface AuthTokenClaims extends CommonClaims {
  /** The PS (three-party) or AS (four-party) that issued it. */
  readonly iss: string;
  readonly dwk: typeof DWK.person | typeof DWK.access;
  /** The resource the agent may access. */
  readonly aud: Audience;
  /** The person's PS; equal to `iss` when a PS issued the token. */
  readonly ps: string;
  /** Directed user identifier, copied from the resource token. */
  readonly sub: string;
  readonly cnf: Confirmation;
  /** Granted scopes, space separated; never broader than the resource token's. */
  readonly scope?: string;
  readonly account?: string;
  readonly mission_s256?: string;
  readonly tenant?: string;
}

/**
 * Checks the claims of an auth token: `iss`, `dwk` ∈ {`aauth-person.json`, `aauth-access.json`}, `aud`, `jti`,
 * `ps`, `sub`, `cnf.jwk`, `iat`, `exp` required; lifetime ≤ 1 h (MUST); a PS-issued token (`dwk`
 * `aauth-person.json`) has `ps` = `iss` (AAuth §Auth Token Structure; digest §8.35, §8.40).
 */
export function checkAuthTokenClaims(claims: Record<string, unknown>, code: ErrorCode = 'invalid_jwt'): AuthTokenClaims {
  const r = new ClaimReader(claims, code, 'auth token');
  const iss = r.string('iss');
  const dwk = r.exact('dwk', DWK.person, DWK.access);
  r.audience();
  r.string('jti');
  const ps = r.string('ps');
  r.string('sub');
  r.lifetime(MAX_LIFETIME[AUTH_TOKEN_TYP]);
  if (dwk === DWK.person && ps !== iss) r.fail('ps must equal iss in a PS-issued auth token');
  r.optionalString('scope');
  r.optionalString('account');
  r.optionalString('mission_s256');
  r.optionalString('tenant');
  r.confirmation();
  return claims as AuthTokenClaims;
}

export const AUTH_TOKEN_DEFAULT_TTL = 3600;

/**
 * Mints an auth token. `dwk` defaults to `aauth-person.json` (a PS issuing; pass `aauth-access.json` as an AS).
 * `exp` ≤ 1 h after `iat` and ≤ `notAfter` — the agent token's, presented token's, upstream token's `exp` and the
 * mission's `expires_at`, whichever is earliest (AAuth §Auth Token Structure; digest §8.41).
 */
export async function mintAuthToken(
  signer: Signer,
  claims: MintClaims<AuthTokenClaims>,
  options: MintOptions,
): Promise<string> {
  return (await mintAuthTokenWithClaims(signer, claims, options)).token;
}

/** `mintAuthToken`, answering the token's claims beside it. */
export async function mintAuthTokenWithClaims(signer: Signer, claims: MintClaims<AuthTokenClaims>, options: MintOptions): Promise<Minted<AuthTokenClaims>> {
  const kid = requireKid(signer);
  const times = issueTimes(options, AUTH_TOKEN_DEFAULT_TTL, MAX_LIFETIME[AUTH_TOKEN_TYP]);
  const payload = assemblePayload(claims, DWK.person, times);
  const checked = checkAuthTokenClaims(payload, 'invalid_argument');
  return { token: await signJws({ typ: AUTH_TOKEN_TYP, kid }, payload, signer), claims: checked };
}
