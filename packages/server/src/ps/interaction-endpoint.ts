/**
 * The interaction endpoint, `POST /relay` (the PS metadata's `interaction_endpoint`; AAuth -11 §Interaction Endpoint,
 * §Relaying Through the Person Server; digest §5, §6 B, §8.50, §8.59): the agent's channel to its person through the
 * Person Server. Signed with the agent token, like every PS endpoint; a sub-agent's token is refused (it asks through
 * its parent).
 *
 * Body `{type, description?, url?, code?, max_wait?, question?, mission_s256?}`:
 * - `type` REQUIRED, one of `interaction`, `payment`, `question`; anything else → 400 `invalid_request`.
 * - `interaction` / `payment`: `url` REQUIRED, https (loopback http only in development), no userinfo, query or
 *   fragment (§Interaction Required, §8.46); `code` REQUIRED for `interaction` (optional for `payment`), of the
 *   interaction-code syntax a server may emit (§Interaction Code Format). The person sees the relay on their account
 *   page and in the approver API (`GET /api/pending`): which agent asks, the resource's host, the agent's
 *   description, the code, and a link that opens `{url}?code={code}`. The answer is a 202 whose `Location` reports
 *   only that the relay reached the person: `interacting` when they open it, then `200 {"status":"relayed"}`; the
 *   resource's own pending URL stays authoritative (§Interaction Response). `max_wait` (seconds, capped at
 *   {@link MAX_RELAY_SECONDS}) bounds how long the relay is held; it then ends with `expired`.
 * - `question`: `question` REQUIRED (Markdown). The person answers on their account page or through the approver API;
 *   the pending URL then answers `200 {"answer": …}`; a person who dismisses it → polling error `denied`.
 *
 * When the PS has no channel to the person — the agent is bound to no person, the person has neither a live web
 * session nor a personal API token (an approver app), the resource is not admitted by the trust policy, or too many of
 * this agent's relays are open — it answers `424 interaction_unavailable` (non-terminal: the agent directs the person
 * itself) for `interaction` and `payment`, and `403 user_unreachable` (terminal) for a question, which the agent cannot
 * put to the person itself. A `mission_s256` must name an active mission of this agent (404 `mission_not_found`,
 * 403 `mission_terminated`); requests and outcomes are audited (`interaction.requested`, `interaction.unavailable`,
 * `interaction.relayed`, `interaction.answered`) and, within a mission, kept in its log. The interaction code is
 * never written to the audit log or the mission log.
 */
import { AAuthError, isAAuthError, isEmittableInteractionCode, parsePreferWait, validateEndpointUrl } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { ConsentView, Deferred, PendingHandler } from '../deferred/types.js';
import { signedRequest, type SignedRequestVariables } from '../http/signed-request.js';
import type { PendingRequest } from '../store/schema.js';
import { fromJson, toJson, type Executor } from '../store/store.js';
import { admitCallingAgent, admitResource, isRevoked } from './agent-admission.js';
import { PS_PATHS } from './metadata.js';
import { agentConsentView } from './mission-endpoint.js';
import { appendMissionLog, readMissionS256, requireActiveMission } from './missions.js';
import { MAX_JUSTIFICATION_LENGTH, optionalString, parseJsonBody, requiredString } from './token-request.js';

/** The pending kind of a relay. */
export const RELAY_KIND = 'interaction';
/** The request types of the interaction endpoint (§Interaction Request). */
export const RELAY_TYPES = ['interaction', 'payment', 'question'] as const;
export type RelayType = (typeof RELAY_TYPES)[number];
/** Longest hold of a relay (`max_wait` is capped here); without `max_wait` a relay lives as long as any pending request. */
export const MAX_RELAY_SECONDS = 3600;
/** Open relays (pending or interacting) one agent may have; beyond that the PS does not relay. */
export const MAX_OPEN_RELAYS_PER_AGENT = 10;
/** Longest question and answer (Markdown). */
export const MAX_QUESTION_LENGTH = 4096;
export const MAX_ANSWER_LENGTH = 10_000;
/** Longest interaction URL accepted. */
const MAX_URL_LENGTH = 2048;

