/**
 * Per-route policy (AAuth -11 §Access Modes; digest §2): which access mode a route runs in, the scopes it needs,
 * the issuers it trusts and the signature profile it demands. A resource MAY choose a different mode per endpoint;
 * the runtime `AAuth-Requirement` it answers with is authoritative, `access_mode` in metadata only advisory.
 */
import { AAuthError, type ReplayCache, type RequestTokenTyp } from '@tessera/protocol';

/** The access modes a route can enforce (the AAuth Access Mode Value Registry, without R3's `per-call`). */
export type ResourceAccessMode = 'agent-token' | 'person-token' | 'session-token' | 'auth-token';

export const RESOURCE_ACCESS_MODES: readonly ResourceAccessMode[] = ['agent-token', 'person-token', 'session-token', 'auth-token'];

export interface RoutePolicy {
  readonly mode: ResourceAccessMode;
  /**
   * Scopes the route needs. `auth-token`: the auth token's `scope` must include them all (else 403
   * `invalid_scope`), and the resource token of a challenge asks for them (REQUIRED, non-empty).
   * `session-token`: the session's scopes must include them. Not allowed in `agent-token` and `person-token`
   * modes (neither token carries a scope: a person token never does, AAuth §Person Token Structure).
   */
  readonly scopes?: readonly string[];
  /** Components agents must cover beyond the profile's (`additional_signature_components`), added to the resource's. */
  readonly additionalComponents?: readonly string[];
  /** Person Servers whose person and auth tokens this route accepts; absent = the resource's list, else any. */
  readonly trustedPersonServers?: readonly string[];
  /** Agent Providers whose agent tokens this route accepts; absent = the resource's list, else any. */
  readonly trustedAgentProviders?: readonly string[];
  /**
   * Four-party: the Access Server that is the resource's policy engine. Resource tokens are then addressed to it
   * (`aud` = AS, §8.24) and only auth tokens it issued (`dwk` `aauth-access.json`, `iss` = it) are accepted.
   * Absent = the resource's, else three-party (`aud` = the person token's PS).
   */
  readonly accessServer?: string;
  /** Signature `created` window in seconds; absent = the resource's `signatureWindow`, else 60. */
  readonly window?: number;
  /** Replay detection on `(jkt, created, method, authority, path)`; absent = the resource's, `false` = none. */
  readonly replayCache?: ReplayCache | false;
  /** Require `content-digest` and `content-type` to be covered on a body. Default false (true at the authorization endpoint). */
  readonly requireContentDigest?: boolean;
}

/**
 * The token kinds each mode takes in `Signature-Key` (passed to `verifyAAuthRequest` as `accept`). Only the last
 * kind of each list grants access; the earlier ones are taken to answer the next challenge:
 * an agent token where a person is needed → `requirement=person-token`; a person token where an auth token is
 * needed → `requirement=auth-token; resource-token=…`. A person token never grants access where an auth token
 * is required (§8.22): `typ` tells them apart and only `aa-auth+jwt` reaches the success branch.
 */
export const ACCEPTED_KINDS: { readonly [M in ResourceAccessMode]: readonly [RequestTokenTyp, ...RequestTokenTyp[]] } = {
  'agent-token': ['aa-agent+jwt'],
  'session-token': ['aa-agent+jwt'],
  'person-token': ['aa-agent+jwt', 'aa-person+jwt'],
  'auth-token': ['aa-agent+jwt', 'aa-person+jwt', 'aa-auth+jwt'],
};

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 §3.3 scope-token

function invalid(detail: string): AAuthError {
  return new AAuthError('invalid_argument', { detail: `route policy: ${detail}` });
}

/** Policies `definePolicy` returned: frozen with their lists, so what was checked cannot change afterwards. */
const DEFINED = new WeakSet<object>();

/**
 * Checks a policy once (a configuration error throws `invalid_argument`) and returns it frozen, its lists too. A
 * policy it returned passes through unchecked: every request of a route hands its policy over again.
 */
export function definePolicy<P extends RoutePolicy>(policy: P): Readonly<P> {
  if (DEFINED.has(policy)) return policy;
  if (!RESOURCE_ACCESS_MODES.includes(policy.mode)) throw invalid(`unknown mode ${String(policy.mode)}`);
  const scopes = policy.scopes ?? [];
  for (const s of scopes) if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) throw invalid(`invalid scope ${JSON.stringify(s)}`);
  if ((policy.mode === 'agent-token' || policy.mode === 'person-token') && scopes.length > 0) {
    throw invalid(`${policy.mode} mode carries no scope; use auth-token or session-token`);
  }
  if (policy.mode === 'auth-token' && scopes.length === 0) {
    throw invalid('auth-token mode needs scopes: a resource token REQUIRES scope (§8.24)');
  }
  if (policy.window !== undefined && (!Number.isSafeInteger(policy.window) || policy.window <= 0)) throw invalid('window must be a positive integer');
  for (const list of [policy.trustedPersonServers, policy.trustedAgentProviders]) {
    if (list !== undefined && (!Array.isArray(list) || !list.every((v) => typeof v === 'string' && v.length > 0))) {
      throw invalid('trusted issuer lists hold identifiers');
    }
  }
  const lists = ['scopes', 'additionalComponents', 'trustedPersonServers', 'trustedAgentProviders'] as const;
  const copy: Record<string, unknown> = { ...(policy as RoutePolicy) };
  for (const name of lists) {
    const list = policy[name];
    if (list !== undefined) copy[name] = Object.freeze([...list]);
  }
  const defined = Object.freeze(copy) as Readonly<P>;
  DEFINED.add(defined);
  return defined;
}

/** A space-separated `scope` claim as a list, empty members dropped. */
export function scopeList(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter((s) => s.length > 0);
}

/** The required scopes missing from `granted`. */
export function missingScopes(required: readonly string[] | undefined, granted: readonly string[]): string[] {
  const have = new Set(granted);
  return (required ?? []).filter((s) => !have.has(s));
}
