/**
 * Agent-token renewal, `POST /token` (AAuth Bootstrap §Refresh Patterns, single-key pattern; Tessera signs the request
 * with the still-valid agent token rather than `hwk`, so the AAuth profile verifier serves unchanged): a request signed
 * with an agent token this AP issued, whose `jti` is not revoked and whose key is actively enrolled, gets a fresh agent
 * token for the same agent, key, `ps` and `parent_agent`. A revoked token, an ended enrolment or a disabled agent →
 * 400 `invalid_agent_token`; a token this AP did not sign fails verification (401 `invalid_jwt`).
 */
import { AAuthError } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { errorResponse, type SignedRequestVariables } from '../http/signed-request.js';
import { tokenResponse } from './ap-http.js';
import { checkAgentStanding, issueAgentToken, signedAgentRequest } from './agent-tokens.js';

export interface RenewalOptions {
  /** Agent-token lifetime, seconds (checked by `agentTokenTtl`). */
  readonly ttl: number;
}

export function renewalEndpoint(ctx: ServerContext, options: RenewalOptions): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post('/', signedAgentRequest(ctx), async (c) => {
    const { token, jkt } = c.var.aauth;
    const claims = token.claims;
    try {
      const issued = await ctx.store.transaction(async (trx) => {
        const row = await checkAgentStanding(ctx, trx, claims, jkt);
        // A sub-agent renews on its own standing while its parent's enrolment is active (checked above).
        const result = await issueAgentToken(ctx, trx, {
          agentId: row.agent_id,
          // The verified cnf.jwk: its thumbprint is the enrolled key's (checkAgentStanding looked the row up by it).
          jwk: token.cnfKey.jwk,
          personId: row.person_id,
          ps: row.ps,
          parentAgent: row.parent_agent,
          ttl: options.ttl,
        });
        await ctx.store.audit(
          { type: 'agent_token.renewed', actor: `agent:${row.agent_id}`, agent: row.agent_id, person: row.person_id, detail: { jti: result.jti, previous_jti: claims.jti, jkt } },
          trx,
        );
        return result;
      });
      return tokenResponse({ agent_id: issued.agent_id, agent_token: issued.agent_token, expires_in: issued.expires_in });
    } catch (error) {
      if (!(error instanceof AAuthError)) throw error;
      await ctx.store.audit({ type: 'agent_token.renewal_denied', actor: `agent:${claims.sub}`, agent: claims.sub, detail: { jti: claims.jti, reason: error.code } });
      return errorResponse(c, error);
    }
  });
  return app;
}
