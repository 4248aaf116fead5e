/**
 * Resource token, `aa-resource+jwt` (AAuth -11 §Resource Token): issued by a resource to describe the access
 * the agent needs; redeemed at the PS (three-party) or the resource's AS (four-party). Carries `agent_jkt`
 * in place of `cnf`.
 */
import type { ErrorCode } from '../errors.js';
import { isJsonObject } from '../crypto/jwk.js';
import type { Signer } from '../crypto/types.js';
import type { Audience, CommonClaims, MintClaims, MintOptions } from './claims.js';
import { ClaimReader, DWK, MAX_LIFETIME, assemblePayload, issueTimes, requireKid } from './claims.js';
import { signJws } from './jws.js';

export const RESOURCE_TOKEN_TYP = 'aa-resource+jwt';

export interface ResourceTokenClaims extends CommonClaims {
  /** The resource. */
  readonly iss: string;
  readonly dwk: typeof DWK.resource;
  /** The PS (three-party) or the resource's AS (four-party). */
  readonly aud: Audience;
  /** The PS whose namespace `sub` belongs to: the presented person token's `iss` (or auth token's `ps`). */
  readonly ps: string;
  readonly sub: string;
  /** The `jti` of the token the request carried. */
  readonly presented_jti: string;
  /** RFC 7638 thumbprint of the agent's signing key. */
  readonly agent_jkt: string;
  /** Requested scopes, space separated. */
  readonly scope?: string;
  readonly account?: string;
  readonly login_hint?: string;
  /** Copied from the presented token; REQUIRED when it carried one. */
  readonly mission_s256?: string;
  readonly tenant?: string;
  readonly interaction?: { readonly url: string; readonly code: string };
  /** R3 companion: replaces `scope`. */
  readonly r3_uri?: string;
  readonly r3_s256?: string;
}

/**
 * Checks the claims of a resource token: `iss`, `dwk` = `aauth-resource.json`, `aud`, `jti`, `ps`, `sub`,
 * `presented_jti`, `agent_jkt`, `iat`, `exp`, and `scope` (digest §4; a companion's `r3_uri` may stand in for
 * `scope`, AAuth §Resource Token Structure). `interaction`, when present, is `{url, code}`.
 */
export function checkResourceTokenClaims(claims: Record<string, unknown>, code: ErrorCode = 'invalid_jwt'): ResourceTokenClaims {
  const r = new ClaimReader(claims, code, 'resource token');
  r.string('iss');
  r.exact('dwk', DWK.resource);
  r.audience();
  r.string('jti');
  r.string('ps');
  r.string('sub');
  r.string('presented_jti');
  r.string('agent_jkt');
  r.lifetime();
  r.optionalString('r3_uri');
  if (claims['r3_uri'] === undefined) r.string('scope');
  else if (claims['scope'] !== undefined && typeof claims['scope'] !== 'string') r.fail('scope must be a string');
  r.optionalString('account');
  r.optionalString('login_hint');
  r.optionalString('mission_s256');
  r.optionalString('tenant');
  const interaction = claims['interaction'];
  if (interaction !== undefined) {
    if (!isJsonObject(interaction) || typeof interaction['url'] !== 'string' || typeof interaction['code'] !== 'string') {
      r.fail('interaction must be {url, code}');
    }
  }
  return claims as ResourceTokenClaims;
}

export const RESOURCE_TOKEN_DEFAULT_TTL = 300;

/**
 * Mints a resource token, `exp` ≤ 5 min after `iat` (AAuth §Resource Token Structure: SHOULD NOT exceed 5 minutes;
 * digest §8.24). The caller copies `ps`, `sub`, `presented_jti`, `mission_s256` and `tenant` from the verified
 * presented token.
 */
export async function mintResourceToken(signer: Signer, claims: MintClaims<ResourceTokenClaims>, options: MintOptions): Promise<string> {
  const kid = requireKid(signer);
  const times = issueTimes(options, RESOURCE_TOKEN_DEFAULT_TTL, MAX_LIFETIME[RESOURCE_TOKEN_TYP]);
  const payload = assemblePayload(claims, DWK.resource, times);
  checkResourceTokenClaims(payload, 'invalid_argument');
  return signJws({ typ: RESOURCE_TOKEN_TYP, kid }, payload, signer);
}
