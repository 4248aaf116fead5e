/**
 * The responses a resource answers with when it does not grant a request (AAuth -11 §Requirement Responses,
 * §Error Responses; digest §3):
 *
 * - `401 AAuth-Requirement: requirement=agent-token` / `person-token`, with no parameters (§8.29);
 * - `401 AAuth-Requirement: requirement=auth-token; resource-token="…"` (§8.25), or the same with `202` when
 *   deferred (§8.26);
 * - a signature failure: `401` + `Signature-Error` (via the protocol's one mapping, `toErrorResponse`);
 * - a refusal: `403` problem+json, never with `Signature-Error` or `Accept-Signature-*` (§8.11).
 *
 * Headers go through the structured-field serializer (`buildAAuthRequirement`), never string templates.
 * Every response is `Cache-Control: no-store`. `WWW-Authenticate` is never used for AAuth.
 */
import { AAuthError, buildAAuthRequirement, toErrorResponse, type AAuthRequirement, type ProblemErrorCode } from '@tessera/protocol';

export const NO_STORE = 'no-store';

/** The `AAuth-Requirement` value for a requirement this package emits. */
export function requirementHeader(requirement: AAuthRequirement): string {
  switch (requirement.requirement) {
    case 'auth-token':
      return buildAAuthRequirement('auth-token', { resourceToken: requirement.resourceToken });
    case 'interaction':
      return buildAAuthRequirement('interaction', { url: requirement.url, code: requirement.code });
    default:
      return buildAAuthRequirement(requirement.requirement);
  }
}

/** A requirement response: `401` by default (`202` for deferred delivery, with the caller's `Location` etc.). */
export function requirementResponse(requirement: AAuthRequirement, init: { status?: number; headers?: Record<string, string>; body?: unknown } = {}): Response {
  const headers: Record<string, string> = { 'aauth-requirement': requirementHeader(requirement), 'cache-control': NO_STORE, ...init.headers };
  let body: string | null = null;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  return new Response(body, { status: init.status ?? 401, headers });
}

/** A failure while verifying the signature or the token in `Signature-Key`: always 401 + `Signature-Error`. */
export function signatureErrorResponse(error: AAuthError, options: { acceptAlgorithms?: readonly string[] } = {}): Response {
  const { status, headers, body } = toErrorResponse(error, {
    duringVerification: true,
    ...(options.acceptAlgorithms === undefined ? {} : { acceptAlgorithms: options.acceptAlgorithms }),
  });
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': NO_STORE } });
}

/**
 * A problem+json response `{error, detail?}` with an explicit status. The body and headers come from
 * `toErrorResponse` (so `detail` is sanitized the same way); a non-signature code never gets `Signature-Error`.
 */
export function problemResponse(status: number, code: ProblemErrorCode, detail?: string): Response {
  const { headers, body } = toErrorResponse(new AAuthError(code, detail === undefined ? {} : { detail }));
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': NO_STORE } });
}

/** A 403 refusal (§8.11: no `Signature-Error`, no `Accept-Signature-*`). */
export function forbiddenResponse(code: ProblemErrorCode, detail?: string): Response {
  return problemResponse(403, code, detail);
}

/** Any `AAuthError` outside signature verification, with its table status (400 endpoint errors, 500, 503). */
export function errorResponse(error: AAuthError): Response {
  const { status, headers, body } = toErrorResponse(error);
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': NO_STORE } });
}
