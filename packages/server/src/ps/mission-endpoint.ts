/**
 * The mission endpoint (AAuth -11 §Mission, §Mission Creation, §Mission Approval, §Mission Update, §Mission
 * Completion, §Mission Endpoint Errors; digest §5, §6-F, §8.53, §8.55–§8.58). Every request is signed with the
 * owning agent's agent token, covering `content-digest` and `content-type`.
 *
 * - `POST /mission` `{description, tools?, resources?}`: a proposal. The person decides on the consent page (pending
 *   kind `mission`, 202; clarification chat through the Deferred service). On approval the PS builds the mission
 *   blob, serializes it once, and answers `200 {s256, mission, person_tokens?}`: `mission` = b64url(blob bytes),
 *   `s256` = b64url(SHA-256(the same bytes)) (§8.53), and a person token carrying `mission_s256` for each approved
 *   resource the PS still admits. `capabilities` is omitted: this PS does not promise a channel to the person.
 * - `POST /mission/{s256}` `{action: "update", description}`: accepted by the PS on its own, appended to the mission
 *   log, answered `200 {s256}` with the digest of the update's persisted bytes; the blob and the mission's `s256`
 *   stay as they were (§8.58).
 * - `POST /mission/{s256}` `{action: "completion", summary}`: the person reviews the summary (202); accepting it
 *   terminates the mission with reason `completed` and the pending URL answers `200`.
 *
 * A malformed `{s256}` or a missing or unknown `action` is 400 `invalid_request` (§8.55); an unknown mission and
 * another agent's mission are the same 404 `mission_not_found` (§8.56); a terminated or expired mission is 403
 * `mission_terminated` with `mission_status` and `termination_reason` (§8.57).
 */
import { AAuthError, encodeMission, isS256, missionS256, parsePreferWait, parseServerIdentifier, type PublicJwk } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { ConsentView, Deferred, PendingHandler } from '../deferred/types.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import type { PendingRequest } from '../store/schema.js';
import { fromJson, type Executor } from '../store/store.js';
import { admitCallingAgent, admitResource, bindAgent, isRevoked } from './agent-admission.js';
import { PS_PATHS } from './metadata.js';
import {
  activeMission,
  appendMissionLog,
  capAtMission,
  epochOf,
  insertMission,
  isoOf,
  MISSION_TTL_SECONDS,
  requireActiveMission,
  terminateMission,
} from './missions.js';
import { issuePersonToken } from './person-token-endpoint.js';
import { parseJsonBody, requiredString } from './token-request.js';

/** Longest mission description, update description and completion summary (Markdown), in characters. */
export const MAX_MISSION_TEXT = 32 * 1024;
/** Most tools and resources a proposal may name. */
export const MAX_MISSION_TOOLS = 64;
export const MAX_MISSION_RESOURCES = 32;
const MAX_TOOL_NAME = 128;
const MAX_TOOL_DESCRIPTION = 1024;

/** A tool of a proposal (`tools`) and of the blob (`approved_tools`). */
export interface ProposedTool {
  readonly name: string;
  readonly description: string;
}

/** What a pending request of kind `mission` keeps: a proposal, or a completion to review. */
export type MissionPendingRequest =
  | {
      readonly operation: 'proposal';
      readonly agent_id: string;
      readonly agent_jkt: string;
      readonly cnf_jwk: PublicJwk;
      /** The agent token that signed the proposal: a revocation before the decision fails it. */
      readonly agent_token: { readonly iss: string; readonly jti: string };
      /** The agent token's `exp`: person tokens issued at approval never outlive it. */
      readonly not_after: number;
      readonly description: string;
      readonly tools?: readonly ProposedTool[];
      readonly resources?: readonly string[];
    }
  | {
      readonly operation: 'completion';
      readonly agent_id: string;
      readonly mission_s256: string;
      readonly summary: string;
    };

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });

