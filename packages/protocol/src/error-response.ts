/**
 * The one mapping from an `AAuthError` to an HTTP response (AAuth -11 §Error Responses; HTTP Signature
 * Keys -08 §Signature-Error):
 *
 * - Signature failures → `401` + `Signature-Error` (AAuth -11 §Verification: every signature failure is a
 *   401), with `Accept-Signature-Scheme` for `unsupported_scheme` and `Accept-Signature-Alg` for
 *   `unsupported_algorithm`, and a problem+json body whose `type` is `urn:ietf:params:sig-error:<code>`.
 * - Everything else → `application/problem+json` `{error, detail?}` with the status of the endpoint and
 *   polling tables. A `403` never carries `Signature-Error` or `Accept-Signature-*` (§8.11).
 *
 * `detail` is for people: it is cut short, stripped of anything shaped like a token, and left out where
 * it could leak local state (egress and fetch failures) or break the mission-not-found oracle rule.
 */

import { SUPPORTED_ALGORITHMS } from './crypto/types.js';
import { redact, type AAuthError, type ErrorCode, type ProblemErrorCode, type SignatureErrorCode } from './errors.js';
import { serializeAcceptSignatureAlg, serializeAcceptSignatureScheme, serializeSignatureError } from './headers/signature-error.js';

/** The problem+json body (RFC 9457 with the AAuth `error` extension member). */
export interface ProblemBody {
  /** Only on Signature-Error responses: `urn:ietf:params:sig-error:<code>` (SK-08 §Response Body). */
  readonly type?: string;
  readonly error: string;
  readonly detail?: string;
}

export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ProblemBody;
}

export interface ErrorResponseOptions {
  /** `Accept-Signature-Alg` for `unsupported_algorithm`: exactly the verifier's set (default: the error's list, else every algorithm this package implements). */
  readonly acceptAlgorithms?: readonly string[];
  /** `Accept-Signature-Scheme` for `unsupported_scheme` (default `jwt`, AAuth -11 §Signature-Key Scheme Rejection). */
  readonly acceptSchemes?: readonly string[];
  /**
   * Set when the error arose while verifying the request's signature or the token in its
   * `Signature-Key` header. Then every failure is a `401` + `Signature-Error` (AAuth -11 §Verification):
   * `invalid_request` is the Signature-Error code rather than a 400, a token failure becomes
   * `invalid_jwt` / `expired_jwt`, and a key-discovery failure becomes `invalid_key` / `unknown_key`.
   */
  readonly duringVerification?: boolean;
}

export const PROBLEM_JSON = 'application/problem+json';

type Mapping =
  | { readonly kind: 'signature'; readonly code: SignatureErrorCode }
  | { readonly kind: 'problem'; readonly status: number; readonly code: ProblemErrorCode };

const sig = (code: SignatureErrorCode): Mapping => ({ kind: 'signature', code });
const problem = (status: number, code: ProblemErrorCode): Mapping => ({ kind: 'problem', status, code });

/**
 * Outside verification. Typed over every `ErrorCode`, so a code added to `errors.ts` without a mapping
 * here does not compile.
 */
const ENDPOINT: { readonly [C in ErrorCode]: Mapping } = {
  // Signature-Error codes (SK-08 §Error Codes); `invalid_request` is also the endpoint 400.
  invalid_request: problem(400, 'invalid_request'),
  invalid_input: sig('invalid_input'),
  invalid_signature: sig('invalid_signature'),
  unsupported_scheme: sig('unsupported_scheme'),
  unsupported_algorithm: sig('unsupported_algorithm'),
  invalid_key: sig('invalid_key'),
  unknown_key: sig('unknown_key'),
  invalid_jwt: sig('invalid_jwt'),
  expired_jwt: sig('expired_jwt'),
  issuer_missing: sig('issuer_missing'),
  issuer_mismatch: sig('issuer_mismatch'),
  // Token endpoint and other endpoint errors (AAuth -11 §Token Endpoint Error Codes, §Authorization Endpoint Error Responses).
  invalid_agent_token: problem(400, 'invalid_agent_token'),
  expired_agent_token: problem(400, 'expired_agent_token'),
  invalid_resource_token: problem(400, 'invalid_resource_token'),
  expired_resource_token: problem(400, 'expired_resource_token'),
  invalid_person_token: problem(400, 'invalid_person_token'),
  unknown_person_token: problem(400, 'unknown_person_token'),
  invalid_auth_token: problem(400, 'invalid_auth_token'),
  expired_auth_token: problem(400, 'expired_auth_token'),
  invalid_scope: problem(400, 'invalid_scope'),
  invalid_account: problem(400, 'invalid_account'),
  user_unreachable: problem(403, 'user_unreachable'),
  server_error: problem(500, 'server_error'),
  temporarily_unavailable: problem(503, 'temporarily_unavailable'),
  // Polling errors (§Polling Error Codes).
  denied: problem(403, 'denied'),
  abandoned: problem(403, 'abandoned'),
  expired: problem(408, 'expired'),
  invalid_code: problem(410, 'invalid_code'),
  slow_down: problem(429, 'slow_down'),
  // Mission and interaction endpoints (§Mission Endpoint Errors, §Interaction Endpoint Errors).
  mission_not_found: problem(404, 'mission_not_found'),
  mission_terminated: problem(403, 'mission_terminated'),
  interaction_unavailable: problem(424, 'interaction_unavailable'),
  // Local codes: never sent as-is. Bad input from the peer is its `invalid_request`; a fetch that
  // failed is transient (`temporarily_unavailable`); a target refused by egress admission or a
  // metadata document that fails its checks was named by the peer (`invalid_request`).
  invalid_token: problem(400, 'invalid_request'),
  invalid_identifier: problem(400, 'invalid_request'),
  invalid_metadata: problem(400, 'invalid_request'),
  invalid_header: problem(400, 'invalid_request'),
  egress_denied: problem(400, 'invalid_request'),
  fetch_failed: problem(503, 'temporarily_unavailable'),
  invalid_argument: problem(400, 'invalid_request'),
  invalid_mission: problem(400, 'invalid_request'),
};

