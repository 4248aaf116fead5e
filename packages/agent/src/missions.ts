/**
 * Missions from the agent's side (AAuth -11 §Mission, §Mission Creation, §Mission Approval, §Mission Identifier,
 * §Mission Update, §Mission Completion, §Mission Endpoint Errors, §Mission Status Errors; digest §5 `mission_endpoint`,
 * §6 F, §8.53–§8.58). Every request is a signed POST with the agent token (`PersonServerClient.post`), and a 202 is
 * polled to its end (interaction and clarification through the agent's handlers).
 *
 * - Propose: `POST {mission_endpoint}` `{description, tools?, resources?}` → `200 {s256, mission, capabilities?,
 *   person_tokens?}`. Before first use the agent verifies that `s256` is b64url(SHA-256) of the exact bytes `mission`
 *   decodes to (§8.54), that the blob has its required members (§8.53) and names this agent and this PS, and that each
 *   person token carries `mission_s256` = `s256` (§8.53). Any failure → `AgentError('invalid_mission')` (person
 *   tokens: `invalid_person_token`).
 * - Update: `POST {mission_endpoint}/{s256}` `{action: "update", description}` → `200 {s256 of the update}` (§8.58).
 * - Completion: `POST {mission_endpoint}/{s256}` `{action: "completion", summary}` → 202, then 200 once the person
 *   accepts (the mission is then terminated, reason `completed`).
 * - Errors: 404 `mission_not_found` and 403 `mission_terminated` (`mission_status`, `termination_reason`) become
 *   `AgentError`s with those codes; after a `mission_terminated` or an accepted completion the agent stops acting on
 *   the mission (`EndedMissions`): "The agent MUST stop acting on this mission" (§Mission Status Errors).
 */
import {
  AAUTH_CAPABILITY_VALUES,
  AAuthError,
  isS256,
  serializeAAuthCapabilities,
  verifyMissionS256,
  type AAuthCapability,
  type MissionBlob,
} from '@tessera/protocol';
import { AgentError } from './errors.js';
import type { PersonServerClient } from './person-server-client.js';
import type { SignedRequest } from './signed-fetch.js';
import { tokenKey, type CachedToken, type TokenCache } from './token-cache.js';
import { checkPersonToken, type TokenCheckContext } from './token-checks.js';

/** A mission proposal (§Mission Creation). */
export interface MissionProposal {
  /** Markdown: what the agent intends to accomplish. */
  readonly description: string;
  /** Tools the agent wants to use. */
  readonly tools?: readonly { readonly name: string; readonly description: string }[];
  /** Resources (server identifiers) it expects to access: the PS returns a person token for each it approves. */
  readonly resources?: readonly string[];
}

/** An approved mission, verified (§Mission Approval). */
export interface Mission {
  /** The PS that approved it: with `s256`, the mission's identity (§Mission Identifier). */
  readonly ps: string;
  /** b64url(SHA-256(`bytes`)): the `mission_s256` of every token obtained under the mission. */
  readonly s256: string;
  /** The mission blob. Its `description` is Markdown from the PS: sanitize it before rendering. */
  readonly blob: MissionBlob;
  /** The exact blob bytes `s256` digests. */
  readonly bytes: Uint8Array;
  /**
   * What the PS can provide on behalf of the person at approval time (known values; others are ignored). Calls under
   * the mission union them with the agent's own in `AAuth-Capabilities`. Not part of the blob.
   */
  readonly capabilities: readonly AAuthCapability[];
  /** Person tokens for the approved resources, by resource identifier, each checked to carry `mission_s256`. */
  readonly personTokens: Readonly<Record<string, CachedToken>>;
}

/** An accepted update (§Mission Update): `s256` is the digest of the update as the PS persisted it. */
export interface MissionUpdate {
  readonly s256: string;
}

/** An accepted completion (§Mission Completion): the mission is terminated. */
export interface MissionCompletion {
  /** The mission's `s256`. */
  readonly s256: string;
  /** `termination_reason` when the PS says, else `completed` (what an accepted completion means). */
  readonly terminationReason: string;
}

