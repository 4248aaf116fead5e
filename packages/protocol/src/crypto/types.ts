/**
 * Key and signer contracts shared by the signature and token layers.
 * Signing goes through a `sign(bytes)` function so a private key can live in a KMS or HSM.
 */

/** Fully specified JOSE algorithms AAuth accepts (SK-08 §Algorithms; RFC 9864 for `Ed25519`). */
export type JwsAlgorithm = 'Ed25519' | 'ES256' | 'PS256';

export const SUPPORTED_ALGORITHMS: readonly JwsAlgorithm[] = ['Ed25519', 'ES256', 'PS256'];

/** A public JWK as AAuth carries it: asymmetric, with a fully specified `alg`. */
export interface PublicJwk {
  readonly kty: 'OKP' | 'EC' | 'RSA';
  readonly alg: JwsAlgorithm;
  readonly kid?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly use?: string;
  readonly [extra: string]: unknown;
}

/** A private JWK (`d` present, plus the RSA CRT members when RSA). */
export interface PrivateJwk extends PublicJwk {
  readonly d: string;
}

/** Produces signatures in JOSE / RFC 9421 form: Ed25519 64 bytes, ES256 raw r‖s (64 bytes, never DER), PS256. */
export interface Signer {
  readonly alg: JwsAlgorithm;
  /** The public key, with `alg` (and `kid` when known). */
  readonly publicJwk: PublicJwk;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** An imported public key ready to verify; built once and cached, never per request. */
export interface VerifyKey {
  readonly alg: JwsAlgorithm;
  readonly jwk: PublicJwk;
  /** RFC 7638 thumbprint (SHA-256, base64url). */
  readonly thumbprint: string;
  verify(data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Imports a policy-checked public JWK as a `VerifyKey` (WebCrypto by default; `node:crypto` in `@tessera/protocol/node`). */
export type KeyImporter = (jwk: PublicJwk) => Promise<VerifyKey>;
