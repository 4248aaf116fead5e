/**
 * What the agent checks in the tokens it receives. Decoding is `decodeJws`; signatures go through `verifyToken` with
 * a `createKeyResolver` over the injected fetch (issuer metadata check, JWKS by `kid`).
 *
 * - Resource token (digest §4 "Resource token @agent", §8.27): `typ`, `iss` = the resource called, `agent_jkt` = own
 *   key thumbprint, `ps` = own PS, `sub` = the presented token's `sub`, `exp` in the future, issuer signature.
 * - Auth token (§4 "Auth token @PS(4p)/agent", §8.39): `iss` = the resource token's `aud`, `aud` = the resource,
 *   `cnf` = own key, `sub` = the resource token's `sub` (three-party), `scope` ⊆ the requested scope, signature.
 * - Person token (§6 C): `iss` = own PS, `aud` = the resource, `cnf` = own key, signature.
 * - Under a mission (§6 F, §Mission Log): the person token carries `mission_s256` = the mission's `s256`, the resource
 *   copies it into the resource token and the issuer into the auth token; each token is checked for exactly that
 *   value. A token without it is mission stripping (§8.32 names it on the PS side), one that carries a mission the
 *   agent did not ask under would attribute its calls to that mission: both are rejected.
 */
import {
  audienceIncludes,
  audienceList,
  decodeJws,
  verifyToken,
  type AuthTokenClaims,
  type KeyResolver,
  type PersonTokenClaims,
  type ResourceTokenClaims,
} from '@tessera/protocol';
import { AgentError } from './errors.js';

export interface TokenCheckContext {
  readonly resolveKey: KeyResolver;
  /** Clock, epoch seconds. */
  readonly now: () => number;
  /** RFC 7638 thumbprint of the agent's key. */
  readonly jkt: string;
  /** The agent's Person Server identifier. */
  readonly ps: string;
  /** The `s256` of the mission the agent acts under; absent outside a mission. */
  readonly missionS256?: string;
}

const scopes = (scope: unknown): string[] => (typeof scope === 'string' ? scope.split(' ').filter((s) => s.length > 0) : []);

function fail(code: 'invalid_resource_token' | 'invalid_auth_token' | 'invalid_person_token', detail: string, cause?: unknown): never {
  throw new AgentError(code, { detail, ...(cause === undefined ? {} : { cause }) });
}

/** What is wrong with a token's `mission_s256` for an agent acting under `expected` (absent: no mission), if anything. */
function missionMismatch(actual: unknown, expected: string | undefined): string | undefined {
  if (actual === expected) return undefined;
  if (expected === undefined) return 'carries a mission_s256 although the agent acts under no mission';
  if (actual === undefined) return 'has no mission_s256 although the agent acts under a mission (mission stripping)';
  return 'mission_s256 is not the mission the agent acts under';
}

/**
 * Checks a resource token received in `requirement=auth-token` from `resource` (its identifier), issued for the token
 * the agent presented (`presentedSub`: that token's `sub`, when the agent presented a person or auth token).
 */
