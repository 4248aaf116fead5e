/**
 * The PS's `PendingHandler`s (AAuth -11 §Deferred Responses, §Consent Presentation): what the person sees for a
 * pending person-token or auth-token request, and what approving it does — inside the decision's transaction: bind
 * the agent to the approving person (AAuth §Security Considerations: one person per agent), create the standing
 * grant when the person approves always (unless the agent requires authorization every time), then mint and record
 * the token. Tokens are minted at approval, so their lifetime starts when the person decides.
 */
import { AAuthError, type Signer } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { ApprovalDecision, ConsentView, PendingHandler } from '../deferred/types.js';
import { createGrant } from '../store/grants.js';
import type { PendingRequest, Resource } from '../store/schema.js';
import { fromJson, type Executor } from '../store/store.js';
import { admitResource, bindAgent, isRevoked } from './agent-admission.js';
import { federatedRequest, issueAuthToken, type AuthTokenPendingRequest } from './auth-token-endpoint.js';
import type { FederatedToken, Federation } from './federation.js';

const isFederatedToken = (value: unknown): value is FederatedToken =>
  typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)['auth_token'] === 'string';
import { activeMission, capAtMission } from './missions.js';
import { issuePersonToken, type PersonTokenPendingRequest } from './person-token-endpoint.js';
import type { UpstreamPending } from './upstream-token.js';

function readRequest<T>(pending: PendingRequest, required: readonly string[]): T {
  const request = fromJson<Record<string, unknown> | null>(pending.request, null);
  if (request === null || typeof request !== 'object' || required.some((k) => request[k] === undefined)) {
    throw new AAuthError('server_error', { detail: 'the pending request is malformed' });
  }
  return request as T;
}

async function agentView(ctx: ServerContext, agentId: string): Promise<{ view: ConsentView['agent']; allowAlways: boolean }> {
  const agent = await ctx.store.db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirst();
  if (!agent) return { view: { id: agentId, name: agentId, provider: '' }, allowAlways: false };
  return {
    view: { id: agent.id, name: agent.name, provider: agent.agent_provider, ...(agent.description === '' ? {} : { description: agent.description }) },
    allowAlways: agent.requires_authorization === 0,
  };
}

/** The resource as the registry knows it, else by its identifier (its metadata is not fetched here). */
async function resourceRow(ctx: ServerContext, resource: string): Promise<Resource | undefined> {
  return ctx.store.db.selectFrom('resources').selectAll().where('id', '=', resource).executeTakeFirst();
}

function resourceView(id: string, row: Resource | undefined): NonNullable<ConsentView['resource']> {
  if (!row) return { id, name: id };
  return {
    id,
    name: row.name,
    ...(row.logo_uri === null ? {} : { logoUri: row.logo_uri }),
    ...(row.description === '' ? {} : { description: row.description }),
  };
}

/** Scope descriptions from the registry row's `scopes` (`[{scope, description}]`), else the scope itself. */
function scopeViews(scopes: readonly string[], row: Resource | undefined): ConsentView['scopes'] {
  const known = new Map<string, string>();
  const entries = fromJson<unknown>(row?.scopes ?? null, []);
  for (const entry of Array.isArray(entries) ? (entries as unknown[]) : []) {
    if (typeof entry === 'object' && entry !== null) {
      const { scope, description } = entry as Record<string, unknown>;
      if (typeof scope === 'string' && typeof description === 'string') known.set(scope, description);
    }
  }
  return scopes.map((scope) => ({ scope, description: known.get(scope) ?? scope }));
}

async function allowAlwaysFor(ctx: ServerContext, agentIds: readonly string[], db: Executor): Promise<boolean> {
  for (const id of agentIds) {
    const agent = await db.selectFrom('agents').select('requires_authorization').where('id', '=', id).executeTakeFirst();
    if (!agent || agent.requires_authorization === 1) return false;
  }
  return true;
}

/** Checks that what the request depends on still holds at the decision: agent token not revoked, resource admitted. */
async function stillAdmissible(ctx: ServerContext, request: { agent_token?: { iss: string; jti: string }; resource: string }, db: Executor): Promise<void> {
  if (request.agent_token !== undefined && (await isRevoked(db, request.agent_token.iss, request.agent_token.jti))) {
    throw new AAuthError('denied', { detail: 'the agent token this request was made with has been revoked' });
  }
  try {
    await admitResource(ctx, request.resource, 'denied', db);
  } catch (error) {
    if (error instanceof AAuthError) throw new AAuthError('denied', { detail: error.detail ?? 'the resource is no longer admitted' });
    throw error;
  }
}

/**
 * Binds the agent (and its signing parent) to the approving person. A chained request (`upstream`, §8.64) binds
 * nothing: the intermediary acts for whoever its upstream token names, and only that person may decide.
 */
