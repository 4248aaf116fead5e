/**
 * The auth token endpoint, `POST /token` (AAuth -11 §Auth Token Endpoint; digest §5, §6-D, §8.30–§8.35, §8.41):
 * three-party, where the resource token's `aud` is this PS, and four-party, where it is an Access Server: the same
 * checks and consent, then the PS federates (`federation.ts`: the AS issues, the PS verifies and relays; §8.36).
 *
 * Signed with an agent token, body `{resource_token, upstream_token?, subagent_token?, justification?, login_hint?,
 * tenant?, domain_hint?, prompt?, platform?, device?, capabilities?}`. The resource token is verified against the
 * person token record it names (`resource-token-check.ts`); the resource is admitted under the trust policy; then a
 * standing grant covering every requested scope (and an agent that does not require authorization each time, and no
 * `prompt=consent`) issues the auth token at once, else the person is asked (202, deferred).
 *
 * The auth token: `iss` = `ps` = this PS, `dwk` `aauth-person.json`, `aud` = the resource, `sub` = the directed
 * identifier of the person token, `scope` ⊆ the resource token's, `cnf` = the signer's key (the sub-agent's when a
 * parent mediates), ≤ 1 h, and never after the agent token or the person token it was obtained with (§8.35, §8.41).
 */
import { AAuthError, mintAuthTokenWithClaims, selectSignatureKey, type PublicJwk, type Signer } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { Deferred } from '../deferred/types.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import { findStandingGrant } from '../store/grants.js';
import type { Federation } from './federation.js';
import { fromJson, type Executor } from '../store/store.js';
import { issuance } from '../store/issued-jti.js';
import { prepared } from '../store/prepared.js';
import { admitCallingAgent, admitResource } from './agent-admission.js';
import { askThePerson, pendingAgentFields, standingGrantMayAnswer, type PendingAgentFields } from './consent-flow.js';
import { PS_PATHS } from './metadata.js';
import { capAtMission, requireActiveMission } from './missions.js';
import { missionOwner, type IssuedToken, type MintedToken } from './person-token-endpoint.js';
import { checkResourceToken } from './resource-token-check.js';
import { parseJsonBody, parseTokenRequestOptions } from './token-request.js';
import { chainedCaller, readUpstreamToken, upstreamPending, type UpstreamPending } from './upstream-token.js';

/** Auth tokens live at most one hour (AAuth §Auth Token Structure: MUST NOT exceed 1 hour). */
export const AUTH_TOKEN_TTL = 3600;

/** What the pending request of kind `auth_token` keeps (JSON in `pending_requests.request`). */
export type AuthTokenPendingRequest = PendingAgentFields & {
  /** The resource: the resource token's `iss`, the auth token's `aud`. */
  readonly resource: string;
  readonly resource_token_jti: string;
  readonly presented_jti: string;
  /** The person the presented person token was issued for. */
  readonly person_id: string;
  readonly sub: string;
  /** The scopes the person is asked to approve (⊆ the resource token's `scope`). */
  readonly scopes: readonly string[];
  readonly mission_s256?: string;
  readonly tenant?: string;
  readonly account?: string;
  /** Four-party: what the PS sends the Access Server once the person consents (tokens kept until the decision). */
  readonly federation?: FederationPending;
  /** Call chaining: the upstream authorization the request stands on (§8.64). */
  readonly upstream?: UpstreamPending;
};

/** The federated part of a pending `auth_token` request. */
export type FederationPending = {
  readonly access_server: string;
  readonly resource_token: string;
  readonly agent_token: string;
  readonly subagent_token?: string;
  /** Call chaining: the upstream token, passed on to the AS (§8.64). */
  readonly upstream_token?: string;
};

export interface AuthTokenIssue {
  readonly personId: string;
  readonly agentId: string;
  readonly cnfJwk: PublicJwk;
  readonly resource: string;
  readonly sub: string;
  readonly scopes: readonly string[];
  readonly notAfter: number;
  readonly missionS256?: string;
  readonly tenant?: string;
  readonly account?: string;
  readonly grantId?: string;
  readonly actor: string;
}

/** The issuance record of an auth token (compiled once: see store/prepared.ts). */
const insertIssuedAuthToken = prepared(
  8,
  (db, iss: string, jti: string, sub: string, agentId: string, aud: string, scope: string | null, personId: string, exp: number) =>
    db.insertInto('issued_tokens').values({ iss, jti, kind: 'auth_token', sub, agent_id: agentId, aud, scope, person_id: personId, exp, revoked_at: null }),
);

/**
 * Mints an auth token; no write. With the `profile` identity scope the person's `name` is added (AAuth §Scopes:
 * identity scopes bring their claims), read through `db`. Sign before opening the transaction that records the token
 * where the path allows it: the signer may answer from another thread (`createVerifyThreads`), and a transaction
 * waiting for it holds the store's write lock.
 */
