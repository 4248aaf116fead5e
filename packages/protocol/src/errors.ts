/**
 * Typed errors with stable codes. The `code` of every error is the wire code it maps to
 * (a `Signature-Error` code, a problem+json `error`, or a polling error), so callers branch
 * on `code`, never on messages.
 */

/** Signature-Error codes (HTTP Signature Keys -08 §5; AAuth -11 §HTTP Message Signatures Profile). */
export type SignatureErrorCode =
  | 'invalid_request'
  | 'invalid_input'
  | 'invalid_signature'
  | 'unsupported_scheme'
  | 'unsupported_algorithm'
  | 'invalid_key'
  | 'unknown_key'
  | 'invalid_jwt'
  | 'expired_jwt'
  | 'issuer_missing'
  | 'issuer_mismatch';

/** problem+json `error` codes of the AAuth -11 endpoint and polling tables (§Error Responses). */
export type ProblemErrorCode =
  | 'invalid_request'
  | 'invalid_agent_token'
  | 'expired_agent_token'
  | 'invalid_resource_token'
  | 'expired_resource_token'
  | 'invalid_person_token'
  | 'unknown_person_token'
  | 'invalid_auth_token'
  | 'expired_auth_token'
  | 'invalid_scope'
  | 'invalid_account'
  | 'user_unreachable'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'denied'
  | 'abandoned'
  | 'expired'
  | 'invalid_code'
  | 'slow_down'
  | 'mission_not_found'
  | 'mission_terminated'
  | 'interaction_unavailable';

/** Errors raised below the wire (configuration, egress, discovery); never sent as-is to a peer. */
export type LocalErrorCode =
  | 'invalid_token' // a JWT that fails generic checks before its kind is known
  | 'invalid_identifier'
  | 'invalid_metadata'
  | 'invalid_header'
  | 'egress_denied'
  | 'fetch_failed'
  | 'invalid_argument'
  | 'invalid_mission'; // a mission blob or `s256` that fails its checks (AAuth -11 §Mission Approval)

export type ErrorCode = SignatureErrorCode | ProblemErrorCode | LocalErrorCode;

export interface AAuthErrorOptions {
  /** Human readable detail; never contains a whole token, key or signature. */
  detail?: string;
  /** For `invalid_input`: the covered components that were required and missing (SK-08 `required_input`). */
  requiredInput?: readonly string[];
  /** For `unsupported_algorithm`: the algorithms this verifier accepts. */
  acceptAlgorithms?: readonly string[];
  cause?: unknown;
}

export class AAuthError extends Error {
  override readonly name = 'AAuthError';
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly requiredInput: readonly string[] | undefined;
  readonly acceptAlgorithms: readonly string[] | undefined;

  constructor(code: ErrorCode, options: AAuthErrorOptions = {}) {
    super(options.detail ? `${code}: ${options.detail}` : code, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
    this.requiredInput = options.requiredInput;
    this.acceptAlgorithms = options.acceptAlgorithms;
  }
}

export function isAAuthError(value: unknown, code?: ErrorCode): value is AAuthError {
  return value instanceof AAuthError && (code === undefined || value.code === code);
}

/** A discriminated result: success carries a value, failure a typed error. */
export type Result<T, E = AAuthError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = (error: AAuthError): { ok: false; error: AAuthError } => ({ ok: false, error });

/** Shortens a secret (token, key, signature) for logs and error details: never print one whole. */
export function redact(secret: string): string {
  return secret.length <= 12 ? '…' : `${secret.slice(0, 8)}…(${secret.length})`;
}
