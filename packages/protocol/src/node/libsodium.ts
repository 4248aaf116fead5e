/**
 * Ed25519 through libsodium (the optional dependency `sodium-native`), when it loads.
 *
 * Why: Node 20's `crypto.verify` reaches Ed25519 through OpenSSL 3's EVP layer, which builds and frees a context and
 * fetches the algorithm from a provider on every call; for a 64-byte signature over a few hundred bytes that costs as
 * much as the curve arithmetic. libsodium's `crypto_sign_verify_detached` does the same RFC 8032 check in about half
 * the time, and its signing in about half as well (measured in `bench:verify`: `raw_libsodium_verify_per_s`).
 *
 * Semantics: libsodium verifies as RFC 8032 §5.1.7 does (cofactorless, S < L required) and is stricter in two places,
 * both for the better in an authorization server: it refuses public keys and `R` values of small order and public
 * keys that are not canonically encoded, which no honest signer produces. Signatures are deterministic (RFC 8032
 * §5.1.6), so libsodium and OpenSSL produce the same bytes for the same key and message.
 *
 * When `sodium-native` is absent (a platform without its prebuilt binary) or fails to load, `libsodium()` is
 * `undefined` and callers fall back to `node:crypto`. `TESSERA_CRYPTO=openssl` forces the fallback.
 */
import { createRequire } from 'node:module';

/** The few libsodium functions Tessera uses (sodium-native's names; it ships no type declarations). */
interface SodiumNative {
  readonly crypto_sign_BYTES: number;
  readonly crypto_sign_PUBLICKEYBYTES: number;
  readonly crypto_sign_SECRETKEYBYTES: number;
  readonly crypto_sign_SEEDBYTES: number;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  sodium_malloc(size: number): Buffer;
}

/** Ed25519 over raw keys: 32-byte public key, 32-byte seed (the JWK `d`), 64-byte signatures. */
export interface Ed25519Backend {
  readonly name: 'libsodium';
  /** RFC 8032 verification; false for anything that does not verify (never throws for well-sized inputs). */
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * Prepares a signing function from the 32-byte seed. The expanded secret key lives in libsodium's guarded memory
   * (outside the V8 heap), and the returned `publicKey` lets the caller check it against the JWK's `x`.
   */
  signerFromSeed(seed: Uint8Array): { readonly publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array };
}

let loaded: Ed25519Backend | null | undefined;

function load(): Ed25519Backend | null {
  if (process.env['TESSERA_CRYPTO'] === 'openssl') return null;
  let sodium: SodiumNative;
  try {
    sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
  } catch {
    return null;
  }
  if (sodium.crypto_sign_BYTES !== 64 || sodium.crypto_sign_PUBLICKEYBYTES !== 32 || sodium.crypto_sign_SEEDBYTES !== 32) return null;
  return Object.freeze({
    name: 'libsodium' as const,
    verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
      if (signature.length !== 64 || publicKey.length !== 32) return false;
      return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    },
    signerFromSeed(seed: Uint8Array) {
      if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
      const publicKey = new Uint8Array(32);
      const secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES);
      sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      return {
        publicKey,
        sign(message: Uint8Array): Uint8Array {
          const signature = new Uint8Array(64);
          sodium.crypto_sign_detached(signature, message, secretKey);
          return signature;
        },
      };
    },
  });
}

/** libsodium's Ed25519, or `undefined` when `sodium-native` cannot be loaded here (callers use `node:crypto`). */
export function libsodium(): Ed25519Backend | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}
