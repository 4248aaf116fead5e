/**
 * The core of @tessera/resource: `verifyRequest(request, policy, context)` takes a fetch `Request` and returns
 * either the verified identity or the response to send (a challenge or an error), ready to go.
 *
 * Order (AAuth -11 §HTTP Message Signatures Profile, §Requirement Responses; digest §3):
 * 1. the body is read once, as bytes, so Content-Digest is checked against exactly what arrived;
 * 2. no signature headers at all → `401 requirement=agent-token` (agent-token, session-token modes) or
 *    `requirement=person-token` (person-token, auth-token modes) — bare, no parameters (§8.29);
 * 3. `verifyAAuthRequest` with `accept` = exactly the kinds the mode takes (`ACCEPTED_KINDS`); any failure →
 *    401 + `Signature-Error` (`toErrorResponse(err, {duringVerification: true})`);
 * 4. the issuer is trusted, else 403 without `Signature-Error` (§8.11);
 * 5. the mode: an agent token where a person is needed → `401 requirement=person-token`; a person token where an
 *    auth token is needed → `401 requirement=auth-token; resource-token="…"` with a resource token minted here
 *    (§8.24, §8.25) — never access (§8.22); a session token is looked up and must be bound to the signer (§8.51);
 * 6. scopes: missing → 403 `invalid_scope` (§8.11).
 *
 * Persons are keyed on `(iss, sub)` where `iss` is the Person Server (a person token's `iss`, an auth token's
 * `ps`), so the same person seen through a person token and a four-party auth token is one key, and a `sub` is
 * never compared across Person Servers (§8.21).
 */
import {
  AAuthError,
  headerLines,
  headerValue,
  verifyAAuthRequest,
  type AAuthRequirement,
  type AgentTokenClaims,
  type AuthTokenClaims,
  type HeaderLines,
  type HttpRequestMessage,
  type JwsAlgorithm,
  type KeyResolver,
  type PersonTokenClaims,
  type ReplayCache,
  type RequestTokenTyp,
  type Signer,
  type VerifiedAAuthRequest,
  type DigestFunction,
  type VerifiedTokenCache,
  type VerifyKeyCache,
} from '@tessera/protocol';
import { forbiddenResponse, problemResponse, requirementResponse, signatureErrorResponse } from './challenge.js';
import { ACCEPTED_KINDS, definePolicy, missingScopes, scopeList, type ResourceAccessMode, type RoutePolicy } from './policy.js';
import { issueResourceToken, resourceTokenContext, type IssuedResourceToken, type ResourceTokenCompatibility } from './resource-token.js';
import { lookupSessionToken, type SessionFailure, type SessionRecord, type SessionStore } from './session-token.js';

/** What every verification needs: the resource's identity, keys, clock and caches. */
export interface ResourceContext {
  /** This resource's identifier: person and auth tokens must name it in `aud`; resource tokens are issued by it. */
  readonly issuer: string;
  /** Resolves `{iss}/.well-known/{dwk}` → `jwks_uri` → `kid` (the protocol's `createKeyResolver`). */
  readonly resolveKey: KeyResolver;
  /** Epoch seconds. */
  readonly now: () => number;
  /** Signs resource tokens (needed by auth-token routes and the authorization endpoint). Its key carries a `kid`. */
  readonly signer?: Signer;
  readonly keyCache?: VerifyKeyCache;
  readonly tokenCache?: VerifiedTokenCache;
  readonly replayCache?: ReplayCache;
  /** How the Content-Digest check hashes bodies (WebCrypto by default; `nodeDigest` from `@tessera/protocol/node`). */
  readonly digest?: DigestFunction;
  /** Where session tokens live (session-token routes). */
  readonly sessionStore?: SessionStore;
  /** Defaults for routes that name none. */
  readonly trustedPersonServers?: readonly string[];
  readonly trustedAgentProviders?: readonly string[];
  readonly accessServer?: string;
  /** The `signature_window` the resource advertises (default 60). */
  readonly signatureWindow?: number;
  /** The `additional_signature_components` the resource advertises; every route requires them. */
  readonly additionalComponents?: readonly string[];
  readonly acceptAlgorithms?: readonly JwsAlgorithm[];
  /** Resource-token lifetime, ≤ 300 s (default 300). */
  readonly resourceTokenTtl?: number;
  /** Claim-name compatibility for Person Servers that differ from -11 (see `ResourceTokenCompatibility`). */
  readonly compatibility?: ResourceTokenCompatibility;
  /** Largest body read (default 1 MiB); larger → 413. */
  readonly maxBodyBytes?: number;
  /**
   * Session-token routes: the answer when the agent has no usable session yet (typically the start of the
   * resource's own flow: `202 requirement=interaction`). Default: 403 `invalid_request`.
   */
  readonly onSessionRequired?: (info: SessionRequiredInfo) => Response | Promise<Response>;
}

