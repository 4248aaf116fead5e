/**
 * The Person Server's own endpoints on its host (AAuth -11 §Person Server; digest §5): metadata and JWKS, the
 * person token and auth token endpoints, revocation, introspection, the governance endpoints (mission, permission,
 * audit), the interaction endpoint (relay to the person), and the pending URLs of its deferred requests. Registers
 * the PS's pending handlers (`person_token`, `auth_token`, `mission`, `permission`, `interaction`) with the Deferred
 * service.
 *
 * Every error is an `AAuthError` answered by `errorResponse` (problem+json with `error`, §8.60; 401 + Signature-Error
 * for signature failures); anything else is a 500 `server_error`, logged without its details reaching the caller.
 */
import { AAuthError, isAAuthError, type FetchLike } from '@tessera/protocol';
import { createNodeEgressFetch } from '@tessera/protocol/node';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { DeferredService } from '../deferred/types.js';
import { errorResponse } from '../http/signed-request.js';
import { auditRoutes } from './audit-endpoint.js';
import { authTokenRoutes } from './auth-token-endpoint.js';
import { createFederation, type FederationOptions } from './federation.js';
import { interactionRoutes, relayPendingHandler } from './interaction-endpoint.js';
import { introspectionRoutes } from './introspection.js';
import { metadataRoutes, PS_PATHS } from './metadata.js';
import { missionPendingHandler, missionRoutes } from './mission-endpoint.js';
import { MissionTerminatedError, missionTerminatedResponse } from './missions.js';
import { permissionPendingHandler, permissionRoutes } from './permission-endpoint.js';
import { authTokenPendingHandler, personTokenPendingHandler } from './pending-handlers.js';
import { personTokenRoutes } from './person-token-endpoint.js';
import { revocationRoutes } from './revocation.js';

/** `fetch`: egress-guarded fetch for four-party federation (default: the Node egress guard, loopback only in development). */
export interface PersonServerOptions {
  readonly fetch?: FetchLike;
  readonly federation?: Omit<FederationOptions, 'fetch'>;
}

export function createPersonServerApp(ctx: ServerContext, deferred: DeferredService, options: PersonServerOptions = {}): Hono {
  const fetch = options.fetch ?? createNodeEgressFetch(ctx.allowLoopbackHttp ? { allowHttp: true, allowLoopback: true } : {});
  const federation = createFederation(ctx, { ...options.federation, fetch });
  deferred.register('person_token', personTokenPendingHandler(ctx));
  deferred.register('mission', missionPendingHandler(ctx));
  deferred.register('permission', permissionPendingHandler(ctx));
  deferred.register('interaction', relayPendingHandler(ctx));
  deferred.register('auth_token', authTokenPendingHandler(ctx, federation));

  const app = new Hono();
  app.route('/', metadataRoutes(ctx));
  app.route('/', personTokenRoutes(ctx, deferred));
  app.route('/', authTokenRoutes(ctx, deferred, federation));
  app.route('/', revocationRoutes(ctx));
  app.route('/', introspectionRoutes(ctx));
  app.route('/', missionRoutes(ctx, deferred));
  app.route('/', permissionRoutes(ctx, deferred));
  app.route('/', auditRoutes(ctx));
  app.route('/', interactionRoutes(ctx, deferred));
  app.route(PS_PATHS.pending, deferred.routes('ps'));
  app.onError((error, c) => {
    // §Mission Status Errors: 403 with `mission_status` and `termination_reason`.
    if (error instanceof MissionTerminatedError) return missionTerminatedResponse(error);
    if (isAAuthError(error)) return errorResponse(c, error);
    ctx.log.error({ err: error, path: c.req.path }, 'Person Server endpoint failed');
    return errorResponse(c, new AAuthError('server_error'));
  });
  return app;
}
