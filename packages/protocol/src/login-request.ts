/**
 * A third-party login request at an agent's or a resource's `login_endpoint` (digest §5 `login_endpoint` row; §8.62):
 * `GET {login_endpoint}?ps=…&login_hint=…&domain_hint=…&tenant=…&start_path=…`. A PS, a portal or a partner site
 * sends the person's browser there to start a sign-in with that PS. The request carries no credential, so every
 * parameter is untrusted input:
 *
 * - `ps` (required) must be a server identifier, and is accepted only once its `aauth-person.json` has been fetched
 *   and issuer-checked (through the caller's `MetadataCache`, so the egress guard and its bounds apply);
 * - `start_path` (optional), where the person lands afterwards, must be a relative path on the recipient's own origin:
 *   anything that could leave it (a scheme, `//host`, a backslash that browsers read as `/`) would be an open redirect.
 *
 * Parameters are checked before anything is fetched, so a malformed request never causes a fetch.
 */
import { AAuthError } from './errors.js';
import { parseServerIdentifier } from './identifiers.js';
import type { PersonMetadata } from './metadata/person.js';
import { DWK } from './tokens/claims.js';

/** A validated login request. */
export interface LoginRequest {
  /** The Person Server to sign in with: its identifier and its issuer-checked metadata. */
  readonly ps: string;
  readonly psMetadata: PersonMetadata;
  readonly loginHint?: string;
  readonly domainHint?: string;
  readonly tenant?: string;
  /** Path (with query and fragment) on the recipient's origin, dot segments resolved; absent when not given. */
  readonly startPath?: string;
}

/** Where `parseLoginRequest` gets the PS's metadata: a `MetadataCache` (or anything with its `getMetadata`). */
export interface LoginMetadataSource {
  getMetadata(issuer: string, dwk: string): Promise<{ readonly kind: string; readonly document: unknown }>;
}

export interface ParseLoginRequestOptions {
  readonly metadata: LoginMetadataSource;
  /** The recipient's own origin (`https://agent.example`): `start_path` must stay on it. */
  readonly origin: string;
  /** Development only: accept `http://localhost:PORT` Person Servers. */
  readonly allowLoopbackHttp?: boolean;
}

/** Longest accepted hint, tenant or path: far above any real one, small enough to refuse junk cheaply. */
export const MAX_LOGIN_PARAMETER_LENGTH = 2048;

const PARAMETERS = ['ps', 'login_hint', 'domain_hint', 'tenant', 'start_path'] as const;
/** Controls, space and DEL: never part of a path a browser should be sent to. */
const hasControlOrSpace = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
};

const bad = (detail: string, cause?: unknown): AAuthError =>
  new AAuthError('invalid_request', { detail: `login request: ${detail}`, ...(cause === undefined ? {} : { cause }) });

/**
 * Validates a login request URL (or its query). Throws `invalid_request` (400) naming the parameter at fault; a `ps`
 * whose metadata cannot be fetched or does not check is refused the same way, with the discovery error as `cause`.
 */
export async function parseLoginRequest(request: string | URL | URLSearchParams, options: ParseLoginRequestOptions): Promise<LoginRequest> {
  const query = request instanceof URLSearchParams ? request : new URL(request).searchParams;
  const values: Partial<Record<(typeof PARAMETERS)[number], string>> = {};
  for (const name of PARAMETERS) {
    const all = query.getAll(name);
    if (all.length > 1) throw bad(`${name} is given more than once`);
    const value = all[0];
    if (value === undefined) continue;
    if (value.length === 0 || value.length > MAX_LOGIN_PARAMETER_LENGTH) throw bad(`${name} must be 1 to ${MAX_LOGIN_PARAMETER_LENGTH} characters`);
    values[name] = value;
  }
  if (values.ps === undefined) throw bad('ps is required');
  let ps: string;
  try {
    ps = parseServerIdentifier(values.ps, { allowLoopbackHttp: options.allowLoopbackHttp === true }).identifier;
  } catch (cause) {
    throw bad('ps is not a server identifier', cause);
  }
  const startPath = values.start_path === undefined ? undefined : validateStartPath(values.start_path, options.origin);

  let psMetadata: PersonMetadata;
  try {
    const discovered = await options.metadata.getMetadata(ps, DWK.person);
    if (discovered.kind !== 'person') throw new AAuthError('invalid_metadata', { detail: 'not Person Server metadata' });
    psMetadata = discovered.document as PersonMetadata;
  } catch (cause) {
    throw bad(`ps ${ps} is not a Person Server whose metadata checks`, cause);
  }
  return {
    ps,
    psMetadata,
    ...(values.login_hint === undefined ? {} : { loginHint: values.login_hint }),
    ...(values.domain_hint === undefined ? {} : { domainHint: values.domain_hint }),
    ...(values.tenant === undefined ? {} : { tenant: values.tenant }),
    ...(startPath === undefined ? {} : { startPath }),
  };
}

/**
 * `start_path` as a path on `origin`, or `invalid_request`: it must begin with one `/` (not `//`, which names a host),
 * hold no backslash (browsers read `/\host` as `//host`), no space or control character, and resolve on `origin`.
 */
export function validateStartPath(value: string, origin: string): string {
  if (!value.startsWith('/') || value.startsWith('//')) throw bad('start_path must be a path beginning with a single "/"');
  if (value.includes('\\') || hasControlOrSpace(value)) throw bad('start_path holds a backslash, a space or a control character');
  let base: URL;
  try {
    base = new URL(origin);
  } catch (cause) {
    throw new AAuthError('invalid_argument', { detail: 'origin must be an absolute URL', cause });
  }
  const resolved = new URL(value, base.origin);
  if (resolved.origin !== base.origin) throw bad('start_path leaves this origin');
  return resolved.pathname + resolved.search + resolved.hash;
}