/** During verification, codes that are not Signature-Error codes are mapped onto the closest one. */
const DURING_VERIFICATION: Partial<Record<ErrorCode, SignatureErrorCode>> = {
  invalid_request: 'invalid_request',
  invalid_header: 'invalid_request',
  invalid_argument: 'invalid_request',
  invalid_mission: 'invalid_request',
  invalid_token: 'invalid_jwt',
  invalid_agent_token: 'invalid_jwt',
  invalid_person_token: 'invalid_jwt',
  invalid_auth_token: 'invalid_jwt',
  invalid_resource_token: 'invalid_jwt',
  expired_agent_token: 'expired_jwt',
  expired_auth_token: 'expired_jwt',
  expired_resource_token: 'expired_jwt',
  invalid_identifier: 'invalid_key',
  invalid_metadata: 'invalid_key',
  egress_denied: 'invalid_key',
  fetch_failed: 'unknown_key',
};

/** Codes whose `detail` never leaves the process: it may describe internal addresses or hide an oracle. */
const PRIVATE_DETAIL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['egress_denied', 'fetch_failed', 'invalid_metadata', 'server_error', 'mission_not_found']);

const MAX_DETAIL = 300;
/** Compact JWS/JWT shapes and long base64/base64url runs (keys, signatures, opaque tokens). */
const SECRET_SHAPES = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?|[A-Za-z0-9+/_-]{40,}={0,2}/g;

/** Makes a `detail` safe to send: no token, key or signature whole, bounded length, printable ASCII only. */
export function safeDetail(detail: string): string {
  let out = detail.replace(SECRET_SHAPES, (match) => redact(match));
  out = out.replace(/[^\x20-\x7e]/g, ' ');
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL - 1)}…` : out;
}

function withDetail(body: { type?: string; error: string }, error: AAuthError): ProblemBody {
  if (error.detail === undefined || error.detail.length === 0 || PRIVATE_DETAIL.has(error.code)) return body;
  return { ...body, detail: safeDetail(error.detail) };
}

function signatureResponse(code: SignatureErrorCode, error: AAuthError, options: ErrorResponseOptions): ErrorResponse {
  const headers: Record<string, string> = {
    'Content-Type': PROBLEM_JSON,
    'Signature-Error': serializeSignatureError(
      code === 'invalid_input' && error.requiredInput !== undefined ? { error: code, requiredInput: error.requiredInput } : { error: code },
    ),
  };
  if (code === 'unsupported_scheme') {
    headers['Accept-Signature-Scheme'] = serializeAcceptSignatureScheme(options.acceptSchemes ?? ['jwt']);
  }
  if (code === 'unsupported_algorithm') {
    const algorithms = options.acceptAlgorithms ?? error.acceptAlgorithms ?? SUPPORTED_ALGORITHMS;
    if (algorithms.length > 0) headers['Accept-Signature-Alg'] = serializeAcceptSignatureAlg(algorithms);
  }
  return { status: 401, headers, body: withDetail({ type: `urn:ietf:params:sig-error:${code}`, error: code }, error) };
}

/**
 * Turns an `AAuthError` into the response to send: status, headers, and a problem+json body (serialize
 * it with `JSON.stringify`). Signature-Error codes → 401 with `Signature-Error`; the rest → the status
 * of AAuth -11's error tables; local codes → `invalid_request` (400) or `temporarily_unavailable` (503).
 */
export function toErrorResponse(error: AAuthError, options: ErrorResponseOptions = {}): ErrorResponse {
  const code = error.code;
  if (options.duringVerification === true) {
    const mapped = DURING_VERIFICATION[code];
    if (mapped !== undefined) return signatureResponse(mapped, error, options);
  }
  const mapping = (ENDPOINT as Partial<Record<string, Mapping>>)[code] ?? problem(500, 'server_error');
  if (mapping.kind === 'signature') return signatureResponse(mapping.code, error, options);
  return { status: mapping.status, headers: { 'Content-Type': PROBLEM_JSON }, body: withDetail({ error: mapping.code }, error) };
}