/** `tools`: an array of `{name, description}` (§Mission Creation); only those two members are kept. */
function readTools(value: unknown): ProposedTool[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > MAX_MISSION_TOOLS) throw invalid(`tools must be an array of at most ${MAX_MISSION_TOOLS} {name, description}`);
  return value.map((tool: unknown) => {
    if (typeof tool !== 'object' || tool === null || Array.isArray(tool)) throw invalid('each tool must be an object {name, description}');
    const { name, description } = tool as Record<string, unknown>;
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TOOL_NAME) throw invalid(`a tool name must be 1 to ${MAX_TOOL_NAME} characters`);
    if (typeof description !== 'string' || description.length > MAX_TOOL_DESCRIPTION) throw invalid(`a tool description must be a string of at most ${MAX_TOOL_DESCRIPTION} characters`);
    return { name, description };
  });
}

/** `resources`: server identifiers (§Mission Creation: "conforming to the Server Identifier requirements"). */
function readResources(ctx: ServerContext, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > MAX_MISSION_RESOURCES) throw invalid(`resources must be an array of at most ${MAX_MISSION_RESOURCES} server identifiers`);
  const out: string[] = [];
  for (const resource of value as unknown[]) {
    if (typeof resource !== 'string') throw invalid('each resource must be a string');
    let identifier: string;
    try {
      identifier = parseServerIdentifier(resource, { allowLoopbackHttp: ctx.allowLoopbackHttp }).identifier;
    } catch {
      throw invalid('a resource is not a valid server identifier');
    }
    if (!out.includes(identifier)) out.push(identifier);
  }
  return out;
}

/** The agent as the consent page shows it (registry name, provider, description). */
export async function agentConsentView(ctx: ServerContext, agentId: string): Promise<ConsentView['agent']> {
  const agent = await ctx.store.db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirst();
  if (!agent) return { id: agentId, name: agentId, provider: '' };
  return { id: agent.id, name: agent.name, provider: agent.agent_provider, ...(agent.description === '' ? {} : { description: agent.description }) };
}

function readPending(pending: PendingRequest): MissionPendingRequest {
  const request = fromJson<Record<string, unknown> | null>(pending.request, null);
  const required = request?.['operation'] === 'proposal' ? ['agent_id', 'agent_jkt', 'cnf_jwk', 'agent_token', 'not_after', 'description'] : ['agent_id', 'mission_s256', 'summary'];
  if (request === null || typeof request !== 'object' || required.some((k) => request[k] === undefined)) {
    throw new AAuthError('server_error', { detail: 'the pending mission request is malformed' });
  }
  return request as MissionPendingRequest;
}

/**
 * The mission blob (§Mission Approval): `approver`, `agent`, `approved_at`, `description`, then `expires_at`,
 * `approved_tools`, `approved_resources` when there are any, serialized ONCE: the returned text is what is stored,
 * hashed and returned.
 */
export function missionBlobText(input: {
  approver: string;
  agent: string;
  approvedAt: number;
  description: string;
  expiresAt?: number;
  tools?: readonly ProposedTool[];
  resources?: readonly string[];
}): string {
  return JSON.stringify({
    approver: input.approver,
    agent: input.agent,
    approved_at: isoOf(input.approvedAt),
    description: input.description,
    ...(input.expiresAt === undefined ? {} : { expires_at: isoOf(input.expiresAt) }),
    ...(input.tools === undefined ? {} : { approved_tools: input.tools }),
    ...(input.resources === undefined ? {} : { approved_resources: input.resources }),
  });
}

