/**
 * @tessera/protocol — the AAuth wire layer (draft-hardt-oauth-aauth-protocol -11, HTTP Signature Keys -08).
 *
 * Pure: no I/O of its own. Fetch, clock, signer, caches and stores are passed in. Node-only pieces (the
 * DNS-pinning egress fetch) are in `@tessera/protocol/node`.
 *
 * Where to start:
 * - agents: `signAAuthRequest` (request-signer.ts);
 * - resources and servers: `verifyAAuthRequest` (request-verifier.ts) with `createKeyResolver` (discovery/);
 * - errors: `AAuthError` (errors.ts) and `toErrorResponse` (error-response.ts).
 */

// Errors and results
export * from './errors.js';
export * from './error-response.js';

// Encoding, messages, structured fields
export * from './base64url.js';
export * from './http-message.js';
export * from './request-target.js';
export * from './structured-fields.js';

// Keys and JOSE
export * from './crypto/types.js';
export * from './crypto/algorithms.js';
export * from './crypto/jwk.js';
export * from './crypto/jwks.js';
export * from './crypto/thumbprint.js';
export * from './crypto/verify-key.js';
export * from './crypto/signer.js';

// RFC 9421 and RFC 9530
export * from './http-signatures/index.js';
export * from './content-digest.js';

// Signature-Key (SK-08) and the AAuth headers
export * from './signature-key.js';
export * from './headers/index.js';

// Tokens
export * from './tokens/index.js';

// Identifiers, interaction codes, missions
export * from './identifiers.js';
export * from './interaction-code.js';
export * from './mission.js';
export * from './login-request.js';
export { pooledRandomBytes, pooledRandomHex } from './random-pool.js';

// Metadata, discovery, egress, replay
export * from './metadata/index.js';
export * from './discovery/index.js';
export * from './egress/index.js';
export * from './replay-cache.js';

// Signing and verifying AAuth requests
export * from './request-signer.js';
export * from './request-verifier.js';
export * from './server-request.js';
export { checkSignatureSteps, finishSignatureSteps, type CheckedSignature } from './request-verification.js';
