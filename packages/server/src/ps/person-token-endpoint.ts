/**
 * The person token endpoint, `POST /person-token` (AAuth -11 §Person Token Endpoint; digest §5, §8.18, §8.19, §8.41).
 *
 * Signed with an agent token (covering `content-digest` and `content-type`), body `{resource, mission_s256?,
 * subagent_token?, upstream_token?}` plus the shared OPTIONAL parameters (`upstream_token`: call chaining, see
 * `upstream-token.ts`). With a standing person-token grant for
 * (agent, resource), and an agent that does not require authorization each time, the person token is issued at
 * once (200 `{person_token, expires_in}`); otherwise the person is asked (202, deferred). The token names the
 * resource as `aud`, carries the directed `sub` and the request signer's key (or the sub-agent's) as `cnf`, no
 * `scope` or `account`, and expires within an hour and never after the agent token.
 */
import { AAuthError, mintPersonTokenWithClaims, parseServerIdentifier, type PublicJwk, type Signer } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { Deferred } from '../deferred/types.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import { issuance } from '../store/issued-jti.js';
import { findStandingGrant } from '../store/grants.js';
import type { Executor } from '../store/store.js';
import { admitCallingAgent, admitResource, type CallingAgent } from './agent-admission.js';
import { askThePerson, pendingAgentFields, standingGrantMayAnswer, type PendingAgentFields } from './consent-flow.js';
import { directedSubject } from './directed-subject.js';
import { PS_PATHS } from './metadata.js';
import { appendMissionLog, capAtMission, readMissionS256, requireActiveMission } from './missions.js';
import { parseJsonBody, parseTokenRequestOptions } from './token-request.js';
import { chainedCaller, readUpstreamToken, upstreamPending, type UpstreamPending } from './upstream-token.js';

/** Person tokens live at most one hour (AAuth §Person Token Structure: MUST NOT exceed 1 hour). */
export const PERSON_TOKEN_TTL = 3600;
/**
 * How long a person-token record outlives the token: at least the longest resource-token lifetime (5 min), so a
 * resource token naming it in `presented_jti` can still be redeemed (AAuth §Person Token Endpoint, Retention).
 */
export const PERSON_TOKEN_RETENTION = 3600;

/** What the pending request of kind `person_token` keeps (JSON in `pending_requests.request`). */
export type PersonTokenPendingRequest = PendingAgentFields & {
  readonly resource: string;
  /** The mission the request named, checked again at the decision (AAuth §Person Token Endpoint; §8.18). */
  readonly mission_s256?: string;
  /** Call chaining: the upstream authorization the request stands on; only its person may decide (§8.64). */
  readonly upstream?: UpstreamPending;
};

export interface PersonTokenIssue {
  readonly personId: string;
  readonly agentId: string;
  readonly agentJkt: string;
  readonly cnfJwk: PublicJwk;
  readonly resource: string;
  readonly notAfter: number;
  readonly missionS256?: string;
  /** The standing grant it was issued under, for the audit trail. */
  readonly grantId?: string;
  readonly actor: string;
}

/** A token minted and not yet recorded. */
export interface MintedToken {
  readonly token: string;
  readonly jti: string;
  readonly exp: number;
  /** When it was minted (epoch seconds), for `expires_in`. */
  readonly now: number;
}

/** A person token minted and not yet recorded, with the directed `sub` it carries. */
export type MintedPersonToken = MintedToken & { readonly sub: string };

export interface IssuedToken {
  readonly jti: string;
  readonly exp: number;
  readonly token: string;
  readonly expiresIn: number;
}

/**
 * Mints a person token; no write. Sign before opening the transaction that records the token where the path allows
 * it: the signer may answer from another thread, and a transaction waiting for it holds the store's write lock.
 */
export async function mintPersonTokenFor(ctx: ServerContext, signer: Signer, input: PersonTokenIssue, db: Executor = ctx.store.db): Promise<MintedPersonToken> {
  const issue = issuance(ctx.now);
  const now = issue.now;
  // AAuth §Person Token Structure: never later than the agent token presented when it was requested.
  if (input.notAfter <= now) throw new AAuthError('expired_agent_token', { detail: 'the agent token this request was made with has expired' });
  const sub = await directedSubject(ctx, input.personId, input.resource, db);
  const { token, claims } = await mintPersonTokenWithClaims(
    signer,
    {
      iss: ctx.ps.issuer,
      jti: issue.jti,
      aud: input.resource,
      sub,
      cnf: { jwk: input.cnfJwk },
      ...(input.missionS256 === undefined ? {} : { mission_s256: input.missionS256 }),
    },
    { now: issue.clock, ttl: PERSON_TOKEN_TTL, notAfter: input.notAfter },
  );
  return { token, jti: claims.jti, exp: claims.exp, now, sub };
}

/** Mints and records a person token, all inside `db`'s transaction (where the transaction does more, e.g. a decision). */
export async function issuePersonToken(ctx: ServerContext, db: Executor, signer: Signer, input: PersonTokenIssue): Promise<IssuedToken> {
  return recordPersonToken(ctx, db, await mintPersonTokenFor(ctx, signer, input, db), input);
}

/**
 * Records a minted person token (`person_token_records` until `exp` + retention, `issued_tokens`), audited
 * `token.issued`. Runs inside `db`'s transaction.
 */
