import { libsodium } from './libsodium.js';

/**
 * Which implementation the Node importer and signer use for Ed25519: `libsodium` (the optional `sodium-native`
 * loaded) or `openssl` (`node:crypto`). Servers log it at start; `TESSERA_CRYPTO=openssl` forces `openssl`.
 */
export function cryptoBackend(): 'libsodium' | 'openssl' {
  return libsodium() === undefined ? 'openssl' : 'libsodium';
}
