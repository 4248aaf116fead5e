/**
 * Who may use this Person Server: the trust policy (`registry/trust-policy.ts`), the agent and resource registries,
 * revoked agent tokens, and the agent-person binding (AAuth -11 §Security Considerations: the PS binds each agent to
 * exactly one person).
 *
 * - Trust policy `open` (default): any agent provider and resource is admitted, with the person's consent.
 *   `allowlist`: only the listed agent-provider issuers and resource identifiers.
 * - An agent seen for the first time is entered in the registry (`name` = its identifier, `agent_provider` = the
 *   agent token's `iss`, unbound). A disabled agent, or an agent token from another provider than the registry row
 *   names, is refused like an untrusted one: 400 `invalid_agent_token`.
 * - A disabled or untrusted resource: 400 `invalid_resource_token` at the auth token endpoint (the caller passes its
 *   own code at the person token endpoint, where no resource token exists).
 * - A revoked agent token (AAuth §Token Revocation: "The PS MUST deny subsequent requests presenting that agent
 *   token"): 401 `Signature-Error: invalid_jwt`, since the token in `Signature-Key` is what failed.
 */
import {
  AAuthError,
  jwkThumbprint,
  tokenProblemCode,
  verifyToken,
  type AgentTokenClaims,
  type ProblemErrorCode,
  type PublicJwk,
  type VerifiedAAuthRequest,
} from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Agent, Resource } from '../store/schema.js';
import { isAgentProviderTrusted, isResourceTrusted, readTrustPolicy, type TrustPolicy } from '../registry/trust-policy.js';
import type { Executor } from '../store/store.js';
import { prepared } from '../store/prepared.js';

/**
 * The agent's registry row after admission: trusted provider, active, same provider as registered. An agent seen
 * for the first time is registered (in its own transaction, audited `agent.registered`); call it outside a
 * transaction.
 */
