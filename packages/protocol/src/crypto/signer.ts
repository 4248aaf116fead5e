/**
 * Signers over WebCrypto private keys, and key generation. A `Signer` only exposes `sign(bytes)`, so a
 * KMS- or HSM-backed signer can stand in anywhere this one is used.
 */
import { AAuthError } from '../errors.js';
import { b64urlDecode } from '../base64url.js';
import { algorithmParams, asBufferSource } from './algorithms.js';
import { isJsonObject, validatePublicJwk } from './jwk.js';
import { jwkThumbprint } from './thumbprint.js';
import type { JwsAlgorithm, PrivateJwk, PublicJwk, Signer } from './types.js';

/** The members a private JWK carries beyond its public part (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;
const RSA_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

function invalidKey(detail: string): AAuthError {
  return new AAuthError('invalid_key', { detail });
}

/** The public half of a private JWK, checked against the key policy (keeps `kid` and `alg`). */
export function publicJwkOf(privateJwk: PrivateJwk): PublicJwk {
  if (!isJsonObject(privateJwk)) throw invalidKey('JWK is not a JSON object');
  const copy: Record<string, unknown> = { ...privateJwk };
  for (const name of PRIVATE_MEMBERS) delete copy[name];
  return validatePublicJwk(copy);
}

/** Checks the private members a private JWK must carry for its key type. */
function privateMaterial(privateJwk: PrivateJwk, publicJwk: PublicJwk): JsonWebKey {
  const d = privateJwk.d as unknown;
  if (typeof d !== 'string' || d.length === 0) throw invalidKey('private JWK has no d');
  let dBytes: Uint8Array;
  try {
    dBytes = b64urlDecode(d);
  } catch {
    throw invalidKey('d is not base64url');
  }
  switch (publicJwk.kty) {
    case 'OKP':
      if (dBytes.length !== 32) throw invalidKey('Ed25519 d must be 32 bytes');
      return { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x as string, d };
    case 'EC':
      if (dBytes.length !== 32) throw invalidKey('P-256 d must be 32 bytes');
      return { kty: 'EC', crv: 'P-256', x: publicJwk.x as string, y: publicJwk.y as string, d };
    case 'RSA': {
      const out: Record<string, string> = { kty: 'RSA', n: publicJwk.n as string, e: publicJwk.e as string };
      for (const name of RSA_PRIVATE_MEMBERS) {
        const value = (privateJwk as Record<string, unknown>)[name];
        if (typeof value !== 'string' || value.length === 0) throw invalidKey(`RSA private JWK has no ${name}`);
        out[name] = value;
      }
      return out;
    }
  }
}

/**
 * Imports a private JWK (with a fully specified `alg`) as a `Signer`. Signatures are JOSE form:
 * ES256 is raw r‖s as WebCrypto produces it, never DER (RFC 7518 §3.4).
 */
export async function createSigner(privateJwk: PrivateJwk): Promise<Signer> {
  const publicJwk = publicJwkOf(privateJwk);
  const params = algorithmParams(publicJwk.alg);
  let key: CryptoKey;
  try {
    key = await globalThis.crypto.subtle.importKey('jwk', privateMaterial(privateJwk, publicJwk), params.importParams, false, ['sign']);
  } catch (cause) {
    throw new AAuthError('invalid_key', { detail: 'private key could not be imported', cause });
  }
  const subtle = globalThis.crypto.subtle;
  const signParams = params.signParams;
  return Object.freeze({
    alg: publicJwk.alg,
    publicJwk,
    async sign(data: Uint8Array): Promise<Uint8Array> {
      return new Uint8Array(await subtle.sign(signParams, key, asBufferSource(data)));
    },
  });
}

/**
 * Generates a key pair for `alg` and returns the private JWK with `alg` and `kid`
 * (`kid` defaults to the RFC 7638 thumbprint of the public key).
 */
export async function generateKeyPair(alg: Extract<JwsAlgorithm, 'Ed25519' | 'ES256'>, kid?: string): Promise<PrivateJwk> {
  if (alg !== 'Ed25519' && alg !== 'ES256') throw new AAuthError('unsupported_algorithm', { detail: `cannot generate ${String(alg)}`, acceptAlgorithms: ['Ed25519', 'ES256'] });
  const params = algorithmParams(alg);
  // Ed25519 and ECDSA P-256 both generate a key pair.
  const pair = await globalThis.crypto.subtle.generateKey(params.importParams as EcKeyGenParams, true, ['sign', 'verify']);
  const exported = await globalThis.crypto.subtle.exportKey('jwk', pair.privateKey);
  const base =
    alg === 'Ed25519'
      ? { kty: 'OKP' as const, crv: 'Ed25519', x: exported.x as string }
      : { kty: 'EC' as const, crv: 'P-256', x: exported.x as string, y: exported.y as string };
  const id = kid ?? (await jwkThumbprint(base));
  return Object.freeze({ ...base, d: exported.d as string, alg, kid: id });
}
