/**
 * JOSE algorithm → WebCrypto parameters for the fully specified algorithms AAuth accepts
 * (HTTP Signature Keys -08 §Algorithm Determination; RFC 9864 `Ed25519`; RFC 7518 §3.4 `ES256`, §3.5 `PS256`).
 *
 * Signatures are in JOSE form everywhere: Ed25519 64 bytes, ES256 raw r‖s (64 bytes, never DER —
 * WebCrypto ECDSA produces and consumes exactly that), PS256 the modulus length.
 */
import type { JwsAlgorithm } from './types.js';
import { SUPPORTED_ALGORITHMS } from './types.js';

export interface AlgorithmParams {
  /** For `crypto.subtle.importKey` / `generateKey`. */
  readonly importParams: EcKeyImportParams | RsaHashedImportParams | Algorithm;
  /** For `crypto.subtle.sign` / `verify`. */
  readonly signParams: EcdsaParams | RsaPssParams | Algorithm;
  /** The exact signature length in bytes, when fixed by the algorithm (RSA: depends on the modulus). */
  readonly signatureLength: number | undefined;
}

const PARAMS: Readonly<Record<JwsAlgorithm, AlgorithmParams>> = {
  Ed25519: {
    importParams: { name: 'Ed25519' },
    signParams: { name: 'Ed25519' },
    signatureLength: 64,
  },
  ES256: {
    importParams: { name: 'ECDSA', namedCurve: 'P-256' },
    signParams: { name: 'ECDSA', hash: 'SHA-256' },
    signatureLength: 64,
  },
  PS256: {
    importParams: { name: 'RSA-PSS', hash: 'SHA-256' },
    // RFC 7518 §3.5: salt length equals the hash output length.
    signParams: { name: 'RSA-PSS', saltLength: 32 },
    signatureLength: undefined,
  },
};

export function algorithmParams(alg: JwsAlgorithm): AlgorithmParams {
  return PARAMS[alg];
}

/** True when `alg` is one of the algorithms this implementation accepts. */
export function isSupportedAlgorithm(alg: unknown): alg is JwsAlgorithm {
  return typeof alg === 'string' && (SUPPORTED_ALGORITHMS as readonly string[]).includes(alg);
}

/**
 * Algorithm identifiers that are not fully specified or not asymmetric signatures:
 * always refused with `invalid_key` / `invalid_jwt` (SK-08 §Algorithm Determination; RFC 9864 deprecates `EdDSA`).
 */
export function isForbiddenAlgorithm(alg: string): boolean {
  return alg === 'none' || alg === 'EdDSA' || /^HS\d+$/.test(alg);
}

/** WebCrypto takes `BufferSource` backed by an `ArrayBuffer`; our byte arrays always are. */
export function asBufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}
