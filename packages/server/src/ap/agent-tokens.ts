/**
 * Agent tokens this Agent Provider issues (AAuth -11 §Agent Token): minting and recording them, resolving this AP's
 * own keys for tokens presented back to it, and checking that the agent presenting one is still in good standing.
 */
import {
  AAuthError,
  DWK,
  MAX_LIFETIME,
  mintAgentToken,
  selectJwk,
  type AgentTokenClaims,
  type KeyResolver,
  type PublicJwk,
} from '@tessera/protocol';
import type { MiddlewareHandler } from 'hono';
import type { ServerContext } from '../context.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import { issuance } from '../store/issued-jti.js';
import type { ApAgent } from '../store/schema.js';
import type { Executor } from '../store/store.js';

/** Default agent-token lifetime: one hour (AAuth Bootstrap §Refresh Patterns: "a typical lifetime is 1 hour"). */
export const DEFAULT_AGENT_TOKEN_TTL = 3600;
/** The cap: agent tokens SHOULD NOT exceed 24 hours (AAuth -11 §Agent Token Structure). */
export const MAX_AGENT_TOKEN_TTL: number = MAX_LIFETIME['aa-agent+jwt'];

/** A configured agent-token lifetime, checked: a whole number of seconds in (0, 24 h]. */
export function agentTokenTtl(ttl: number | undefined): number {
  const value = ttl ?? DEFAULT_AGENT_TOKEN_TTL;
  if (!Number.isSafeInteger(value) || value <= 0 || value > MAX_AGENT_TOKEN_TTL) {
    throw new AAuthError('invalid_argument', { detail: `agent token ttl must be 1..${MAX_AGENT_TOKEN_TTL} seconds` });
  }
  return value;
}

export interface IssueAgentTokenInput {
  readonly agentId: string;
  /** The key the token binds (`cnf.jwk`). */
  readonly jwk: PublicJwk;
  readonly personId: string | null;
  /** The agent's Person Server, when it named one. */
  readonly ps?: string | null;
  /** Sub-agents only: the parent agent identifier. */
  readonly parentAgent?: string | null;
  readonly ttl: number;
  /** Latest `exp` (a sub-agent token does not outlive its parent's). */
  readonly notAfter?: number;
}

/** The body an agent gets back, plus what the AP keeps. */
export interface IssuedAgentToken {
  readonly agent_id: string;
  readonly agent_token: string;
  readonly expires_in: number;
  readonly jti: string;
  readonly exp: number;
}

/**
 * Mints an agent token signed by the current AP key and records it in `issued_tokens` (in `trx`, so the token
 * exists only if the decision that issued it commits). Claims: `iss` = AP, `dwk`, `sub` = agent identifier, `jti`,
 * `cnf.jwk`, `iat`, `exp`, and `ps` / `parent_agent` when set (AAuth -11 §Agent Token Structure).
 */
export async function issueAgentToken(ctx: ServerContext, trx: Executor, input: IssueAgentTokenInput): Promise<IssuedAgentToken> {
  const signer = await ctx.keys.signer('ap', trx);
  const { now: iat, jti } = issuance(ctx.now);
  const exp = input.notAfter === undefined ? iat + input.ttl : Math.min(iat + input.ttl, Math.floor(input.notAfter));
  const agentToken = await mintAgentToken(
    signer,
    {
      iss: ctx.ap.issuer,
      sub: input.agentId,
      jti,
      cnf: { jwk: input.jwk },
      ...(input.ps ? { ps: input.ps } : {}),
      ...(input.parentAgent ? { parent_agent: input.parentAgent } : {}),
    },
    { now: () => iat, ttl: input.ttl, ...(input.notAfter === undefined ? {} : { notAfter: input.notAfter }) },
  );
  await trx
    .insertInto('issued_tokens')
    .values({
      iss: ctx.ap.issuer,
      jti,
      kind: 'aa-agent+jwt',
      sub: input.agentId,
      agent_id: input.agentId,
      aud: null,
      scope: null,
      person_id: input.personId,
      exp,
      revoked_at: null,
    })
    .execute();
  return { agent_id: input.agentId, agent_token: agentToken, expires_in: exp - iat, jti, exp };
}


/**
 * Resolves this AP's own signing keys for agent tokens presented back to it (renewal, sub-agents, revocation), from
 * the key store rather than over HTTP. A token from any other issuer is not this AP's to honour: its key is not
 * resolved here, so the request fails verification (401 + `Signature-Error: invalid_jwt`).
 */
export function ownAgentTokenKeys(ctx: ServerContext): KeyResolver {
  return async ({ iss, dwk, kid }) => {
    if (iss !== ctx.ap.issuer || dwk !== DWK.agent) {
      throw new AAuthError('invalid_jwt', { detail: 'the agent token was not issued by this agent provider' });
    }
    return ctx.keyCache.get(selectJwk(await ctx.keys.jwks('ap'), kid));
  };
}

/** Middleware: a request signed with an agent token this AP issued (AAuth -11 §HTTP Message Signatures Profile). */
export function signedAgentRequest(ctx: ServerContext): MiddlewareHandler<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  return signedRequest({ ...ctx, resolveKey: ownAgentTokenKeys(ctx) }, ctx.ap.issuer, { accept: ['aa-agent+jwt'] });
}

const refused = (detail: string): AAuthError => new AAuthError('invalid_agent_token', { detail });

/**
 * Checks that the agent presenting a verified agent token may still act (AAuth -11 §Token Revocation: a revoked agent
 * token is denied from then on, §8.61): issued by this AP, its `jti` not revoked, the agent's enrolment of the signing
 * key active, a sub-agent's parent still active, and neither disabled in the registry. Returns the enrolment row;
 * throws `invalid_agent_token` otherwise.
 */
export async function checkAgentStanding(ctx: ServerContext, db: Executor, claims: AgentTokenClaims, jkt: string): Promise<ApAgent> {
  if (claims.iss !== ctx.ap.issuer) throw refused('the agent token was not issued by this agent provider');
  const revoked = await db.selectFrom('revocations').select('jti').where('iss', '=', claims.iss).where('jti', '=', claims.jti).executeTakeFirst();
  if (revoked) throw refused('the agent token has been revoked');
  const row = await db.selectFrom('ap_agents').selectAll().where('agent_id', '=', claims.sub).where('jkt', '=', jkt).executeTakeFirst();
  if (!row || row.status !== 'active') throw refused('the agent key is not actively enrolled');
  const parent = claims.parent_agent ?? null;
  if (parent !== row.parent_agent) throw refused('parent_agent does not match the enrolment');
  const ids = [claims.sub];
  if (parent !== null) {
    const active = await db.selectFrom('ap_agents').select('jkt').where('agent_id', '=', parent).where('status', '=', 'active').executeTakeFirst();
    if (!active) throw refused('the parent agent is no longer enrolled');
    ids.push(parent);
  }
  const disabled = await db.selectFrom('agents').select('id').where('id', 'in', ids).where('status', '=', 'disabled').executeTakeFirst();
  if (disabled) throw refused('the agent is disabled');
  return row;
}
