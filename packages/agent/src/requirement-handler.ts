/**
 * The agent's side of a resource call (AAuth -11 §Requirement Responses, §Deferred Responses; digest §3, §6 A–D):
 * send the request signed with the credential the resource last asked for, and react to `AAuth-Requirement` on 401
 * and 202 responses until the resource answers:
 *
 * - `agent-token` → sign with the agent token;
 * - `person-token` → a person token from the PS (cached per resource, single-flight) → retry;
 * - `auth-token` (401 or deferred 202, §8.27) → check the resource token, an auth token from the PS (cached per
 *   resource and scope, single-flight), check it (§8.39) → retry, or poll the 202's `Location` with it;
 * - `interaction` / `approval` / `clarification` (202) → poll the resource's pending URL (authoritative, §8.50),
 *   relaying an interaction through the Person Server first (`relayInteraction`, interaction-relay.ts) and telling
 *   the person through `onInteraction` only when the PS does not take it (424), answering through `onClarification`;
 * - an unknown value → `AgentError('unknown_requirement')`, or keep polling when it came on a 202 with a pending URL
 *   (§8.28); unknown parameters are ignored by the parser.
 *
 * `AAuth-Access` on any response replaces the resource's session token (§8.52); it is sent back as
 * `Authorization: AAuth <token>`, which the signature then covers (§8.1).
 */
import { buildAAuthAuthorization, decodeJws, parseAAuthAccess, parseSignatureError, type ParsedAAuthRequirement, type ResourceTokenClaims } from '@tessera/protocol';
import { AgentError, isAgentError } from './errors.js';
import { relayFirst } from './interaction-relay.js';
import { pollDeferred, requirementOf, type ClarificationRequest, type InteractionRequest } from './polling.js';
import type { SignedRequest } from './signed-fetch.js';
import { tokenKey, type TokenCache } from './token-cache.js';

/** The token a request is signed with, and what the agent knows of it. */
export interface Credential {
  readonly kind: 'agent' | 'person' | 'auth';
  readonly token: string;
  /** The token's `sub` (person and auth tokens). */
  readonly sub?: string;
  /** Where the token is cached, so a rejected one can be dropped. */
  readonly cacheKey?: string;
}

/** What the requirement handler needs from the agent. */
export interface RequirementContext {
  readonly cache: TokenCache;
  readonly send: (request: SignedRequest, token: string) => Promise<Response>;
  readonly agentCredential: () => Promise<Credential>;
  readonly personCredential: (resource: string, options: { readonly refresh: boolean }) => Promise<Credential>;
  /** Checks the resource token and returns an auth-token credential for its scope (cached, single-flight). */
  readonly authCredential: (resource: string, resourceToken: string, presented: Credential) => Promise<{ credential: Credential; claims: ResourceTokenClaims }>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: () => number;
  readonly maxWaitMs: number;
  readonly preferWait?: number;
  readonly onInteraction?: (interaction: InteractionRequest) => void | Promise<void>;
  /**
   * Relays a resource's interaction to the person through the Person Server before `onInteraction` (§8.50): true when
   * the PS took it, false when the agent must direct the person itself. The resource's pending URL is polled either way.
   */
  readonly relayInteraction?: (interaction: InteractionRequest) => Promise<boolean>;
  readonly onClarification?: (question: ClarificationRequest) => Promise<string>;
  readonly allowLoopbackHttp: boolean;
  /** Bound on requirement rounds per call. */
  readonly maxRounds: number;
}

/** What the agent remembers per resource: which credential it last needed (so later calls start there). */
export interface ResourceState {
  kind: 'agent' | 'person' | 'auth';
  /** Cache key of the last auth token used with this resource. */
  authKey?: string;
}

const DEFERRABLE: ReadonlySet<string> = new Set(['interaction', 'approval', 'clarification']);