export async function mintAuthTokenFor(ctx: ServerContext, signer: Signer, input: AuthTokenIssue, db: Executor = ctx.store.db): Promise<MintedToken> {
  const issue = issuance(ctx.now);
  const now = issue.now;
  if (input.notAfter <= now) throw new AAuthError('expired_agent_token', { detail: 'the agent token or person token this request was made with has expired' });
  let name: string | undefined;
  if (input.scopes.includes('profile')) {
    const person = await db.selectFrom('people').select('display_name').where('id', '=', input.personId).executeTakeFirst();
    name = person?.display_name;
  }
  const scope = input.scopes.join(' ');
  const { token, claims } = await mintAuthTokenWithClaims(
    signer,
    {
      iss: ctx.ps.issuer,
      jti: issue.jti,
      ps: ctx.ps.issuer,
      aud: input.resource,
      sub: input.sub,
      cnf: { jwk: input.cnfJwk },
      ...(scope.length === 0 ? {} : { scope }),
      ...(input.account === undefined ? {} : { account: input.account }),
      ...(input.missionS256 === undefined ? {} : { mission_s256: input.missionS256 }),
      ...(input.tenant === undefined ? {} : { tenant: input.tenant }),
      ...(name === undefined ? {} : { name }),
    },
    { now: issue.clock, ttl: AUTH_TOKEN_TTL, notAfter: input.notAfter },
  );
  return { token, jti: claims.jti, exp: claims.exp, now };
}

/** Records a minted auth token in `issued_tokens`, audited `token.issued`. Runs inside `db`'s transaction. */
export async function recordAuthToken(ctx: ServerContext, db: Executor, minted: MintedToken, input: AuthTokenIssue): Promise<IssuedToken> {
  const { jti, exp, token, now } = minted;
  const joined = input.scopes.join(' ');
  const scope = joined.length === 0 ? null : joined;
  await insertIssuedAuthToken(db, ctx.ps.issuer, jti, input.sub, input.agentId, input.resource, scope, input.personId, exp);
  await ctx.store.audit(
    {
      type: 'token.issued',
      actor: input.actor,
      agent: input.agentId,
      person: input.personId,
      resource: input.resource,
      scope,
      detail: { kind: 'auth_token', jti, exp, ...(input.grantId === undefined ? {} : { grant: input.grantId }) },
    },
    db,
  );
  return { jti, exp, token, expiresIn: exp - now };
}

/** Mints and records an auth token, all inside `db`'s transaction (where the transaction does more, e.g. a decision). */
export async function issueAuthToken(ctx: ServerContext, db: Executor, signer: Signer, input: AuthTokenIssue): Promise<IssuedToken> {
  return recordAuthToken(ctx, db, await mintAuthTokenFor(ctx, signer, input, db), input);
}

/**
 * The scopes the person is asked for: the resource token's, narrowed to the agent's `allowed_scopes` when the
 * registry sets any (AAuth §Scopes: the PS may narrow). Nothing left of a non-empty request → `invalid_request`.
 */
export function approvableScopes(requested: readonly string[], allowedScopesJson: string): string[] {
  const allowed = fromJson<unknown>(allowedScopesJson, []);
  if (!Array.isArray(allowed) || allowed.length === 0) return [...requested];
  const narrowed = requested.filter((s) => allowed.includes(s));
  if (requested.length > 0 && narrowed.length === 0) {
    throw new AAuthError('invalid_request', { detail: 'none of the requested scopes is allowed for this agent at this Person Server' });
  }
  return narrowed;
}

/** The agent token in the request's `Signature-Key` (the one the signature was verified with), as sent. */
function presentedAgentToken(header: string | undefined, label: string): string {
  const member = selectSignatureKey(header, label, { accept: ['jwt'] });
  if (member.scheme !== 'jwt') throw new AAuthError('invalid_request', { detail: 'the agent token is not in Signature-Key' });
  return member.jwt;
}

