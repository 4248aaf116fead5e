/**
 * Sub-agent tokens, `POST /subagent` (AAuth -11 §Agent Delegation, §Sub-Agents; digest §6-H, §8.65). Signed with the
 * parent's agent token; body `{key: <public JWK>, name?, local_suffix?}`. The AP issues an agent token with
 * `sub` = `aauth:{parent local}+{suffix}@{domain}`, `parent_agent` = the parent's identifier and `cnf.jwk` = the
 * sub-agent's key, ending no later than the parent's token.
 *
 * Refused: a parent that is itself a sub-agent (one level only: "No sub-agent tokens for sub-agents", §8.65), and a
 * parent whose registry entry forbids delegation (`agents.delegation_allowed` = 0).
 */
import { AAuthError, jwkThumbprint, validatePublicJwk, type PublicJwk } from '@tessera/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { errorResponse, type SignedRequestVariables } from '../http/signed-request.js';
import { readJsonBody, tokenResponse } from './ap-http.js';
import { randomLocalPart, subAgentIdentifier } from './agent-identifier.js';
import { checkAgentStanding, issueAgentToken, signedAgentRequest } from './agent-tokens.js';

const SubagentBody = z.object({
  key: z.record(z.string(), z.unknown()),
  name: z.string().trim().min(1).max(120).optional(),
  local_suffix: z.string().max(64).optional(),
});

export interface SubagentOptions {
  /** Agent-token lifetime, seconds (further capped by the parent token's `exp`). */
  readonly ttl: number;
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });

export function subagentEndpoint(ctx: ServerContext, options: SubagentOptions): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post('/', signedAgentRequest(ctx), async (c) => {
    const { token, jkt: parentJkt } = c.var.aauth;
    const claims = token.claims;
    try {
      const body = readJsonBody(c.var.body, SubagentBody);
      let key: PublicJwk;
      try {
        key = validatePublicJwk(body.key);
      } catch (cause) {
        throw new AAuthError('invalid_request', { detail: `key: ${cause instanceof AAuthError ? (cause.detail ?? cause.code) : 'not a public JWK'}`, cause });
      }
      const jkt = await jwkThumbprint(key);
      const issued = await ctx.store.transaction(async (trx) => {
        const parent = await checkAgentStanding(ctx, trx, claims, parentJkt);
        // §8.65: one level only. The claim is authoritative; the enrolment row agrees with it (checked above).
        if (claims.parent_agent !== undefined || parent.parent_agent !== null) throw invalid('a sub-agent cannot create sub-agents');
        const registry = await trx.selectFrom('agents').select('delegation_allowed').where('id', '=', parent.agent_id).executeTakeFirst();
        if (registry !== undefined && registry.delegation_allowed === 0) {
          throw new AAuthError('denied', { detail: 'delegation to sub-agents is not allowed for this agent' });
        }
        if (jkt === parentJkt) throw invalid('the sub-agent needs its own key');
        const subId = subAgentIdentifier(parent.agent_id, body.local_suffix ?? randomLocalPart()).identifier;

        const keyRows = await trx.selectFrom('ap_agents').select(['agent_id', 'status']).where('jkt', '=', jkt).execute();
        if (keyRows.some((r) => r.agent_id !== subId)) throw invalid('the key is already enrolled for another agent');
        if (keyRows.some((r) => r.status === 'revoked')) throw invalid('this key has been revoked');
        const holders = await trx.selectFrom('ap_agents').select('jkt').where('agent_id', '=', subId).where('jkt', '!=', jkt).where('status', '!=', 'revoked').execute();
        if (holders.length > 0) throw invalid('that sub-agent identifier is in use');

        const now = Math.floor(ctx.now());
        if (keyRows.length === 0) {
          await trx
            .insertInto('ap_agents')
            .values({
              agent_id: subId,
              jkt,
              public_jwk: JSON.stringify(key),
              person_id: parent.person_id,
              ps: parent.ps,
              parent_agent: parent.agent_id,
              status: 'active',
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
        const result = await issueAgentToken(ctx, trx, {
          agentId: subId,
          jwk: key,
          personId: parent.person_id,
          ps: parent.ps,
          parentAgent: parent.agent_id,
          ttl: options.ttl,
          // No token outlives the agent token it derives from (digest §7 Lifetimes).
          notAfter: claims.exp,
        });
        await ctx.store.audit(
          {
            type: 'subagent.issued',
            actor: `agent:${parent.agent_id}`,
            agent: subId,
            person: parent.person_id,
            detail: { parent_agent: parent.agent_id, jkt, jti: result.jti, ...(body.name === undefined ? {} : { name: body.name }) },
          },
          trx,
        );
        return result;
      });
      return tokenResponse({ agent_id: issued.agent_id, agent_token: issued.agent_token, expires_in: issued.expires_in });
    } catch (error) {
      if (!(error instanceof AAuthError)) throw error;
      await ctx.store.audit({ type: 'subagent.denied', actor: `agent:${claims.sub}`, agent: claims.sub, detail: { reason: error.detail ?? error.code } });
      return errorResponse(c, error);
    }
  });
  return app;
}