/** Records a new `AAuth-Access` session token for `resource` (§8.52: a new value replaces the old). */
function captureSessionToken(response: Response, resource: string, cache: TokenCache): void {
  const value = response.headers.get('aauth-access');
  if (value === null) return;
  try {
    cache.set(tokenKey.session(resource), { token: parseAAuthAccess(value), exp: undefined });
  } catch {
    // A malformed AAuth-Access is ignored (§8.51: recipients reject it); the old session token stays.
  }
}

function withSession(request: SignedRequest, resource: string, cache: TokenCache): SignedRequest {
  const headers = { ...(request.headers ?? {}) };
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return request;
  const session = cache.get(tokenKey.session(resource));
  if (session === undefined) return request;
  headers['authorization'] = buildAAuthAuthorization(session.token);
  return { ...request, headers };
}

/** The credential to start with for `resource`: what it asked for last time, when still cached. */
async function initialCredential(state: ResourceState, resource: string, ctx: RequirementContext): Promise<Credential> {
  if (state.kind === 'auth' && state.authKey !== undefined) {
    const cached = ctx.cache.get(state.authKey);
    const sub = cached === undefined ? undefined : subOf(cached.token);
    if (cached !== undefined) return { kind: 'auth', token: cached.token, cacheKey: state.authKey, ...(sub === undefined ? {} : { sub }) };
  }
  if (state.kind === 'person' || state.kind === 'auth') {
    const cached = ctx.cache.get(tokenKey.person(resource));
    if (cached !== undefined) {
      const sub = subOf(cached.token);
      return { kind: 'person', token: cached.token, cacheKey: tokenKey.person(resource), ...(sub === undefined ? {} : { sub }) };
    }
  }
  return ctx.agentCredential();
}

