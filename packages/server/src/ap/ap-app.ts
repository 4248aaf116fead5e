/**
 * The Agent Provider (AAuth -11 §Agent Provider; AAuth Bootstrap): the host that issues agent tokens. Routes, relative
 * to the AP identifier (`ctx.ap.issuer`):
 *
 * - `GET /.well-known/aauth-agent.json`, `GET /jwks.json` — metadata and keys (`metadata.ts`);
 * - `POST /enrol` — enrolment, `hwk`-signed by the new key, 202 + interaction (`enrolment.ts`);
 * - `GET|POST|DELETE /pending/:id` — the Deferred service's pending URLs for the AP (enrolment polls, `hwk`-signed);
 * - `POST /token` — renewal with a valid agent token (`renewal.ts`);
 * - `POST /refresh` — key refresh with `sig=jkt-jwt` (`key-refresh.ts`);
 * - `POST /subagent` — sub-agent tokens (`subagent.ts`);
 * - `POST /revoke` — revocation, with notification of the agent's Person Server (`revocation.ts`).
 */
import { createNodeEgressFetch } from '@tessera/protocol/node';
import type { FetchLike } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import type { DeferredService } from '../deferred/types.js';
import { agentTokenTtl } from './agent-tokens.js';
import { enrolmentEndpoint } from './enrolment.js';
import { createEnrolmentHandler } from './enrolment-handler.js';
import { keyRefreshEndpoint } from './key-refresh.js';
import { AP_PATHS, agentProviderMetadata } from './metadata.js';
import { renewalEndpoint } from './renewal.js';
import { createRevocationNotifier, revocationEndpoint } from './revocation.js';
import { subagentEndpoint } from './subagent.js';

export interface AgentProviderOptions {
  /**
   * Outgoing requests (revocation notices to Person Servers). Default: the Node egress-guarded fetch (HTTPS to public
   * addresses only; `http` and loopback too when `ctx.allowLoopbackHttp`).
   */
  readonly fetch?: FetchLike;
  /** Agent-token lifetime in seconds; default 3600, at most 24 h. */
  readonly agentTokenTtl?: number;
  /** Lifetime of an enrolment's pending request in seconds; default 600. */
  readonly enrolmentTtl?: number;
}

/** Builds the AP host app and registers the `enrolment` pending handler with `deferred`. */
export function createAgentProviderApp(ctx: ServerContext, deferred: DeferredService, options: AgentProviderOptions = {}): Hono {
  const ttl = agentTokenTtl(options.agentTokenTtl);
  const fetch =
    options.fetch ?? createNodeEgressFetch({ allowHttp: ctx.allowLoopbackHttp, allowLoopback: ctx.allowLoopbackHttp });
  const notify = createRevocationNotifier(ctx, fetch);
  if (deferred.handler('enrolment') === undefined) deferred.register('enrolment', createEnrolmentHandler(ctx, { ttl }));

  const app = new Hono();
  app.get(AP_PATHS.metadata, (c) => c.json(agentProviderMetadata(ctx.ap), 200, { 'cache-control': 'public, max-age=300' }));
  app.get(AP_PATHS.jwks, async (c) => c.json(await ctx.keys.jwks('ap'), 200, { 'cache-control': 'public, max-age=300' }));
  app.route(AP_PATHS.enrolment, enrolmentEndpoint(ctx, deferred, options.enrolmentTtl === undefined ? {} : { pendingTtl: options.enrolmentTtl }));
  app.route(AP_PATHS.agentToken, renewalEndpoint(ctx, { ttl }));
  app.route(AP_PATHS.refresh, keyRefreshEndpoint(ctx, notify, { ttl }));
  app.route(AP_PATHS.subagent, subagentEndpoint(ctx, { ttl }));
  app.route(AP_PATHS.revocation, revocationEndpoint(ctx, notify));
  app.route(AP_PATHS.pending, deferred.routes('ap'));
  return app;
}
