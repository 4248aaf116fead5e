/**
 * `@tessera/protocol/node`: Node-only helpers (the only place `node:*` modules are used).
 */
export type { PinnedFetchOptions } from './pinned-fetch.js';
export { createNodeEgressFetch, createPinnedFetch } from './pinned-fetch.js';
export { importNodeVerifyKey } from './verify-key.js';
export { createNodeSigner } from './signer.js';
export { cryptoBackend } from './crypto-backend.js';
export { importServerVerifyKey } from './server-verify-key.js';
export type { VerifyThreads } from './verify-threads.js';
export { createVerifyThreads } from './verify-threads.js';
export { nodeDigest } from './digest.js';
