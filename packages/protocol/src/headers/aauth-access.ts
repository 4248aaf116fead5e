/**
 * The session token (AAuth -11 §AAuth-Access Response Header): a resource sends `AAuth-Access: <token68>`,
 * the agent returns it as `Authorization: AAuth <token68>` and covers `authorization` in its signature.
 * The value is a `token68` (RFC 9110 §11.2); recipients MUST reject empty values, values with embedded
 * whitespace or control characters, and more than one credential (§8.51). Neither header is a
 * Structured Field, so they are checked character by character here.
 */

import { AAuthError, type ErrorCode } from '../errors.js';

export const AAUTH_ACCESS = 'AAuth-Access';
/** The `Authorization` auth-scheme for session tokens. */
export const AAUTH_AUTH_SCHEME = 'AAuth';

/** Cap on a session token (it may wrap an existing OAuth access token). */
export const MAX_SESSION_TOKEN_LENGTH = 16 * 1024;

const isToken68Char = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || // A-Z
  (c >= 0x61 && c <= 0x7a) || // a-z
  (c >= 0x30 && c <= 0x39) || // 0-9
  c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2b || c === 0x2f; // - . _ ~ + /

/** True when `value` is a `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 9110 §11.2). */
export function isToken68(value: string): boolean {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_SESSION_TOKEN_LENGTH) return false;
  let i = 0;
  while (i < value.length && isToken68Char(value.charCodeAt(i))) i++;
  if (i === 0) return false;
  while (i < value.length && value.charCodeAt(i) === 0x3d) i++;
  return i === value.length;
}

/** Field values exclude leading and trailing OWS (RFC 9110 §5.5); only SP and HTAB are trimmed. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return value.slice(start, end);
}

function single(value: string | readonly string[], code: ErrorCode, field: string): string {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value) || value.length !== 1 || typeof value[0] !== 'string') {
    throw new AAuthError(code, { detail: `${field}: exactly one field line is allowed` });
  }
  return value[0];
}

/**
 * Reads an `AAuth-Access` response header (§8.51): exactly one field line whose value is one `token68`.
 * Several lines, a comma-combined value, an empty value or embedded whitespace → `invalid_header`.
 * Pass every field line received (or the combined value); the agent then replaces its session token
 * with the result (§8.52).
 */
export function parseAAuthAccess(value: string | readonly string[]): string {
  const token = trimOws(single(value, 'invalid_header', AAUTH_ACCESS));
  if (!isToken68(token)) {
    throw new AAuthError('invalid_header', { detail: 'AAuth-Access must be a single non-empty token68 without whitespace' });
  }
  return token;
}

/** Builds an `AAuth-Access` value; anything but a `token68` → `invalid_argument`. */
export function serializeAAuthAccess(sessionToken: string): string {
  if (!isToken68(sessionToken)) throw new AAuthError('invalid_argument', { detail: 'a session token must be a token68' });
  return sessionToken;
}

/** What an `Authorization` header carries: an AAuth session token, or a credential of another scheme. */
export type AuthorizationCredentials =
  | { readonly scheme: 'AAuth'; readonly token: string }
  | { readonly scheme: 'other'; readonly authScheme: string };

/**
 * Reads an `Authorization` request header. An `AAuth` credential (the auth-scheme is case-insensitive,
 * RFC 9110 §11.1) must be `AAuth` 1*SP `token68` and alone (§8.51); otherwise `invalid_request`. A
 * credential of another scheme is returned as `other` for the caller to ignore or refuse. Remember that
 * the signature must cover `authorization` when an AAuth credential is present (§8.51).
 */
export function parseAAuthAuthorization(value: string | readonly string[]): AuthorizationCredentials {
  const credentials = trimOws(single(value, 'invalid_request', 'Authorization'));
  if (credentials.length > MAX_SESSION_TOKEN_LENGTH + 64) {
    throw new AAuthError('invalid_request', { detail: 'Authorization header too long' });
  }
  let i = 0;
  for (; i < credentials.length; i++) {
    const c = credentials.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x2c) break;
  }
  const authScheme = credentials.slice(0, i);
  if (authScheme.toLowerCase() !== 'aauth') {
    if (authScheme.length === 0) throw new AAuthError('invalid_request', { detail: 'Authorization header has no auth-scheme' });
    return { scheme: 'other', authScheme };
  }
  while (i < credentials.length && credentials.charCodeAt(i) === 0x20) i++;
  const token = credentials.slice(i);
  if (i === authScheme.length || !isToken68(token)) {
    throw new AAuthError('invalid_request', { detail: 'Authorization: AAuth must carry exactly one token68 session token' });
  }
  return { scheme: 'AAuth', token };
}

/** Builds `Authorization: AAuth <token68>`; anything but a `token68` → `invalid_argument`. */
export function buildAAuthAuthorization(sessionToken: string): string {
  return `${AAUTH_AUTH_SCHEME} ${serializeAAuthAccess(sessionToken)}`;
}