async function bindAll(ctx: ServerContext, request: { agent_id: string; parent_agent_id?: string; upstream?: UpstreamPending }, personId: string, db: Executor): Promise<void> {
  if (request.upstream !== undefined) {
    if (request.upstream.person_id !== personId) throw new AAuthError('denied', { detail: 'this chained request is for another person' });
    if (await isRevoked(db, request.upstream.iss, request.upstream.jti)) throw new AAuthError('denied', { detail: 'the upstream token has been revoked' });
    return;
  }
  if (request.parent_agent_id !== undefined) await bindAgent(ctx, request.parent_agent_id, personId, db);
  await bindAgent(ctx, request.agent_id, personId, db);
}

async function grantIfAlways(
  ctx: ServerContext,
  decision: ApprovalDecision,
  grant: { agentId: string; parentAgentId?: string; resource: string; kind: 'person_token' | 'auth_token'; scopes: readonly string[] },
  db: Executor,
): Promise<string | undefined> {
  const agents = grant.parentAgentId === undefined ? [grant.agentId] : [grant.parentAgentId, grant.agentId];
  if (!decision.always || !(await allowAlwaysFor(ctx, agents, db))) return undefined;
  const row = await createGrant(db, { personId: decision.personId, agentId: grant.agentId, resource: grant.resource, kind: grant.kind, scopes: grant.scopes }, ctx.now());
  await ctx.store.audit(
    {
      type: 'grant.created',
      actor: `person:${decision.personId}`,
      agent: grant.agentId,
      person: decision.personId,
      resource: grant.resource,
      scope: grant.scopes.length === 0 ? null : grant.scopes.join(' '),
      detail: { grant: row.id, kind: grant.kind },
    },
    db,
  );
  return row.id;
}

/** Kind `person_token`: "may this agent act at this resource as you?" (AAuth §Person Token Endpoint). */
export function personTokenPendingHandler(ctx: ServerContext): PendingHandler {
  return {
    async describe(pending) {
      const request = readRequest<PersonTokenPendingRequest>(pending, ['resource', 'agent_id']);
      const agent = await agentView(ctx, request.agent_id);
      const parent = request.parent_agent_id === undefined ? undefined : await agentView(ctx, request.parent_agent_id);
      const resource = resourceView(request.resource, await resourceRow(ctx, request.resource));
      const via = parent === undefined ? '' : ` (through ${parent.view.name})`;
      const mission = request.mission_s256 === undefined ? undefined : await ctx.store.db.selectFrom('missions').select(['s256', 'blob']).where('s256', '=', request.mission_s256).executeTakeFirst();
      const missionDescription = fromJson<{ description?: unknown }>(mission?.blob ?? null, {}).description;
      return {
        summary: `${agent.view.name}${via} wants to act as you at ${resource.name}`,
        agent: agent.view,
        resource,
        scopes: [],
        ...(request.justification === undefined ? {} : { justification: request.justification }),
        ...(mission === undefined ? {} : { mission: { s256: mission.s256, description: typeof missionDescription === 'string' ? missionDescription : '' } }),
        allowAlways: agent.allowAlways && (parent?.allowAlways ?? true),
      };
    },
    async approve(pending, decision, trx) {
      const request = readRequest<PersonTokenPendingRequest>(pending, ['resource', 'agent_id', 'agent_jkt', 'cnf_jwk', 'not_after']);
      await stillAdmissible(ctx, request, trx);
      await bindAll(ctx, request, decision.personId, trx);
      // §8.18: the mission is still active and the approving person's (it may have ended while the person decided).
      const mission = request.mission_s256 === undefined ? undefined : await activeMission(ctx, trx, request.mission_s256, request.parent_agent_id ?? request.agent_id);
      if (mission !== undefined && mission.person_id !== decision.personId) throw new AAuthError('denied', { detail: 'the mission was approved by another person' });
      const grantId = await grantIfAlways(
        ctx,
        decision,
        { agentId: request.agent_id, ...(request.parent_agent_id === undefined ? {} : { parentAgentId: request.parent_agent_id }), resource: request.resource, kind: 'person_token', scopes: [] },
        trx,
      );
      const issued = await issuePersonToken(ctx, trx, await ctx.keys.signer('ps', trx), {
        personId: decision.personId,
        agentId: request.agent_id,
        agentJkt: request.agent_jkt,
        cnfJwk: request.cnf_jwk,
        resource: request.resource,
        notAfter: capAtMission(request.not_after, mission),
        ...(mission === undefined ? {} : { missionS256: mission.s256 }),
        ...(grantId === undefined ? {} : { grantId }),
        actor: `person:${decision.personId}`,
      });
      return { person_token: issued.token, expires_in: issued.expiresIn };
    },
  };
}

