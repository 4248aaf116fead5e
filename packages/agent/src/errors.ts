/**
 * Typed agent errors with stable codes. Callers branch on `code` (what went wrong on the agent's side) and, when a
 * peer's response caused it, on `error` (the problem+json `error` member, AAuth -11 §Error Responses) and `status`.
 */

/** Stable codes of {@link AgentError}. */
export type AgentErrorCode =
  /** An `AAuth-Requirement` value this agent does not know, on a 401 (or a 202 without a pending URL) (§8.28). */
  | 'unknown_requirement'
  /** An `AAuth-Requirement` header that does not parse (e.g. `auth-token` without `resource-token`). */
  | 'invalid_requirement'
  /** Neither `agentToken` nor `enrolWith` was given, or the agent token cannot be read. */
  | 'no_agent_token'
  /** No Person Server: not configured and no `ps` claim in the agent token. */
  | 'no_person_server'
  /** The Person Server metadata failed discovery or the issuer check (§8.13). */
  | 'invalid_metadata'
  /** A person token from the PS that is not for this resource, this key or this PS. */
  | 'invalid_person_token'
  /** A resource token that fails the agent's checks (§4 "Resource token @agent", §8.27). */
  | 'invalid_resource_token'
  /** An auth token that fails the agent's checks (§8.39). */
  | 'invalid_auth_token'
  /** An interaction is needed and no `onInteraction` handler is configured. */
  | 'interaction_required'
  /** A clarification is asked and no `onClarification` handler is configured. */
  | 'clarification_required'
  /** A pending request ended with a terminal error: 403 (denied, abandoned), 408 (expired), 410 (invalid_code) (§8.44). */
  | 'pending_failed'
  /** A token endpoint (PS person/auth token, AP enrolment/renewal) answered with an error. */
  | 'token_request_failed'
  /** The resource kept rejecting the credential it asked for, or a response was not what the protocol allows. */
  | 'unexpected_response'
  /** Polling went on longer than `maxWaitMs`. */
  | 'timeout'
  /** The requirement loop did not settle within its round limit. */
  | 'too_many_rounds'
  /** The Person Server publishes no `mission_endpoint` (AAuth -11 §Person Server Metadata). */
  | 'no_mission_endpoint'
  /**
   * A mission approval that fails the agent's checks (§8.53, §8.54): `s256` is not b64url(SHA-256) of the exact
   * `mission` bytes, the blob lacks a required member, or it names another agent or another approver; or an `s256`
   * the agent was given to act on is malformed.
   */
  | 'invalid_mission'
  /** `onBehalfOf` was given something other than an auth token with `ps`, `jti` and `exp` (call chaining). */
  | 'invalid_upstream_token'
  /** The upstream token of a call chain has expired: the call it came with is over (§8.64). */
  | 'expired_upstream_token'
  /** 404 `mission_not_found` from the PS: no such mission, or not this agent's (§Mission Endpoint Errors, §8.56). */
  | 'mission_not_found'
  /**
   * 403 `mission_terminated` from the PS (`missionStatus`, `terminationReason`), or a mission this agent has seen
   * end: the agent MUST stop acting on it (§Mission Status Errors, §8.57).
   */
  | 'mission_terminated'
  /** The mission endpoint answered with another error (e.g. 400 `invalid_request`, §8.55). */
  | 'mission_request_failed';

export interface AgentErrorOptions {
  readonly detail?: string;
  /** HTTP status of the response that caused the error. */
  readonly status?: number;
  /** The problem+json `error` member of that response. */
  readonly error?: string;
  /** `mission_status` of a `mission_terminated` problem. */
  readonly missionStatus?: string;
  /** `termination_reason` of a `mission_terminated` problem (an open set: `completed`, `revoked`, `expired`, ...). */
  readonly terminationReason?: string;
  readonly cause?: unknown;
}

export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;
  readonly detail: string | undefined;
  readonly status: number | undefined;
  /** The problem+json `error` of the response that caused this, when there was one. */
  readonly error: string | undefined;
  /** `mission_status` of a `mission_terminated` error (`terminated`). */
  readonly missionStatus: string | undefined;
  /** Why the mission ended, when the PS said (§Mission Management; an unknown reason is kept as an opaque value). */
  readonly terminationReason: string | undefined;

  constructor(code: AgentErrorCode, options: AgentErrorOptions = {}) {
    const parts = [code, options.error, options.status === undefined ? undefined : `status ${options.status}`, options.terminationReason, options.detail].filter((p) => p !== undefined);
    super(parts.join(': '), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
    this.status = options.status;
    this.error = options.error;
    this.missionStatus = options.missionStatus;
    this.terminationReason = options.terminationReason;
  }
}

export function isAgentError(value: unknown, code?: AgentErrorCode): value is AgentError {
  return value instanceof AgentError && (code === undefined || value.code === code);
}

/** The members of a problem+json body the agent reads (AAuth -11 §Error Responses, §Mission Status Errors). */
export interface Problem {
  readonly error?: string;
  readonly detail?: string;
  readonly mission_status?: string;
  readonly termination_reason?: string;
}

/** Reads a problem+json body without throwing; `undefined` members when absent, not strings, or not JSON. */
export async function readProblem(response: Response): Promise<Problem> {
  try {
    const text = await response.text();
    const json = JSON.parse(text) as unknown;
    if (typeof json !== 'object' || json === null) return {};
    const record = json as Record<string, unknown>;
    const problem: Record<string, string> = {};
    for (const member of ['error', 'detail', 'mission_status', 'termination_reason'] as const) {
      const value = record[member];
      if (typeof value === 'string') problem[member] = value;
    }
    return problem;
  } catch {
    return {};
  }
}

/**
 * Problems that have their own code wherever they come from (a mission endpoint, a token endpoint given
 * `mission_s256`, a pending URL): the agent keys its behaviour on them (§Mission Status Errors).
 */
const MISSION_PROBLEMS: ReadonlyMap<string, AgentErrorCode> = new Map([
  ['mission_terminated', 'mission_terminated'],
  ['mission_not_found', 'mission_not_found'],
]);

/**
 * An AgentError for a response carrying a problem+json body (the body is consumed). A `mission_terminated` or
 * `mission_not_found` problem gets that code (with `missionStatus` and `terminationReason`), whatever `code` says.
 */
export async function errorFromResponse(code: AgentErrorCode, response: Response, detail?: string): Promise<AgentError> {
  const problem = await readProblem(response);
  const text = problem.detail ?? detail;
  const missionCode = problem.error === undefined ? undefined : MISSION_PROBLEMS.get(problem.error);
  const mission = missionCode !== undefined;
  return new AgentError(missionCode ?? code, {
    status: response.status,
    ...(problem.error === undefined ? {} : { error: problem.error }),
    ...(text === undefined ? {} : { detail: text }),
    ...(mission && problem.mission_status !== undefined ? { missionStatus: problem.mission_status } : {}),
    ...(mission && problem.termination_reason !== undefined ? { terminationReason: problem.termination_reason } : {}),
  });
}
