/**
 * The permission endpoint, `POST /permission` (AAuth -11 §Permission Endpoint; digest §5, §8.59): the agent asks the
 * PS before an action no remote resource governs (a tool call, a file write, a message sent for the person).
 *
 * Body `{action, description?, parameters?, mission_s256?}`, signed with the agent token. With or without a mission:
 * - `mission_s256` names an active mission of this agent whose `approved_tools` lists `action` → `200 {permission:
 *   "granted"}` at once (the person pre-approved it);
 * - otherwise the person decides (202, pending kind `permission`): approving answers the pending URL with
 *   `200 {permission: "granted"}`. A person's refusal reaches the agent as the polling error `denied` (403), which
 *   the Deferred service answers for every kind — the agent MUST NOT proceed either way.
 * A terminated mission is 403 `mission_terminated`; an unknown or foreign one 404 `mission_not_found`. Every request
 * and decision is audited (`permission.requested`, `permission.granted`) and, within a mission, logged in it.
 */
import { AAuthError, parsePreferWait } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { Deferred, PendingHandler } from '../deferred/types.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import type { Mission } from '../store/schema.js';
import { fromJson, type Executor } from '../store/store.js';
import { admitCallingAgent, bindAgent, isRevoked } from './agent-admission.js';
import { PS_PATHS } from './metadata.js';
import { agentConsentView } from './mission-endpoint.js';
import { activeMission, appendMissionLog, readMissionS256, requireActiveMission } from './missions.js';
import { MAX_JUSTIFICATION_LENGTH, optionalString, parseJsonBody, requiredString } from './token-request.js';

/** Longest `action` name. */
export const MAX_ACTION_LENGTH = 256;

/** What a pending request of kind `permission` keeps. */
export type PermissionPendingRequest = {
  readonly agent_id: string;
  readonly agent_token: { readonly iss: string; readonly jti: string };
  readonly action: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly mission_s256?: string;
};