/** What a pending request of kind `interaction` keeps. */
export type RelayPendingRequest = {
  readonly agent_id: string;
  readonly agent_token: { readonly iss: string; readonly jti: string };
  readonly type: RelayType;
  readonly url?: string;
  readonly code?: string;
  /** Markdown from the agent (agent-asserted: sanitize before rendering). */
  readonly description?: string;
  readonly question?: string;
  readonly mission_s256?: string;
  /** The person's answer to a question, recorded just before the request is approved. */
  readonly answer?: string;
};

/** A relay as the person's account page and the approver API show it. */
export interface RelayView {
  readonly id: string;
  readonly type: RelayType;
  readonly status: 'pending' | 'interacting';
  readonly agent: ConsentView['agent'];
  readonly url?: string;
  /** The host the person is sent to (`url`'s host). */
  readonly host?: string;
  readonly code?: string;
  /** `{url}?code={code}`: what the person opens (AAuth -11 §Relaying Through the Person Server). */
  readonly link?: string;
  readonly description?: string;
  readonly question?: string;
  readonly mission_s256?: string;
  readonly created_at: number;
  readonly expires_at: number;
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });
const LIVE: readonly PendingRequest['status'][] = ['pending', 'interacting'];

/** `{url}?code={code}` (or `url` alone for a payment without a code). */
export function relayLink(url: string, code: string | undefined): string {
  return code === undefined ? url : `${url}?code=${encodeURIComponent(code)}`;
}

/** The validated body of an interaction request. */
export interface RelayInput {
  readonly type: RelayType;
  readonly url?: string;
  readonly code?: string;
  readonly description?: string;
  readonly question?: string;
  readonly maxWait?: number;
  readonly missionS256?: string;
}

/**
 * Reads and checks the body (§Interaction Request). `url`: https (or loopback http when `allowLoopbackHttp`), no
 * userinfo, query or fragment (§8.46); `code`: Crockford base32, at least 8 symbols, optional grouping hyphens
 * (§Interaction Code Format); `max_wait`: a positive integer. Members that do not apply to the type are ignored.
 */
export function readRelayInput(body: Record<string, unknown>, options: { readonly allowLoopbackHttp: boolean }): RelayInput {
  const type = body['type'];
  if (type === undefined || type === null) throw invalid('type is required');
  if (typeof type !== 'string' || !(RELAY_TYPES as readonly string[]).includes(type)) throw invalid('type must be "interaction", "payment" or "question"');
  const relayType = type as RelayType;
  const description = optionalString(body, 'description', MAX_JUSTIFICATION_LENGTH);
  const missionS256 = readMissionS256(body);
  const common = { type: relayType, ...(description === undefined ? {} : { description }), ...(missionS256 === undefined ? {} : { missionS256 }) };
  if (relayType === 'question') {
    const question = requiredString(body, 'question', MAX_QUESTION_LENGTH);
    if (question.trim().length === 0) throw invalid('question must not be blank');
    return { ...common, question };
  }
  const url = requiredString(body, 'url', MAX_URL_LENGTH);
  try {
    validateEndpointUrl(url, { allowLoopbackHttp: options.allowLoopbackHttp });
  } catch {
    throw invalid('url must be an https URL without userinfo, query or fragment');
  }
  const code = relayType === 'interaction' ? requiredString(body, 'code', 256) : optionalString(body, 'code', 256);
  if (code !== undefined && !isEmittableInteractionCode(code)) throw invalid('code must be at least 8 Crockford base32 symbols (hyphens allowed)');
  const maxWait = body['max_wait'];
  if (maxWait !== undefined && maxWait !== null && (typeof maxWait !== 'number' || !Number.isSafeInteger(maxWait) || maxWait < 1)) {
    throw invalid('max_wait must be a positive integer (seconds)');
  }
  return { ...common, url, ...(code === undefined ? {} : { code }), ...(typeof maxWait === 'number' ? { maxWait: Math.min(maxWait, MAX_RELAY_SECONDS) } : {}) };
}