export async function admitAgent(ctx: ServerContext, claims: Pick<AgentTokenClaims, 'iss' | 'sub'>, policy?: TrustPolicy): Promise<Agent> {
  const db = ctx.store.db;
  policy ??= await readTrustPolicy(db);
  if (!isAgentProviderTrusted(policy, claims.iss)) {
    throw new AAuthError('invalid_agent_token', { detail: 'the agent provider is not trusted by this Person Server' });
  }
  let agent = (await selectAgent(db, claims.sub))[0];
  if (!agent) {
    const now = Math.floor(ctx.now());
    await ctx.store.transaction(async (trx) => {
      const r = await trx
        .insertInto('agents')
        .values({
          id: claims.sub,
          name: claims.sub,
          description: '',
          agent_provider: claims.iss,
          jwks_uri: null,
          jwks: null,
          allowed_scopes: '[]',
          requires_authorization: 0,
          delegation_allowed: 0,
          status: 'active',
          person_id: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      if (Number(r.numInsertedOrUpdatedRows ?? 0n) > 0) {
        await ctx.store.audit({ type: 'agent.registered', actor: 'ps', agent: claims.sub, detail: { agent_provider: claims.iss } }, trx);
      }
    });
    agent = await db.selectFrom('agents').selectAll().where('id', '=', claims.sub).executeTakeFirstOrThrow();
  }
  if (agent.agent_provider !== claims.iss) {
    throw new AAuthError('invalid_agent_token', { detail: 'this agent is registered with another agent provider' });
  }
  if (agent.status !== 'active') throw new AAuthError('invalid_agent_token', { detail: 'this agent is disabled at this Person Server' });
  return agent;
}

/**
 * Admits a resource under the trust policy and the resource registry; returns its registry row when there is one.
 * `code` is the error to refuse with (`invalid_resource_token` at the auth token endpoint). `policy`: the one this
 * request already read (`CallingAgent.trustPolicy`), so a token request reads it once.
 */
export async function admitResource(ctx: ServerContext, resource: string, code: ProblemErrorCode, db: Executor = ctx.store.db, policy?: TrustPolicy): Promise<Resource | undefined> {
  policy ??= await readTrustPolicy(db);
  if (!isResourceTrusted(policy, resource)) {
    throw new AAuthError(code, { detail: 'the resource is not trusted by this Person Server' });
  }
  const row = (await selectResource(db, resource))[0];
  if (row && row.status !== 'active') throw new AAuthError(code, { detail: 'the resource is disabled at this Person Server' });
  return row;
}

// The admission queries of every token request, compiled once (see store/prepared.ts).
const selectAgent = prepared(1, (db, id: string) => db.selectFrom('agents').selectAll().where('id', '=', id), { cached: true });
const selectResource = prepared(1, (db, id: string) => db.selectFrom('resources').selectAll().where('id', '=', id), { cached: true });
const selectRevocation = prepared(2, (db, iss: string, jti: string) => db.selectFrom('revocations').select('jti').where('iss', '=', iss).where('jti', '=', jti), {
  cached: true,
});
const selectRevocationsOfTwo = prepared(4, (db, iss1: string, jti1: string, iss2: string, jti2: string) =>
  db
    .selectFrom('revocations')
    .select(['iss', 'jti'])
    .where((eb) => eb.or([eb.and([eb('iss', '=', iss1), eb('jti', '=', jti1)]), eb.and([eb('iss', '=', iss2), eb('jti', '=', jti2)])])),
);

/** True when `(iss, jti)` of the presented agent token is revoked (AAuth §Token Revocation; §8.61). */
export async function isRevoked(db: Executor, iss: string, jti: string): Promise<boolean> {
  return (await selectRevocation(db, iss, jti)).length > 0;
}

/**
 * Which of two tokens are revoked, in one query (the auth token endpoint checks a resource token and the person token
 * it names together). Answers `iss + "\n" + jti` keys.
 */
export async function revokedOfTwo(db: Executor, a: readonly [iss: string, jti: string], b: readonly [iss: string, jti: string]): Promise<ReadonlySet<string>> {
  const rows = await selectRevocationsOfTwo(db, a[0], a[1], b[0], b[1]);
  return new Set(rows.map((r) => `${r.iss}\n${r.jti}`));
}

/** Refuses a revoked agent token presented in `Signature-Key`: 401 `Signature-Error: invalid_jwt`. */
export async function refuseRevokedAgentToken(db: Executor, claims: Pick<AgentTokenClaims, 'iss' | 'jti'>): Promise<void> {
  if (await isRevoked(db, claims.iss, claims.jti)) throw new AAuthError('invalid_jwt', { detail: 'the agent token has been revoked' });
}

/**
 * The agent-person binding (AAuth §Security Considerations): an unbound agent is bound by its first approval; a
 * bound agent may be approved for only by its person. Runs in the approval's transaction. Throws `denied`.
 */
export async function bindAgent(ctx: ServerContext, agentId: string, personId: string, db: Executor): Promise<void> {
  const agent = await db.selectFrom('agents').select(['person_id', 'status']).where('id', '=', agentId).executeTakeFirst();
  if (!agent) throw new AAuthError('denied', { detail: 'the agent is no longer registered' });
  if (agent.status !== 'active') throw new AAuthError('denied', { detail: 'the agent is disabled' });
  if (agent.person_id === personId) return;
  if (agent.person_id !== null) throw new AAuthError('denied', { detail: 'this agent is bound to another person' });
  const r = await db
    .updateTable('agents')
    .set({ person_id: personId, updated_at: Math.floor(ctx.now()) })
    .where('id', '=', agentId)
    .where('person_id', 'is', null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw new AAuthError('denied', { detail: 'this agent is bound to another person' });
  await ctx.store.audit({ type: 'agent.bound', actor: `person:${personId}`, agent: agentId, person: personId }, db);
}

/** The agent a token request is for, after admission. */
export interface CallingAgent {
  /** The agent token in `Signature-Key`. */
  readonly signer: AgentTokenClaims;
  /** Thumbprint of the request's signing key: polls of a pending request must be signed by it. */
  readonly signerJkt: string;
  /** Registry row of the agent the issued token is for: the sub-agent when a parent mediates (digest §6-H). */
  readonly agent: Agent;
  /** Registry row of the signing parent when a parent mediates for a sub-agent. */
  readonly parent?: Agent;
  /** The key the issued token is bound to (`cnf.jwk`): the signer's, or the sub-agent's (§8.34). */
  readonly cnfJwk: PublicJwk;
  /** RFC 7638 thumbprint of `cnfJwk`: what a resource token's `agent_jkt` must name. */
  readonly agentJkt: string;
  /** No token issued for this request outlives the agent token(s) it derives from (AAuth §Person Token Structure; §8.41). */
  readonly notAfter: number;
  /** The person the agent is bound to, when it is. */
  readonly personId: string | null;
  /** The trust policy this request was admitted under (read once per request, also for `admitResource`). */
  readonly trustPolicy: TrustPolicy;
}

/**
 * Admits the agent behind a token request: refuses a signer whose agent token carries `parent_agent` (a sub-agent
 * asks through its parent; §8.33) or is revoked, applies the trust policy and registry, and with a `subagent_token`
 * verifies it as an agent token whose `parent_agent` is the signer and whose provider is the signer's (AAuth
 * §Sub-Agents; §8.34): the issued token is then bound to the sub-agent's key. A bad `subagent_token` is
 * `invalid_agent_token` / `expired_agent_token` (the -11 tables define no sub-agent codes).
 */
export async function admitCallingAgent(ctx: ServerContext, aauth: VerifiedAAuthRequest<'aa-agent+jwt'>, subagentToken: unknown): Promise<CallingAgent> {
  const db = ctx.store.db;
  const signer = aauth.token.claims;
  if (signer.parent_agent !== undefined) {
    throw new AAuthError('invalid_agent_token', { detail: 'a sub-agent token cannot sign requests to the Person Server; the parent sends it as subagent_token' });
  }
  await refuseRevokedAgentToken(db, signer);
  const trustPolicy = await readTrustPolicy(db);
  const signerRow = await admitAgent(ctx, signer, trustPolicy);
  if (subagentToken === undefined || subagentToken === null) {
    return { signer, signerJkt: aauth.jkt, agent: signerRow, cnfJwk: signer.cnf.jwk, agentJkt: aauth.jkt, notAfter: signer.exp, personId: signerRow.person_id, trustPolicy };
  }
  if (typeof subagentToken !== 'string' || subagentToken.length === 0) throw new AAuthError('invalid_request', { detail: 'subagent_token must be a string' });
  let sub: AgentTokenClaims;
  try {
    const verified = await verifyToken(subagentToken, { accept: ['aa-agent+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, keyCache: ctx.keyCache });
    sub = verified.claims;
  } catch (error) {
    const detail = error instanceof AAuthError && error.detail !== undefined ? `subagent_token: ${error.detail}` : 'subagent_token does not verify';
    throw new AAuthError(tokenProblemCode('aa-agent+jwt', error), { detail, cause: error });
  }
  if (sub.parent_agent !== signer.sub) throw new AAuthError('invalid_agent_token', { detail: 'subagent_token: parent_agent does not name the signing agent' });
  if (sub.iss !== signer.iss) throw new AAuthError('invalid_agent_token', { detail: "subagent_token: issued by another agent provider than the parent's" });
  if (await isRevoked(db, sub.iss, sub.jti)) throw new AAuthError('invalid_agent_token', { detail: 'subagent_token has been revoked' });
  const subRow = await admitAgent(ctx, sub, trustPolicy);
  if (subRow.person_id !== null && signerRow.person_id !== null && subRow.person_id !== signerRow.person_id) {
    throw new AAuthError('invalid_agent_token', { detail: 'the sub-agent is bound to another person than its parent' });
  }
  return {
    signer,
    signerJkt: aauth.jkt,
    agent: subRow,
    parent: signerRow,
    cnfJwk: sub.cnf.jwk,
    agentJkt: await jwkThumbprint(sub.cnf.jwk),
    notAfter: Math.min(signer.exp, sub.exp),
    personId: subRow.person_id ?? signerRow.person_id,
    trustPolicy,
  };
}
