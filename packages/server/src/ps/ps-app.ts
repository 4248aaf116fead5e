/**
 * The Person Server's own endpoints on its host (AAuth -11 §Person Server; digest §5): metadata and JWKS, the
 * person token and auth token endpoints, revocation, introspection, and the pending URLs of its deferred requests.
 * Registers the PS's pending handlers (`person_token`, `auth_token`) with the Deferred service.
 *
 * Every error is an `AAuthError` answered by `errorResponse` (problem+json with `error`, §8.60; 401 + Signature-Error
 * for signature failures); anything else is a 500 `server_error`, logged without its details reaching the caller.
 */
import { AAuthError, isAAuthError } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { DeferredService } from '../deferred/types.js';
import { errorResponse } from '../http/signed-request.js';
import { authTokenRoutes } from './auth-token-endpoint.js';
import { introspectionRoutes } from './introspection.js';
import { metadataRoutes, PS_PATHS } from './metadata.js';
import { authTokenPendingHandler, personTokenPendingHandler } from './pending-handlers.js';
import { personTokenRoutes } from './person-token-endpoint.js';
import { revocationRoutes } from './revocation.js';

export function createPersonServerApp(ctx: ServerContext, deferred: DeferredService): Hono {
  deferred.register('person_token', personTokenPendingHandler(ctx));
  deferred.register('auth_token', authTokenPendingHandler(ctx));

  const app = new Hono();
  app.route('/', metadataRoutes(ctx));
  app.route('/', personTokenRoutes(ctx, deferred));
  app.route('/', authTokenRoutes(ctx, deferred));
  app.route('/', revocationRoutes(ctx));
  app.route('/', introspectionRoutes(ctx));
  app.route(PS_PATHS.pending, deferred.routes('ps'));
  app.onError((error, c) => {
    if (isAAuthError(error)) return errorResponse(c, error);
    ctx.log.error({ err: error, path: c.req.path }, 'Person Server endpoint failed');
    return errorResponse(c, new AAuthError('server_error'));
  });
  return app;
}
