/**
 * What the agent checks in the tokens it receives. Decoding is `decodeJws`; signatures go through `verifyToken` with
 * a `createKeyResolver` over the injected fetch (issuer metadata check, JWKS by `kid`).
 *
 * - Resource token (digest §4 "Resource token @agent", §8.27): `typ`, `iss` = the resource called, `agent_jkt` = own
 *   key thumbprint, `ps` = own PS, `sub` = the presented token's `sub`, `exp` in the future, issuer signature.
 * - Auth token (§4 "Auth token @PS(4p)/agent", §8.39): `iss` = the resource token's `aud`, `aud` = the resource,
 *   `cnf` = own key, `sub` = the resource token's `sub` (three-party), `scope` ⊆ the requested scope, signature.
 * - Person token (§6 C): `iss` = own PS, `aud` = the resource, `cnf` = own key, signature.
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
}

const scopes = (scope: unknown): string[] => (typeof scope === 'string' ? scope.split(' ').filter((s) => s.length > 0) : []);

function fail(code: 'invalid_resource_token' | 'invalid_auth_token' | 'invalid_person_token', detail: string, cause?: unknown): never {
  throw new AgentError(code, { detail, ...(cause === undefined ? {} : { cause }) });
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
  return claims;
}

/** Checks a person token for `resource` from the agent's PS. */
export async function checkPersonToken(jwt: string, resource: string, ctx: TokenCheckContext): Promise<PersonTokenClaims> {
  try {
    const verified = await verifyToken(jwt, { accept: ['aa-person+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, issuer: ctx.ps, audience: resource });
    if (verified.cnfKey.thumbprint !== ctx.jkt) fail('invalid_person_token', 'cnf is not this agent’s key');
    return verified.claims;
  } catch (cause) {
    if (cause instanceof AgentError) throw cause;
    return fail('invalid_person_token', `does not verify (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
}