export function authTokenRoutes(ctx: ServerContext, deferred: Deferred, federation?: Federation): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post(PS_PATHS.authToken, signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] }), async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    if (body['resource_token'] === undefined || body['resource_token'] === null) throw new AAuthError('invalid_request', { detail: 'resource_token is required' });
    const options = parseTokenRequestOptions(body);
    const admitted = await admitCallingAgent(ctx, c.var.aauth, body['subagent_token']);
    // Call chaining (§8.64): the person is the upstream token's, and the auth token ends with it.
    const upstream = await readUpstreamToken(ctx, body, admitted);
    const caller = chainedCaller(admitted, upstream);
    const { claims, record, scopes: requested, accessServer } = await checkResourceToken(ctx, body['resource_token'], caller.agentJkt);
    if (accessServer !== undefined && federation === undefined) throw new AAuthError('invalid_resource_token', { detail: 'this Person Server does not federate with Access Servers' });
    const federated: FederationPending | undefined =
      accessServer === undefined
        ? undefined
        : {
            access_server: accessServer,
            resource_token: body['resource_token'] as string,
            agent_token: presentedAgentToken(c.req.header('signature-key'), c.var.aauth.label),
            ...(typeof body['subagent_token'] === 'string' ? { subagent_token: body['subagent_token'] } : {}),
            ...(upstream === undefined ? {} : { upstream_token: body['upstream_token'] as string }),
          };
    const resource = claims.iss;
    await admitResource(ctx, resource, 'invalid_resource_token', ctx.store.db, caller.trustPolicy);

    // The person token was issued to this agent, for this person (AAuth §Security: one person per agent).
    if (record.agent_id !== caller.agent.id) throw new AAuthError('invalid_resource_token', { detail: 'the person token it names was issued to another agent' });
    if (caller.personId !== null && caller.personId !== record.person_id) {
      throw new AAuthError('invalid_resource_token', {
        detail: upstream === undefined ? 'the person token it names was issued for another person than this agent is bound to' : "the person token it names was issued for another person than the upstream token's",
      });
    }
    const scopes = approvableScopes(requested, caller.agent.allowed_scopes);
    // AAuth §Mission: a resource token naming a mission is acted on only while that mission is active (a terminated
    // or expired mission answers 403 mission_terminated), and no token outlives the mission.
    const mission = claims.mission_s256 === undefined ? undefined : await requireActiveMission(ctx, claims.mission_s256, missionOwner(caller));
    const notAfter = capAtMission(Math.min(caller.notAfter, record.exp), mission);
    if (standingGrantMayAnswer(caller, options)) {
      const grant = await findStandingGrant(ctx.store.db, { agentId: caller.agent.id, personId: caller.personId, resource, kind: 'auth_token', scopes });
      if (grant && grant.person_id === record.person_id) {
        const signer = await ctx.keys.signer('ps');
        if (federated !== undefined && federation !== undefined) {
          const relayed = await federation.requestAuthToken(
            federatedRequest(federated, { resource, agentJkt: caller.agentJkt, sub: record.sub, scopes, notAfter, personId: record.person_id, agentId: caller.agent.id, actor: 'ps' }),
            ctx.store.db,
            signer,
          );
          return c.json(relayed, 200, { 'cache-control': 'no-store' });
        }
        const issue: AuthTokenIssue = {
          personId: record.person_id,
          agentId: caller.agent.id,
          cnfJwk: caller.cnfJwk,
          resource,
          sub: record.sub,
          scopes,
          notAfter,
          ...(claims.mission_s256 === undefined ? {} : { missionS256: claims.mission_s256 }),
          ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
          ...(claims.account === undefined ? {} : { account: claims.account }),
          grantId: grant.id,
          actor: 'ps',
        };
        // Signed before the transaction, so the transaction never waits on the signer (see mintAuthTokenFor).
        const minted = await mintAuthTokenFor(ctx, signer, issue);
        const issued = await ctx.store.transaction((trx) => recordAuthToken(ctx, trx, minted, issue));
        return c.json({ auth_token: issued.token, expires_in: issued.expiresIn }, 200, { 'cache-control': 'no-store' });
      }
    }
    const request: AuthTokenPendingRequest = {
      resource,
      resource_token_jti: claims.jti,
      presented_jti: claims.presented_jti,
      ...pendingAgentFields(caller, notAfter, options),
      person_id: record.person_id,
      sub: record.sub,
      scopes,
      ...(claims.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
      ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
      ...(claims.account === undefined ? {} : { account: claims.account }),
      ...(federated === undefined ? {} : { federation: federated }),
      ...(upstream === undefined ? {} : { upstream: upstreamPending(upstream) }),
    };
    return askThePerson(c, deferred, { kind: 'auth_token', caller, personId: record.person_id, options, request });
  });
  return app;
}

/** The federation request for a consented auth-token request. */
export function federatedRequest(
  pending: FederationPending,
  input: { resource: string; agentJkt: string; sub: string; scopes: readonly string[]; notAfter: number; personId: string; agentId: string; actor: string },
): Parameters<Federation['requestAuthToken']>[0] {
  return {
    accessServer: pending.access_server,
    resource: input.resource,
    resourceToken: pending.resource_token,
    agentToken: pending.agent_token,
    ...(pending.subagent_token === undefined ? {} : { subagentToken: pending.subagent_token }),
    ...(pending.upstream_token === undefined ? {} : { upstreamToken: pending.upstream_token }),
    agentJkt: input.agentJkt,
    sub: input.sub,
    scopes: input.scopes,
    notAfter: input.notAfter,
    personId: input.personId,
    agentId: input.agentId,
    actor: input.actor,
  };
}
