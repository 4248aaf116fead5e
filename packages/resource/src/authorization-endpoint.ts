/**
 * The resource's `authorization_endpoint` (AAuth -11 §Authorization Endpoint; digest §5 row
 * "R authorization_endpoint"): a POST signed with a person token, body `{scope (REQUIRED), account?}`, answered
 * with `200 {resource_token}` — a resource token for that person and this signer (§8.24) which the agent redeems
 * at its PS (three-party) or the resource's AS (four-party).
 *
 * - no person token (unsigned, or signed with an agent token) → `401 requirement=person-token` (§8.23);
 * - signature failures → 401 + `Signature-Error`;
 * - a person token from an untrusted PS → 400 `invalid_person_token`; body not JSON or no `scope` →
 *   400 `invalid_request`; an unknown scope → 400 `invalid_scope`; an account not accepted → 400 `invalid_account`.
 *
 * The body must be covered by `content-digest` and `content-type` (default; the protocol checks the digest against
 * the bytes read).
 */
import { AAuthError, type PersonTokenClaims } from '@tessera/protocol';
import { errorResponse, NO_STORE, problemResponse } from './challenge.js';
import { scopeList } from './policy.js';
import { issueResourceToken, resourceTokenContext } from './resource-token.js';
import { verifyRequest, type ResourceContext, type VerifiedPerson } from './verify-request.js';

export interface AccountCheck {
  readonly account: string;
  readonly person: VerifiedPerson;
  readonly agentJkt: string;
}

export interface AuthorizationEndpointOptions {
  /**
   * The scopes an agent may request. Default: the keys of the resource's `scope_descriptions`; when the resource
   * declares none, any syntactically valid scope.
   */
  readonly scopes?: readonly string[];
  /** Whether `account` names an account this person may use here. Without it any `account` → `invalid_account`. */
  readonly validateAccount?: (check: AccountCheck) => boolean | Promise<boolean>;
  /** Require `content-digest`/`content-type` over the body. Default true. */
  readonly requireContentDigest?: boolean;
  readonly trustedPersonServers?: readonly string[];
  /** Four-party: address resource tokens to this Access Server. */
  readonly accessServer?: string;
  /** Additional components beyond the resource's. */
  readonly additionalComponents?: readonly string[];
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function badRequest(code: 'invalid_request' | 'invalid_scope' | 'invalid_account', detail: string): Response {
  return problemResponse(400, code, detail);
}

/** Handles one request to the authorization endpoint. */
export async function handleAuthorizationRequest(request: Request, context: ResourceContext, options: AuthorizationEndpointOptions = {}): Promise<Response> {
  if (request.method.toUpperCase() !== 'POST') {
    return new Response(JSON.stringify({ error: 'invalid_request', detail: 'use POST' }), {
      status: 405,
      headers: { allow: 'POST', 'content-type': 'application/problem+json', 'cache-control': NO_STORE },
    });
  }
  if (context.signer === undefined) throw new AAuthError('invalid_argument', { detail: 'the authorization endpoint needs the resource signer' });
  const verified = await verifyRequest(
    request,
    {
      mode: 'person-token',
      requireContentDigest: options.requireContentDigest ?? true,
      ...(options.trustedPersonServers === undefined ? {} : { trustedPersonServers: options.trustedPersonServers }),
      ...(options.additionalComponents === undefined ? {} : { additionalComponents: options.additionalComponents }),
    },
    context,
    { untrustedStatus: 400 },
  );
  if (!verified.ok) return verified.response;
  if (verified.token.kind !== 'aa-person+jwt' || verified.person === undefined) {
    return errorResponse(new AAuthError('server_error', { detail: 'person-token verification returned another kind' }));
  }
  const personToken: PersonTokenClaims = verified.token.claims;

  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(verified.body ?? new Uint8Array()));
  } catch {
    return badRequest('invalid_request', 'the body must be a JSON object {scope, account?}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return badRequest('invalid_request', 'the body must be a JSON object {scope, account?}');
  const fields = parsed as Record<string, unknown>;
  const scope = fields['scope'];
  if (typeof scope !== 'string' || scopeList(scope).length === 0) return badRequest('invalid_request', 'scope is required');
  const scopes = [...new Set(scopeList(scope))];
  if (!scopes.every((s) => SCOPE_TOKEN.test(s))) return badRequest('invalid_request', 'scope is not a list of scope tokens');
  if (options.scopes !== undefined) {
    const known = new Set(options.scopes);
    const unknown = scopes.filter((s) => !known.has(s));
    if (unknown.length > 0) return badRequest('invalid_scope', `unknown scope ${unknown.join(' ')}`);
  }

  const account = fields['account'];
  if (account !== undefined) {
    if (typeof account !== 'string' || account.length === 0) return badRequest('invalid_request', 'account must be a non-empty string');
    const ok = options.validateAccount ? await options.validateAccount({ account, person: verified.person, agentJkt: verified.agent.jkt }) : false;
    if (!ok) return badRequest('invalid_account', 'this account is not available to this person');
  }

  const accessServer = options.accessServer ?? context.accessServer;
  const issued = await issueResourceToken(
    resourceTokenContext(context),
    {
      personToken,
      agentJkt: verified.agent.jkt,
      scopes,
      ...(accessServer === undefined ? {} : { accessServer }),
      ...(typeof account === 'string' ? { account } : {}),
    },
  );
  return new Response(JSON.stringify({ resource_token: issued.token }), {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': NO_STORE },
  });
}
