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
  | 'too_many_rounds';

export interface AgentErrorOptions {
  readonly detail?: string;
  /** HTTP status of the response that caused the error. */
  readonly status?: number;
  /** The problem+json `error` member of that response. */
  readonly error?: string;
  readonly cause?: unknown;
}

export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;
  readonly detail: string | undefined;
  readonly status: number | undefined;
  /** The problem+json `error` of the response that caused this, when there was one. */
  readonly error: string | undefined;

  constructor(code: AgentErrorCode, options: AgentErrorOptions = {}) {
    const parts = [code, options.error, options.status === undefined ? undefined : `status ${options.status}`, options.detail].filter((p) => p !== undefined);
    super(parts.join(': '), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
    this.status = options.status;
    this.error = options.error;
  }
}

export function isAgentError(value: unknown, code?: AgentErrorCode): value is AgentError {
  return value instanceof AgentError && (code === undefined || value.code === code);
}

/** Reads a problem+json body (`{error, detail?}`) without throwing; `undefined` members when absent or not JSON. */
export async function readProblem(response: Response): Promise<{ error?: string; detail?: string }> {
  try {
    const text = await response.text();
    const json = JSON.parse(text) as unknown;
    if (typeof json !== 'object' || json === null) return {};
    const record = json as Record<string, unknown>;
    return {
      ...(typeof record['error'] === 'string' ? { error: record['error'] } : {}),
      ...(typeof record['detail'] === 'string' ? { detail: record['detail'] } : {}),
    };
  } catch {
    return {};
  }
}

/** An AgentError for a response carrying a problem+json body (the body is consumed). */
export async function errorFromResponse(code: AgentErrorCode, response: Response, detail?: string): Promise<AgentError> {
  const problem = await readProblem(response);
  const text = problem.detail ?? detail;
  return new AgentError(code, {
    status: response.status,
    ...(problem.error === undefined ? {} : { error: problem.error }),
    ...(text === undefined ? {} : { detail: text }),
  });
}
