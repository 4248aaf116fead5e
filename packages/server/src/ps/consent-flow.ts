/**
 * The consent flow the two token endpoints share (AAuth -11 §Person Token Endpoint, §Auth Token Endpoint): a standing
 * grant may answer at once; otherwise the person is asked through a deferred response (202 + pending URL).
 */
import { parsePreferWait, type PublicJwk } from '@tessera/protocol';
import type { Context } from 'hono';
import type { Deferred, PendingKind } from '../deferred/types.js';
import type { CallingAgent } from './agent-admission.js';
import { optionsForPending, promptForcesInteraction, userUnreachable, type TokenRequestOptions } from './token-request.js';

/** What every pending token request keeps of the calling agent and its request options (JSON in `pending_requests`). */
export type PendingAgentFields = {
  readonly agent_id: string;
  /** The signing parent, when a parent asked for a sub-agent. */
  readonly parent_agent_id?: string;
  /** Thumbprint of `cnf_jwk`. */
  readonly agent_jkt: string;
  readonly cnf_jwk: PublicJwk;
  /** The agent token that signed the request, `(iss, jti)`: a revocation before the decision fails the request. */
  readonly agent_token: { readonly iss: string; readonly jti: string };
  /** The issued token's latest `exp`. */
  readonly not_after: number;
  readonly justification?: string;
  readonly platform?: string;
  readonly device?: string;
  readonly login_hint?: string;
  readonly prompt?: string;
};

/**
 * A standing grant may answer without the person only when the agent is bound to a person, neither it nor its
 * signing parent is registered as needing the person's authorization every time, and `prompt` does not ask for the
 * person (consent, login, select_account).
 */
export function standingGrantMayAnswer(caller: CallingAgent, options: TokenRequestOptions): caller is CallingAgent & { readonly personId: string } {
  const requiresAuthorization = caller.agent.requires_authorization === 1 || caller.parent?.requires_authorization === 1;
  return caller.personId !== null && !requiresAuthorization && !promptForcesInteraction(options.prompt);
}

export function pendingAgentFields(caller: CallingAgent, notAfter: number, options: TokenRequestOptions): PendingAgentFields {
  return {
    agent_id: caller.agent.id,
    ...(caller.parent === undefined ? {} : { parent_agent_id: caller.parent.id }),
    agent_jkt: caller.agentJkt,
    cnf_jwk: caller.cnfJwk,
    agent_token: { iss: caller.signer.iss, jti: caller.signer.jti },
    not_after: notAfter,
    ...optionsForPending(options),
  };
}

/**
 * Asks the person: `prompt=none` → 403 `user_unreachable` (never a 202); otherwise a pending request whose polls
 * must be signed by the request's key, answered 202 (long-polled with `Prefer: wait`).
 */
export async function askThePerson(
  c: Context,
  deferred: Deferred,
  input: { readonly kind: PendingKind; readonly caller: CallingAgent; readonly personId: string | null; readonly options: TokenRequestOptions; readonly request: PendingAgentFields & Record<string, unknown> },
): Promise<Response> {
  if (input.options.prompt.includes('none')) throw userUnreachable();
  const created = await deferred.create({
    kind: input.kind,
    agentId: input.caller.agent.id,
    agentJkt: input.caller.signerJkt,
    personId: input.personId,
    request: input.request,
  });
  return deferred.accepted(created, parsePreferWait(c.req.header('prefer')));
}