/**
 * Whether the PS has a channel to the person (AAuth -11 §Interaction Endpoint: "an active session, a registered
 * app"): a live web session on the PS's pages, or a personal API token for the approver API.
 */
export async function personReachable(ctx: ServerContext, personId: string, db: Executor = ctx.store.db): Promise<boolean> {
  const session = await db.selectFrom('web_sessions').select('id_hash').where('person_id', '=', personId).where('expires_at', '>', Math.floor(ctx.now())).executeTakeFirst();
  if (session !== undefined) return true;
  const token = await db.selectFrom('person_api_tokens').select('token_hash').where('person_id', '=', personId).where('revoked_at', 'is', null).executeTakeFirst();
  return token !== undefined;
}

function readPending(request: string): RelayPendingRequest {
  const value = fromJson<Record<string, unknown> | null>(request, null);
  if (value === null || typeof value !== 'object' || typeof value['agent_id'] !== 'string' || !(RELAY_TYPES as readonly unknown[]).includes(value['type'])) {
    throw new AAuthError('server_error', { detail: 'the pending interaction request is malformed' });
  }
  return value as RelayPendingRequest;
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** The view of one relay. */
export async function relayView(ctx: ServerContext, pending: PendingRequest): Promise<RelayView> {
  const request = readPending(pending.request);
  const host = hostOf(request.url);
  return {
    id: pending.id,
    type: request.type,
    status: pending.status === 'interacting' ? 'interacting' : 'pending',
    agent: await agentConsentView(ctx, request.agent_id),
    ...(request.url === undefined ? {} : { url: request.url, link: relayLink(request.url, request.code) }),
    ...(host === undefined ? {} : { host }),
    ...(request.code === undefined ? {} : { code: request.code }),
    ...(request.description === undefined ? {} : { description: request.description }),
    ...(request.question === undefined ? {} : { question: request.question }),
    ...(request.mission_s256 === undefined ? {} : { mission_s256: request.mission_s256 }),
    created_at: pending.created_at,
    expires_at: pending.expires_at,
  };
}

/** The open relays addressed to a person, oldest first. */
export async function listRelays(ctx: ServerContext, personId: string): Promise<RelayView[]> {
  const rows = await ctx.store.db
    .selectFrom('pending_requests')
    .selectAll()
    .where('kind', '=', RELAY_KIND)
    .where('person_id', '=', personId)
    .where('status', 'in', LIVE)
    .where('expires_at', '>', ctx.now())
    .orderBy('created_at', 'asc')
    .execute();
  return Promise.all(rows.map((row) => relayView(ctx, row)));
}

/**
 * A live relay of `personId`, or an `AAuthError`: `invalid_request` for an unknown id or another kind (and, alike,
 * another person's relay, so an id is no oracle), `invalid_code` when already decided, `expired` past its lifetime.
 */
export async function openRelay(ctx: ServerContext, deferred: Deferred, id: string, personId: string): Promise<{ pending: PendingRequest; request: RelayPendingRequest }> {
  const pending = await deferred.get(id);
  if (pending === undefined || pending.kind !== RELAY_KIND || pending.person_id !== personId) throw invalid('no such relayed request');
  if (!LIVE.includes(pending.status)) throw new AAuthError('invalid_code', { detail: `the request is already ${pending.status}` });
  if (pending.expires_at <= ctx.now()) throw new AAuthError('expired', { detail: 'the request expired' });
  return { pending, request: readPending(pending.request) };
}

/**
 * The person follows a relayed `interaction` or `payment`: the relay is marked `interacting`, then approved (the PS
 * has done all it can, §Interaction Response), and the link to open is returned. A question → `invalid_request`.
 */
export async function followRelay(ctx: ServerContext, deferred: Deferred, id: string, personId: string): Promise<string> {
  const { pending, request } = await openRelay(ctx, deferred, id, personId);
  if (request.type === 'question' || request.url === undefined) throw invalid('a question is answered, not followed');
  await deferred.interacting(pending.id, personId);
  await deferred.approve(pending.id, { personId, always: false });
  return relayLink(request.url, request.code);
}

/**
 * The person answers a relayed question (§Interaction Response: `200 {answer}`). The answer is recorded on the
 * request only while it is still live and unanswered (compare-and-set on the stored request), then the request is
 * approved and its pending URL answers `{answer}`. `invalid_request` for a blank or too long answer or a relay that
 * is not a question; `invalid_code` when another answer came first.
 */
export async function answerQuestion(ctx: ServerContext, deferred: Deferred, id: string, personId: string, answer: unknown): Promise<PendingRequest> {
  if (typeof answer !== 'string' || answer.trim().length === 0 || answer.length > MAX_ANSWER_LENGTH) {
    throw invalid(`the answer is 1 to ${MAX_ANSWER_LENGTH} characters`);
  }
  const { pending, request } = await openRelay(ctx, deferred, id, personId);
  if (request.type !== 'question') throw invalid('only a question takes an answer');
  const updated = await ctx.store.db
    .updateTable('pending_requests')
    .set({ request: toJson({ ...request, answer }), updated_at: Math.floor(ctx.now()) })
    .where('id', '=', pending.id)
    .where('request', '=', pending.request)
    .where('status', 'in', LIVE)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) throw new AAuthError('invalid_code', { detail: 'the question was already answered' });
  return deferred.approve(pending.id, { personId, always: false });
}

