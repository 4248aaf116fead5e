/**
 * Resource tokens this resource mints (AAuth -11 §Resource Token; digest §4, §8.24): addressed to the PS of the
 * presented person token (three-party) or to the resource's Access Server (four-party), carrying `ps`, `sub` and
 * `presented_jti` from the person token, `agent_jkt` = the request signer's thumbprint, the requested `scope`, and
 * `mission_s256` and `tenant` copied (a dropped `mission_s256` would be mission stripping). Lifetime ≤ 5 min and
 * never past the person token's `exp` (no token outlives the one it derives from).
 */
import { AAuthError, mintResourceToken, type PersonTokenClaims, type ResourceTokenClaims, type Signer } from '@tessera/protocol';

/** Resource tokens SHOULD NOT live longer than 5 minutes (AAuth §Resource Token Structure). */
export const MAX_RESOURCE_TOKEN_TTL = 300;

export interface IssueResourceTokenInput {
  /** The verified person token the request was signed with. */
  readonly personToken: PersonTokenClaims;
  /** RFC 7638 thumbprint of the key that signed the request (`VerifiedAAuthRequest.jkt`). */
  readonly agentJkt: string;
  /** Requested scopes (REQUIRED, non-empty). */
  readonly scopes: readonly string[];
  /** Four-party: the Access Server (the token's `aud`). Absent: the person token's PS. */
  readonly accessServer?: string;
  /** A resource account the agent asked for at the authorization endpoint (already validated). */
  readonly account?: string;
}

export interface ResourceTokenContext {
  /** This resource's identifier (`iss`). */
  readonly issuer: string;
  readonly signer: Signer;
  /** Epoch seconds. */
  readonly now: () => number;
  /** Lifetime in seconds, ≤ 300 (default 300). */
  readonly ttl?: number;
  readonly compatibility?: ResourceTokenCompatibility;
}

/**
 * Interoperability with Person Servers that read other claim names than -11's. `personTokenJti`: also send the
 * person token's `jti` as `person_token_jti` (what @hellocoop/mockin 2.0.0 reads instead of `presented_jti`);
 * Person Servers that follow -11 ignore the extra claim.
 */
export interface ResourceTokenCompatibility {
  readonly personTokenJti?: boolean;
}

/** The minting context of a resource (its identifier, signer, clock, lifetime and compatibility options). */
export function resourceTokenContext(context: {
  readonly issuer: string;
  readonly signer?: Signer | undefined;
  readonly now: () => number;
  readonly resourceTokenTtl?: number | undefined;
  readonly compatibility?: ResourceTokenCompatibility | undefined;
}): ResourceTokenContext {
  if (context.signer === undefined) throw new AAuthError('invalid_argument', { detail: 'minting resource tokens needs a signer' });
  return {
    issuer: context.issuer,
    signer: context.signer,
    now: context.now,
    ...(context.resourceTokenTtl === undefined ? {} : { ttl: context.resourceTokenTtl }),
    ...(context.compatibility === undefined ? {} : { compatibility: context.compatibility }),
  };
}

export type MintedResourceClaims = Pick<ResourceTokenClaims, 'iss' | 'aud' | 'ps' | 'sub' | 'presented_jti' | 'agent_jkt' | 'scope' | 'account' | 'mission_s256' | 'tenant'>;

export interface IssuedResourceToken {
  readonly token: string;
  /** The claims as minted (without `iat`/`exp`/`jti`/`dwk`, which the token carries). */
  readonly claims: MintedResourceClaims;
  /** The `exp` bound: now + ttl, clamped to the person token's `exp`. */
  readonly exp: number;
}

/** Mints the resource token for a verified person token (§8.24). */
export async function issueResourceToken(context: ResourceTokenContext, input: IssueResourceTokenInput): Promise<IssuedResourceToken> {
  const ttl = context.ttl ?? MAX_RESOURCE_TOKEN_TTL;
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_RESOURCE_TOKEN_TTL) {
    throw new AAuthError('invalid_argument', { detail: `resource token ttl must be 1..${MAX_RESOURCE_TOKEN_TTL} s` });
  }
  if (input.scopes.length === 0) throw new AAuthError('invalid_argument', { detail: 'a resource token needs a scope' });
  const person = input.personToken;
  const claims: MintedResourceClaims = {
    iss: context.issuer,
    aud: input.accessServer ?? person.iss,
    ps: person.iss,
    sub: person.sub,
    presented_jti: person.jti,
    agent_jkt: input.agentJkt,
    scope: input.scopes.join(' '),
    ...(input.account === undefined ? {} : { account: input.account }),
    ...(person.mission_s256 === undefined ? {} : { mission_s256: person.mission_s256 }),
    ...(person.tenant === undefined ? {} : { tenant: person.tenant }),
  };
  const minted = context.compatibility?.personTokenJti === true ? { ...claims, person_token_jti: person.jti } : claims;
  const token = await mintResourceToken(context.signer, minted, { now: context.now, ttl, notAfter: person.exp });
  return { token, claims, exp: Math.min(Math.floor(context.now()) + ttl, Math.floor(person.exp)) };
}
