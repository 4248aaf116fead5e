import { createHash } from 'node:crypto';
import type { DigestAlgorithm } from '../content-digest.js';

const NODE_NAME: Readonly<Record<DigestAlgorithm, string>> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/**
 * RFC 9530 digests with `node:crypto`, on the calling thread: the same bytes as the core's `webCryptoDigest`, without
 * a thread-pool hop per request body (pass it as `digest` to the verifiers and `verifyContentDigest`).
 */
export function nodeDigest(algorithm: DigestAlgorithm, body: Uint8Array): Uint8Array {
  return createHash(NODE_NAME[algorithm]).update(body).digest();
}
