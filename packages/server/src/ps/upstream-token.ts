/**
 * Call chaining (AAuth -11 §Call Chaining; digest §6-G; checklist §8.64). A resource R1 that must call another
 * resource R2 for the person acts as an agent: it signs with its own agent token (R1 is its own agent provider) and
 * names, as `upstream_token`, the auth token it was called with. The person is the upstream token's; R1 is not bound
 * to them (an intermediary serves many people), so the chained request stands on the upstream authorization:
 *
 * - the upstream token is an `aa-auth+jwt` this PS issued (verified with its own keys, never fetched) or, four-party,
 *   one an Access Server issued for this PS's person and this PS verified and relayed (§Auth Token Delivery). The PS
 *   records each token it relays, so it accepts an AS's token only when it holds that record `(iss, jti)`: a server
 *   that merely calls itself an AS and names a directed `sub` it has seen cannot mint one, and the PS fetches the keys
 *   of no issuer it has not relayed from;
 * - its `ps` is this PS: the intermediary routes to the upstream token's PS, the only one that can map its person;
 * - its `aud` is the intermediary: the `iss` of the agent token that signed the request (§8.64);
 * - it is neither revoked nor expired, and names a person this PS knows: its record, with the same `sub`;
 * - the token issued downstream carries the person's directed identifier at R2, never the upstream `sub` (§8.64),
 *   and expires no later than the upstream token.
 */
import { AAuthError, audienceIncludes, DWK, tokenProblemCode, verifyToken, type AuthTokenClaims, type KeyResolver } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { CallingAgent } from './agent-admission.js';
import { isRevoked } from './agent-admission.js';
import { RELAYED_AUTH_TOKEN } from './federation.js';
import { ownKeyResolver } from './own-key-resolver.js';

/** The upstream authorization a chained request stands on. */
export interface UpstreamAuthorization {
  readonly iss: string;
  readonly jti: string;
  readonly exp: number;
  /** The person the upstream token was issued for. */
  readonly personId: string;
}

/** What a pending chained request keeps (JSON in `pending_requests.request`). */
export type UpstreamPending = { readonly iss: string; readonly jti: string; readonly person_id: string };

const invalid = (detail: string): AAuthError => new AAuthError('invalid_auth_token', { detail: `upstream_token: ${detail}` });

/**
 * Reads `upstream_token` from a token request body: `undefined` when absent, else the checked upstream
 * authorization. Errors: 400 `invalid_request` (malformed, another PS's, combined with `subagent_token`),
 * `invalid_auth_token` / `expired_auth_token` (does not verify, wrong audience, revoked, unknown person).
 */
export async function readUpstreamToken(ctx: ServerContext, body: Record<string, unknown>, caller: CallingAgent): Promise<UpstreamAuthorization | undefined> {
  const value = body['upstream_token'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new AAuthError('invalid_request', { detail: 'upstream_token must be a string' });
  if (caller.parent !== undefined) throw new AAuthError('invalid_request', { detail: 'upstream_token cannot be combined with subagent_token' });

  let claims: AuthTokenClaims;
  try {
    const verified = await verifyToken(value, { accept: ['aa-auth+jwt'], resolveKey: upstreamKeyResolver(ctx), now: ctx.now, keyCache: ctx.keyCache });
    claims = verified.claims;
  } catch (error) {
    const detail = error instanceof AAuthError && error.detail !== undefined ? error.detail : 'does not verify';
    throw new AAuthError(tokenProblemCode('aa-auth+jwt', error), { detail: `upstream_token: ${detail}`, cause: error });
  }
  if (claims.iss !== ctx.ps.issuer && (claims.ps !== ctx.ps.issuer || claims.dwk !== DWK.access)) throw invalid('not a token of this Person Server');
  // §8.64: the upstream token was issued to the intermediary that now signs as an agent.
  if (!audienceIncludes(claims.aud, caller.signer.iss)) throw invalid("its aud is not the signing agent token's iss");
  if (await isRevoked(ctx.store.db, claims.iss, claims.jti)) throw invalid('revoked');

  const personId = await upstreamPerson(ctx, claims);
  if (personId === undefined) throw invalid('names no person of this Person Server');
  return { iss: claims.iss, jti: claims.jti, exp: claims.exp, personId };
}

/**
 * Keys for an upstream token: this PS's own (never fetched), or those of an Access Server this PS has relayed an auth
 * token from, discovered as for any AS. Any other issuer is `unknown_key` before anything is fetched.
 */
function upstreamKeyResolver(ctx: ServerContext): KeyResolver {
  const own = ownKeyResolver(ctx);
  return async (request) => {
    if (request.iss === ctx.ps.issuer) return own(request);
    const relayed = await ctx.store.db
      .selectFrom('issued_tokens')
      .select('jti')
      .where('iss', '=', request.iss)
      .where('kind', '=', RELAYED_AUTH_TOKEN)
      .limit(1)
      .executeTakeFirst();
    if (relayed === undefined) throw new AAuthError('unknown_key', { detail: 'not a token of this Person Server' });
    return ctx.resolveKey(request);
  };
}

/**
 * The person of the upstream token: the record of an auth token this PS issued, or of an AS's it relayed — unrevoked,
 * with the same `sub`.
 */
async function upstreamPerson(ctx: ServerContext, claims: AuthTokenClaims): Promise<string | undefined> {
  const issued = await ctx.store.db
    .selectFrom('issued_tokens')
    .select(['person_id', 'revoked_at', 'sub', 'kind'])
    .where('iss', '=', claims.iss)
    .where('jti', '=', claims.jti)
    .executeTakeFirst();
  const kind = claims.iss === ctx.ps.issuer ? 'auth_token' : RELAYED_AUTH_TOKEN;
  if (!issued || issued.kind !== kind || issued.revoked_at !== null || issued.sub !== claims.sub || issued.person_id === null) return undefined;
  return issued.person_id;
}

/** The calling agent as a chained request sees it: acting for the upstream token's person, not its own binding. */
export function chainedCaller(caller: CallingAgent, upstream: UpstreamAuthorization | undefined): CallingAgent {
  if (upstream === undefined) return caller;
  return { ...caller, personId: upstream.personId, notAfter: Math.min(caller.notAfter, upstream.exp) };
}

export function upstreamPending(upstream: UpstreamAuthorization): UpstreamPending {
  return { iss: upstream.iss, jti: upstream.jti, person_id: upstream.personId };
}