/** Kind `interaction`: a relay to the person (interaction, payment) or a question for them. */
export function relayPendingHandler(ctx: ServerContext): PendingHandler {
  return {
    async describe(pending) {
      const request = readPending(pending.request);
      const agent = await agentConsentView(ctx, request.agent_id);
      const host = hostOf(request.url);
      const summary =
        request.type === 'question'
          ? `${agent.name} asks you a question`
          : request.type === 'payment'
            ? `${agent.name} asks you to approve a payment at ${host ?? 'another site'}`
            : `${agent.name} asks you to continue at ${host ?? 'another site'}`;
      const text = request.type === 'question' ? request.question : request.description;
      return {
        summary,
        agent,
        ...(request.url === undefined || host === undefined ? {} : { resource: { id: new URL(request.url).origin, name: host } }),
        scopes: [],
        ...(text === undefined ? {} : { justification: text }),
        allowAlways: false,
      };
    },
    async approve(pending, decision, trx) {
      const request = readPending(pending.request);
      if (await isRevoked(trx, request.agent_token.iss, request.agent_token.jti)) {
        throw new AAuthError('denied', { detail: 'the agent token this request was made with has been revoked' });
      }
      const answered = request.type === 'question';
      if (answered && typeof request.answer !== 'string') throw invalid('a question is approved with an answer');
      const host = hostOf(request.url);
      await ctx.store.audit(
        {
          type: answered ? 'interaction.answered' : 'interaction.relayed',
          actor: `person:${decision.personId}`,
          agent: request.agent_id,
          person: decision.personId,
          requestId: pending.id,
          detail: { type: request.type, ...(host === undefined ? {} : { host }), ...(request.mission_s256 === undefined ? {} : { mission: request.mission_s256 }) },
        },
        trx,
      );
      if (request.mission_s256 !== undefined) {
        await appendMissionLog(ctx, trx, {
          missionS256: request.mission_s256,
          type: 'interaction',
          actor: `person:${decision.personId}`,
          entry: answered ? { type: 'question', question: request.question, answer: request.answer } : { type: request.type, outcome: 'relayed', ...(request.url === undefined ? {} : { url: request.url }) },
        });
      }
      return answered ? { answer: request.answer } : { status: 'relayed' };
    },
  };
}

