/**
 * Deferred responses (AAuth -11 §Deferred Responses; digest §5, §8.42–§8.44): a 202 carries `Location` (same origin)
 * and `Retry-After`; the agent polls with signed GETs, never resending the body, waits `Retry-After` seconds (5 by
 * default) between polls and 5 s more after each 429, may send `Prefer: wait=N`, treats an unknown `status` as
 * pending, stops prompting once the status is `interacting`, and stops at 200 or at a terminal 403 / 408 / 410.
 */
import { parseAAuthRequirement, serializePreferWait, type ParsedAAuthRequirement } from '@tessera/protocol';
import { AgentError, errorFromResponse } from './errors.js';
import { jsonBody } from './signed-fetch.js';

/** Default interval between polls when a 202 has no usable `Retry-After` (§8.43). */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;
/** Added to the interval after each 429 (`slow_down`) (§8.43). */
export const SLOW_DOWN_SECONDS = 5;
/** Statuses that end a pending request with an error (§8.44). */
export const TERMINAL_ERROR_STATUSES: ReadonlySet<number> = new Set([403, 408, 410]);

/** What `onInteraction` receives: the interaction `url` and `code`, the URL to open, and the pending URL being polled. */
export interface InteractionRequest {
  readonly url: string;
  readonly code: string;
  /** `{url}?code={code}`: what a person opens (AAuth -11 §Interaction Required). */
  readonly fullUrl: string;
  /** The pending URL the agent polls (its last path segment identifies the pending request). */
  readonly pendingUrl: string;
}

/** What `onClarification` receives: the 202 body of a `requirement=clarification` response. */
export interface ClarificationRequest {
  readonly clarification: string;
  readonly options?: readonly string[];
  /** Seconds the server waits for an answer, when it says. */
  readonly timeout?: number;
  readonly pendingUrl: string;
}

export interface PollContext {
  /** Sends a signed request to the pending URL (GET polls, POST clarification answers). */
  readonly send: (request: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; body?: Uint8Array }) => Promise<Response>;
  readonly sleep: (ms: number) => Promise<void>;
  /** Milliseconds clock for the overall deadline. */
  readonly clock: () => number;
  /** `Prefer: wait=N` on polls; `undefined` or 0 = none. */
  readonly preferWait?: number;
  /** Overall bound on polling, ms. */
  readonly maxWaitMs: number;
  readonly onInteraction?: (interaction: InteractionRequest) => void | Promise<void>;
  readonly onClarification?: (question: ClarificationRequest) => Promise<string>;
  readonly allowLoopbackHttp?: boolean;
  /**
   * Pending URLs of a Person Server or Agent Provider: 403/408/410 become `AgentError('pending_failed')` with the
   * problem's `error`, any other non-200 `token_request_failed`. For a resource's pending URL (false) every final
   * response is returned to the caller.
   */
  readonly terminalErrors: boolean;
  /** Requirements (on a 202) that the caller handles itself: the response is handed back instead of polled. */
  readonly handBack?: (requirement: ParsedAAuthRequirement) => boolean;
}

/** `Retry-After` as seconds (delta-seconds or an HTTP-date), or `undefined`. */
export function retryAfterSeconds(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), 3600);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.min(Math.ceil((date - nowMs) / 1000), 3600));
}

/** Resolves a `Location` against the request URL; it must be on the same origin (AAuth -11 §Deferred Responses). */
export function pendingUrlOf(response: Response, requestUrl: string): string {
  const location = response.headers.get('location');
  if (location === null || location.length === 0) throw new AgentError('unexpected_response', { status: response.status, detail: '202 without Location' });
  let url: URL;
  try {
    url = new URL(location, requestUrl);
  } catch {
    throw new AgentError('unexpected_response', { status: response.status, detail: 'Location is not a URL' });
  }
  if (url.origin !== new URL(requestUrl).origin) throw new AgentError('unexpected_response', { status: response.status, detail: 'Location is not on the origin that answered 202' });
  return url.href;
}

/** Reads the requirement of a response; `undefined` without the header; a malformed header → `invalid_requirement`. */
export function requirementOf(response: Response, allowLoopbackHttp: boolean): ParsedAAuthRequirement | undefined {
  const value = response.headers.get('aauth-requirement');
  if (value === null) return undefined;
  try {
    return parseAAuthRequirement(value, allowLoopbackHttp ? { allowLoopbackHttp: true } : {});
  } catch (cause) {
    throw new AgentError('invalid_requirement', { status: response.status, detail: 'AAuth-Requirement does not parse', cause });
  }
}