/**
 * Kind `auth_token`: "may this agent have these scopes at this resource?" (AAuth §Auth Token Endpoint). Four-party
 * (`request.federation`): on approval the PS federates with the Access Server inside the decision (`federation.ts`).
 */
export function authTokenPendingHandler(ctx: ServerContext, federation?: Federation): PendingHandler {
  const federate = (request: AuthTokenPendingRequest, decision: ApprovalDecision, db: Executor, signer: Signer): Promise<FederatedToken> => {
    if (federation === undefined || request.federation === undefined) throw new AAuthError('server_error', { detail: 'this Person Server does not federate with Access Servers' });
    return federation.requestAuthToken(
      federatedRequest(request.federation, {
        resource: request.resource,
        agentJkt: request.agent_jkt,
        sub: request.sub,
        scopes: request.scopes,
        notAfter: request.not_after,
        personId: decision.personId,
        agentId: request.agent_id,
        actor: `person:${decision.personId}`,
      }),
      db,
      signer,
    );
  };
  return {
    async describe(pending) {
      const request = readRequest<AuthTokenPendingRequest>(pending, ['resource', 'agent_id', 'scopes']);
      const agent = await agentView(ctx, request.agent_id);
      const parent = request.parent_agent_id === undefined ? undefined : await agentView(ctx, request.parent_agent_id);
      const row = await resourceRow(ctx, request.resource);
      const resource = resourceView(request.resource, row);
      const scopes = scopeViews(request.scopes, row);
      const via = parent === undefined ? '' : ` (through ${parent.view.name})`;
      const what = scopes.length === 0 ? 'access' : scopes.map((s) => s.description).join(', ');
      return {
        summary: `${agent.view.name}${via} wants ${what} at ${resource.name}`,
        agent: agent.view,
        resource,
        scopes,
        ...(request.justification === undefined ? {} : { justification: request.justification }),
        allowAlways: agent.allowAlways && (parent?.allowAlways ?? true),
      };
    },
    /**
     * Four-party: the Access Server is called when the person approves, before the decision's transaction — it calls
     * back for this PS's JWKS, which a SQLite transaction would block (AAuth §PS-AS Federation).
     */
    async prepare(pending, decision) {
      const request = readRequest<AuthTokenPendingRequest>(pending, ['resource', 'agent_id', 'cnf_jwk', 'not_after', 'person_id', 'sub', 'scopes']);
      if (request.federation === undefined) return undefined;
      if (decision.personId !== request.person_id) throw new AAuthError('denied', { detail: 'this request is for another person' });
      await stillAdmissible(ctx, request, ctx.store.db);
      return federate(request, decision, ctx.store.db, await ctx.keys.signer('ps'));
    },
    async approve(pending, decision, trx, prepared) {
      const request = readRequest<AuthTokenPendingRequest>(pending, ['resource', 'agent_id', 'cnf_jwk', 'not_after', 'person_id', 'sub', 'scopes']);
      // The directed `sub` is the person-token person's: nobody else can approve this request.
      if (decision.personId !== request.person_id) throw new AAuthError('denied', { detail: 'this request is for another person' });
      await stillAdmissible(ctx, request, trx);
      await bindAll(ctx, request, decision.personId, trx);
      const grantId = await grantIfAlways(
        ctx,
        decision,
        {
          agentId: request.agent_id,
          ...(request.parent_agent_id === undefined ? {} : { parentAgentId: request.parent_agent_id }),
          resource: request.resource,
          kind: 'auth_token',
          scopes: request.scopes,
        },
        trx,
      );
      if (request.federation !== undefined) {
        // Federated in `prepare`, outside this transaction; a Deferred without `prepare` federates here.
        if (isFederatedToken(prepared)) return { ...prepared };
        return { ...(await federate(request, decision, trx, await ctx.keys.signer('ps', trx))) };
      }
      const issued = await issueAuthToken(ctx, trx, await ctx.keys.signer('ps', trx), {
        personId: decision.personId,
        agentId: request.agent_id,
        cnfJwk: request.cnf_jwk,
        resource: request.resource,
        sub: request.sub,
        scopes: request.scopes,
        notAfter: request.not_after,
        ...(request.mission_s256 === undefined ? {} : { missionS256: request.mission_s256 }),
        ...(request.tenant === undefined ? {} : { tenant: request.tenant }),
        ...(request.account === undefined ? {} : { account: request.account }),
        ...(grantId === undefined ? {} : { grantId }),
        actor: `person:${decision.personId}`,
      });
      return { auth_token: issued.token, expires_in: issued.expiresIn };
    },
  };
}