/** A governance request's action and what comes with it (shared by the permission and audit endpoints). */
export interface GovernanceAction {
  readonly action: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** `parameters` / `result`: absent or a JSON object (AAuth §Permission Request, §Audit Request). */
export function optionalObject(body: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new AAuthError('invalid_request', { detail: `${name} must be a JSON object` });
  return value as Record<string, unknown>;
}

/** Reads `action` (REQUIRED), `description` (Markdown) and `parameters`. */
export function readGovernanceAction(body: Record<string, unknown>): GovernanceAction {
  const action = requiredString(body, 'action', MAX_ACTION_LENGTH);
  const description = optionalString(body, 'description', MAX_JUSTIFICATION_LENGTH);
  const parameters = optionalObject(body, 'parameters');
  return { action, ...(description === undefined ? {} : { description }), ...(parameters === undefined ? {} : { parameters }) };
}

/** True when the mission blob's `approved_tools` names `action` (AAuth §Mission Approval; recorded, not enforced). */
export function toolApproved(mission: Mission, action: string): boolean {
  const tools = fromJson<{ approved_tools?: unknown }>(mission.blob, {}).approved_tools;
  return Array.isArray(tools) && tools.some((t: unknown) => typeof t === 'object' && t !== null && (t as Record<string, unknown>)['name'] === action);
}

/** Records a granted permission: audit `permission.granted` and, within a mission, its log. */
async function recordGrant(ctx: ServerContext, db: Executor, input: { agentId: string; personId: string | null; actor: string; action: GovernanceAction; missionS256?: string; by: 'mission' | 'person' }): Promise<void> {
  await ctx.store.audit(
    {
      type: 'permission.granted',
      actor: input.actor,
      agent: input.agentId,
      person: input.personId,
      detail: { action: input.action.action, by: input.by, ...(input.missionS256 === undefined ? {} : { mission: input.missionS256 }) },
    },
    db,
  );
  if (input.missionS256 !== undefined) {
    await appendMissionLog(ctx, db, {
      missionS256: input.missionS256,
      type: 'permission',
      actor: input.actor,
      entry: { action: input.action.action, ...(input.action.description === undefined ? {} : { description: input.action.description }), ...(input.action.parameters === undefined ? {} : { parameters: input.action.parameters }), permission: 'granted', by: input.by },
    });
  }
}

function readPending(request: string): PermissionPendingRequest {
  const value = fromJson<Record<string, unknown> | null>(request, null);
  if (value === null || typeof value !== 'object' || typeof value['agent_id'] !== 'string' || typeof value['action'] !== 'string' || value['agent_token'] === undefined) {
    throw new AAuthError('server_error', { detail: 'the pending permission request is malformed' });
  }
  return value as PermissionPendingRequest;
}

/** Kind `permission`: "may this agent do this?". */
export function permissionPendingHandler(ctx: ServerContext): PendingHandler {
  return {
    async describe(pending) {
      const request = readPending(pending.request);
      const agent = await agentConsentView(ctx, request.agent_id);
      const mission = request.mission_s256 === undefined ? undefined : await ctx.store.db.selectFrom('missions').select(['s256', 'blob']).where('s256', '=', request.mission_s256).executeTakeFirst();
      const missionDescription = fromJson<{ description?: unknown }>(mission?.blob ?? null, {}).description;
      const parameters = request.parameters === undefined ? [] : Object.entries(request.parameters).map(([k, v]) => ({ scope: k, description: typeof v === 'string' ? v : JSON.stringify(v) }));
      return {
        summary: `${agent.name} asks to perform ${request.action}`,
        agent,
        // The action's parameters, as the agent gave them.
        scopes: parameters,
        ...(request.description === undefined ? {} : { justification: request.description }),
        ...(mission === undefined ? {} : { mission: { s256: mission.s256, description: typeof missionDescription === 'string' ? missionDescription : '' } }),
        allowAlways: false,
      };
    },
    async approve(pending, decision, trx) {
      const request = readPending(pending.request);
      if (await isRevoked(trx, request.agent_token.iss, request.agent_token.jti)) {
        throw new AAuthError('denied', { detail: 'the agent token this request was made with has been revoked' });
      }
      await bindAgent(ctx, request.agent_id, decision.personId, trx);
      if (request.mission_s256 !== undefined) {
        const mission = await activeMission(ctx, trx, request.mission_s256, request.agent_id);
        if (mission.person_id !== decision.personId) throw new AAuthError('denied', { detail: 'the mission was approved by another person' });
      }
      const action: GovernanceAction = {
        action: request.action,
        ...(request.description === undefined ? {} : { description: request.description }),
        ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
      };
      await recordGrant(ctx, trx, {
        agentId: request.agent_id,
        personId: decision.personId,
        actor: `person:${decision.personId}`,
        action,
        by: 'person',
        ...(request.mission_s256 === undefined ? {} : { missionS256: request.mission_s256 }),
      });
      return { permission: 'granted' };
    },
  };
}

export function permissionRoutes(ctx: ServerContext, deferred: Deferred): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post(PS_PATHS.permission, signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] }), async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const action = readGovernanceAction(body);
    const missionS256 = readMissionS256(body);
    const caller = await admitCallingAgent(ctx, c.var.aauth, undefined);
    const mission = missionS256 === undefined ? undefined : await requireActiveMission(ctx, missionS256, caller.agent.id);
    await ctx.store.audit({
      type: 'permission.requested',
      actor: caller.agent.id,
      agent: caller.agent.id,
      person: caller.personId,
      detail: { action: action.action, ...(mission === undefined ? {} : { mission: mission.s256 }) },
    });

    if (mission !== undefined && toolApproved(mission, action.action)) {
      await ctx.store.transaction((trx) =>
        recordGrant(ctx, trx, { agentId: caller.agent.id, personId: mission.person_id, actor: 'ps', action, missionS256: mission.s256, by: 'mission' }),
      );
      return c.json({ permission: 'granted' }, 200, { 'cache-control': 'no-store' });
    }

    const request: PermissionPendingRequest = {
      agent_id: caller.agent.id,
      agent_token: { iss: caller.signer.iss, jti: caller.signer.jti },
      ...action,
      ...(mission === undefined ? {} : { mission_s256: mission.s256 }),
    };
    const created = await deferred.create({
      kind: 'permission',
      agentId: caller.agent.id,
      agentJkt: caller.signerJkt,
      personId: mission?.person_id ?? caller.personId,
      request,
    });
    return deferred.accepted(created, parsePreferWait(c.req.header('prefer')));
  });
  return app;
}
