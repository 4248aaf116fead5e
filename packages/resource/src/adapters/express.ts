/**
 * Express 5 middleware: `app.get('/notes', aauthExpress(resource, policy), (req, res) => … req.aauth …)`.
 * Builds the fetch `Request` from `req.rawHeaders` (duplicate lines survive) and the raw body (mount it before body
 * parsers, or behind `express.raw()`), calls the core, and on success sets `req.aauth`.
 */
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import type { RoutePolicy } from '../policy.js';
import type { Resource } from '../resource.js';
import { nodeToFetch, sendFetchResponse, type AAuthIdentity, type NodeAdapterOptions } from './node.js';

export type { AAuthIdentity, NodeAdapterOptions as ExpressAdapterOptions } from './node.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `aauthExpress` on a granted request. */
      aauth?: AAuthIdentity;
    }
  }
}

export function aauthExpress(resource: Resource, policy: RoutePolicy, options: NodeAdapterOptions = {}): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    try {
      const request = await nodeToFetch(req, options);
      if (request instanceof Response) return await sendFetchResponse(res, request);
      const result = await resource.verifyRequest(request, policy);
      if (!result.ok) return await sendFetchResponse(res, result.response);
      const { ok: _ok, ...identity } = result;
      req.aauth = identity;
      next();
    } catch (error) {
      next(error);
    }
  };
}

/** Serves a fetch-style handler (e.g. `resource.handle`) as Express middleware; `undefined` → `next()`. */
export function expressHandler(handler: (request: Request) => Response | undefined | Promise<Response | undefined>, options: NodeAdapterOptions = {}): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    try {
      const request = await nodeToFetch(req, options);
      const response = request instanceof Response ? request : await handler(request);
      if (response === undefined) return next();
      await sendFetchResponse(res, response);
    } catch (error) {
      next(error);
    }
  };
}