function subOf(jwt: string): string | undefined {
  try {
    const sub = decodeJws(jwt).payload['sub'];
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calls a resource and satisfies its requirements. Returns the resource's final response (2xx, or any answer that
 * carries no requirement the agent can meet, e.g. a 403 or a 401 with only `Signature-Error`).
 */
export async function callResource(request: SignedRequest, state: ResourceState, ctx: RequirementContext): Promise<Response> {
  const resource = new URL(request.url).origin;
  let credential = await initialCredential(state, resource, ctx);
  let retriedExpired = false;
  let retriedExpiredResourceToken = false;
  let lastRequirement: string | undefined;
  const send = (c: Credential, r: SignedRequest = request): Promise<Response> => ctx.send(withSession(r, resource, ctx.cache), c.token);
  const onInteraction = relayFirst(ctx.relayInteraction, ctx.onInteraction);
  const poll = (first: Response, c: Credential, handBackAuth: boolean): Promise<Response> =>
    pollDeferred(first, request.url, {
      send: (r) => ctx.send(withSession(r, resource, ctx.cache), c.token),
      sleep: ctx.sleep,
      clock: ctx.clock,
      maxWaitMs: ctx.maxWaitMs,
      terminalErrors: false,
      allowLoopbackHttp: ctx.allowLoopbackHttp,
      handBack: (r: ParsedAAuthRequirement) => handBackAuth && (r.requirement === 'auth-token' || r.requirement === 'person-token' || r.requirement === 'agent-token'),
      ...(ctx.preferWait === undefined ? {} : { preferWait: ctx.preferWait }),
      ...(onInteraction === undefined ? {} : { onInteraction }),
      ...(ctx.onClarification === undefined ? {} : { onClarification: ctx.onClarification }),
    });

  let response = await send(credential);
  for (let round = 0; round < ctx.maxRounds; round++) {
    captureSessionToken(response, resource, ctx.cache);
    const status = response.status;
    const requirement = status === 401 || status === 202 ? requirementOf(response, ctx.allowLoopbackHttp) : undefined;

    if (requirement === undefined) {
      if (status === 202 && response.headers.get('location') !== null) {
        // A deferred answer without a requirement: poll it to the end.
        response = await poll(response, credential, true);
        continue;
      }
      // A cached person or auth token the resource found expired: drop it and start over once.
      if (status === 401 && !retriedExpired && credential.cacheKey !== undefined && parseSignatureErrorCode(response) === 'expired_jwt') {
        retriedExpired = true;
        ctx.cache.invalidate(credential.cacheKey, credential.token);
        await response.body?.cancel().catch(() => undefined);
        credential = await ctx.agentCredential();
        state.kind = 'agent';
        response = await send(credential);
        continue;
      }
      if (credential.kind !== 'agent') state.kind = credential.kind;
      return response;
    }

    await response.body?.cancel().catch(() => undefined);
    const value = requirement.requirement;
    switch (value) {
      case 'agent-token': {
        if (credential.kind === 'agent') throw new AgentError('unexpected_response', { status, detail: 'the resource asked for an agent token and refused the one presented' });
        credential = await ctx.agentCredential();
        state.kind = 'agent';
        response = await send(credential);
        break;
      }
      case 'person-token': {
        // A person token the resource refuses is dropped and fetched once more.
        const refresh = credential.kind === 'person';
        if (refresh && lastRequirement === 'person-token-refreshed') throw new AgentError('unexpected_response', { status, detail: 'the resource refused a fresh person token' });
        if (refresh && credential.cacheKey !== undefined) ctx.cache.invalidate(credential.cacheKey, credential.token);
        credential = await ctx.personCredential(resource, { refresh });
        state.kind = 'person';
        lastRequirement = refresh ? 'person-token-refreshed' : 'person-token';
        response = await send(credential);
        continue;
      }
      case 'auth-token': {
        if (requirement.requirement !== 'auth-token') break;
        let auth: Credential;
        try {
          ({ credential: auth } = await ctx.authCredential(resource, requirement.resourceToken, credential));
        } catch (error) {
          // The resource token expired before the PS saw it (§8.30 `expired_resource_token`). There are no refresh
          // tokens: ask the resource again for a fresh challenge (digest §6 E), once per call.
          if (!retriedExpiredResourceToken && isAgentError(error, 'token_request_failed') && error.error === 'expired_resource_token') {
            retriedExpiredResourceToken = true;
            response = await send(credential);
            continue;
          }
          throw error;
        }
        if (lastRequirement === `auth:${auth.token}`) throw new AgentError('unexpected_response', { status, detail: 'the resource refused the auth token it asked for' });
        lastRequirement = `auth:${auth.token}`;
        credential = auth;
        state.kind = 'auth';
        if (auth.cacheKey !== undefined) state.authKey = auth.cacheKey;
        // §8.27: a deferred (202) auth-token is completed by polling its pending URL with the auth token.
        if (status === 202 && response.headers.get('location') !== null) {
          response = await poll(new Response(null, { status: 202, headers: { location: response.headers.get('location')!, 'retry-after': '0' } }), credential, true);
        } else {
          response = await send(credential);
        }
        continue;
      }
      default: {
        if (status === 202 && (DEFERRABLE.has(value) || value === 'unknown') && response.headers.get('location') !== null) {
          // §8.28: an unknown requirement on a 202 may be polled; the resource's pending URL is authoritative (§8.50).
          response = await poll(response, credential, true);
          continue;
        }
        if (value === 'unknown') {
          throw new AgentError('unknown_requirement', { status, detail: `AAuth-Requirement: requirement=${requirement.requirement === 'unknown' ? requirement.value : value}` });
        }
        throw new AgentError('unexpected_response', { status, detail: `requirement=${value} on a ${status} the agent cannot satisfy` });
      }
    }
  }
  throw new AgentError('too_many_rounds', { detail: `the resource did not settle within ${ctx.maxRounds} rounds` });
}

function parseSignatureErrorCode(response: Response): string | undefined {
  const value = response.headers.get('signature-error');
  if (value === null) return undefined;
  try {
    return parseSignatureError(value).error;
  } catch {
    return undefined;
  }
}
