/**
 * AAuth identifiers (AAuth -11 §Identifiers, §Agent Identifiers): server identifiers, agent
 * identifiers, and endpoint URLs. Validation works on the exact characters received — never on a
 * `URL` object's normalized form — because identifiers are compared by exact string equality
 * and a normalizing parser would accept `https://Agent.Example:443/` as `https://agent.example`.
 */

import { AAuthError } from './errors.js';

const MAX_IDENTIFIER_LENGTH = 2048;
const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const MAX_LOCAL_LENGTH = 255;
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1']);

export interface IdentifierOptions {
  /**
   * Development only: also accept `http://localhost[:PORT]` and `http://127.0.0.1[:PORT]`.
   * The spec forbids both (no `http`, no port); production code never sets this.
   */
  readonly allowLoopbackHttp?: boolean;
}

/** A validated server identifier. `loopback-http` exists only under {@link IdentifierOptions.allowLoopbackHttp}. */
export type ServerIdentifier =
  | { readonly kind: 'https'; readonly identifier: string; readonly host: string }
  | {
      readonly kind: 'loopback-http';
      readonly identifier: string;
      readonly host: 'localhost' | '127.0.0.1';
      readonly port: number | undefined;
    };

const invalid = (detail: string): AAuthError => new AAuthError('invalid_identifier', { detail });

const isLowerAlpha = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * True for a DNS host name in the form server identifiers require (AAuth -11 §Server Identifiers):
 * lowercase LDH labels of 1–63 characters that neither start nor end with `-`, at most 253
 * characters, internationalized names only as A-labels (`xn--…`, RFC 5890: no other label may have
 * `--` in positions 3–4, and no non-ASCII character anywhere). An all-numeric last label is refused,
 * so IPv4 literals are not host names here.
 */
export function isValidHost(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOST_LENGTH) return false;
  let labelStart = 0;
  let allDigits = true;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const len = i - labelStart;
      if (len === 0 || len > MAX_LABEL_LENGTH) return false;
      if (host.charCodeAt(labelStart) === 0x2d || host.charCodeAt(i - 1) === 0x2d) return false;
      // R-LDH labels ("??--") are reserved; the only ones allowed are A-labels (RFC 5890 §2.3.1).
      if (len >= 4 && host.charCodeAt(labelStart + 2) === 0x2d && host.charCodeAt(labelStart + 3) === 0x2d) {
        if (!host.startsWith('xn--', labelStart) || len === 4) return false;
      }
      if (i === host.length && allDigits) return false;
      labelStart = i + 1;
      allDigits = true;
      continue;
    }
    if (isDigit(c)) continue;
    allDigits = false;
    if (!isLowerAlpha(c) && c !== 0x2d) return false;
  }
  return true;
}

/** Parses an optional `:PORT` suffix (1–65535, no leading zero); `undefined` when absent, NaN when bad. */
function parsePort(rest: string): number | undefined {
  if (rest.length === 0) return undefined;
  if (rest.charCodeAt(0) !== 0x3a || rest.length < 2 || rest.length > 6 || rest.charCodeAt(1) === 0x30) return Number.NaN;
  let port = 0;
  for (let i = 1; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (!isDigit(c)) return Number.NaN;
    port = port * 10 + (c - 0x30);
  }
  return port >= 1 && port <= 65535 ? port : Number.NaN;
}

/**
 * Validates a server identifier (AAuth -11 §Server Identifiers, §8.16): `https`, scheme and host only —
 * no port, path, query, fragment, userinfo or trailing slash — lowercase, A-labels. Throws
 * `invalid_identifier`. With `allowLoopbackHttp` (development) `http://localhost:PORT` and
 * `http://127.0.0.1:PORT` are accepted as well, and nothing else is.
 */
export function parseServerIdentifier(value: string, options: IdentifierOptions = {}): ServerIdentifier {
  if (typeof value !== 'string') throw invalid('server identifier: not a string');
  if (value.length > MAX_IDENTIFIER_LENGTH) throw invalid('server identifier: too long');
  if (value.startsWith('https://')) {
    const host = value.slice(8);
    if (!isValidHost(host)) {
      throw invalid('server identifier must be https://host: lowercase A-label host, no port, path, query, fragment or trailing slash');
    }
    return { kind: 'https', identifier: value, host };
  }
  if (options.allowLoopbackHttp === true && value.startsWith('http://')) {
    const rest = value.slice(7);
    const colon = rest.indexOf(':');
    const host = colon < 0 ? rest : rest.slice(0, colon);
    const port = parsePort(colon < 0 ? '' : rest.slice(colon));
    if ((host === 'localhost' || host === '127.0.0.1') && !Number.isNaN(port)) {
      return { kind: 'loopback-http', identifier: value, host, port };
    }
    throw invalid('development server identifier must be http://localhost:PORT or http://127.0.0.1:PORT');
  }
  throw invalid('server identifier must use the https scheme');
}

/** True when `value` is a valid server identifier (see {@link parseServerIdentifier}). */
export function isServerIdentifier(value: unknown, options: IdentifierOptions = {}): value is string {
  if (typeof value !== 'string') return false;
  try {
    parseServerIdentifier(value, options);
    return true;
  } catch {
    return false;
  }
}

