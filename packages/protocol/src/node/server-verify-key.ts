/**
 * The key importer for a server under concurrent load.
 *
 * Ed25519 keys verify with libsodium on the calling thread: at about 65 µs a check here, that is cheaper than handing
 * OpenSSL's 130 µs check to the libuv thread pool and waiting for the hop. Other algorithms (ES256, PS256), and
 * Ed25519 when libsodium is not loaded, verify with WebCrypto, whose work runs on the thread pool so concurrent checks
 * use the other cores while the event loop keeps serving (bench:ps, bench:gateway).
 */
import { importVerifyKey } from '../crypto/verify-key.js';
import type { PublicJwk, VerifyKey } from '../crypto/types.js';
import { libsodium } from './libsodium.js';
import { importNodeVerifyKey } from './verify-key.js';

export function importServerVerifyKey(jwk: PublicJwk): Promise<VerifyKey> {
  return (jwk as { alg?: unknown }).alg === 'Ed25519' && libsodium() !== undefined ? importNodeVerifyKey(jwk) : importVerifyKey(jwk);
}