export async function checkResourceToken(jwt: string, resource: string, presentedSub: string | undefined, ctx: TokenCheckContext): Promise<ResourceTokenClaims> {
  let header;
  let payload;
  try {
    ({ header, payload } = decodeJws(jwt));
  } catch (cause) {
    return fail('invalid_resource_token', 'not a JWS', cause);
  }
  if (header.typ !== 'aa-resource+jwt') fail('invalid_resource_token', `typ is ${String(header.typ)}, not aa-resource+jwt`);
  if (payload['iss'] !== resource) fail('invalid_resource_token', 'iss is not the resource that was called');
  if (payload['agent_jkt'] !== ctx.jkt) fail('invalid_resource_token', 'agent_jkt is not this agent’s key');
  if (payload['ps'] !== ctx.ps) fail('invalid_resource_token', 'ps is not this agent’s Person Server');
  if (presentedSub !== undefined && payload['sub'] !== presentedSub) fail('invalid_resource_token', 'sub is not the presented token’s sub');
  if (typeof payload['exp'] !== 'number' || payload['exp'] <= ctx.now()) fail('invalid_resource_token', 'expired');
  // §Resource Token Structure: `mission_s256` is copied from the presented token (digest §4 "must be copied").
  const mission = missionMismatch(payload['mission_s256'], ctx.missionS256);
  if (mission !== undefined) fail('invalid_resource_token', mission);
  try {
    const verified = await verifyToken(jwt, { accept: ['aa-resource+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, issuer: resource });
    return verified.claims;
  } catch (cause) {
    return fail('invalid_resource_token', `does not verify (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
}

/** Checks an auth token issued for `resourceToken` (§8.39). */
export async function checkAuthToken(jwt: string, resourceToken: ResourceTokenClaims, ctx: TokenCheckContext): Promise<AuthTokenClaims> {
  let header;
  let payload;
  try {
    ({ header, payload } = decodeJws(jwt));
  } catch (cause) {
    return fail('invalid_auth_token', 'not a JWS', cause);
  }
  if (header.typ !== 'aa-auth+jwt') fail('invalid_auth_token', `typ is ${String(header.typ)}, not aa-auth+jwt`);
  const issuers = audienceList(resourceToken.aud);
  const iss = payload['iss'];
  if (typeof iss !== 'string' || !issuers.includes(iss)) fail('invalid_auth_token', 'iss is not the resource token’s aud');
  let claims: AuthTokenClaims;
  let thumbprint: string;
  try {
    const verified = await verifyToken(jwt, { accept: ['aa-auth+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, issuer: iss, audience: resourceToken.iss });
    claims = verified.claims;
    thumbprint = verified.cnfKey.thumbprint;
  } catch (cause) {
    return fail('invalid_auth_token', `does not verify (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
  if (!audienceIncludes(claims.aud, resourceToken.iss)) fail('invalid_auth_token', 'aud is not the resource');
  if (thumbprint !== ctx.jkt) fail('invalid_auth_token', 'cnf is not this agent’s key');
  // Three-party: the PS copies `sub` from the resource token. A four-party AS token names the same person.
  if (claims.sub !== resourceToken.sub) fail('invalid_auth_token', 'sub is not the resource token’s sub');
  const requested = new Set(scopes(resourceToken.scope));
  if (resourceToken.scope !== undefined && scopes(claims.scope).some((s) => !requested.has(s))) fail('invalid_auth_token', 'scope is broader than requested');
  // §Auth Token Structure: `mission_s256` is copied from the resource token (which `checkResourceToken` held to the
  // agent's mission): a missing one is mission stripping.
  if (claims.mission_s256 !== resourceToken.mission_s256) {
    fail('invalid_auth_token', resourceToken.mission_s256 === undefined ? 'carries a mission_s256 the resource token does not' : 'mission_s256 is not the resource token’s (mission stripping)');
  }
  return claims;
}

/** Checks a person token for `resource` from the agent's PS. */
export async function checkPersonToken(jwt: string, resource: string, ctx: TokenCheckContext): Promise<PersonTokenClaims> {
  try {
    const verified = await verifyToken(jwt, { accept: ['aa-person+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, issuer: ctx.ps, audience: resource });
    if (verified.cnfKey.thumbprint !== ctx.jkt) fail('invalid_person_token', 'cnf is not this agent’s key');
    // §Person Token Endpoint: the PS stamps the `mission_s256` the agent named (§8.53 for `person_tokens`).
    const mission = missionMismatch(verified.claims.mission_s256, ctx.missionS256);
    if (mission !== undefined) fail('invalid_person_token', mission);
    return verified.claims;
  } catch (cause) {
    if (cause instanceof AgentError) throw cause;
    return fail('invalid_person_token', `does not verify (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
}
