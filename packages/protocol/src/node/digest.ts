import { hash } from 'node:crypto';
import type { DigestAlgorithm } from '../content-digest.js';

const NODE_NAME: Readonly<Record<DigestAlgorithm, string>> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/**
 * RFC 9530 digests with `node:crypto`, on the calling thread: the same bytes as the core's `webCryptoDigest`, without
 * a thread-pool hop per request body (pass it as `digest` to the verifiers and `verifyContentDigest`). The one-shot
 * `crypto.hash` (Node 20.12+) builds no `Hash` object: 1.8 µs against 3.0 µs for `createHash` on a 900-byte body.
 */
export function nodeDigest(algorithm: DigestAlgorithm, body: Uint8Array): Uint8Array {
  return hash(NODE_NAME[algorithm], body, 'buffer');
}
