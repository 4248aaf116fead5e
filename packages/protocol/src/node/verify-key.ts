/**
 * A Node key importer: the same `VerifyKey` contract as the WebCrypto one in the core, verifying synchronously on
 * the calling thread. WebCrypto in Node hands each verification to the libuv thread pool, and a request verified step
 * by step waits for two such hops; this does the same work with no hop (as jose does in Node). Ed25519 goes through
 * libsodium when `sodium-native` loads (about twice as fast as OpenSSL 3 here, see `libsodium.ts`), everything else
 * through `node:crypto`. Keys are policy-checked by the core's `validatePublicJwk` first.
 */
import { constants, createPublicKey, verify as nodeVerify, type JsonWebKey as NodeJsonWebKey, type KeyObject } from 'node:crypto';
import { b64urlDecode } from '../base64url.js';
import { algorithmParams } from '../crypto/algorithms.js';
import { validatePublicJwk } from '../crypto/jwk.js';
import { jwkThumbprint } from '../crypto/thumbprint.js';
import type { JwsAlgorithm, PublicJwk, VerifyKey } from '../crypto/types.js';
import { AAuthError } from '../errors.js';
import { libsodium } from './libsodium.js';

type Verify = (data: Uint8Array, signature: Uint8Array) => boolean;

function verifier(alg: JwsAlgorithm, key: KeyObject, jwk: PublicJwk): Verify {
  switch (alg) {
    case 'Ed25519': {
      const sodium = libsodium();
      if (sodium !== undefined) {
        // validatePublicJwk has checked x: 32 bytes of base64url.
        const publicKey = b64urlDecode(jwk.x as string);
        return (data, signature) => sodium.verify(data, signature, publicKey);
      }
      return (data, signature) => nodeVerify(null, data, key, signature);
    }
    case 'ES256': {
      // JOSE ES256 signatures are raw r‖s (RFC 7518 §3.4): IEEE P1363 encoding, never DER.
      const k = { key, dsaEncoding: 'ieee-p1363' as const };
      return (data, signature) => nodeVerify('sha256', data, k, signature);
    }
    case 'PS256': {
      // RFC 7518 §3.5: RSASSA-PSS with SHA-256 and MGF1-SHA-256, salt length 32.
      const k = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      return (data, signature) => nodeVerify('sha256', data, k, signature);
    }
  }
}

/** Validates `jwk` against the key policy and imports it with `node:crypto`. Caches nothing (see `VerifyKeyCache`). */
export async function importNodeVerifyKey(jwk: PublicJwk): Promise<VerifyKey> {
  const checked = validatePublicJwk(jwk);
  let key: KeyObject;
  try {
    const material =
      checked.kty === 'OKP'
        ? { kty: 'OKP', crv: checked.crv, x: checked.x }
        : checked.kty === 'EC'
          ? { kty: 'EC', crv: checked.crv, x: checked.x, y: checked.y }
          : { kty: 'RSA', n: checked.n, e: checked.e };
    key = createPublicKey({ key: material as NodeJsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new AAuthError('invalid_key', { detail: 'key could not be imported', cause });
  }
  const thumbprint = await jwkThumbprint(checked);
  const expectedLength = algorithmParams(checked.alg).signatureLength ?? (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const check = verifier(checked.alg, key, checked);
  return Object.freeze({
    alg: checked.alg,
    jwk: checked,
    thumbprint,
    verify(data: Uint8Array, signature: Uint8Array): Promise<boolean> {
      if (signature.length !== expectedLength) return Promise.resolve(false);
      try {
        return Promise.resolve(check(data, signature));
      } catch {
        return Promise.resolve(false);
      }
    },
  });
}
