/**
 * Relaying an interaction through the Person Server (AAuth -11 §Relaying Through the Person Server, §Interaction
 * Endpoint; digest §5, §6 B, §8.50). When a resource answers `202 requirement=interaction`, an agent that has a PS
 * SHOULD first POST `{type: "interaction", url, code}` to the PS's `interaction_endpoint`, signed with its agent token:
 *
 * - `202` (or `200`) → relayed: the PS tells the person, so the agent does not prompt. The PS's own `Location` only
 *   reports that the relay reached the person; the agent does not follow it.
 * - `424 interaction_unavailable` (non-terminal) → the agent directs the person itself (`onInteraction`).
 * - a PS that publishes no `interaction_endpoint`, or an interaction hosted by the PS itself (whose own pending URL is
 *   authoritative) → not relayed, the agent directs the person itself.
 * - any other answer → `AgentError('unexpected_response')` with the PS's status and problem `error`.
 *
 * Either way the resource's pending URL stays authoritative: the caller keeps polling it, never the PS (§8.50).
 */
import { AgentError, errorFromResponse, isAgentError, readProblem } from './errors.js';
import type { PersonServerClient } from './person-server-client.js';
import type { InteractionRequest } from './polling.js';

/** What the agent relays (§Interaction Request, `type: "interaction"`). */
export interface InteractionRelayRequest {
  /** The resource's interaction `url` (https, no query or fragment), as its `AAuth-Requirement` gave it. */
  readonly url: string;
  readonly code: string;
  /** Markdown context for the person (shown as the agent's words). */
  readonly description?: string;
  /** Seconds the PS should hold the relay. */
  readonly max_wait?: number;
  readonly mission_s256?: string;
}

/** The outcome of a relay attempt. */
export type RelayOutcome =
  | { readonly relayed: true; readonly status: 200 | 202 }
  | {
      readonly relayed: false;
      /** `interaction_unavailable`: the PS answered 424; the others: the agent did not ask. */
      readonly reason: 'interaction_unavailable' | 'no_interaction_endpoint' | 'person_server_interaction';
    };

/** Asks the PS to relay one interaction (see the module comment). Throws `AgentError`. */
export async function relayInteraction(ps: PersonServerClient, request: InteractionRelayRequest): Promise<RelayOutcome> {
  const endpoint = (await ps.metadata()).interaction_endpoint;
  if (endpoint === undefined) return { relayed: false, reason: 'no_interaction_endpoint' };
  // §Interaction Response: an interaction the PS hosts is its own; its deferred response is authoritative.
  if (sameOrigin(request.url, ps.ps)) return { relayed: false, reason: 'person_server_interaction' };
  const response = await ps.send(endpoint, { type: 'interaction', ...request });
  if (response.status === 202 || response.status === 200) {
    // The relay's Location is not followed: the resource's pending URL is the one that says when the person is done.
    await response.body?.cancel().catch(() => undefined);
    return { relayed: true, status: response.status };
  }
  if (response.status === 424) {
    const problem = await readProblem(response);
    if (problem.error === 'interaction_unavailable') return { relayed: false, reason: 'interaction_unavailable' };
    throw new AgentError('unexpected_response', {
      status: 424,
      ...(problem.error === undefined ? {} : { error: problem.error }),
      detail: `${endpoint} answered 424 without interaction_unavailable`,
    });
  }
  throw await errorFromResponse('unexpected_response', response, `${endpoint} answered ${response.status}`);
}

/**
 * The relay step of the requirement handler: `(interaction) => relayed?`, naming `missionS256` when the agent acts
 * under a mission. With no Person Server configured (no `personServer` option and no `ps` claim in the agent token)
 * nothing is relayed.
 */
export function createInteractionRelay(personServer: () => Promise<PersonServerClient>, missionS256?: string): (interaction: InteractionRequest) => Promise<boolean> {
  return async (interaction) => {
    let ps: PersonServerClient;
    try {
      ps = await personServer();
    } catch (error) {
      if (isAgentError(error, 'no_person_server')) return false;
      throw error;
    }
    // Within a mission the relay names it: the PS keeps it in the mission's log (AAuth §Mission Log).
    return (await relayInteraction(ps, { url: interaction.url, code: interaction.code, ...(missionS256 === undefined ? {} : { mission_s256: missionS256 }) })).relayed;
  };
}

/**
 * `onInteraction` for a resource's pending request: the relay first, then — when the PS did not take it — the
 * agent's own handler (or `AgentError('interaction_required')` without one). Without a relay, the handler as is.
 */
export function relayFirst(
  relay: ((interaction: InteractionRequest) => Promise<boolean>) | undefined,
  own: ((interaction: InteractionRequest) => void | Promise<void>) | undefined,
): ((interaction: InteractionRequest) => void | Promise<void>) | undefined {
  if (relay === undefined) return own;
  return async (interaction) => {
    if (await relay(interaction)) return;
    if (own === undefined) throw new AgentError('interaction_required', { status: 202, detail: `the person must visit ${interaction.url} and enter code ${interaction.code}` });
    await own(interaction);
  };
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