async function jsonOf(response: Response): Promise<Record<string, unknown>> {
  try {
    const json = (await response.clone().json()) as unknown;
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Follows a deferred response from `first` (a 202 from `requestUrl`) to its end. Returns the final response (200,
 * or for a resource any non-202), or a 202 the caller handles (`handBack`). Throws `AgentError`.
 */
export async function pollDeferred(first: Response, requestUrl: string, ctx: PollContext): Promise<Response> {
  const deadline = ctx.clock() + ctx.maxWaitMs;
  let response = first;
  let pendingUrl = pendingUrlOf(first, requestUrl);
  let prompted = false;
  let slowDown = 0;
  let answered = new Set<string>();
  for (;;) {
    let interval = DEFAULT_RETRY_AFTER_SECONDS;
    if (response.status === 429) {
      slowDown += SLOW_DOWN_SECONDS;
      interval = retryAfterSeconds(response.headers.get('retry-after'), Date.now()) ?? DEFAULT_RETRY_AFTER_SECONDS;
      await response.body?.cancel().catch(() => undefined);
    } else if (response.status === 202) {
      const requirement = requirementOf(response, ctx.allowLoopbackHttp === true);
      if (requirement !== undefined && ctx.handBack?.(requirement) === true) return response;
      const body = await jsonOf(response);
      if (response.headers.get('location') !== null) pendingUrl = pendingUrlOf(response, pendingUrl);
      // §8.44: an unknown status is pending; once `interacting`, stop prompting.
      if (body['status'] === 'interacting') prompted = true;
      if (requirement?.requirement === 'interaction' && !prompted) {
        prompted = true;
        if (ctx.onInteraction === undefined) {
          throw new AgentError('interaction_required', { status: 202, detail: `the person must visit ${requirement.url} and enter code ${requirement.code}` });
        }
        const fullUrl = `${requirement.url}?code=${encodeURIComponent(requirement.code)}`;
        await ctx.onInteraction({ url: requirement.url, code: requirement.code, fullUrl, pendingUrl });
      }
      if (requirement?.requirement === 'clarification' && typeof body['clarification'] === 'string' && !answered.has(body['clarification'])) {
        const question = body['clarification'];
        if (ctx.onClarification === undefined) throw new AgentError('clarification_required', { status: 202, detail: question });
        const answer = await ctx.onClarification({
          clarification: question,
          pendingUrl,
          ...(Array.isArray(body['options']) ? { options: (body['options'] as unknown[]).filter((o): o is string => typeof o === 'string') } : {}),
          ...(typeof body['timeout'] === 'number' ? { timeout: body['timeout'] } : {}),
        });
        answered = new Set([...answered, question]);
        const { body: bytes, headers } = jsonBody({ action: 'clarification_response', clarification_response: answer });
        response = await ctx.send({ method: 'POST', url: pendingUrl, headers, body: bytes });
        if (response.status === 200) return response;
        if (response.status === 202 || response.status === 204) {
          await response.body?.cancel().catch(() => undefined);
          response = new Response(null, { status: 202, headers: { 'retry-after': '0' } });
        }
        continue;
      }
      interval = retryAfterSeconds(response.headers.get('retry-after'), Date.now()) ?? DEFAULT_RETRY_AFTER_SECONDS;
    } else if (ctx.terminalErrors && response.status !== 200) {
      throw await errorFromResponse(TERMINAL_ERROR_STATUSES.has(response.status) ? 'pending_failed' : 'token_request_failed', response);
    } else {
      return response;
    }
    const waitMs = (interval + slowDown) * 1000;
    if (ctx.clock() + waitMs > deadline) throw new AgentError('timeout', { status: response.status, detail: `pending request ${pendingUrl} did not finish within ${ctx.maxWaitMs} ms` });
    await ctx.sleep(waitMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (ctx.preferWait !== undefined && ctx.preferWait > 0) headers['prefer'] = serializePreferWait(ctx.preferWait);
    response = await ctx.send({ method: 'GET', url: pendingUrl, headers });
  }
}
