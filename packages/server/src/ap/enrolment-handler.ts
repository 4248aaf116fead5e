/**
 * The `PendingHandler` for kind `enrolment` (owned by the AP identifier): what the person sees on the consent page,
 * what approval issues, and how polls are authenticated. An enrolment is polled with requests signed `hwk` by the
 * very key being enrolled (it has no agent token yet), so `authenticatePoll` returns that key's thumbprint for the
 * Deferred service to compare with the pending request's `agent_jkt` (AAuth -11 §Deferred Responses: the signature
 * is verified on every poll).
 */
import { AAuthError, validatePublicJwk, verifyHwkRequest, type PublicJwk } from '@tessera/protocol';
import type { Context } from 'hono';
import type { ServerContext } from '../context.js';
import type { ApprovalDecision, ConsentView, PendingHandler } from '../deferred/types.js';
import type { PendingRequest } from '../store/schema.js';
import { fromJson } from '../store/store.js';
import { apRequestMessage, keyRequestErrorResponse } from './ap-http.js';
import { issueAgentToken } from './agent-tokens.js';

/** What an enrolment's pending request keeps (`pending_requests.request`). */
export interface EnrolmentRequest {
  readonly agent_id: string;
  readonly name: string;
  readonly description?: string;
  readonly ps?: string;
  /** RFC 7638 thumbprint of the key being enrolled (also the pending request's `agent_jkt`). */
  readonly jkt: string;
  readonly jwk: PublicJwk;
}

/** Reads an enrolment's stored request; a malformed one is a server fault. */
export function readEnrolmentRequest(pending: PendingRequest): EnrolmentRequest {
  const request = fromJson<Partial<EnrolmentRequest> | null>(pending.request, null);
  if (request === null || typeof request.agent_id !== 'string' || typeof request.name !== 'string' || typeof request.jkt !== 'string') {
    throw new AAuthError('server_error', { detail: 'stored enrolment request is malformed' });
  }
  return request as EnrolmentRequest;
}

export interface EnrolmentHandlerOptions {
  /** Agent-token lifetime, seconds. */
  readonly ttl: number;
}

export function createEnrolmentHandler(ctx: ServerContext, options: EnrolmentHandlerOptions): PendingHandler {
  return {
    issuer: 'ap',

    describe(pending: PendingRequest): Promise<ConsentView> {
      const request = readEnrolmentRequest(pending);
      return Promise.resolve({
        summary: `Enrol agent “${request.name}” (${request.agent_id}) at ${ctx.ap.name}, with key thumbprint ${request.jkt}`,
        agent: {
          id: request.agent_id,
          name: request.name,
          provider: ctx.ap.issuer,
          ...(request.description === undefined ? {} : { description: request.description }),
        },
        scopes: [],
        allowAlways: false,
      });
    },

    /**
     * The person approved: the enrolment becomes active and bound to them, and the first agent token is issued for
     * the enrolled key (AAuth -11 §Agent Token: `cnf.jwk` = that key, `sub` = the agent identifier).
     */
    async approve(pending, decision: ApprovalDecision, trx) {
      const request = readEnrolmentRequest(pending);
      const row = await trx.selectFrom('ap_agents').selectAll().where('agent_id', '=', request.agent_id).where('jkt', '=', pending.agent_jkt).executeTakeFirst();
      if (!row || row.status !== 'pending') throw new AAuthError('invalid_request', { detail: 'the enrolment is no longer pending' });
      const otherKey = await trx
        .selectFrom('ap_agents')
        .select('jkt')
        .where('agent_id', '=', request.agent_id)
        .where('jkt', '!=', pending.agent_jkt)
        .where('status', '=', 'active')
        .executeTakeFirst();
      if (otherKey) throw new AAuthError('invalid_request', { detail: 'the agent identifier was enrolled meanwhile' });
      const now = Math.floor(ctx.now());
      await trx
        .updateTable('ap_agents')
        .set({ status: 'active', person_id: decision.personId, updated_at: now })
        .where('agent_id', '=', row.agent_id)
        .where('jkt', '=', row.jkt)
        .execute();
      const issued = await issueAgentToken(ctx, trx, {
        agentId: row.agent_id,
        jwk: validatePublicJwk(JSON.parse(row.public_jwk)),
        personId: decision.personId,
        ps: row.ps,
        ttl: options.ttl,
      });
      await ctx.store.audit(
        {
          type: 'enrolment.approved',
          actor: `person:${decision.personId}`,
          agent: row.agent_id,
          person: decision.personId,
          requestId: pending.id,
          detail: { jkt: row.jkt, jti: issued.jti, ps: row.ps },
        },
        trx,
      );
      return { agent_id: issued.agent_id, agent_token: issued.agent_token, expires_in: issued.expires_in };
    },

    /** Polls are signed `hwk` by the key being enrolled. */
    async authenticatePoll(c: Context) {
      const read = await apRequestMessage(c, ctx.ap.issuer);
      if (read instanceof Response) return read;
      const verified = await verifyHwkRequest(read.message, { now: ctx.now, keyCache: ctx.keyCache, requireContentDigest: true });
      if (!verified.ok) return keyRequestErrorResponse(verified.error, 'hwk');
      return { jkt: verified.value.jkt };
    },
  };
}