export async function recordPersonToken(ctx: ServerContext, db: Executor, minted: MintedPersonToken, input: PersonTokenIssue): Promise<IssuedToken> {
  const { token, jti, exp, now, sub } = minted;
  await db
    .insertInto('person_token_records')
    .values({
      jti,
      ps: ctx.ps.issuer,
      sub,
      resource: input.resource,
      agent_id: input.agentId,
      agent_jkt: input.agentJkt,
      person_id: input.personId,
      mission_s256: input.missionS256 ?? null,
      tenant: null,
      exp,
      retain_until: exp + PERSON_TOKEN_RETENTION,
    })
    .execute();
  await db
    .insertInto('issued_tokens')
    .values({ iss: ctx.ps.issuer, jti, kind: 'person_token', sub, agent_id: input.agentId, aud: input.resource, scope: null, person_id: input.personId, exp, revoked_at: null })
    .execute();
  await ctx.store.audit(
    {
      type: 'token.issued',
      actor: input.actor,
      agent: input.agentId,
      person: input.personId,
      resource: input.resource,
      detail: {
        kind: 'person_token',
        jti,
        exp,
        ...(input.grantId === undefined ? {} : { grant: input.grantId }),
        ...(input.missionS256 === undefined ? {} : { mission: input.missionS256 }),
      },
    },
    db,
  );
  // AAuth §Mission Log: token requests within a mission are part of its log.
  if (input.missionS256 !== undefined) {
    await appendMissionLog(ctx, db, { missionS256: input.missionS256, type: 'token.person', actor: input.actor, entry: { resource: input.resource, jti, exp } });
  }
  return { jti, exp, token, expiresIn: exp - now };
}

/** `resource`: REQUIRED, a server identifier (AAuth §Person Token Endpoint: "The PS MUST validate it"; §8.18). */
function readResource(ctx: ServerContext, body: Record<string, unknown>): string {
  const resource = body['resource'];
  if (resource === undefined || resource === null) throw new AAuthError('invalid_request', { detail: 'resource is required' });
  if (typeof resource !== 'string') throw new AAuthError('invalid_request', { detail: 'resource must be a string' });
  try {
    return parseServerIdentifier(resource, { allowLoopbackHttp: ctx.allowLoopbackHttp }).identifier;
  } catch (error) {
    throw new AAuthError('invalid_request', { detail: 'resource is not a valid server identifier', cause: error });
  }
}

/**
 * The agent whose missions a token request may name: the signing agent — the parent, when it asks for a sub-agent
 * (sub-agents work under their parent's consent and missions, AAuth §Sub-Agents).
 */
export function missionOwner(caller: Pick<CallingAgent, 'agent' | 'parent'>): string {
  return caller.parent?.id ?? caller.agent.id;
}

export function personTokenRoutes(ctx: ServerContext, deferred: Deferred): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post(PS_PATHS.personToken, signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] }), async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const resource = readResource(ctx, body);
    // `mission_s256`: malformed → 400 (§Person Token Endpoint); the mission must exist, be active and belong to this
    // agent (§8.18): 404 `mission_not_found` alike for unknown and foreign, 403 `mission_terminated` for inactive.
    const missionS256 = readMissionS256(body);
    const options = parseTokenRequestOptions(body);
    const admitted = await admitCallingAgent(ctx, c.var.aauth, body['subagent_token']);
    // Call chaining (§8.64): with `upstream_token` the person is the upstream token's, and the token ends with it.
    const upstream = await readUpstreamToken(ctx, body, admitted);
    const caller = chainedCaller(admitted, upstream);
    await admitResource(ctx, resource, 'invalid_request', ctx.store.db, caller.trustPolicy);
    const mission = missionS256 === undefined ? undefined : await requireActiveMission(ctx, missionS256, missionOwner(caller));
    // §Person Token Structure: never past the mission's `expires_at`.
    const notAfter = capAtMission(caller.notAfter, mission);

    if (standingGrantMayAnswer(caller, options)) {
      const grant = await findStandingGrant(ctx.store.db, { agentId: caller.agent.id, personId: caller.personId, resource, kind: 'person_token' });
      if (grant && grant.person_id === caller.personId && (mission === undefined || mission.person_id === caller.personId)) {
        const personId = caller.personId;
        const signer = await ctx.keys.signer('ps');
        const issue: PersonTokenIssue = {
          personId,
          agentId: caller.agent.id,
          agentJkt: caller.agentJkt,
          cnfJwk: caller.cnfJwk,
          resource,
          notAfter,
          ...(mission === undefined ? {} : { missionS256: mission.s256 }),
          grantId: grant.id,
          actor: 'ps',
        };
        // Signed before the transaction, so the transaction never waits on the signer (see mintPersonTokenFor).
        const minted = await mintPersonTokenFor(ctx, signer, issue);
        const issued = await ctx.store.transaction((trx) => recordPersonToken(ctx, trx, minted, issue));
        return c.json({ person_token: issued.token, expires_in: issued.expiresIn }, 200, { 'cache-control': 'no-store' });
      }
    }
    const request: PersonTokenPendingRequest = {
      resource,
      ...pendingAgentFields(caller, notAfter, options),
      ...(mission === undefined ? {} : { mission_s256: mission.s256 }),
      ...(upstream === undefined ? {} : { upstream: upstreamPending(upstream) }),
    };
    return askThePerson(c, deferred, { kind: 'person_token', caller, personId: caller.personId, options, request });
  });
  return app;
}
