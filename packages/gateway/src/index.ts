/**
 * @tessera/gateway — makes any HTTP or MCP service an AAuth resource (draft-hardt-oauth-aauth-protocol -11):
 * a configuration-driven verifying reverse proxy (node:http + undici) and an Envoy `ext_authz` HTTP service.
 * Verification is the resource core's (`@tessera/resource` `verifyRequest`); see docs/gateway.md.
 */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { GatewayConfigError, loadGatewayConfig, parseGatewayConfig, type GatewayConfig, type GatewayConfigInput, type RouteConfig, type RoutePolicyConfig } from './config.js';
export { compileRoutes, matchRoute, prefixMatches, RouteConfigError, type CompiledRoute } from './routes.js';
export { IDENTITY_HEADERS, IDENTITY_HEADER_PREFIX, identityHeaders, isIdentityHeader, type IdentityHeaderName } from './identity-headers.js';
export { forwardRequestHeaders, forwardResponseHeaders, upstreamFailure } from './proxy.js';
export { allowedCheckHeaders, originalPath, CREDENTIAL_HEADERS } from './ext-authz.js';