/** A validated agent identifier `aauth:local@domain` (AAuth -11 §Agent Identifiers). */
export type AgentIdentifier =
  | {
      readonly identifier: string;
      readonly local: string;
      readonly domain: string;
      readonly isSubAgent: false;
    }
  | {
      readonly identifier: string;
      readonly local: string;
      readonly domain: string;
      readonly isSubAgent: true;
      /**
       * The identifier the naming convention points at (`aauth:parent@domain`). For display and logs
       * only: the spec forbids protocol decisions on the local part; the `parent_agent` claim is
       * authoritative (AAuth -11 §Sub-Agents).
       */
      readonly parent: string;
      readonly discriminator: string;
    };

const isLocalChar = (c: number): boolean =>
  isLowerAlpha(c) || (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x2b;

/**
 * Validates an agent identifier (AAuth -11 §Agent Identifiers, §8.16). `local` is 1–255 characters of
 * `A-Za-z0-9-_.+`, case-sensitive (never case-folded); `+` is reserved as the sub-agent delimiter,
 * so it appears at most once, never first or last (one level of sub-agents, §Sub-Agents). `domain` is
 * a server identifier host. Throws `invalid_identifier`.
 */
export function parseAgentIdentifier(value: string): AgentIdentifier {
  if (typeof value !== 'string') throw invalid('agent identifier: not a string');
  if (value.length > MAX_IDENTIFIER_LENGTH) throw invalid('agent identifier: too long');
  if (!value.startsWith('aauth:')) throw invalid('agent identifier must start with aauth:');
  const at = value.indexOf('@', 6);
  if (at < 0) throw invalid('agent identifier must be aauth:local@domain');
  const local = value.slice(6, at);
  const domain = value.slice(at + 1);
  if (local.length === 0 || local.length > MAX_LOCAL_LENGTH) throw invalid('agent identifier local part must be 1–255 characters');
  let plus = -1;
  for (let i = 0; i < local.length; i++) {
    const c = local.charCodeAt(i);
    if (!isLocalChar(c)) throw invalid('agent identifier local part may contain only A-Z a-z 0-9 - _ . +');
    if (c === 0x2b) {
      if (plus >= 0) throw invalid('agent identifier local part may contain + only once (single-level sub-agents)');
      plus = i;
    }
  }
  if (plus === 0 || plus === local.length - 1) throw invalid('sub-agent local part must be parent+discriminator, both non-empty');
  if (!isValidHost(domain)) throw invalid('agent identifier domain must be a lowercase A-label host without scheme or port');
  if (plus < 0) return { identifier: value, local, domain, isSubAgent: false };
  return {
    identifier: value,
    local,
    domain,
    isSubAgent: true,
    parent: `aauth:${local.slice(0, plus)}@${domain}`,
    discriminator: local.slice(plus + 1),
  };
}

/** True when `value` is a valid agent identifier (see {@link parseAgentIdentifier}). */
export function isAgentIdentifier(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    parseAgentIdentifier(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates an endpoint URL (AAuth -11 §Endpoint and Other URLs; `interaction` `url` §Interaction
 * Required): `https`, no query and no fragment (not even an empty `?` or `#`), no userinfo, no
 * whitespace or control characters. With `allowLoopbackHttp` (development) `http://localhost[:PORT]`
 * and `http://127.0.0.1[:PORT]` URLs are accepted too. Returns the value unchanged; throws `invalid_identifier`.
 */
export function validateEndpointUrl(value: string, options: IdentifierOptions = {}): string {
  if (typeof value !== 'string') throw invalid('endpoint URL: not a string');
  if (value.length > MAX_IDENTIFIER_LENGTH) throw invalid('endpoint URL: too long');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw invalid('endpoint URL contains whitespace, control or non-ASCII characters');
    if (c === 0x3f || c === 0x23) throw invalid('endpoint URL must not contain a query or fragment');
    if (c === 0x5c) throw invalid('endpoint URL contains a backslash');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new AAuthError('invalid_identifier', { detail: 'endpoint URL does not parse', cause });
  }
  const authorityStart = value.indexOf('://') + 3;
  const pathStart = value.indexOf('/', authorityStart);
  const authority = value.slice(authorityStart, pathStart < 0 ? value.length : pathStart);
  if (url.username !== '' || url.password !== '' || authority.includes('@')) {
    throw invalid('endpoint URL must not contain userinfo');
  }
  if (url.protocol === 'https:') {
    if (!value.startsWith('https://') || url.hostname === '') throw invalid('endpoint URL must be https://host/...');
    return value;
  }
  if (url.protocol === 'http:' && options.allowLoopbackHttp === true && value.startsWith('http://') && LOOPBACK_HOSTS.has(url.hostname)) {
    return value;
  }
  throw invalid('endpoint URL must use the https scheme');
}

/** True when `value` is a valid endpoint URL (see {@link validateEndpointUrl}). */
export function isEndpointUrl(value: unknown, options: IdentifierOptions = {}): value is string {
  if (typeof value !== 'string') return false;
  try {
    validateEndpointUrl(value, options);
    return true;
  } catch {
    return false;
  }
}
