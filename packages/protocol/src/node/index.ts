/**
 * `@tessera/protocol/node`: Node-only helpers (the only place `node:*` modules are used).
 */
export type { PinnedFetchOptions } from './pinned-fetch.js';
export { createNodeEgressFetch, createPinnedFetch } from './pinned-fetch.js';
export { importNodeVerifyKey } from './verify-key.js';
export { createNodeSigner } from './signer.js';