export interface SessionRequiredInfo {
  readonly reason: SessionFailure;
  readonly request: Request;
  readonly agent: VerifiedAgent;
  readonly verified: VerifiedAAuthRequest<RequestTokenTyp>;
}

export interface VerifiedAgent {
  /** RFC 7638 thumbprint of the signing key: what `agent_jkt` names and what every token is bound to. */
  readonly jkt: string;
  /** The agent identifier (`aauth:local@domain`), when the request carried an agent token. */
  readonly id?: string;
  /** The agent token's claims (agent-token and session-token modes). */
  readonly token?: AgentTokenClaims;
}

/** A person, keyed on `(iss, sub)`: `iss` is the Person Server whose namespace `sub` belongs to (§8.21). */
export interface VerifiedPerson {
  readonly iss: string;
  readonly sub: string;
}

/** The identity a granted request carries. */
export interface VerifiedIdentity {
  readonly mode: ResourceAccessMode;
  readonly agent: VerifiedAgent;
  readonly person?: VerifiedPerson;
  /** Granted scopes: the auth token's `scope`, the session's scopes; empty in agent-token and person-token modes. */
  readonly scopes: readonly string[];
  readonly missionS256?: string;
  readonly tenant?: string;
  /** The auth token's `account`. */
  readonly account?: string;
  /** `jti` of the token in `Signature-Key`. */
  readonly tokenId: string;
  /** The verified token of `Signature-Key` (its `kind` is the mode's granting kind). */
  readonly token: VerifiedAAuthRequest<RequestTokenTyp>['token'];
  /** Everything `verifyAAuthRequest` established (label, components, created, ...). */
  readonly request: VerifiedAAuthRequest<RequestTokenTyp>;
  /** The session (session-token mode). */
  readonly session?: SessionRecord;
  /** The request body as read (the stream is consumed): what Content-Digest was checked against. */
  readonly body: Uint8Array | undefined;
}

export type VerifyRequestResult =
  | ({ readonly ok: true } & VerifiedIdentity)
  | {
      readonly ok: false;
      /** The response to send: a challenge, 401 + Signature-Error, or a problem+json refusal. */
      readonly response: Response;
      /** When the response is a requirement challenge, what it asks for. */
      readonly requirement?: AAuthRequirement;
      /** With an auth-token challenge: the resource token minted (deferred delivery keeps it). */
      readonly resourceToken?: IssuedResourceToken;
      /** The body as read, when it was. */
      readonly body?: Uint8Array | undefined;
    };

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Reads a fetch `Request` body once, as bytes, bounded. `undefined` for no or an empty body. */
export async function readBody(request: Request, maxBytes: number = DEFAULT_MAX_BODY_BYTES): Promise<{ body: Uint8Array | undefined } | { tooLarge: true }> {
  if (BODYLESS.has(request.method.toUpperCase()) || request.body === null) return { body: undefined };
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes) return { tooLarge: true };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > maxBytes) {
      await reader.cancel();
      return { tooLarge: true };
    }
    chunks.push(value);
  }
  if (length === 0) return { body: undefined };
  const body = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.length;
  }
  return { body };
}