/** The agent acting under one mission (`agent.withMission(mission)`). */
export interface MissionAgent {
  readonly mission: Mission;
  /**
   * `agent.fetch` under the mission: person-token requests name `mission_s256`, and the person, resource and auth
   * tokens must carry it. Tokens are cached in the mission's own scope of the agent's cache.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** `agent.updateMission(mission.s256, description)`. */
  update(description: string): Promise<MissionUpdate>;
  /** `agent.completeMission(mission.s256, summary)`. */
  complete(summary: string): Promise<MissionCompletion>;
  /** The mission's scope of the agent's token cache. */
  readonly tokens: TokenCache;
}

/** What proposing a mission needs from the agent. */
export interface MissionContext {
  readonly client: PersonServerClient;
  /** The agent identifier (`aauth:local@domain`: the agent token's `sub`) the blob must name. */
  readonly agent: string;
  /** Checks of the person tokens returned with the mission (this PS, this key). */
  readonly checks: TokenCheckContext;
}

const invalidMission = (detail: string, cause?: unknown): AgentError => new AgentError('invalid_mission', { detail, ...(cause === undefined ? {} : { cause }) });

/** `POST {mission_endpoint}` with a proposal; resolves to the verified approved mission. */
export async function proposeMission(proposal: MissionProposal, ctx: MissionContext): Promise<Mission> {
  const endpoint = await ctx.client.missionEndpoint();
  const body = {
    description: proposal.description,
    ...(proposal.tools === undefined ? {} : { tools: proposal.tools.map(({ name, description }) => ({ name, description })) }),
    ...(proposal.resources === undefined ? {} : { resources: proposal.resources }),
  };
  return readMissionApproval(await ctx.client.post(endpoint, body, 'mission_request_failed'), ctx);
}

/**
 * Verifies an approval `{s256, mission, capabilities?, person_tokens?}` (§Mission Approval): `s256` is the digest of
 * the exact `mission` bytes (§8.54, SHOULD — done always), the blob has `approver`, `agent`, `approved_at`,
 * `description` (§8.53), `agent` is this agent and `approver` this PS; each person token verifies and carries
 * `mission_s256` = `s256` (§8.53).
 */
export async function readMissionApproval(json: Record<string, unknown>, ctx: MissionContext): Promise<Mission> {
  const s256 = json['s256'];
  const mission = json['mission'];
  if (typeof s256 !== 'string' || typeof mission !== 'string') throw invalidMission('the approval lacks s256 or mission');
  let decoded;
  try {
    decoded = await verifyMissionS256(mission, s256);
  } catch (cause) {
    throw invalidMission(cause instanceof AAuthError && cause.detail !== undefined ? cause.detail : 'the mission does not verify', cause);
  }
  if (decoded.blob.agent !== ctx.agent) throw invalidMission('the mission names another agent');
  if (decoded.blob.approver !== ctx.client.ps) throw invalidMission('the mission names another approver than this agent’s Person Server');
  return {
    ps: ctx.client.ps,
    s256,
    blob: decoded.blob,
    bytes: decoded.bytes,
    capabilities: readCapabilities(json['capabilities']),
    personTokens: await readPersonTokens(json['person_tokens'], s256, ctx.checks),
  };
}

/** `capabilities`: an array of strings; values this agent does not know are ignored (§AAuth-Capabilities). */
function readCapabilities(value: unknown): AAuthCapability[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((c) => typeof c === 'string')) throw invalidMission('capabilities is not an array of strings');
  return AAUTH_CAPABILITY_VALUES.filter((known) => value.includes(known));
}

/** `person_tokens`: resource → person token, each checked like any person token, under the mission. */
async function readPersonTokens(value: unknown, s256: string, checks: TokenCheckContext): Promise<Record<string, CachedToken>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidMission('person_tokens is not an object');
  const entries: [string, CachedToken][] = [];
  for (const [resource, token] of Object.entries(value as Record<string, unknown>)) {
    if (typeof token !== 'string') throw new AgentError('invalid_person_token', { detail: `the person token for ${resource} is not a string` });
    const claims = await checkPersonToken(token, resource, { ...checks, missionS256: s256 });
    entries.push([resource, { token, exp: claims.exp }]);
  }
  // fromEntries defines own properties: a `__proto__` key stays a key.
  return Object.fromEntries(entries);
}