/** `POST /relay` (the metadata's `interaction_endpoint`). */
export function interactionRoutes(ctx: ServerContext, deferred: Deferred): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post(PS_PATHS.interaction, signedRequest(ctx, ctx.ps.issuer, { accept: ['aa-agent+jwt'] }), async (c) => {
    const body = parseJsonBody(c.var.body, c.req.header('content-type'));
    const input = readRelayInput(body, { allowLoopbackHttp: ctx.allowLoopbackHttp });
    const caller = await admitCallingAgent(ctx, c.var.aauth, undefined);
    const mission = input.missionS256 === undefined ? undefined : await requireActiveMission(ctx, input.missionS256, caller.agent.id);
    const personId = mission?.person_id ?? caller.personId;
    const host = hostOf(input.url);
    await ctx.store.audit({
      type: 'interaction.requested',
      actor: caller.agent.id,
      agent: caller.agent.id,
      person: personId,
      detail: { type: input.type, ...(host === undefined ? {} : { host }), ...(mission === undefined ? {} : { mission: mission.s256 }) },
    });

    /** §Interaction Endpoint Errors: 424 (non-terminal) for a relay, 403 `user_unreachable` (terminal) for a question. */
    const unavailable = async (reason: string, detail: string): Promise<never> => {
      await ctx.store.audit({ type: 'interaction.unavailable', actor: 'ps', agent: caller.agent.id, person: personId, detail: { type: input.type, reason } });
      throw new AAuthError(input.type === 'question' ? 'user_unreachable' : 'interaction_unavailable', { detail });
    };
    if (personId === null) return unavailable('unbound', 'this agent is bound to no person yet, so the Person Server cannot reach one');
    if (!(await personReachable(ctx, personId))) return unavailable('unreachable', 'the person has no open session or approver app at this Person Server');
    if (input.url !== undefined) {
      try {
        await admitResource(ctx, new URL(input.url).origin, 'interaction_unavailable');
      } catch (error) {
        if (!isAAuthError(error)) throw error;
        return unavailable('untrusted', 'the Person Server does not relay to this site');
      }
    }
    const open = await ctx.store.db
      .selectFrom('pending_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('kind', '=', RELAY_KIND)
      .where('agent_id', '=', caller.agent.id)
      .where('status', 'in', LIVE)
      .where('expires_at', '>', ctx.now())
      .executeTakeFirst();
    if (Number(open?.n ?? 0) >= MAX_OPEN_RELAYS_PER_AGENT) return unavailable('too_many', `this agent already has ${MAX_OPEN_RELAYS_PER_AGENT} open requests`);

    const request: RelayPendingRequest = {
      agent_id: caller.agent.id,
      agent_token: { iss: caller.signer.iss, jti: caller.signer.jti },
      type: input.type,
      ...(input.url === undefined ? {} : { url: input.url }),
      ...(input.code === undefined ? {} : { code: input.code }),
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(input.question === undefined ? {} : { question: input.question }),
      ...(mission === undefined ? {} : { mission_s256: mission.s256 }),
    };
    const created = await deferred.create({
      kind: RELAY_KIND,
      agentId: caller.agent.id,
      agentJkt: caller.signerJkt,
      personId,
      request,
      ...(input.maxWait === undefined ? {} : { ttlSeconds: input.maxWait }),
    });
    if (mission !== undefined) {
      await appendMissionLog(ctx, ctx.store.db, {
        missionS256: mission.s256,
        type: 'interaction',
        actor: caller.agent.id,
        entry: { type: input.type, ...(input.url === undefined ? {} : { url: input.url }), ...(input.description === undefined ? {} : { description: input.description }), ...(input.question === undefined ? {} : { question: input.question }) },
      });
    }
    return relayAccepted(await deferred.accepted(created, parsePreferWait(c.req.header('prefer'))));
  });
  return app;
}

/**
 * The relay's 202 without `AAuth-Requirement`: the Deferred service's 202 names the PS's own consent page and a code
 * for it, but a relay asks nothing more of the agent (it must not send the person to the PS page); the agent keeps
 * polling the resource (§8.50). Any other answer (200 after `Prefer: wait`, an error) passes unchanged.
 */
function relayAccepted(response: Response): Response {
  if (response.status !== 202) return response;
  const headers = new Headers(response.headers);
  headers.delete('aauth-requirement');
  return new Response(response.body, { status: 202, headers });
}