/** The header field lines of a fetch `Request` (duplicates already combined with ", ", RFC 9421 §2.1). */
export function requestHeaderLines(request: Request): HeaderLines {
  const lines: [string, string][] = [];
  request.headers.forEach((value, name) => lines.push([name, value]));
  return lines;
}

/** True when the request carries none of the signature headers: the agent has not started AAuth yet. */
function isUnsigned(headers: HttpRequestMessage['headers']): boolean {
  // A scan of the field names, not a header map: the verifier builds its own, once, from the same lines.
  if (isHeaderLines(headers)) {
    for (const [name] of headers) if (SIGNATURE_FIELDS.has(name.toLowerCase())) return false;
    return true;
  }
  const names: string[] = headers instanceof Headers ? [...headers.keys()] : Object.keys(headers);
  return !names.some((name) => SIGNATURE_FIELDS.has(name.toLowerCase()));
}

const isHeaderLines = (headers: HttpRequestMessage['headers']): headers is HeaderLines => Array.isArray(headers);

const SIGNATURE_FIELDS: ReadonlySet<string> = new Set(['signature', 'signature-input', 'signature-key']);

/** A fetch `Request` for a message (only for `onSessionRequired`, which takes one). */
function toRequest(message: HttpRequestMessage, body: Uint8Array | undefined): Request {
  const headers = new Headers();
  for (const [name, values] of headerLines(message.headers)) for (const value of values) headers.append(name, value);
  return new Request(message.url, { method: message.method, headers, ...(body === undefined ? {} : { body: body as Uint8Array<ArrayBuffer> }) });
}

function refuse(response: Response, body: Uint8Array | undefined, extra: Partial<Extract<VerifyRequestResult, { ok: false }>> = {}): VerifyRequestResult {
  return { ok: false, response, body, ...extra };
}

function challenge(requirement: AAuthRequirement, body: Uint8Array | undefined, resourceToken?: IssuedResourceToken): VerifyRequestResult {
  return refuse(requirementResponse(requirement), body, { requirement, ...(resourceToken === undefined ? {} : { resourceToken }) });
}

/** Knobs for this package's own endpoints; not part of the public API. */
export interface VerifyInternals {
  /** Status of an untrusted-issuer refusal: 403 on routes (§8.11), 400 at the authorization endpoint (its error table). */
  readonly untrustedStatus?: number;
}

function trusted(list: readonly string[] | undefined, iss: string): boolean {
  return list === undefined || list.includes(iss);
}

/**
 * Verifies a fetch `Request` against a route policy. Never throws on bad input (configuration errors — an
 * invalid policy, an auth-token route without a signer — do throw `invalid_argument`).
 */
