/**
 * Route matching and per-request policy. A route matches on `Host` (when it names one) and a path prefix on a
 * segment boundary (`/api` matches `/api` and `/api/x`, never `/apix`; a prefix ending in `/` matches any path
 * under it). Routes naming a host are tried before host-less ones; within each group the longest prefix wins.
 *
 * Scopes for a request (auth-token mode; AAuth -11 §Resource Token `scope`):
 * 1. the longest `scopesByPath` entry whose prefix matches the path (and whose `methods`, when given, include the
 *    method) — its scopes replace the route's;
 * 2. else `scopes` as a list, or as `{METHOD: [...]}` (`"*"` for any other method; a method listed nowhere and
 *    with no `"*"` is refused with 405);
 * 3. else none.
 *
 * Every policy the gateway hands to the core requires `content-digest` (and `content-type`) to be covered when
 * the request has a body, so the body forwarded upstream is the body the agent signed.
 */
import { AAuthError } from '@tessera/protocol';
import { definePolicy, type RoutePolicy } from '@tessera/resource';
import type { RouteConfig } from './config.js';

/** A route-level problem found while compiling routes (the message starts with the key path). */
export class RouteConfigError extends Error {
  override readonly name = 'RouteConfigError';
}

interface PathScopes {
  readonly pathPrefix: string;
  readonly methods?: ReadonlySet<string>;
  readonly policy: RoutePolicy;
}

export interface CompiledRoute {
  /** Index in the configuration's `routes`. */
  readonly index: number;
  readonly host?: string;
  readonly hostHasPort: boolean;
  readonly pathPrefix: string;
  readonly upstream?: URL;
  readonly config: RouteConfig;
  /** The policy for a method and path, or `undefined` when the method is not allowed on the route. */
  policyFor(method: string, path: string): RoutePolicy | undefined;
}

/** Path prefix match on a segment boundary. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 /* / */);
}

function compileRoute(route: RouteConfig, index: number): CompiledRoute {
  const p = route.policy;
  const base = {
    mode: p.mode,
    requireContentDigest: true,
    ...(p.trustedPersonServers === undefined ? {} : { trustedPersonServers: p.trustedPersonServers }),
    ...(p.trustedAgentProviders === undefined ? {} : { trustedAgentProviders: p.trustedAgentProviders }),
    ...(p.accessServer === undefined ? {} : { accessServer: p.accessServer }),
  } satisfies RoutePolicy;
  const make = (scopes: readonly string[], key: string): RoutePolicy => {
    try {
      return definePolicy(scopes.length === 0 ? { ...base } : { ...base, scopes: [...scopes] });
    } catch (error) {
      if (error instanceof AAuthError) throw new RouteConfigError(`routes[${index}].policy.${key}: ${(error.detail ?? error.message).replace(/^route policy: /, '')}`);
      throw error;
    }
  };
  const byPath: PathScopes[] = (p.scopesByPath ?? [])
    .map((e, i) => ({
      pathPrefix: e.pathPrefix,
      ...(e.methods === undefined ? {} : { methods: new Set(e.methods) }),
      policy: make(e.scopes, `scopesByPath[${i}].scopes`),
    }))
    .sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  let byMethod: Map<string, RoutePolicy> | undefined;
  let fallback: RoutePolicy | undefined;
  if (Array.isArray(p.scopes)) fallback = make(p.scopes, 'scopes');
  else if (p.scopes !== undefined) {
    byMethod = new Map();
    for (const [method, scopes] of Object.entries(p.scopes)) {
      const policy = make(scopes, `scopes.${method}`);
      if (method === '*') fallback = policy;
      else byMethod.set(method, policy);
    }
  } else fallback = make([], 'scopes');
  const host = route.host?.toLowerCase();
  let upstream: URL | undefined;
  if (route.upstream !== undefined) {
    upstream = new URL(route.upstream);
    if (upstream.pathname.endsWith('/') && upstream.pathname !== '/') upstream.pathname = upstream.pathname.slice(0, -1);
  }
  return {
    index,
    ...(host === undefined ? {} : { host }),
    hostHasPort: host?.includes(':') ?? false,
    pathPrefix: route.pathPrefix,
    ...(upstream === undefined ? {} : { upstream }),
    config: route,
    policyFor(method, path) {
      for (const entry of byPath) {
        if (prefixMatches(entry.pathPrefix, path) && (entry.methods === undefined || entry.methods.has(method))) return entry.policy;
      }
      return byMethod?.get(method) ?? fallback;
    },
  };
}

/** Compiles the configured routes in matching order. Throws `RouteConfigError` naming the key. */
export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  const compiled = routes.map(compileRoute);
  return compiled.sort((a, b) => {
    const hostOrder = (a.host === undefined ? 1 : 0) - (b.host === undefined ? 1 : 0);
    return hostOrder !== 0 ? hostOrder : b.pathPrefix.length - a.pathPrefix.length || a.index - b.index;
  });
}

/** `host[:port]` → host without port, lower case (IPv6 literals keep their brackets). */
function hostOnly(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** The first route matching `Host` (as received) and the path (no query), or `undefined`. */
export function matchRoute(routes: readonly CompiledRoute[], hostHeader: string | undefined, path: string): CompiledRoute | undefined {
  const host = (hostHeader ?? '').toLowerCase();
  let bare: string | undefined;
  for (const route of routes) {
    if (route.host !== undefined) {
      if (route.hostHasPort) {
        if (route.host !== host) continue;
      } else if (route.host !== (bare ??= hostOnly(host))) continue;
    }
    if (prefixMatches(route.pathPrefix, path)) return route;
  }
  return undefined;
}
