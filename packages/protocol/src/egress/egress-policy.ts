/**
 * Egress admission policy (SSRF defence) for every metadata, JWKS and interaction fetch
 * (AAuth -11 §JWKS Discovery and Caching: "Before fetching any issuer metadata or `jwks_uri`, verifiers
 * MUST apply egress admission"; HTTP Signature Keys -08 §Scheme-Specific Risks).
 *
 * Production defaults refuse everything but HTTPS to public addresses; the `allow*` switches exist for
 * development (`tessera dev`) and for explicit deployment admission.
 */
import { AAuthError, fail, ok } from '../errors.js';
import type { Result } from '../errors.js';
import type { IpCategory } from './ip-address.js';
import { classifyIp, isLocalhostName, isSiteLocalName, parseIpAddress } from './ip-address.js';

export interface EgressPolicy {
  /** Allow `http:` URLs. Development only. Default false. */
  readonly allowHttp?: boolean;
  /** Allow loopback destinations (127/8, ::1, `localhost`). Development only. Default false. */
  readonly allowLoopback?: boolean;
  /** Allow private destinations (RFC 1918, fc00::/7, CGNAT, `.local`). Default false. */
  readonly allowPrivate?: boolean;
  /**
   * Hostnames (exact, case-insensitive) the deployment admits explicitly whatever their addresses
   * (SK-08: "unless explicitly allowed by deployment configuration"). Scheme and userinfo rules still apply.
   */
  readonly allowedHosts?: readonly string[];
  /** Largest response body accepted, in bytes. Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** Whole-exchange timeout (connect, redirects, body). Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Redirects followed, each to the same host only. Default 3. */
  readonly maxRedirects?: number;
}

/** A policy with every default filled in. */
export interface ResolvedEgressPolicy {
  readonly allowHttp: boolean;
  readonly allowLoopback: boolean;
  readonly allowPrivate: boolean;
  readonly allowedHosts: ReadonlySet<string>;
  readonly maxResponseBytes: number;
  readonly timeoutMs: number;
  readonly maxRedirects: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_REDIRECTS = 3;

function nonNegativeInteger(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw new AAuthError('invalid_argument', { detail: `${name} must be an integer >= ${min}` });
  return value;
}

/** Fills in defaults and checks the numbers. Throws `invalid_argument` on a bad policy. */
export function resolveEgressPolicy(policy: EgressPolicy | ResolvedEgressPolicy = {}): ResolvedEgressPolicy {
  if (isResolved(policy)) return policy;
  return Object.freeze({
    allowHttp: policy.allowHttp === true,
    allowLoopback: policy.allowLoopback === true,
    allowPrivate: policy.allowPrivate === true,
    allowedHosts: new Set((policy.allowedHosts ?? []).map(normalizeHost)),
    maxResponseBytes: nonNegativeInteger(policy.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, 'maxResponseBytes', 1),
    timeoutMs: nonNegativeInteger(policy.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs', 1),
    maxRedirects: nonNegativeInteger(policy.maxRedirects, DEFAULT_MAX_REDIRECTS, 'maxRedirects', 0),
  });
}

function isResolved(policy: EgressPolicy | ResolvedEgressPolicy): policy is ResolvedEgressPolicy {
  return policy.allowedHosts instanceof Set;
}

/** Lowercase, brackets and trailing root dot removed: the form hosts are compared in. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** Whether a destination address of this category may be contacted under `policy`. */
export function isCategoryAdmitted(category: IpCategory, policy: ResolvedEgressPolicy): boolean {
  switch (category) {
    case 'public':
      return true;
    case 'loopback':
      return policy.allowLoopback;
    case 'private':
    case 'unique-local':
    case 'cgnat':
      return policy.allowPrivate;
    // Link-local (cloud metadata services live at 169.254.169.254), multicast, broadcast,
    // unspecified, documentation and reserved addresses are never fetched from.
    default:
      return false;
  }
}

/** Whether a resolved address may be connected to. Non-addresses are refused. */
export function isAddressAdmitted(address: string, policy: EgressPolicy | ResolvedEgressPolicy): boolean {
  return isCategoryAdmitted(classifyIp(address), resolveEgressPolicy(policy));
}

/** Whether `host` is explicitly admitted by `allowedHosts`. */
export function isHostAllowlisted(host: string, policy: ResolvedEgressPolicy): boolean {
  return policy.allowedHosts.has(normalizeHost(host));
}

function denied(detail: string): { ok: false; error: AAuthError } {
  return fail(new AAuthError('egress_denied', { detail }));
}

/**
 * Admits a URL before any connection is made (digest §7, checklist §8.14): HTTPS only (HTTP only when the
 * policy allows it), no userinfo, IP literals checked against the policy, `localhost` / `*.localhost` treated
 * as loopback and `.local`-style names as private. DNS names are checked again after resolution by
 * `createGuardedFetch` (with a resolver) or `createPinnedFetch` (Node).
 */
export function admitUrl(url: string | URL, policy: EgressPolicy | ResolvedEgressPolicy = {}): Result<URL> {
  let resolved: ResolvedEgressPolicy;
  try {
    resolved = resolveEgressPolicy(policy);
  } catch (error) {
    return fail(error as AAuthError);
  }
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return denied('not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && resolved.allowHttp)) {
    return denied(`scheme ${parsed.protocol} is not allowed`);
  }
  if (parsed.username !== '' || parsed.password !== '') return denied('URL carries userinfo');
  const host = normalizeHost(parsed.hostname);
  if (host === '') return denied('URL has no host');
  if (isHostAllowlisted(host, resolved)) return ok(parsed);
  let category: IpCategory | undefined;
  if (parseIpAddress(host) !== undefined) category = classifyIp(host);
  else if (isLocalhostName(host)) category = 'loopback';
  else if (isSiteLocalName(host)) category = 'private';
  if (category !== undefined && !isCategoryAdmitted(category, resolved)) return denied(`destination is ${category}`);
  return ok(parsed);
}