/** Approving a proposal: bind the agent, store the blob, issue person tokens for its resources. */
async function approveProposal(
  ctx: ServerContext,
  request: Extract<MissionPendingRequest, { operation: 'proposal' }>,
  personId: string,
  trx: Executor,
): Promise<Record<string, unknown>> {
  if (await isRevoked(trx, request.agent_token.iss, request.agent_token.jti)) {
    throw new AAuthError('denied', { detail: 'the agent token this mission was proposed with has been revoked' });
  }
  await bindAgent(ctx, request.agent_id, personId, trx);
  const now = ctx.now();
  const expiresAt = Math.floor(now) + MISSION_TTL_SECONDS;
  // The person approved the resources the PS still admits; the others are left out of the blob.
  const resources: string[] = [];
  for (const resource of request.resources ?? []) {
    try {
      await admitResource(ctx, resource, 'denied', trx);
      resources.push(resource);
    } catch (error) {
      if (!(error instanceof AAuthError)) throw error;
    }
  }
  const text = missionBlobText({
    approver: ctx.ps.issuer,
    agent: request.agent_id,
    approvedAt: now,
    description: request.description,
    expiresAt,
    ...(request.tools === undefined ? {} : { tools: request.tools }),
    ...(request.resources === undefined ? {} : { resources }),
  });
  const bytes = new TextEncoder().encode(text);
  const s256 = await missionS256(bytes);
  const expiresEpoch = epochOf(isoOf(expiresAt));
  if (!(await insertMission(trx, { s256, agentId: request.agent_id, agentJkt: request.agent_jkt, personId, blob: text, expiresAt: expiresEpoch }, now))) {
    throw new AAuthError('invalid_request', { detail: 'an identical mission was approved at the same instant; propose it again' });
  }
  await ctx.store.audit(
    {
      type: 'mission.approved',
      actor: `person:${personId}`,
      agent: request.agent_id,
      person: personId,
      detail: { mission: s256, expires_at: expiresEpoch, tools: request.tools?.length ?? 0, resources },
    },
    trx,
  );

  // §Mission Approval `person_tokens`: one per approved resource, each carrying `mission_s256`. The PS MAY omit
  // one it declines to issue — here when the agent token it was proposed with has expired meanwhile.
  const personTokens: Record<string, string> = {};
  const notAfter = capAtMission(request.not_after, { expires_at: expiresEpoch });
  if (notAfter > Math.floor(ctx.now())) {
    const signer = await ctx.keys.signer('ps', trx);
    for (const resource of resources) {
      const issued = await issuePersonToken(ctx, trx, signer, {
        personId,
        agentId: request.agent_id,
        agentJkt: request.agent_jkt,
        cnfJwk: request.cnf_jwk,
        resource,
        notAfter,
        missionS256: s256,
        actor: `person:${personId}`,
      });
      personTokens[resource] = issued.token;
    }
  }
  return { s256, mission: encodeMission(bytes), ...(Object.keys(personTokens).length === 0 ? {} : { person_tokens: personTokens }) };
}

/** Accepting a completion: the mission ends with reason `completed` (§Mission Completion). */
async function approveCompletion(
  ctx: ServerContext,
  request: Extract<MissionPendingRequest, { operation: 'completion' }>,
  personId: string,
  trx: Executor,
): Promise<Record<string, unknown>> {
  const mission = await activeMission(ctx, trx, request.mission_s256, request.agent_id);
  if (mission.person_id !== personId) throw new AAuthError('denied', { detail: 'this mission was approved by another person' });
  await terminateMission(ctx, trx, mission, 'completed', `person:${personId}`);
  await appendMissionLog(ctx, trx, { missionS256: mission.s256, type: 'completion.accepted', actor: `person:${personId}`, entry: { action: 'completion', accepted_at: isoOf(ctx.now()) } });
  return { s256: mission.s256, mission_status: 'terminated', termination_reason: 'completed' };
}

/** Kind `mission`: "may this agent pursue this mission?" and "is this mission done?". */
export function missionPendingHandler(ctx: ServerContext): PendingHandler {
  return {
    async describe(pending) {
      const request = readPending(pending);
      const agent = await agentConsentView(ctx, request.agent_id);
      if (request.operation === 'proposal') {
        return {
          summary: `${agent.name} proposes a mission`,
          agent,
          // The description is Markdown from the agent: the page sanitizes it (AAuth §Terminology, Markdown).
          mission: { s256: '(assigned on approval)', description: request.description },
          scopes: [
            ...(request.tools ?? []).map((t) => ({ scope: t.name, description: t.description })),
            ...(request.resources ?? []).map((r) => ({ scope: r, description: 'act as you at this resource (person token)' })),
          ],
          allowAlways: false,
        };
      }
      const mission = await ctx.store.db.selectFrom('missions').select(['blob']).where('s256', '=', request.mission_s256).executeTakeFirst();
      return {
        summary: `${agent.name} reports its mission complete`,
        agent,
        scopes: [],
        // The summary is agent-asserted; shown as the agent's words.
        justification: request.summary,
        mission: { s256: request.mission_s256, description: mission === undefined ? '' : missionDescription(mission.blob) },
        allowAlways: false,
      };
    },
    async approve(pending, decision, trx) {
      const request = readPending(pending);
      return request.operation === 'proposal' ? approveProposal(ctx, request, decision.personId, trx) : approveCompletion(ctx, request, decision.personId, trx);
    },
  };
}

