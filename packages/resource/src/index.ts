/**
 * @tessera/resource — what an AAuth resource needs (draft-hardt-oauth-aauth-protocol -11, HTTP Signature Keys -08):
 * `verifyRequest(Request, policy)` returning the verified identity or the response to send (`verifyMessage` for a
 * message already read: raw header lines and body bytes, as the gateway holds them), challenges
 * (`AAuth-Requirement`), resource-token minting, the authorization endpoint, session tokens, deferred auth-token
 * delivery, metadata and JWKS. `createResource(options)` bundles them.
 *
 * Framework adapters: `@tessera/resource/node`, `/express`, `/fastify`, `/hono`.
 */
export * from './policy.js';
export * from './challenge.js';
export * from './resource-token.js';
export * from './session-token.js';
export * from './metadata.js';
export { verifyMessage, verifyRequest, readBody, requestHeaderLines, DEFAULT_MAX_BODY_BYTES } from './verify-request.js';
export type { ResourceContext, SessionRequiredInfo, VerifiedAgent, VerifiedPerson, VerifiedIdentity, VerifyRequestResult } from './verify-request.js';
export * from './authorization-endpoint.js';
export * from './login-endpoint.js';
export * from './deferred-auth-token.js';
export * from './resource.js';
export { MemoryReplayCache, type ReplayCache } from '@tessera/protocol';