export async function verifyRequest(request: Request, policy: RoutePolicy, context: ResourceContext, internal: VerifyInternals = {}): Promise<VerifyRequestResult> {
  checkPolicyContext(definePolicy(policy), context);
  const read = await readBody(request, context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if ('tooLarge' in read) return refuse(problemResponse(413, 'invalid_request', 'request body too large'), undefined);
  const message: HttpRequestMessage = { method: request.method, url: request.url, headers: requestHeaderLines(request), ...(read.body === undefined ? {} : { body: read.body }) };
  return verifyMessage(message, policy, context, internal, request);
}

/** Configuration errors of a route: they throw (`invalid_argument`), they are not the caller's fault. */
function checkPolicyContext(p: RoutePolicy, context: ResourceContext): void {
  if (p.mode === 'auth-token' && context.signer === undefined) {
    throw new AAuthError('invalid_argument', { detail: 'an auth-token route needs the resource signer to mint resource tokens' });
  }
  if (p.mode === 'session-token' && context.sessionStore === undefined) {
    throw new AAuthError('invalid_argument', { detail: 'a session-token route needs a session store' });
  }
}

/**
 * `verifyRequest` for a request already read: the method, the absolute URL, the header field lines as received
 * (duplicates are combined per RFC 9421 §2.1 by the verifier) and the body bytes. For servers that hold the raw
 * message (the gateway reads `rawHeaders` and the body itself): no fetch `Request`, no body stream to read back.
 * A body longer than the context's `maxBodyBytes` is refused (413). `original` is handed to `onSessionRequired`
 * when given (one is built from the message otherwise).
 */
export async function verifyMessage(
  message: HttpRequestMessage,
  policy: RoutePolicy,
  context: ResourceContext,
  internal: VerifyInternals = {},
  original?: Request,
): Promise<VerifyRequestResult> {
  const p = definePolicy(policy);
  const accessServer = p.accessServer ?? context.accessServer;
  const trustedPs = p.trustedPersonServers ?? context.trustedPersonServers;
  const trustedAp = p.trustedAgentProviders ?? context.trustedAgentProviders;
  checkPolicyContext(p, context);
  const body = message.body === undefined || message.body.length === 0 ? undefined : message.body;
  if (body !== undefined && body.length > (context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)) {
    return refuse(problemResponse(413, 'invalid_request', 'request body too large'), undefined);
  }
  if (isUnsigned(message.headers)) {
    const needsPerson = p.mode === 'person-token' || p.mode === 'auth-token';
    return challenge({ requirement: needsPerson ? 'person-token' : 'agent-token' }, body);
  }

  const additional = [...(context.additionalComponents ?? []), ...(p.additionalComponents ?? [])];
  const replayCache = p.replayCache === false ? undefined : (p.replayCache ?? context.replayCache);
  const result = await verifyAAuthRequest(body === message.body ? message : { ...message, body }, {
    accept: ACCEPTED_KINDS[p.mode],
    audience: context.issuer,
    resolveKey: context.resolveKey,
    now: context.now,
    window: p.window ?? context.signatureWindow ?? 60,
    ...(additional.length === 0 ? {} : { additionalComponents: additional }),
    ...(p.requireContentDigest === true ? { requireContentDigest: true } : {}),
    ...(replayCache === undefined ? {} : { replayCache }),
    ...(context.keyCache === undefined ? {} : { keyCache: context.keyCache }),
    ...(context.tokenCache === undefined ? {} : { tokenCache: context.tokenCache }),
    ...(context.digest === undefined ? {} : { digest: context.digest }),
    ...(context.acceptAlgorithms === undefined ? {} : { acceptAlgorithms: context.acceptAlgorithms }),
  });
  if (!result.ok) return refuse(signatureErrorResponse(result.error, context.acceptAlgorithms === undefined ? {} : { acceptAlgorithms: context.acceptAlgorithms }), body);
  const verified = result.value;
  const token = verified.token;
  const granted = (fields: Omit<VerifiedIdentity, 'mode' | 'request' | 'body' | 'token'>): VerifyRequestResult => ({
    ok: true,
    mode: p.mode,
    token,
    request: verified,
    body,
    ...fields,
  });

  switch (token.kind) {
    case 'aa-agent+jwt': {
      const claims = token.claims;
      if (!trusted(trustedAp, claims.iss)) return refuse(forbiddenResponse('invalid_agent_token', `agent tokens from ${claims.iss} are not accepted here`), body);
      const agent: VerifiedAgent = { jkt: verified.jkt, id: claims.sub, token: claims };
      // §8.23: a person is needed and only an agent token came: ask for a person token (no resource token without one).
      if (p.mode === 'person-token' || p.mode === 'auth-token') return challenge({ requirement: 'person-token' }, body);
      if (p.mode === 'agent-token') return granted({ agent, scopes: [], tokenId: claims.jti });
      // session-token (§8.51: `authorization` covered was checked by verifyAAuthRequest)
      const store = context.sessionStore as SessionStore;
      const session = await lookupSessionToken(store, headerValue(headerLines(message.headers), 'authorization'), verified.jkt, context.now);
      if (!session.ok) {
        if (session.reason === 'malformed') {
          return refuse(problemResponse(400, 'invalid_request', 'Authorization: AAuth must carry exactly one token68 session token'), body);
        }
        const response = context.onSessionRequired
          ? await context.onSessionRequired({ reason: session.reason, request: original ?? toRequest(message, body), agent, verified })
          : forbiddenResponse('invalid_request', `a session token is required (${session.reason})`);
        return refuse(response, body);
      }
      const record = session.record;
      const missing = missingScopes(p.scopes, record.scopes);
      if (missing.length > 0) return refuse(forbiddenResponse('invalid_scope', `the session does not grant ${missing.join(' ')}`), body);
      return granted({ agent, scopes: record.scopes, tokenId: claims.jti, session: record, ...(record.person === undefined ? {} : { person: record.person }) });
    }

    case 'aa-person+jwt': {
      const claims: PersonTokenClaims = token.claims;
      if (!trusted(trustedPs, claims.iss)) return refuse(problemResponse(internal.untrustedStatus ?? 403, 'invalid_person_token', `person tokens from ${claims.iss} are not accepted here`), body);
      const agent: VerifiedAgent = { jkt: verified.jkt };
      const person: VerifiedPerson = { iss: claims.iss, sub: claims.sub };
      if (p.mode === 'person-token') {
        return granted({
          agent,
          person,
          scopes: [],
          tokenId: claims.jti,
          ...(claims.mission_s256 === undefined ? {} : { missionS256: claims.mission_s256 }),
          ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
        });
      }
      // auth-token mode: a person token never grants access (§8.22); it earns a resource token (§8.24, §8.25).
      const issued = await issueResourceToken(
        resourceTokenContext(context),
        { personToken: claims, agentJkt: verified.jkt, scopes: p.scopes ?? [], ...(accessServer === undefined ? {} : { accessServer }) },
      );
      return challenge({ requirement: 'auth-token', resourceToken: issued.token }, body, issued);
    }

    case 'aa-auth+jwt': {
      const claims: AuthTokenClaims = token.claims;
      // §8.40: `dwk` person|access, `aud` = this resource, `cnf` complete and = signer, `sub` present: checked by
      // verifyAAuthRequest (claims, audience, the signature verified with `cnf.jwk`). Here: who issued it.
      const issuerOk =
        accessServer !== undefined
          ? claims.dwk === 'aauth-access.json' && claims.iss === accessServer && trusted(trustedPs, claims.ps)
          : claims.dwk === 'aauth-person.json'
            ? trusted(trustedPs, claims.iss)
            : // PS-AS collapse (digest §2): one server in both roles issues with `dwk` `aauth-access.json`; only when named.
              trustedPs !== undefined && trustedPs.includes(claims.iss) && claims.ps === claims.iss;
      if (!issuerOk) return refuse(forbiddenResponse('invalid_auth_token', `auth tokens from ${claims.iss} are not accepted here`), body);
      const scopes = scopeList(claims.scope);
      const missing = missingScopes(p.scopes, scopes);
      if (missing.length > 0) return refuse(forbiddenResponse('invalid_scope', `the auth token does not grant ${missing.join(' ')}`), body);
      return granted({
        agent: { jkt: verified.jkt },
        person: { iss: claims.ps, sub: claims.sub },
        scopes,
        tokenId: claims.jti,
        ...(claims.mission_s256 === undefined ? {} : { missionS256: claims.mission_s256 }),
        ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
        ...(claims.account === undefined ? {} : { account: claims.account }),
      });
    }
  }
}
