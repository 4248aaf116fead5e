/**
 * Person token, `aa-person+jwt` (AAuth -11 §Person Token): issued by a Person Server to identify the person
 * an agent acts for to one resource. Carries identity, never authorization.
 */
import type { ErrorCode } from '../errors.js';
import type { Signer } from '../crypto/types.js';
import type { Audience, CommonClaims, Confirmation, MintClaims, Minted, MintOptions } from './claims.js';
import { ClaimReader, DWK, MAX_LIFETIME, assemblePayload, issueTimes, requireKid } from './claims.js';
import { signJws } from './jws.js';

export const PERSON_TOKEN_TYP = 'aa-person+jwt';

export interface PersonTokenClaims extends CommonClaims {
  /** The Person Server. */
  readonly iss: string;
  readonly dwk: typeof DWK.person;
  /** The one resource this token identifies the person to. */
  readonly aud: Audience;
  /** Directed (pairwise) user identifier; `(iss, sub)` is the identity. */
  readonly sub: string;
  readonly cnf: Confirmation;
  readonly mission_s256?: string;
  readonly tenant?: string;
}

/**
 * Checks the claims of a person token: `iss`, `dwk` = `aauth-person.json`, `aud`, `sub`, `cnf.jwk`, `jti`, `iat`,
 * `exp` required; lifetime ≤ 1 h (MUST); `scope` and `account` forbidden ("A person token MUST NOT contain
 * `scope` or `account`", AAuth §Person Token Structure; digest §8.19).
 */
export function checkPersonTokenClaims(claims: Record<string, unknown>, code: ErrorCode = 'invalid_jwt'): PersonTokenClaims {
  const r = new ClaimReader(claims, code, 'person token');
  r.string('iss');
  r.exact('dwk', DWK.person);
  r.audience();
  r.string('sub');
  r.string('jti');
  r.lifetime(MAX_LIFETIME[PERSON_TOKEN_TYP]);
  r.absent('scope', 'a person token carries no authorization');
  r.absent('account', 'a person token carries no authorization');
  r.optionalString('mission_s256');
  r.optionalString('tenant');
  r.confirmation();
  return claims as PersonTokenClaims;
}

export const PERSON_TOKEN_DEFAULT_TTL = 3600;

/**
 * Mints a person token. `exp` ≤ 1 h after `iat` and ≤ `notAfter` — pass the presented agent token's `exp`, the
 * upstream token's `exp` or the mission's `expires_at`, whichever is earliest (AAuth §Person Token Structure).
 */
export async function mintPersonToken(signer: Signer, claims: MintClaims<PersonTokenClaims>, options: MintOptions): Promise<string> {
  return (await mintPersonTokenWithClaims(signer, claims, options)).token;
}

/** `mintPersonToken`, answering the token's claims beside it. */
export async function mintPersonTokenWithClaims(signer: Signer, claims: MintClaims<PersonTokenClaims>, options: MintOptions): Promise<Minted<PersonTokenClaims>> {
  const kid = requireKid(signer);
  const times = issueTimes(options, PERSON_TOKEN_DEFAULT_TTL, MAX_LIFETIME[PERSON_TOKEN_TYP]);
  const payload = assemblePayload(claims, DWK.person, times);
  const checked = checkPersonTokenClaims(payload, 'invalid_argument');
  return { token: await signJws({ typ: PERSON_TOKEN_TYP, kid }, payload, signer), claims: checked };
}
