/**
 * Hono middleware: `app.get('/notes', aauthHono(resource, policy), (c) => c.json(c.get('aauth')))`.
 * The body is read through Hono's cache (so handlers can still `c.req.json()`), passed as a fresh fetch `Request`
 * to the core; on success `c.set('aauth', identity)`.
 */
import type { MiddlewareHandler } from 'hono';
import { targetUri } from '@tessera/protocol';
import type { RoutePolicy } from '../policy.js';
import type { Resource } from '../resource.js';
import type { VerifiedIdentity } from '../verify-request.js';

export type AAuthIdentity = VerifiedIdentity;

export type AAuthHonoEnv = { Variables: { aauth: AAuthIdentity } };

export interface HonoAdapterOptions {
  /** The origin agents sign against, when Hono sees another (behind a proxy). */
  readonly origin?: string;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function aauthHono(resource: Resource, policy: RoutePolicy, options: HonoAdapterOptions = {}): MiddlewareHandler<AAuthHonoEnv> {
  return async (c, next) => {
    const raw = c.req.raw;
    const method = raw.method.toUpperCase();
    const body = BODYLESS.has(method) ? undefined : new Uint8Array(await c.req.arrayBuffer());
    let url = raw.url;
    if (options.origin !== undefined) {
      // Concatenated under the origin (`targetUri`): a path starting with `//` stays a path.
      const received = new URL(raw.url);
      url = targetUri(options.origin, received.pathname + received.search);
    }
    const request = new Request(url, { method, headers: raw.headers, ...(body === undefined || body.length === 0 ? {} : { body }) });
    const result = await resource.verifyRequest(request, policy);
    if (!result.ok) return result.response;
    const { ok: _ok, ...identity } = result;
    c.set('aauth', identity);
    await next();
    return undefined;
  };
}

/** Mounts a fetch-style handler (e.g. `resource.handle`) as Hono middleware; `undefined` → `next()`. */
export function honoHandler(handler: (request: Request) => Response | undefined | Promise<Response | undefined>): MiddlewareHandler {
  return async (c, next) => {
    const response = await handler(c.req.raw);
    if (response !== undefined) return response;
    await next();
    return undefined;
  };
}
