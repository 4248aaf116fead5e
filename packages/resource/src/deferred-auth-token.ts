/**
 * Deferred auth-token delivery (AAuth -11 §Deferred Responses "Deferred auth token"; digest §8.26): instead of a
 * `401`, the route answers `202` with `AAuth-Requirement: requirement=auth-token; resource-token="…"`, a same-origin
 * unguessable `Location` (the pending URL), `Retry-After` and `Cache-Control: no-store`. The agent obtains the auth
 * token and polls the pending URL with a signed GET carrying it. On the first valid poll the resource runs the
 * original request's handler — once — keeps the result until the auth token's `exp` and replays it on later polls.
 *
 * A poll is verified like any request (signature on every poll, digest §7); it must come from the same agent key
 * and person the resource token named (`agent_jkt`, `ps`, `sub`). A poll signed with the person token before the
 * auth token exists is answered `202` again (an unsigned one gets the usual 401). An unknown pending URL → 404; one whose record expired → 410.
 */
import { AAuthError, b64urlEncode } from '@tessera/protocol';
import { forbiddenResponse, problemResponse, requirementResponse } from './challenge.js';
import { definePolicy, type RoutePolicy } from './policy.js';
import { verifyRequest, type ResourceContext, type VerifiedIdentity } from './verify-request.js';

/** The original request, as the handler receives it when it finally runs. */
export interface DeferredRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly body: Uint8Array | undefined;
}

export type DeferredHandler = (identity: VerifiedIdentity, original: DeferredRequest) => Response | Promise<Response>;

export interface DeferredAuthTokenOptions {
  /** An auth-token policy (mode `auth-token`, scopes). */
  readonly policy: RoutePolicy;
  readonly handler: DeferredHandler;
  /** Path prefix of pending URLs on this resource's origin, e.g. `/aauth/pending`. */
  readonly pendingPath: string;
  /** `Retry-After` seconds (default 5, the agent's default interval). */
  readonly retryAfter?: number;
  /** Bound on pending records (default 10 000); when full, the oldest is dropped. */
  readonly maxPending?: number;
}

interface StoredResult {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

interface PendingRecord {
  readonly original: DeferredRequest;
  readonly agentJkt: string;
  readonly ps: string;
  readonly sub: string;
  readonly resourceToken: string;
  readonly location: string;
  /** Expiry, epoch seconds: the resource token's until the handler ran, then the auth token's. */
  expires: number;
  result?: Promise<StoredResult>;
}

export interface DeferredAuthToken {
  /** The protected route: a granted request (auth token) runs the handler at once; a person token gets the 202. */
  handle(request: Request): Promise<Response>;
  /** The pending URL (`GET {pendingPath}/{id}`). */
  poll(request: Request): Promise<Response>;
  /** True when `url` is under `pendingPath`. */
  isPendingUrl(url: string): boolean;
  /** Pending records held (for tests and metrics). */
  readonly size: number;
}

async function store(response: Response): Promise<StoredResult> {
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => headers.push([name, value]));
  return { status: response.status, headers, body: new Uint8Array(await response.arrayBuffer()) };
}

function replay(result: StoredResult): Response {
  const nullBody = result.status === 204 || result.status === 304;
  return new Response(nullBody ? null : result.body.slice(), { status: result.status, headers: new Headers(result.headers as [string, string][]) });
}

/** Builds the deferred auth-token flow for one route. */
export function createDeferredAuthToken(context: ResourceContext, options: DeferredAuthTokenOptions): DeferredAuthToken {
  const policy = definePolicy(options.policy);
  if (policy.mode !== 'auth-token') throw new AAuthError('invalid_argument', { detail: 'deferred delivery is for auth-token routes' });
  const prefix = options.pendingPath.replace(/\/+$/, '');
  if (!prefix.startsWith('/')) throw new AAuthError('invalid_argument', { detail: 'pendingPath must start with /' });
  const retryAfter = options.retryAfter ?? 5;
  const maxPending = options.maxPending ?? 10_000;
  const pending = new Map<string, PendingRecord>();

  const pendingResponse = (record: PendingRecord): Response =>
    requirementResponse(
      { requirement: 'auth-token', resourceToken: record.resourceToken },
      { status: 202, headers: { location: record.location, 'retry-after': String(retryAfter) }, body: { status: 'pending' } },
    );

  function remember(id: string, record: PendingRecord): void {
    const now = context.now();
    if (pending.size >= maxPending) {
      for (const [k, r] of pending) if (r.expires <= now) pending.delete(k);
      while (pending.size >= maxPending) {
        const oldest = pending.keys().next();
        if (oldest.done === true) break;
        pending.delete(oldest.value);
      }
    }
    pending.set(id, record);
  }

  function run(record: PendingRecord, identity: VerifiedIdentity): Promise<StoredResult> {
    return (async () => {
      try {
        return await store(await options.handler(identity, record.original));
      } catch {
        // Executed once, failed once: the failure is the result replayed.
        return store(problemResponse(500, 'server_error'));
      }
    })();
  }

  return {
    get size() {
      return pending.size;
    },

    isPendingUrl(url: string): boolean {
      return new URL(url).pathname.startsWith(`${prefix}/`);
    },

    async handle(request: Request): Promise<Response> {
      const headers = new Headers(request.headers);
      const verified = await verifyRequest(request, policy, context);
      if (verified.ok) return options.handler(verified, { method: request.method, url: request.url, headers, body: verified.body });
      const issued = verified.resourceToken;
      if (verified.requirement?.requirement !== 'auth-token' || issued === undefined) return verified.response;
      const id = b64urlEncode(globalThis.crypto.getRandomValues(new Uint8Array(32)));
      const location = new URL(`${prefix}/${id}`, request.url).href;
      const record: PendingRecord = {
        original: { method: request.method, url: request.url, headers, body: verified.body },
        agentJkt: issued.claims.agent_jkt,
        ps: issued.claims.ps,
        sub: issued.claims.sub,
        resourceToken: issued.token,
        location,
        expires: issued.exp,
      };
      remember(id, record);
      return pendingResponse(record);
    },

    async poll(request: Request): Promise<Response> {
      const path = new URL(request.url).pathname;
      const id = path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : '';
      const record = pending.get(id);
      if (record === undefined) return problemResponse(404, 'invalid_request', 'unknown pending request');
      if (record.expires <= context.now()) {
        pending.delete(id);
        return problemResponse(410, 'expired', 'this pending request has ended');
      }
      // Every poll is a signed request, verified in full (digest §7: signature verified on every poll).
      const verified = await verifyRequest(request, policy, context);
      if (!verified.ok) {
        // Still waiting for the auth token: a poll signed by the same agent with the same person's token → 202 again.
        const rt = verified.resourceToken;
        if (rt !== undefined && record.result === undefined) {
          if (rt.claims.agent_jkt !== record.agentJkt || rt.claims.ps !== record.ps || rt.claims.sub !== record.sub) {
            return forbiddenResponse('invalid_person_token', 'this pending request belongs to another agent or person');
          }
          return pendingResponse(record);
        }
        return verified.response;
      }
      const person = verified.person;
      if (verified.agent.jkt !== record.agentJkt || person === undefined || person.iss !== record.ps || person.sub !== record.sub) {
        return forbiddenResponse('invalid_auth_token', 'this pending request belongs to another agent or person');
      }
      if (record.result === undefined) {
        record.result = run(record, verified);
        // Keep the result until the auth token's exp (AAuth §Deferred Responses).
        record.expires = verified.token.claims.exp;
      }
      return replay(await record.result);
    },
  };
}
