/**
 * Content-Digest (RFC 9530 §2): an SF Dictionary of digest algorithm → Byte Sequence of the digest of
 * the message content. AAuth -11 requires it, covered by the signature, on PS/AS requests with a body.
 */

import { equalBytes } from './bytes.js';
import { AAuthError } from './errors.js';
import { bytesValue, isInnerList, parseSfDictionary, serializeSfDictionary, type Dictionary } from './structured-fields.js';

/** The RFC 9530 algorithms this package computes (both "standard" in the Hash Algorithms registry, §7.2). */
export type DigestAlgorithm = 'sha-256' | 'sha-512';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha-256', 'sha-512'];

const SUBTLE_NAME: Readonly<Record<DigestAlgorithm, string>> = { 'sha-256': 'SHA-256', 'sha-512': 'SHA-512' };

const isDigestAlgorithm = (a: unknown): a is DigestAlgorithm => a === 'sha-256' || a === 'sha-512';

/**
 * Computes a digest of the content. WebCrypto's (`webCryptoDigest`) by default, so the core runs anywhere; in Node,
 * `nodeDigest` from `@tessera/protocol/node` hashes on the calling thread, which for a request body of a few
 * kilobytes costs a few microseconds where WebCrypto's thread-pool hop costs tens.
 */
export type DigestFunction = (algorithm: DigestAlgorithm, body: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export async function webCryptoDigest(algorithm: DigestAlgorithm, body: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await globalThis.crypto.subtle.digest(SUBTLE_NAME[algorithm], body as Uint8Array<ArrayBuffer>));
}

/** Creates a Content-Digest field value, e.g. `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`. */
export async function createContentDigest(body: Uint8Array, algorithms: readonly DigestAlgorithm[] = ['sha-256']): Promise<string> {
  if (!(body instanceof Uint8Array)) throw new AAuthError('invalid_argument', { detail: 'body must be bytes' });
  if (algorithms.length === 0) throw new AAuthError('invalid_argument', { detail: 'no digest algorithm' });
  const dict: Dictionary = new Map();
  for (const algorithm of algorithms) {
    if (!isDigestAlgorithm(algorithm)) throw new AAuthError('invalid_argument', { detail: 'unsupported digest algorithm' });
    if (!dict.has(algorithm)) dict.set(algorithm, [await webCryptoDigest(algorithm, body), new Map()]);
  }
  return serializeSfDictionary(dict);
}

export interface VerifyContentDigestOptions {
  /** The algorithms accepted (default both). Members with other algorithms are ignored (RFC 9530 §2). */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** How digests are computed (`webCryptoDigest` by default). */
  readonly digest?: DigestFunction;
}

/**
 * Checks a Content-Digest field value against the content. Every accepted algorithm present must
 * match. Returns the algorithms checked.
 *
 * - missing field → `invalid_input` with `requiredInput: ['content-digest']`;
 * - not an SF Dictionary, or an accepted member that is not a Byte Sequence → `invalid_request`;
 * - no accepted algorithm present → `invalid_input`;
 * - any mismatch → `invalid_signature` ("content-digest mismatch").
 */
export async function verifyContentDigest(
  headerValue: string | undefined,
  body: Uint8Array,
  options: VerifyContentDigestOptions = {},
): Promise<DigestAlgorithm[]> {
  if (headerValue === undefined) {
    throw new AAuthError('invalid_input', { detail: 'missing Content-Digest header', requiredInput: ['content-digest'] });
  }
  if (!(body instanceof Uint8Array)) throw new AAuthError('invalid_argument', { detail: 'body must be bytes' });
  const accepted = options.algorithms ?? DIGEST_ALGORITHMS;
  const digest = options.digest ?? webCryptoDigest;
  const dict = parseSfDictionary(typeof headerValue === 'string' ? headerValue.trim() : headerValue, {
    code: 'invalid_request',
    field: 'Content-Digest',
  });
  const checked: DigestAlgorithm[] = [];
  for (const [name, member] of dict) {
    if (!isDigestAlgorithm(name) || !accepted.includes(name)) continue;
    const expected = isInnerList(member) ? undefined : bytesValue(member[0]);
    if (expected === undefined) throw new AAuthError('invalid_request', { detail: `Content-Digest ${name} is not a Byte Sequence` });
    if (!equalBytes(await digest(name, body), expected)) {
      throw new AAuthError('invalid_signature', { detail: `content-digest mismatch (${name})` });
    }
    checked.push(name);
  }
  if (checked.length === 0) {
    throw new AAuthError('invalid_input', {
      detail: `Content-Digest has no supported algorithm (${accepted.join(', ')})`,
      requiredInput: ['content-digest'],
    });
  }
  return checked;
}
