/**
 * Importing public keys for verification. `importVerifyKey` does the (costly) WebCrypto import once;
 * `VerifyKeyCache` lets callers keep imported keys so the hot path never re-imports.
 */
import { AAuthError } from '../errors.js';
import { b64urlDecode } from '../base64url.js';
import { algorithmParams, asBufferSource } from './algorithms.js';
import { validatePublicJwk } from './jwk.js';
import { jwkThumbprint } from './thumbprint.js';
import type { KeyImporter, PublicJwk, VerifyKey } from './types.js';

/** The members WebCrypto needs, nothing else (no `alg`/`use`/`kid` to trip its consistency checks). */
function keyMaterial(jwk: PublicJwk): JsonWebKey {
  switch (jwk.kty) {
    case 'OKP':
      return { kty: 'OKP', crv: jwk.crv as string, x: jwk.x as string };
    case 'EC':
      return { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    case 'RSA':
      return { kty: 'RSA', n: jwk.n as string, e: jwk.e as string };
  }
}

function rsaModulusBytes(jwk: PublicJwk): number {
  // A PS256 signature is exactly as long as the modulus (RFC 8017 §8.1.1), leading zero octets aside.
  const n = b64urlDecode(jwk.n as string);
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return n.length - i;
}

/**
 * Validates `jwk` against the key policy and imports it for verification. Caches nothing.
 * `verify()` returns false (never throws) for a signature of the wrong length or one that does not verify.
 */
export async function importVerifyKey(jwk: PublicJwk): Promise<VerifyKey> {
  const checked = validatePublicJwk(jwk);
  const params = algorithmParams(checked.alg);
  let key: CryptoKey;
  try {
    key = await globalThis.crypto.subtle.importKey('jwk', keyMaterial(checked), params.importParams, false, ['verify']);
  } catch (cause) {
    throw new AAuthError('invalid_key', { detail: 'key could not be imported', cause });
  }
  const thumbprint = await jwkThumbprint(checked);
  const expectedLength = params.signatureLength ?? rsaModulusBytes(checked);
  const signParams = params.signParams;
  const subtle = globalThis.crypto.subtle;
  return Object.freeze({
    alg: checked.alg,
    jwk: checked,
    thumbprint,
    async verify(data: Uint8Array, signature: Uint8Array): Promise<boolean> {
      // ES256 signatures are raw r‖s; a DER or truncated signature has the wrong length and is simply invalid.
      if (signature.length !== expectedLength) return false;
      try {
        return await subtle.verify(signParams, key, asBufferSource(signature), asBufferSource(data));
      } catch {
        return false;
      }
    },
  });
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isOptStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

export interface VerifyKeyCacheOptions {
  /** Upper bound on imported keys kept; least recently used are evicted. Default 1000. */
  readonly maxEntries?: number;
  /** How keys are imported; `importVerifyKey` (WebCrypto) by default. In Node, `importNodeVerifyKey` is faster. */
  readonly importKey?: KeyImporter;
}

/**
 * A bounded LRU of imported verification keys, keyed by the members that define the key plus `alg`,
 * so each distinct key is imported once. Concurrent requests for the same key share one import.
 */
export class VerifyKeyCache {
  readonly #max: number;
  readonly #entries = new Map<string, Promise<VerifyKey>>();
  readonly #import: KeyImporter;

  constructor(options: VerifyKeyCacheOptions = {}) {
    this.#import = options.importKey ?? importVerifyKey;
    const max = options.maxEntries ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new AAuthError('invalid_argument', { detail: 'maxEntries must be a positive integer' });
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The imported key for `jwk`, importing (and validating) it on a miss. */
  get(jwk: PublicJwk): Promise<VerifyKey> {
    // The id names exactly the members that define the key (and `alg`); built by concatenation, not JSON,
    // because this runs on every request. Members are typed-checked so a non-string cannot collide.
    const { alg, kty, crv, x, y, n, e } = jwk as unknown as Record<string, unknown>;
    if (!(isStr(alg) && isStr(kty) && isOptStr(crv) && isOptStr(x) && isOptStr(y) && isOptStr(n) && isOptStr(e))) {
      // Malformed: let the policy check report it with its proper code; nothing to cache.
      return this.#import(jwk);
    }
    const id = alg + '|' + kty + '|' + (crv ?? '') + '|' + (x ?? '') + '|' + (y ?? '') + '|' + (n ?? '') + '|' + (e ?? '');
    const hit = this.#entries.get(id);
    if (hit !== undefined) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    const pending = this.#import(jwk);
    this.#entries.set(id, pending);
    pending.catch(() => {
      if (this.#entries.get(id) === pending) this.#entries.delete(id);
    });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    return pending;
  }

  clear(): void {
    this.#entries.clear();
  }
}