export function missionRoutes(ctx: ServerContext, deferred: Deferred): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  const signed = signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] });

  // §Mission Creation: a proposal; the person decides (202).
  app.post(PS_PATHS.mission, signed, async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const description = requiredString(body, 'description', MAX_MISSION_TEXT);
    const tools = readTools(body['tools']);
    const resources = readResources(ctx, body['resources']);
    // Missions are the signing agent's own: a sub-agent cannot propose one (admitCallingAgent refuses its token).
    const caller = await admitCallingAgent(ctx, c.var.aauth, undefined);
    for (const resource of resources ?? []) await admitResource(ctx, resource, 'invalid_request');
    const request: MissionPendingRequest = {
      operation: 'proposal',
      agent_id: caller.agent.id,
      agent_jkt: caller.agentJkt,
      cnf_jwk: caller.cnfJwk,
      agent_token: { iss: caller.signer.iss, jti: caller.signer.jti },
      not_after: caller.notAfter,
      description,
      ...(tools === undefined ? {} : { tools }),
      ...(resources === undefined ? {} : { resources }),
    };
    const created = await deferred.create({ kind: 'mission', agentId: caller.agent.id, agentJkt: caller.signerJkt, personId: caller.personId, request });
    return deferred.accepted(created, parsePreferWait(c.req.header('prefer')));
  });

  // §Mission Update and §Mission Completion, at the mission's own URL.
  app.post(`${PS_PATHS.mission}/:s256`, signed, async (c) => {
    const s256 = c.req.param('s256');
    // §8.55: a malformed s256 or a missing or unrecognized action → 400, before anything about the mission is read.
    if (!isS256(s256)) throw invalid('the mission reference is not a base64url SHA-256 digest');
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const action = body['action'];
    if (action !== 'update' && action !== 'completion') throw invalid('action must be "update" or "completion"');
    const text = action === 'update' ? requiredString(body, 'description', MAX_MISSION_TEXT) : requiredString(body, 'summary', MAX_MISSION_TEXT);
    const caller = await admitCallingAgent(ctx, c.var.aauth, undefined);
    // §8.56 / §8.57: one lookup naming both the mission and the agent; 404 alike for absent and not owned.
    const mission = await requireActiveMission(ctx, s256, caller.agent.id);

    if (action === 'update') {
      const update = await ctx.store.transaction(async (trx) => {
        await activeMission(ctx, trx, mission.s256, caller.agent.id);
        const entry = { mission_s256: mission.s256, action: 'update', description: text, accepted_at: isoOf(ctx.now()) };
        const logged = await appendMissionLog(ctx, trx, { missionS256: mission.s256, type: 'update', actor: caller.agent.id, entry, digest: true });
        await ctx.store.audit({ type: 'mission.updated', actor: caller.agent.id, agent: caller.agent.id, person: mission.person_id, detail: { mission: mission.s256, update: logged.s256 } }, trx);
        return logged;
      });
      return c.json({ s256: update.s256 }, 200, { 'cache-control': 'no-store' });
    }

    const request: MissionPendingRequest = { operation: 'completion', agent_id: caller.agent.id, mission_s256: mission.s256, summary: text };
    await ctx.store.transaction(async (trx) => {
      await appendMissionLog(ctx, trx, { missionS256: mission.s256, type: 'completion.proposed', actor: caller.agent.id, entry: { action: 'completion', summary: text, proposed_at: isoOf(ctx.now()) } });
    });
    const created = await deferred.create({ kind: 'mission', agentId: caller.agent.id, agentJkt: caller.signerJkt, personId: mission.person_id, request });
    return deferred.accepted(created, parsePreferWait(c.req.header('prefer')));
  });
  return app;
}

/** Reads `description` of a stored blob (for views); the blob text is never re-serialized. */
export function missionDescription(blob: string): string {
  const value = fromJson<{ description?: unknown }>(blob, {}).description;
  return typeof value === 'string' ? value : '';
}
