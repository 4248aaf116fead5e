/**
 * The audit endpoint, `POST /audit` (AAuth -11 §Audit Endpoint; digest §5, §8.59): the agent records an action it
 * performed, within a mission — "there is no audit outside a mission context".
 *
 * Body `{mission_s256 (REQUIRED), action (REQUIRED), description?, parameters?, result?}`, signed with the agent
 * token. The record goes to the mission log (with its parameters and result) and to the PS audit log as
 * `mission.audit` (action only: parameters may hold anything). Answers `201 Created` with no body. A missing
 * `mission_s256` is 400; an unknown or foreign mission 404 `mission_not_found`; a terminated one 403
 * `mission_terminated` (§Mission Status Errors).
 */
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import { admitCallingAgent } from './agent-admission.js';
import { PS_PATHS } from './metadata.js';
import { appendMissionLog, readMissionS256, requireActiveMission } from './missions.js';
import { optionalObject, readGovernanceAction } from './permission-endpoint.js';
import { parseJsonBody } from './token-request.js';

export function auditRoutes(ctx: ServerContext): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post(PS_PATHS.audit, signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] }), async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const missionS256 = readMissionS256(body, true) as string;
    const action = readGovernanceAction(body);
    const result = optionalObject(body, 'result');
    const caller = await admitCallingAgent(ctx, c.var.aauth, undefined);
    const mission = await requireActiveMission(ctx, missionS256, caller.agent.id);
    await ctx.store.transaction(async (trx) => {
      await appendMissionLog(ctx, trx, {
        missionS256: mission.s256,
        type: 'audit',
        actor: caller.agent.id,
        entry: { ...action, ...(result === undefined ? {} : { result }) },
      });
      await ctx.store.audit({ type: 'mission.audit', actor: caller.agent.id, agent: caller.agent.id, person: mission.person_id, detail: { mission: mission.s256, action: action.action } }, trx);
    });
    return c.body(null, 201, { 'cache-control': 'no-store' });
  });
  return app;
}
