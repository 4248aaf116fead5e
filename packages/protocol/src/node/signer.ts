/**
 * A Node signer: the same `Signer` contract as the core's WebCrypto `createSigner`, signing synchronously on the
 * calling thread (Ed25519 through libsodium when `sodium-native` loads, see `libsodium.ts`; else a `KeyObject`).
 * A server that signs inside a database transaction (minting a token and recording it) then holds the transaction
 * for the signature alone, not for a thread-pool round trip.
 */
import { constants, createPrivateKey, sign as nodeSign, type JsonWebKey as NodeJsonWebKey, type KeyObject } from 'node:crypto';
import { publicJwkOf } from '../crypto/signer.js';
import type { PrivateJwk, Signer } from '../crypto/types.js';
import { b64urlDecode } from '../base64url.js';
import { equalBytes } from '../bytes.js';
import { AAuthError } from '../errors.js';
import { libsodium } from './libsodium.js';

export function createNodeSigner(privateJwk: PrivateJwk): Promise<Signer> {
  const publicJwk = publicJwkOf(privateJwk);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { ...privateJwk } as NodeJsonWebKey, format: 'jwk' });
  } catch (cause) {
    return Promise.reject(new AAuthError('invalid_key', { detail: 'private key could not be imported', cause }));
  }
  let sign: (data: Uint8Array) => Uint8Array;
  switch (publicJwk.alg) {
    case 'Ed25519': {
      const sodium = libsodium();
      if (sodium === undefined) {
        sign = (data) => nodeSign(null, data, key);
        break;
      }
      // createPrivateKey accepted d and x; the key libsodium expands from the seed must be the JWK's own public key.
      let prepared: ReturnType<typeof sodium.signerFromSeed>;
      try {
        prepared = sodium.signerFromSeed(b64urlDecode(privateJwk.d));
      } catch (cause) {
        return Promise.reject(new AAuthError('invalid_key', { detail: 'private key could not be imported', cause }));
      }
      if (!equalBytes(prepared.publicKey, b64urlDecode(publicJwk.x as string))) {
        return Promise.reject(new AAuthError('invalid_key', { detail: 'the private key does not match its x' }));
      }
      sign = (data) => prepared.sign(data);
      break;
    }
    case 'ES256': {
      // JOSE ES256 is raw r‖s (RFC 7518 §3.4): IEEE P1363, never DER.
      const k = { key, dsaEncoding: 'ieee-p1363' as const };
      sign = (data) => nodeSign('sha256', data, k);
      break;
    }
    case 'PS256': {
      const k = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      sign = (data) => nodeSign('sha256', data, k);
      break;
    }
  }
  return Promise.resolve(
    Object.freeze({
      alg: publicJwk.alg,
      publicJwk,
      sign: (data: Uint8Array): Promise<Uint8Array> => {
        try {
          return Promise.resolve(new Uint8Array(sign(data)));
        } catch (cause) {
          return Promise.reject(new AAuthError('invalid_key', { detail: 'signing failed', cause }));
        }
      },
    }),
  );
}