/** `{mission_endpoint}/{s256}`; a malformed `s256` is refused before anything is sent (it is a path segment). */
async function missionUrl(client: PersonServerClient, s256: string): Promise<string> {
  if (!isS256(s256)) throw invalidMission('s256 is not 43 base64url characters of a SHA-256 digest');
  return `${await client.missionEndpoint()}/${s256}`;
}

/** `{action: "update", description}` → the digest of the update (§Mission Update, §8.58). */
export async function updateMission(client: PersonServerClient, s256: string, description: string): Promise<MissionUpdate> {
  const json = await client.post(await missionUrl(client, s256), { action: 'update', description }, 'mission_request_failed');
  const digest = json['s256'];
  if (!isS256(digest)) throw new AgentError('mission_request_failed', { status: 200, detail: 'the update was answered without an s256' });
  return { s256: digest };
}

/** `{action: "completion", summary}` → 202 while the person reviews → 200: the mission is terminated (§Mission Completion). */
export async function completeMission(client: PersonServerClient, s256: string, summary: string): Promise<MissionCompletion> {
  const json = await client.post(await missionUrl(client, s256), { action: 'completion', summary }, 'mission_request_failed');
  const reason = json['termination_reason'];
  return { s256, terminationReason: typeof reason === 'string' ? reason : 'completed' };
}

/** Bound on the missions remembered as ended (the oldest are forgotten first). */
const MAX_ENDED = 1000;

/**
 * The missions an agent has seen end, by `s256`: a `mission_terminated` answer (§Mission Status Errors: "The agent
 * MUST stop acting on this mission") or an accepted completion. Work on an ended mission is refused without asking
 * anyone, and the mission's tokens are dropped from the cache. One per agent.
 */
export class EndedMissions {
  readonly #cache: TokenCache;
  readonly #ended = new Map<string, string | undefined>();

  constructor(cache: TokenCache) {
    this.#cache = cache;
  }

  /** Records that the mission `s256` ended (with its reason, when known) and drops its tokens. */
  record(s256: string, reason: string | undefined): void {
    this.#ended.delete(s256);
    this.#ended.set(s256, reason);
    while (this.#ended.size > MAX_ENDED) {
      const oldest = this.#ended.keys().next().value;
      if (oldest === undefined) break;
      this.#ended.delete(oldest);
    }
    this.#cache.scoped(tokenKey.mission(s256)).clear();
  }

  /** Runs `work` on the mission `s256` unless it has ended; a `mission_terminated` error from `work` records the end. */
  async run<T>(s256: string, work: () => Promise<T>): Promise<T> {
    if (this.#ended.has(s256)) {
      const reason = this.#ended.get(s256);
      throw new AgentError('mission_terminated', {
        detail: 'the mission has ended; the agent no longer acts on it',
        missionStatus: 'terminated',
        ...(reason === undefined ? {} : { terminationReason: reason }),
      });
    }
    try {
      return await work();
    } catch (error) {
      if (error instanceof AgentError && error.code === 'mission_terminated') this.record(s256, error.terminationReason);
      throw error;
    }
  }
}

/**
 * `request` with `AAuth-Capabilities` naming `capabilities` (the agent's own and, under a mission, the PS's: §Mission
 * Approval "The agent unions them with its own"), unless the caller set the header itself or there are none.
 */
export function advertising(request: SignedRequest, capabilities: readonly AAuthCapability[]): SignedRequest {
  const headers = request.headers ?? {};
  if (capabilities.length === 0 || Object.keys(headers).some((h) => h.toLowerCase() === 'aauth-capabilities')) return request;
  return { ...request, headers: { ...headers, 'aauth-capabilities': serializeAAuthCapabilities(new Set(capabilities)) } };
}
