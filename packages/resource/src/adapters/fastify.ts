/**
 * Fastify 5: `aauthFastify` is a plugin that keeps every request body as a raw `Buffer` (one catch-all content-type
 * parser, so Content-Digest is checked against the bytes received) and decorates `request.aauth`;
 * `aauthPreHandler(resource, policy)` is the route `preHandler` that converts to a fetch `Request` (headers from
 * `rawHeaders`) and calls the core.
 *
 * ```ts
 * await app.register(async (scope) => {
 *   await scope.register(aauthFastify);        // applies to `scope`: only routes in this scope get raw bodies
 *   scope.get('/notes', { preHandler: aauthPreHandler(resource, policy) }, (req) => req.aauth);
 * });
 * ```
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { problemResponse } from '../challenge.js';
import type { RoutePolicy } from '../policy.js';
import type { Resource } from '../resource.js';
import { DEFAULT_MAX_BODY_BYTES } from '../verify-request.js';
import { toFetchRequest, unusableTargetResponse, UnusableTarget, type AAuthIdentity, type NodeAdapterOptions } from './node.js';

export type { AAuthIdentity, NodeAdapterOptions as FastifyAdapterOptions } from './node.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `aauthPreHandler` on a granted request. */
    aauth: AAuthIdentity | null;
  }
}

export interface AAuthFastifyOptions {
  /** Largest body read; default 1 MiB. */
  readonly maxBodyBytes?: number;
}

/** Keeps raw bodies (Buffer) for every content type in this scope and decorates `request.aauth`. */
export const aauthFastify: FastifyPluginAsync<AAuthFastifyOptions> = (fastify, options) => {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES }, (_request, body, done) => {
    done(null, body);
  });
  if (!fastify.hasRequestDecorator('aauth')) fastify.decorateRequest('aauth', null);
  return Promise.resolve();
};
// Like `fastify-plugin`: the parser applies to the scope that registers the plugin (not a child scope of its own).
// Register it inside an encapsulated scope (`app.register(async (scope) => …)`) to confine raw bodies to AAuth routes.
Object.assign(aauthFastify, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'aauth-fastify' });

async function send(reply: FastifyReply, response: Response): Promise<FastifyReply> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = response.body === null ? undefined : Buffer.from(await response.arrayBuffer());
  reply.code(response.status).headers(headers);
  return body === undefined ? reply.send() : reply.send(body);
}

/** The fetch `Request` for a Fastify request (raw headers, raw body Buffer from `aauthFastify`). */
export function fastifyToFetch(request: FastifyRequest, options: NodeAdapterOptions = {}): Request {
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  return toFetchRequest(request.raw, body === undefined || body.length === 0 ? undefined : new Uint8Array(body), options);
}

/** `fastifyToFetch`, or the 400 for a request whose target or Host makes no URL under this origin. */
function fetchOrRefusal(request: FastifyRequest, options: NodeAdapterOptions): Request | Response {
  try {
    return fastifyToFetch(request, options);
  } catch (error) {
    if (error instanceof UnusableTarget) return unusableTargetResponse();
    throw error;
  }
}

export function aauthPreHandler(resource: Resource, policy: RoutePolicy, options: NodeAdapterOptions = {}): preHandlerAsyncHookHandler {
  return async function aauthPreHandlerHook(request, reply) {
    if (request.body !== undefined && request.body !== null && !Buffer.isBuffer(request.body)) {
      // A parser outside `aauthFastify` turned the body into something else: the bytes are gone.
      await send(reply, problemResponse(500, 'server_error'));
      return;
    }
    const fetchRequest = fetchOrRefusal(request, options);
    if (fetchRequest instanceof Response) {
      await send(reply, fetchRequest);
      return;
    }
    const result = await resource.verifyRequest(fetchRequest, policy);
    if (!result.ok) {
      await send(reply, result.response);
      return;
    }
    const { ok: _ok, ...identity } = result;
    request.aauth = identity;
  };
}

/** A route handler serving a fetch-style handler (e.g. `resource.handle`); `undefined` → 404. Needs `aauthFastify`. */
export function fastifyHandler(handler: (request: Request) => Response | undefined | Promise<Response | undefined>, options: NodeAdapterOptions = {}): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  return async (request, reply) => {
    const fetchRequest = fetchOrRefusal(request, options);
    if (fetchRequest instanceof Response) return send(reply, fetchRequest);
    const response = await handler(fetchRequest);
    return send(reply, response ?? problemResponse(404, 'invalid_request', 'not found'));
  };
}
